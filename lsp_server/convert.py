"""Small converters from the engine's results (`codecomp.engine.types`, docs/design.md section 5) to LSP types.

The lexical fallback returns the same `Completion` type, so its results go through the same path.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from lsprotocol import types

from codecomp.engine.types import Completion, Range
from lsp_server.documents import Document

# every candidate kind of the engine (`codecomp.engine.types.KINDS`) -> its LSP item kind
KINDS: dict[str, types.CompletionItemKind] = {
    "variable": types.CompletionItemKind.Variable,
    "function": types.CompletionItemKind.Function,
    "class": types.CompletionItemKind.Class,
    "field": types.CompletionItemKind.Field,
    "keyword": types.CompletionItemKind.Keyword,
    "identifier": types.CompletionItemKind.Text,
    "fragment": types.CompletionItemKind.Snippet,
}


def sort_text(rank: int) -> str:
    """Zero-padded rank: clients sort by this string, which keeps the engine's order."""
    return f"{rank:05d}"


def edit_range(doc: Document, start: int, end: int, encoding: str) -> types.Range:
    return types.Range(start=doc.position_at(start, encoding), end=doc.position_at(end, encoding))


Command = Callable[[str], "types.Command | None"]


def completion_items(
    result: Completion, doc: Document, start: int, end: int, encoding: str, max_items: int,
    command: Command | None = None,
) -> list[types.CompletionItem]:
    """Ranked completion items replacing text[start:end] (the typed prefix); `command(label)`: the command an
    item carries (run by the editor when the user accepts it), None for none."""
    rng = edit_range(doc, start, end, encoding)
    items: list[types.CompletionItem] = []
    seen: set[str] = set()
    for cand in result.items[:max_items]:
        label = cand.label
        if not label or label in seen:
            continue
        seen.add(label)
        detail = cand.detail or cand.source
        items.append(
            types.CompletionItem(
                label=label,
                kind=KINDS.get(cand.kind, types.CompletionItemKind.Text),
                detail=detail or None,
                sort_text=sort_text(len(items)),
                filter_text=label,
                text_edit=types.TextEdit(range=rng, new_text=label),
                command=command(label) if command is not None else None,
            )
        )
    fragment = result.fragment
    if fragment is not None and len(items) < max_items:
        typed = doc.text[start:end]
        text = fragment.text  # replaces the typed prefix, like a label
        if text.strip() and text != typed and text.startswith(typed) and text not in seen:
            first = text.splitlines()[0] if text.splitlines() else text
            items.append(
                types.CompletionItem(
                    label=first if len(first) <= 60 else first[:57] + "...",
                    kind=types.CompletionItemKind.Snippet,
                    detail="codecomp: predicted code",
                    sort_text=sort_text(len(items)),
                    filter_text=text,
                    insert_text_format=types.InsertTextFormat.PlainText,
                    text_edit=types.TextEdit(range=rng, new_text=text),
                )
            )
    return items


def inline_items(result: Completion, doc: Document, start: int, end: int, encoding: str,
                 command: Command | None = None) -> list[types.InlineCompletionItem]:
    """Ghost text: the engine's fragment (else the best identifier) continuing what is typed; `command(text)`:
    the command an item inserting `text` carries."""
    typed = doc.text[start:end]
    texts: list[str] = []
    frag_text = result.fragment.text if result.fragment is not None else ""
    if frag_text.strip() and frag_text.startswith(typed) and frag_text != typed:
        texts.append(frag_text)
    if result.items and typed:
        label = result.items[0].label
        if label.startswith(typed) and label != typed:
            texts.append(label)
    rng = edit_range(doc, start, end, encoding)
    return [types.InlineCompletionItem(insert_text=text, range=rng,
                                       command=command(text) if command is not None else None)
            for text in dict.fromkeys(texts)]


def occurrence_offsets(doc: Document, occurrences: Iterable[Range]) -> list[tuple[int, int]]:
    """Code-point spans of a symbol's occurrences, given as engine ranges ((line, utf16_col), (line, utf16_col))."""
    spans: set[tuple[int, int]] = set()
    for start, end in occurrences:
        a, b = doc.engine_offset(*start), doc.engine_offset(*end)
        if 0 <= a < b <= len(doc.text):
            spans.add((a, b))
    return sorted(spans)
