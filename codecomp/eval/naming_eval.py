"""The naming task of the evaluation: names for declared variables, parameters and functions of held-out files.

The engine's names (the artifact's naming model, merged with the names its declaration spells:
`codecomp.naming.context`) and the most-frequent-name-for-the-declaration-context baseline
(`codecomp.naming.data.ContextBaseline`, fitted on the train split) are asked for the same symbols, drawn by the
stratified rule of `codecomp.eval.sampling` from the evaluated files.  Both read the symbols exactly as training
prepared them (`codecomp.naming.data.NamingDataset`), and both are scored by `codecomp.eval.metrics` (exact
match, top-5, sub-token F1 of the top-1 name).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from codecomp.corpus import reader
from codecomp.eval import metrics as M
from codecomp.eval.records import TaskRecords
from codecomp.eval.sampling import stratified_sample
from codecomp.naming.context import merge_names

NAMING_SCALES = {"exact": 100.0, "top5": 100.0, "subtoken_f1": 100.0}
BASELINE_NAME = "most-frequent-name"


def naming_records(records: TaskRecords, system: str, cases: Sequence[tuple[Sequence[str], str]]) -> None:
    """Per-symbol outcomes of one naming system: exact top-1, target in the top 5, sub-token F1 of the top-1."""
    records.set(system, "name", "exact", [bool(names) and names[0] == t for names, t in cases])
    records.set(system, "name", "top5", [t in list(names)[:5] for names, t in cases])
    records.set(system, "name", "subtoken_f1", [M.subtoken_f1(names[0], t) if names else 0.0 for names, t in cases])


def eval_naming(engine_sys: Any, corpus: Path, split: str, n: int, seed: int, progress: bool = True,
                rows: Sequence[int] | None = None, train_corpus: Path | None = None) -> dict[str, Any]:
    """Names for ``n`` declared symbols of the evaluated files (``rows``: their row indices in the split; None:
    all) from the engine's naming model and from the baseline (fitted on the train split of `train_corpus`, default
    `corpus`); ``{"skipped": why}`` when there is nothing to
    ask (a corpus without symbol columns, files without declarations)."""
    from codecomp.naming.data import ContextBaseline, NamingDataset

    try:
        test = NamingDataset.from_corpus(corpus, split)
        if len(test) == 0:
            return {"skipped": "the held-out files have no declared variable, parameter or function"}
        baseline = ContextBaseline.fit(NamingDataset.from_corpus(train_corpus or corpus, "train"), progress=progress)
    except ValueError as exc:  # the corpus lacks the symbol columns (NamingDataError)
        return {"skipped": str(exc)}
    cols = reader.open_split(corpus, split, ["project", "path"])
    labels = list(zip(cols["project"], cols["path"]))
    allowed = set(range(len(labels))) if rows is None else set(rows)
    by_file: dict[int, list[int]] = {}
    for r, ref in enumerate(test.refs):
        if ref.file in allowed:
            by_file.setdefault(ref.file, []).append(r)
    files = sorted(by_file)
    sample = stratified_sample([(labels[f][0], labels[f][1], by_file[f]) for f in files], n, seed, "naming")
    picks = [(files[k], r) for k, r in sample.picks]
    if not picks:
        return {"skipped": "the evaluated files have no declared variable, parameter or function"}
    records = TaskRecords.of_positions(labels, picks)
    records.add_group("name", [1] * len(picks), NAMING_SCALES)
    out: dict[str, Any] = {"positions": len(picks), "systems": {}}
    targets = [test.refs[r].name for _, r in picks]
    engine = engine_sys.engine
    naming = engine.naming_model() if hasattr(engine, "naming_model") else None
    if naming is not None:
        ranked = [merge_names(test.context_names(r), naming.predict(test.example(r, naming.vocab), 5),
                              test.refs[r].lang, test.refs[r].kind, 5)
                  for _, r in _bar(picks, "naming model", progress)]
        got = [[name for name, _ in names] for names in ranked]
        cases = list(zip(got, targets))
        out["confidence"] = confidence_table([(names[0][1] if names else 0.0, bool(names) and names[0][0] == t)
                                              for names, t in zip(ranked, targets)])
        out["systems"][engine_sys.name] = M.naming_scores(cases)
        naming_records(records, engine_sys.name, cases)
    else:
        problem = engine.naming_problem() if hasattr(engine, "naming_problem") else "the engine has no naming model"
        out["engine_note"] = problem
    base = list(zip([baseline.predict(test, r, 5) for _, r in _bar(picks, "naming baseline", progress)], targets))
    out["systems"][BASELINE_NAME] = M.naming_scores(base)
    naming_records(records, BASELINE_NAME, base)
    out.update(records.task_output(sample, engine_sys.name, seed))
    return out


CONFIDENCE_LEVELS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def confidence_table(scored: Sequence[tuple[float, bool]]) -> list[dict[str, float]]:
    """For each level of `CONFIDENCE_LEVELS`: the share of symbols whose first name scores at least that much
    (`shown` %) and how often that first name is the author's (`precision` %); what the editor's automatic
    rename suggestion (`codecomp.engine.naming.AUTOMATIC_MIN_SCORE`) is chosen from, on the valid split."""
    rows = []
    for level in CONFIDENCE_LEVELS:
        hits = [ok for score, ok in scored if score >= level]
        rows.append({"min_score": level, "shown": 100.0 * len(hits) / max(1, len(scored)),
                     "precision": 100.0 * sum(hits) / len(hits) if hits else None, "n": len(hits)})
    return rows


def _bar(items: Sequence[Any], desc: str, progress: bool) -> Any:
    return tqdm(items, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
