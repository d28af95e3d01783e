"""Char-LSTM and token LSTM: step() equals forward(), the copy-mixture math, and the memory window."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training.models.char_lstm import VOCAB_SIZE, CharLSTM, CharLSTMConfig
from training.models.token_lstm import (TEXT_PAD, Memory, TokenLSTM, TokenLSTMConfig, copy_log_probs,
                                        memory_window, mixture_ranks)


@pytest.mark.parametrize("layers", [1, 2])
def test_char_step_equals_forward(layers: int) -> None:
    torch.manual_seed(0)
    model = CharLSTM(CharLSTMConfig(embed=8, hidden=16, layers=layers, dropout=0.2)).eval()
    x = torch.randint(0, VOCAB_SIZE, (3, 7))
    with torch.no_grad():
        logits, (h_f, c_f) = model(x)
        h, c = model.init_state(3)
        for t in range(7):
            step_logits, h, c = model.step(x[:, t], h, c)
            torch.testing.assert_close(step_logits, logits[:, t], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h, h_f)
    torch.testing.assert_close(c, c_f)
    assert step_logits.shape == (3, VOCAB_SIZE)


@pytest.mark.parametrize("tie", [True, False])
def test_token_step_equals_forward(tie: bool) -> None:
    torch.manual_seed(1)
    cfg = TokenLSTMConfig(vocab_size=50, embed=8, hidden=12, layers=2, key_dim=6, memory=5, tie_weights=tie)
    model = TokenLSTM(cfg, 50).eval()
    x = torch.randint(0, 50, (2, 6))
    with torch.no_grad():
        logits, key, query, gate_logit, (h_f, c_f) = model(x)
        h, c = model.init_state(2)
        for t in range(6):
            lg, h, c, k, q, g = model.step(x[:, t], h, c)
            torch.testing.assert_close(lg, logits[:, t], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(k, key[:, t], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(q, query[:, t], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(g, torch.sigmoid(gate_logit[:, t]), rtol=1e-5, atol=1e-5)
    assert lg.shape == (2, 50) and k.shape == (2, 6) and q.shape == (2, 6) and g.shape == (2, 1)
    assert ((g > 0) & (g < 1)).all()
    torch.testing.assert_close(h, h_f)


def _engine_style_probs(logits_v, gate, query, keys, texts, itos, window):
    """The engine's formula from docs/design.md section 4, written naively over a python memory list."""
    pv = np.exp(logits_v - logits_v.max())
    pv /= pv.sum()
    probs = {w: (1 - gate) * pv[i] for i, w in enumerate(itos)}
    if window:
        s = np.array([query @ keys[j] / math.sqrt(len(query)) for j in window])
        a = np.exp(s - s.max())
        a /= a.sum()
        for w, j in zip(a, window):
            probs[texts[j]] = probs.get(texts[j], 0.0) + gate * w
    return probs


def test_copy_mixture_matches_engine_formula_over_chunks() -> None:
    """Training's log p(target), computed chunk by chunk with a carried memory, equals the engine's formula."""
    torch.manual_seed(2)
    rng = np.random.default_rng(0)
    itos = ["<pad>", "<unk>", "<bos>", "<eos>", "<str>", "<num>", "a", "b", "c"]
    V, K, M, T = len(itos), 4, 5, 3
    # One file: texts include OOV words (x, y) that map to <unk> in the vocabulary.
    texts = ["<bos>", "a", "x", "b", "x", "y", "a", "x", "c", "y", "x"]
    vids = [2] + [itos.index(t) if t in itos else 1 for t in texts[1:]]
    local: dict[str, int] = {}
    tids = [-2] + [local.setdefault(t, len(local)) for t in texts[1:]]
    n = len(texts) - 1                  # positions 0..n-1 predict texts[1..n]
    logits = torch.randn(1, n + (-n % T), V)
    keys = torch.randn(1, n + (-n % T), K)
    query = torch.randn(1, n + (-n % T), K)
    gate_logit = torch.randn(1, n + (-n % T), 1)
    mem = Memory.empty(1, M, K, torch.device("cpu"))
    got = []
    for s in range(0, n, T):
        e = min(n, s + T)
        pad = T - (e - s)
        chunk_text = torch.tensor([tids[s:e] + [TEXT_PAD] * pad])
        chunk_vid = torch.tensor([vids[s:e] + [0] * pad])
        tgt_text = torch.tensor([tids[s + 1:e + 1] + [TEXT_PAD] * pad])
        tgt_vid = torch.tensor([vids[s + 1:e + 1] + [0] * pad])
        keys_all = torch.cat([mem.keys, keys[:, s:s + T]], 1)
        text_all = torch.cat([mem.text, chunk_text], 1)
        valid = memory_window(mem.text, chunk_text, M)
        match = (text_all[:, None, :] == tgt_text[..., None]) & (tgt_text[..., None] >= 0)
        logp, _ = copy_log_probs(logits[:, s:s + T], gate_logit[:, s:s + T], query[:, s:s + T], keys_all,
                                 valid, match, tgt_vid)
        got += logp[0, : e - s].tolist()
        mem = Memory(keys_all[:, -M:], text_all[:, -M:], torch.cat([mem.vid, chunk_vid], 1)[:, -M:])
    for i in range(n):
        window = [j for j in range(max(0, i - M + 1), i + 1)]
        g = float(torch.sigmoid(gate_logit[0, i, 0]))
        probs = _engine_style_probs(logits[0, i].numpy().astype(np.float64), g, query[0, i].numpy(),
                                    keys[0].numpy(), texts, itos, window)
        target = texts[i + 1]
        # Training convention: an OOV target's vocabulary part is the <unk> probability.
        expected = probs[target] if target in itos else probs["<unk>"] + probs.get(target, 0.0)
        assert got[i] == pytest.approx(math.log(expected), rel=1e-4, abs=1e-5), (i, target)


def test_memory_window_is_the_last_m_positions() -> None:
    M, T = 4, 3
    mem_text = torch.tensor([[TEXT_PAD, 7, 8, 9]])
    chunk_text = torch.tensor([[1, 2, TEXT_PAD]])
    valid = memory_window(mem_text, chunk_text, M)[0]
    # query 0 sees carried slots 1..3 and itself; query 1 sees slots 2..3 and chunk 0..1; padding never.
    assert valid[0].tolist() == [False, True, True, True, True, False, False]
    assert valid[1].tolist() == [False, False, True, True, True, True, False]
    assert valid[2].tolist() == [False, False, False, True, True, True, False]


def test_mixture_ranks_agree_with_brute_force() -> None:
    torch.manual_seed(3)
    B, T, S, V = 2, 3, 6, 9
    logits = torch.randn(B, T, V) * 2
    gate_logit = torch.randn(B, T, 1)
    valid = torch.rand(B, T, S) > 0.3
    valid[..., -1] = True
    scores = torch.randn(B, T, S).masked_fill(~valid, -1e9)
    attn = torch.softmax(scores, -1)
    all_text = torch.tensor([[0, 1, 2, 1, 3, 4], [5, 5, 6, 7, 6, 2]])
    all_vid = torch.tensor([[6, 1, 7, 1, 4, 8], [1, 1, 6, 1, 6, 7]])     # text 1, 5, 7: OOV; text 3: rare string
    tv = torch.tensor([[6, 1, 8], [1, 7, 1]])
    tt = torch.tensor([[0, 1, 4], [5, 2, 99]])
    rank = mixture_ranks(logits, gate_logit, attn, valid, all_text, all_vid, tv, tt)
    for b in range(B):
        for t in range(T):
            g = float(torch.sigmoid(gate_logit[b, t, 0]))
            pv = torch.softmax(logits[b, t], -1)
            cand: dict = {("v", w): (1 - g) * float(pv[w]) for w in range(6, V)}
            for s in range(S):
                if not valid[b, t, s]:
                    continue
                v = int(all_vid[b, s])
                k = ("v", v) if v >= 6 else ("t", int(all_text[b, s]))
                cand[k] = cand.get(k, 0.0) + g * float(attn[b, t, s])
            tk = ("v", int(tv[b, t])) if tv[b, t] >= 6 else ("t", int(tt[b, t]))
            if tk not in cand:
                assert rank[b, t] >= 1e9
                continue
            expected = sum(1 for k, v in cand.items() if k != tk and v > cand[tk])
            assert int(rank[b, t]) == expected, (b, t)


class _Step(torch.nn.Module):
    """Wraps a model's step() as forward() for export."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args: torch.Tensor):  # noqa: D102
        return self.model.step(*args)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
@pytest.mark.parametrize("kind", ["char", "token"])
def test_step_exports_to_onnx_with_the_documented_io(kind: str, tmp_path) -> None:
    """step() exports (legacy exporter, wrapper in eval mode) and onnxruntime reproduces torch's numbers."""
    import onnxruntime as ort

    torch.manual_seed(4)
    if kind == "char":
        model = CharLSTM(CharLSTMConfig(embed=8, hidden=16, layers=2, dropout=0.3))
        names_in, names_out = ["byte", "h", "c"], ["logits", "h_out", "c_out"]
        L, H = 2, 16
        x = torch.tensor([65, 10, 257])
    else:
        model = TokenLSTM(TokenLSTMConfig(vocab_size=40, embed=8, hidden=12, layers=2, key_dim=6, dropout=0.3), 40)
        names_in, names_out = ["token", "h", "c"], ["logits", "h_out", "c_out", "key", "query", "gate"]
        L, H = 2, 12
        x = torch.tensor([7, 2, 39])
    wrapper = _Step(model).eval()      # eval: the between-layer dropout must not be exported
    dummy = (x[:1], torch.zeros(L, 1, H), torch.zeros(L, 1, H))
    path = tmp_path / f"{kind}.onnx"
    torch.onnx.export(wrapper, dummy, str(path), input_names=names_in, output_names=names_out, dynamo=False,
                      dynamic_axes={names_in[0]: {0: "B"}, "h": {1: "B"}, "c": {1: "B"}})
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    h, c = torch.randn(L, 3, H), torch.randn(L, 3, H)
    got = sess.run(names_out, {names_in[0]: x.numpy(), "h": h.numpy(), "c": c.numpy()})
    with torch.no_grad():
        want = wrapper(x, h, c)
    for name, g, w in zip(names_out, got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("with_bias", [False, True])
def test_fused_target_log_softmax_matches_autograd(dtype: torch.dtype, with_bias: bool) -> None:
    """The blocked, hand-fused log-softmax of the training loss equals log_softmax + gather, value and gradient."""
    from training.models.softmax import block_rows
    from training.models.token_lstm import target_log_softmax

    torch.manual_seed(0)
    v = 9000
    n = 2 * block_rows(v) + 7              # several blocks and a ragged last one
    x = torch.randn(n, v).to(dtype).requires_grad_()
    target = torch.randint(0, v, (n,))
    bias = None
    if with_bias:
        bias = torch.where(torch.rand(n, v) < 0.3, -1e4, 0.0)
        bias[torch.arange(n), target] = 0.0
    g = torch.randn(n)
    got = target_log_softmax(x, target, bias)
    (got * g).sum().backward()
    fused_grad, x.grad = x.grad.clone(), None
    ref = torch.log_softmax(x.float() + (bias if bias is not None else 0.0), -1).gather(-1, target[:, None])[:, 0]
    (ref * g).sum().backward()
    assert torch.allclose(got, ref, atol=1e-5)
    assert fused_grad.dtype == dtype
    assert torch.allclose(fused_grad.float(), x.grad.float(), atol=1e-5 if dtype == torch.float32 else 1e-2)


def test_logits_at_selected_positions_equal_the_full_ones() -> None:
    """Training computes vocabulary logits only where there is a target; they are the same numbers."""
    torch.manual_seed(3)
    model = TokenLSTM(TokenLSTMConfig(vocab_size=50, embed=8, hidden=12, key_dim=4, memory=8, dropout=0.0), 50)
    x = torch.randint(0, 50, (3, 7))
    full = model(x)[0].reshape(21, 50)
    select = torch.tensor([0, 4, 5, 20])
    part = model(x, None, select)[0]
    assert torch.allclose(part, full[select], atol=1e-6)


def test_fused_copy_mass_matches_autograd_of_the_plain_formula() -> None:
    """The copy head's hand-written backward gives the gradients autograd gives for the plain formula: rows with
    and without matches, a row with no valid entry, entries far below the row's best (clamped)."""
    from training.models.token_lstm import COPY_FLOOR, mixture_log_probs

    torch.manual_seed(1)
    B, T, S, K = 3, 5, 11, 4
    query = torch.randn(B, T, K, requires_grad=True)
    keys = torch.randn(B, S, K, requires_grad=True)
    with torch.no_grad():
        keys[0, 0] *= 60.0                    # a score far below or above the rest: exercises the floor
    gate = torch.randn(B, T, 1, requires_grad=True)
    log_pv = torch.randn(B, T).clamp_max(-0.1)
    valid = torch.rand(B, T, S) < 0.7
    valid[1, 2] = False                       # nothing to attend to
    match = (torch.rand(B, T, S) < 0.3)
    match[2, 0] = False                       # nothing to copy
    w = torch.randn(B, T)

    logp, attn = mixture_log_probs(log_pv, gate, query, keys, valid, match, want_attn=True)
    (logp * w).sum().backward()
    got = [t.grad.clone() for t in (query, keys, gate)]
    for t in (query, keys, gate):
        t.grad = None

    scores = torch.einsum("btk,bsk->bts", query, keys) / math.sqrt(K)
    top = scores.detach().masked_fill(~valid, -math.inf).amax(-1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    weights = (scores - top).masked_fill(~valid, COPY_FLOOR).clamp_min(COPY_FLOOR).exp()
    norm = weights.sum(-1)
    mass = torch.where(match, weights, torch.zeros(())).sum(-1)
    log_copy = torch.log((mass / norm).clamp_min(1e-30))
    z = gate.squeeze(-1)
    ref = torch.logaddexp(torch.nn.functional.logsigmoid(-z) + log_pv, torch.nn.functional.logsigmoid(z) + log_copy)
    (ref * w).sum().backward()

    assert torch.allclose(logp, ref, atol=1e-5)
    assert torch.allclose(attn, weights / norm[..., None], atol=1e-6)
    for g, t in zip(got, (query, keys, gate)):
        assert torch.allclose(g, t.grad, atol=1e-5), (g - t.grad).abs().max()
    assert float(got[1].abs().sum()) > 0


def test_padded_rows_are_real_rows_whose_results_are_dropped() -> None:
    from training.models.token_lstm import pad_rows

    idx = torch.tensor([5, 9, 2])
    padded = pad_rows(idx, 8)
    assert padded.shape[0] == 8 and padded[:3].tolist() == [5, 9, 2] and set(padded[3:].tolist()) == {5}
    assert pad_rows(torch.arange(16), 8).shape[0] == 16
    assert pad_rows(torch.zeros(0, dtype=torch.long), 8).shape[0] == 0
