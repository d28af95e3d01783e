"""The signals of learning from the user, as the language server sees them (the learner is the engine's:
`codecomp.engine.learning`).

Two signals, both ending in one engine call, `learn(shown_id, name, accepted)`:

* explicit: every completion item and inline item carries the command `codecomp.accepted` with the list's id
  and its name; an editor that runs an accepted item's command (VS Code, Neovim's `vim.lsp.completion`) sends it
  back as `workspace/executeCommand`;
* implicit, for every client: after a list was shown at a word's start, `SignalTracker` follows the `didChange`
  events of that document.  The word is finished when a character that cannot be part of a name is typed right
  after it (`foo(`, `foo.`, `foo `, a new line); the name then standing at the word's start, accepted from the
  list or typed by hand, is the event's name, and the first list shown at that start (the one with the least
  typed) is the event's list.  Nothing is learned from a word the user did not edit after the list was shown, or
  from one whose start was deleted or edited around.

Each list counts once: the explicit signal of a word drops the tracker's record of it (and the ids of the
word's lists are remembered, so a command that arrives after the word was resolved from the text is ignored).
Offsets are code points of the server's document text (`lsp_server.documents.Document`).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from codecomp.syntax.parsed import changed_span

ACCEPTED = "codecomp.accepted"
RESET = "codecomp.resetLearning"
COMMANDS = (ACCEPTED, RESET)

MAX_PENDING = 4       # words followed per document (the most recent lists)
MAX_IDLE_EDITS = 64   # edits away from a word after which it is no longer followed
MAX_DONE = 512        # ids of lists already counted or given up (so that a late command is not counted twice)


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$" or ord(ch) > 0x7F and ch.isidentifier()


def word_at(text: str, start: int) -> str:
    """The identifier-like run of characters starting at `start` (empty when there is none)."""
    end = start
    n = len(text)
    while end < n and _word_char(text[end]):
        end += 1
    return text[start:end]


def leading_word(text: str) -> str:
    """The name at the start of an inserted text (`foo` of `foo(bar)`), empty when it starts with no name."""
    word = word_at(text, 0)
    return word if word and not word[0].isdigit() else ""


@dataclass
class Pending:
    """A word being followed: where it starts and the lists shown there."""

    start: int
    ids: list[int] = field(default_factory=list)
    touched: bool = False     # edited at or inside the word since a list was shown
    idle: int = 0             # edits elsewhere since


class SignalTracker:
    """The implicit signal (see the module docstring), per document URI.  Runs on the event loop."""

    def __init__(self) -> None:
        self.pending: dict[str, list[Pending]] = {}
        self.done: OrderedDict[int, None] = OrderedDict()

    def _finish(self, p: Pending) -> None:
        for i in p.ids:
            self.done[i] = None
        while len(self.done) > MAX_DONE:
            self.done.popitem(last=False)

    def shown(self, uri: str, start: int, shown_id: int) -> None:
        """A list `shown_id` was shown for the word starting at `start`."""
        words = self.pending.setdefault(uri, [])
        for p in words:
            if p.start == start:
                p.ids.append(shown_id)
                p.idle = 0
                return
        words.append(Pending(start, [shown_id]))
        while len(words) > MAX_PENDING:
            self._finish(words.pop(0))

    def edit(self, uri: str, text: str, s: int, e: int, new: str) -> list[tuple[int, str]]:
        """One content change of `uri`: text[s:e] (the text before the change) becomes `new`.  Returns the
        finished words as (the id of their first list, name)."""
        words = self.pending.get(uri)
        if not words:
            return []
        events: list[tuple[int, str]] = []
        keep: list[Pending] = []
        delta = len(new) - (e - s)
        for p in words:
            word = word_at(text, p.start)
            end = p.start + len(word)
            if e <= p.start and not s == e == p.start:
                p.start += delta          # before the word: it moves
                p.idle += 1
            elif s < p.start:
                self._finish(p)           # its start was edited around: no longer known
                continue
            elif s <= end:
                if s == e == end and new and not _word_char(new[0]) and p.touched:
                    if word and not word[0].isdigit():
                        events.append((p.ids[0], word))
                    self._finish(p)       # finished: a character that is not part of a name follows it
                    continue
                p.touched = True
                p.idle = 0
            else:
                p.idle += 1
            if p.idle > MAX_IDLE_EDITS:
                self._finish(p)
                continue
            keep.append(p)
        if keep:
            self.pending[uri] = keep
        else:
            self.pending.pop(uri, None)
        return events

    def replaced(self, uri: str, old: str, new: str) -> list[tuple[int, str]]:
        """A full-text change: handled as the one edit between the common start and end of the two texts."""
        a, old_end, new_end = changed_span(old, new)  # slice comparisons in C: no loop per character
        return self.edit(uri, old, a, old_end, new[a:new_end])

    def accepted(self, uri: str, shown_id: int) -> bool:
        """The explicit signal of list `shown_id`: False when that list's word was already counted (or given
        up); else its word is no longer followed and True (the caller counts the event)."""
        if shown_id in self.done:
            return False
        words = self.pending.get(uri, [])
        for p in words:
            if shown_id in p.ids:
                words.remove(p)
                if not words:
                    del self.pending[uri]
                self._finish(p)
                break
        else:
            self.done[shown_id] = None
        return True

    def closed(self, uri: str) -> None:
        """The document was closed: its words are no longer followed."""
        for p in self.pending.pop(uri, ()):
            self._finish(p)

    def clear(self) -> None:
        """Forget every word followed (learning was reset or switched off)."""
        for uri in list(self.pending):
            self.closed(uri)
