"""The token model's adaptive softmax and the artifact whose token graphs share one copy of the weights.

* the adaptive softmax is a proper distribution over the whole vocabulary, and its training loss scores exactly
  that distribution (same targets, same numbers), with and without language masks;
* it trains through the real loop (copy mixture and language masks included) and exports with PyTorch/ONNX
  parity for the step and the chunk graphs;
* the token step and chunk graphs reference one weights file, float32 and int8 alike; such an artifact answers
  exactly as the former layout (each graph with its own weights), which still loads, as does the shipped model.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from codecomp.artifact import load, write_manifest  # noqa: E402
from training.models.token_lstm import PAD_ID, TokenLSTM, TokenLSTMConfig  # noqa: E402

ADAPTIVE = {"softmax": "adaptive", "adaptive_cutoffs": [20, 60], "adaptive_div": 2.0}


def _model(tie: bool, vocab: int = 90) -> TokenLSTM:
    torch.manual_seed(0)
    cfg = TokenLSTMConfig(vocab_size=vocab, embed=16, hidden=12, key_dim=4, memory=8, dropout=0.0,
                          tie_weights=tie, **ADAPTIVE)
    return TokenLSTM(cfg, vocab)


@pytest.mark.parametrize("tie", [True, False])
def test_adaptive_log_probs_are_normalised_and_are_the_training_loss(tie: bool) -> None:
    """logsumexp of the full log-probs is 0, and the training path's log p(target) is the same number, gradients
    included, for targets in the head and in every tail cluster."""
    model = _model(tie)
    x = torch.randint(0, 90, (3, 9))
    full = model(x)[0]
    assert full.shape == (3, 9, 90)
    assert torch.allclose(full.logsumexp(-1), torch.zeros(3, 9), atol=1e-5)
    select = torch.tensor([0, 2, 5, 11, 17, 26])
    target = torch.tensor([3, 19, 20, 59, 60, 89])     # head, head edge, both clusters and their edges
    picked = model(x, None, select, target)[0]
    reference = full.reshape(27, 90)[select].gather(1, target[:, None])[:, 0]
    assert torch.allclose(picked, reference, atol=1e-5)
    weights = torch.randn(len(select))
    grads = torch.autograd.grad((picked * weights).sum(), list(model.parameters()), allow_unused=True)
    refs = torch.autograd.grad((reference * weights).sum(), list(model.parameters()), allow_unused=True)
    for g, r in zip(grads, refs):
        if r is not None:
            assert g is not None and torch.allclose(g, r, atol=1e-5)


def test_adaptive_loss_with_language_masks_is_a_normalised_distribution() -> None:
    """With a mask, the training loss scores a distribution over the allowed words that still sums to 1."""
    model = _model(True)
    x = torch.randint(0, 90, (1, 4))
    banned = torch.zeros(90, dtype=torch.bool)
    banned[[7, 25, 70, 71]] = True
    bias = torch.where(banned, -1e4, 0.0)
    words = torch.arange(90)
    total = 0.0
    with torch.no_grad():
        for w in words[~banned]:
            # every allowed word as the target of the same position: the probabilities must add up to 1
            total += float(model(x, None, torch.tensor([3]), w[None], bias[None])[0].exp())
    assert total == pytest.approx(1.0, abs=1e-4)


def test_cutoffs_outside_a_small_vocabulary_are_dropped() -> None:
    """A corpus smaller than the configured vocabulary keeps the clusters that fit (none: a plain softmax)."""
    model = _model(True, vocab=40)
    assert model.adaptive.bounds == [20, 40]
    tiny = _model(True, vocab=15)
    assert tiny.adaptive.bounds == [15] and tiny.adaptive.n_clusters == 0
    full = tiny(torch.randint(0, 15, (2, 3)))[0]
    assert torch.allclose(full.logsumexp(-1), torch.zeros(2, 3), atol=1e-5)


def test_config_checks_and_full_softmax_runs_describe_themselves_as_before() -> None:
    from training.loop import ConfigError

    with pytest.raises(ConfigError):
        TokenLSTMConfig(softmax="sampled").validate()
    with pytest.raises(ConfigError):
        TokenLSTMConfig(softmax="adaptive", adaptive_cutoffs=[3000, 1000]).validate()
    # a full-softmax run records no adaptive keys, so checkpoints written before they existed still resume
    assert "softmax" not in TokenLSTMConfig().describe()
    assert TokenLSTMConfig(**ADAPTIVE).describe()["adaptive_cutoffs"] == [20, 60]


def test_adaptive_trains_with_copy_and_language_masks(tmp_path: Path) -> None:
    """The real loop trains it on a mixed-language corpus; validation reports finite, full-distribution metrics."""
    from training.data import synthetic_corpus
    from training.loop import LoopConfig, train
    from training.models.token_lstm import TokenTask

    corpus = synthetic_corpus(tmp_path / "corpus", n_projects=4, files_per_project=8)
    sections = {"model": {"vocab_size": 300, "min_count": 1, "embed": 16, "hidden": 32, "key_dim": 16,
                          "memory": 64, "dropout": 0.0, "softmax": "adaptive", "adaptive_cutoffs": [40, 120]},
                "data": {"batch_size": 4, "seq_len": 16, "eval_batch_size": 4, "eval_max_items": 1500}}
    task = TokenTask(corpus, sections, 0)
    train(task, tmp_path / "run", LoopConfig(epochs=2, max_steps=12, lr=0.01, warmup_steps=2, threads=1,
                                             patience=0), progress=False)
    assert task.masks is not None and task.lang_bias is not None     # the corpus has two languages
    metrics = task.evaluate(task_model(tmp_path / "run", task))
    assert np.isfinite(metrics["bpt"]) and 0.0 <= metrics["ident_acc5"] <= 1.0
    # the batch log-probs come from the mixture: vocabulary part (adaptive) and copy part together
    batch = next(task.train_batches(0, 0, 1, 0))
    logp, _extras, _carry = task.chunk(task_model(tmp_path / "run", task), batch, None)
    mask = batch["ids_next"] != PAD_ID
    assert bool(torch.isfinite(logp[mask]).all()) and float(logp[mask].max()) <= 1e-5


def task_model(run: Path, task) -> TokenLSTM:
    """The trained model of a run folder (its last checkpoint), in eval mode."""
    from training.loop import load_checkpoint

    model = TokenLSTM(task.model_config, len(task.vocab))
    model.load_state_dict(load_checkpoint(run / "ckpt-last.pt")["model"])
    return model.eval()


# ------------------------------------------------------------------------------------------------------------
# Export and artifact layout
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adaptive_artifacts(tmp_path_factory) -> dict[str, Path]:
    """Float32 and int8 artifacts of one tiny adaptive-softmax token run."""
    from test_export import make_artifact

    tmp = tmp_path_factory.mktemp("adaptive")
    return {q or "float": make_artifact(tmp, quantize=q, name=f"artifact-{q}", options=ADAPTIVE)
            for q in (None, "int8")}


def test_adaptive_export_parity_step_and_encode(adaptive_artifacts: dict[str, Path]) -> None:
    from training.export import PARITY_TOLERANCE

    art = load(adaptive_artifacts["float"])
    section = art.models["token"]
    assert section["parity"]["encode_max_abs_diff"] <= PARITY_TOLERANCE
    assert max(section["parity"].values()) <= PARITY_TOLERANCE
    # the step graph's `logits` are the full log-probs: they already sum to 1
    from codecomp.engine.models import TokenModel

    tm = TokenModel(art)
    h, c = tm.zero_state()
    out = tm.step(np.array([tm.bos]), h, c)
    assert float(np.log(np.exp(out["logits"][0].astype(np.float64)).sum())) == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("kind", ["float", "int8"])
def test_token_graphs_share_one_weights_file(adaptive_artifacts: dict[str, Path], kind: str) -> None:
    """Both token graphs reference the same external data; the weights file is listed, sized and hashed."""
    import onnx

    folder = adaptive_artifacts[kind]
    manifest = json.loads((folder / "manifest.json").read_text())
    section = manifest["models"]["token"]
    weights = section["weights"]
    assert weights in manifest["files"] and manifest["sizes"][weights] == (folder / weights).stat().st_size
    for graph in (section["file"], section["encode_file"]):
        model = onnx.load(str(folder / graph), load_external_data=False)
        locations = {e.value for t in model.graph.initializer for e in t.external_data if e.key == "location"}
        assert locations == {weights}
    sharing = section["weights_sharing"]
    assert sharing["graph_bytes_shared"] + sharing["weights_bytes"] < sharing["graph_bytes_inline"]
    # a damaged weights file is refused by the artifact's checks
    broken = folder.parent / f"broken-{kind}"
    shutil.copytree(folder, broken)
    with open(broken / weights, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x01\x02\x03")
    from codecomp.artifact import ArtifactError

    with pytest.raises(ArtifactError, match="checksum"):
        load(broken)
    (broken / weights).unlink()
    with pytest.raises(ArtifactError, match="missing"):
        load(broken)


def _inline_copy(folder: Path, out: Path) -> Path:
    """The same artifact in the former layout: each token graph carries its own weights, no weights file."""
    import onnx

    shutil.copytree(folder, out)
    manifest = json.loads((folder / "manifest.json").read_text())
    section = manifest["models"]["token"]
    for graph in (section["file"], section["encode_file"]):
        onnx.save(onnx.load(str(folder / graph)), str(out / graph))    # loads the external data, saves inline
    (out / section.pop("weights")).unlink()
    section.pop("weights_sharing")
    (out / "manifest.json").unlink()
    write_manifest(out, manifest["models"], manifest["languages"], manifest["training"])
    return out


@pytest.mark.parametrize("kind", ["float", "int8"])
def test_shared_layout_completes_like_the_two_file_layout(adaptive_artifacts: dict[str, Path], kind: str,
                                                          tmp_path: Path) -> None:
    from codecomp.engine import Engine
    from test_engine import JS, URI, pos_after

    shared = adaptive_artifacts[kind]
    inline = _inline_copy(shared, tmp_path / "inline")
    assert "weights" not in load(inline).models["token"]
    results = []
    for folder in (shared, inline):
        engine = Engine.load(folder)
        assert isinstance(engine, Engine), getattr(engine, "problem", None)
        engine.open(URI, JS, "javascript", 1)
        answers = []
        for needle in ("this.ite", "    this.", "return "):
            res = engine.complete(URI, *pos_after(JS, needle), max_items=8)
            answers.append([(item.label, round(float(getattr(item, "score", 0.0) or 0.0), 5)) for item in res.items])
        results.append(answers)
    assert results[0] == results[1]


def test_shipped_model_still_loads_and_steps() -> None:
    """The default artifact loads and steps, its step and chunk graphs sharing one copy of the weights."""
    from codecomp.artifact import default_path
    from codecomp.engine.models import TokenModel

    if not (default_path() / "manifest.json").is_file():
        pytest.skip("no shipped model in this checkout")
    art = load(default_path())
    shared = art.models["token"]["weights"]
    assert (default_path() / shared).stat().st_size > 10 * (default_path() / "token.onnx").stat().st_size
    tm = TokenModel(art)
    h, c = tm.zero_state()
    out = tm.step(np.array([tm.bos]), h, c)
    assert out["logits"].shape == (1, art.models["token"]["vocab_size"])
    assert tm.encoder is not None
