"""The language server with a real (tiny, trained) model artifact: token + char models and the Tree-LSTM
naming model, trained with the real loop on the fixture corpus and exported to ONNX.  Checks the neural
paths end to end over stdio: ranked completions, the fragment as inline completion, and rename code actions
built from the naming model's suggestions."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

REPO = Path(__file__).resolve().parents[1]
JS = """function total(items) {
  let sum = 0;
  for (const item of items) {
    sum += item.price * item.count;
  }
  return sum;
}
const cart = [];
"""


@pytest.fixture(scope="module")
def artifact(tmp_path_factory, fixture_corpus: Path) -> Path:
    pytest.importorskip("torch")
    sys.path.insert(0, str(REPO / "tests"))
    from test_export import make_artifact

    from codecomp.artifact import write_manifest
    from training.cli import make_task, read_config
    from training.export_naming import export_naming
    from training.loop import LoopConfig, dataclass_from_dict, train

    base = tmp_path_factory.mktemp("lsp-model")
    out = make_artifact(base, steps=60)
    doc = read_config(REPO / "training" / "configs" / "tiny-tree.toml", "tree")
    cfg = dataclass_from_dict(LoopConfig, doc["train"], "train")
    cfg.max_steps, cfg.eval_every = 12, 6
    task = make_task("tree", fixture_corpus, {k: doc[k] for k in ("model", "data")}, cfg.seed)
    run = base / "naming-run"
    train(task, run, cfg, progress=False, extra_config={"corpus": str(fixture_corpus)})
    section = export_naming(run, out)
    manifest = json.loads((out / "manifest.json").read_text())
    models = dict(manifest["models"], naming=section)
    languages = sorted(set(manifest["languages"]) | set(section["languages"]))
    write_manifest(out, models, languages, manifest.get("training"))
    return out


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "lsp_server"]), scope="module")
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


async def test_neural_completion_inline_and_rename(client: LanguageClient, artifact: Path) -> None:
    caps = client_capabilities("visual-studio-code")
    caps.text_document.inline_completion = types.InlineCompletionClientCapabilities()
    await client.initialize_session(types.InitializeParams(
        capabilities=caps, initialization_options={"modelPath": str(artifact), "requestTimeoutMs": 20000}))
    uri = "file:///lsp-model/cart.js"
    text = JS + "const t = total(ca"
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="javascript", version=1, text=text)))
    pos = types.Position(line=text.count("\n"), character=len(text.split("\n")[-1]))
    res = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=pos))
    assert "cart" in [i.label for i in res.items]
    assert all(i.text_edit.range.end == pos for i in res.items)

    inline = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=pos,
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
    items = inline.items if isinstance(inline, types.InlineCompletionList) else inline
    assert items and all(i.insert_text.startswith("ca") for i in items)

    # `sum` (line 1) is a variable the naming model can rename; every occurrence is edited
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(line=1, character=7), end=types.Position(line=1, character=7)),
        context=types.CodeActionContext(diagnostics=[])))
    assert actions, "the naming model suggested no name"
    lines = text.split("\n")
    for action in actions:
        assert action.title.startswith("Rename `sum` to `")
        edits = action.edit.changes[uri]
        assert sorted(e.range.start.line for e in edits) == [1, 3, 5]
        for e in edits:
            assert lines[e.range.start.line][e.range.start.character : e.range.end.character] == "sum"

    # Asked by the editor itself (the cursor moved), only names likely to be right come, the first preferred;
    # asked by the user, all of them.
    uri2 = "file:///lsp-model/paths.js"
    text2 = "const p = require('path');\nlet n = 0;\nn += p.sep.length;\n"
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri2, language_id="javascript", version=1, text=text2)))

    async def rename_actions(line: int, trigger: types.CodeActionTriggerKind) -> list:
        col = len(text2.split("\n")[line].split(" ")[0]) + 1  # the declared name, after `const ` / `let `
        return await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri2),
            range=types.Range(start=types.Position(line=line, character=col),
                              end=types.Position(line=line, character=col)),
            context=types.CodeActionContext(diagnostics=[], trigger_kind=trigger)))

    auto = await rename_actions(0, types.CodeActionTriggerKind.Automatic)
    assert [a.title for a in auto] == ["Rename `p` to `path`"] and auto[0].is_preferred
    asked = await rename_actions(0, types.CodeActionTriggerKind.Invoked)
    assert asked[0].title == "Rename `p` to `path`" and len(asked) > 1
    assert all(not a.is_preferred for a in asked[1:])
    # `n` has nothing in its context that spells a name: the model's guesses wait until the user asks
    assert not await rename_actions(1, types.CodeActionTriggerKind.Automatic)
    assert await rename_actions(1, types.CodeActionTriggerKind.Invoked)

    await asyncio.sleep(0.2)
    assert not [m for m in client.messages if "model" in m.message.lower()], [m.message for m in client.messages]
