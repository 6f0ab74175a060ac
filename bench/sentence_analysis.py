"""Where the answer-bearing sentence sits among a question's candidate sentences, for K embedded front-runners.

Reads the retrieval cache of bench/fit_reader.py. Example (bench/README.md, fourth session):

    python bench/sentence_analysis.py S 5     # S: the store holding fit_reader.pkl; 5: dense_candidates
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from articleqa.models import Passage  # noqa: E402
from articleqa.settings import Settings  # noqa: E402
from evaluation.metrics import contains_answer  # noqa: E402


def main() -> None:
    from articleqa.embed import get_embedder
    from qa.extractive import ExtractiveAnswerer

    store = Path(sys.argv[1])
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    rows = pickle.loads((store / "fit_reader.pkl").read_bytes())
    settings = Settings().with_overrides(dense_candidates=k)
    ext = ExtractiveAnswerer(settings, get_embedder(settings))
    stats: dict[str, dict[str, int]] = {}
    for r in rows:
        if not r["answers"]:
            continue
        st = stats.setdefault(r["set"], {})
        passages = [Passage(**p) for p in r["passages"]]
        q, ranked = ext.rank(r["query"], passages)
        gold = [contains_answer(c.text, r["answers"]) > 0 for c in ranked]
        front = [c for c in ranked if c.doc is not None]
        ok = [c for c in ranked if c.type_ok]

        def bump(key: str, v: bool, st: dict[str, int] = st) -> None:
            st[key] = st.get(key, 0) + int(v)

        bump("n", True)
        bump("any_sentence", any(gold))
        bump("top4_passages", contains_answer("\n".join(p.text for p in passages[:4]), r["answers"]) > 0)
        bump("in_front", any(contains_answer(c.text, r["answers"]) for c in front))
        bump("lead_by_score", bool(ok) and contains_answer(ok[0].text, r["answers"]) > 0)
        bump("front_top2_by_score", any(contains_answer(c.text, r["answers"]) for c in ok[:2]))
        by_cos = sorted(front, key=lambda c: -c.cos)
        bump("top_cos", bool(by_cos) and contains_answer(by_cos[0].text, r["answers"]) > 0)
        by_lex = sorted(ranked, key=lambda c: -c.lex)
        bump("top_lex", contains_answer(by_lex[0].text, r["answers"]) > 0 if by_lex else False)
        bump("n_front", len(front))
        bump("n_sent", len(ranked))
    for s, st in stats.items():
        print(s, {key: (v, round(v / st["n"], 3)) for key, v in st.items()})


if __name__ == "__main__":
    main()
