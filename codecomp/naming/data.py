"""The naming examples of a corpus split, and the most-frequent-name baseline.

One example per declared variable, parameter or function of a file (corpus columns `sym_name`, `sym_kind`,
`sym_occ`): the model sees the file's tree inside a window around the symbol's first occurrence, with every
occurrence hidden, and must give the name back (see `codecomp.naming.trees` for the window).

`ContextBaseline` predicts the most frequent training name for the same declaration context: (language, symbol
kind, type of the declaring node, declared type text), backing off to coarser contexts when a context was never
seen.  Training (`training/models/tree_lstm.py`) reads its examples here, and the evaluation
(`codecomp/eval/naming_eval.py`) scores the model and this baseline on them.

Torch-free: corpora are read with `codecomp.corpus.reader` (which imports `datasets` when a corpus is opened).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from codecomp.corpus.reader import CorpusError, open_split
from codecomp.naming.names import NAMING_KINDS, split_name, usable_name
from codecomp.naming.trees import NamingExample, PreparedFile, code_occurrences, prepare_file
from codecomp.naming.vocab import NamingVocab

_ROW_COLUMNS = ("language", "tokens", "ast_type", "ast_parent", "ast_depth", "ast_token", "sym_name", "sym_kind",
                "sym_occ")

# Wrapper nodes between a declared name and the node that declares it (C++ declarators, JS patterns).
_DECLARATOR_TYPES = frozenset({
    "init_declarator", "pointer_declarator", "reference_declarator", "array_declarator", "function_declarator",
    "parenthesized_declarator", "variable_declarator", "assignment_pattern", "object_pattern", "array_pattern",
    "pair_pattern", "rest_pattern", "shorthand_property_identifier_pattern",
})
_NOT_TYPE_TEXT = frozenset({"identifier", ",", "(", ")", "=", ";"})


class NamingDataError(ValueError):
    """A corpus cannot be used for naming; the message says why."""


def row_from_source(text: str, lang: str) -> dict[str, Any]:
    """A corpus-schema row (the columns this module reads) for one source text, parsed here.

    Lets tests and tools make examples from files without building a corpus; `codecomp corpus build` writes the
    same columns.
    """
    from codecomp.syntax import parse

    parsed = parse(text.encode("utf-8"), lang)
    ast = parsed.ast_arrays()
    names, kinds, occs = [], [], []
    for sym in parsed.scopes().symbols:
        if sym.kind not in NAMING_KINDS:
            continue
        occ = code_occurrences(parsed, sym)
        if occ:
            names.append(sym.name)
            kinds.append(sym.kind)
            occs.append(occ)
    return {
        "language": lang,
        "tokens": [t.text for t in parsed.code_tokens()],
        "ast_type": ast.node_type, "ast_parent": ast.parent, "ast_depth": ast.depth, "ast_token": ast.token,
        "sym_name": names, "sym_kind": kinds, "sym_occ": occs,
    }


@dataclass(frozen=True)
class SymbolRef:
    """One naming example: symbol `sym` of file `file`."""

    file: int
    sym: int
    name: str
    kind: str
    lang: str


class NamingDataset:
    """The naming examples of one split.  Files are read lazily (by index) and prepared once per vocabulary."""

    def __init__(self, get_row: Callable[[int], dict[str, Any]], refs: list[SymbolRef], num_files: int) -> None:
        self._get_row = get_row
        self.refs = refs
        self.num_files = num_files
        self._prepared: dict[int, dict[int, PreparedFile]] = {}
        self._last_row: tuple[int, dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self.refs)

    # -- construction ------------------------------------------------------------------------------------------

    @classmethod
    def from_rows(cls, rows: Sequence[dict[str, Any]], languages: Sequence[str] | None = None) -> "NamingDataset":
        """Examples of in-memory rows (e.g. from `row_from_source`)."""
        rows = list(rows)
        refs = _refs(((r["language"], r["sym_name"], r["sym_kind"]) for r in rows), languages)
        return cls(lambda i: rows[i], refs, len(rows))

    @classmethod
    def from_corpus(cls, corpus: str | Path, split: str, languages: Sequence[str] | None = None
                    ) -> "NamingDataset":
        """Examples of one split of a corpus folder written by `codecomp corpus build`."""
        try:
            ds = open_split(corpus, split, _ROW_COLUMNS)
        except CorpusError as exc:
            raise NamingDataError(str(exc)) from None
        meta = ds.select_columns(["language", "sym_name", "sym_kind"])
        refs = _refs(((r["language"], r["sym_name"], r["sym_kind"]) for r in meta), languages)
        return cls(lambda i: ds[i], refs, len(ds))

    # -- examples ----------------------------------------------------------------------------------------------

    def prepared(self, file: int, vocab: NamingVocab | None) -> PreparedFile:
        """The prepared arrays of one file for `vocab` (cached per vocabulary; None: no leaf-token ids)."""
        cache = self._prepared.setdefault(id(vocab), {})
        got = cache.get(file)
        if got is None:
            row = self._row(file)
            got = cache[file] = prepare_file(vocab, row["language"], row["ast_type"], row["ast_parent"],
                                             row["ast_depth"], row["ast_token"], row["tokens"])
            got.sym_occ = row["sym_occ"]
        return got

    def example(self, i: int, vocab: NamingVocab) -> NamingExample:
        """Example `i`, windowed and masked for `vocab`."""
        ref = self.refs[i]
        prep = self.prepared(ref.file, vocab)
        ex = prep.example(vocab, ref.kind, ref.name, prep.sym_occ[ref.sym])
        assert ex is not None, "refs only keep symbols whose occurrences are tree leaves"
        return ex

    def context_names(self, i: int) -> list[tuple[str, str]]:
        """The names the code around example `i`'s declaration suggests (`codecomp.naming.context`)."""
        from codecomp.naming.context import context_names

        ref = self.refs[i]
        row = self._row(ref.file)
        occ = row["sym_occ"][ref.sym]
        return context_names(row["tokens"], occ, ref.lang, ref.kind) if occ else []

    def _row(self, file: int) -> dict[str, Any]:
        if self._last_row is None or self._last_row[0] != file:
            self._last_row = (file, self._get_row(file))
        return self._last_row[1]

    # -- vocabulary --------------------------------------------------------------------------------------------

    def build_vocab(self, config: Any, settings: dict[str, Any]) -> NamingVocab:
        """Vocabularies from this (training) split: leaf tokens, whole names, sub-tokens."""
        from codecomp.syntax import LANGUAGES, node_type_names

        token_counts: Counter[str] = Counter()
        for f in range(self.num_files):
            token_counts.update(self._get_row(f)["tokens"])
        names = Counter(r.name for r in self.refs)
        subs: Counter[str] = Counter()
        for name, count in names.items():
            for part in split_name(name):
                subs[part] += count
        return NamingVocab.build(
            {lang: len(node_type_names(lang)) for lang in LANGUAGES}, dict(token_counts), dict(names), dict(subs),
            max_tokens=config.max_tokens, max_names=config.max_names,
            max_subtokens_vocab=config.max_subtokens_vocab, min_name_count=config.min_name_count,
            settings=settings,
        )


def _refs(meta: Iterable[tuple[str, Sequence[str], Sequence[str]]], languages: Sequence[str] | None
          ) -> list[SymbolRef]:
    keep = set(languages) if languages else None
    refs = []
    for f, (lang, names, kinds) in enumerate(meta):
        if keep is not None and lang not in keep:
            continue
        for s, (name, kind) in enumerate(zip(names, kinds)):
            if kind in NAMING_KINDS and usable_name(name):
                refs.append(SymbolRef(f, s, name, kind, lang))
    return refs


# ---------------------------------------------------------------------------------------------------------------
# Baseline
# ---------------------------------------------------------------------------------------------------------------


def declaration_context(prep: PreparedFile, decl: int) -> tuple[str, str]:
    """(type of the declaring node, declared type text) for the declaration leaf `decl` of a prepared file.

    Climbs over declarator/pattern wrappers to the declaring node, whose children before the declarator give
    the type text (C++ ``const std::string``, JS ``const``).
    """
    from codecomp.syntax import node_type_names

    names = node_type_names(prep.lang)
    type_name = lambda i: names[int(prep.node_type[i])] if 0 <= prep.node_type[i] < len(names) else "?"  # noqa: E731
    node = decl
    while prep.parent[node] >= 0 and type_name(int(prep.parent[node])) in _DECLARATOR_TYPES:
        node = int(prep.parent[node])
    owner = int(prep.parent[node])
    if owner < 0:
        return "", ""
    stop = owner + int(prep.sizes[owner])
    span = np.arange(owner + 1, stop)
    kids = span[prep.parent[owner + 1: stop] == owner]
    texts = prep.token_texts
    parts: list[str] = []
    for kid in kids:
        if kid >= node:
            break
        if type_name(kid) in _NOT_TYPE_TEXT or type_name(kid) in _DECLARATOR_TYPES:
            continue
        leaves = [t for t in range(kid, kid + int(prep.sizes[kid])) if prep.sizes[t] == 1]
        parts.append("".join(texts[tok] for tok in _leaf_tokens(prep, leaves)))
    return type_name(owner), " ".join(parts)[:40]


def _leaf_tokens(prep: PreparedFile, leaves: Sequence[int]) -> list[int]:
    """Token indices of leaf nodes (nodes that are tokens)."""
    if not leaves:
        return []
    node_to_tok = getattr(prep, "_node_to_tok", None)
    if node_to_tok is None:
        node_to_tok = np.full(prep.parent.shape[0], -1, dtype=np.int64)
        ok = prep.node_of_token >= 0
        node_to_tok[prep.node_of_token[ok]] = np.nonzero(ok)[0]
        prep._node_to_tok = node_to_tok  # type: ignore[attr-defined]
    return [int(node_to_tok[n]) for n in leaves if node_to_tok[n] >= 0]


class ContextBaseline:
    """Most frequent training name per declaration context, backing off to coarser contexts."""

    def __init__(self) -> None:
        self.tables: list[dict[tuple, Counter[str]]] = [defaultdict(Counter) for _ in range(4)]

    @staticmethod
    def keys(dataset: NamingDataset, i: int) -> list[tuple]:
        """Context keys of example `i`, finest first."""
        ref = dataset.refs[i]
        prep = dataset.prepared(ref.file, None)
        occ = [int(prep.node_of_token[t]) for t in prep.sym_occ[ref.sym]
               if 0 <= t < prep.node_of_token.shape[0] and prep.node_of_token[t] >= 0]
        owner, type_text = declaration_context(prep, min(occ)) if occ else ("", "")
        return [(ref.lang, ref.kind, owner, type_text), (ref.lang, ref.kind, owner), (ref.lang, ref.kind), ()]

    @classmethod
    def fit(cls, dataset: NamingDataset, progress: bool = False) -> "ContextBaseline":
        """Count names per context over a (training) dataset."""
        self = cls()
        for i in _progress(range(len(dataset)), progress, "baseline contexts"):
            for table, key in zip(self.tables, self.keys(dataset, i)):
                table[key][dataset.refs[i].name] += 1
        return self

    def predict(self, dataset: NamingDataset, i: int, k: int = 5) -> list[str]:
        """Up to k names for example `i`: the finest seen context first, then coarser ones."""
        out: list[str] = []
        for table, key in zip(self.tables, self.keys(dataset, i)):
            counts = table.get(key)
            if not counts:
                continue
            for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
                if name not in out:
                    out.append(name)
                if len(out) >= k:
                    return out
        return out


def _progress(it: Iterable, enabled: bool, desc: str) -> Iterable:
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, unit="symbol", dynamic_ncols=True)
