"""Name suggestions for variables, parameters and functions: the serving half of the naming model.

`NameSuggester` runs the exported ONNX cells of the Tree-LSTM (see `codecomp.naming` for the model) in a numpy
level loop and ranks the names of the two heads; `find_symbol` finds the declared symbol at a position.  The
engine (`codecomp.engine.core`, `suggest_names`) is their only caller on the serving path.  It never imports
torch.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from codecomp.naming.context import context_names, merge_names
from codecomp.naming.names import NAMING_KINDS, render_name
from codecomp.naming.trees import NamingExample, TreeBatch, batch_examples, code_occurrences, example_from_parsed
from codecomp.naming.vocab import (
    GRAPH_FILES,
    MASK,
    PAD,
    SUB_BOS,
    SUB_EOS,
    SUB_PAD,
    SUB_UNK,
    VOCAB_FILE,
    NamingError,
    NamingVocab,
)


# ---------------------------------------------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------------------------------------------


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis."""
    x = np.asarray(x, dtype=np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def beam_search(
    step: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    h0: np.ndarray,
    beam: int,
    max_len: int,
) -> list[tuple[list[int], float]]:
    """Beam search over sub-token ids with a decoder `step(prev_ids, h) -> (logits, h)`.

    Returns finished sequences (without BOS/EOS) with their log-probabilities, best first.  `<unk>`, `<pad>` and
    `<bos>` are never produced; sequences still open at `max_len` are closed there.
    """
    seqs: list[list[int]] = [[]]
    scores = np.zeros(1)
    h = np.asarray(h0, dtype=np.float32).reshape(1, -1)
    prev = np.array([SUB_BOS], dtype=np.int64)
    finished: list[tuple[list[int], float]] = []
    for t in range(max_len):
        logits, h = step(prev, h)
        logp = log_softmax(logits)
        logp[:, [SUB_PAD, SUB_UNK, SUB_BOS]] = -np.inf
        if t == 0:
            logp[:, SUB_EOS] = -np.inf  # a name has at least one sub-token
        total = scores[:, None] + logp
        flat = total.ravel()
        width = min(beam, int(np.isfinite(flat).sum()))
        if width <= 0:
            break
        best = np.argpartition(-flat, width - 1)[:width]
        best = best[np.argsort(-flat[best], kind="stable")]
        vocab_size = logp.shape[1]
        new_seqs, new_scores, new_rows, new_prev = [], [], [], []
        for idx in best:
            row, tok = divmod(int(idx), vocab_size)
            if tok == SUB_EOS:
                finished.append((seqs[row], float(flat[idx])))
            else:
                new_seqs.append(seqs[row] + [tok])
                new_scores.append(float(flat[idx]))
                new_rows.append(row)
                new_prev.append(tok)
        if not new_seqs:
            break
        seqs, scores = new_seqs, np.array(new_scores)
        h = h[np.array(new_rows)]
        prev = np.array(new_prev, dtype=np.int64)
        if len(finished) >= beam and max(s for _, s in finished) >= scores.max():
            break
    else:
        finished.extend(zip(seqs, scores.tolist()))
    finished.sort(key=lambda item: -item[1])
    return finished[:beam]


def rank_names(
    vocab: NamingVocab,
    name_logits: np.ndarray,
    style_logits: np.ndarray,
    decoded: Sequence[tuple[list[int], float]],
    k: int,
) -> list[tuple[str, float]]:
    """One ranked list from the name classifier and the sub-token decoder (scores are probabilities).

    A vocabulary name scores its classifier probability; a name the decoder spells that is not in the vocabulary
    scores p(<other>) * p(style) * p(sub-tokens), summed over the ways to spell it.
    """
    p_name = np.exp(log_softmax(np.asarray(name_logits).reshape(-1)))
    p_style = np.exp(log_softmax(np.asarray(style_logits).reshape(-1)))
    scores: dict[str, float] = {}
    top = np.argsort(-p_name[1:], kind="stable")[: max(k, 1) * 2] + 1
    for idx in top:
        scores[vocab.names[int(idx)]] = float(p_name[idx])
    p_other = float(p_name[0])
    for ids, logp in decoded:
        parts = [vocab.subtokens[i] for i in ids]
        for s, style in enumerate(vocab.styles):
            name = render_name(parts, style)
            if not name:
                continue
            vid = vocab.name_id(name)
            if vid:
                scores.setdefault(name, float(p_name[vid]))
            else:
                scores[name] = scores.get(name, 0.0) + p_other * float(p_style[s]) * math.exp(logp)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return ranked[:k]


# ---------------------------------------------------------------------------------------------------------------
# Serving
# ---------------------------------------------------------------------------------------------------------------


class NameSuggester:
    """Runs the exported naming model with onnxruntime: the Tree-LSTM level loop is numpy."""

    def __init__(self, vocab: NamingVocab, sessions: dict[str, Any], beam: int = 8) -> None:
        self.vocab = vocab
        self.sessions = sessions
        self.beam = beam
        self.hidden = int(vocab.settings["hidden"])

    @classmethod
    def from_artifact(cls, artifact: Any, threads: int = 1) -> "NameSuggester":
        """Load from an artifact folder (path) or a loaded `codecomp.artifact.Artifact`.

        Raises `NamingError` when the artifact has no naming model or its files are unusable.
        """
        from codecomp import artifact as artifact_mod

        if not isinstance(artifact, artifact_mod.Artifact):
            try:
                artifact = artifact_mod.load(artifact)
            except artifact_mod.ArtifactError as exc:
                raise NamingError(str(exc)) from exc
        if not artifact.has("naming"):
            raise NamingError(
                f"The model at {artifact.path} has no naming model; export one with `codecomp export` from a run "
                "trained with `codecomp train tree`."
            )
        section = artifact.models["naming"]
        vocab = NamingVocab.load(artifact.file(section.get("vocab", VOCAB_FILE)))
        graphs = section.get("graphs", GRAPH_FILES)
        sessions = {}
        for role in GRAPH_FILES:
            name = graphs.get(role, GRAPH_FILES[role])
            if not artifact.file(name).is_file():
                raise NamingError(f"The naming graph {artifact.file(name)} is missing; re-export the model.")
            try:
                sessions[role] = artifact.session(name, threads=threads)
            except artifact_mod.ArtifactError as exc:
                raise NamingError(str(exc)) from exc
        suggester = cls(vocab, sessions)
        suggester.warm_up()
        return suggester

    def warm_up(self) -> None:
        """Run every graph once on a two-node tree: onnxruntime's first run of a graph is much slower than the
        next ones, and that cost belongs to loading, not to the user's first rename."""
        parent = np.array([-1, 0], dtype=np.int64)
        example = NamingExample("", "", "", np.zeros(2, dtype=np.int64), np.array([PAD, MASK], dtype=np.int64),
                                parent, np.array([0, 1], dtype=np.int64), np.array([1], dtype=np.int64))
        try:
            self.predict(example, 1)
        except Exception as exc:  # onnxruntime raises several private exception types
            raise NamingError(f"the naming model does not run ({exc}); re-export it with `codecomp export`") from exc

    # -- model -------------------------------------------------------------------------------------------------

    def encode(self, batch: TreeBatch) -> tuple[np.ndarray, np.ndarray]:
        """Upward and downward hidden states [N, H] of every node of a forest (level loop over the ONNX cells)."""
        n, hid = batch.num_nodes, self.hidden
        h_up = np.zeros((n, hid), dtype=np.float32)
        c_up = np.zeros((n, hid), dtype=np.float32)
        up = self.sessions["up"]
        for level in batch.up:
            h, c = up.run(None, {
                "node_type": batch.node_type[level.nodes],
                "token": batch.token[level.nodes],
                "child_h": h_up[level.children],
                "child_c": c_up[level.children],
                "child_slot": level.slot,
            })
            h_up[level.nodes] = h
            c_up[level.nodes] = c
        # One extra zero row: the "parent" of a root.
        h_down = np.zeros((n + 1, hid), dtype=np.float32)
        c_down = np.zeros((n + 1, hid), dtype=np.float32)
        down = self.sessions["down"]
        for level in batch.down:
            h, c = down.run(None, {
                "h_up": h_up[level.nodes],
                "h_parent": h_down[level.parents],
                "c_parent": c_down[level.parents],
            })
            h_down[level.nodes] = h
            c_down[level.nodes] = c
        return h_up, h_down[:n]

    def predict(self, example: NamingExample, k: int = 5) -> list[tuple[str, float]]:
        """Ranked names for one prepared example (empty when the window holds no occurrence)."""
        if example.occ.shape[0] == 0:
            return []
        batch = batch_examples([example])
        h_up, h_down = self.encode(batch)
        states = np.concatenate([h_up[batch.occ], h_down[batch.occ]], axis=1).astype(np.float32)
        name_logits, style_logits, dec_h0, ctx = self.sessions["head"].run(None, {"occ_states": states})
        decoder = self.sessions["decoder"]

        def step(prev: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            rows = prev.shape[0]
            logits, h_out = decoder.run(None, {"prev": prev, "h": h.astype(np.float32),
                                               "ctx": np.repeat(ctx, rows, axis=0)})
            return logits, h_out

        decoded = beam_search(step, dec_h0, beam=max(self.beam, k), max_len=self.vocab.max_subtokens)
        return rank_names(self.vocab, name_logits, style_logits, decoded, k)

    # -- files -------------------------------------------------------------------------------------------------

    def suggest(self, parsed: Any, symbol: Any, k: int = 5) -> tuple[list[tuple[str, float]], str | None]:
        """Up to `k` ranked (name, score) for a declared `symbol` of a `ParsedFile` (see `find_symbol`), and a
        sentence saying why the list is empty (None when it is not)."""
        if k <= 0:
            return [], "k must be at least 1"
        example = example_from_parsed(self.vocab, parsed, symbol)
        if isinstance(example, str):
            return [], example
        names = merge_names(declaration_names(parsed, symbol), self.predict(example, k), parsed.lang, symbol.kind, k)
        return names, None if names else "the model proposed no name"


def declaration_names(parsed: Any, symbol: Any) -> list[tuple[str, str]]:
    """The names the code around `symbol`'s declaration spells (`codecomp.naming.context`), read from the same
    code tokens as the corpus stores."""
    occ = code_occurrences(parsed, symbol)
    if not occ:
        return []
    return context_names([t.text for t in parsed.code_tokens()], occ, parsed.lang, symbol.kind)


def find_symbol(parsed: Any, byte_offset: int) -> tuple[Any, list[tuple[int, int]]] | str:
    """The declared symbol whose identifier contains `byte_offset`, with the byte spans of its occurrences; or a
    sentence saying why there is none."""
    from codecomp.syntax import TokenKind

    if not parsed.source.strip():
        return "the file is empty"
    if byte_offset < 0 or byte_offset > len(parsed.source):
        return f"byte offset {byte_offset} is outside the file ({len(parsed.source)} bytes)"
    index = parsed.token_at(byte_offset)
    nxt = 0 if index is None else index + 1
    if (index is None or parsed.tokens[index].kind != TokenKind.IDENTIFIER) and nxt < len(parsed.tokens) \
            and parsed.tokens[nxt].start_byte == byte_offset and parsed.tokens[nxt].kind == TokenKind.IDENTIFIER:
        index = nxt  # a cursor just before an identifier that follows `(`, `.`, ... names that identifier
    if index is None or parsed.tokens[index].kind != TokenKind.IDENTIFIER:
        return "the position is not on an identifier"
    scopes = parsed.scopes()
    for symbol in scopes.symbols:
        if symbol.kind in NAMING_KINDS and index in symbol.occurrences:
            spans = sorted((parsed.tokens[o].start_byte, parsed.tokens[o].end_byte) for o in symbol.occurrences)
            return symbol, spans
    for symbol in scopes.symbols:
        if index in symbol.occurrences:
            return f"'{symbol.name}' is a {symbol.kind}; only variables, parameters and functions are named"
    return f"'{parsed.tokens[index].text}' is not declared in this file"
