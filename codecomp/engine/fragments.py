"""Multi-token completions ("fragments"): greedy decoding with syntactic stops, rendered back to source text.

Decoding starts from the cached model state at the cursor, reads the chosen first word and then takes the most
probable next token (vocabulary and copy mixed) until the syntax says the fragment is complete: after `;`, `{` or
`}`, before a bracket that would close something opened before the current line, before a token that is already
the next thing after the cursor (no repeating what the user has), or at `max_tokens`.  A fragment must stay
balanced: it is trimmed back to the last point where its own brackets are closed.
"""
from __future__ import annotations

import math
import re

from typing import Callable

import numpy as np

from codecomp.syntax import is_keyword
from codecomp.engine.lexing import LINE_WINDOW
from codecomp.engine.types import Cancelled, Fragment

OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {v: k for k, v in OPENERS.items()}
STOP_AFTER = frozenset({";", "{", "}"})
UNRENDERABLE = frozenset({"<pad>", "<unk>", "<bos>", "<eos>", "<str>", "<num>", ""})
_LEX = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*|\d[\w.]*|->|::|\?\.|\+\+|--|&&|\|\||[=!<>]=|=>|\S")
_NO_SPACE_BEFORE = frozenset({")", "]", ",", ";", ".", "->", "::", "?.", ":"})
_NO_SPACE_AFTER = frozenset({"(", "[", ".", "->", "::", "?.", "!", "~"})
_SPACE_BEFORE_PAREN = frozenset({"if", "for", "while", "switch", "catch", "return", "else", "do", "case",
                                 "throw", "typeof", "await", "new", "delete", "in", "of", "and", "or", "not"})
_WORD = re.compile(r"[A-Za-z_$0-9]")


def lex_line(text: str) -> list[str]:
    """Rough tokens of a piece of a line (used to compare with what follows the cursor)."""
    return _LEX.findall(text)


def render(tokens: list[str], lang: str) -> str:
    """Join tokens with the spacing a programmer would write (`f(a, b);`, `x = y + 1`, `a->b`, `std::vector`)."""
    out: list[str] = []
    prev = ""
    for i, tok in enumerate(tokens):
        if i > 0 and _space_between(prev, tok, lang, tokens[i - 2] if i >= 2 else ""):
            out.append(" ")
        out.append(tok)
        prev = tok
    return "".join(out)


def _space_between(prev: str, tok: str, lang: str, before_prev: str) -> bool:
    if tok in _NO_SPACE_BEFORE or prev in _NO_SPACE_AFTER:
        return False
    if tok == "(":
        return is_keyword(prev, lang) and prev in _SPACE_BEFORE_PAREN
    if tok == "[":
        return not (_WORD.match(prev[-1:]) or prev in (")", "]"))
    if tok in ("++", "--") and (_WORD.match(prev[-1:]) or prev in (")", "]")):
        return False  # postfix
    if prev in ("++", "--") and not (_WORD.match(before_prev[-1:]) or before_prev in (")", "]")):
        return False  # prefix
    return True


def open_brackets(line_before_cursor: str) -> list[str]:
    """Brackets opened on the current line before the cursor and not closed yet (strings skipped roughly)."""
    stack: list[str] = []
    for tok in lex_line(re.sub(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|`(?:\\.|[^`\\])*`", '""', line_before_cursor)):
        if tok in OPENERS:
            stack.append(tok)
        elif tok in CLOSERS and stack and stack[-1] == CLOSERS[tok]:
            stack.pop()
    return stack


def decode(model, last: dict[str, np.ndarray], memory: np.ndarray, texts: list[str], first: str, lang: str,
           rest_of_line: str, line_before: str, max_tokens: int = 8,
           should_stop: Callable[[], bool] | None = None) -> tuple[Fragment | None, str | None]:
    """Greedy fragment starting with the word `first`, as (fragment, None); (None, why in words) when nothing
    longer than `first` is worth showing.

    `model` is a `TokenModel`; `last` the cached outputs at the cursor, `memory` the copy keys [n, K] (aligned
    with the end of `texts`); neither is modified.
    """
    keys = memory
    texts = list(texts)
    outer = open_brackets(line_before[-LINE_WINDOW:])
    rest = lex_line(rest_of_line)
    rest_first = rest[0] if rest else None
    out = model.step(np.array([model.id_of(first)], np.int64), last["h"], last["c"])
    keys = _push(keys, out["key"][0], model.memory)
    texts.append(first)
    produced = [first]
    log_probs: list[float] = []
    inner: list[str] = []
    if first in OPENERS:
        inner.append(first)
    elif first in CLOSERS:
        if not (outer and outer[-1] == CLOSERS[first]):
            return None, f"the most likely next token `{first}` closes a bracket that is not open on this line"
        outer.pop()
    balanced_at = 0 if inner else 1  # length of the longest prefix of `produced` with balanced inner brackets
    for _ in range(max_tokens - 1):
        if should_stop is not None and should_stop():
            raise Cancelled("the request was cancelled")
        dist = model.distribution(out, keys, texts, lang)
        best, p = _best_token(model, dist)
        if best in UNRENDERABLE or p <= 0.0:
            break
        if rest_first is not None and best == rest_first:
            break  # the user already has it after the cursor
        if best == "," and not inner:
            break  # the next argument or element is a new decision, not part of this fragment
        if best in CLOSERS:
            if inner and inner[-1] == CLOSERS[best]:
                inner.pop()
            elif not inner and outer and outer[-1] == CLOSERS[best]:
                outer.pop()
            else:
                break  # would close something that is not open: the fragment is over
        elif best in OPENERS:
            inner.append(best)
        produced.append(best)
        log_probs.append(math.log(p))
        if not inner:
            balanced_at = len(produced)
        if best in STOP_AFTER:
            break
        out = model.step(np.array([model.id_of(best)], np.int64), out["h"], out["c"])
        keys = _push(keys, out["key"][0], model.memory)
        texts.append(best)
    produced = produced[:balanced_at]
    # a fragment ending in an operator (`x =`, `a +`, `f(a,`) asks for more: end it at the last complete operand
    while len(produced) > 1 and _dangling(produced[-1]):
        produced.pop()
    if len(produced) < 2:
        return None, f"the model's continuation is the single token `{first}`: nothing longer is worth showing"
    log_probs = log_probs[:len(produced) - 1]
    if first in STOP_AFTER:  # `;`, `{`, `}` end a statement: nothing may follow them on this line
        return None, f"the most likely next token `{first}` ends the statement"
    score = math.exp(sum(log_probs) / len(log_probs))  # geometric mean: comparable across lengths
    return Fragment(text=render(produced, lang), score=score), None


def _dangling(tok: str) -> bool:
    """Whether a fragment may not end with this token (an operator or separator that needs a right side)."""
    if tok in (")", "]", "}", ";", "++", "--") or _WORD.match(tok[:1]) or tok[:1] in "\"'`":
        return False
    return True


def _push(memory: np.ndarray, key: np.ndarray, size: int) -> np.ndarray:
    """The copy memory with one more key (the oldest dropped beyond `size`)."""
    return np.concatenate([memory[-(size - 1):] if size > 1 else memory[:0], key[None, :]])


def _best_token(model, dist) -> tuple[str, float]:
    """Most probable next spelling under the vocabulary + copy mixture.

    A word outside the copy memory scores (1 - gate) * p_vocab, so the best one is the vocabulary's argmax; the
    only other contenders are the words in the memory.
    """
    # Special tokens (<unk>, <str>, ...) cannot be shown as text: the best spelling is the best renderable one.
    p_vocab = dist.p_vocab
    banned = [model.index[w] for w in UNRENDERABLE if w in model.index]
    if banned:
        p_vocab = p_vocab.copy()
        p_vocab[banned] = -1.0
    options = {model.vocab[int(np.argmax(p_vocab))]}
    options.update(w for w in dist.copy if w not in UNRENDERABLE)
    best, best_p = "", 0.0
    for word in options:
        p = dist.prob(word, model.index.get(word))
        if p > best_p:
            best, best_p = word, p
    return best, best_p
