"""Learning from the user while they work: a small per-workspace model on top of the offline ranking.

An *event* is one completion list that was shown at a position, and the identifier that then stood there:
accepted from the list (the editor ran the item's command) or typed by hand (the language server saw it in
`didChange`).  Every event is a labelled example of the project's own style, which no offline corpus has.

The model of one workspace (`Learner`) has two parts:

* a cache of the names used, keyed by the context they were used in: the two code tokens before the word
  (`foo .` at a member access), the last one, and none (the name's overall use).  Counts decay by a factor per
  event (half-life `HALF_LIFE` events), so an old habit fades as new ones come.  Names the cache knows for the
  context join the candidates (source "learned"), and each candidate gets `CACHE_FEATURES`: the cache's
  interpolated (Witten-Bell) probability of the name in the context, and the log counts per context order.
  Only uses in *other* documents count: the engine already reads the document being completed
  (its own n-grams), and the learner adds what the user did elsewhere in the workspace;
* a linear correction of every candidate's score: `score = a * base + w . cache_features + v . z`, where `base`
  is the offline ranking's score (the learned ranker, else the hand-set mix) and `z` the ranker's feature row,
  standardised by running moments.  (a, w, v) start at a prior (a = 1, w = `LearnerConfig.w_prior`, v = 0;
  tuned on the valid split) and move by one step of listwise softmax cross-entropy per event over the items the
  list showed, with an L2 pull back to the prior.

Bounds: at most `MAX_CONTEXTS[k]` contexts of each order (least recently used evicted), `MAX_NAMES[k]` names per
context (the lightest evicted) and `MAX_UNIGRAMS` names overall; an event costs a few dictionary updates and one
small gradient (well under a millisecond, `benchmarks/learning_update.py`).

`Learning` holds the learners of one editor session: one per workspace folder (a document belongs to the
innermost folder that contains it) and one, never saved, for documents outside every folder.  With `persist`
on, a folder's learner is read from and written to `<folder>/.codecomp/learning.json`, and nowhere else; with it
off nothing is read or written.  `reset` forgets everything, the files included.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from codecomp.engine.workspace.index import context_at

FORMAT = "codecomp-learning"
FORMAT_VERSION = 1
FOLDER = ".codecomp"
FILE_NAME = "learning.json"
MAX_FILE_BYTES = 16 << 20        # a larger file is not read (it cannot be one this code wrote)

# -- the cache --------------------------------------------------------------------------------------------------
HALF_LIFE = 4000.0               # events after which a use counts half
ORDERS = (2, 1)                  # context orders kept as tables (order 0: the overall table `names`)
MAX_CONTEXTS = {2: 4096, 1: 512}
MAX_NAMES = {2: 12, 1: 24}
MAX_UNIGRAMS = 4096
MAX_DOCUMENTS = 256              # documents told apart (older ones count as "other documents")
MAX_NAME_LENGTH = 256
VOCABULARY = 20000.0             # the uniform floor of the interpolated probability (1 / VOCABULARY)
CANDIDATES_PER_CONTEXT = 12      # learned names a context adds to the candidates (the heaviest first)

# -- the linear correction -------------------------------------------------------------------------------------
CACHE_FEATURES = ("log_p_cache", "log_count_ctx2", "log_count_ctx1", "log_count_name", "learned_only")
KEEP_ROWS = 64                   # items of a shown list kept for its event (the first ones, in the list's order)
MOMENT_RATE = 0.02               # update rate of the running moments that standardise the ranker's rows
CLIP = 4.0                       # largest gradient component


@dataclass(frozen=True)
class LearnerConfig:
    """The numbers of a learner, tuned on the valid split (docs/design.md, "Learning from the user")."""

    half_life: float = HALF_LIFE                                # events after which a use counts half
    w_prior: tuple[float, ...] = (0.6, 0.0, 0.0, 0.0, 0.0)      # the correction's start, per CACHE_FEATURES
    lr_scale: float = 0.02                                      # step size of the base score's factor `a`
    lr_cache: float = 0.05                                      # step size of w
    lr_ranker: float = 0.003                                    # step size of v
    pull: float = 0.01                                          # L2 pull of (a, w, v) back to the prior, per event
    own_document: bool = False                                  # uses in the document being completed count too
    # per-column factors of the cache features of C++ candidates (the other languages get them whole).  All zero
    # (the default): none, so in C++ the correction moves the offline score and the ranker's row only, while the
    # cache still counts names and offers them as candidates.  On three unseen C++ projects (data/cpp-valid-extra,
    # valid; `python benchmarks/learning_tune.py --corpus data/cpp-valid-extra --split valid`) whole cache
    # features cost top-1: second half -0.3 (typed 0) / -2.5 (typed 1) with them, +1.0 / +1.4 without; in
    # JavaScript they are most of the gain.
    cpp_cache_scale: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)


DEFAULT_CONFIG = LearnerConfig()


def _norm_key(tokens: Sequence[str]) -> str:
    return "\x00".join(tokens)


@dataclass(frozen=True)
class Context:
    """Where a word is being completed: the code tokens before it (at most two) and the document."""

    tokens: tuple[str, ...]
    doc: str = ""
    member: bool = False         # after `.`, `->`, `?.` or `::`
    lang: str = ""               # the document's language

    def key(self, order: int) -> str | None:
        """The table key of this context at `order` (None when there are fewer tokens)."""
        if len(self.tokens) < order:
            return None
        return _norm_key(self.tokens[len(self.tokens) - order:])


def context_of(source: bytes, pstart: int, lang: str, doc: str = "", member: bool = False) -> Context:
    """The learning context of the word starting at byte `pstart` of `source`: its two code tokens before it,
    comments and literals handled as the workspace index handles them (strings become one `"` token)."""
    tokens = tuple(t.decode("utf-8", "replace") for t in context_at(source, pstart, lang, max(ORDERS)))
    return Context(tokens, doc, member, lang)


@dataclass
class Shown:
    """One list as it was shown, kept until its event (or until newer lists push it out)."""

    learner: "Learner"
    context: Context
    labels: list[str]                     # the first `KEEP_ROWS` items, in the list's order
    base: np.ndarray                      # their offline scores
    cache: np.ndarray                     # their cache features (rows of CACHE_FEATURES)
    rows: np.ndarray | None               # their ranker feature rows (None when ranked by the mix)
    prefix: str = ""


@dataclass
class Events:
    """How many events a learner has seen, by signal."""

    accepted: int = 0                     # an item accepted from the list (the editor ran its command)
    typed: int = 0                        # the identifier found in the text after the list was shown
    updates: int = 0                      # events whose name was in the list (the correction moved)


class Learner:
    """The online model of one workspace (see the module docstring)."""

    def __init__(self, config: LearnerConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        # the factors of C++ cache features; None: C++ candidates get none
        scale = np.asarray(config.cpp_cache_scale, dtype=np.float64)
        self._cpp_scale = scale if scale.any() else None
        self.reset()

    # -- state --------------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything: the cache, the correction and the counters."""
        self.clock = 0                     # events seen (the decay's time)
        self.scale = 1.0                   # stored weights are actual * scale (scale grows by 1/decay per event)
        self.decay = 0.5 ** (1.0 / self.config.half_life)
        # order -> context key -> {name: [weight, document id, weight from that document]} (weights scaled)
        self.tables: dict[int, OrderedDict[str, dict[str, list]]] = {k: OrderedDict() for k in ORDERS}
        self.names: OrderedDict[str, list] = OrderedDict()   # the overall table, same entries
        self.total = 0.0                   # scaled sum of all weights in `names`
        self.doc_totals: OrderedDict[int, float] = OrderedDict()  # document id -> its scaled share of `total`
        self.doc_ids: OrderedDict[str, int] = OrderedDict()
        self._next_doc = 1
        self._by_initial: dict[str, list[str]] | None = None
        self.a = 1.0
        self.w = np.array(self.config.w_prior, dtype=np.float64)
        self.v: np.ndarray | None = None   # sized on the first ranker row
        self.mu: np.ndarray | None = None
        self.var: np.ndarray | None = None
        self.events = Events()

    def _doc_id(self, doc: str) -> int:
        did = self.doc_ids.get(doc)
        if did is None:
            did = self.doc_ids[doc] = self._next_doc
            self._next_doc += 1
            while len(self.doc_ids) > MAX_DOCUMENTS:
                _, old = self.doc_ids.popitem(last=False)
                self.doc_totals.pop(old, None)
        else:
            self.doc_ids.move_to_end(doc)
        return did

    def _tick(self) -> None:
        """One event passes: every weight decays (by growing the scale of new ones)."""
        self.clock += 1
        self.scale /= self.decay
        if self.scale > 1e100:  # keep the numbers finite: fold the scale into the stored weights
            f = 1.0 / self.scale
            for table in self.tables.values():
                for entries in table.values():
                    for e in entries.values():
                        e[0] *= f
                        e[2] *= f
            for e in self.names.values():
                e[0] *= f
                e[2] *= f
            self.total *= f
            for d in self.doc_totals:
                self.doc_totals[d] *= f
            self.scale = 1.0

    @staticmethod
    def _add(entries: dict, name: str, did: int, amount: float) -> None:
        e = entries.get(name)
        if e is None:
            entries[name] = [amount, did, amount]
        elif e[1] == did:
            e[0] += amount
            e[2] += amount
        else:
            e[0] += amount
            e[1] = did
            e[2] = amount

    # -- the cache ------------------------------------------------------------------------------------------------
    def observe_name(self, context: Context, name: str) -> None:
        """Count one use of `name` in `context` (the cache part of an event)."""
        if not name or len(name) > MAX_NAME_LENGTH:
            return
        did = self._doc_id(context.doc)
        amount = self.scale
        for order in ORDERS:
            key = context.key(order)
            if key is None:
                continue
            table = self.tables[order]
            entries = table.get(key)
            if entries is None:
                entries = table[key] = {}
                if len(table) > MAX_CONTEXTS[order]:
                    table.popitem(last=False)
            else:
                table.move_to_end(key)
            self._add(entries, name, did, amount)
            if len(entries) > MAX_NAMES[order]:
                lightest = min((n for n in entries if n != name), key=lambda n: entries[n][0])
                del entries[lightest]
        if name not in self.names:
            self._by_initial = None
        self._add(self.names, name, did, amount)
        self.names.move_to_end(name)
        self.total += amount
        self.doc_totals[did] = self.doc_totals.get(did, 0.0) + amount
        self.doc_totals.move_to_end(did)
        while len(self.names) > MAX_UNIGRAMS:
            _, e = self.names.popitem(last=False)
            self.total = max(0.0, self.total - e[0])
            self._by_initial = None
        self._tick()

    def _other(self, e: list | None, did: int) -> float:
        """The actual weight of an entry from documents other than `did`."""
        if e is None:
            return 0.0
        return (e[0] - (e[2] if e[1] == did else 0.0)) / self.scale

    def candidates(self, context: Context, prefix: str) -> list[str]:
        """Names the cache offers at `context` for the typed `prefix`: what followed the same tokens elsewhere
        (the heaviest `CANDIDATES_PER_CONTEXT` per order), and with a prefix typed outside a member access, the
        names used anywhere that start with its first character (the caller filters by the whole prefix)."""
        did = self.doc_ids.get(context.doc, 0) if not self.config.own_document else 0
        out: dict[str, None] = {}
        low = prefix[:1].lower()
        for order in ORDERS:
            key = context.key(order)
            entries = self.tables[order].get(key) if key is not None else None
            if not entries:
                continue
            ranked = sorted(((self._other(e, did), n) for n, e in entries.items()), reverse=True)
            for weight, name in ranked[:CANDIDATES_PER_CONTEXT]:
                if weight > 0.0 and (not low or name[:1].lower() == low):
                    out[name] = None
        if low and not context.member:
            if self._by_initial is None:
                index: dict[str, list[str]] = {}
                for name in self.names:
                    index.setdefault(name[:1].lower(), []).append(name)
                self._by_initial = index
            for name in self._by_initial.get(low, ()):
                if self._other(self.names.get(name), did) > 0.0:
                    out[name] = None
        return list(out)

    def cache_features(self, context: Context, labels: Sequence[str], learned_only: Iterable[bool] | None = None
                       ) -> np.ndarray:
        """Rows of `CACHE_FEATURES` for the candidates `labels` at `context` (zeros for names never used; in
        C++ times `LearnerConfig.cpp_cache_scale`)."""
        if context.lang == "cpp":
            if self._cpp_scale is None:
                return np.zeros((len(labels), len(CACHE_FEATURES)), dtype=np.float64)
            return self._cache_features(context, labels, learned_only) * self._cpp_scale
        return self._cache_features(context, labels, learned_only)

    def _cache_features(self, context: Context, labels: Sequence[str], learned_only: Iterable[bool] | None
                        ) -> np.ndarray:
        n = len(labels)
        x = np.zeros((n, len(CACHE_FEATURES)), dtype=np.float64)
        if learned_only is not None:
            x[:, 4] = np.fromiter(learned_only, dtype=np.float64, count=n)
        if not self.names or not n:
            return x
        did = self.doc_ids.get(context.doc, 0) if not self.config.own_document else 0
        floor = 1.0 / VOCABULARY
        # order 0: the names' overall use (Witten-Bell with the uniform floor)
        n0 = max(0.0, (self.total - self.doc_totals.get(did, 0.0)) / self.scale)
        u0 = float(len(self.names))
        c0 = np.fromiter((self._other(self.names.get(label), did) for label in labels), np.float64, n)
        p = (c0 + u0 * floor) / (n0 + u0) if n0 + u0 > 0 else np.full(n, floor)
        x[:, 3] = np.log1p(c0)
        for order, column in ((1, 2), (2, 1)):
            key = context.key(order)
            entries = self.tables[order].get(key) if key is not None else None
            if not entries:
                continue
            weights = {name: self._other(e, did) for name, e in entries.items()}
            total = sum(weights.values())
            distinct = float(sum(1 for v in weights.values() if v > 0.0))
            if total <= 0.0:
                continue
            c = np.fromiter((weights.get(label, 0.0) for label in labels), np.float64, n)
            p = (c + distinct * p) / (total + distinct)
            x[:, column] = np.log1p(c)
        x[:, 0] = np.log(p / floor)
        return x

    # -- the correction -----------------------------------------------------------------------------------------
    def _ranker_z(self, rows: np.ndarray) -> np.ndarray:
        if self.mu is None or self.mu.shape[0] != rows.shape[1]:
            self.mu = np.zeros(rows.shape[1])
            self.var = np.ones(rows.shape[1])
            self.v = np.zeros(rows.shape[1])
        return (rows - self.mu) / np.sqrt(self.var + 1e-6)

    def scores(self, base: np.ndarray, cache: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        """The corrected scores of candidates with offline scores `base`, cache features and ranker rows."""
        out = self.a * base + cache @ self.w
        if rows is not None and self.v is not None and self.v.shape[0] == rows.shape[1] and self.v.any():
            out = out + self._ranker_z(rows) @ self.v
        return out

    def observe(self, shown: Shown, name: str, accepted: bool = False) -> bool:
        """One event: `name` stood where `shown` was offered.  Updates the cache, and the correction when the
        name was among the kept items; True when the correction moved."""
        if accepted:
            self.events.accepted += 1
        else:
            self.events.typed += 1
        moved = False
        if name in shown.labels and len(shown.labels) > 1:
            self._step(shown, shown.labels.index(name))
            moved = True
            self.events.updates += 1
        self.observe_name(shown.context, name)
        return moved

    def _step(self, shown: Shown, target: int) -> None:
        """One step of softmax cross-entropy over the kept items, towards item `target`."""
        rows = shown.rows
        z = None
        if rows is not None:
            z = self._ranker_z(rows)
        s = self.a * shown.base + shown.cache @ self.w
        if z is not None and self.v is not None:
            s = s + z @ self.v
        s = s - s.max()
        p = np.exp(s)
        p /= p.sum()
        p[target] -= 1.0                                    # d loss / d score
        g_a = float(np.clip(p @ shown.base, -CLIP, CLIP))
        g_w = np.clip(p @ shown.cache, -CLIP, CLIP)
        cfg = self.config
        self.a -= cfg.lr_scale * (g_a + cfg.pull * (self.a - 1.0))
        self.w -= cfg.lr_cache * (g_w + cfg.pull * (self.w - np.asarray(cfg.w_prior)))
        if z is not None and self.v is not None:
            g_v = np.clip(p @ z, -CLIP, CLIP)
            self.v -= cfg.lr_ranker * (g_v + cfg.pull * self.v)
            # the running moments of the rows (after their use: the step saw the same standardisation)
            m = rows.mean(axis=0)
            self.mu += MOMENT_RATE * (m - self.mu)
            self.var += MOMENT_RATE * (((rows - self.mu) ** 2).mean(axis=0) - self.var)

    # -- size and persistence -----------------------------------------------------------------------------------
    def size(self) -> dict[str, int]:
        """How many contexts and entries the cache holds."""
        return {"contexts": sum(len(t) for t in self.tables.values()),
                "entries": sum(len(e) for t in self.tables.values() for e in t.values()) + len(self.names)}

    def empty(self) -> bool:
        return not self.names and self.clock == 0

    def to_json(self) -> dict[str, Any]:
        """The learner as a JSON-ready dictionary (weights in actual units; documents are not kept)."""
        s = self.scale

        def pairs(entries: dict) -> list:
            return [[n, round(e[0] / s, 6)] for n, e in entries.items() if e[0] / s > 1e-6]

        return {
            "format": FORMAT, "version": FORMAT_VERSION, "clock": self.clock,
            "events": {"accepted": self.events.accepted, "typed": self.events.typed, "updates": self.events.updates},
            "correction": {"a": self.a, "w": [float(x) for x in self.w], "cache_features": list(CACHE_FEATURES),
                           "v": None if self.v is None else [float(x) for x in self.v],
                           "mu": None if self.mu is None else [float(x) for x in self.mu],
                           "var": None if self.var is None else [float(x) for x in self.var]},
            "contexts": {str(k): [[key, pairs(entries)] for key, entries in self.tables[k].items()] for k in ORDERS},
            "names": pairs(self.names),
        }

    @classmethod
    def from_json(cls, data: Any, config: LearnerConfig = DEFAULT_CONFIG) -> "Learner":
        """A learner from `to_json`'s dictionary; raises ValueError for anything else (bounds are enforced)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a {FORMAT} file of version {FORMAT_VERSION}")
        out = cls(config)

        def weight(x: Any) -> float:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x < 0:
                raise ValueError(f"a weight must be a non-negative number, got {x!r}")
            return float(x)

        def entries_of(pairs: Any, limit: int) -> dict[str, list]:
            if not isinstance(pairs, list):
                raise ValueError("a context must hold a list of [name, weight] pairs")
            entries: dict[str, list] = {}
            for pair in pairs[:limit]:
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                    raise ValueError("a context entry must be [name, weight]")
                if pair[0] and len(pair[0]) <= MAX_NAME_LENGTH:
                    entries[pair[0]] = [weight(pair[1]), 0, 0.0]
            return entries

        contexts = data.get("contexts") or {}
        if not isinstance(contexts, dict):
            raise ValueError("`contexts` must be an object")
        for order in ORDERS:
            rows = contexts.get(str(order)) or []
            if not isinstance(rows, list):
                raise ValueError("contexts of one order must be a list")
            for row in rows[-MAX_CONTEXTS[order]:]:
                if not (isinstance(row, list) and len(row) == 2 and isinstance(row[0], str)):
                    raise ValueError("a context must be [key, entries]")
                if row[0].count("\x00") != order - 1:
                    continue
                out.tables[order][row[0]] = entries_of(row[1], MAX_NAMES[order])
        out.names = OrderedDict(entries_of(data.get("names") or [], 10 * MAX_UNIGRAMS))
        while len(out.names) > MAX_UNIGRAMS:
            out.names.popitem(last=False)
        out.total = sum(e[0] for e in out.names.values())
        clock = data.get("clock", 0)
        out.clock = int(clock) if isinstance(clock, int) and clock >= 0 else 0
        ev = data.get("events") or {}
        if isinstance(ev, dict):
            out.events = Events(*(int(ev.get(k, 0)) if isinstance(ev.get(k, 0), int) else 0
                                  for k in ("accepted", "typed", "updates")))
        corr = data.get("correction") or {}
        if isinstance(corr, dict) and corr.get("cache_features") == list(CACHE_FEATURES):
            a, w = corr.get("a"), corr.get("w")
            if isinstance(a, (int, float)) and math.isfinite(a) and isinstance(w, list) \
                    and len(w) == len(CACHE_FEATURES) and all(isinstance(x, (int, float)) and math.isfinite(x) for x in w):
                out.a, out.w = float(a), np.array(w, dtype=np.float64)
            vecs = [corr.get(k) for k in ("v", "mu", "var")]
            if all(isinstance(x, list) and x and len(x) == len(vecs[0]) and len(x) <= 4096
                   and all(isinstance(y, (int, float)) and math.isfinite(y) for y in x) for x in vecs):
                out.v, out.mu, out.var = (np.array(x, dtype=np.float64) for x in vecs)
                out.var = np.maximum(out.var, 1e-6)
        return out


# ----------------------------------------------------------------------------------------------- the session
def learning_file(folder: str) -> str:
    """Where a workspace folder's learner is kept when persistence is on."""
    return os.path.join(folder, FOLDER, FILE_NAME)


def _inside(path: str, folder: str) -> bool:
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


@dataclass
class Learning:
    """The learners of one editor session: one per workspace folder, one for documents outside them.

    `persist` off (the default): everything stays in memory, nothing is read or written.  On: a folder's learner
    is read from `learning_file(folder)` when the folder is first used, and `save` writes the learners that
    changed, each into its own folder's `.codecomp/` (never elsewhere: a `.codecomp` that leads outside the
    folder, through a link, is refused)."""

    folders: list[str] = field(default_factory=list)
    persist: bool = False
    config: LearnerConfig = DEFAULT_CONFIG
    learners: dict[str, Learner] = field(default_factory=dict)   # folder ("" outside every folder) -> learner
    problems: list[str] = field(default_factory=list)             # what could not be read or written, in words
    _dirty: set[str] = field(default_factory=set)
    _loaded: set[str] = field(default_factory=set)

    def set_folders(self, folders: Iterable[str]) -> None:
        """The workspace folders (absolute paths); learners of folders no longer open are dropped (saved
        first when persistence is on)."""
        new = [os.path.abspath(f) for f in folders]
        gone = [f for f in self.learners if f and f not in new]
        if gone and self.persist:
            self.save(gone)
        for f in gone:
            self.learners.pop(f, None)
            self._dirty.discard(f)
            self._loaded.discard(f)
        self.folders = new

    def set_persist(self, on: bool) -> None:
        """Turn persistence on or off (on: the folders' files are read when their learners are next used, and
        merged into nothing: a learner that already learned in memory keeps its state and is saved over it)."""
        self.persist = bool(on)
        if on:
            self._dirty.update(f for f, l in self.learners.items() if f and not l.empty())

    def folder_of(self, path: str | None) -> str:
        """The innermost workspace folder that contains `path` ("" for none, or no path)."""
        if not path:
            return ""
        best = ""
        for f in self.folders:
            if (path == f or path.startswith(f.rstrip(os.sep) + os.sep)) and len(f) > len(best):
                best = f
        return best

    def for_path(self, path: str | None) -> Learner:
        """The learner of the folder that contains `path` (made, or read when persistence is on, on first use)."""
        folder = self.folder_of(path)
        learner = self.learners.get(folder)
        if learner is None:
            learner = None
            if folder and self.persist and folder not in self._loaded:
                learner = self._load(folder)
            learner = self.learners[folder] = learner or Learner(self.config)
        return learner

    def touched(self, learner: Learner) -> None:
        """Note that `learner` changed (it is saved by the next `save` when persistence is on)."""
        for folder, l in self.learners.items():
            if l is learner and folder:
                self._dirty.add(folder)

    @property
    def dirty(self) -> bool:
        return bool(self._dirty) and self.persist

    def _load(self, folder: str) -> Learner | None:
        self._loaded.add(folder)
        path = learning_file(folder)
        try:
            if not os.path.isfile(path) or os.path.islink(path):
                return None
            if not _inside(os.path.dirname(path), folder):
                self.problems.append(f"{FOLDER} in {folder} leads outside the folder; it is not read")
                return None
            if os.path.getsize(path) > MAX_FILE_BYTES:
                self.problems.append(f"{path} is larger than {MAX_FILE_BYTES >> 20} MB; it is not read")
                return None
            with open(path, encoding="utf-8") as fh:
                return Learner.from_json(json.load(fh), self.config)
        except (OSError, ValueError, TypeError) as exc:
            self.problems.append(f"what was learned could not be read from {path} ({exc}); starting afresh")
            return None

    def save(self, folders: Iterable[str] | None = None) -> list[str]:
        """Write the changed learners of `folders` (all with None) when persistence is on; returns the files
        written.  Atomic per file (a temporary file in the same folder, then a rename)."""
        if not self.persist:
            return []
        written = []
        for folder in sorted(self._dirty if folders is None else set(folders) & self._dirty):
            learner = self.learners.get(folder)
            self._dirty.discard(folder)
            if learner is None or not folder:
                continue
            target_dir = os.path.join(folder, FOLDER)
            try:
                if not os.path.isdir(folder):
                    continue
                os.makedirs(target_dir, exist_ok=True)
                if os.path.islink(target_dir) or not _inside(target_dir, folder):
                    self.problems.append(f"{target_dir} leads outside the workspace folder; nothing is written")
                    continue
                ignore = os.path.join(target_dir, ".gitignore")
                if not os.path.exists(ignore):
                    with open(ignore, "w", encoding="utf-8") as fh:
                        fh.write("# written by codecomp: what it learned from you stays out of version control\n*\n")
                fd, tmp = tempfile.mkstemp(prefix=".learning-", suffix=".tmp", dir=target_dir)
                try:
                    with os.fdopen(fd, "w", encoding="utf-8") as fh:
                        json.dump(learner.to_json(), fh, separators=(",", ":"))
                    os.replace(tmp, os.path.join(target_dir, FILE_NAME))
                except BaseException:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                    raise
                written.append(os.path.join(target_dir, FILE_NAME))
            except OSError as exc:
                self.problems.append(f"what was learned could not be saved in {target_dir} ({exc})")
        return written

    def reset(self) -> list[str]:
        """Forget everything learned, in memory and in the folders' files (which are removed whether or not
        persistence is on now); returns the files removed."""
        removed = []
        for folder in {*self.folders, *(f for f in self.learners if f)}:
            path = learning_file(folder)
            try:
                if os.path.isfile(path) and not os.path.islink(path) and _inside(os.path.dirname(path), folder):
                    os.unlink(path)
                    removed.append(path)
            except OSError as exc:
                self.problems.append(f"{path} could not be removed ({exc})")
        for learner in self.learners.values():
            learner.reset()
        self.learners.clear()
        self._dirty.clear()
        # a reset learner is never re-read from a file: there is none now
        self._loaded = set(self.folders)
        return removed
