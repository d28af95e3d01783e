"""Torch-free code generation with the artifact's char-LSTM (the demo and `codecomp sample --model ARTIFACT`)."""
from __future__ import annotations

import numpy as np

from codecomp.engine.models import CharModel

# The char vocabulary is the 256 byte values followed by <pad>, <bos> and <eos>.
BOS, EOS = 257, 258


def generate(model: CharModel, prefix: str, max_chars: int = 300, temperature: float = 0.8, top_k: int = 20,
             seed: int | None = 0) -> str:
    """Continue `prefix` byte by byte; reproducible for a seed.  Returns only the generated text.

    Sampling keeps the `top_k` most likely bytes (0 = all) at `temperature`; it stops at <eos> or after
    `max_chars` bytes, and never returns a torn UTF-8 sequence.
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    rng = np.random.default_rng(seed)
    h, c = model.zero_state()
    logits, h, c = model.step(np.array([BOS]), h, c)
    for b in prefix.encode("utf-8")[-4096:]:
        logits, h, c = model.step(np.array([b]), h, c)
    out = bytearray()
    while len(out) < max_chars:
        z = logits[0, :256].astype(np.float64) / temperature
        if logits.shape[1] > EOS:
            z = np.append(z, logits[0, EOS] / temperature)
        if 0 < top_k < z.size:
            cut = np.partition(z, -top_k)[-top_k]
            z = np.where(z >= cut, z, -np.inf)
        p = np.exp(z - z.max())
        p /= p.sum()
        choice = int(rng.choice(p.size, p=p))
        if choice == 256:   # <eos>
            break
        out.append(choice)
        logits, h, c = model.step(np.array([choice]), h, c)
    return out.decode("utf-8", errors="ignore")
