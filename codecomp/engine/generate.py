"""Torch-free code generation with the artifact's char-LSTM (the demo and `codecomp sample --model ARTIFACT`).

`generate` samples byte after byte.  `sample_lines` generates line by line and checks each line with
tree-sitter: a line whose addition gives the text more ERROR nodes is sampled again from the state before it
(at most `attempts` times; the attempt with the fewest new errors is kept), so the generated code parses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from codecomp.engine.models import CharModel

# The char vocabulary is the 256 byte values followed by <pad>, <bos> and <eos>.
BOS, EOS = 257, 258


def generate(model: CharModel, prefix: str, max_chars: int = 300, temperature: float = 0.8, top_k: int = 20,
             seed: int | None = 0) -> str:
    """Continue `prefix` byte by byte; reproducible for a seed.  Returns only the generated text.

    Sampling keeps the `top_k` most likely bytes (0 = all) at `temperature`; it stops at <eos> or after
    `max_chars` bytes, and never returns a torn UTF-8 sequence.
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    rng = np.random.default_rng(seed)
    h, c = model.zero_state()
    logits, h, c = model.step(np.array([BOS]), h, c)
    for b in prefix.encode("utf-8")[-4096:]:
        logits, h, c = model.step(np.array([b]), h, c)
    out = bytearray()
    while len(out) < max_chars:
        z = logits[0, :256].astype(np.float64) / temperature
        if logits.shape[1] > EOS:
            z = np.append(z, logits[0, EOS] / temperature)
        if 0 < top_k < z.size:
            cut = np.partition(z, -top_k)[-top_k]
            z = np.where(z >= cut, z, -np.inf)
        p = np.exp(z - z.max())
        p /= p.sum()
        choice = int(rng.choice(p.size, p=p))
        if choice == 256:   # <eos>
            break
        out.append(choice)
        logits, h, c = model.step(np.array([choice]), h, c)
    return out.decode("utf-8", errors="ignore")


class Stepper(Protocol):
    """A byte model with a state that can be saved and restored (to sample a line again)."""

    def __call__(self, byte: int) -> np.ndarray: ...   # read one byte; logits of the next [>= 257]

    def save(self) -> object: ...

    def load(self, state: object) -> None: ...


class CharStepper:
    """A `Stepper` over the artifact's `CharModel`."""

    def __init__(self, model: CharModel) -> None:
        self.model = model
        self.h, self.c = model.zero_state()

    def __call__(self, byte: int) -> np.ndarray:
        logits, self.h, self.c = self.model.step(np.array([byte], np.int64), self.h, self.c)
        return logits[0].astype(np.float64)

    def save(self) -> object:
        return self.h, self.c

    def load(self, state: object) -> None:
        self.h, self.c = state  # type: ignore[misc]


def error_count(data: bytes, lang: str) -> int:
    """ERROR nodes in tree-sitter's parse of `data` (MISSING nodes are not counted: the text may stop inside a
    block)."""
    from codecomp.syntax.languages import get_parser

    tree = get_parser(lang).parse(data)
    count = 0
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error:
            count += 1
        elif node.has_error:
            stack.extend(node.children)
    return count


@dataclass
class LineReport:
    """What `sample_lines` did: lines kept, lines sampled again, lines kept with errors after every attempt."""

    lines: int = 0
    resampled: int = 0
    attempts: int = 0
    kept_with_errors: int = 0
    dropped_tail: bool = False
    per_line_attempts: list[int] = field(default_factory=list)


def _pick(logits: np.ndarray, rng: np.random.Generator, temperature: float, top_k: int) -> int:
    """One byte (or 256 for <eos>) sampled from the logits [256 bytes, ..., <eos> at EOS]."""
    z = np.asarray(logits, dtype=np.float64)[:256] / temperature
    if 0 < top_k < 256:
        cut = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cut, z, -np.inf)
    z = np.append(z, float(logits[EOS]) / temperature if len(logits) > EOS else -np.inf)
    p = np.exp(z - z.max())
    p /= p.sum()
    return int(rng.choice(len(p), p=p))


def sample_lines(step: Stepper, prefix: bytes, lang: str, *, temperature: float = 0.8, top_k: int = 0,
                 max_chars: int = 400, seed: int = 0, attempts: int = 8, line_slack: int = 160,
                 logits: np.ndarray | None = None) -> tuple[bytes, LineReport]:
    """Generate about `max_chars` bytes after `prefix`, a line at a time, each line checked with tree-sitter.

    `step` must already have read <bos> and `prefix` when `logits` (its last output) is given; otherwise both are
    fed here.  A line (up to and including its newline, or the end of the text at <eos>) is kept when `prefix`
    plus everything kept plus the line has no more ERROR nodes than without the line; else it is sampled again
    from the same state, `attempts` times at most, and the attempt with the fewest errors is kept.  Generation
    stops at <eos> or at the first line boundary after `max_chars`; a last line still open `line_slack` bytes
    past `max_chars` is dropped.  Returns (generated bytes, report).
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    rng = np.random.default_rng(seed)
    if logits is None:
        logits = step(BOS)
        for b in prefix:
            logits = step(b)
    out = bytearray()
    report = LineReport()
    base_errors = error_count(prefix, lang)
    ended = False
    while len(out) < max_chars and not ended:
        state = step.save()
        best: tuple[int, bytes, object, np.ndarray, bool] | None = None
        tries = 0
        for attempt in range(max(1, attempts)):
            tries += 1
            if attempt:
                step.load(state)
            lg = logits
            line = bytearray()
            eos = False
            while True:
                b = _pick(lg, rng, temperature, top_k)
                if b == 256:
                    eos = True
                    break
                line.append(b)
                lg = step(b)
                if b == 10 or len(out) + len(line) >= max_chars + line_slack:
                    break
            complete = eos or line.endswith(b"\n")
            errors = error_count(prefix + bytes(out) + bytes(line), lang) - base_errors if complete else 1 << 30
            if best is None or errors < best[0]:
                best = (errors, bytes(line), step.save(), lg, eos)
            if errors <= 0:
                break
        report.attempts += tries
        report.per_line_attempts.append(tries)
        report.resampled += tries > 1
        errors, line, saved, lg, eos = best
        if errors >= 1 << 30:  # no attempt ended its line within the slack: stop before it
            report.dropped_tail = True
            break
        if errors > 0:
            report.kept_with_errors += 1
        step.load(saved)
        logits = lg
        out += line
        base_errors += errors
        report.lines += 1
        ended = eos
    return bytes(out), report
