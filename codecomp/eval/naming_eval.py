"""Naming task of the evaluation: names for declared variables, parameters and functions of held-out files.

The engine is asked exactly as the language server asks it (``suggest_names`` at the declaration, the file
open as it is); the baseline proposes the names most often given, in the train split, to symbols declared in
the same context (language, kind, token before and token after the declaration), backing off to coarser
contexts when a context was never seen.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from tqdm import tqdm

from codecomp.eval import metrics as M
from codecomp.eval.documents import FileDoc, utf16_position
from codecomp.eval.records import TaskRecords
from codecomp.eval.sampling import Sample, stratified_sample

NAMED_KINDS = ("variable", "parameter", "function")


class FrequentNameBaseline:
    """Most frequent names for a declaration context, with back-off to coarser contexts."""

    name = "most-frequent-name"

    def __init__(self, names: dict[tuple[str, str, str, str], dict[str, int]]) -> None:
        self.tables: list[dict[tuple, Counter[str]]] = [{}, {}, {}, {}]
        for (lang, kind, before, after), counts in names.items():
            for level, key in enumerate(((lang, kind, before, after), (lang, kind, before), (lang, kind), (lang,))):
                self.tables[level].setdefault(key, Counter()).update(counts)

    def predict(self, context: tuple[str, str, str, str], k: int = 5) -> list[str]:
        """Up to ``k`` names, from the most specific context that was seen in training."""
        lang, kind, before, after = context
        out: list[str] = []
        for level, key in enumerate(((lang, kind, before, after), (lang, kind, before), (lang, kind), (lang,))):
            counts = self.tables[level].get(key)
            if counts:
                # ties broken by name, so the answer never depends on the order names were counted in
                for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]:
                    if name not in out:
                        out.append(name)
                if len(out) >= k:
                    break
        return out[:k]


def sample_symbols(docs: Sequence[FileDoc], n: int, seed: int) -> tuple[list[tuple[int, str, str, list[int]]], Sample]:
    """(doc, name, kind, occurrences) of ``n`` declared symbols, and the draw.

    Symbols are drawn by the harness's stratified rule (codecomp/eval/sampling.py: an equal share per project,
    at most ``max(5, share // 4)`` per file), among the symbols whose declaration can be placed in the file.
    """
    from codecomp.eval.harness import declaration_context

    eligible = []
    for doc in docs:
        keep = [j for j, (_, kind, occ) in enumerate(doc.symbols)
                if kind in NAMED_KINDS and occ and declaration_context(doc, kind, occ) is not None]
        eligible.append((doc.project, doc.path, keep))
    sample = stratified_sample(eligible, n, seed, "naming")
    chosen = [(d, *docs[d].symbols[j]) for d, j in sample.picks]
    return sorted(chosen, key=lambda x: (x[0], min(x[3]), x[1])), sample


def evaluate_naming(engine_sys: Any, docs: Sequence[FileDoc], names: dict[tuple[str, str, str, str], dict[str, int]],
                    n: int, seed: int, progress: bool = True) -> dict[str, Any]:
    """Exact match, top-5 and sub-token F1 of the engine and the frequency baseline on the same symbols."""
    from codecomp.eval.harness import NAMING_SCALES, _task_output, declaration_context, naming_records

    symbols, sample = sample_symbols(docs, n, seed)
    if not symbols:
        return {"skipped": "the held-out files have no declared symbols (the corpus has no symbol columns)"}
    baseline = FrequentNameBaseline(names)
    engine_cases: list[tuple[list[str], str]] = []
    base_cases: list[tuple[list[str], str]] = []
    reasons: Counter[str] = Counter()
    engine = engine_sys.engine
    opened: str | None = None
    for d, name, kind, occ in tqdm(symbols, desc="naming", disable=not progress, leave=False):
        doc = docs[d]
        ctx = declaration_context(doc, kind, occ)
        assert ctx is not None, "sample_symbols keeps only symbols with a declaration context"
        base_cases.append((baseline.predict(ctx, 5), name))
        pos = doc.row_pos
        i = min(pos[o] for o in occ if o in pos)
        uri = engine_sys.uri_of(doc) + "#naming"
        if opened != uri:
            if opened is not None:
                engine.close(opened)
            engine.open(uri, doc.text, doc.lang, 1)
            opened = uri
        line, col = utf16_position(doc.text, doc.start_chars[i])
        try:
            res = engine.suggest_names(uri, line, col, k=5)
        except Exception as exc:  # one failing symbol must not end the evaluation; it counts as a miss
            reasons[f"error: {exc}"] += 1
            engine_cases.append(([], name))
            continue
        got = [nm for nm, _ in res.names]
        if not got and getattr(res, "reason", None):
            reasons[res.reason] += 1
        engine_cases.append((got, name))
    if opened is not None:
        engine.close(opened)
    out: dict[str, Any] = {"positions": len(base_cases), "systems": {}}
    records = TaskRecords.of_docs(docs, [(d, min(occ)) for d, _, _, occ in symbols])
    records.add_group("name", [1] * len(symbols), NAMING_SCALES)
    if engine_cases and len(reasons) and sum(reasons.values()) == len(engine_cases):
        out["engine_note"] = reasons.most_common(1)[0][0]
    else:
        out["systems"][engine_sys.name] = M.naming_scores(engine_cases)
        naming_records(records, engine_sys.name, engine_cases)
        if reasons:
            out["engine_note"] = f"{sum(reasons.values())} symbols without names; most common reason: " \
                                 f"{reasons.most_common(1)[0][0]}"
    out["systems"][baseline.name] = M.naming_scores(base_cases)
    naming_records(records, baseline.name, base_cases)
    out["examples"] = [{"name": t, "baseline": p[:3]} for p, t in base_cases[:5]]
    out.update(_task_output(records, sample, engine_sys.name, seed))
    return out
