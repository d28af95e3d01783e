"""Multi-token completions ("fragments"): the rest of the line, rendered as source text.

The engine's fragment (`line_candidates`, `pick`) is chosen among the lines of a beam search over the token
model (`codecomp.engine.beam`), the continuations the document repeats (`codecomp.engine.linestats`) and those
the project's other files repeat (`codecomp.engine.projectlines`), by a calibrated score of their evidence, and
checked with tree-sitter (`syntax_effect`); docs/design.md, section 5, "Fragments", tells the whole of it.

`decode` is the single-path decoder of earlier versions (`Engine.fragment_mode = "greedy"`, kept for
comparisons): it reads the chosen first word and then takes the most probable next token until the syntax says
the fragment is complete: after `;`, `{` or `}`, before a bracket that would close something opened before the
current line, before a token that is already the next thing after the cursor, or at `max_tokens`; a fragment is
trimmed back to the last point where its own brackets are closed.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
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


# --------------------------------------------------------------------------------------------- line fragments
# The fragment the engine offers: the rest of the line, chosen among the beam's lines and the continuations the
# document and the project repeat (see `line_candidates`) by a linear score of their features (`WEIGHTS`, a
# conditional logit: the softmax of the scores over one position's candidates is its model of which candidate
# is exactly the rest of the line), whose probability of being exact is then calibrated from the score and
# that softmax share (`CALIBRATION`, a logistic regression); both fitted on the valid split
# (`codecomp.eval.fragment_tune`).  A fragment is offered only when its probability reaches `OFFER_THRESHOLD`.
FEATURES = ("bias", "logp", "logp_mean", "min_logp", "end_logp", "log_tokens", "beam", "beam_best", "repeat",
            "log_match", "log_count", "share", "top_item", "line_start", "lang_cpp", "project", "project_prev",
            "project_log_count", "project_share", "project_log_files", "closers", "closers_line_start",
            "one_token")
WEIGHTS = {"logp": 0.0008656, "logp_mean": 0.2824, "min_logp": 0.05257, "end_logp": 0.3955, "log_tokens": -0.2103,
           "beam": -0.3323, "beam_best": 1.096, "repeat": -2.361, "log_match": 2.499, "log_count": 0.2778,
           "share": -0.01458, "top_item": 0.7538, "project": 1.077, "project_prev": 1.723, "project_log_count": -1.429,
           "project_share": 4.025, "project_log_files": 1.195, "closers": 0.1459, "closers_line_start": 0.03078,
           "one_token": 0.02453}
CALIBRATION = (-0.5668, 0.2101, 1.519)
OFFER_THRESHOLD = 0.16
SYNTAX_CHECKS = 4          # candidates checked with tree-sitter at most, best first
MAX_FORCED = 6             # repeated continuations scored by the model (at most half of them the project's)
REPAIR_BONUS = 4.0         # added to the score of a candidate that repairs the code after the line


_CLOSING = frozenset({")", "]", "}", ";", ","})


@dataclass
class LineCandidate:
    """One way to finish the line, with the evidence for it."""

    text: str                       # replaces the typed prefix
    tokens: list[str]
    logp: float = -50.0             # log P(tokens, then the end of the line) under the model
    end_logp: float = -10.0
    min_logp: float = -20.0
    beam_rank: int = -1             # rank among the beam's lines (-1: not found by the beam)
    repeat: object | None = None    # a `linestats.Repeat` when the document has this continuation
    project: object | None = None   # a `projectlines.ProjectRepeat` when other files of the project have it
    top_item: bool = False          # starts with the top item of the completion list
    line_start: bool = False        # the line has no code before the fragment
    score: float = 0.0              # `WEIGHTS` . features: the choice among one position's candidates
    confidence: float = 0.0         # calibrated probability of being exactly the rest of the line

    def features(self, lang: str) -> dict[str, float]:
        n = max(len(self.tokens), 1)
        rep, proj = self.repeat, self.project
        closers = all(t in _CLOSING for t in self.tokens)
        return {
            "bias": 1.0, "logp": self.logp, "logp_mean": self.logp / n, "min_logp": self.min_logp,
            "end_logp": self.end_logp, "log_tokens": math.log(n), "beam": float(self.beam_rank >= 0),
            "beam_best": float(self.beam_rank == 0), "repeat": float(rep is not None),
            "log_match": math.log1p(rep.match) if rep is not None else 0.0,
            "log_count": math.log1p(rep.count) if rep is not None else 0.0,
            "share": rep.count / max(rep.total, 1) if rep is not None else 0.0,
            "top_item": float(self.top_item), "line_start": float(self.line_start), "lang_cpp": float(lang == "cpp"),
            "project": float(proj is not None), "project_prev": float(proj is not None and proj.with_prev),
            "project_log_count": math.log1p(proj.count) if proj is not None else 0.0,
            "project_share": proj.count / max(proj.total, 1) if proj is not None else 0.0,
            "project_log_files": math.log1p(proj.files) if proj is not None else 0.0,
            "closers": float(closers), "closers_line_start": float(closers and self.line_start),
            "one_token": float(n == 1),
        }


def score(features: dict[str, float], weights: dict[str, float] = WEIGHTS) -> float:
    """The candidate's score (higher: more likely the rest of the line)."""
    return sum(weights.get(k, 0.0) * v for k, v in features.items())


def calibrate(scores: list[float], calibration: tuple[float, float, float] | None = None) -> list[float]:
    """The probability that each of one position's candidates is exactly the rest of the line, from its score
    and its softmax share among them: sigmoid(a + b * score + c * log share)."""
    a, b, c = calibration if calibration is not None else CALIBRATION
    if not scores:
        return []
    top = max(scores)
    norm = math.log(sum(math.exp(x - top) for x in scores))
    out = []
    for x in scores:
        z = a + b * x + c * (x - top - norm)
        out.append(1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0))))
    return out


def line_candidates(model, spec, stats, repeats: list, top_label: str | None, lang: str,
                    should_stop: Callable[[], bool] | None = None, weights: dict[str, float] = WEIGHTS,
                    project: list | None = None, calibration: tuple[float, float, float] | None = None
                    ) -> list[LineCandidate]:
    """Every candidate rest of the line, best first: the beam's lines (`beam.SearchSpec` `spec`), the
    document's repeated continuations (`repeats`) and the project's (`project`), the last two also scored by the
    model as forced rows of the same search, merged when they are the same tokens, each with its calibrated
    probability in `confidence`."""
    from codecomp.engine.beam import Searcher

    project = project or []
    known = {tuple(r.tokens) for r in repeats}
    project = [r for r in project if tuple(r.tokens) not in known] + [r for r in project if tuple(r.tokens) in known]
    extra = [r for r in project if tuple(r.tokens) not in known][:MAX_FORCED // 2]
    sources = list(repeats)[:MAX_FORCED - len(extra)] + extra
    spec.forced = [r.tokens for r in sources]
    searcher = Searcher(model, spec, lambda a, b: stats.p_break(a.encode("utf-8", "surrogatepass"),
                                                                  None if b is None else b.encode("utf-8", "surrogatepass")),
                        should_stop)
    lines = searcher.run()
    by_key: dict[tuple[str, ...], LineCandidate] = {}
    beam_lines = sorted((ln for ln in lines if ln.forced < 0), key=lambda ln: -ln.logp)
    for rank, ln in enumerate(beam_lines):
        key = tuple(ln.tokens)
        if key in by_key:
            continue
        by_key[key] = LineCandidate(render(ln.tokens, lang), ln.tokens, ln.logp, ln.end_logp, ln.min_logp, rank)
    for ln in lines:
        if ln.forced < 0:
            continue
        rep = sources[ln.forced]
        key = tuple(rep.tokens)
        cand = by_key.get(key)
        if cand is None:
            cand = by_key[key] = LineCandidate(rep.text, rep.tokens, ln.logp, ln.end_logp, ln.min_logp)
        cand.text = rep.text  # the spelling and spacing of the code it repeats
    for rep in repeats:
        cand = by_key.get(tuple(rep.tokens))
        if cand is not None:
            cand.repeat = rep
    for rep in project:
        cand = by_key.get(tuple(rep.tokens))
        if cand is not None:
            cand.project = rep
    out = list(by_key.values())
    for cand in out:
        cand.top_item = top_label is not None and bool(cand.tokens) and cand.tokens[0] == top_label
        cand.line_start = spec.line_start
        cand.score = score(cand.features(lang), weights)
    for cand, p in zip(out, calibrate([c.score for c in out], calibration)):
        cand.confidence = p
    out.sort(key=lambda c: -c.score)
    return out


def pick(cands: list[LineCandidate], effect: Callable[[LineCandidate], tuple[int, int]],
         deadline: float | None = None) -> tuple[LineCandidate | None, int]:
    """The fragment among the best `SYNTAX_CHECKS` candidates (by score): those that add an error to the line or
    to the code after it are refused, one that repairs the code after it gains `REPAIR_BONUS`; with the number
    of candidates refused.  The chosen candidate's `score` includes the bonus (and its `confidence` follows).
    Past `deadline` (a `time.perf_counter()` instant) no further candidate is checked once one has passed."""
    best, best_score, refused = None, -math.inf, 0
    for cand in cands[:SYNTAX_CHECKS]:
        if best is not None and best_score >= cand.score + REPAIR_BONUS:
            break  # the scores are in decreasing order: nothing further down can win
        if best is not None and deadline is not None and time.perf_counter() > deadline:
            break
        line, after = effect(cand)
        if line > 0 or after > 0:
            refused += 1
            continue
        s = cand.score + (REPAIR_BONUS if after < 0 else 0.0)
        if s > best_score:
            best, best_score = cand, s
    if best is not None and best_score != best.score:
        others = [c.score for c in cands if c is not best]
        best.score = best_score
        best.confidence = calibrate([best_score] + others)[0]
    return best, refused


def error_nodes(tree, lo: int, hi: int, missing_before: int | None = None) -> int:
    """ERROR nodes of `tree` that touch the bytes [lo, hi], plus the MISSING nodes that tree-sitter inserted
    between `lo` and `missing_before` (default `hi`); a MISSING node at or after `missing_before` only says the
    code goes on after it (an unclosed block at the end of what is typed), which is no error of the line."""
    limit = hi if missing_before is None else missing_before
    count = 0
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.end_byte < lo or node.start_byte > hi:
            continue
        if node.is_missing:
            count += lo <= node.start_byte < limit
            continue
        if node.is_error:
            count += 1
            continue
        if node.has_error:
            stack.extend(node.children)
    return count


UNCHECKED = (1, 1)      # the effect of a candidate whose check ran out of time: refused


def _checker(lang: str, timeout_s: float | None):
    """This thread's parser for fragment checks (apart from the documents' parsers), with its time limit."""
    from codecomp.syntax.languages import get_parser

    parser = get_parser(lang, "fragment-checks")
    parser.timeout_micros = 0 if timeout_s is None else max(1, int(timeout_s * 1e6))
    return parser


def syntax_effect(tree, source: bytes, lang: str, start: int, end: int, text: str, line_lo: int, line_hi: int,
                  timeout_s: float | None = None) -> tuple[int, int]:
    """(errors added to the line, errors added to the code after it) when `text` replaces source[start:end].

    The line [line_lo, line_hi) counts `error_nodes` (ERROR nodes, and MISSING ones before the fragment's end);
    the code after the line counts every ERROR and MISSING node after it, and only when there is code after it:
    a line that closes a block the code below expects repairs it (negative), one that leaves it unbalanced breaks
    it (positive); at the end of what is typed there is nothing to tell.  An incremental re-parse of a copy of
    `tree` (the tree of `source`); one that takes more than `timeout_s` gives `UNCHECKED`."""
    from codecomp.syntax.parsed import edit_tree

    data = text.encode("utf-8", "surrogatepass")
    new = source[:start] + data + source[end:]
    copy = tree.copy()
    new_end = start + len(data)
    edit_tree(copy, source, new, start, end, new_end)
    parser = _checker(lang, timeout_s)
    try:
        new_tree = parser.parse(new, copy)
    except ValueError:  # out of time (a fragment that changes how the rest of the file reads)
        parser.reset()
        return UNCHECKED
    delta = new_end - end
    line = error_nodes(new_tree, line_lo, line_hi + delta, new_end) - error_nodes(tree, line_lo, line_hi, end)
    after = 0
    if source[line_hi:].strip():
        after = (error_nodes(new_tree, line_hi + delta + 1, len(new), len(new) + 1)
                 - error_nodes(tree, line_hi + 1, len(source), len(source) + 1))
    return line, after


def adds_errors(tree, source: bytes, lang: str, start: int, end: int, text: str, line_lo: int, line_hi: int
                ) -> bool:
    """Whether replacing source[start:end] by `text` gives the line [line_lo, line_hi) more syntax errors than
    it has (`syntax_effect`)."""
    return syntax_effect(tree, source, lang, start, end, text, line_lo, line_hi)[0] > 0
