"""Dropout with a cheaper random mask, for CPU training of the sequence models.

`nn.Dropout` draws one random number per element from the CPU generator; on the char-LSTM that was a tenth of
a training step (more than the output layer).  `FastDropout` draws one 64-bit random word per four elements
and compares its 16-bit pieces with a threshold, so the drop probability is exact to 1/65536, four times fewer
draws are made, and the result is the same inverted dropout (scaled by 1 / (1 - p) in training, identity in
eval mode).  It has no parameters, so checkpoints are unaffected.
"""
from __future__ import annotations

import torch
from torch import nn


class FastDropout(nn.Module):
    """Inverted dropout with drop probability `p` (see the module docstring)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), not {p}")
        self.p = p
        # uniform int16 pieces in [-32768, 32767]; those at or above the threshold are kept
        self.threshold = -32768 + round(p * 65536)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        n = x.numel()
        with torch.no_grad():
            words = torch.randint(-2**63, 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64, device=x.device)
            keep = words.view(torch.int16)[:n].view(x.shape) >= self.threshold
            mask = keep.to(x.dtype).mul_(1.0 / (1.0 - self.p))
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
