"""The contract between the language server and the engine: the server drives `CompletionEngine`
(codecomp.engine.types) and reads the typed results; the contract module is cheap to import; a model that cannot
be used is handled by `Engine.load` alone, and a server without any engine still answers."""
from __future__ import annotations

import asyncio
import inspect
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path


from codecomp.engine import BaseEngine, Engine, FallbackEngine
from codecomp.engine.types import KINDS, Completion, CompletionEngine, NameSuggestions
from lsp_server import convert, lexical, server
from lsp_server.host import EngineHost, Snapshot
from lsp_server.server import create_server

REPO = Path(__file__).resolve().parents[1]


def test_the_contract_and_the_server_modules_load_no_model_runtime() -> None:
    code = ("import json, sys\n"
            "import codecomp.engine.types\n"
            "types_only = 'onnxruntime' in sys.modules\n"
            "import lsp_server.server\n"
            "print(json.dumps([types_only, 'onnxruntime' in sys.modules]))\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [False, False]


def _protocol_members() -> list[str]:
    return [name for name, value in vars(CompletionEngine).items() if not name.startswith("_") and callable(value)]


def test_the_engines_implement_the_declared_api() -> None:
    members = _protocol_members()
    assert {"open", "change", "close", "complete", "suggest_names", "work_in_idle", "has_idle_work",
            "set_workspace", "sync_workspace"} <= set(members)
    for name in members:
        declared = inspect.signature(getattr(CompletionEngine, name)).parameters
        for cls in (BaseEngine, Engine, FallbackEngine):
            actual = inspect.signature(getattr(cls, name)).parameters
            assert [(p.name, p.kind, p.default) for p in actual.values()] == \
                [(p.name, p.kind, p.default) for p in declared.values()], f"{cls.__name__}.{name}"
    assert "problem" in CompletionEngine.__annotations__ and hasattr(BaseEngine, "problem")


def test_every_engine_kind_has_an_lsp_kind() -> None:
    assert set(convert.KINDS) == set(KINDS)


class RecordingEngine:
    """A CompletionEngine with the declared signatures that records how the host calls it."""

    problem = None

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def open(self, uri: str, text: str, lang: str, version: int = 0) -> None:
        self.calls.append(("open", {"uri": uri, "version": version}))

    def change(self, uri: str, text: str, version: int | None = None) -> None:
        self.calls.append(("change", {"uri": uri, "version": version}))

    def close(self, uri: str) -> None:
        self.calls.append(("close", {"uri": uri}))

    def complete(self, uri, line, utf16_col, max_items=50, fragment=True, *, should_stop=None, deadline=None):
        self.calls.append(("complete", {"max_items": max_items, "fragment": fragment, "stop": should_stop()}))
        return Completion([], "", (line, utf16_col))

    def suggest_names(self, uri, line, utf16_col, k=5, *, should_stop=None, deadline=None):
        self.calls.append(("suggest_names", {"k": k, "stop": should_stop()}))
        return NameSuggestions("x", [((line, 0), (line, 1))], [("y", 1.0)])

    def work_in_idle(self, budget_s: float = 0.05) -> bool:
        return False

    def has_idle_work(self) -> bool:
        return False

    def set_workspace(self, index) -> None:
        self.calls.append(("set_workspace", {}))

    def sync_workspace(self, uri=None) -> int:
        return 0


def test_the_host_calls_the_engine_through_its_declared_api() -> None:
    host = EngineHost()
    engine: CompletionEngine = RecordingEngine()
    host.engine = engine
    try:
        snap = Snapshot("file:///c/a.cpp", "int a;\n", 1, "cpp", 1)
        never = threading.Event()
        assert isinstance(host.complete(snap, 1, 0, 7, False, never), Completion)
        assert isinstance(host.suggest_names(snap, 0, 4, 3, never), NameSuggestions)
        host.sync(Snapshot(snap.uri, "int ab;\n", 2, "cpp", 1))
        host.close(snap.uri)
    finally:
        host.shutdown()
    assert engine.calls == [  # type: ignore[attr-defined]
        ("open", {"uri": snap.uri, "version": 1}),
        ("complete", {"max_items": 7, "fragment": False, "stop": False}),
        ("suggest_names", {"k": 3, "stop": False}),
        ("change", {"uri": snap.uri, "version": 2}),
        ("close", {"uri": snap.uri}),
    ]


def test_a_model_that_cannot_be_used_is_decided_by_engine_load(monkeypatch, tmp_path: Path) -> None:
    import codecomp.engine.models as models

    def broken(*args, **kwargs):
        raise RuntimeError("simulated graph failure")

    monkeypatch.setattr(models, "TokenModel", broken)  # not an ArtifactError: still the fallback, with the reason
    eng = Engine.load(None)
    assert isinstance(eng, FallbackEngine)
    assert "RuntimeError: simulated graph failure" in eng.problem and "words of your open files" in eng.problem

    host = EngineHost()  # the host adds nothing: no retry with another model, the engine's own message
    try:
        problem = host.load(str(tmp_path / "missing-model"))
        assert isinstance(host.engine, FallbackEngine)
        assert problem == host.engine.problem and "does not exist" in problem
    finally:
        host.shutdown()


def test_without_any_engine_the_user_is_told_once_and_requests_get_the_words_of_the_file(monkeypatch) -> None:
    def no_engine(cls, *args, **kwargs):
        raise ImportError("simulated broken install")

    monkeypatch.setattr(Engine, "load", classmethod(no_engine))
    ls = create_server()
    told: list[str] = []
    monkeypatch.setattr(ls, "tell_once", lambda key, message, *rest: told.append(message))
    try:
        ls.load_engine()
        deadline = time.monotonic() + 10
        while not told and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(told) == 1 and "simulated broken install" in told[0] and "words of the file" in told[0]
        assert ls.host.engine is None

        text = "int tally = 0;\nint t = ta"
        doc = ls.docs.open("file:///c/w.cpp", text, 1, "cpp")
        snap = ls.snapshot(doc)
        assert snap is not None
        done = asyncio.run(server._complete(ls, doc, snap, len(text), True, "completion"))
        assert done is not None
        result, start = done
        assert [c.label for c in result.items] == ["tally"] and result.note == lexical.NOTE
        assert start == len(text) - 2
    finally:
        ls.host.shutdown()
