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


def entropy_score(logits: torch.Tensor) -> torch.Tensor:
    """Negative Shannon entropy of softmax(f): sum_j p_j log p_j (higher = more peaked = ID).
    A probability of exactly 0 (a -inf logit) contributes 0."""
    return -torch.special.entr(torch.softmax(logits, dim=-1)).sum(dim=-1)


def gen_score(logits: torch.Tensor, gamma: float = 0.1, M: int = 100) -> torch.Tensor:
    """GEN (Liu, Lochman & Zach, CVPR 2023): -sum over the M largest p_j of p_j^g (1 - p_j)^g,
    p = softmax(f), g = ``gamma``; M is capped at the number of classes."""
    p = torch.softmax(logits, dim=-1)
    if M < p.shape[-1]:
        p = p.topk(M, dim=-1, sorted=False).values
    return -(p.pow(gamma) * (1.0 - p).pow(gamma)).sum(dim=-1)


def weighted_energy_score(logits: torch.Tensor, log_weights: torch.Tensor) -> torch.Tensor:
    """log sum_i w_i exp(f_i) = logsumexp(f + log w): the negative weighted energy of VOS
    (Du et al., ICLR 2022), w_i = relu(learned class weights) >= 0 given as log w."""
    return torch.logsumexp(logits + log_weights, dim=-1)


def kl_matching_score(logits: torch.Tensor, log_templates: torch.Tensor) -> torch.Tensor:
    """-KL(p || d_yhat), p = softmax(f), yhat = argmax f, d_k = the k-th row of the templates
    (given as logs). sum_j p_j (log p_j - log d_j), with 0 log 0 = 0."""
    p = torch.softmax(logits, dim=-1)
    logd = log_templates[logits.argmax(dim=-1)]
    return -(torch.xlogy(p, p) - p * logd).sum(dim=-1)
