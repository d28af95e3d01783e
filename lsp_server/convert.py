"""Small converters from engine results (docs/design.md section 5) to LSP types.

They read engine objects by attribute only, so the lexical fallback's results go through the same path.
"""
from __future__ import annotations

from typing import Any, Iterable

from lsprotocol import types

from lsp_server.documents import Document

KINDS: dict[str, types.CompletionItemKind] = {
    "variable": types.CompletionItemKind.Variable,
    "function": types.CompletionItemKind.Function,
    "class": types.CompletionItemKind.Class,
    "field": types.CompletionItemKind.Field,
    "method": types.CompletionItemKind.Method,
    "keyword": types.CompletionItemKind.Keyword,
    "identifier": types.CompletionItemKind.Text,
    "fragment": types.CompletionItemKind.Snippet,
}


def sort_text(rank: int) -> str:
    """Zero-padded rank: clients sort by this string, which keeps the engine's order."""
    return f"{rank:05d}"


def edit_range(doc: Document, start: int, end: int, encoding: str) -> types.Range:
    return types.Range(start=doc.position_at(start, encoding), end=doc.position_at(end, encoding))


def completion_items(
    result: Any, doc: Document, start: int, end: int, encoding: str, max_items: int, with_fragment: bool = True
) -> list[types.CompletionItem]:
    """Ranked completion items replacing text[start:end] (the typed prefix)."""
    rng = edit_range(doc, start, end, encoding)
    items: list[types.CompletionItem] = []
    seen: set[str] = set()
    for cand in list(getattr(result, "items", []) or [])[:max_items]:
        label = str(getattr(cand, "label", ""))
        if not label or label in seen:
            continue
        seen.add(label)
        kind = str(getattr(cand, "kind", "identifier"))
        detail = getattr(cand, "detail", None) or getattr(cand, "source", None)
        items.append(
            types.CompletionItem(
                label=label,
                kind=KINDS.get(kind, types.CompletionItemKind.Text),
                detail=str(detail) if detail else None,
                sort_text=sort_text(len(items)),
                filter_text=label,
                text_edit=types.TextEdit(range=rng, new_text=label),
            )
        )
    fragment = getattr(result, "fragment", None)
    if with_fragment and fragment is not None and len(items) < max_items:
        typed = doc.text[start:end]
        text = str(getattr(fragment, "text", ""))  # replaces the typed prefix, like a label
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


def inline_items(result: Any, doc: Document, start: int, end: int, encoding: str) -> list[types.InlineCompletionItem]:
    """Ghost text: the engine's fragment (else the best identifier) continuing what is typed."""
    typed = doc.text[start:end]
    fragment = getattr(result, "fragment", None)
    texts: list[str] = []
    frag_text = str(getattr(fragment, "text", "")) if fragment is not None else ""
    if frag_text.strip() and frag_text.startswith(typed) and frag_text != typed:
        texts.append(frag_text)
    items = list(getattr(result, "items", []) or [])
    if items and typed:
        label = str(getattr(items[0], "label", ""))
        if label.startswith(typed) and label != typed:
            texts.append(label)
    rng = edit_range(doc, start, end, encoding)
    out: list[types.InlineCompletionItem] = []
    for text in dict.fromkeys(texts):
        out.append(types.InlineCompletionItem(insert_text=text, range=rng))
    return out


def occurrence_offsets(doc: Document, occurrences: Iterable[Any]) -> list[tuple[int, int]]:
    """Code-point spans of a symbol's occurrences given as engine ranges.

    Accepted shapes: ((line, col), (line, col)) in engine coordinates, objects with `.start`/`.end` of that
    kind (or with `.line`/`.character`), and (start_byte, end_byte) pairs.
    """
    spans: list[tuple[int, int]] = []
    raw_bytes: bytes | None = None
    for occ in occurrences:
        start = getattr(occ, "start", None)
        end = getattr(occ, "end", None)
        if start is None and isinstance(occ, (tuple, list)) and len(occ) == 2:
            start, end = occ
        if isinstance(start, int) and isinstance(end, int):
            if raw_bytes is None:
                raw_bytes = doc.text.encode("utf-8", "surrogatepass")
            a = len(raw_bytes[:start].decode("utf-8", "ignore"))
            b = len(raw_bytes[:end].decode("utf-8", "ignore"))
        else:
            a = doc.engine_offset(*_line_col(start))
            b = doc.engine_offset(*_line_col(end))
        if 0 <= a < b <= len(doc.text):
            spans.append((a, b))
    return sorted(set(spans))


def _line_col(pos: Any) -> tuple[int, int]:
    if hasattr(pos, "line"):
        return int(pos.line), int(getattr(pos, "character", getattr(pos, "col", 0)))
    line, col = pos
    return int(line), int(col)
