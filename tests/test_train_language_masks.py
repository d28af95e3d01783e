"""Per-language vocabulary masks: built from the train split, used by the training loss, exported, and applied by
the engine so that a JavaScript document never gets a C++-only word from the model (and the reverse)."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from training.data import DocBatcher, synthetic_corpus
from training.loop import LoopConfig, train
from training.models.token_lstm import MASKED_LOGIT, PAD_ID, TokenTask
from training.vocab import LANGUAGES_FILE, SPECIALS, STR_ID, UNK_ID, LanguageMasks, Vocab, build_language_masks

TINY = {"model": {"vocab_size": 300, "min_count": 1, "embed": 16, "hidden": 32, "key_dim": 16, "memory": 64,
                  "dropout": 0.0},
        "data": {"batch_size": 4, "seq_len": 16, "eval_batch_size": 4, "eval_max_items": 1500}}


@pytest.fixture(scope="module")
def mixed_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """C++ and JavaScript files (the synthetic corpus alternates the two languages)."""
    return synthetic_corpus(tmp_path_factory.mktemp("masks") / "corpus", n_projects=4, files_per_project=8)


@pytest.fixture(scope="module")
def trained_run(mixed_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TokenTask]:
    run = tmp_path_factory.mktemp("masks-run") / "run"
    task = TokenTask(mixed_corpus, TINY, 0)
    train(task, run, LoopConfig(epochs=2, max_steps=12, lr=0.01, warmup_steps=2, threads=1, patience=0),
          progress=False)
    return run, task


def test_masks_follow_the_per_language_counts() -> None:
    vocab = Vocab(list(SPECIALS) + ["std", "const", "x", "rare"])
    counts = {"cpp": Counter({"std": 9, "x": 5, "rare": 1, "const": 1}),
              "javascript": Counter({"const": 9, "x": 4})}
    masks = build_language_masks(vocab, counts, min_count=2)
    cpp, js = masks.allowed["cpp"], masks.allowed["javascript"]
    ids = {t: i for i, t in enumerate(vocab.itos)}
    assert cpp[ids["std"]] and not js[ids["std"]]
    assert js[ids["const"]] and not cpp[ids["const"]]          # one C++ use is below the threshold
    assert cpp[ids["x"]] and js[ids["x"]]
    assert cpp[ids["rare"]]                                      # below threshold everywhere: kept where commonest
    assert cpp[: len(SPECIALS)].all() and js[: len(SPECIALS)].all()
    # banned words become their fallback targets in that language
    out = masks.fallback_targets(np.array([ids["std"], ids["x"], ids["std"]]), [0, 0, 3], "javascript")
    assert out.tolist() == [UNK_ID, ids["x"], STR_ID]


def test_masks_round_trip(tmp_path: Path) -> None:
    vocab = Vocab(list(SPECIALS) + ["a", "b"])
    masks = build_language_masks(vocab, {"cpp": Counter({"a": 3}), "javascript": Counter({"b": 3})}, 2)
    masks.save(tmp_path / LANGUAGES_FILE)
    again = LanguageMasks.load(tmp_path / LANGUAGES_FILE)
    assert again.digest() == masks.digest() and again.languages == ["cpp", "javascript"]


def test_training_writes_masks_and_validation_uses_them(trained_run: tuple[Path, TokenTask]) -> None:
    run, task = trained_run
    assert (run / LANGUAGES_FILE).is_file()
    masks = LanguageMasks.load(run / LANGUAGES_FILE)
    vocab = Vocab.load(run / "vocab.json")
    ids = {t: i for i, t in enumerate(vocab.itos)}
    # words of one language only in the synthetic corpus
    assert not masks.allowed["javascript"][ids["#include"]] and not masks.allowed["cpp"][ids["function"]]
    assert json.loads((run / "config.json").read_text())["task_info"]["language_masks_digest"] == masks.digest()
    assert task.lang_bias is not None
    assert float(task.lang_bias[task.lang_index["javascript"], ids["#include"]]) == MASKED_LOGIT
    # by default the training batches carry no masks (the loss is not masked) ...
    assert "lang" not in next(iter(task.train_batches(0, 0, 1, 0)))
    # ... but validation's vocabulary softmax of a JavaScript position gives a C++-only word no mass
    batcher = DocBatcher(task.valid_docs, task.fields, 2, task.data.seq_len, seed=0, shuffle=False)
    model = task.build_model(run)   # reloads vocabulary and masks from the run folder
    model.eval()
    seen = set()
    carry = None
    for raw in batcher.batches(0, 0, 1, 0):
        batch = {k: torch.from_numpy(v).long() if v.dtype == np.int32 else torch.from_numpy(v) for k, v in raw.items()}
        with torch.no_grad():
            _, extras, carry = task.chunk(model, batch, carry, full_logits=True)
        probs = torch.softmax(extras["logits"], dim=-1)
        real = batch["ids_next"] != PAD_ID
        for name, banned_in in (("#include", "javascript"), ("function", "cpp")):
            rows = real & (batch["lang"] == task.lang_index[banned_in])
            if rows.any():
                seen.add(banned_in)
                assert float(probs[rows][:, ids[name]].max()) < 1e-6
    assert seen == {"cpp", "javascript"}


def test_mask_loss_option_masks_the_training_batches(mixed_corpus: Path, tmp_path: Path) -> None:
    task = TokenTask(mixed_corpus, {"model": {**TINY["model"], "mask_loss": True}, "data": TINY["data"]}, 0)
    model = task.build_model(tmp_path)
    batch = next(iter(task.train_batches(0, 0, 1, 0)))
    assert "lang" in batch and "tid_next" in batch
    loss, count, _ = task.loss(model, batch)
    assert torch.isfinite(loss) and count > 0


def test_engine_masks_the_distribution_by_document_language(trained_run: tuple[Path, TokenTask],
                                                            tmp_path: Path) -> None:
    from codecomp.artifact import load
    from codecomp.engine.models import TokenModel
    from training.export import export_runs

    run, _ = trained_run
    out = tmp_path / "artifact"
    export_runs([run], out, log=lambda m: None)
    artifact = load(out)
    assert artifact.models["token"]["language_masks"] == "token_languages.json"
    model = TokenModel(artifact)
    vocab = model.vocab
    masks = LanguageMasks.load(run / LANGUAGES_FILE)
    cpp_only = [i for i in range(len(SPECIALS), len(vocab))
                if masks.allowed["cpp"][i] and not masks.allowed["javascript"][i]]
    js_only = [i for i in range(len(SPECIALS), len(vocab))
               if masks.allowed["javascript"][i] and not masks.allowed["cpp"][i]]
    assert cpp_only and js_only
    assert {"#include", "class"} & {vocab[i] for i in cpp_only}
    assert {"function", "require"} & {vocab[i] for i in js_only}
    h, c = model.zero_state()
    keys, texts = [], ["<bos>"]
    for word in ["<bos>", "const", "x", "=", "require", "("]:
        out_step = model.step(np.array([model.id_of(word)]), h, c)
        h, c = out_step["h"], out_step["c"]
        keys.append(out_step["key"][0])
        if word != "<bos>":
            texts.append(word)
        js = model.distribution(out_step, keys, texts, lang="javascript")
        cpp = model.distribution(out_step, keys, texts, lang="cpp")
        plain = model.distribution(out_step, keys, texts)
        assert float(js.p_vocab[cpp_only].max()) == 0.0 and float(cpp.p_vocab[js_only].max()) == 0.0
        assert js.p_vocab.sum() == pytest.approx(1.0) and cpp.p_vocab.sum() == pytest.approx(1.0)
        assert float(plain.p_vocab[cpp_only].min()) > 0.0       # no language: nothing masked
        for i in cpp_only:
            assert js.prob(vocab[i], i) == 0.0 or vocab[i] in js.copy   # only a copy of the file's own text


def test_artifact_without_masks_means_no_masking(trained_run: tuple[Path, TokenTask], tmp_path: Path) -> None:
    import shutil

    from codecomp.artifact import load, write_manifest
    from codecomp.engine.models import TokenModel
    from training.export import export_runs

    run, _ = trained_run
    out = tmp_path / "artifact"
    export_runs([run], out, log=lambda m: None)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["models"]["token"]["language_masks"]
    (out / "token_languages.json").unlink()
    write_manifest(out, manifest["models"], manifest["languages"], manifest["training"])
    model = TokenModel(load(out))
    assert model.language_masks == {}
    out_step = model.step(np.array([model.bos]), *model.zero_state())
    dist = model.distribution(out_step, [out_step["key"][0]], ["<bos>"], lang="javascript")
    assert float(dist.p_vocab[len(SPECIALS):].min()) > 0.0
    shutil.rmtree(out)


def test_completion_lists_never_offer_the_other_languages_words(trained_run: tuple[Path, TokenTask],
                                                                tmp_path: Path) -> None:
    """Through the whole engine: a JS document's list holds no word the model only knows from C++ (and the
    reverse), unless the document itself uses it."""
    from codecomp.engine import Engine
    from codecomp.syntax import KEYWORDS
    from training.export import export_runs

    run, _ = trained_run
    out = tmp_path / "artifact"
    export_runs([run], out, log=lambda m: None)
    engine = Engine.load(out)
    masks = LanguageMasks.load(run / LANGUAGES_FILE)
    vocab = engine.model.vocab
    only = {lang: {vocab[i] for i in range(len(SPECIALS), len(vocab))
                   if masks.allowed[lang][i] and not masks.allowed[other][i]}
            for lang, other in (("javascript", "cpp"), ("cpp", "javascript"))}
    docs = {"javascript": "const total = items.reduce((a, b) => a + b, 0);\nfunction f(x) {\n  return ",
            "cpp": "#include <vector>\nint total(const std::vector<int>& v) {\n  int s = 0;\n  return "}
    for lang, text in docs.items():
        uri = f"file:///doc.{'js' if lang == 'javascript' else 'cpp'}"
        engine.open(uri, text, lang, 1)
        lines = text.split("\n")
        labels = {c.label for c in engine.complete(uri, len(lines) - 1, len(lines[-1]), max_items=10_000).items}
        other = "cpp" if lang == "javascript" else "javascript"
        # the document's own words and its language's keywords (`class` is both C++ and JS) are legitimate
        own = set(text.replace("(", " ").replace(")", " ").split()) | set(KEYWORDS[lang])
        leaked = (labels & only[other]) - own
        assert not leaked, f"{lang} list offers {other}-only words {sorted(leaked)[:5]}"
        assert labels, "the list must not be empty"
        engine.close(uri)
