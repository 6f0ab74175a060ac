"""Renders an evaluation: rich terminal tables, the JSON report, a self-contained HTML report, and run-to-run deltas."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from evaluation.metrics import HEADLINE, is_better

RATE_METRICS = ("hit@1", "hit@3", "hit@4", "hit@5", "hit@10", "mrr@10", "recall@5", "recall@10", "answer_in_top4")
ORDER = (*HEADLINE[:5], "answer_in_top4", *RATE_METRICS[:-1], *HEADLINE[8:], "answer_words", "errors")
_SHORT = {"contains": "cont", "direct_contains": "direct", "mc_accuracy": "mc", "refusal_rate": "refuse",
          "false_refusal_rate": "false_ref",
          "citation_precision": "cite_p", "passed": "pass"}
TAG_COLUMNS = ("direct_contains", "contains", "f1", "mc_accuracy", "hit@5", "refusal_rate", "false_refusal_rate",
               "citation_precision")
# Sets with evidence sentences (MultiHop-RAG) get a second per-tag table: the paper's figures side by side.
EVIDENCE_COLUMNS = ("accuracy", "evidence_hit@4", "evidence_hit@10", "evidence_mrr@10", "recall@10",
                    "refusal_rate", "false_refusal_rate")


def load_previous(path: str | Path) -> dict[str, Any]:
    """Read an earlier `--json` report for `--compare`.

    Raises:
        ValueError: the file is missing or is not an evaluation report.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the previous report: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise ValueError(f"{path}: not an articleqa eval JSON report (no 'metrics')")
    return data


def deltas(current: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, float]:
    """Metric changes, current minus previous, for metrics measured in both runs."""
    if not previous:
        return {}
    prev = previous.get("metrics", {})
    return {k: v - prev[k] for k, v in current.items()
            if isinstance(v, int | float) and isinstance(prev.get(k), int | float)}


def metric_names(metrics: dict[str, Any]) -> list[str]:
    """Metric names in display order: headline first, then the rest (latency last)."""
    rest = sorted(k for k in metrics if k not in ORDER)
    return [k for k in ORDER if k in metrics] + [k for k in rest if not k.startswith("latency")] + [
        k for k in rest if k.startswith("latency")
    ]


def fmt(name: str, value: float | None) -> str:
    """A metric value for display: counts as integers, latencies in ms, words with one decimal, rates with three."""
    if value is None:
        return "–"
    if name in ("invalid_citations", "errors"):
        return str(int(value))
    if name.startswith("latency"):
        return f"{value * 1000:.0f} ms"
    if name == "answer_words":
        return f"{value:.1f}"
    return f"{value:.3f}"


def fmt_delta(name: str, delta: float) -> str:
    if name.startswith("latency"):
        return f"{delta * 1000:+.0f} ms"
    return f"{delta:+.0f}" if name in ("invalid_citations", "errors") else f"{delta:+.3f}"


# ---- terminal ----------------------------------------------------------------------------------------------------
def print_report(
    data: dict[str, Any], previous: dict[str, Any] | None = None, console=None, failures: int = 10
) -> None:
    """Print the headline table, the per-tag table, latency and the first failures.

    Args:
        data: `EvalReport.to_dict()`.
        previous: an earlier report to show deltas against.
        console: a rich Console (default: stdout).
        failures: how many failed items to list.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    metrics, n, ci = data["metrics"], data["n"], data["ci"]
    delta = deltas(metrics, previous)
    title = (f"{data['testset']} · {data['items_total']} items · {data['settings']['mode']} · "
             f"collection {data['settings']['collection']} · {data['seconds']:.0f} s")
    table = Table(title=title, title_justify="left")
    for col in ("metric", "value", "95% CI", "n") + (("Δ vs previous",) if previous else ()):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name in metric_names(metrics):
        if name.startswith("latency"):
            continue
        row = [name, fmt(name, metrics[name]), _ci_text(ci.get(name)), str(n.get(name, ""))]
        if previous:
            row.append(_rich_delta(name, delta))
        table.add_row(*row)
    console.print(table)

    tags = Table(title="per tag", title_justify="left")
    tags.add_column("tag", no_wrap=True)
    for col in ("items", "passed", *TAG_COLUMNS):
        tags.add_column(_SHORT.get(col, col), justify="right", no_wrap=True)
    for tag, t in sorted(data["tags"].items()):
        tags.add_row(tag, str(t["items"]), str(t["passed"]), *(fmt(c, t["metrics"].get(c)) for c in TAG_COLUMNS))
    console.print(tags)
    if "evidence_hit@10" in metrics:
        console.print(evidence_table(data))

    lat = Table(title="latency (seconds per stage)", title_justify="left")
    for col in ("stage", "p50", "p95", "n"):
        lat.add_column(col, justify="left" if col == "stage" else "right")
    for stage, v in data["latency"].items():
        lat.add_row(stage, f"{v['p50']:.3f}", f"{v['p95']:.3f}", str(int(v["n"])))
    console.print(lat)

    failed = [i for i in data["items"] if i["failed"]]
    console.print(f"[bold]{len(failed)} of {data['items_total']} items failed[/]" + (":" if failed else "."))
    for item in failed[:failures]:
        console.print(f"  [bold]{escape(item['id'])}[/] {escape(item['question'])}", highlight=False)
        for why in item["failures"]:
            console.print(f"      - {escape(why)}", highlight=False)
    if len(failed) > failures:
        console.print(f"  … and {len(failed) - failures} more (see --html or --json)")
    for w in data["warnings"][:10]:
        console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)


def evidence_table(data: dict[str, Any]):
    """Per question type: answer accuracy, evidence-level Hits@4/@10 and MRR@10, gold-article recall@10, refusals."""
    from rich.table import Table

    table = Table(title="per question type (evidence-level retrieval, accuracy as in MultiHop-RAG)",
                  title_justify="left")
    table.add_column("tag", no_wrap=True)
    for col in ("items", *EVIDENCE_COLUMNS):
        table.add_column(col.replace("evidence_", "ev_").replace("false_refusal_rate", "false_ref")
                         .replace("refusal_rate", "refused"), justify="right", no_wrap=True)
    rows = sorted(data["tags"].items()) + [("(all)", {"items": data["items_total"], "metrics": data["metrics"]})]
    for tag, t in rows:
        table.add_row(tag, str(t["items"]), *(fmt(c, t["metrics"].get(c)) for c in EVIDENCE_COLUMNS))
    return table


def _ci_text(ci: list[float] | None) -> str:
    return f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else ""


def _rich_delta(name: str, delta: dict[str, float]) -> str:
    if name not in delta:
        return ""
    better = is_better(name, delta[name])
    colour = {True: "green", False: "red", None: "dim"}[better]
    return f"[{colour}]{fmt_delta(name, delta[name])}[/]"


# ---- JSON --------------------------------------------------------------------------------------------------------
def write_json(data: dict[str, Any], path: str | Path, previous: dict[str, Any] | None = None) -> None:
    """Write the full report (all metrics and every item) as JSON; with `previous`, its deltas too."""
    out = dict(data)
    if previous:
        out["compare"] = {"previous": previous.get("created", ""), "deltas": deltas(data["metrics"], previous)}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(out, indent=2, ensure_ascii=False, default=str), encoding="utf-8")


# ---- HTML --------------------------------------------------------------------------------------------------------
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#1d232a;
padding:0 1rem}
h1{font-size:1.4rem;margin-bottom:.2rem}
h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #dde;padding-bottom:.2rem}
.meta{color:#5b6570}table{border-collapse:collapse;margin:.5rem 0;width:100%}
th,td{border-bottom:1px solid #e4e7eb;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f7;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.good{color:#17803d}.bad{color:#c0262d}.warn{color:#9a6700}.small{font-size:12px;color:#5b6570}
details{margin:.15rem 0}summary{cursor:pointer;color:#33518f}blockquote{margin:.2rem 0 .2rem .6rem;padding-left:.6rem;
border-left:3px solid #ccd}.cards{display:flex;flex-wrap:wrap;gap:.6rem}.card{border:1px solid #e4e7eb;
border-radius:6px;padding:.5rem .8rem;min-width:8rem}.card b{display:block;font-size:1.3rem}
svg text{font:11px system-ui,sans-serif;fill:#1d232a}
"""


def write_html(data: dict[str, Any], path: str | Path, previous: dict[str, Any] | None = None) -> None:
    """Write a self-contained HTML report: headline metrics, per-tag bars, latency histogram, failures.

    Inline CSS and SVG only, no external assets; every value taken from the data is HTML-escaped.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(render_html(data, previous), encoding="utf-8")


def render_html(data: dict[str, Any], previous: dict[str, Any] | None = None) -> str:
    """The HTML report as a string (see `write_html`)."""
    e = html.escape
    metrics, n, ci = data["metrics"], data["n"], data["ci"]
    delta = deltas(metrics, previous)
    s = data["settings"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>articleqa eval · {e(Path(data['testset']).name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>articleqa evaluation: {e(data['testset'])}</h1>",
        f"<p class='meta'>{e(data['created'])} · {data['items_total']} items, {data['items_failed']} failed · "
        f"mode {e(str(s['mode']))} · collection {e(str(s['collection']))} · model {e(str(s['embedding_model']))} · "
        f"{data['seconds']:.0f} s</p>",
    ]
    if data.get("ingest"):
        parts.append(f"<p class='small'>corpus: {e(str(data['ingest'].get('corpus', '')))} · "
                     f"{e(str(data['ingest'].get('summary', '')))}"
                     f"{' (reused)' if data['ingest'].get('reused') else ''}</p>")
    cards = [f"<div class='card'>{e(k)}<b>{e(fmt(k, metrics.get(k)))}</b></div>"
             for k in HEADLINE if metrics.get(k) is not None]
    parts.append(f"<div class='cards'>{''.join(cards)}</div>")

    parts.append("<h2>Metrics</h2><table><tr><th>metric</th><th>value</th><th>95% CI</th><th>n</th>"
                 + ("<th>Δ vs previous</th>" if previous else "") + "</tr>")
    for name in metric_names(metrics):
        row = (f"<tr><td>{e(name)}</td><td class='num'>{e(fmt(name, metrics[name]))}</td>"
               f"<td class='num'>{e(_ci_text(ci.get(name)))}</td><td class='num'>{e(str(n.get(name, '')))}</td>")
        if previous:
            d = delta.get(name)
            cls = {True: "good", False: "bad", None: ""}[is_better(name, d)] if d is not None else ""
            row += f"<td class='num {cls}'>{e(fmt_delta(name, d)) if d is not None else ''}</td>"
        parts.append(row + "</tr>")
    parts.append("</table>")

    parts.append("<h2>Per tag</h2>")
    parts.append(_tag_bars(data["tags"]))
    parts.append("<table><tr><th>tag</th><th>items</th><th>passed</th>"
                 + "".join(f"<th>{e(c)}</th>" for c in TAG_COLUMNS) + "</tr>")
    for tag, t in sorted(data["tags"].items()):
        parts.append(f"<tr><td>{e(tag)}</td><td class='num'>{t['items']}</td><td class='num'>{t['passed']}</td>"
                     + "".join(f"<td class='num'>{e(fmt(c, t['metrics'].get(c)))}</td>" for c in TAG_COLUMNS)
                     + "</tr>")
    parts.append("</table>")

    parts.append("<h2>Latency</h2>")
    totals = [i["scores"]["timings"].get("total") for i in data["items"] if i["scores"]["timings"].get("total")]
    parts.append(_histogram(totals))
    parts.append("<table><tr><th>stage</th><th>p50</th><th>p95</th><th>n</th></tr>")
    for stage, v in data["latency"].items():
        parts.append(f"<tr><td>{e(stage)}</td><td class='num'>{v['p50'] * 1000:.0f} ms</td>"
                     f"<td class='num'>{v['p95'] * 1000:.0f} ms</td><td class='num'>{int(v['n'])}</td></tr>")
    parts.append("</table>")

    if data["warnings"]:
        parts.append("<h2>Warnings</h2><ul>" + "".join(f"<li class='warn'>{e(w)}</li>" for w in data["warnings"])
                     + "</ul>")
    failed = [i for i in data["items"] if i["failed"]]
    parts.append(f"<h2>Failures ({len(failed)} of {data['items_total']})</h2>")
    if failed:
        parts.append("<table><tr><th>id</th><th>question</th><th>expected</th><th>got</th><th>why</th>"
                     "<th>citations &amp; passages</th></tr>")
        parts.extend(_failure_row(i) for i in failed)
        parts.append("</table>")
    else:
        parts.append("<p class='good'>Every item passed.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _expected(item: dict[str, Any]) -> str:
    e = html.escape
    out = []
    if not item["answerable"]:
        out.append("<i>cannot be answered (refusal expected)</i>")
    if item["answers"]:
        out.append(" | ".join(e(a) for a in item["answers"]))
    if item["choices"] and item["answer_index"] is not None:
        opts = "".join(f"<li>{'<b>' if i == item['answer_index'] else ''}{e(c)}"
                       f"{'</b>' if i == item['answer_index'] else ''}</li>" for i, c in enumerate(item["choices"]))
        out.append(f"<ol start='0' class='small'>{opts}</ol>")
    if item["gold_articles"]:
        out.append(f"<div class='small'>gold: {e(', '.join(item['gold_articles']))}</div>")
    return "".join(f"<div>{x}</div>" for x in out)


def _failure_row(item: dict[str, Any]) -> str:
    e = html.escape
    got = item["got"] or {}
    answer = e(got.get("answer", "")) if got else "<i>no answer (error)</i>"
    if got.get("short_answer"):
        answer += f"<div class='small'>short: {e(got['short_answer'])}</div>"
    history = "".join(f"<div class='small'>earlier: {e(q)} → {e(a)}</div>" for q, a in item["history"])
    cites = "".join(f"<details><summary>[{c['number']}] {e(c['title'] or c['article_id'])}</summary>"
                    f"<blockquote>{e(c['quote'])}</blockquote></details>" for c in got.get("citations", []))
    passages = "".join(f"<details><summary class='small'>passage {k + 1}: {e(p['article_id'])} "
                       f"(score {p['score']:.3f})</summary><blockquote class='small'>{e(p['text'])}</blockquote>"
                       f"</details>" for k, p in enumerate(got.get("passages", [])))
    why = "".join(f"<li>{e(w)}</li>" for w in item["failures"])
    return (f"<tr><td>{e(item['id'])}<div class='small'>{e(', '.join(item['tags']))}</div></td>"
            f"<td>{history}{e(item['question'])}</td><td>{_expected(item)}</td><td>{answer}</td>"
            f"<td><ul class='bad'>{why}</ul></td><td>{cites}{passages}</td></tr>")


def _tag_bars(tags: dict[str, dict[str, Any]]) -> str:
    """An inline SVG of the share of items passed per tag."""
    e = html.escape
    rows = sorted(tags.items())
    if not rows:
        return ""
    bar_h, gap, label_w, width = 18, 6, 190, 520
    height = len(rows) * (bar_h + gap) + 10
    out = [f"<svg role='img' aria-label='share of items passed per tag' width='{label_w + width + 80}' "
           f"height='{height}' xmlns='http://www.w3.org/2000/svg'>"]
    for k, (tag, t) in enumerate(rows):
        share = t["passed"] / t["items"] if t["items"] else 0.0
        y = 5 + k * (bar_h + gap)
        colour = "#2f9e5b" if share >= 0.8 else "#d4a72c" if share >= 0.5 else "#cf3b3b"
        out.append(f"<text x='{label_w - 6}' y='{y + 13}' text-anchor='end'>{e(tag)}</text>"
                   f"<rect x='{label_w}' y='{y}' width='{width}' height='{bar_h}' fill='#eef0f3'/>"
                   f"<rect x='{label_w}' y='{y}' width='{width * share:.1f}' height='{bar_h}' fill='{colour}'/>"
                   f"<text x='{label_w + width + 6}' y='{y + 13}'>{t['passed']}/{t['items']}</text>")
    out.append("</svg>")
    return "".join(out)


def _histogram(values: list[float], bins: int = 20) -> str:
    """An inline SVG histogram of end-to-end answer latency."""
    if not values:
        return ""
    lo, hi = 0.0, max(values) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / (hi - lo) * bins), bins - 1)] += 1
    w, h, pad = 600, 160, 30
    bw = w / bins
    top = max(counts)
    out = [f"<svg role='img' aria-label='latency histogram' width='{w + 2 * pad}' height='{h + 2 * pad}' "
           f"xmlns='http://www.w3.org/2000/svg'>"]
    for k, c in enumerate(counts):
        bh = h * c / top
        out.append(f"<rect x='{pad + k * bw:.1f}' y='{pad + h - bh:.1f}' width='{bw - 2:.1f}' height='{bh:.1f}' "
                   f"fill='#4b7bd1'><title>{c} answers</title></rect>")
    out.append(f"<line x1='{pad}' y1='{pad + h}' x2='{pad + w}' y2='{pad + h}' stroke='#888'/>"
               f"<text x='{pad}' y='{pad + h + 16}'>0 s</text>"
               f"<text x='{pad + w}' y='{pad + h + 16}' text-anchor='end'>{hi:.2f} s</text>"
               f"<text x='{pad}' y='{pad - 10}'>end-to-end answer time, {len(values)} answers (max bin {top})</text>")
    out.append("</svg>")
    return "".join(out)
