"""Where completion candidates come from.

Sources, strongest first: symbols of the file's scope analysis (declared in a scope enclosing the cursor),
members/properties seen in the file (at `.`, `->`, `::` positions), identifiers of this file (including those
after the cursor), identifiers of the other open documents of the same language, the model's most probable
vocabulary words, and the language's keywords.  Each candidate remembers its best source and a kind for the
editor's icon.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from codecomp.syntax import KEYWORDS, TokenKind
from codecomp.engine.lexing import is_identifier
from codecomp.engine.session import Document

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
SOURCE_ORDER = ("scope", "member", "file", "documents", "model", "copy", "keyword")
MAX_WORDS = 300  # with no typed prefix, at most this many frequent identifiers per document are scored


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
    names: Counter[str] = Counter()
    by_receiver: dict[str, Counter[str]] = {}
    for receiver, member in pattern.findall(base):
        name = member.decode("utf-8", "replace")
        if not member.isascii() and not is_identifier(name):
            continue  # a non-ASCII symbol such as `→` that the byte pattern let through
        names[name] += 1
        if receiver:
            by_receiver.setdefault(receiver.decode("utf-8", "replace"), Counter())[name] += 1
    doc.extra[family] = (base, names, by_receiver)
    return names, by_receiver


def receiver_before(doc: Document, start: int) -> str | None:
    """The identifier before the member-access operator that precedes `start` (`item` in `item.na|`)."""
    m = _RECEIVER.search(doc.source, max(0, start - 200), start)
    return m.group(1).decode("utf-8", "replace") if m else None


def scope_hints(doc: Document, cursor: int) -> tuple[set[str], dict[str, str]]:
    """(names visible at the cursor, kind of each declared name) from the scope analysis for this request.

    An analysis of the current text (`exact`) is used as it is.  One of an earlier text (a long file whose
    analysis is still running in the background) only contributes names that occur in the current text: it
    must never bring back a name that was deleted since.
    """
    view = doc.scopes(cursor)
    if view is None:
        return set(), {}
    info = view.analysis.info
    present = (lambda name: True) if view.exact else (
        lambda name: doc.idents.get(name.encode("utf-8", "surrogatepass"), 0) > 0)
    kinds: dict[str, str] = {}
    for sym in info.symbols:
        if sym.name not in kinds and present(sym.name):
            kinds[sym.name] = _SYMBOL_KINDS.get(sym.kind, "identifier")
    try:
        visible = {s.name for s in info.visible_at(view.position) if s.name in kinds}
    except Exception:  # a hint only
        visible = set()
    return visible, kinds


def _words(idents: Counter[bytes], prefix: str, near: set[bytes] | None) -> list[tuple[bytes, int]]:
    """The identifiers of a document worth scoring: those whose first character matches the typed prefix (every
    match tier needs that); with no prefix, the `MAX_WORDS` most frequent plus those near the cursor, so the work
    per request stays bounded in files with thousands of distinct names."""
    if prefix:
        first = prefix[:1].encode("utf-8", "replace")
        alt = first.swapcase()
        return [(w, n) for w, n in idents.items() if w[:1] == first or w[:1] == alt]
    if len(idents) <= MAX_WORDS:
        return list(idents.items())
    chosen = dict(idents.most_common(MAX_WORDS))
    for w in near or ():
        if w in idents:
            chosen[w] = idents[w]
    return list(chosen.items())


def gather(doc: Document, others: list[Document], cursor: int, prefix: str, member_op: str | None,
           model_words: list[str] | None = None, copy_words: list[str] | None = None,
           near: set[bytes] | None = None) -> dict[str, Pool]:
    """All candidates for a position, keyed by label (`near`: identifiers close to the cursor)."""
    pool: dict[str, Pool] = {}
    keywords = KEYWORDS.get(doc.lang, frozenset())
    visible, kinds = scope_hints(doc, cursor)
    # members are counted without the word at the cursor: the occurrence being typed is not evidence for itself
    members, by_receiver = member_names(doc, member_op, cursor) if member_op else (Counter(), {})
    pstart = cursor - len(prefix.encode("utf-8"))
    same_receiver = by_receiver.get(receiver_before(doc, pstart) or "", Counter()) if member_op else Counter()

    def add(label: str, source: str, kind: str | None = None) -> Pool:
        entry = pool.get(label)
        if entry is None:
            entry = pool[label] = Pool(label, kind or kinds.get(label, "identifier"), source)
        elif SOURCE_ORDER.index(source) < SOURCE_ORDER.index(entry.source):
            entry.source = source
        return entry

    for raw, count in _words(doc.idents, prefix, near):
        label = raw.decode("utf-8", "replace")
        if label in keywords:
            continue
        # the word being typed is itself in the file once: it is not a suggestion on its own account
        if label == prefix and count <= 1:
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
    for word in model_words or ():
        if is_identifier(word) and word not in keywords:
            add(word, "model")
    for word in copy_words or ():
        if is_identifier(word) and word not in keywords:
            add(word, "copy")
    if not member_op or member_op == "::":
        for kw in keywords:
            add(kw, "keyword", "keyword")
    return pool


def is_completable_token(kind: TokenKind) -> bool:
    """Token kinds a completion may produce as a list item (identifiers and keywords)."""
    return kind in (TokenKind.IDENTIFIER, TokenKind.KEYWORD)
