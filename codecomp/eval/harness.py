"""The evaluation harness: sample positions from a held-out split and score every system on the same ones.

Tasks (names used by ``--tasks`` and in report.json):

* ``identifiers``: identifier completion with 0..3 characters typed; the document is the whole file with the
  one occurrence blanked (text after the cursor stays); top-1, top-5, MRR@10, split in / out of vocabulary;
* ``tokens``: next-token top-1 accuracy over consecutive tokens of sampled files (left context only);
* ``lines``: rest-of-line prediction at sampled token positions (left context only);
* ``keystrokes``: a simulated user types sampled windows of lines, accepting the top suggestion or the
  inline fragment whenever it is exactly what comes next;
* ``char``: bits per character of the artifact's char model on held-out text;
* ``naming``: name suggestions for declared symbols, with the most-frequent-name baseline;
* ``latency``: percentiles of the engine's ``complete`` calls made by the other tasks.

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

from codecomp.eval import metrics as M
from codecomp.eval.baselines import train_baselines
from codecomp.eval.documents import IDENTIFIER, FileDoc, Query, token_class

ALL_TASKS = ("tokens", "identifiers", "lines", "keystrokes", "char", "naming", "latency")
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
_ROW_COLUMNS = ("project", "path", "language", "text", "tokens", "kinds", "starts", "sym_name", "sym_kind", "sym_occ")


def open_split(corpus: Path, split: str) -> Any:
    """One split of a corpus saved by ``codecomp corpus build``, as a ``datasets.Dataset`` (needs ``datasets``)."""
    try:
        from datasets import load_from_disk
    except ImportError as exc:
        raise EvalError("reading a corpus needs the `datasets` package; install the training extra: "
                        "pip install 'codecomp[train]'") from exc
    corpus = Path(corpus)
    if not corpus.exists():
        raise EvalError(f"the corpus folder {corpus} does not exist; build one with `codecomp corpus build`")
    try:
        dd = load_from_disk(str(corpus))
    except Exception as exc:  # datasets raises several types for a folder that is not a saved dataset
        raise EvalError(f"{corpus} is not a corpus saved by `codecomp corpus build` ({exc})") from exc
    if not hasattr(dd, "keys"):
        raise EvalError(f"{corpus} holds a single dataset, not the train/valid/test splits of a corpus")
    if split not in dd:
        raise EvalError(f"the corpus {corpus} has no split {split!r}; it has {', '.join(dd.keys())}")
    ds = dd[split]
    missing = {"text", "tokens", "kinds", "starts"} - set(ds.column_names)
    if missing:
        raise EvalError(f"split {split!r} of {corpus} lacks the column(s) {', '.join(sorted(missing))}; "
                        "rebuild the corpus with this version of codecomp")
    return ds.select_columns([c for c in _ROW_COLUMNS if c in ds.column_names])


def load_split(corpus: Path, split: str, limit: int | None = None, seed: int = 0) -> list[Any]:
    """Rows of one split (at most ``limit``, drawn with ``seed``)."""
    ds = open_split(corpus, split)
    idx = list(range(len(ds)))
    if limit is not None and len(idx) > limit:
        idx = sorted(random.Random(seed).sample(idx, limit))
        ds = ds.select(idx)
    return list(ds)


def docs_of(rows: Iterable[Any], progress: bool = False, desc: str = "files") -> list[FileDoc]:
    """FileDocs of corpus rows (files without any token are skipped)."""
    out = []
    for row in tqdm(list(rows), desc=desc, disable=not progress, leave=False):
        d = FileDoc.from_row(row)
        if d.tokens:
            out.append(d)
    return out


@dataclass
class TrainData:
    """What the baselines learn from the train split: token streams and declared names, per language."""

    streams: dict[str, list[list[str]]] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    words: set[str] = field(default_factory=set)
    # (lang, kind, token before the declaration, token after it) -> name -> count
    names: dict[tuple[str, str, str, str], dict[str, int]] = field(default_factory=dict)


def declaration_context(doc: FileDoc, kind: str, occurrences: Sequence[int]) -> tuple[str, str, str, str] | None:
    """The declaration context of a symbol: language, kind and the tokens around its first occurrence."""
    pos = doc.row_pos
    kept = sorted(pos[o] for o in occurrences if o in pos)
    if not kept:
        return None
    i = kept[0]
    before = doc.tokens[i - 1] if i > 0 else "<bos>"
    after = doc.tokens[i + 1] if i + 1 < len(doc.tokens) else "<eos>"
    return (doc.lang, kind, before, after)


NAMED_KINDS = ("variable", "parameter", "function")


def load_train_data(corpus: Path, max_tokens: int, max_files: int | None, seed: int,
                    progress: bool = True) -> TrainData:
    """Token streams (at most ``max_tokens`` per language, files in a seeded random order) and declared names."""
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
            for name, kind, occ in doc.symbols:
                if kind in NAMED_KINDS:
                    key = declaration_context(doc, kind, occ)
                    if key is not None:
                        d = data.names.setdefault(key, {})
                        d[name] = d.get(name, 0) + 1
    bar.close()
    return data


# ------------------------------------------------------------------------------------------- positions
def sample_identifier_positions(docs: Sequence[FileDoc], n: int, seed: int) -> list[tuple[int, int]]:
    """``n`` (doc, token) identifier occurrences drawn uniformly without replacement, in file order."""
    all_pos = [(d, i) for d, doc in enumerate(docs) for i, k in enumerate(doc.kinds) if k == IDENTIFIER]
    rng = random.Random(seed)
    chosen = all_pos if len(all_pos) <= n else rng.sample(all_pos, n)
    return sorted(chosen)


def sample_line_positions(docs: Sequence[FileDoc], n: int, seed: int) -> list[tuple[int, int]]:
    """Token positions inside a line (not its first token) with at least one code token from there on."""
    pos = []
    for d, doc in enumerate(docs):
        for i in range(1, len(doc.tokens)):
            if doc.lines[i] == doc.lines[i - 1]:
                pos.append((d, i))
    rng = random.Random(seed + 1)
    return sorted(pos if len(pos) <= n else rng.sample(pos, n))


def sample_token_runs(docs: Sequence[FileDoc], n: int, seed: int) -> list[tuple[int, int, int]]:
    """(doc, first, end) runs of consecutive tokens from the start of shuffled files, ``n`` tokens in all."""
    order = list(range(len(docs)))
    random.Random(seed + 2).shuffle(order)
    runs, left = [], n
    for d in order:
        if left <= 0:
            break
        take = min(left, len(docs[d].tokens))
        runs.append((d, 0, take))
        left -= take
    return sorted(runs)


def sample_keystroke_windows(docs: Sequence[FileDoc], n_windows: int, lines: int, seed: int
                             ) -> list[tuple[int, int, int]]:
    """(doc, first token, end token) windows covering ``lines`` consecutive code lines."""
    rng = random.Random(seed + 3)
    starts = [(d, i) for d, doc in enumerate(docs) for i in range(len(doc.tokens))
              if i == 0 or doc.lines[i] != doc.lines[i - 1]]
    chosen = starts if len(starts) <= n_windows else rng.sample(starts, n_windows)
    out = []
    for d, i in sorted(chosen):
        doc = docs[d]
        j, seen = i, 0
        while j < len(doc.tokens):
            if j > i and doc.lines[j] != doc.lines[j - 1]:
                seen += 1
                if seen >= lines:
                    break
            j += 1
        out.append((d, i, j))
    return out


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


def eval_identifiers(systems: Sequence[Any], docs: Sequence[FileDoc], positions: Sequence[tuple[int, int]],
                     in_vocab: Callable[[str], bool], progress: bool = True) -> dict[str, Any]:
    """Identifier completion for every system at the same positions and typed lengths."""
    out: dict[str, Any] = {"positions": len(positions), "systems": {}}
    for sysm in systems:
        if "identifiers" not in sysm.tasks:
            continue
        _set_task(sysm, "identifiers")
        cases: dict[tuple[int, str, str], list[tuple[list[str], str]]] = {}
        current = [-1]
        for d, i in _bar(positions, f"identifiers: {sysm.name}", progress):
            _switch_file(sysm, docs, d, current)
            doc = docs[d]
            target = doc.tokens[i]
            voc = "in_vocab" if in_vocab(target) else "out_vocab"
            for typed_len in TYPED_LENGTHS:
                if typed_len and len(target) <= typed_len:
                    continue  # the whole word typed: nothing left to complete
                q = Query(doc, i, target[:typed_len], "blank")
                suggestions = sysm.rank(q, 10)
                for lang in ("all", doc.lang):
                    for split in ("all", voc):
                        cases.setdefault((typed_len, lang, split), []).append((suggestions, target))
        res: dict[str, Any] = {}
        for (typed_len, lang, split), cs in sorted(cases.items()):
            res.setdefault(lang, {}).setdefault(split, {})[f"t{typed_len}"] = M.ranking_scores(cs).as_dict()
        out["systems"][sysm.name] = res
    return out


def eval_tokens(systems: Sequence[Any], docs: Sequence[FileDoc], runs: Sequence[tuple[int, int, int]],
                progress: bool = True) -> dict[str, Any]:
    """Next-token accuracy over runs of consecutive tokens (literals compared as classes)."""
    n_tokens = sum(e - s for _, s, e in runs)
    out: dict[str, Any] = {"positions": n_tokens, "systems": {}}
    for sysm in systems:
        if "tokens" not in sysm.tasks:
            continue
        _set_task(sysm, "tokens")
        preds: dict[str, list[str | None]] = {"all": []}
        targets: dict[str, list[str]] = {"all": []}
        current = [-1]
        flat = [(d, i) for d, s, e in runs for i in range(s, e)]
        for d, i in _bar(flat, f"tokens: {sysm.name}", progress):
            _switch_file(sysm, docs, d, current)
            doc = docs[d]
            p = sysm.next_token(Query(doc, i, "", "left"))
            for key in ("all", doc.lang):
                preds.setdefault(key, []).append(None if p is None else token_class(p))
                targets.setdefault(key, []).append(token_class(doc.tokens[i]))
        res = {}
        for key in preds:
            acc, n = M.token_accuracy(preds[key], targets[key])
            res[key] = {"n": n, "accuracy": acc}
        out["systems"][sysm.name] = res
    return out


def eval_lines(systems: Sequence[Any], docs: Sequence[FileDoc], positions: Sequence[tuple[int, int]],
               progress: bool = True) -> dict[str, Any]:
    """Rest-of-line prediction: exact match and edit similarity, plus a few examples for the report."""
    out: dict[str, Any] = {"positions": len(positions), "systems": {}}
    for sysm in systems:
        if "lines" not in sysm.tasks:
            continue
        _set_task(sysm, "lines")
        cases: dict[str, list[tuple[str, str]]] = {"all": []}
        examples = []
        current = [-1]
        for d, i in _bar(positions, f"lines: {sysm.name}", progress):
            _switch_file(sysm, docs, d, current)
            doc = docs[d]
            q = Query(doc, i, "", "left")
            pred, target = sysm.rest_of_line(q), q.line_target()
            for key in ("all", doc.lang):
                cases.setdefault(key, []).append((pred, target))
            if len(examples) < 5:
                examples.append({"file": f"{doc.project}/{doc.path}", "target": target, "prediction": pred})
        res = {key: M.line_scores(cs) for key, cs in cases.items()}
        res["examples"] = examples
        out["systems"][sysm.name] = res
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


def simulate_typing(sysm: Any, doc: FileDoc, first: int, end: int) -> tuple[int, int, int]:
    """Type tokens ``first..end-1`` of ``doc`` as a user accepting only correct suggestions.

    Returns (keystrokes saved, characters to type, system calls).  Characters counted are the window's
    text minus each line's leading indentation (editors indent for the user); accepting costs one key.
    A suggestion is asked at every character typed inside or at the start of a token.
    """
    start_c = doc.start_chars[first]
    end_c = doc.end_char(end - 1)
    text = doc.text
    total = 0
    p = start_c
    # characters the user has to type: everything but leading indentation
    line_start = True
    for ch in text[start_c:end_c]:
        if ch == "\n":
            total += 1
            line_start = True
        elif line_start and ch in " \t":
            continue
        else:
            line_start = False
            total += 1
    saved = calls = 0
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
            if len(best) >= 2:
                saved += len(best) - 1
                # the inserted text may cover indentation the user would not have typed
                p += len(best)
                continue
        p += 1
    return min(saved, total), total, calls


def eval_keystrokes(systems: Sequence[Any], docs: Sequence[FileDoc], windows: Sequence[tuple[int, int, int]],
                    progress: bool = True) -> dict[str, Any]:
    """Keystrokes saved on the same windows for every system."""
    out: dict[str, Any] = {"windows": len(windows), "systems": {}}
    for sysm in systems:
        if "keystrokes" not in sysm.tasks:
            continue
        _set_task(sysm, "keystrokes")
        tot: dict[str, list[int]] = {"all": [0, 0, 0]}
        current = [-1]
        for d, s, e in _bar(windows, f"keystrokes: {sysm.name}", progress):
            _switch_file(sysm, docs, d, current)
            saved, total, calls = simulate_typing(sysm, docs[d], s, e)
            for key in ("all", docs[d].lang):
                acc = tot.setdefault(key, [0, 0, 0])
                acc[0] += saved
                acc[1] += total
                acc[2] += calls
        out["systems"][sysm.name] = {k: {"saved": v[0], "typed": v[1], "calls": v[2],
                                         "saved_percent": M.keystrokes_saved(v[0], v[1])} for k, v in tot.items()}
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
    from codecomp.engine.models import CharModel, softmax

    model = CharModel(art)
    rng = random.Random(seed + 4)
    order = list(range(len(docs)))
    rng.shuffle(order)
    chunks: list[bytes] = []
    chars = 0
    for d in order:
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
    if not chunks:
        return {"skipped": "no held-out text"}
    bos = 257
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
    n_chars = sum(len(ch.decode("utf-8")) for ch in chunks)
    n_bytes = sum(len(ch) for ch in chunks)
    return {"chunks": B, "characters": n_chars, "bytes": n_bytes,
            "bits_per_char": float(nats.sum() / math.log(2) / n_chars),
            "bits_per_byte": float(nats.sum() / math.log(2) / n_bytes)}


def eval_naming(engine_sys: Any, docs: Sequence[FileDoc], train: TrainData, corpus: Path, split: str,
                artifact_path: Path | None, n: int, seed: int, progress: bool = True) -> dict[str, Any]:
    """Names for declared symbols: the artifact's naming model and the most-frequent-name-for-the-declaration-
    context baseline, on the same examples, through the naming part's own evaluation helpers
    (training/naming_data.py); without them, the engine's ``suggest_names`` and a simpler context baseline."""
    try:
        from training.naming_data import ContextBaseline, NamingDataset
        from training.naming_data import evaluate_naming as score_naming
    except ImportError:
        from codecomp.eval.naming_eval import evaluate_naming

        return evaluate_naming(engine_sys, docs, train.names, n, seed, progress)

    def as_percent(scores: dict[str, float]) -> dict[str, float]:
        return {"n": int(scores.get("examples", 0)), "exact": 100.0 * scores.get("exact", 0.0),
                "top5": 100.0 * scores.get("top5", 0.0), "subtoken_f1": 100.0 * scores.get("subtoken_f1", 0.0)}

    try:
        test = NamingDataset.from_corpus(corpus, split)
        if len(test) == 0:
            return {"skipped": "the held-out files have no declared variable, parameter or function"}
        baseline = ContextBaseline.fit(NamingDataset.from_corpus(corpus, "train"), progress=progress)
    except ValueError as exc:  # NamingDataError: the corpus lacks the symbol columns
        return {"skipped": str(exc)}
    out: dict[str, Any] = {"positions": min(len(test), n), "systems": {}}
    engine = engine_sys.engine
    naming = engine._naming() if hasattr(engine, "_naming") else None
    if naming is not None:
        def model_predict(i: int) -> list[str]:
            return [name for name, _ in naming.predict(test.example(i, naming.vocab), 5)]

        out["systems"][engine_sys.name] = as_percent(score_naming(model_predict, test, 5, n, progress, "naming model"))
    else:
        problem = engine.naming_problem() if hasattr(engine, "naming_problem") else "the engine has no naming model"
        out["engine_note"] = problem
    out["systems"]["most-frequent-name"] = as_percent(
        score_naming(lambda i: baseline.predict(test, i, 5), test, 5, n, progress, "naming baseline"))
    return out


# ----------------------------------------------------------------------------------------------- runner
@dataclass
class EvalResult:
    """Everything the report is written from."""

    meta: dict[str, Any]
    tasks: dict[str, Any] = field(default_factory=dict)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)


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
                      "train_seconds": round(time.perf_counter() - t0, 2)}
    return [PerLanguage(name, m) for name, m in systems.items()], info


def run_evaluation(engine: Any, engine_name: str, corpus: Path, options: EvalOptions,
                   artifact_path: Path | None = None) -> EvalResult:
    """Evaluate ``engine`` and the baselines on the held-out split of ``corpus``."""
    from codecomp.eval.engine_system import EngineSystem, ModelTokenSystem

    t_start = time.perf_counter()
    rows = load_split(corpus, options.split, options.max_eval_files, options.seed)
    docs = docs_of(rows, options.progress, f"{options.split} files")
    if not docs:
        raise EvalError(f"the {options.split!r} split of {corpus} has no file with code tokens")
    train = load_train_data(corpus, options.ngram_max_tokens, options.max_train_files, options.seed,
                            options.progress)
    if not train.streams:
        raise EvalError(f"the train split of {corpus} has no file with code tokens; the baselines need one")
    baselines, baseline_info = build_baselines(train, options.progress)
    eng = EngineSystem(engine, engine_name)
    systems: list[Any] = [eng, *baselines]

    model_vocab = getattr(getattr(engine, "model", None), "index", None)
    if model_vocab:
        in_vocab = lambda w: w in model_vocab  # noqa: E731
        vocab_source = "the model's token vocabulary"
    else:
        in_vocab = lambda w: w in train.words  # noqa: E731
        vocab_source = "the tokens of the train split (the engine has no token vocabulary)"

    n = options.max_positions
    meta = {
        "corpus": str(corpus), "split": options.split, "seed": options.seed, "max_positions": n,
        "quick": options.quick, "tasks": list(options.tasks), "engine": engine_name,
        "engine_kind": getattr(engine, "name", type(engine).__name__),
        "engine_problem": getattr(engine, "problem", None),
        "model": str(artifact_path) if artifact_path else "default",
        "files": len(docs), "languages": sorted({d.lang for d in docs}),
        "projects": sorted({d.project for d in docs}),
        "baselines": baseline_info, "vocabulary_split": vocab_source,
    }
    result = EvalResult(meta)
    p = options.progress
    if "identifiers" in options.tasks:
        result.tasks["identifiers"] = eval_identifiers(
            systems, docs, sample_identifier_positions(docs, n, options.seed), in_vocab, p)
    if "tokens" in options.tasks:
        token_systems = list(systems)
        if getattr(engine, "model", None) is not None and hasattr(engine.model, "distribution"):
            token_systems.insert(1, ModelTokenSystem(engine.model))
        result.tasks["tokens"] = eval_tokens(token_systems, docs, sample_token_runs(docs, n, options.seed), p)
    if "lines" in options.tasks:
        result.tasks["lines"] = eval_lines(systems, docs, sample_line_positions(docs, n, options.seed), p)
    if "keystrokes" in options.tasks:
        windows = sample_keystroke_windows(docs, max(2, n // 15), options.keystroke_lines, options.seed)
        result.tasks["keystrokes"] = eval_keystrokes(systems, docs, windows, p)
    if "char" in options.tasks:
        # The char model of what the engine serves: none for an engine without an artifact (the fallback).
        served = artifact_path if artifact_path is not None else getattr(getattr(engine, "artifact", None), "path", None)
        result.tasks["char"] = (eval_char(served, docs, options.char_bytes, options.seed) if served is not None
                                else {"skipped": "the engine has no model artifact, so there is no char model to read"})
    if "naming" in options.tasks:
        result.tasks["naming"] = eval_naming(eng, docs, train, corpus, options.split, artifact_path, n,
                                              options.seed, p)
    if "latency" in options.tasks:
        eval_typing_latency(eng, docs, sample_identifier_positions(docs, max(1, n // 10), options.seed + 6), p)
    result.latencies_ms = {k: list(v) for k, v in eng.latencies_ms.items()}
    if "latency" in options.tasks:
        every = [x for v in eng.latencies_ms.values() for x in v]
        lat = {"all": M.latency_summary(every)}
        lat.update({k: M.latency_summary(v) for k, v in eng.latencies_ms.items()})
        result.tasks["latency"] = lat
    if eng.errors:
        meta["engine_errors"] = dict(sorted(eng.errors.items(), key=lambda kv: -kv[1])[:10])
    meta["seconds"] = round(time.perf_counter() - t_start, 1)
    return result
