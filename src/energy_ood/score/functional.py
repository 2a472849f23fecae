"""Pure torch score functions on logits. Every ``*_score`` returns ID-ness (higher = ID).

``free_energy`` returns the energy itself, E(x) = -T * logsumexp(f(x) / T): lower for ID.
These are differentiable and used by the training losses as well as by the scorers.
"""

from __future__ import annotations

import torch


def free_energy(logits: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """E(x; f) = -T * logsumexp(f / T) over the last dimension (lower = more ID)."""
    if T == 1.0:
        return -torch.logsumexp(logits, dim=-1)
    return -T * torch.logsumexp(logits / T, dim=-1)


def energy_score(logits: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """Negative free energy, T * logsumexp(f / T): the energy OOD score (higher = ID)."""
    return -free_energy(logits, T)


def msp_score(logits: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """Maximum softmax probability max_i softmax(f / T)_i, without forming the softmax:
    exp(max(f/T) - logsumexp(f/T))."""
    z = logits if T == 1.0 else logits / T
    return torch.exp(z.amax(dim=-1) - torch.logsumexp(z, dim=-1))


def maxlogit_score(logits: torch.Tensor) -> torch.Tensor:
    """max_i f_i."""
    return logits.amax(dim=-1)


def self_normalized_energy_score(logits: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """The rebuttal's ablation: the energy score computed on log_softmax(f) instead of f.

    logsumexp(log_softmax(f)) = log(sum softmax) = 0 for every input, so at T = 1 the score is
    identically zero (up to rounding) and cannot separate anything. Kept to show exactly that.
    """
    return energy_score(torch.log_softmax(logits, dim=-1), T)
