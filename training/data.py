"""Reading a corpus (docs/design.md section 2) and cutting it into batches for the sequence models.

`load_corpus` opens a corpus folder through `codecomp.corpus.reader.open_split` (clear errors for the usual
mistakes).  `DocBatcher` lays the documents of one rank's shard out in `batch_size` rows for truncated
back-propagation through time: every document starts at a chunk boundary (it is padded to a multiple of
`seq_len`), so a model can start each file from a zero state exactly as the engine does at inference time, and
the copy memory never mixes two files.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from codecomp.corpus.reader import CorpusError, open_split
from training.loop import TrainingError

REQUIRED_COLUMNS = ("text", "tokens", "kinds", "language", "project")


def text_bytes(text: str) -> np.ndarray:
    """A file's UTF-8 bytes as an int16 array (room for the byte model's specials)."""
    return np.frombuffer(text.encode("utf-8", errors="replace"), dtype=np.uint8).astype(np.int16)


class Corpus:
    """A corpus folder, optionally restricted to some languages; splits are read with `open_split`."""

    def __init__(self, path: Path, languages: Sequence[str] | None) -> None:
        self.path = path
        self.languages = list(languages) if languages else None

    def split(self, name: str, columns: Sequence[str] = ()) -> Any:
        """One split (only `columns`; all columns without them), filtered to the selected languages."""
        wanted = list(columns)
        need = wanted + (["language"] if self.languages and wanted and "language" not in wanted else [])
        try:
            ds = open_split(self.path, name, need)
        except CorpusError as exc:
            raise TrainingError(str(exc)) from None
        if self.languages:
            langs = set(self.languages)
            keep = [i for i, lang in enumerate(ds["language"]) if lang in langs]
            ds = ds.select(keep)
            if len(need) > len(wanted):
                ds = ds.select_columns(wanted)
        return ds

    def split_languages(self, split: str) -> list[str]:
        """Sorted languages present in a split (after the language filter)."""
        return sorted(set(self.split(split, ["language"])["language"]))

    def rows(self, split: str, columns: Sequence[str], max_items: int = 0, item_column: str = "tokens",
             seed: int = 0, max_doc_items: int = 0) -> Iterator[dict[str, Any]]:
        """Stream rows of a split (only `columns`), without holding the whole split as python objects.

        With `max_items` > 0, files are taken in a seeded random order until about `max_items` items (lengths of
        `item_column`; bytes for "text"; each file counted up to `max_doc_items` when that is set) are reached,
        so a huge corpus can be capped to what a budget can use.
        """
        from tqdm.auto import tqdm

        ds = self.split(split, columns)
        # Only the main process of a torchrun job draws progress bars.
        bar = tqdm(total=len(ds), desc=f"reading {split}", unit="file", leave=False,
                   disable=os.environ.get("RANK", "0") != "0" or len(ds) < 2000)
        try:
            if not max_items:
                for batch in ds.iter(batch_size=512):
                    for i in range(len(batch[columns[0]])):
                        bar.update(1)
                        yield {c: batch[c][i] for c in columns}
                return
            order = np.random.default_rng(seed).permutation(len(ds))
            total = 0
            for idx in order:
                if total >= max_items:
                    break
                row = ds[int(idx)]
                item = row[item_column]
                n = len(item.encode("utf-8")) if isinstance(item, str) else len(item)
                total += min(n, max_doc_items) if max_doc_items else n
                bar.update(1)
                yield row
        finally:
            bar.close()


KNOWN_LANGUAGES = ("cpp", "javascript")


def check_languages(languages: Any) -> None:
    """A `languages` config value must be absent or a list of known language names."""
    from training.loop import ConfigError

    if languages is None:
        return
    if not isinstance(languages, list) or not languages or any(l not in KNOWN_LANGUAGES for l in languages):
        raise ConfigError(f"[data] languages must be a non-empty list drawn from {list(KNOWN_LANGUAGES)}, "
                          f"not {languages!r}")


@dataclass
class SequenceDataConfig:
    """The `[data]` table of a sequence model (items are bytes for the char model, tokens for the token model);
    each model's subclass only changes the defaults."""

    batch_size: int = 32
    seq_len: int = 64
    eval_batch_size: int = 16
    eval_max_items: int = 100_000   # items of the valid split scored per validation (0: all)
    max_train_items: int = 0        # cap on training items (a seeded random subset of files); 0: all
    eval_max_doc_items: int = 2048  # validation scores the first N items of each file (0: whole files)
    languages: list = None          # None: all languages in the corpus

    def validate(self) -> None:
        from training.loop import ConfigError

        if self.batch_size <= 0 or self.seq_len <= 1 or self.eval_batch_size <= 0:
            raise ConfigError("[data] batch_size, eval_batch_size must be positive and seq_len at least 2")
        check_languages(self.languages)


def load_corpus(path: Path | str, languages: Sequence[str] | None = None) -> Corpus:
    """Open a corpus folder written by `codecomp corpus build`, or explain why it cannot be used for training."""
    path = Path(path)
    try:
        train = open_split(path, "train", REQUIRED_COLUMNS)
    except CorpusError as exc:
        raise TrainingError(str(exc)) from None
    if len(train) == 0:
        raise TrainingError(f"the corpus at {path} has an empty 'train' split")
    return Corpus(path, languages)


@dataclass(frozen=True)
class Field:
    """One per-position array of each document, with the values used at the document's bos/eos and for padding.

    A bos/eos of None repeats the document's first/last value there (for per-document constants such as the
    language of the file).
    """

    name: str
    bos: int | None
    eos: int | None
    pad: int


class DocBatcher:
    """Truncated-BPTT batches over documents, each document aligned to a chunk boundary.

    A document of n items becomes the pairs (input, target) of ``[bos] + doc + [eos]`` shifted by one: n + 1
    pairs, padded to a multiple of `seq_len` with each field's pad value.  Documents are dealt (in a shuffled
    order that depends on seed and epoch; without shuffling, longest first) to the row that is currently shortest.  Every batch yields, for each
    field F, ``F`` (inputs, [B, T]) and ``F_next`` (targets, [B, T]), and ``reset`` ([B] bool: the row starts a
    new document in this chunk, so carried state must be zeroed).  DDP: rank r takes every world_size-th
    document of the shuffled order; all ranks yield the same number of batches (the smallest shard decides).
    """

    def __init__(self, docs: list[dict[str, np.ndarray]], fields: Sequence[Field], batch_size: int,
                 seq_len: int, seed: int, shuffle: bool = True) -> None:
        self.docs = docs
        self.fields = list(fields)
        self.batch_size = batch_size
        self.seq_len = seq_len
        self.seed = seed
        self.shuffle = shuffle
        self.lengths = np.array([len(d[self.fields[0].name]) for d in docs], dtype=np.int64)
        self.chunks = (self.lengths + 1 + seq_len - 1) // seq_len
        self._layouts: dict[tuple[int, int, int], list[list[int]]] = {}

    def _order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            # Longest first: the greedy layout then balances the rows well, so little padding is computed.
            return np.argsort(-self.lengths, kind="stable")
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.docs))

    def _rows(self, epoch: int, rank: int, world_size: int) -> list[list[int]]:
        """Document indices per row for this rank (greedy: next document to the shortest row)."""
        key = (epoch, rank, world_size)
        if key not in self._layouts:
            if len(self._layouts) > 64:
                self._layouts.clear()
            self._layouts[key] = self._layout(epoch, rank, world_size)
        return self._layouts[key]

    def _layout(self, epoch: int, rank: int, world_size: int) -> list[list[int]]:
        mine = self._order(epoch)[rank::world_size]
        rows: list[list[int]] = [[] for _ in range(self.batch_size)]
        used = np.zeros(self.batch_size, dtype=np.int64)
        for d in mine:
            r = int(np.argmin(used))
            rows[r].append(int(d))
            used[r] += self.chunks[d]
        return rows

    def _rank_chunks(self, epoch: int, rank: int, world_size: int) -> int:
        rows = self._rows(epoch, rank, world_size)
        return max((int(sum(self.chunks[d] for d in row)) for row in rows), default=0)

    def num_batches(self, epoch: int, world_size: int, drop_uneven: bool = True) -> int:
        """Batches per epoch; with several ranks, the smallest shard decides so every rank steps together."""
        counts = [self._rank_chunks(epoch, r, world_size) for r in range(world_size)]
        return min(counts) if drop_uneven else max(counts)

    def batches(self, epoch: int, rank: int, world_size: int, start_batch: int = 0
                ) -> Iterator[dict[str, np.ndarray]]:
        """Yield batches `start_batch`..end of this rank's layout for `epoch`."""
        T = self.seq_len
        n = self.num_batches(epoch, world_size)
        rows = self._rows(epoch, rank, world_size)
        width = max(1, n) * T
        # int32 keeps a whole epoch's layout small; tasks widen each batch to int64.
        arrays = {f.name: np.full((self.batch_size, width + T), f.pad, dtype=np.int32) for f in self.fields}
        nexts = {f.name: np.full((self.batch_size, width + T), f.pad, dtype=np.int32) for f in self.fields}
        starts = np.zeros((self.batch_size, max(1, n) + 1), dtype=bool)
        for r, row in enumerate(rows):
            pos = 0
            for d in row:
                if pos >= width:
                    break
                doc = self.docs[d]
                starts[r, pos // T] = True
                ln = int(self.lengths[d])
                for f in self.fields:
                    seq = np.empty(ln + 2, dtype=np.int32)
                    seq[1:-1] = doc[f.name]
                    seq[0] = f.bos if f.bos is not None else (seq[1] if ln else f.pad)
                    seq[-1] = f.eos if f.eos is not None else (seq[-2] if ln else f.pad)
                    arrays[f.name][r, pos:pos + ln + 1] = seq[:-1][: width + T - pos]
                    nexts[f.name][r, pos:pos + ln + 1] = seq[1:][: width + T - pos]
                pos += int(self.chunks[d]) * T
        for k in range(start_batch, n):
            sl = slice(k * T, (k + 1) * T)
            out = {f.name: arrays[f.name][:, sl] for f in self.fields}
            out.update({f.name + "_next": nexts[f.name][:, sl] for f in self.fields})
            out["reset"] = starts[:, k].copy()
            yield out


def eval_rows(n_docs: int, batch_size: int) -> int:
    """Rows for a validation layout: about four documents per row, so rows are balanced and padding is small."""
    return max(1, min(batch_size, n_docs // 4))


def truncate_docs(docs: list[dict[str, np.ndarray]], max_len: int) -> list[dict[str, np.ndarray]]:
    """Each document cut to its first `max_len` items (0: unchanged): keeps validation rows balanced and fast."""
    if not max_len:
        return docs
    return [{k: v[:max_len] for k, v in d.items()} for d in docs]


def bits(nats: float) -> float:
    """Nats to bits."""
    return nats / math.log(2)


# --------------------------------------------------------------------------------------------------------------
# Small corpora from sources: used by the tests and by benchmarks/train_throughput.py when no corpus is given.
# --------------------------------------------------------------------------------------------------------------


def corpus_from_sources(files: Sequence[dict[str, str]], out: Path | str, splits: dict[str, Sequence[str]]) -> Path:
    """Write a corpus (docs/design.md section 2 columns used by the sequence models) from in-memory files.

    `files` are dicts with project, path, language and text; `splits` maps split name -> project names.  Files
    are parsed with the real syntax layer; comments are dropped from `tokens` as the corpus builder does.  No
    filtering or de-duplication: this is for small, trusted inputs.
    """
    import datasets

    from codecomp.syntax import TokenKind, parse

    out = Path(out)
    by_split: dict[str, dict[str, list]] = {}
    for split, projects in splits.items():
        cols: dict[str, list] = {"project": [], "path": [], "language": [], "text": [], "tokens": [], "kinds": [],
                                 "starts": []}
        for f in files:
            if f["project"] not in projects:
                continue
            parsed = parse(f["text"], f["language"])
            toks = [t for t in parsed.tokens if t.kind != TokenKind.COMMENT]
            cols["project"].append(f["project"])
            cols["path"].append(f["path"])
            cols["language"].append(f["language"])
            cols["text"].append(f["text"])
            cols["tokens"].append([t.text for t in toks])
            cols["kinds"].append([int(t.kind) for t in toks])
            cols["starts"].append([t.start_byte for t in toks])
        by_split[split] = cols
    features = datasets.Features({
        "project": datasets.Value("string"), "path": datasets.Value("string"),
        "language": datasets.Value("string"), "text": datasets.Value("string"),
        "tokens": datasets.Sequence(datasets.Value("string")), "kinds": datasets.Sequence(datasets.Value("int8")),
        "starts": datasets.Sequence(datasets.Value("int32")),
    })
    dd = datasets.DatasetDict({s: datasets.Dataset.from_dict(c, features=features) for s, c in by_split.items()})
    dd.save_to_disk(str(out))
    return out


_SYLLABLES = ("ka", "lo", "mi", "ru", "zen", "tor", "vex", "pal", "dri", "qua", "sil", "bor", "nek", "fla", "gim")


def _name(rng: np.random.Generator) -> str:
    return "".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 4))))


def synthetic_sources(n_projects: int, files_per_project: int, seed: int = 0) -> list[dict[str, str]]:
    """Small but realistic-looking C++ and JavaScript files whose identifiers are random per file.

    Each file declares a few fresh names and then uses them repeatedly, so the only way to predict those uses
    is to copy them from earlier in the file: a good workload for the copy mechanism and for quick tests.
    """
    rng = np.random.default_rng(seed)
    files = []
    for p in range(n_projects):
        project = f"proj{p}"
        for i in range(files_per_project):
            names = [_name(rng) for _ in range(4)]
            a, b, c, d = names
            n = int(rng.integers(1, 9))
            if (p + i) % 2 == 0:
                body = "".join(
                    f"    {a}.{b}({c} + {k});\n    if ({c} > {n}) {{ {c} = {a}.{d}({c}); }}\n" for k in range(n))
                text = (f"#include <vector>\n// helper {i}\nclass {a.title()} {{\n public:\n  int {b}(int {c}) {{ return {c} * {n}; }}\n"
                        f"  int {d}(int {c}) {{ return {c} - 1; }}\n}};\n\nint run_{i}(int {c}) {{\n    {a.title()} {a};\n"
                        f"{body}    return {c};\n}}\n")
                files.append({"project": project, "path": f"src/file{i}.cpp", "language": "cpp", "text": text})
            else:
                body = "".join(
                    f"  {a}.{b}({c}, {k});\n  if ({c}.length > {n}) {{ {d}({a}, \"{b}\"); }}\n" for k in range(n))
                text = (f"// module {i}\nconst {a} = require('./{b}');\n\nfunction {d}({a}, {c}) {{\n"
                        f"  return {a}.{b}({c});\n}}\n\nfunction main{i}({c}) {{\n{body}  return {d}({a}, {c});\n}}\n\n"
                        f"module.exports = {{ {d}, main{i} }};\n")
                files.append({"project": project, "path": f"lib/file{i}.js", "language": "javascript", "text": text})
    return files


def synthetic_corpus(out: Path | str, n_projects: int = 5, files_per_project: int = 12, seed: int = 0) -> Path:
    """A synthetic corpus with the last project as 'test', the one before as 'valid', the rest 'train'."""
    files = synthetic_sources(n_projects, files_per_project, seed)
    projects = [f"proj{p}" for p in range(n_projects)]
    return corpus_from_sources(files, out, {"train": projects[:-2], "valid": [projects[-2]], "test": [projects[-1]]})
