"""End-to-end tests of the language server over stdio (pytest-lsp), with the recorded capabilities of
VS Code, Neovim and Emacs.  The server runs as a real subprocess with the real engine (or its fallback)."""
from __future__ import annotations

import asyncio
import copy
import sys
import time

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

# One event loop per module: the module-scoped client fixture and the tests must share it.
pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVER = [sys.executable, "-m", "lsp_server"]
CLIENTS = ["visual-studio-code", "neovim", "emacs"]


def with_inline(caps: types.ClientCapabilities) -> types.ClientCapabilities:
    """Recorded capabilities plus LSP 3.18 inline completion (no recorded client declares it yet)."""
    caps = copy.deepcopy(caps)
    if caps.text_document is None:
        caps.text_document = types.TextDocumentClientCapabilities()
    caps.text_document.inline_completion = types.InlineCompletionClientCapabilities(dynamic_registration=False)
    return caps


async def start(client: LanguageClient, caps: types.ClientCapabilities, options: dict | None = None) -> types.InitializeResult:
    return await client.initialize_session(
        types.InitializeParams(capabilities=caps, initialization_options=options or {}, root_uri="file:///nonexistent-root")
    )


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER), params=CLIENTS, scope="module")
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest):
    result = await start(lsp_client, with_inline(client_capabilities(request.param)), {"maxItems": 20})
    lsp_client.init_result = result  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


def open_doc(client: LanguageClient, uri: str, text: str, lang: str, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=lang, version=version, text=text)
        )
    )


def units(text: str, encoding: str = "utf-16") -> int:
    """Length of text in the code units of a negotiated position encoding."""
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-32":
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def end_of(text: str, encoding: str = "utf-16") -> types.Position:
    lines = text.split("\n")
    return types.Position(line=len(lines) - 1, character=units(lines[-1], encoding))


def encoding_of(client: LanguageClient) -> str:
    enc = client.init_result.capabilities.position_encoding  # type: ignore[attr-defined]
    return str(getattr(enc, "value", enc) or "utf-16")


async def complete(client: LanguageClient, uri: str, pos: types.Position) -> types.CompletionList:
    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri), position=pos)
    )
    assert isinstance(result, types.CompletionList)
    return result


CPP = """#include <vector>
int total_count = 0;
int tally(const std::vector<int>& values) {
  int total = 0;
  for (int v : values) total += v;
  total_count += 1;
  return tot"""


async def test_completion_items_are_ranked_and_replace_the_prefix(client: LanguageClient) -> None:
    uri = "file:///project/demo/a.cpp"
    open_doc(client, uri, CPP, "cpp")
    pos = end_of(CPP)
    res = await complete(client, uri, pos)
    assert res.is_incomplete is True
    labels = [i.label for i in res.items]
    assert "total" in labels and "total_count" in labels
    assert 0 < len(res.items) <= 20
    assert [i.sort_text for i in res.items] == sorted(i.sort_text for i in res.items)
    assert len({i.sort_text for i in res.items}) == len(res.items)
    for item in res.items:
        assert item.text_edit is not None and item.kind is not None
        assert item.filter_text is not None
        rng = item.text_edit.range
        assert rng.end == pos
        if item.kind != types.CompletionItemKind.Snippet:
            assert item.text_edit.new_text == item.label
    ident = next(i for i in res.items if i.label == "total")
    assert ident.text_edit.range.start == types.Position(line=pos.line, character=pos.character - 3)


async def test_columns_are_utf16_with_astral_characters(client: LanguageClient) -> None:
    uri = "file:///project/demo/astral.js"
    text = "const value = 1, valid = 2; // 𝒳\nlet é = '😀𝒳😀' + va"
    open_doc(client, uri, text, "javascript")
    enc = encoding_of(client)
    pos = end_of(text, enc)
    # VS Code's recorded capabilities negotiate UTF-16, Neovim's UTF-8 and Emacs' UTF-32
    expected = {"utf-16": 21, "utf-8": 28, "utf-32": 18}[enc]
    assert pos.character == expected, (enc, pos)
    res = await complete(client, uri, pos)
    labels = [i.label for i in res.items]
    assert "value" in labels and "valid" in labels
    item = next(i for i in res.items if i.label == "value")
    # the typed prefix "va" is 2 code units before the cursor in every encoding
    assert item.text_edit.range.start == types.Position(line=1, character=pos.character - 2)
    assert item.text_edit.range.end == pos


async def test_incremental_changes_are_applied(client: LanguageClient) -> None:
    uri = "file:///project/demo/inc.js"
    text = "function area(w, h) {\n  return w * h;\n}\n"
    open_doc(client, uri, text, "javascript")
    edits = [
        ((2, 1), (2, 1), "\nconst rectangleWidth = 3;\n"),
        ((1, 9), (1, 10), "width"),  # w -> width on line 1 (UTF-16 columns)
        ((4, 0), (4, 0), "rect"),
    ]
    for version, ((sl, sc), (el, ec), new) in enumerate(edits, start=2):
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=types.Position(line=sl, character=sc), end=types.Position(line=el, character=ec)),
                        text=new,
                    )
                ],
            )
        )
    res = await complete(client, uri, types.Position(line=4, character=4))
    assert "rectangleWidth" in [i.label for i in res.items]
    assert all(i.text_edit.range.start == types.Position(line=4, character=0) for i in res.items if i.kind != types.CompletionItemKind.Snippet)


async def test_a_deleted_name_is_not_suggested_after_did_change(client: LanguageClient) -> None:
    """didOpen, a completion that shows a local and a member, a didChange that deletes their only
    occurrences, and at once (no waiting) completions that no longer show them."""
    uri = "file:///project/demo/fresh.js"
    text = ("function work(input) {\n  let zqxStale = input;\n  const box = {};\n  box.qzOldMember = 1;\n"
            "  box.qzKept = 2;\n  return zq\n}\n")
    open_doc(client, uri, text, "javascript")
    at_return = types.Position(line=5, character=11)
    assert "zqxStale" in [i.label for i in (await complete(client, uri, at_return)).items]
    member_text = text.replace("return zq", "return box.q")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=member_text)]))
    at_member = types.Position(line=5, character=14)
    assert "qzOldMember" in [i.label for i in (await complete(client, uri, at_member)).items]
    # delete both lines in one edit (lines 1 and 3 of the text: the declaration and the member use)
    deleted = member_text.replace("  let zqxStale = input;\n", "").replace("  box.qzOldMember = 1;\n", "")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=3),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=deleted)]))
    got = [i.label for i in (await complete(client, uri, types.Position(line=3, character=14))).items]
    assert "qzOldMember" not in got and "qzKept" in got
    back = deleted.replace("return box.q", "return zq")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=4),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=back)]))
    got = [i.label for i in (await complete(client, uri, types.Position(line=3, character=11))).items]
    assert "zqxStale" not in got


async def test_inline_completion_continues_the_prefix(client: LanguageClient) -> None:
    caps = client.init_result.capabilities  # type: ignore[attr-defined]
    assert caps.inline_completion_provider is not None
    uri = "file:///project/demo/inline.cpp"
    open_doc(client, uri, CPP, "cpp")
    pos = end_of(CPP)
    res = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=pos,
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
        )
    )
    items = res.items if isinstance(res, types.InlineCompletionList) else res
    assert items, "expected ghost text after `tot`"
    for item in items:
        assert isinstance(item.insert_text, str) and item.insert_text.startswith("tot") and item.insert_text != "tot"
        assert item.range is not None and item.range.end == pos
        assert item.range.start == types.Position(line=pos.line, character=pos.character - 3)


async def test_code_action_renames_every_occurrence(client: LanguageClient) -> None:
    uri = "file:///project/demo/rename.js"
    text = "function f(a, b) {\n  let x = 0;\n  for (const v of a) x += v * b;\n  return x;\n}\n"
    open_doc(client, uri, text, "javascript")
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=1, character=6), end=types.Position(line=1, character=6)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    assert isinstance(actions, (list, tuple))
    for action in actions:
        assert action.title.startswith("Rename `x` to `")
        edits = action.edit.changes[uri]
        # x occurs on lines 1, 2 and 3: every occurrence is renamed, each edit covers exactly one `x`
        assert sorted(e.range.start.line for e in edits) == [1, 2, 3]
        lines = text.split("\n")
        for e in edits:
            assert e.range.start.line == e.range.end.line
            assert lines[e.range.start.line][e.range.start.character : e.range.end.character] == "x"
            assert e.new_text == action.title.split("`")[3]


async def test_bad_requests_get_empty_results(client: LanguageClient) -> None:
    never_opened = await complete(client, "file:///project/demo/never-opened.cpp", types.Position(line=0, character=0))
    assert never_opened.items == ()
    uri = "file:///project/demo/range.cpp"
    open_doc(client, uri, "int a;\n", "cpp")
    past_end = await complete(client, uri, types.Position(line=999, character=3))
    assert past_end.items == ()
    wide = await complete(client, uri, types.Position(line=0, character=999))  # clamps to the line end
    # returned ranges lie inside the document
    assert all(i.text_edit.range.end == types.Position(line=0, character=6) for i in wide.items)
    binary = "file:///project/demo/blob.cpp"
    open_doc(client, binary, "int\x00\x01\x02 data;\nda", "cpp")
    assert (await complete(client, binary, types.Position(line=1, character=2))).items == ()
    with pytest.raises(Exception, match="[Mm]ethod"):
        await client.protocol.send_request_async("codecomp/noSuchMethod", {})
    # the server still answers
    assert (await complete(client, uri, types.Position(line=1, character=0))).is_incomplete


# --------------------------------------------------------------------------------------------- settings
@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER), loop_scope="module")
async def vscode(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


async def test_settings_and_inline_only_when_supported(vscode: LanguageClient) -> None:
    result = await start(vscode, client_capabilities("visual-studio-code"),
                         {"maxItems": "many", "enable": {"javascript": False}, "logLevel": "info"})
    assert result.capabilities.inline_completion_provider is None
    assert result.capabilities.completion_provider is not None
    for _ in range(50):
        if any("maxItems" in m.message for m in vscode.messages):
            break
        await asyncio.sleep(0.05)
    assert any("maxItems" in m.message and "whole number" in m.message for m in vscode.messages)
    js = "file:///project/demo/off.js"
    open_doc(vscode, js, "let alpha = 1, alphabet = 2;\nalp", "javascript")
    assert (await complete(vscode, js, types.Position(line=1, character=3))).items == ()
    vscode.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"codecomp": {"maxItems": 1, "enable": {"javascript": True}}})
    )
    res = await complete(vscode, js, types.Position(line=1, character=3))
    assert len(res.items) == 1 and res.items[0].label.startswith("alp")


async def test_missing_model_is_reported_once_and_completion_continues(vscode: LanguageClient) -> None:
    await start(vscode, client_capabilities("neovim"), {"modelPath": "/nonexistent/codecomp-model"})
    uri = "file:///project/demo/m.cpp"
    open_doc(vscode, uri, CPP, "cpp")
    for _ in range(3):
        res = await complete(vscode, uri, end_of(CPP))
        assert "total" in [i.label for i in res.items]
    for _ in range(100):
        if vscode.messages:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    about_model = [m for m in vscode.messages if "model" in m.message.lower()]
    assert len(about_model) == 1, [m.message for m in vscode.messages]
    assert about_model[0].type in (types.MessageType.Warning, types.MessageType.Error)


async def test_slow_engine_is_bounded_cancellable_and_stale_results_dropped(vscode: LanguageClient) -> None:
    await start(vscode, client_capabilities("emacs"), {"simulateSlowEngineMs": 3000, "requestTimeoutMs": 300})
    uri = "file:///project/demo/slow.cpp"
    open_doc(vscode, uri, CPP, "cpp")
    t0 = time.perf_counter()
    res = await complete(vscode, uri, end_of(CPP))
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, f"the time bound did not hold: {elapsed:.2f} s"
    assert "total" in [i.label for i in res.items]  # answered from the words of the file

    # a cancelled request is answered at once with RequestCancelled
    vscode.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"codecomp": {"requestTimeoutMs": 10000}}))
    params = types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri), position=end_of(CPP))
    fut = asyncio.ensure_future(vscode.protocol.send_request_async(types.TEXT_DOCUMENT_COMPLETION, params, msg_id=4242))
    await asyncio.sleep(0.2)
    t0 = time.perf_counter()
    vscode.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=4242))
    with pytest.raises(Exception, match="cancel"):
        await asyncio.wait_for(fut, 5)
    assert time.perf_counter() - t0 < 1.0

    # a result computed for an old version is dropped (the edit lands while the engine is busy)
    vscode.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"codecomp": {"simulateSlowEngineMs": 700}}))
    fut = asyncio.ensure_future(vscode.text_document_completion_async(params))
    await asyncio.sleep(0.2)
    vscode.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=CPP + "a")]))
    stale = await asyncio.wait_for(fut, 5)
    assert stale.items == () and stale.is_incomplete


async def test_a_newer_completion_for_the_same_document_answers_the_older_ones_at_once(vscode: LanguageClient) -> None:
    await start(vscode, client_capabilities("emacs"), {"simulateSlowEngineMs": 600, "requestTimeoutMs": 5000})
    uri = "file:///project/demo/burst.cpp"
    other = "file:///project/demo/other.cpp"
    open_doc(vscode, uri, CPP, "cpp")
    open_doc(vscode, other, CPP, "cpp")
    params = types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri), position=end_of(CPP))
    elsewhere = types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=other), position=end_of(CPP))
    t0 = time.perf_counter()
    older = [asyncio.ensure_future(vscode.text_document_completion_async(params)) for _ in range(5)]
    await asyncio.sleep(0.05)
    on_other = asyncio.ensure_future(vscode.text_document_completion_async(elsewhere))
    newest = asyncio.ensure_future(vscode.text_document_completion_async(params))
    answered = await asyncio.wait_for(asyncio.gather(*older), 5)
    # the older ones were answered when the newest arrived, long before one slow engine call could end
    assert time.perf_counter() - t0 < 0.45
    assert all(r.items == () and r.is_incomplete for r in answered)
    # the newest one and the other document's request (another kind of key) get real answers
    assert "total" in [i.label for i in (await asyncio.wait_for(newest, 10)).items]
    assert "total" in [i.label for i in (await asyncio.wait_for(on_other, 10)).items]
