"""The product's engine seen through the harness's system interface.

The engine is called exactly as the language server calls it: the document the system may see is opened
(or changed) under one URI per file, and ``complete(uri, line, utf16_col, max_items=...)`` is asked at the
cursor.  Ranked labels, the inline fragment and the first token of the fragment are read from the
:class:`~codecomp.engine.types.Completion` it serves; the wall time of every call is recorded for latency.
One difference from the server, for determinism: scope analyses of long files run inline instead of on the
background thread, so latencies of the first request at a new position in a long file are pessimistic.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from codecomp.eval.documents import FileDoc, Query, utf16_position

# First token of a code fragment: a word, a number, a string literal, or an operator (longest first).
_FIRST_TOKEN = re.compile(
    r"""\s*(
        [A-Za-z_$][A-Za-z0-9_$]*
      | \.?[0-9][A-Za-z0-9_.']*
      | "(?:[^"\\\n]|\\.)*"? | '(?:[^'\\\n]|\\.)*'? | `(?:[^`\\]|\\.)*`?
      | >>>=|<<=|>>=|>>>|\.\.\.|===|!==|\*\*=|<=>|->\*|&&=|\|\|=|\?\?=
      | ::|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||\?\?|\?\.|\+=|-=|\*=|/=|%=|&=|\|=|\^=|=>|\*\*|\#\#
      | \S
    )""",
    re.VERBOSE,
)


def first_token(fragment: str) -> str | None:
    """The first code token of a fragment (None when it is blank)."""
    m = _FIRST_TOKEN.match(fragment)
    return m.group(1) if m else None


@dataclass
class _EmptyCompletion:
    """What a failed engine call is scored as: no items, no fragment."""

    items: tuple = ()
    prefix: str = ""
    fragment: None = None


_EMPTY = _EmptyCompletion()


class EngineSystem:
    """Adapter from :class:`codecomp.engine.Engine` (or its fallback) to the harness interface."""

    tasks = frozenset({"tokens", "identifiers", "lines", "keystrokes"})

    def __init__(self, engine: Any, name: str = "engine", max_items: int = 50) -> None:
        self.engine = engine
        self.name = name
        self.max_items = max_items
        store = getattr(engine, "store", None)
        if store is not None:
            # every scope analysis inline: a score must be a function of the text and the cursor, never of
            # whether a background analysis happened to finish before the request (docs/design.md, Freshness)
            store.background_analysis = False
        self.latencies_ms: dict[str, list[float]] = {}
        self.task = "other"
        self._open: dict[str, str] = {}   # uri -> text currently held by the engine
        self._version = 0
        self.errors: dict[str, int] = {}  # error message -> count (a failing call scores as an empty answer)

    def uri_of(self, doc: FileDoc) -> str:
        """One stable URI per held-out file (never a real path on disk)."""
        ext = {"cpp": ".cpp", "javascript": ".js"}.get(doc.lang, "")
        path = doc.path if doc.path.endswith(ext) else doc.path + ext
        return f"file:///codecomp-eval/{doc.project}/{path}"

    def start_file(self, doc: FileDoc) -> None:
        """Close the previous files: the engine sees one held-out file at a time."""
        self.close_all()

    def close_all(self) -> None:
        """Close every file this adapter opened in the engine."""
        for uri in list(self._open):
            self.engine.close(uri)
        self._open.clear()

    def show(self, q: Query) -> tuple[str, int, int]:
        """Open (or update) the query's document in the engine, one held-out file at a time, and return
        (uri, line, UTF-16 column) of its cursor: what the server would send for the same document."""
        text, cursor = q.document()
        uri = self.uri_of(q.doc)
        self._version += 1
        if uri not in self._open:
            self.start_file(q.doc)
            self.engine.open(uri, text, q.doc.lang, self._version)
        elif self._open[uri] != text:
            self.engine.change(uri, text, self._version)
        self._open[uri] = text
        line, col = utf16_position(text, cursor)
        return uri, line, col

    def complete(self, q: Query) -> Any:
        """Show the engine the query's document and ask for completions at its cursor (timed)."""
        uri = self.uri_of(q.doc)
        try:
            uri, line, col = self.show(q)
            t0 = time.perf_counter()
            res = self.engine.complete(uri, line, col, max_items=self.max_items)
        except Exception as exc:  # an engine failure must not end the evaluation: count it and score a miss
            msg = f"{type(exc).__name__}: {exc}"
            self.errors[msg] = self.errors.get(msg, 0) + 1
            self._open.pop(uri, None)
            return _EMPTY
        self.latencies_ms.setdefault(self.task, []).append((time.perf_counter() - t0) * 1000.0)
        return res

    def rank(self, q: Query, k: int = 10) -> list[str]:
        """Labels of the items served, in order."""
        return [c.label for c in self.complete(q).items[:k]]

    @staticmethod
    def _inserted(res: Any, text: str) -> str:
        """What accepting ``text`` (which replaces the engine's prefix) adds after the cursor."""
        prefix = res.prefix or ""
        return text[len(prefix):] if text.startswith(prefix) else text

    def suggestions(self, q: Query) -> tuple[str | None, str | None]:
        """(top label, fragment text) as full replacements of the typed prefix, from one call."""
        res = self.complete(q)
        top = res.items[0].label if res.items else None
        frag = res.fragment.text if res.fragment is not None and res.fragment.text else None
        if top is not None:
            top = q.typed + self._inserted(res, top)
        if frag is not None:
            frag = q.typed + self._inserted(res, frag).split("\n", 1)[0]
        return top, frag

    def rest_of_line(self, q: Query) -> str:
        """The fragment served (cut at the line end); the top item when there is no fragment."""
        res = self.complete(q)
        if res.fragment is not None and res.fragment.text:
            return self._inserted(res, res.fragment.text).split("\n", 1)[0]
        if res.items:
            return self._inserted(res, res.items[0].label)
        return ""

    def line_prediction(self, q: Query) -> tuple[str, bool]:
        """(the rest of the line the engine predicts, whether it offers it as an inline fragment).

        The prediction is the engine's best fragment whether or not it is confident enough to show it (the
        engine's fragment threshold is lifted for the call; the fragment's score is the probability the engine
        gives it of being exactly right, and it is offered when that reaches the threshold), else the top item
        of the list, never offered.  So every system answers at every position, and what a user would see as
        ghost text is measured apart (coverage, precision).  An engine decoding greedily (`fragment_mode`
        "greedy") has no threshold: it offers every fragment it decodes."""
        eng = self.engine
        beam = getattr(eng, "fragment_mode", None) == "beam"
        threshold = getattr(eng, "fragment_threshold", None)
        if beam:
            eng.fragment_threshold = 0.0
        try:
            res = self.complete(q)
        finally:
            if beam:
                eng.fragment_threshold = threshold
        if res.fragment is not None and res.fragment.text:
            offered = not beam or res.fragment.score >= threshold
            return self._inserted(res, res.fragment.text).split("\n", 1)[0], offered
        if res.items:
            return self._inserted(res, res.items[0].label), False
        return "", False

    def next_token(self, q: Query) -> str | None:
        """The fragment's first token (the model's best next token); the top item without a fragment."""
        res = self.complete(q)
        # When the cursor touches a word (``foo|(``) the engine completes that word: what it would add after
        # the cursor is what counts, so the typed prefix is removed before taking the first token.
        if res.fragment is not None and res.fragment.text:
            tok = first_token(self._inserted(res, res.fragment.text))
            if tok:
                return tok
        for item in res.items[:1]:
            return first_token(self._inserted(res, item.label))
        return None


class ModelTokenSystem:
    """The engine's token model read directly, one step per token (a diagnostic row for token accuracy).

    The completion API answers what an editor needs, which is not always the next token (right after a word
    it completes that word); this reads the same next-token distribution the engine mixes (vocabulary +
    copy, docs/design.md section 4) at every position, as the CodeXGLUE token-level task does.
    """

    tasks = frozenset({"tokens"})

    def __init__(self, model: Any, name: str = "engine-model") -> None:
        self.model = model
        self.name = name
        self._doc: FileDoc | None = None
        self._skip = {model.index[s] for s in ("<pad>", "<unk>", "<bos>", "<eos>") if s in model.index}

    def _vocab_text(self, doc: FileDoc, i: int) -> str:
        from codecomp.eval.documents import NUMBER, STRING

        kind = doc.kinds[i]
        return "<str>" if kind == STRING else "<num>" if kind == NUMBER else doc.tokens[i]

    def start_file(self, doc: FileDoc) -> None:
        """Reset the state and read the beginning-of-file marker."""
        import numpy as np

        self._doc, self._pos = doc, 0
        h, c = self.model.zero_state()
        self._last = self.model.step(np.array([self.model.bos], np.int64), h, c)
        self._keys = [self._last["key"][0]]
        self._texts = ["<bos>"]

    def _feed(self, i: int) -> None:
        import numpy as np

        doc = self._doc
        text = self._vocab_text(doc, i)
        out = self.model.step(np.array([self.model.id_of(text)], np.int64), self._last["h"], self._last["c"])
        self._last = out
        self._keys.append(out["key"][0])
        self._texts.append(doc.tokens[i] if doc.kinds[i] == 0 else text)
        if len(self._keys) > 4 * self.model.memory:  # only the last `memory` keys are attended to
            del self._keys[:-self.model.memory], self._texts[:-self.model.memory]
        self._pos = i + 1

    def next_token(self, q: Query) -> str | None:
        """Most probable next token under the vocabulary + copy mixture (markers never predicted)."""
        import numpy as np

        if q.doc is not self._doc or q.index < self._pos:
            self.start_file(q.doc)
        while self._pos < q.index:
            self._feed(self._pos)
        dist = self.model.distribution(self._last, self._keys, self._texts)
        order = np.argsort(-dist.p_vocab)[:8]
        cands = {self.model.vocab[int(i)]: int(i) for i in order if int(i) not in self._skip}
        for text in dist.copy:
            if text not in cands and text != "<bos>":
                cands[text] = self.model.index.get(text)
        if not cands:
            return None
        return max(cands, key=lambda t: dist.prob(t, cands[t]))

    def rank(self, q: Query, k: int = 10) -> list[str]:
        """Not used: this row only takes part in token accuracy."""
        return []

    def rest_of_line(self, q: Query) -> str:
        """Not used: this row only takes part in token accuracy."""
        return ""
