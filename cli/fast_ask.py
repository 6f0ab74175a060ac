"""`articleqa ask` without Typer or pydantic: a question the full command already sent to a warm process, resent.

The full command (cli/ask.py) builds the settings, finds the answer daemon or chat for the store and, when it
answered, remembers for this exact invocation context (every ARTICLEQA_* variable, the working directory, --store,
--collection and the code) which store folder and settings fingerprint that was: one 0600 file under
$XDG_CACHE_HOME/articleqa/ask/. The next `ask` in the same context reads that file and the store's registry and
posts the question straight to the warm process, in about a quarter of the CPU time. Anything else (a flag this
parser does not know, a new context, no live process, a different fingerprint, any error) returns None and the
full command runs, so a question is answered the same way whichever path took it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

TYPE_CHECKING = False  # as in articleqa/endpoint.py: what this process imports is what every question pays
if TYPE_CHECKING:
    from typing import Any

VALUED = ("--source", "--since", "--until", "--reference-date", "--store", "--collection")
FLAGS = ("--json",)
EXIT_OK, EXIT_REFUSED = 0, 3


def parse(args: list[str]) -> dict[str, Any] | None:
    """The question and options of a plain `ask` (after the word ask), or None for anything the full parser must see
    (--help, --local, --mode, --llm-url, --chroma-url, --debug, an unknown option, not exactly one question)."""
    opts: dict[str, Any] = {"json": False}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            positional.extend(args[i + 1:])
            break
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.partition("=")
            if name in FLAGS and not eq:
                opts["json"] = True
            elif name in VALUED:
                if not eq:
                    if i + 1 >= len(args):
                        return None
                    i += 1
                    value = args[i]
                opts[name[2:].replace("-", "_")] = value
            else:
                return None
        else:
            positional.append(arg)
        i += 1
    if len(positional) != 1 or opts.get("store") == "":
        return None  # the full command refuses an empty --store with its usage error
    opts["question"] = positional[0]
    for key in ("since", "until", "reference_date"):
        if opts.get(key) is not None and not _is_date(opts[key]):
            return None  # the full command names the flag and the expected form
    return opts


def client_key(environ: dict[str, str] | os._Environ, store: str | None, collection: str | None) -> str:
    """What the settings of an `ask` depend on: the ARTICLEQA_* environment, the working directory (relative paths),
    --store, --collection, and the code (an edited checkout never reuses an older process)."""
    from articleqa.endpoint import code_stamp

    env = sorted((k, v) for k, v in environ.items() if k.startswith("ARTICLEQA_"))
    text = json.dumps([env, os.getcwd(), _path(store), collection, code_stamp()])
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def remember(key: str, folder: Path, fingerprint: str, reference_date: str | None, timeout: float,
             stall: float | None = None) -> None:
    """Record, for the fast path, which warm process answered in this context (best effort: a read-only home only
    means every `ask` takes the full path)."""
    entry = {"folder": str(folder), "fingerprint": fingerprint, "reference_date": reference_date, "timeout": timeout,
             "stall": stall}
    directory = _cache_dir()
    tmp = directory / f"{key}.{os.getpid()}.tmp"
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(entry, fh)
        os.replace(tmp, directory / f"{key}.json")
    except OSError:
        tmp.unlink(missing_ok=True)


def try_answer(args: list[str]) -> int | None:
    """Answer through the remembered warm process and print as the full command would; None to defer to it."""
    opts = parse(args)
    if opts is None:
        return None
    reply = _post(opts)
    if reply is None:
        return None
    answer = reply["answer"]
    if opts["json"]:
        print(json.dumps(answer, indent=2, ensure_ascii=False), flush=True)
    else:
        from articleqa.models import Answer
        from qa.render import print_answer

        print_answer(Answer.from_dict(answer))
    return EXIT_REFUSED if reply["refused"] else EXIT_OK


def _post(opts: dict[str, Any]) -> dict[str, Any] | None:
    from articleqa.endpoint import REGISTRY, STALL, EndpointGone, alive, ask, code_stamp, read

    try:
        opts["question"].encode("utf-8")  # undecodable bytes from the terminal: the full command reports them
        key = client_key(os.environ, opts.get("store"), opts.get("collection"))
        entry = json.loads((_cache_dir() / f"{key}.json").read_text())
        endpoint = read(Path(entry["folder"]) / REGISTRY)
        if (endpoint is None or endpoint.fingerprint != entry["fingerprint"] or endpoint.code != code_stamp()
                or not alive(endpoint.pid)):
            return None  # the full command starts, replaces or bypasses the process
        flag = opts.get("reference_date")  # as the settings validator stores it
        reference_date = _iso(flag) if flag else entry["reference_date"]
        payload = {"question": opts["question"], "source": opts.get("source"), "since": opts.get("since"),
                   "until": opts.get("until"), "mode": None, "reference_date": reference_date,
                   "fingerprint": entry["fingerprint"]}
        status, reply = ask(endpoint, payload, timeout=float(entry["timeout"]),
                            stall=float(entry.get("stall") or STALL))
    except (OSError, ValueError, KeyError, TypeError, UnicodeError, EndpointGone):
        return None
    if status != 200 or not isinstance(reply.get("answer"), dict):
        return None  # busy, gone or changed: the full command says why, or answers itself
    return reply


def _iso(value: str) -> str:
    import datetime as dt  # only for a question with a date option

    return dt.date.fromisoformat(value).isoformat()


def _is_date(value: str) -> bool:
    try:
        _iso(value)
    except ValueError:
        return False
    return True


def _path(value: str | os.PathLike | None) -> str | None:
    """A --store value as the full command sees it (Typer makes it a Path: "db/" and "db" are the same)."""
    return None if value is None else str(Path(value))


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "articleqa" / "ask"
