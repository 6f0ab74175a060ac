"""The evaluation test-set format (JSONL or YAML), its validation, and converters for RealTimeQA, SQuAD and
MultiHop-RAG files."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMATS = ("articleqa", "realtimeqa", "squad", "multihop")
ITEM_FIELDS = (
    "id", "question", "answers", "answerable", "score_open", "choices", "answer_index", "gold_doc_ids", "gold_urls",
    "gold_files", "gold_titles", "evidence", "evidence_facts", "tags", "reference_date", "history",
)
HEADER_FIELDS = ("corpus", "reference_date", "description", "items")


class TestSetError(ValueError):
    """A test set cannot be read; the message is one line naming file:line."""

    __test__ = False  # not a pytest test class despite the name


@dataclass
class TestItem:
    """One question of a test set, with everything needed to score the answer."""

    __test__ = False

    id: str
    question: str
    answers: list[str] = field(default_factory=list)  # acceptable answers (any one counts)
    answerable: bool = True  # False: the articles cannot answer, a refusal is the right outcome
    score_open: bool = True  # False: score only as multiple choice (e.g. RealTimeQA answer not in the gold text)
    choices: list[str] = field(default_factory=list)
    answer_index: int | None = None
    gold_doc_ids: list[str] = field(default_factory=list)  # stored article ids (or ids folded into one as aliases)
    gold_urls: list[str] = field(default_factory=list)
    gold_files: list[str] = field(default_factory=list)  # file names / path suffixes matched against article origins
    gold_titles: list[str] = field(default_factory=list)  # article titles, compared case-insensitively
    evidence: str = ""
    # Sentences of the articles that hold the answer: a retrieved passage containing one is an evidence-level hit.
    evidence_facts: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    reference_date: dt.date | None = None
    history: list[tuple[str, str]] = field(default_factory=list)  # earlier (question, answer) turns, answers scripted
    line: int = 0  # where the item starts in its file, for messages

    @property
    def scores_open(self) -> bool:
        """Whether the open answer is scored (EM, F1, contains)."""
        return self.answerable and self.score_open and bool(self.answers)

    @property
    def is_multiple_choice(self) -> bool:
        return bool(self.choices) and self.answer_index is not None

    @property
    def correct_choice(self) -> str:
        return self.choices[self.answer_index] if self.is_multiple_choice else ""

    @property
    def has_gold_articles(self) -> bool:
        return bool(self.gold_doc_ids or self.gold_urls or self.gold_files or self.gold_titles)


@dataclass
class TestSet:
    """A parsed test set: its items, the corpus to evaluate over (if any) and its default reference date."""

    __test__ = False

    path: Path
    items: list[TestItem]
    corpus: Path | None = None
    reference_date: dt.date | None = None
    format: str = "articleqa"
    description: str = ""

    def tags(self) -> list[str]:
        """Every tag used, in first-seen order."""
        seen: dict[str, None] = {}
        for item in self.items:
            for t in item.tags:
                seen.setdefault(t, None)
        return list(seen)


def load_testset(path: str | Path) -> TestSet:
    """Read and validate a test set, auto-detecting RealTimeQA- and SQuAD-style question files.

    Args:
        path: a `.jsonl` (one item per line) or `.yaml`/`.yml` file.
    Returns:
        The TestSet; its `corpus` is the header's `corpus:` (relative to the file) or, for the shared RealTimeQA and
        SQuAD formats, a sibling `corpus.jsonl` when present.
    Raises:
        TestSetError: one line naming file:line and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise TestSetError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TestSetError(f"{path}: cannot read: {exc}") from exc
    if path.suffix.lower() in (".yaml", ".yml"):
        return _load_yaml(path, text)
    return _load_jsonl(path, text)


# ---- JSONL -------------------------------------------------------------------------------------------------------
def _load_jsonl(path: Path, text: str) -> TestSet:
    records: list[tuple[int, dict[str, Any]]] = []
    header: dict[str, Any] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TestSetError(f"{path}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
        if not isinstance(value, dict):
            raise TestSetError(f"{path}:{lineno}: expected a JSON object, got {type(value).__name__}")
        if not records and not header and "testset" in value and "question" not in value:
            header = _header(path, lineno, value["testset"])
            continue
        records.append((lineno, value))
    if not records:
        raise TestSetError(f"{path}: no test items")
    fmt = detect_format(records[0][1])
    convert = {"realtimeqa": _from_realtimeqa, "squad": _from_squad, "multihop": _from_multihop}.get(fmt)
    items = [_item(path, ln, convert(rec) if convert else rec, strict=convert is None) for ln, rec in records]
    corpus = _resolve_corpus(path, header.get("corpus"), header.get("_line", 1))
    if corpus is None and fmt != "articleqa" and (path.parent / "corpus.jsonl").is_file():
        corpus = path.parent / "corpus.jsonl"
    return _finish(path, items, corpus, header.get("reference_date"), fmt, header.get("description", ""))


def detect_format(record: dict[str, Any]) -> str:
    """Which format a record is in.

    Args:
        record: the first item of a file.
    Returns:
        "realtimeqa" (qid + question_date/answer_index/answer_in_gold_text), "multihop" (qid + question_type +
        an evidence list), "squad" (qid + answers/is_impossible) or "articleqa" (this project's own format).
    """
    if "qid" in record and "id" not in record:
        if "question_type" in record and isinstance(record.get("evidence", []), list):
            return "multihop"
        if any(k in record for k in ("question_date", "answer_in_gold_text", "answer_index")):
            return "realtimeqa"
        if any(k in record for k in ("is_impossible", "answers")):
            return "squad"
    return "articleqa"


def _from_realtimeqa(rec: dict[str, Any]) -> dict[str, Any]:
    tags = ["realtimeqa", "open" if rec.get("answer_in_gold_text", True) else "mc-only"]
    if rec.get("question_source"):
        tags.append(str(rec["question_source"]).lower())
    answer = rec.get("answer")
    return {
        "id": rec.get("qid"),
        "question": rec.get("question"),
        "answers": [answer] if isinstance(answer, str) and answer.strip() else [],
        "answerable": True,
        "score_open": bool(rec.get("answer_in_gold_text", True)),
        "choices": rec.get("choices") or [],
        "answer_index": rec.get("answer_index"),
        "evidence": rec.get("evidence") or "",
        "gold_doc_ids": rec.get("gold_doc_ids") or [],
        "reference_date": rec.get("question_date"),
        "tags": tags,
    }


def _from_squad(rec: dict[str, Any]) -> dict[str, Any]:
    item = _qid_item(rec)
    return {**item, "tags": ["squad2", "answerable" if item["answerable"] else "unanswerable"]}


def _from_multihop(rec: dict[str, Any]) -> dict[str, Any]:
    # MultiHop-RAG: question_type is comparison_query / inference_query / temporal_query / null_query.
    kind = str(rec.get("question_type") or "unknown").removesuffix("_query")
    facts = [e.get("fact") for e in rec.get("evidence") or [] if isinstance(e, dict)]
    return {**_qid_item(rec), "evidence_facts": [f for f in facts if isinstance(f, str) and f.strip()],
            "tags": ["multihop", kind]}


def _qid_item(rec: dict[str, Any]) -> dict[str, Any]:
    """The fields SQuAD-style records share: qid, question, answers, is_impossible, gold_doc_ids."""
    impossible = bool(rec.get("is_impossible", False))
    answers = list(dict.fromkeys(a for a in rec.get("answers") or [] if isinstance(a, str) and a.strip()))
    return {
        "id": rec.get("qid"),
        "question": rec.get("question"),
        "answers": [] if impossible else answers,
        "answerable": not impossible,
        "gold_doc_ids": rec.get("gold_doc_ids") or [],
    }


# ---- YAML --------------------------------------------------------------------------------------------------------
def _load_yaml(path: Path, text: str) -> TestSet:
    import yaml

    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise TestSetError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    if isinstance(data, list):
        header, items_node, raw_items = {}, root, data
    elif isinstance(data, dict):
        unknown = [k for k in data if k not in HEADER_FIELDS]
        if unknown:
            raise TestSetError(f"{path}:1: unknown header field {unknown[0]!r}{_hint(unknown[0], HEADER_FIELDS)}")
        header, raw_items = data, data.get("items")
        items_node = next((v for k, v in root.value if k.value == "items"), None)
        if not isinstance(raw_items, list):
            raise TestSetError(f"{path}:1: 'items:' must be a list of test items")
    else:
        raise TestSetError(f"{path}:1: expected a mapping with 'items:' or a list of items")
    if not raw_items:
        raise TestSetError(f"{path}: no test items")
    lines = [n.start_mark.line + 1 for n in items_node.value] if items_node is not None else [0] * len(raw_items)
    items = [_item(path, ln, rec, strict=True) for ln, rec in zip(lines, raw_items, strict=True)]
    header = _header(path, 1, {k: v for k, v in header.items() if k != "items"})
    corpus = _resolve_corpus(path, header.get("corpus"), 1)
    return _finish(path, items, corpus, header.get("reference_date"), "articleqa", header.get("description", ""))


# ---- shared validation -------------------------------------------------------------------------------------------
def _header(path: Path, lineno: int, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TestSetError(f"{path}:{lineno}: the testset header must be a mapping")
    unknown = [k for k in value if k not in HEADER_FIELDS]
    if unknown:
        raise TestSetError(f"{path}:{lineno}: unknown header field {unknown[0]!r}{_hint(unknown[0], HEADER_FIELDS)}")
    out = dict(value)
    out["_line"] = lineno
    if out.get("reference_date") is not None:
        out["reference_date"] = _date(path, lineno, "reference_date", out["reference_date"])
    if out.get("corpus") is not None and not isinstance(out["corpus"], str):
        raise TestSetError(f"{path}:{lineno}: 'corpus' must be a path string")
    return out


def _resolve_corpus(path: Path, corpus: str | None, lineno: int) -> Path | None:
    if not corpus:
        return None
    resolved = (path.parent / corpus).resolve()
    if not resolved.exists():
        raise TestSetError(f"{path}:{lineno}: corpus {corpus!r} not found (looked for {resolved})")
    return resolved


def _finish(
    path: Path, items: list[TestItem], corpus: Path | None, ref: dt.date | None, fmt: str, desc: str
) -> TestSet:
    seen: dict[str, int] = {}
    for item in items:
        if item.id in seen:
            raise TestSetError(f"{path}:{item.line}: duplicate id {item.id!r} (first at line {seen[item.id]})")
        seen[item.id] = item.line
    return TestSet(path=path, items=items, corpus=corpus, reference_date=ref, format=fmt, description=str(desc or ""))


def _item(path: Path, lineno: int, rec: Any, strict: bool) -> TestItem:
    where = f"{path}:{lineno}"
    if not isinstance(rec, dict):
        raise TestSetError(f"{where}: a test item must be a mapping, got {type(rec).__name__}")
    if strict:
        unknown = [k for k in rec if k not in ITEM_FIELDS]
        if unknown:
            raise TestSetError(f"{where}: unknown field {unknown[0]!r}{_hint(unknown[0], ITEM_FIELDS)}")
    question = rec.get("question")
    if not isinstance(question, str) or not question.strip():
        raise TestSetError(f"{where}: 'question' is required and must be non-empty text")
    raw_id = rec.get("id")
    if raw_id is not None and not isinstance(raw_id, str | int):
        raise TestSetError(f"{where}: 'id' must be text or a number")
    answers = _strings(where, "answers", rec.get("answers"))
    choices = _strings(where, "choices", rec.get("choices"))
    answer_index = rec.get("answer_index")
    if choices or answer_index is not None:
        if len(choices) < 2:
            raise TestSetError(f"{where}: 'choices' needs at least two options when 'answer_index' is given")
        if not isinstance(answer_index, int) or isinstance(answer_index, bool) or not 0 <= answer_index < len(choices):
            raise TestSetError(f"{where}: 'answer_index' must be an integer from 0 to {len(choices) - 1}")
    answerable = rec.get("answerable")
    if answerable is None:
        answerable = bool(answers or choices)
    elif not isinstance(answerable, bool):
        raise TestSetError(f"{where}: 'answerable' must be true or false")
    elif not answerable and (answers or choices):
        raise TestSetError(f"{where}: 'answerable: false' contradicts the given answers/choices")
    score_open = rec.get("score_open", True)
    if not isinstance(score_open, bool):
        raise TestSetError(f"{where}: 'score_open' must be true or false")
    evidence = rec.get("evidence") or ""
    if not isinstance(evidence, str):
        raise TestSetError(f"{where}: 'evidence' must be text")
    ref = rec.get("reference_date")
    return TestItem(
        id=str(raw_id) if raw_id is not None else f"{path.stem}-{lineno}",
        question=question.strip(),
        answers=answers,
        answerable=answerable,
        score_open=score_open,
        choices=choices,
        answer_index=answer_index,
        gold_doc_ids=_strings(where, "gold_doc_ids", rec.get("gold_doc_ids")),
        gold_urls=_strings(where, "gold_urls", rec.get("gold_urls")),
        gold_files=_strings(where, "gold_files", rec.get("gold_files")),
        gold_titles=_strings(where, "gold_titles", rec.get("gold_titles")),
        evidence=evidence,
        evidence_facts=_strings(where, "evidence_facts", rec.get("evidence_facts")),
        tags=_tags(where, rec.get("tags")),
        reference_date=_date(path, lineno, "reference_date", ref) if ref is not None else None,
        history=_history(where, rec.get("history")),
        line=lineno,
    )


def _strings(where: str, name: str, value: Any) -> list[str]:
    # A single string is accepted for a one-element list: `answers: Beijing` is what people write.
    if value is None:
        return []
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        value = [value]
    scalar = (str, int, float)
    if not isinstance(value, list) or not all(isinstance(v, scalar) and not isinstance(v, bool) for v in value):
        raise TestSetError(f"{where}: '{name}' must be a list of text values")
    return [str(v).strip() for v in value if str(v).strip()]


def _tags(where: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [t for t in re.split(r"[,\s]+", value) if t]
    return list(dict.fromkeys(_strings(where, "tags", value)))


def _history(where: str, value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TestSetError(f"{where}: 'history' must be a list of {{question, answer}} turns")
    turns = []
    for i, turn in enumerate(value):
        if isinstance(turn, dict) and set(turn) <= {"question", "answer"} and "question" in turn:
            q, a = turn.get("question"), turn.get("answer", "")
        elif isinstance(turn, list | tuple) and len(turn) == 2:
            q, a = turn
        else:
            raise TestSetError(f"{where}: history turn {i + 1} must be {{question, answer}} or [question, answer]")
        if not isinstance(q, str) or not isinstance(a, str) or not q.strip():
            raise TestSetError(f"{where}: history turn {i + 1} needs a non-empty question and a text answer")
        turns.append((q.strip(), a.strip()))
    return turns


def _date(path: Path, lineno: int, name: str, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d{4})[-/](\d{1,2})[-/](\d{1,2})\s*", value)
        if m:
            try:
                return dt.date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                pass
    raise TestSetError(f"{path}:{lineno}: '{name}' must be a date like 2025-09-05, got {value!r}")


def _hint(name: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
