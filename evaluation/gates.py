"""CI gates on evaluation metrics: `metric=value`, `metric>=value`, `metric<=value`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from evaluation.metrics import LOWER_IS_BETTER

_GATE = re.compile(r"^\s*([A-Za-z0-9_@.\-]+)\s*(>=|<=|=)\s*(-?[0-9]*\.?[0-9]+)\s*$")


@dataclass
class Gate:
    """A CI threshold on one metric: `op` is ">=" (must be at least) or "<=" (must be at most)."""

    metric: str
    op: str
    value: float

    def check(self, metrics: dict[str, float | None]) -> str | None:
        """None when the gate passes, else a one-line reason."""
        got = metrics.get(self.metric)
        if got is None:
            return f"{self.metric} was not measured (no item applies), gate {self.op} {self.value:g}"
        ok = got >= self.value if self.op == ">=" else got <= self.value
        return None if ok else f"{self.metric} = {got:.4g}, must be {self.op} {self.value:g}"


def parse_gates(specs: list[str]) -> list[Gate]:
    """Parse `--fail-under` values: `metric=value` (direction from the metric), `metric>=value`, `metric<=value`.

    `metric=value` means "at least value" except for lower-is-better metrics (false_refusal_rate,
    invalid_citations, answer_words, errors, latency_*), where it means "at most value". Several gates may be
    comma-separated in one value.

    Raises:
        ValueError: a malformed gate.
    """
    gates = []
    for spec in (s for raw in specs for s in raw.split(",") if s.strip()):
        m = _GATE.match(spec)
        if not m:
            raise ValueError(f"--fail-under {spec!r}: expected metric=value, e.g. contains=0.8 or invalid_citations<=0")
        name, op, value = m[1], m[2], float(m[3])
        if op == "=":
            op = "<=" if name in LOWER_IS_BETTER or name.startswith("latency") else ">="
        gates.append(Gate(name, op, value))
    return gates
