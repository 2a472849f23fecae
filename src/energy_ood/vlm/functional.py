"""Differentiable vision-language scores on a cosine-similarity matrix ``s`` (n x K).

Every ``*_score`` returns ID-ness (higher = in-distribution), SPEC section 6:

* MCM: max_i softmax(s / tau)_i, tau = 1 on raw cosines (verified from MCM's public code).
* CLIP logits: logit_scale * s, logit_scale = 100 for trained CLIP (verified).
* Delta-Energy: DeltaE(s) = E(s') - E(s), E(s) = -tau * logsumexp(s / tau), tau = 1/logit_scale,
  s' = s with its top-c entries set to ``floor``. The formula is the one the paper's summary and
  abstract describe ("reducing the maximum cosine similarity to a low value"); c, floor and tau
  are parameters because the paper's method section is not readable here (RECONSTRUCTION of the
  exact defaults: c = 1, floor = 0).

``delta_energy_score`` is vectorized with one top-k and two log-sum-exps: the top-c entries are
split off (top-k), ``r = logsumexp`` of the remaining entries is taken once, and then
logsumexp(z) = logaddexp(r, logsumexp(top)) and logsumexp(z') = logaddexp(r, floor + log c).
No cancellation: a peaked row (the important case) stays exact in float32.
"""

from __future__ import annotations

import math

import torch


def clip_logits(sim: torch.Tensor, logit_scale: float = 100.0) -> torch.Tensor:
    """CLIP logits: ``logit_scale * cos``."""
    return sim * logit_scale


def mcm_score(sim: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Maximum concept matching: max_i softmax(s / tau)_i."""
    z = sim if tau == 1.0 else sim / tau
    return torch.exp(z.amax(dim=-1) - torch.logsumexp(z, dim=-1))


def _crop_parts(z: torch.Tensor, c: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(logsumexp of the entries outside the top-c, the top-c values) of each row of ``z``.

    ``z`` must be a temporary: without autograd it is overwritten in place (saves a copy)."""
    top, idx = z.topk(c, dim=-1, sorted=False)
    # ``z`` is a fresh tensor owned by the caller: overwrite in place unless autograd needs it.
    rest = z.scatter(-1, idx, float("-inf")) if z.requires_grad else z.scatter_(-1, idx, -math.inf)
    return torch.logsumexp(rest, dim=-1), top


def delta_energy_score(
    sim: torch.Tensor, c: int = 1, floor: float = 0.0, logit_scale: float = 100.0
) -> torch.Tensor:
    """DeltaE = tau * (logsumexp(s / tau) - logsumexp(s' / tau)), tau = 1 / logit_scale.

    In cosine units (the SPEC's E(s) = -tau logsumexp(s / tau)); multiply by ``logit_scale``
    for logit units. Larger for a peaked row than for a flat one.
    """
    z = sim * logit_scale
    rest, top = _crop_parts(z, c)
    lse_full = torch.logaddexp(rest, torch.logsumexp(top, dim=-1))
    lse_crop = torch.logaddexp(rest, torch.full_like(rest, floor * logit_scale + math.log(c)))
    return (lse_full - lse_crop) / logit_scale


def label_delta_energy(
    sim: torch.Tensor, labels: torch.Tensor, floor: float = 0.0, logit_scale: float = 100.0
) -> torch.Tensor:
    """Delta-Energy when the *labelled* class's similarity (not the maximum) is set to ``floor``.

    Cropping an entry that is not the largest removes less mass, so this is a lower bound of
    ``delta_energy_score(sim, c=1, floor)`` for every label; it equals it when the label is the
    arg-max. Used by the EBM loss (a RECONSTRUCTION, see ``energy_ood.vlm.ebm``).
    """
    z = sim * logit_scale
    rest = torch.logsumexp(z.scatter(-1, labels[:, None], float("-inf")), dim=-1)
    own = z.gather(-1, labels[:, None]).squeeze(-1)
    lse_full = torch.logaddexp(rest, own)
    lse_crop = torch.logaddexp(rest, torch.full_like(rest, floor * logit_scale))
    return (lse_full - lse_crop) / logit_scale
