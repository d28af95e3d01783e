"""Project context through the language server: a real LSP conversation over stdio (pytest-lsp) with a
workspace of real files in tmp_path.  The server indexes the workspace in the background; these tests wait for
its progress to end (or poll) before they look at what is offered."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

pytestmark = pytest.mark.asyncio

SERVER = [sys.executable, "-m", "lsp_server"]


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient):
    lsp_client.registrations = []  # type: ignore[attr-defined]

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        lsp_client.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    yield
    await lsp_client.shutdown_session()


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


async def start(client: LanguageClient, root: Path, options: dict | None = None,
                caps: types.ClientCapabilities | None = None) -> None:
    await client.initialize_session(types.InitializeParams(
        capabilities=caps or client_capabilities("visual-studio-code"), initialization_options=options or {},
        root_uri=root.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)]))


async def indexed(client: LanguageClient, timeout: float = 30.0) -> list:
    """The progress values of the finished indexing run (waits for its end notification)."""
    for _ in range(int(timeout / 0.05)):
        for values in list(client.progress_reports.values()):
            if values and isinstance(values[-1], types.WorkDoneProgressEnd):
                return values
        await asyncio.sleep(0.05)
    raise AssertionError(f"indexing did not finish: {client.progress_reports}")


def open_doc(client: LanguageClient, path: Path, text: str, lang: str) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id=lang, version=1, text=text)))
    return uri


async def labels(client: LanguageClient, uri: str, text: str) -> list[str]:
    """Labels offered at the end of `text` (the document's full text)."""
    lines = text.split("\n")
    pos = types.Position(line=len(lines) - 1, character=len(lines[-1].encode("utf-16-le")) // 2)
    res = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=pos))
    assert isinstance(res, types.CompletionList)
    return [i.label for i in res.items]


WIDGET_H = """#pragma once
class Widget {
 public:
  void resizeTo(int width, int height);
  bool isVisibleNow() const;
};
int computeLayoutScore(const Widget& w);
"""
UTIL_JS = """function formatCurrency(x) { return x.toFixed(2); }
function parseQuantity(s) { return Number(s); }
module.exports = { formatCurrency, parseQuantity };
"""


async def test_names_declared_in_an_included_header_and_a_required_module(client: LanguageClient,
                                                                         tmp_path: Path) -> None:
    write(tmp_path, "include/widget.h", WIDGET_H)
    write(tmp_path, "src/util.js", UTIL_JS)
    await start(client, tmp_path)
    await indexed(client)
    cpp = '#include "../include/widget.h"\nvoid paint() {\n  Widget w;\n  w.'
    uri = open_doc(client, tmp_path / "src/main.cpp", cpp, "cpp")
    assert {"resizeTo", "isVisibleNow"} <= set(await labels(client, uri, cpp))
    cpp2 = cpp[:-len("w.")] + "int score = comp"
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=cpp2)]))
    assert "computeLayoutScore" in await labels(client, uri, cpp2)
    js = "const u = require('./util');\nfunction total(items) {\n  return u."
    uri = open_doc(client, tmp_path / "src/app.js", js, "javascript")
    assert {"formatCurrency", "parseQuantity"} <= set(await labels(client, uri, js))


async def test_an_open_file_is_its_editor_text_never_its_disk_copy(client: LanguageClient, tmp_path: Path) -> None:
    """The disk copy of an open file has a name its editor text does not: never offered while the file is
    open (neither as a project identifier nor as a module export), offered from disk after didClose."""
    a = write(tmp_path, "a.js", "const diskOnlyMarker = 1;\nmodule.exports = { diskOnlyMarker };\n")
    write(tmp_path, "c.js", "const unrelatedThing = require('./a');\n")
    await start(client, tmp_path)
    # opened while the index may still be reading the disk: the editor's text must win
    a_text = "const editorOnlyMarker = 2;\nmodule.exports = { editorOnlyMarker };\nconst local = dis"
    a_uri = open_doc(client, a, a_text, "javascript")
    await indexed(client)
    b_text = "const a = require('./a');\nlet v = diskO"
    b_uri = open_doc(client, tmp_path / "b.js", b_text, "javascript")
    member_text = "const a = require('./a');\nlet v = a."
    for _ in range(3):
        assert "diskOnlyMarker" not in await labels(client, b_uri, b_text)
        assert "diskOnlyMarker" not in await labels(client, a_uri, a_text)
        await asyncio.sleep(0.2)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=b_uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=member_text)]))
    got = await labels(client, b_uri, member_text)
    assert "editorOnlyMarker" in got and "diskOnlyMarker" not in got
    client.text_document_did_save(types.DidSaveTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=a_uri)))  # a save of the editor text changes nothing
    assert "diskOnlyMarker" not in await labels(client, b_uri, member_text)
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=a_uri)))
    got = await labels(client, b_uri, member_text)
    assert "diskOnlyMarker" in got and "editorOnlyMarker" not in got
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=b_uri, version=3),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=b_text)]))
    assert "diskOnlyMarker" in await labels(client, b_uri, b_text)


async def test_a_watched_new_file_is_indexed(client: LanguageClient, tmp_path: Path) -> None:
    write(tmp_path, "lib/old.js", "function existingHelper() {}\n")
    await start(client, tmp_path)
    await indexed(client)
    assert any(r.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
               for r in client.registrations)  # type: ignore[attr-defined]
    text = "let x = fresh"
    uri = open_doc(client, tmp_path / "lib/main.js", text, "javascript")
    assert "freshlyWrittenHelper" not in await labels(client, uri, text)
    new = write(tmp_path, "lib/new.js", "function freshlyWrittenHelper(a) { return a; }\nfreshlyWrittenHelper(1);\n")
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(
        changes=[types.FileEvent(uri=new.as_uri(), type=types.FileChangeType.Created)]))
    for _ in range(100):
        if "freshlyWrittenHelper" in await labels(client, uri, text):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the new file's declaration was never offered")
    new.unlink()
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(
        changes=[types.FileEvent(uri=new.as_uri(), type=types.FileChangeType.Deleted)]))
    for _ in range(100):
        if "freshlyWrittenHelper" not in await labels(client, uri, text):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the deleted file's declaration is still offered")


async def test_workspace_index_off_offers_nothing_from_other_files(client: LanguageClient, tmp_path: Path) -> None:
    write(tmp_path, "include/widget.h", WIDGET_H)
    await start(client, tmp_path, {"workspaceIndex": False})
    cpp = '#include "include/widget.h"\nint s = comp'
    uri = open_doc(client, tmp_path / "main.cpp", cpp, "cpp")
    await asyncio.sleep(1.0)  # time in which an index would have been built
    assert "computeLayoutScore" not in await labels(client, uri, cpp)
    assert not client.progress_reports
    member = '#include "include/widget.h"\nvoid f() { Widget w; w.'
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=member)]))
    assert "resizeTo" not in await labels(client, uri, member)
    # switched on by a configuration change, the index is built and used
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"codecomp": {"workspaceIndex": True}}))
    await indexed(client)
    assert "resizeTo" in await labels(client, uri, member)


async def test_indexing_progress_is_reported(client: LanguageClient, tmp_path: Path) -> None:
    for i in range(70):
        write(tmp_path, f"src/m{i}.js", f"exports.value{i} = {i};\n")
    await start(client, tmp_path)
    values = await indexed(client)
    assert isinstance(values[0], types.WorkDoneProgressBegin)
    reports = [v for v in values if isinstance(v, types.WorkDoneProgressReport)]
    assert any(r.message == "indexing 64 / 70 files" for r in reports), reports
    assert reports[-1].message == "indexing 70 / 70 files" and reports[-1].percentage == 100
    assert "70" in (values[-1].message or "")


async def test_no_progress_without_client_support(client: LanguageClient, tmp_path: Path) -> None:
    write(tmp_path, "include/widget.h", WIDGET_H)
    caps = client_capabilities("visual-studio-code")
    caps.window = types.WindowClientCapabilities(work_done_progress=False)
    await start(client, tmp_path, caps=caps)
    cpp = '#include "include/widget.h"\nint s = comp'
    uri = open_doc(client, tmp_path / "main.cpp", cpp, "cpp")
    for _ in range(100):  # a completion never waits for the index: poll until it has read the header
        if "computeLayoutScore" in await labels(client, uri, cpp):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the header's declaration was never offered")
    assert not client.progress_reports
