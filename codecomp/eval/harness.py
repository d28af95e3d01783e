"""The evaluation harness: sample positions from a held-out split and score every system on the same ones.

Tasks (names used by ``--tasks`` and in report.json):

* ``identifiers``: identifier completion with 0..3 characters typed; the document is the whole file with the
  one occurrence blanked (text after the cursor stays); top-1, top-5, MRR@10, split in / out of vocabulary;
* ``tokens``: next-token top-1 accuracy at sampled token positions (left context only);
* ``lines``: rest-of-line prediction at sampled token positions inside a line (left context only);
* ``line_starts``: rest-of-line prediction where ghost text meets a user most, at the start of a line's code
  (after its indentation) with nothing typed (``t0``) and with its first token typed (``t1``); the system sees
  the file without the rest of that line (the lines after it stay);
  for both line tasks: exact match and edit similarity of every system's answer at every position, and for
  inline fragments whether the system offers one (coverage), how often an offered one is exact (precision),
  exact match with every position where nothing is offered counted as a miss, and the keystrokes a user saves
  by accepting the offered fragments that are exact;
* ``keystrokes``: a simulated user types sampled windows of lines, accepting the top suggestion or the
  inline fragment whenever it is exactly what comes next;
* ``char``: bits per character of the artifact's char model on held-out text;
* ``naming``: name suggestions for declared symbols, with the most-frequent-name baseline;
* ``latency``: percentiles of the engine's ``complete`` calls made by the other tasks;
* ``learning``: a simulated user types each held-out project file after file, with learning from the user on
  and off (:mod:`codecomp.eval.learning_eval`).

Positions are drawn by the rule of :mod:`codecomp.eval.sampling` (an equal share per project, at most a cap
per file), so that a figure describes the split's projects rather than its largest one.  Every task keeps
per-position records (:mod:`codecomp.eval.records`), from which the report gives per-project rows, the macro
average over projects, and paired file-bootstrap intervals for the engine against every other system.

Reading a corpus needs the ``datasets`` package (the ``train`` extra); nothing here imports torch.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from tqdm import tqdm

from codecomp.corpus import reader
from codecomp.eval import metrics as M
from codecomp.eval.baselines import train_baselines
from codecomp.eval.documents import IDENTIFIER, FileDoc, Query, token_class
from codecomp.eval.naming_eval import eval_naming
from codecomp.eval.records import BOOTSTRAP_LEVEL, BOOTSTRAP_RESAMPLES, TaskRecords
from codecomp.eval.sampling import RULE, Sample, rng_for, stratified_files, stratified_sample

ALL_TASKS = ("tokens", "identifiers", "lines", "line_starts", "keystrokes", "char", "naming", "latency", "learning")
TYPED_LENGTHS = (0, 1, 2, 3)


class EvalError(Exception):
    """The evaluation cannot run; the message says why in words a user can act on."""


@dataclass
class EvalOptions:
    """What to evaluate and how much of it."""

    split: str = "test"
    tasks: tuple[str, ...] = ALL_TASKS
    max_positions: int = 300
    seed: int = 0
    quick: bool = False
    keystroke_lines: int = 3
    ngram_max_tokens: int = 10_000_000
    max_train_files: int | None = None
    baseline_corpus: Path | None = None  # whose train split trains the baselines (None: the evaluated corpus)
    max_eval_files: int = 3000
    char_bytes: int = 20_000
    progress: bool = True

    def __post_init__(self) -> None:
        unknown = [t for t in self.tasks if t not in ALL_TASKS]
        if unknown:
            raise EvalError(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(ALL_TASKS)}")
        if self.max_positions <= 0:
            raise EvalError(f"--max-positions must be positive, got {self.max_positions}")
        if self.quick:
            self.max_positions = min(self.max_positions, 20)
            self.max_train_files = min(self.max_train_files or 400, 400)
            self.char_bytes = min(self.char_bytes, 2_000)


# ------------------------------------------------------------------------------------------------- corpus
_ROW_COLUMNS = ("text", "tokens", "kinds", "starts")
_OPTIONAL_COLUMNS = ("project", "path", "language", "sym_name", "sym_kind", "sym_occ")


def open_split(corpus: Path, split: str) -> Any:
    """One split of a corpus with the columns the harness reads (``codecomp.corpus.reader.open_split``; needs
    ``datasets``); any problem is an ``EvalError``."""
    try:
        return reader.open_split(corpus, split, _ROW_COLUMNS, _OPTIONAL_COLUMNS)
    except reader.CorpusError as exc:
        raise EvalError(str(exc)) from None


def split_file_indices(ds: Any, limit: int | None, seed: int) -> list[int]:
    """Row indices of the files to evaluate: all of them, or ``limit`` drawn with an equal number per project
    (see :func:`codecomp.eval.sampling.stratified_files`), so a large project cannot crowd out small ones."""
    if limit is None or len(ds) <= limit:
        return list(range(len(ds)))
    cols = ds.select_columns([c for c in ("project", "path") if c in ds.column_names])
    projects = cols["project"] if "project" in cols.column_names else [""] * len(ds)
    paths = cols["path"] if "path" in cols.column_names else [str(i) for i in range(len(ds))]
    return stratified_files(projects, paths, limit, seed)


def load_split(corpus: Path, split: str, limit: int | None = None, seed: int = 0) -> list[Any]:
    """Rows of one split (at most ``limit`` files, stratified by project and drawn with ``seed``)."""
    ds = open_split(corpus, split)
    idx = split_file_indices(ds, limit, seed)
    if len(idx) < len(ds):
        ds = ds.select(idx)
    return list(ds)


def docs_of(rows: Iterable[Any], progress: bool = False, desc: str = "files") -> list[FileDoc]:
    """FileDocs of corpus rows in (project, path) order (files without any token are skipped).

    The order is canonical so that what the systems are asked, and in which order, does not depend on the
    order the rows came in.
    """
    out = []
    for row in tqdm(list(rows), desc=desc, disable=not progress, leave=False):
        d = FileDoc.from_row(row)
        if d.tokens:
            out.append(d)
    return sorted(out, key=lambda d: (d.project, d.path))


@dataclass
class TrainData:
    """What the baselines learn from the train split: token streams, per language."""

    streams: dict[str, list[list[str]]] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    words: set[str] = field(default_factory=set)


def load_train_data(corpus: Path, max_tokens: int, max_files: int | None, seed: int,
                    progress: bool = True) -> TrainData:
    """Token streams (at most ``max_tokens`` per language, files in a seeded random order)."""
    ds = open_split(corpus, "train")
    langs = ds["language"] if "language" in ds.column_names else [""] * len(ds)
    order = list(range(len(ds)))
    random.Random(seed).shuffle(order)
    if max_files is not None:
        order = order[:max_files]
    data = TrainData()
    # files in a seeded random order; reading stops per language once its token budget is met
    chosen = order
    bar = tqdm(total=len(chosen), desc="train files", disable=not progress, leave=False)
    for lo in range(0, len(chosen), 256):
        chunk = chosen[lo:lo + 256]
        if all(data.tokens.get(langs[i], 0) >= max_tokens for i in chunk):
            bar.update(len(chunk))
            continue
        for row in ds.select(chunk):
            bar.update(1)
            lang = row.get("language", "")
            if data.tokens.get(lang, 0) >= max_tokens:
                continue
            doc = FileDoc.from_row(row)
            if not doc.tokens:
                continue
            stream = doc.stream[0]
            data.streams.setdefault(lang, []).append(stream)
            data.tokens[lang] = data.tokens.get(lang, 0) + len(stream)
            data.files[lang] = data.files.get(lang, 0) + 1
            data.words.update(doc.tokens)
    bar.close()
    return data


# ------------------------------------------------------------------------------------------- positions
# Every sampler below draws by the rule of codecomp.eval.sampling: an equal share of positions per project
# (water-filled when a project runs short), at most max(5, share // 4) per file, deterministic for a seed.
def _eligible(docs: Sequence[FileDoc], keep: Callable[[FileDoc, int], bool]) -> list[tuple[str, str, list[int]]]:
    """``(project, path, eligible token indices)`` of every document, for :func:`stratified_sample`."""
    return [(doc.project, doc.path, [i for i in range(len(doc.tokens)) if keep(doc, i)]) for doc in docs]


def sample_identifier_positions(docs: Sequence[FileDoc], n: int, seed: int, stream: str = "identifiers") -> Sample:
    """``n`` identifier occurrences (doc, token), stratified by project and capped per file."""
    return stratified_sample(_eligible(docs, lambda doc, i: doc.kinds[i] == IDENTIFIER), n, seed, stream)


def sample_line_positions(docs: Sequence[FileDoc], n: int, seed: int) -> Sample:
    """Token positions inside a line (not its first token), stratified by project and capped per file."""
    return stratified_sample(_eligible(docs, lambda doc, i: i > 0 and doc.lines[i] == doc.lines[i - 1]),
                             n, seed, "lines")


def sample_line_start_positions(docs: Sequence[FileDoc], n: int, seed: int) -> Sample:
    """First tokens of code lines, stratified by project and capped per file."""
    return stratified_sample(_eligible(docs, lambda doc, i: i == 0 or doc.lines[i] != doc.lines[i - 1]),
                             n, seed, "line_starts")


def sample_token_positions(docs: Sequence[FileDoc], n: int, seed: int) -> Sample:
    """Token positions for next-token accuracy, stratified by project and capped per file."""
    return stratified_sample(_eligible(docs, lambda doc, i: True), n, seed, "tokens")


def sample_keystroke_windows(docs: Sequence[FileDoc], n_windows: int, lines: int, seed: int
                             ) -> tuple[list[tuple[int, int, int]], Sample]:
    """(doc, first token, end token) windows covering ``lines`` consecutive code lines, and the draw.

    Window starts are line starts, stratified by project; a file gives at most ``max(1, share // 4)`` windows
    (a minimum cap of 1 rather than 5, since a task has few windows and one file should not give many).
    """
    sample = stratified_sample(_eligible(docs, lambda doc, i: i == 0 or doc.lines[i] != doc.lines[i - 1]),
                               n_windows, seed, "keystrokes", min_cap=1)
    out = []
    for d, i in sample.picks:
        doc = docs[d]
        j, seen = i, 0
        while j < len(doc.tokens):
            if j > i and doc.lines[j] != doc.lines[j - 1]:
                seen += 1
                if seen >= lines:
                    break
            j += 1
        out.append((d, i, j))
    return out, sample


# ------------------------------------------------------------------------------------------- the tasks
def _bar(items: Sequence[Any], desc: str, progress: bool) -> Iterable[Any]:
    return tqdm(items, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)


def _set_task(system: Any, task: str) -> None:
    if hasattr(system, "task"):
        system.task = task


def _switch_file(system: Any, docs: Sequence[FileDoc], d: int, current: list[int]) -> None:
    if current[0] != d:
        system.start_file(docs[d])
        current[0] = d


RANK_SCALES = {"top1": 100.0, "top5": 100.0, "mrr10": 1.0}


def _task_output(records: TaskRecords, sample: Sample, primary: str | None, seed: int,
                 systems: Sequence[Any] = ()) -> dict[str, Any]:
    """The per-project rows, macro averages, comparisons, records and the draw of a task, for report.json.

    A system with a ``compare_with`` attribute (e.g. a learned ranker beside the hand-set mix it replaces) is
    also compared with the system of that name."""
    pairs = [(s.name, s.compare_with) for s in systems if getattr(s, "compare_with", None)]
    return records.task_output(sample, primary, seed, pairs)


def _primary(systems: Sequence[Any], primary: str | None) -> str | None:
    """The system the others are compared with: the one named, else the first (the engine)."""
    return primary if primary is not None else (systems[0].name if systems else None)


def eval_identifiers(systems: Sequence[Any], docs: Sequence[FileDoc], sample: Sample,
                     in_vocab: Callable[[str], bool], progress: bool = True, primary: str | None = None,
                     seed: int = 0) -> dict[str, Any]:
    """Identifier completion for every system at the same positions and typed lengths."""
    positions = sample.picks
    out: dict[str, Any] = {"positions": len(positions), "systems": {}}
    records = TaskRecords.of_docs(docs, positions)
    for typed_len in TYPED_LENGTHS:
        # a target no longer than what is typed is not asked: nothing would be left to complete
        asked = [1 if typed_len == 0 or len(docs[d].tokens[i]) > typed_len else 0 for d, i in positions]
        records.add_group(f"t{typed_len}", asked, RANK_SCALES)
    for sysm in systems:
        if "identifiers" not in sysm.tasks:
            continue
        _set_task(sysm, "identifiers")
        cases: dict[tuple[int, str, str], list[tuple[list[str], str]]] = {}
        ranks: dict[int, list[int | None]] = {t: [] for t in TYPED_LENGTHS}
        current = [-1]
        for d, i in _bar(positions, f"identifiers: {sysm.name}", progress):
            _switch_file(sysm, docs, d, current)
            doc = docs[d]
            target = doc.tokens[i]
            voc = "in_vocab" if in_vocab(target) else "out_vocab"
            for typed_len in TYPED_LENGTHS:
                if typed_len and len(target) <= typed_len:
                    ranks[typed_len].append(None)
                    continue  # the whole word typed: nothing left to complete
                q = Query(doc, i, target[:typed_len], "blank")
                suggestions = sysm.rank(q, 10)
                ranks[typed_len].append(M.rank_of(suggestions, target))
                for lang in ("all", doc.lang):
                    for split in ("all", voc):
                        cases.setdefault((typed_len, lang, split), []).append((suggestions, target))
        res: dict[str, Any] = {}
        for (typed_len, lang, split), cs in sorted(cases.items()):
            res.setdefault(lang, {}).setdefault(split, {})[f"t{typed_len}"] = M.ranking_scores(cs).as_dict()
        out["systems"][sysm.name] = res
        for typed_len, rs in ranks.items():
            group = f"t{typed_len}"
            records.set(sysm.name, group, "top1", [r is not None and r <= 1 for r in rs])
            records.set(sysm.name, group, "top5", [r is not None and r <= 5 for r in rs])
            records.set(sysm.name, group, "mrr10", [1.0 / r if r is not None and r <= 10 else 0.0 for r in rs])
    out.update(_task_output(records, sample, _primary(systems, primary), seed, systems))
    return out


def eval_tokens(systems: Sequence[Any], docs: Sequence[FileDoc], sample: Sample, progress: bool = True,
                primary: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Next-token accuracy at sampled token positions (left context only; literals compared as classes)."""
    positions = sample.picks
    out: dict[str, Any] = {"positions": len(positions), "systems": {}}
    records = TaskRecords.of_docs(docs, positions)
    targets_all = [token_class(docs[d].tokens[i]) for d, i in positions]
    records.add_group("token", [t not in M.SENTINELS for t in targets_all], {"accuracy": 100.0})
    for sysm in systems:
        if "tokens" not in sysm.tasks:
            continue
        _set_task(sysm, "tokens")
        preds: dict[str, list[str | None]] = {"all": []}
        targets: dict[str, list[str]] = {"all": []}
        hits: list[bool] = []
        current = [-1]
        for (d, i), target in zip(_bar(positions, f"tokens: {sysm.name}", progress), targets_all):
            _switch_file(sysm, docs, d, current)
            doc = docs[d]
            p = sysm.next_token(Query(doc, i, "", "left"))
            pred = None if p is None else token_class(p)
            hits.append(pred is not None and pred == target)
            for key in ("all", doc.lang):
                preds.setdefault(key, []).append(pred)
                targets.setdefault(key, []).append(target)
        res = {}
        for key in preds:
            acc, n = M.token_accuracy(preds[key], targets[key])
            res[key] = {"n": n, "accuracy": acc}
        out["systems"][sysm.name] = res
        records.set(sysm.name, "token", "accuracy", hits)
    out.update(_task_output(records, sample, _primary(systems, primary), seed))
    return out


LINE_FIELDS = {"exact_match": 100.0, "edit_sim": 1.0, "offered_exact": 100.0, "coverage": 100.0}


def line_answer(sysm: Any, q: Query) -> tuple[str, bool]:
    """(the system's rest of the line, whether it is offered as an inline fragment).

    A system with ``line_prediction`` (the engine) says itself what it would offer; for the others every
    non-empty answer counts as offered."""
    if hasattr(sysm, "line_prediction"):
        return sysm.line_prediction(q)
    pred = sysm.rest_of_line(q)
    return pred, bool(pred.strip())


def _line_groups(records: TaskRecords, groups: Sequence[tuple[str, Sequence[int], Sequence[int]]]) -> None:
    for group, asked, chars in groups:
        records.add_group(group, asked, LINE_FIELDS)
        records.add_group(f"{group}_keys", chars, {"saved_percent": 100.0})


def _score_lines(systems: Sequence[Any], docs: Sequence[FileDoc], positions: Sequence[tuple[int, int]],
                 queries: dict[str, list[Query | None]], records: TaskRecords, out: dict[str, Any], task: str,
                 progress: bool) -> None:
    """Ask every line system the queries of each group and record exact match, edit similarity, coverage,
    offered exact match and keystrokes saved (see the module docstring)."""
    for sysm in systems:
        if "lines" not in sysm.tasks:
            continue
        _set_task(sysm, task)
        res: dict[str, Any] = {}
        for group, qs in queries.items():
            cases: dict[str, list[tuple[str, str]]] = {"all": []}
            # offered, exact among offered, positions, keystrokes saved, characters to type
            offered_n: dict[str, list[int]] = {"all": [0, 0, 0, 0, 0]}
            vals: dict[str, list[float]] = {f: [] for f in LINE_FIELDS}
            saved: list[float] = []
            examples = []
            current = [-1]
            for (d, i), q in zip(_bar(positions, f"{task} {group}: {sysm.name}", progress), qs):
                if q is None:
                    for f in vals:
                        vals[f].append(0.0)
                    saved.append(0.0)
                    continue
                _switch_file(sysm, docs, d, current)
                doc = docs[d]
                pred, offered = line_answer(sysm, q)
                target = q.line_target()
                hit = M.exact_match(pred, target)
                vals["exact_match"].append(hit)
                vals["edit_sim"].append(M.edit_similarity(pred, target))
                vals["offered_exact"].append(hit and offered)
                vals["coverage"].append(offered)
                chars = len(M.normalise_code(target))
                saved.append(max(chars - 1, 0) if hit and offered else 0)
                for key in ("all", doc.lang):
                    cases.setdefault(key, []).append((pred, target))
                    acc = offered_n.setdefault(key, [0, 0, 0, 0, 0])
                    acc[0] += offered
                    acc[1] += hit and offered
                    acc[2] += 1
                    acc[3] += saved[-1]
                    acc[4] += chars
                if len(examples) < 5:
                    examples.append({"file": f"{doc.project}/{doc.path}", "target": target, "prediction": pred,
                                     "offered": offered})
            scores = {key: M.line_scores(cs) for key, cs in cases.items()}
            for key, (n_off, n_hit, n, n_saved, n_chars) in offered_n.items():
                if key in scores:
                    scores[key].update({"coverage": 100.0 * n_off / n if n else 0.0,
                                        "precision": 100.0 * n_hit / n_off if n_off else None,
                                        "offered_exact": 100.0 * n_hit / n if n else 0.0,
                                        "saved_percent": M.keystrokes_saved(n_saved, n_chars)})
            scores["examples"] = examples
            res[group] = scores
            for f, v in vals.items():
                records.set(sysm.name, group, f, v)
            records.set(sysm.name, f"{group}_keys", "saved_percent", saved)
        out["systems"][sysm.name] = res


def eval_lines(systems: Sequence[Any], docs: Sequence[FileDoc], sample: Sample, progress: bool = True,
               primary: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Rest-of-line prediction inside lines (left context only): exact match, edit similarity, what is offered
    as an inline fragment, and a few examples for the report (group ``line``)."""
    positions = sample.picks
    out: dict[str, Any] = {"positions": len(positions), "systems": {}}
    records = TaskRecords.of_docs(docs, positions)
    queries = [Query(docs[d], i, "", "left") for d, i in positions]
    chars = [len(M.normalise_code(q.line_target())) for q in queries]
    _line_groups(records, [("line", [1] * len(positions), chars)])
    _score_lines(systems, docs, positions, {"line": queries}, records, out, "lines", progress)
    out["systems"] = {name: res["line"] for name, res in out["systems"].items()}
    out.update(_task_output(records, sample, _primary(systems, primary), seed, systems))
    return out


def eval_line_starts(systems: Sequence[Any], docs: Sequence[FileDoc], sample: Sample, progress: bool = True,
                     primary: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Rest-of-line prediction at the start of a line's code, the rest of the line removed (the lines after it
    stay): with nothing typed (group ``t0``) and with the line's first token typed (``t1``, asked where more
    follows on the line)."""
    positions = sample.picks
    out: dict[str, Any] = {"positions": len(positions), "systems": {}}
    records = TaskRecords.of_docs(docs, positions)
    t0 = [Query(docs[d], i, "", "line") for d, i in positions]
    t1: list[Query | None] = []
    for d, i in positions:
        doc = docs[d]
        more = i + 1 < len(doc.tokens) and doc.lines[i + 1] == doc.lines[i]
        t1.append(Query(doc, i, doc.tokens[i], "line") if more else None)
    groups = []
    for name, qs in (("t0", t0), ("t1", t1)):
        groups.append((name, [1 if q is not None else 0 for q in qs],
                       [len(M.normalise_code(q.line_target())) if q is not None else 0 for q in qs]))
    _line_groups(records, groups)
    _score_lines(systems, docs, positions, {"t0": t0, "t1": t1}, records, out, "line_starts", progress)
    out.update(_task_output(records, sample, _primary(systems, primary), seed, systems))
    return out


def _suggestions(sysm: Any, q: Query) -> tuple[str | None, str | None]:
    """(top label, fragment as a replacement of the typed prefix) of a system at a query."""
    if hasattr(sysm, "suggestions"):
        return sysm.suggestions(q)
    ranked = sysm.rank(q, 1)
    top = ranked[0] if ranked else None
    frag = None
    if "lines" in sysm.tasks:
        rest = sysm.rest_of_line(q)
        frag = q.typed + rest if rest else None
    return top, frag


def layout_mask(text: str) -> list[bool]:
    """For every character of ``text``: False for each line's leading indentation (editors insert it)."""
    mask = []
    line_start = True
    for ch in text:
        if ch == "\n":
            mask.append(True)
            line_start = True
        elif line_start and ch in " \t":
            mask.append(False)
        else:
            line_start = False
            mask.append(True)
    return mask


def typed_mask(doc: FileDoc, first: int, end: int) -> list[bool]:
    """For every character of the window of tokens ``first..end-1``: whether it counts as a character to type.

    Leading indentation does not (:func:`layout_mask`), nor do comments between the tokens (all their
    characters but newlines): no system is asked to complete a comment, and a window that crosses a long
    doc comment would otherwise measure the comment's length rather than the code's.
    """
    start_c = doc.start_chars[first]
    text = doc.text[start_c:doc.end_char(end - 1)]
    mask = layout_mask(text)
    for i in range(first, end - 1):
        a, b = doc.end_char(i) - start_c, doc.start_chars[i + 1] - start_c
        if text[a:b].strip():  # something that is not a code token between two tokens: a comment
            for k in range(a, b):
                mask[k] = mask[k] and text[k] == "\n"
    return mask


def simulate_typing(sysm: Any, doc: FileDoc, first: int, end: int) -> tuple[int, int, int]:
    """Type tokens ``first..end-1`` of ``doc`` as a user accepting only correct suggestions.

    Returns (keystrokes saved, characters to type, system calls).  Characters to type are the window's text
    minus each line's leading indentation and minus comments (see :func:`typed_mask`); a suggestion
    is asked at every character typed inside or at the start of a token, and accepted when what it inserts
    covers at least two characters the user would have typed.  Accepting costs one key, so the keystrokes
    saved by an acceptance are the typed characters it covers minus one; indentation it inserts saves nothing,
    which keeps the saved keystrokes within the characters to type.
    """
    start_c = doc.start_chars[first]
    end_c = doc.end_char(end - 1)
    text = doc.text
    mask = typed_mask(doc, first, end)
    total = sum(mask)
    saved = calls = 0
    p = start_c
    i = first
    while p < end_c:
        while i < end and doc.end_char(i) <= p:
            i += 1
        if i < end and doc.start_chars[i] <= p < doc.end_char(i):
            q = Query(doc, i, text[doc.start_chars[i]:p], "left")
            top, frag = _suggestions(sysm, q)
            calls += 1
            following = text[p:end_c]
            best = ""
            for s in (top, frag):
                if s:
                    ins = M.accepted_insertion(s, q.typed, following)
                    if len(ins) > len(best):
                        best = ins
            covered = sum(mask[p - start_c:p - start_c + len(best)])
            if covered >= 2:
                saved += covered - 1
                p += len(best)
                continue
        p += 1
    return saved, total, calls


def eval_keystrokes(systems: Sequence[Any], docs: Sequence[FileDoc], windows: Sequence[tuple[int, int, int]],
                    sample: Sample, progress: bool = True, primary: str | None = None, seed: int = 0
                    ) -> dict[str, Any]:
    """Keystrokes saved on the same windows for every system (per window: saved over characters to type)."""
    out: dict[str, Any] = {"windows": len(windows), "systems": {}}
    records = TaskRecords.of_docs(docs, [(d, s) for d, s, _ in windows])
    typed = [sum(typed_mask(docs[d], s, e)) for d, s, e in windows]
    records.add_group("keys", typed, {"saved_percent": 100.0})
    for sysm in systems:
        if "keystrokes" not in sysm.tasks:
            continue
        _set_task(sysm, "keystrokes")
        tot: dict[str, list[int]] = {"all": [0, 0, 0]}
        saved_per_window: list[int] = []
        current = [-1]
        for d, s, e in _bar(windows, f"keystrokes: {sysm.name}", progress):
            _switch_file(sysm, docs, d, current)
            saved, total, calls = simulate_typing(sysm, docs[d], s, e)
            saved_per_window.append(saved)
            for key in ("all", docs[d].lang):
                acc = tot.setdefault(key, [0, 0, 0])
                acc[0] += saved
                acc[1] += total
                acc[2] += calls
        out["systems"][sysm.name] = {k: {"saved": v[0], "typed": v[1], "calls": v[2],
                                         "saved_percent": M.keystrokes_saved(v[0], v[1])} for k, v in tot.items()}
        records.set(sysm.name, "keys", "saved_percent", saved_per_window)
    out.update(_task_output(records, sample, _primary(systems, primary), seed))
    return out


def eval_typing_latency(eng: Any, docs: Sequence[FileDoc], positions: Sequence[tuple[int, int]],
                        progress: bool = True) -> None:
    """Time the engine while a user types identifiers character by character (the file stays open and only
    changes by one character between calls, as in an editor); recorded under the task name ``typing``."""
    _set_task(eng, "typing")
    current = [-1]
    for d, i in _bar(positions, "latency: typing", progress):
        _switch_file(eng, docs, d, current)
        target = docs[d].tokens[i]
        for typed_len in range(len(target) + 1):
            eng.complete(Query(docs[d], i, target[:typed_len], "blank"))


def interleaved_files(docs: Sequence[FileDoc], seed: int) -> list[int]:
    """Document indices taking one file of each project in turn (each project's files in a seeded order),
    so that reading files until a budget is met spreads the budget equally over the projects."""
    by_project: dict[str, list[int]] = {}
    for d, doc in enumerate(docs):
        by_project.setdefault(doc.project, []).append(d)
    queues = [[ds[j] for j in rng_for(seed, "char", p).permutation(len(ds)).tolist()]
              for p, ds in sorted(by_project.items())]
    longest = max((len(q) for q in queues), default=0)
    return [q[r] for r in range(longest) for q in queues if r < len(q)]


def eval_char(artifact_path: Path | None, docs: Sequence[FileDoc], max_bytes: int, seed: int,
              chunk: int = 256) -> dict[str, Any]:
    """Bits per character of the artifact's char model over chunks of held-out files (batched lockstep)."""
    from codecomp.artifact import ArtifactError, default_path, load as load_artifact

    try:
        art = load_artifact(artifact_path if artifact_path is not None else default_path())
    except ArtifactError as exc:
        return {"skipped": f"no usable artifact: {exc}"}
    if not art.has("char"):
        return {"skipped": "the artifact has no char model (train one with `codecomp train char` and export it)"}
    from codecomp.engine.models import CharModel

    chunks = char_chunks(docs, max_bytes, seed, chunk)
    if not chunks:
        return {"skipped": "no held-out text"}
    nats = char_model_nats(CharModel(art), chunks)
    n_chars = sum(len(ch.decode("utf-8")) for ch in chunks)
    n_bytes = sum(len(ch) for ch in chunks)
    return {"chunks": len(chunks), "characters": n_chars, "bytes": n_bytes,
            "bits_per_char": float(nats.sum() / math.log(2) / n_chars),
            "bits_per_byte": float(nats.sum() / math.log(2) / n_bytes)}


def char_chunks(docs: Sequence[FileDoc], max_bytes: int, seed: int, chunk: int = 256) -> list[bytes]:
    """Chunks of at most ``chunk`` bytes of held-out files, one per file taken a project at a time
    (:func:`interleaved_files`), until ``max_bytes`` characters are read; each starts on a character boundary."""
    rng = random.Random(seed + 4)
    chunks: list[bytes] = []
    chars = 0
    for d in interleaved_files(docs, seed):
        if chars >= max_bytes:
            break
        data = docs[d].text.encode("utf-8")
        if not data:
            continue
        off = rng.randrange(0, max(1, len(data) - chunk))
        piece = data[off:off + chunk]
        # start on a character boundary so every counted character is whole
        while piece and (piece[0] & 0xC0) == 0x80:
            piece = piece[1:]
        piece = piece.decode("utf-8", "ignore").encode("utf-8")
        if piece:
            chunks.append(piece)
            chars += len(piece.decode("utf-8"))
    return chunks


def char_model_nats(model: Any, chunks: Sequence[bytes], bos: int = 257) -> np.ndarray:
    """Negative log-likelihood (nats) of every chunk under a byte model, all chunks stepped in lockstep.

    ``model`` has ``zero_state(batch)`` and ``step(prev bytes, h, c) -> (logits [B, V], h, c)``; every chunk
    starts after ``bos``; a chunk that has ended adds nothing (and is fed ``bos`` to keep the batch shape).
    """
    from codecomp.engine.models import softmax

    B = len(chunks)
    L = max(len(c) for c in chunks)
    h, c = model.zero_state(B)
    nats = np.zeros(B)
    prev = np.full(B, bos, dtype=np.int64)
    for t in range(L):
        logits, h, c = model.step(prev, h, c)
        p = softmax(logits)
        nxt = np.array([ch[t] if t < len(ch) else 0 for ch in chunks], dtype=np.int64)
        live = np.array([t < len(ch) for ch in chunks])
        nats += np.where(live, -np.log(np.maximum(p[np.arange(B), nxt], 1e-12)), 0.0)
        prev = np.where(live, nxt, bos)
    return nats


# ----------------------------------------------------------------------------------------------- runner
@dataclass
class EvalResult:
    """Everything the report is written from.

    ``meta`` and ``tasks`` depend only on the corpus, the model, the options and the seed (two runs give the
    same values), except ``tasks["latency"]``; wall-clock figures are kept apart in ``seconds`` and
    ``latencies_ms``, so that two reports can be compared with those keys left out.
    """

    meta: dict[str, Any]
    tasks: dict[str, Any] = field(default_factory=dict)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    seconds: dict[str, Any] = field(default_factory=dict)


class PerLanguage:
    """Routes queries to one system per language (baselines are trained per language)."""

    def __init__(self, name: str, by_lang: dict[str, Any]) -> None:
        self.name = name
        self.by_lang = by_lang
        first = next(iter(by_lang.values()))
        self.tasks = first.tasks

    def _pick(self, doc: FileDoc) -> Any:
        s = self.by_lang.get(doc.lang)
        return s if s is not None else next(iter(self.by_lang.values()))

    def start_file(self, doc: FileDoc) -> None:
        """Forwarded to the system of the file's language."""
        self._pick(doc).start_file(doc)

    def rank(self, q: Query, k: int = 10) -> list[str]:
        """Forwarded to the system of the file's language."""
        return self._pick(q.doc).rank(q, k)

    def rest_of_line(self, q: Query) -> str:
        """Forwarded to the system of the file's language."""
        return self._pick(q.doc).rest_of_line(q)

    def next_token(self, q: Query) -> str | None:
        """Forwarded to the system of the file's language."""
        return self._pick(q.doc).next_token(q)


def build_baselines(train: TrainData, progress: bool = True) -> tuple[list[PerLanguage], dict[str, Any]]:
    """Train the baselines per language on the train split's token streams."""
    systems: dict[str, dict[str, Any]] = {}
    info: dict[str, Any] = {}
    for lang, streams in sorted(train.streams.items()):
        t0 = time.perf_counter()
        for s in train_baselines(streams, progress=progress):
            systems.setdefault(s.name, {})[lang] = s
        info[lang] = {"files": train.files.get(lang, 0), "tokens": train.tokens.get(lang, 0),
                      "seconds": round(time.perf_counter() - t0, 2)}
    return [PerLanguage(name, m) for name, m in systems.items()], info


def run_evaluation(engine: Any, engine_name: str, corpus: Path, options: EvalOptions,
                   artifact_path: Path | None = None, engine_system: Any = None,
                   extra_systems: Callable[[Sequence[FileDoc]], Sequence[Any]] | None = None) -> EvalResult:
    """Evaluate ``engine`` and the baselines on the held-out split of ``corpus``.

    ``engine_system``: the harness adapter of ``engine`` to use (default: an ``EngineSystem``);
    ``extra_systems``: more systems, made from the evaluated files, scored beside it (the project-context
    engine, ``codecomp.eval.project_context``)."""
    from codecomp.eval.engine_system import EngineSystem, ModelTokenSystem

    t_start = time.perf_counter()
    split_ds = open_split(corpus, options.split)
    rows_kept = split_file_indices(split_ds, options.max_eval_files, options.seed)
    rows = list(split_ds.select(rows_kept)) if len(rows_kept) < len(split_ds) else list(split_ds)
    docs = docs_of(rows, options.progress, f"{options.split} files")
    if not docs:
        raise EvalError(f"the {options.split!r} split of {corpus} has no file with code tokens")
    train_corpus = options.baseline_corpus or corpus
    train = load_train_data(train_corpus, options.ngram_max_tokens, options.max_train_files, options.seed,
                            options.progress)
    if not train.streams:
        raise EvalError(f"the train split of {train_corpus} has no file with code tokens; the baselines need one "
                        "(a corpus of held-out projects only: give --baselines-from CORPUS)")
    baselines, baseline_info = build_baselines(train, options.progress)
    eng = engine_system if engine_system is not None else EngineSystem(engine, engine_name)
    systems: list[Any] = [eng, *(extra_systems(docs) if extra_systems is not None else ()), *baselines]

    model_vocab = getattr(getattr(engine, "model", None), "index", None)
    if model_vocab:
        in_vocab = lambda w: w in model_vocab  # noqa: E731
        vocab_source = "the model's token vocabulary"
    else:
        in_vocab = lambda w: w in train.words  # noqa: E731
        vocab_source = "the tokens of the train split (the engine has no token vocabulary)"

    n, seed, p = options.max_positions, options.seed, options.progress
    files_per_project: dict[str, int] = {}
    for d in docs:
        files_per_project[d.project] = files_per_project.get(d.project, 0) + 1
    meta = {
        "corpus": str(corpus), "split": options.split, "seed": seed, "max_positions": n,
        "quick": options.quick, "tasks": list(options.tasks), "engine": engine_name,
        "engine_kind": getattr(engine, "name", type(engine).__name__),
        "engine_problem": getattr(engine, "problem", None),
        "model": str(artifact_path) if artifact_path else "default",
        "files": len(docs), "split_files": len(split_ds), "languages": sorted({d.lang for d in docs}),
        "projects": sorted(files_per_project), "files_per_project": dict(sorted(files_per_project.items())),
        "sampling_rule": RULE,
        "bootstrap": {"resamples": BOOTSTRAP_RESAMPLES, "level": BOOTSTRAP_LEVEL, "seed": seed,
                      "unit": "file"},
        "baselines": {k: {"files": v["files"], "tokens": v["tokens"]} for k, v in baseline_info.items()},
        "vocabulary_split": vocab_source,
    }
    result = EvalResult(meta)
    result.seconds["train_baselines"] = {k: v["seconds"] for k, v in baseline_info.items()}
    if "identifiers" in options.tasks:
        result.tasks["identifiers"] = eval_identifiers(
            systems, docs, sample_identifier_positions(docs, n, seed), in_vocab, p, engine_name, seed)
    if "tokens" in options.tasks:
        token_systems = list(systems)
        if getattr(engine, "model", None) is not None and hasattr(engine.model, "distribution"):
            token_systems.insert(1, ModelTokenSystem(engine.model))
        result.tasks["tokens"] = eval_tokens(token_systems, docs, sample_token_positions(docs, n, seed), p,
                                             engine_name, seed)
    if "lines" in options.tasks:
        result.tasks["lines"] = eval_lines(systems, docs, sample_line_positions(docs, n, seed), p, engine_name, seed)
    if "line_starts" in options.tasks:
        result.tasks["line_starts"] = eval_line_starts(systems, docs, sample_line_start_positions(docs, n, seed), p,
                                                       engine_name, seed)
    if "keystrokes" in options.tasks:
        windows, drawn = sample_keystroke_windows(docs, max(2, n // 15), options.keystroke_lines, seed)
        result.tasks["keystrokes"] = eval_keystrokes(systems, docs, windows, drawn, p, engine_name, seed)
    if "char" in options.tasks:
        # The char model of what the engine serves: none for an engine without an artifact (the fallback).
        served = artifact_path if artifact_path is not None else getattr(getattr(engine, "artifact", None), "path", None)
        result.tasks["char"] = (eval_char(served, docs, options.char_bytes, seed) if served is not None
                                else {"skipped": "the engine has no model artifact, so there is no char model to read"})
    if "naming" in options.tasks:
        result.tasks["naming"] = eval_naming(eng, corpus, options.split, n, seed, p, rows=rows_kept,
                                             train_corpus=options.baseline_corpus)
    if "latency" in options.tasks:
        typing = sample_identifier_positions(docs, max(1, n // 10), seed, stream="typing")
        eval_typing_latency(eng, docs, typing.picks, p)
    if "learning" in options.tasks:
        from codecomp.eval.learning_eval import LearningOptions, eval_learning

        learn_opts = LearningOptions.quick(seed) if options.quick else LearningOptions(seed=seed)
        result.tasks["learning"], result.seconds["learning_updates"] = eval_learning(engine, docs, learn_opts, p)
    result.latencies_ms = {k: list(v) for k, v in eng.latencies_ms.items()}
    if "latency" in options.tasks:
        every = [x for v in eng.latencies_ms.values() for x in v]
        lat = {"all": M.latency_summary(every)}
        lat.update({k: M.latency_summary(v) for k, v in eng.latencies_ms.items()})
        result.tasks["latency"] = lat
    if eng.errors:
        meta["engine_errors"] = dict(sorted(eng.errors.items(), key=lambda kv: (-kv[1], kv[0]))[:10])
    result.seconds["total"] = round(time.perf_counter() - t_start, 1)
    return result
