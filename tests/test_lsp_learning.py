"""Learning from the user in the language server (lsp_server/learning.py): the implicit signal followed through
didChange, the explicit one (`codecomp.accepted`), persistence only when it is on, and `codecomp.resetLearning`.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from benchmarks.lsp_client import LspProcess
from lsp_server.learning import ACCEPTED, RESET, SignalTracker, leading_word, word_at

SERVER = [sys.executable, "-m", "lsp_server"]


# -- the tracker --------------------------------------------------------------------------------------------------
def test_a_word_typed_where_a_list_was_shown_is_an_event_when_it_is_finished() -> None:
    t = SignalTracker()
    text = "let total = "
    t.shown("u", len(text), 7)
    t.shown("u", len(text), 8)          # the list again, one character later: same word
    for ch in "price":
        assert t.edit("u", text, len(text), len(text), ch) == []
        text += ch
    assert t.edit("u", text, len(text), len(text), ";") == [(7, "price")]  # the first list of the word
    assert t.pending == {}
    assert t.accepted("u", 8) is False  # a late command of that word is not counted again


def test_an_accepted_item_then_a_parenthesis_is_one_event() -> None:
    t = SignalTracker()
    text = "x = comp"
    start = len("x = ")
    t.shown("u", start, 3)
    assert t.edit("u", text, start, len(text), "computeTotal") == []  # the editor replaces the prefix
    text = "x = computeTotal"
    assert t.edit("u", text, len(text), len(text), "()") == [(3, "computeTotal")]


def test_edits_before_the_word_move_it_and_edits_around_its_start_drop_it() -> None:
    t = SignalTracker()
    text = "ab\ncd"
    t.shown("u", 3, 1)
    assert t.edit("u", text, 0, 0, "xyz") == []          # three characters inserted above
    text = "xyzab\ncd"
    assert t.pending["u"][0].start == 6
    assert t.edit("u", text, 6, 6, "Q") == []            # the user types at the word
    text = "xyzab\nQcd"
    assert t.edit("u", text, len(text), len(text), " ") == [(1, "Qcd")]
    t.shown("u", 6, 2)
    assert t.edit("u", text, 4, 7, "") == [] and t.pending == {}  # its start deleted: no longer followed


def test_no_event_for_a_word_the_user_did_not_edit_or_a_full_text_change() -> None:
    t = SignalTracker()
    t.shown("u", 4, 1)
    assert t.edit("u", "abc def", 7, 7, "(") == []       # nothing was typed at the word since the list
    t.shown("v", 0, 2)
    assert t.replaced("v", "", "name") == []
    assert t.replaced("v", "name", "name(") == [(2, "name")]


def test_a_full_text_change_of_a_long_file_is_the_one_edit_between_its_common_ends() -> None:
    """`replaced` finds the edit by slice comparisons; the same events as the edit found character by character."""
    def naive(old: str, new: str) -> tuple[int, int, str]:
        a = 0
        while a < min(len(old), len(new)) and old[a] == new[a]:
            a += 1
        b = 0
        while b < min(len(old), len(new)) - a and old[-1 - b] == new[-1 - b]:
            b += 1
        return a, len(old) - b, new[a:len(new) - b]

    text = "".join(f"let v{i} = f(v{i - 1});\n" for i in range(1, 4000))  # about 90 KB of repeating pieces
    fast, slow = SignalTracker(), SignalTracker()
    at = text.index("\nlet v2000")  # the end of a line
    for t in (fast, slow):
        t.shown("w", at, 4)
    events = []
    for edit in ("g", "e", "t", "(", ""):  # the user types "get" at the list's position, then "(", then nothing
        new = text[:at] + edit + text[at:] if edit else text
        start, end, inserted = naive(text, new)
        got = fast.replaced("w", text, new)
        assert got == slow.edit("w", text, start, end, inserted)
        events += got
        text, at = new, at + len(edit)
    assert events == [(4, "get")]


def test_explicit_acceptance_is_counted_once() -> None:
    t = SignalTracker()
    t.shown("u", 0, 5)
    assert t.accepted("u", 5) is True
    assert t.pending == {}
    assert t.edit("u", "abc", 3, 3, "(") == []           # the word is no longer followed
    assert t.accepted("u", 5) is False
    assert t.accepted("u", 99) is True                   # a list the tracker never followed (another client)


def test_words_of_inserted_texts() -> None:
    assert word_at("foo(bar)", 0) == "foo" and word_at("foo(bar)", 3) == ""
    assert leading_word("total + 1") == "total" and leading_word("1x") == "" and leading_word("(a)") == ""


# -- the server ---------------------------------------------------------------------------------------------------
TEXT = "const shippingCost = 3;\nfunction total(items) { return items.length + shippingCost; }\n"


def start(server: LspProcess, root: Path, options: dict) -> dict:
    resp = server.call("initialize", {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {},
                                      "initializationOptions": options}, 60)
    assert resp is not None and "result" in resp, resp
    server.notify("initialized", {})
    return resp["result"]


class Editor:
    """Types into one open document the way an editor reports it (incremental didChange)."""

    def __init__(self, server: LspProcess, uri: str, text: str) -> None:
        self.server, self.uri, self.version = server, uri, 1
        self.lines = text.split("\n")
        server.open(uri, text, "javascript")

    def type(self, line: int, col: int, text: str, end_col: int | None = None) -> None:
        self.version += 1
        end = col if end_col is None else end_col
        self.server.notify("textDocument/didChange", {
            "textDocument": {"uri": self.uri, "version": self.version},
            "contentChanges": [{"range": {"start": {"line": line, "character": col},
                                          "end": {"line": line, "character": end}}, "text": text}]})

    def complete(self, line: int, col: int) -> list[dict]:
        res = self.server.call("textDocument/completion", {"textDocument": {"uri": self.uri},
                                                           "position": {"line": line, "character": col}}, 60)
        assert res is not None and "result" in res, res
        return res["result"]["items"]


def wait_for(path: Path, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            try:
                return json.loads(path.read_text())
            except ValueError:
                pass
        time.sleep(0.2)
    raise AssertionError(f"{path} was not written")


def test_signals_are_learned_and_saved_only_when_persistence_is_on(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    uri = (ws / "a.js").as_uri()
    with LspProcess(SERVER, cwd=str(tmp_path)) as server:
        caps = start(server, ws, {})
        assert set(caps["capabilities"]["executeCommandProvider"]["commands"]) >= {ACCEPTED, RESET}
        ed = Editor(server, uri, TEXT)
        ed.type(2, 0, "let y = ")
        items = ed.complete(2, 8)
        assert items and all(i["command"]["command"] == ACCEPTED and i["command"]["arguments"][2] == i["label"]
                             for i in items)
        ed.type(2, 8, "sh")
        ed.complete(2, 10)
        ed.type(2, 8, "shippingCost", end_col=10)       # the item accepted by the editor...
        ed.type(2, 20, ";")                               # ...and the word finished
        args = items[0]["command"]["arguments"]
        res = server.call("workspace/executeCommand", {"command": ACCEPTED, "arguments": args}, 30)
        assert res is not None and "error" not in res, res
        bad = server.call("workspace/executeCommand", {"command": ACCEPTED, "arguments": [1, "x"]}, 30)
        assert bad is not None and "error" not in bad    # ignored, never an error for the editor
        time.sleep(1.0)
        assert server.close() == 0
    assert list(ws.iterdir()) == [], "persistLearning is off: nothing may be written"

    with LspProcess(SERVER, cwd=str(tmp_path)) as server:
        start(server, ws, {"persistLearning": True})
        ed = Editor(server, uri, TEXT)
        ed.type(2, 0, "let z = ")
        ed.complete(2, 8)
        ed.type(2, 8, "shippingCost")
        ed.type(2, 20, ")")
        items = ed.complete(2, 21)
        server.call("workspace/executeCommand", {"command": ACCEPTED, "arguments": items[0]["command"]["arguments"]})
        saved = wait_for(ws / ".codecomp" / "learning.json")
        assert saved["events"] == {"accepted": 1, "typed": 1, "updates": saved["events"]["updates"]}
        assert "shippingCost" in {n for n, _ in saved["names"]}
        assert (ws / ".codecomp" / ".gitignore").read_text().strip().endswith("*")
        # the reset forgets, the file included
        res = server.call("workspace/executeCommand", {"command": RESET, "arguments": []}, 30)
        assert res is not None and res["result"]["removed"] == [str(ws / ".codecomp" / "learning.json")]
        assert not (ws / ".codecomp" / "learning.json").exists()
        assert server.close() == 0
    # nothing learned since the reset: the shutdown wrote an empty learner, or nothing
    after = ws / ".codecomp" / "learning.json"
    assert not after.exists() or json.loads(after.read_text())["names"] == []


def test_learning_switched_off_sends_no_command(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    with LspProcess(SERVER, cwd=str(tmp_path)) as server:
        start(server, ws, {"learnFromUser": False, "persistLearning": True})
        ed = Editor(server, (ws / "a.js").as_uri(), TEXT)
        ed.type(2, 0, "let y = ")
        items = ed.complete(2, 8)
        assert items and all(i.get("command") is None for i in items)
        server.notify("workspace/didChangeConfiguration", {"settings": {"learnFromUser": True}})
        time.sleep(0.5)
        items = ed.complete(2, 8)
        assert items and all(i.get("command", {}).get("command") == ACCEPTED for i in items)
        assert server.close() == 0
