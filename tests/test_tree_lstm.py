"""The level-batched bidirectional Tree-LSTM against a per-node recursive reference, on random and extreme trees,
and real training steps on parsed code."""
from __future__ import annotations

import glob
import sys
import time

import numpy as np
import pytest
import torch

from codecomp.naming.trees import NamingExample, batch_examples
from codecomp.syntax.tree import depths, heights
from training.models.tree_lstm import (
    BiTreeLSTM,
    TreeConfig,
    batch_to_tensors,
    build_naming_model,
    make_batch,
    naming_loss,
    reference_encode,
)
from codecomp.naming.data import NamingDataset, row_from_source

torch.set_num_threads(1)

NUM_TYPES, NUM_TOKENS = 12, 30


def small_model(hidden: int = 16, seed: int = 0) -> BiTreeLSTM:
    torch.manual_seed(seed)
    cfg = TreeConfig(hidden=hidden, embed=8, code=8, dec_hidden=8, sub_embed=4)
    return BiTreeLSTM(cfg, NUM_TYPES, NUM_TOKENS, 6, 10, 4).eval()


def random_parent(rng: np.random.Generator, n: int, shape: str) -> np.ndarray:
    """Pre-order parent arrays: random attachment, a chain, a star or a bushy tree."""
    if n == 1:
        return np.array([-1])
    if shape == "chain":
        return np.arange(-1, n - 1)
    if shape == "star":
        return np.array([-1] + [0] * (n - 1))
    if shape == "recent":   # attach to one of the last few nodes: deep, narrow trees
        return np.array([-1] + [max(0, i - 1 - int(rng.integers(0, 3))) for i in range(1, n)])
    return np.array([-1] + [int(rng.integers(0, i)) for i in range(1, n)])


def random_example(rng: np.random.Generator, n: int, shape: str = "random") -> NamingExample:
    parent = random_parent(rng, n, shape)
    leaves = np.setdiff1d(np.arange(n), parent[parent >= 0])
    occ = rng.choice(leaves, size=min(2, leaves.size), replace=False)
    return NamingExample("cpp", "variable", "x", rng.integers(0, NUM_TYPES, n), rng.integers(0, NUM_TOKENS, n),
                         parent, depths(parent).astype(np.int64), np.sort(occ))


def test_level_plan_follows_heights_and_depths():
    rng = np.random.default_rng(1)
    exs = [random_example(rng, n, s) for n, s in [(1, "random"), (9, "chain"), (40, "random"), (25, "star")]]
    batch = batch_examples(exs)
    parent = batch.parent
    h = heights(parent)
    d = depths(parent)
    seen_up = np.concatenate([lv.nodes for lv in batch.up])
    assert sorted(seen_up.tolist()) == list(range(batch.num_nodes))
    for k, lv in enumerate(batch.up):
        assert (h[lv.nodes] == k).all()
        # Every child of a node of this level is listed once, with the slot of its parent.
        expected = np.nonzero(np.isin(parent, lv.nodes))[0]
        assert sorted(lv.children.tolist()) == expected.tolist()
        assert (lv.nodes[lv.slot] == parent[lv.children]).all()
    for k, lv in enumerate(batch.down):
        assert (d[lv.nodes] == k).all()
        roots = parent[lv.nodes] < 0
        assert (lv.parents[roots] == batch.num_nodes).all()
        assert (lv.parents[~roots] == parent[lv.nodes][~roots]).all()
    # Roots of the four trees are the four depth-0 nodes.
    assert len(batch.down[0].nodes) == 4
    assert batch.occ_seg.tolist() == sorted(batch.occ_seg.tolist())


@pytest.mark.parametrize("shape", ["random", "chain", "star", "recent"])
def test_both_passes_match_per_node_reference(shape):
    rng = np.random.default_rng(["random", "chain", "star", "recent"].index(shape))
    model = small_model()
    exs = [random_example(rng, int(n), shape) for n in rng.integers(1, 60, size=6)]
    batch = batch_examples(exs)
    with torch.no_grad():
        h_up, h_dn = model.encode(batch_to_tensors(batch))
    offset = 0
    for ex in exs:
        n = len(ex.parent)
        with torch.no_grad():
            ref_up, ref_dn = reference_encode(model, ex.node_type, ex.token, ex.parent)
        assert torch.allclose(h_up[offset: offset + n], ref_up, atol=1e-5), shape
        assert torch.allclose(h_dn[offset: offset + n], ref_dn, atol=1e-5), shape
        offset += n
    # The downward state really depends on the rest of the tree: a leaf's state changes with a sibling's token.
    ex = exs[int(np.argmax([len(e.parent) for e in exs]))]
    if shape != "chain" and len(ex.parent) > 3:
        changed = NamingExample(**{**ex.__dict__, "token": ex.token.copy()})
        leaf = int(ex.occ[0])
        other = next(i for i in range(len(ex.parent)) if i != leaf and i not in set(ex.parent.tolist()))
        changed.token[other] = (changed.token[other] + 1) % NUM_TOKENS
        with torch.no_grad():
            a = model.encode(batch_to_tensors(batch_examples([ex])))[1][leaf]
            b = model.encode(batch_to_tensors(batch_examples([changed])))[1][leaf]
        assert not torch.allclose(a, b)


def test_gradients_match_per_node_reference():
    rng = np.random.default_rng(5)
    model = small_model().train()
    ex = random_example(rng, 40)
    weights = torch.randn(40, 16, generator=torch.Generator().manual_seed(0))

    def grads(encode):
        model.zero_grad()
        h_up, h_dn = encode()
        ((h_up * weights).sum() + (h_dn * weights.flip(0)).sum()).backward()
        return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}

    batched = grads(lambda: model.encode(batch_to_tensors(batch_examples([ex]))))
    ref = grads(lambda: reference_encode(model, ex.node_type, ex.token, ex.parent))
    assert batched.keys() == ref.keys() and batched
    for k in ref:
        assert torch.allclose(batched[k], ref[k], atol=1e-5), k


def test_ten_thousand_deep_tree_runs_without_recursion():
    n = 10_000
    parent = np.arange(-1, n - 1)
    ex = NamingExample("cpp", "variable", "x", np.ones(n, dtype=np.int64), np.full(n, 3), parent,
                       np.arange(n), np.array([n - 1]))
    model = small_model(hidden=8)
    limit = sys.getrecursionlimit()
    t0 = time.perf_counter()
    batch = batch_examples([ex])
    assert len(batch.up) == n and len(batch.down) == n
    with torch.no_grad():
        name_logits, style_logits, h0, code = model(batch_to_tensors(batch))
    assert torch.isfinite(name_logits).all() and torch.isfinite(h0).all()
    assert sys.getrecursionlimit() == limit
    assert time.perf_counter() - t0 < 240


def test_wide_tree_is_one_level():
    n = 20_000
    parent = np.array([-1] + [0] * (n - 1))
    ex = NamingExample("cpp", "variable", "x", np.ones(n, dtype=np.int64), np.full(n, 3), parent,
                       np.minimum(np.arange(n), 1), np.array([5, 7]))
    batch = batch_examples([ex])
    assert len(batch.up) == 2 and len(batch.down) == 2
    model = small_model(hidden=8)
    with torch.no_grad():
        h_up, h_dn = model.encode(batch_to_tensors(batch))
    assert torch.isfinite(h_up).all() and torch.isfinite(h_dn).all()
    # All children are identical, so their states are too; the root sums 19,999 of them without overflow.
    assert torch.allclose(h_up[1], h_up[n - 1]) and torch.allclose(h_dn[1], h_dn[n - 1])


def test_training_steps_lower_the_loss(repo_root):
    files = sorted(glob.glob(str(repo_root / "corpora" / "fixtures" / "**" / "*.*"), recursive=True))
    rows = [row_from_source(open(f, encoding="utf-8").read(), "javascript" if f.endswith((".js", ".mjs")) else "cpp")
            for f in files if f.endswith((".js", ".mjs", ".cpp", ".cc", ".h"))]
    data = NamingDataset.from_rows(rows)
    cfg = TreeConfig(hidden=24, embed=24, code=24, dec_hidden=24, sub_embed=12, max_tokens=300, max_names=40,
                     max_subtokens_vocab=80, min_name_count=1, max_nodes=120)
    vocab = data.build_vocab(cfg, {"max_nodes": cfg.max_nodes, "max_subtokens": cfg.max_subtokens,
                                   "hidden": cfg.hidden})
    torch.manual_seed(0)
    model = build_naming_model(cfg, vocab)
    batch = make_batch(vocab, [data.example(i, vocab) for i in range(0, len(data), max(1, len(data) // 16))])
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    first = None
    for _ in range(12):
        loss, metrics, _ = naming_loss(model, batch)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    final, _, _ = naming_loss(model, batch)
    assert float(final.detach()) < 0.8 * first
    assert set(metrics) >= {"name_loss", "style_loss", "subtoken_loss", "name_acc"}


def _tiny_vocab():
    from codecomp.naming.vocab import NamingVocab

    return NamingVocab({"cpp": (1, NUM_TYPES - 1)}, ["<pad>", "<unk>", "<mask>"] + [f"t{i}" for i in range(27)],
                       ["<other>", "x", "y", "n", "i", "k"], ["<pad>", "<unk>", "<bos>", "<eos>"] + list("xynikabc"))


# the parameters of each part of the encoder: a gradient must reach every one of them
ENCODER_PARTS = {
    "upward pass": ["up.w.weight", "up.w.bias", "up.u_iou.weight", "up.u_f.weight"],
    "downward pass": ["down.w.weight", "down.w.bias", "down.u.weight"],
    "node embeddings": ["embed.type_emb.weight", "embed.token_emb.weight"],
}


def _assert_gradients_reach_every_part(model: BiTreeLSTM, exs: list[NamingExample]) -> None:
    grads = {k: p.grad for k, p in model.named_parameters()}
    for part, names in ENCODER_PARTS.items():
        for name in names:
            g = grads[name]
            assert g is not None, f"no gradient reaches {name} ({part})"
            assert torch.isfinite(g).all(), name
            assert float(g.float().abs().sum()) > 0.0, f"zero gradient for {name} ({part})"
    # the leaf token embeddings: every token that occurs at a (non-hidden) leaf gets a gradient
    tok_grad = grads["embed.token_emb.weight"].float().abs().sum(dim=1)
    used = {int(t) for ex in exs for t in ex.token} - {0}
    assert used and all(float(tok_grad[t]) > 0.0 for t in used), sorted(t for t in used if tok_grad[t] == 0)


def test_naming_loss_sends_gradients_through_both_passes_and_the_leaf_embeddings():
    rng = np.random.default_rng(4)
    model = small_model().train()
    exs = [random_example(rng, n) for n in (30, 12, 45)]
    loss, _, _ = naming_loss(model, make_batch(_tiny_vocab(), exs))
    loss.backward()
    assert torch.isfinite(loss) and float(loss.detach()) > 0.0
    _assert_gradients_reach_every_part(model, exs)


def test_downward_pass_reaches_the_embeddings_of_other_leaves():
    """A loss on the downward state of one leaf alone depends on the rest of the tree (through the root)."""
    rng = np.random.default_rng(9)
    model = small_model().train()
    ex = random_example(rng, 25)
    _, h_dn = model.encode(batch_to_tensors(batch_examples([ex])))
    leaf = int(ex.occ[0])
    h_dn[leaf].sum().backward()
    tok_grad = model.embed.token_emb.weight.grad.abs().sum(dim=1)
    others = {int(ex.token[i]) for i in range(len(ex.parent)) if i != leaf} - {0, int(ex.token[leaf])}
    assert others and any(float(tok_grad[t]) > 0.0 for t in others)
    assert float(model.down.u.weight.grad.abs().sum()) > 0.0  # the parent chain is used


def test_a_few_steps_on_a_tiny_batch_lower_the_loss():
    rng = np.random.default_rng(6)
    model = small_model().train()
    batch = make_batch(_tiny_vocab(), [random_example(rng, 20) for _ in range(4)])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        loss, _, _ = naming_loss(model, batch)
        losses.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.7 * losses[0], losses


def test_bf16_autocast_step_is_finite():
    """The loop trains with bf16 autocast on CUDA; the same dtype mix on CPU must give a finite loss and finite,
    non-zero gradients in both passes and the embeddings."""
    rng = np.random.default_rng(3)
    model = small_model().train()
    exs = [random_example(rng, 30) for _ in range(4)]
    batch = make_batch(_tiny_vocab(), exs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _, _ = naming_loss(model, batch)
    loss.backward()
    assert torch.isfinite(loss)
    _assert_gradients_reach_every_part(model, exs)


@pytest.mark.parametrize("name", ["tiny-tree.toml", "cpu-default-tree.toml", "gpu-tree.toml"])
def test_shipped_tree_configs_are_valid(repo_root, name):
    from training.cli import read_config
    from training.loop import LoopConfig, dataclass_from_dict
    from training.models.tree_lstm import TreeDataConfig

    doc = read_config(repo_root / "training" / "configs" / name, "tree")
    dataclass_from_dict(LoopConfig, doc.get("train"), "train")
    dataclass_from_dict(TreeConfig, doc.get("model"), "model").validate()
    dataclass_from_dict(TreeDataConfig, doc.get("data"), "data").validate()


def test_bad_config_is_rejected_with_a_message(fixture_corpus):
    from training.loop import ConfigError
    from training.models.tree_lstm import TreeTask

    with pytest.raises(ConfigError, match="hiden"):
        TreeTask(fixture_corpus, {"model": {"hiden": 3}}, 0)
    with pytest.raises(ConfigError, match="must be positive"):
        TreeTask(fixture_corpus, {"model": {"hidden": 0}}, 0)


def test_missing_corpus_is_a_training_error(tmp_path):
    from training.loop import TrainingError
    from training.models.tree_lstm import TreeTask

    with pytest.raises(TrainingError, match="not a corpus folder"):
        TreeTask(tmp_path, {}, 0)
