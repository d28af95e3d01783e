"""Where completion candidates come from.

Sources, strongest first: symbols of the file's scope analysis (declared in a scope enclosing the cursor),
members/properties seen in the file or declared by the receiver's type in the project (at `.`, `->`, `::`
positions), identifiers of this file (including those after the cursor), identifiers of the other open
documents of the same language, the project (the workspace index: its identifiers for the typed prefix, the
words that followed the same tokens elsewhere in the project, and members used after the same receiver), the
model's most probable vocabulary words, and the language's keywords.  Each candidate remembers its best source
and a kind for the editor's icon.
"""
from __future__ import annotations

import os
import re
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from codecomp.syntax import KEYWORDS
from codecomp.engine.lexing import (IDENT_BYTES, WORD_BYTES, find_identifiers, is_identifier,
                                    split_identifiers)
from codecomp.engine.session import Document, line_bounds
from codecomp.syntax.parsed import changed_span

_IDENT_SPLIT = re.compile(r"([A-Za-z_$][A-Za-z0-9_$]*)")  # IDENT_BYTES on an all-ASCII window decoded to str

# identifier bytes: ASCII word characters and `$`, and any non-ASCII byte (see `lexing.IDENT_BYTES`)
_W = rb"[A-Za-z_$\x80-\xff][A-Za-z0-9_$\x80-\xff]*"
# A receiver starts at a word boundary (the look-behind): without it the regular-expression engine retries every
# position inside every word, which made a scan of a long file several times slower.
_RECV = rb"(?:(?<![A-Za-z0-9_$\x80-\xff])(" + _W + rb")[ \t]*)?"
_MEMBER_USE = re.compile(_RECV + rb"(?:\?\.|->|\.)[ \t]*(" + _W + rb")")
_QUALIFIED_USE = re.compile(_RECV + rb"::[ \t]*(" + _W + rb")")
_RECEIVER = re.compile(rb"(" + _W + rb")[ \t]*(?:\?\.|->|\.|::)[ \t]*\Z")
_SYMBOL_KINDS = {"variable": "variable", "parameter": "variable", "function": "function", "method": "function",
                 "class": "class", "field": "field"}
# Source priority: a candidate found by several sources keeps the first of these.
SOURCE_ORDER = ("scope", "member", "file", "documents", "project", "model", "copy", "keyword")
_SOURCE_RANK = {source: i for i, source in enumerate(SOURCE_ORDER)}
MAX_WORDS = 300  # with no typed prefix, at most this many frequent identifiers per document are scored
MAX_PREFIX_WORDS = 3000  # with a typed prefix, at most this many identifiers per document are scored
# project identifiers per request: with nothing typed the most frequent (and those declared in included files),
# with a prefix the most frequent that start with it; the count bounds the scoring work per keystroke
PROJECT_WORDS = 300
PROJECT_PREFIXED = 200
PROJECT_NGRAM_WORDS = 60   # words that followed the same tokens elsewhere in the project
# the workspace index's declaration kinds -> the engine's candidate kinds (the editor's icons)
_PROJECT_KINDS = {"namespace": "class", "class": "class", "enum": "class", "typedef": "class", "function": "function",
                  "method": "function", "field": "field", "variable": "variable", "enumerator": "variable",
                  "macro": "variable", "export": "identifier", "identifier": "identifier"}


@dataclass(slots=True)
class Pool:
    """One candidate before scoring."""

    label: str
    kind: str
    source: str
    count: int = 0          # occurrences in this file
    other_count: int = 0    # occurrences in other open documents
    in_scope: bool = False
    member: bool = False    # seen after a member-access operator in this file
    member_count: int = 0   # how often it was used that way
    receiver_count: int = 0  # ... on the same receiver as at the cursor (`item.` -> names seen after `item.`)
    project_count: int = 0  # occurrences in the project's other files (after the same receiver, for members)
    project_related: bool = False  # declared in a file this one includes / imports, or in a companion file
    typed_member: bool = False     # declared by the receiver's known type (or exported by its module)


@dataclass
class ProjectContext:
    """What the workspace index says at one position, looked up once per (analysis text, prefix start).

    `identifiers` is filled per typed prefix (`project_lookup`); the rest depends only on the text before
    the word being typed."""

    path: str
    context: list[bytes]                     # code tokens before the word (for `WorkspaceIndex.ngram_scores`)
    ngram_words: list[tuple[str, int]]       # what followed the same tokens in the project
    members: Any = None                      # `MemberCompletion` at `.`, `->`, `::`, else None
    companions: list[tuple[str, str]] = field(default_factory=list)  # (name, kind) declared in companion files
    identifiers: dict[str, list] = field(default_factory=dict)  # prefix -> [ProjectIdentifier]
    type_names: frozenset[str] = frozenset()  # C++ at `.` / `->`: types and namespaces the file can see
    after: list[bytes] = field(default_factory=list)  # code tokens after the word, nearest first (may be none)
    after_lift: dict[str, float] = field(default_factory=dict)  # label -> lift before `after` (filled on demand)


def project_lookup(index: Any, path: str, doc: Document, pstart: int, prefix: str, member_op: str | None
                   ) -> ProjectContext:
    """The project's evidence at a position, cached in the document under the analysis text, the prefix start
    and the index's generation: a function of the text, the cursor and the index contents (docs/design.md,
    Freshness), computed once per word and reused while it is typed."""
    from codecomp.engine.workspace import context_after, context_at

    cursor = pstart + len(prefix.encode("utf-8", "surrogatepass"))
    base, cut, _ = doc.analysis_text(cursor)
    generation = index.generation
    cached = doc.extra.get("project")
    if cached is not None and cached[1] == cut and cached[2] == generation and cached[3] == path \
            and (cached[0] is base or cached[0] == base):
        ctx: ProjectContext = cached[4]
    else:
        context = context_at(base, cut, doc.lang)
        members = index.member_completion(path, base, cut, exclude_self=True) if member_op else None
        ctx = ProjectContext(path, context, index.ngram_words(path, context, PROJECT_NGRAM_WORDS), members,
                             [] if member_op else companion_declarations(index, path))
        ctx.after = context_after(base, cut, doc.lang)
        if member_op in (".", "->") and doc.lang == "cpp":
            ctx.type_names = frozenset(name for name, d in index.related_declarations(path).items()
                                       if d.kind in ("class", "namespace", "enum", "typedef"))
        doc.extra["project"] = (base, cut, generation, path, ctx)
    if prefix not in ctx.identifiers and not (member_op and member_op != "::"):
        ctx.identifiers[prefix] = _prefixed(index, path, ctx, prefix)
    return ctx


# index -> (change-log mark, {(folder, stem): [paths]}): the companion map, kept up to date from the index's log
_COMPANIONS: "weakref.WeakKeyDictionary[Any, tuple[int, dict[tuple[str, str], list[str]]]]" = \
    weakref.WeakKeyDictionary()


def _stem_key(path: str) -> tuple[str, str]:
    """(folder, name up to its first dot): `src/widget.h` and `src/widget.cc` share it."""
    folder, name = os.path.split(path)
    return folder, name.split(".", 1)[0]


def companion_files(index: Any, path: str) -> list[str]:
    """Indexed files in the same folder with the same stem (the header of a source file and back): what a
    header declares, its source file defines, so each is the best evidence for the other's names.  The map of
    stems follows the paths the index changed (`changes_since`) instead of being built again: in a workspace of
    15,000 files that took 20 ms of a request."""
    cached = _COMPANIONS.get(index)
    changed, now = index.changes_since(cached[0] if cached is not None else None)
    if cached is None or changed is None:
        stems: dict[tuple[str, str], list[str]] = {}
        for p, entry in list(index.files.items()):
            if not entry.external:
                stems.setdefault(_stem_key(p), []).append(p)
        for paths in stems.values():
            paths.sort()
    else:
        stems = cached[1]
        files = index.files
        for p in set(changed):
            key = _stem_key(p)
            paths = [q for q in stems.get(key, ()) if q != p]
            entry = files.get(p)
            if entry is not None and not entry.external:
                paths = sorted(paths + [p])
            if paths:
                stems[key] = paths
            else:
                stems.pop(key, None)
    _COMPANIONS[index] = (now, stems)
    return [p for p in stems.get(_stem_key(path), ()) if p != path]


# index -> {path: (declarations version, [(name, kind)])}: companions' declarations, decoded once per change
_COMPANION_DECLS: "weakref.WeakKeyDictionary[Any, dict[str, tuple[tuple[int, int], list]]]" = \
    weakref.WeakKeyDictionary()


def companion_declarations(index: Any, path: str, limit: int = MAX_WORDS) -> list[tuple[str, str]]:
    """(name, kind) of what the companion files declare (at most `limit`), cached until a file's declarations
    or the set of files change."""
    stamp = (index.decl_version, index.relations_version)
    per_path = _COMPANION_DECLS.setdefault(index, {})
    cached = per_path.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    out: dict[str, str] = {}
    for other in companion_files(index, path):
        for d in index.file_declarations(other):
            if d.kind not in ("base", "export") and len(out) < limit:
                out.setdefault(d.name, d.kind)
    if len(per_path) > 64:  # one entry per open document is all that is needed
        per_path.clear()
    per_path[path] = (stamp, list(out.items()))
    return per_path[path][1]


def _prefixed(index: Any, path: str, ctx: ProjectContext, prefix: str) -> list:
    """Project identifiers for a prefix; while a word is typed, the list of the prefix one character shorter
    is filtered when it was complete (shorter than its bound), which saves an index query per keystroke."""
    shorter = ctx.identifiers.get(prefix[:-1]) if len(prefix) > 1 else None
    if shorter is not None and len(shorter) < PROJECT_PREFIXED:
        # the index's rule: a prefix of the UTF-8 spelling with ASCII letters folded
        low = prefix.encode("utf-8", "surrogatepass").lower()
        return [p for p in shorter if p.name.encode("utf-8", "surrogatepass").lower().startswith(low)]
    return index.identifiers(path, prefix, limit=PROJECT_PREFIXED if prefix else PROJECT_WORDS)


def code_text(doc: Document, cursor: int) -> tuple[bytes, int]:
    """The analysed text (`Document.analysis_text`: the document without the word at the cursor) with every
    comment and string, char or regex literal (and C++ preprocessor directive word) blanked to spaces, and the
    cursor's offset in it.

    Offsets are those of the analysed text, so scans of it can report positions.  Names that occur only inside
    comments and literals are not code: they are never file candidates, member uses or occurrences.  Cached
    under the analysed text, like the other per-position analyses."""
    base, cut, _cut_end = doc.analysis_text(cursor)
    cached = doc.extra.get("code_text")
    if cached is not None and (cached[0] is base or cached[0] == base):
        return cached[1], cut
    _base, ranges = doc.request_literal_ranges(cursor)  # the literals of the analysed text itself
    parts: list[bytes] = []
    pos = 0
    for s, e in ranges:
        if s < pos:
            continue
        parts.append(base[pos:s])
        parts.append(b" " * (e - s))
        pos = e
    parts.append(base[pos:])
    text = b"".join(parts)
    doc.extra["code_text"] = (base, text)
    return text, cut


# How far either side of the cursor the learned ranker looks for a candidate's nearest uses (bytes of code).
NEAR_SPAN = 4_096


def nearby_uses(doc: Document, cursor: int, span: int = NEAR_SPAN) -> tuple[dict[str, int], dict[str, int], int]:
    """(offset of the last use of each name before the cursor, offset of its first use after it, the cursor's
    offset), for the identifiers of the code (`code_text`: comments and literals left out) within `span` bytes
    either side of the cursor.

    Only a window is scanned, so the cost per request does not grow with the file, and the tables are built by
    C-level loops (a dict built from (name, offset) pairs keeps the last pair of each name); cached under the
    analysed text and the cursor (typing inside a word keeps both)."""
    text, cut = code_text(doc, cursor)
    cached = doc.extra.get("nearby_uses")
    if cached is not None and cached[0] is text and cached[1] == cut:
        return cached[2], cached[3], cut
    lo, hi = max(0, cut - span), min(len(text), cut + span)
    # a word cut by the window's edge is not a use of that shorter name: move the edges out of words
    while lo > 0 and text[lo - 1] in WORD_BYTES and lo < cut:
        lo += 1
    while hi < len(text) and text[hi] in WORD_BYTES and hi > cut:
        hi -= 1
    before = _uses(text, lo, cut)
    after = _uses(text, cut, hi)
    last_before = dict(zip(before[0], before[1]))
    first_after = dict(zip(reversed(after[0]), reversed(after[1])))
    doc.extra["nearby_uses"] = (text, cut, last_before, first_after)
    return last_before, first_after, cut


def _uses(text: bytes, lo: int, hi: int) -> tuple[list[str], list[int]]:
    """(names, offsets) of the identifiers in text[lo:hi], in order."""
    window = text[lo:hi]
    if window.isascii():
        # split with a capturing group alternates separators and names; the running sum of the lengths gives
        # every name's offset (no match object per name)
        parts = _IDENT_SPLIT.split(window.decode("ascii"))
        ends = list(accumulate(map(len, parts), initial=lo))
        return parts[1::2], ends[1:-1:2]
    names: list[str] = []
    offsets: list[int] = []
    for m in IDENT_BYTES.finditer(text, lo, hi):
        raw = m.group()
        if raw.isascii():
            names.append(raw.decode())
            offsets.append(m.start())
        else:  # a non-ASCII run may hold several names, or symbols that are none
            for word in split_identifiers(raw):
                names.append(word.decode("utf-8", "replace"))
                offsets.append(m.start() + raw.find(word))
    return names, offsets


def changed_lines(old: bytes, new: bytes) -> tuple[int, int, int] | None:
    """(lo, old_hi, new_hi): the whole lines old[lo:old_hi] that became new[lo:new_hi], the rest of both texts
    being the same; None when those lines are more than half of the new text (a scan of it all costs as much).

    Names and member uses never span a line break, so a count over a text is the count over the earlier text
    minus its changed lines plus the new ones: what runs on every keystroke then reads a few lines, not the
    file."""
    start, old_end, new_end = changed_span(old, new)
    lo, old_hi = line_bounds(old, start, old_end)
    _, new_hi = line_bounds(new, start, new_end)  # (the texts agree up to `start`: the line starts at `lo` in both)
    if (old_hi - lo) + (new_hi - lo) > len(new) // 2:
        return None
    return lo, old_hi, new_hi


def code_counts(doc: Document, cursor: int) -> Counter[bytes]:
    """How often each identifier occurs in the code of the analysed text (the word at the cursor excluded).

    Counted without offsets (a C-speed scan): this runs on every keystroke that is not part of a word, while
    the offsets of `occurrences` are only needed by the learned ranker.  The counts of the previous text are
    brought up to date from the lines that differ (`changed_lines`) when those are few."""
    text, _ = code_text(doc, cursor)
    cached = doc.extra.get("code_counts")
    if cached is not None and cached[0] is text:
        return cached[1]
    lines = changed_lines(cached[0], text) if cached is not None else None
    if lines is None:
        counts = Counter(find_identifiers(text))
    else:
        lo, old_hi, new_hi = lines
        counts = cached[1].copy()
        removed = find_identifiers(cached[0], lo, old_hi)
        counts.subtract(removed)
        counts.update(find_identifiers(text, lo, new_hi))
        for word in removed:
            if counts.get(word, 1) <= 0:
                del counts[word]
    doc.extra["code_counts"] = (text, counts)
    return counts


def member_names(doc: Document, op: str, cursor: int) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """Identifiers used after `op`'s family anywhere in the document, overall and per receiver (`item` in
    `item.name`), the word at the cursor left out.

    Object members (after `.`, `->`, `?.`) and qualified names (after `::`) are separate families: `std::string`
    says nothing about what follows `items.`.  The scan reads `Document.analysis_text(cursor)` (the text without
    the word being typed) and is cached under exactly that text, so it is a function of the text and the cursor:
    typing a member name reuses it, and any other edit, a deletion above all, is rescanned before it is used.
    """
    family = "qualified" if op == "::" else "members"
    base, _cut, _end = doc.analysis_text(cursor)
    cached = doc.extra.get(family)
    if cached is not None and cached[0] == base:
        return cached[1], cached[2]
    pattern = _QUALIFIED_USE if family == "qualified" else _MEMBER_USE
    # comments and strings are blanked: `require('./foo.js')` is no use of a member `js`
    code = code_text(doc, cursor)[0]
    lines = changed_lines(cached[3], code) if cached is not None else None
    if lines is None:
        names: Counter[str] = Counter()
        by_receiver: dict[str, Counter[str]] = {}
        _count_member_uses(pattern, code, 0, len(code), 1, names, by_receiver, None)
    else:
        # the previous scan, less the uses on the lines that changed, plus those on their new text; the
        # previous tables are left as they are (earlier answers may hold them): what changes is copied
        lo, old_hi, new_hi = lines
        names, by_receiver, copied = cached[1].copy(), dict(cached[2]), set()
        _count_member_uses(pattern, cached[3], lo, old_hi, -1, names, by_receiver, copied)
        _count_member_uses(pattern, code, lo, new_hi, 1, names, by_receiver, copied)
        for name in [n for n, c in names.items() if c <= 0]:
            del names[name]
        for receiver in copied:
            counts = by_receiver[receiver]
            for name in [n for n, c in counts.items() if c <= 0]:
                del counts[name]
            if not counts:
                del by_receiver[receiver]
    doc.extra[family] = (base, names, by_receiver, code)
    return names, by_receiver


def _count_member_uses(pattern: re.Pattern, code: bytes, lo: int, hi: int, sign: int, names: Counter[str],
                       by_receiver: dict[str, Counter[str]], copied: set[str] | None) -> None:
    """Add `sign` for every member use in code[lo:hi] to `names` and `by_receiver`; the receivers' counters
    named in `copied` are this scan's own, the others are copied before they change (None: all are its own)."""
    for receiver, member in pattern.findall(code, lo, hi):
        name = member.decode("utf-8", "replace")
        if not member.isascii() and not is_identifier(name):
            continue  # a non-ASCII symbol such as `→` that the byte pattern let through
        names[name] += sign
        if receiver:
            key = receiver.decode("utf-8", "replace")
            if copied is not None and key not in copied:
                by_receiver[key] = Counter(by_receiver.get(key, ()))
                copied.add(key)
            by_receiver.setdefault(key, Counter())[name] += sign


def receiver_before(doc: Document, start: int) -> str | None:
    """The identifier before the member-access operator that precedes `start` (`item` in `item.na|`)."""
    m = _RECEIVER.search(doc.source, max(0, start - 200), start)
    return m.group(1).decode("utf-8", "replace") if m else None


class _StillPresent:
    """The kinds of an earlier text's declared names, restricted to the names that still occur in the current
    text (`Document.idents`); asked per name, so a request pays for the names it looks up, not for the thousands
    a long file declares."""

    __slots__ = ("declared", "idents")

    def __init__(self, declared: dict[str, str], idents: Counter[bytes]) -> None:
        self.declared, self.idents = declared, idents

    def get(self, name: str, default: str | None = None) -> str | None:
        kind = self.declared.get(name)
        if kind is None or self.idents.get(name.encode("utf-8", "surrogatepass"), 0) <= 0:
            return default
        return kind

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None


def scope_hints(doc: Document, cursor: int, prefix: str = "") -> tuple[set[str], dict[str, str] | _StillPresent]:
    """(names visible at the cursor that can match `prefix`, kind of each declared name) from the scope analysis
    for this request.  Every match tier needs the first character (case aside, `match_tier`): a name that starts
    otherwise is not looked at, which matters where thousands of names are in scope (a bundle's wrapper).

    An analysis of the current text (`exact`) is used as it is.  One of an earlier text (a long file whose
    analysis is still running in the background) only contributes names that occur in the current text: it
    must never bring back a name that was deleted since.
    """
    view = doc.scopes(cursor)
    if view is None:
        return set(), {}
    info = view.analysis.info
    # the kind of each declared name (its first declaration's), once per analysis
    cached = doc.extra.get("scope_kinds")
    if cached is not None and cached[0] is view.analysis:
        declared = cached[1]
    else:
        declared = {}
        for sym in info.symbols:
            if sym.name not in declared:
                declared[sym.name] = _SYMBOL_KINDS.get(sym.kind, "identifier")
        doc.extra["scope_kinds"] = (view.analysis, declared)
    kinds = declared if view.exact else _StillPresent(declared, doc.idents)
    first = prefix[:1].lower()
    try:
        visible = {s.name for s in info.visible_at(view.position)
                   if (not first or s.name[:1].lower() == first) and s.name in kinds}
    except Exception:  # a hint only
        visible = set()
    return visible, kinds


def _words(idents: Counter[bytes], prefix: str, near: set[bytes] | None) -> list[tuple[bytes, int]]:
    """The identifiers of a document worth scoring: those whose first character matches the typed prefix (every
    match tier needs that; at most `MAX_PREFIX_WORDS`); with no prefix, the `MAX_WORDS` most frequent plus those
    near the cursor, so the work per request stays bounded in files with thousands of distinct names."""
    if prefix:
        first = prefix[:1].encode("utf-8", "replace")
        alt = first.swapcase()
        words = [(w, n) for w, n in idents.items() if w[:1] == first or w[:1] == alt]
        if len(words) <= MAX_PREFIX_WORDS:
            return words
        # thousands of names share the first letter (a generated file): those that start with the whole prefix
        # (any case), the most frequent first, then the rest by frequency, plus the names near the cursor
        low = prefix.lower().encode("utf-8", "replace")
        words.sort(key=lambda wn: (not wn[0].lower().startswith(low), -wn[1]))
        chosen = dict(words[:MAX_PREFIX_WORDS])
        for w in near or ():
            if w in idents and (w[:1] == first or w[:1] == alt):
                chosen[w] = idents[w]
        return list(chosen.items())
    if len(idents) <= MAX_WORDS:
        return list(idents.items())
    chosen = dict(idents.most_common(MAX_WORDS))
    for w in near or ():
        if w in idents:
            chosen[w] = idents[w]
    return list(chosen.items())


def gather(doc: Document, others: list[Document], cursor: int, prefix: str, member_op: str | None,
           model_words: list[str] | None = None, copy_words: list[str] | None = None,
           near: set[bytes] | None = None, project: ProjectContext | None = None,
           timings: dict[str, float] | None = None) -> dict[str, Pool]:
    """All candidates for a position, keyed by label (`near`: identifiers close to the cursor; `project`: the
    workspace index's evidence, None without project context; `timings`: gets the milliseconds of the two
    analyses of the whole text, "scopes" and "code", the literals blanked out and the identifiers counted)."""
    pool: dict[str, Pool] = {}
    keywords = KEYWORDS.get(doc.lang, frozenset())
    t0 = time.perf_counter()
    visible, kinds = scope_hints(doc, cursor, prefix)
    t1 = time.perf_counter()
    counts = code_counts(doc, cursor)
    if timings is not None:
        timings["scopes"] = round((t1 - t0) * 1e3, 3)
        timings["code"] = round((time.perf_counter() - t1) * 1e3, 3)
    # members are counted without the word at the cursor: the occurrence being typed is not evidence for itself
    members, by_receiver = member_names(doc, member_op, cursor) if member_op else (Counter(), {})
    pstart = cursor - len(prefix.encode("utf-8"))
    same_receiver = by_receiver.get(receiver_before(doc, pstart) or "", Counter()) if member_op else Counter()

    def add(label: str, source: str, kind: str | None = None) -> Pool:
        entry = pool.get(label)
        if entry is None:
            entry = pool[label] = Pool(label, kind or kinds.get(label, "identifier"), source)
        elif _SOURCE_RANK[source] < _SOURCE_RANK[entry.source]:
            entry.source = source
        return entry

    # the code's own names (not those of comments and strings), the word being typed not counted
    for raw, count in _words(counts, prefix, near):
        label = raw.decode("utf-8", "replace")
        if label in keywords:
            continue
        entry = add(label, "file")
        entry.count = count
    for other in others:
        if other is doc or other.lang != doc.lang:
            continue
        for raw, count in _words(other.idents, prefix, None):
            label = raw.decode("utf-8", "replace")
            if label in keywords:
                continue
            entry = add(label, "documents")
            entry.other_count += count
    for name in visible:
        if name != prefix or doc.idents.get(name.encode(), 0) > 1:
            add(name, "scope").in_scope = True
    if member_op:
        for name, count in members.items():
            entry = add(name, "member", kinds.get(name, "field"))
            entry.member = True
            entry.member_count = count
            entry.receiver_count = same_receiver.get(name, 0)
            if entry.kind == "identifier":
                entry.kind = "field"
    if project is not None:
        _add_project(project, prefix, member_op, keywords, add)
    for word in model_words or ():
        if is_identifier(word) and word not in keywords:
            add(word, "model")
    for word in copy_words or ():
        if is_identifier(word) and word not in keywords:
            add(word, "copy")
    if not member_op or member_op == "::":
        for kw in keywords:
            add(kw, "keyword", "keyword")
    if member_op in (".", "->") and doc.lang == "cpp":
        # after `w.` / `p->` a C++ type or namespace is not a member (a constructor is not called that way
        # either), unless the code itself uses the name after a member operator
        types = project.type_names if project is not None else frozenset()
        for label in [label for label, e in pool.items()
                      if (e.kind == "class" or label in types) and not e.member]:
            del pool[label]
    return pool


def _add_project(project: ProjectContext, prefix: str, member_op: str | None, keywords: frozenset[str],
                 add: Any) -> None:
    """The project's candidates (see `ProjectContext`): identifiers for the prefix, n-gram continuations, and
    at a member access the receiver type's declared members ("member", `typed_member`) and the members used
    after the same receiver elsewhere in the project ("project", `member`)."""
    for p in project.identifiers.get(prefix, ()):
        if p.name in keywords:
            continue
        entry = add(p.name, "project", _PROJECT_KINDS.get(p.kind, "identifier"))
        entry.project_count = max(entry.project_count, p.count)
        entry.project_related = entry.project_related or p.related
    for name, _count in project.ngram_words:
        if name not in keywords and is_identifier(name):
            entry = add(name, "project")
            entry.member = entry.member or bool(member_op)  # after `x .`, the project's words are members
    low = prefix.lower()
    for name, kind in project.companions:
        if name.lower().startswith(low) and name not in keywords:
            entry = add(name, "project", _PROJECT_KINDS.get(kind, "identifier"))
            entry.project_related = True
    if member_op and project.members is not None:
        for m in project.members.members:
            if m.name in keywords or not is_identifier(m.name):
                continue
            typed = m.source in ("declared", "export")
            kind = _PROJECT_KINDS.get(m.kind, "field")
            entry = add(m.name, "member" if typed else "project", "field" if kind == "identifier" else kind)
            entry.member = True
            entry.typed_member = entry.typed_member or typed
            entry.project_count = max(entry.project_count, m.count)
            if entry.kind == "identifier":
                entry.kind = "field"
