"""The EBM term of Delta-Energy prompt tuning -- a RECONSTRUCTION.

What is known (paper abstract and summary, ../shared/papers/002, 003): EBM maximizes a lower
bound of Delta-Energy during CoOp prompt tuning, using masked vs unmasked image features. The
paper's method section and code are not readable here, so the form below is ours:

* lower bound: cropping the *labelled* class's similarity to the floor changes the energy by
  D_y(x) <= DeltaE(x) (equality when the label is the arg-max; ``label_delta_energy``).
  The term softplus(margin - scale * D_y(x)) pushes it above ``margin`` (logit units).
* masked pairing: x_m is the same training input with part of it masked (for text, a fraction
  of its words replaced by the tokenizer's mask token; for images it would be patches). A
  masked input carries less class evidence, so its Delta-Energy should stay below the
  unmasked one's: softplus(scale * (DeltaE(x_m) - D_y(x))).

L_EBM = mean softplus(margin - scale * D_y(x)) + pair_weight * mean softplus(scale * (DeltaE(x_m)
- D_y(x))); the training loss is CE + ebm_weight * L_EBM. Every constant here is our choice.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .._validate import InputError
from .functional import delta_energy_score, label_delta_energy


def ebm_loss(
    sim: torch.Tensor,
    labels: torch.Tensor,
    sim_masked: torch.Tensor | None = None,
    *,
    logit_scale: float = 100.0,
    floor: float = 0.0,
    margin: float = 10.0,
    pair_weight: float = 1.0,
) -> torch.Tensor:
    """The reconstructed EBM term (scalar) on cosine similarities of a batch."""
    d_y = label_delta_energy(sim, labels, floor, logit_scale) * logit_scale
    loss = F.softplus(margin - d_y).mean()
    if sim_masked is not None and pair_weight > 0:
        d_m = delta_energy_score(sim_masked, 1, floor, logit_scale) * logit_scale
        loss = loss + pair_weight * F.softplus(d_m - d_y).mean()
    return loss


def mask_words(text: str, ratio: float, rng: np.random.Generator, mask_token: str) -> str:
    """Replace round(ratio * n_words) randomly chosen words (at least one) by ``mask_token``."""
    if not 0.0 < ratio < 1.0:
        raise InputError(f"mask ratio must be in (0, 1), got {ratio}")
    words = text.split()
    if not words:
        return text
    k = max(1, int(round(ratio * len(words))))
    for i in rng.choice(len(words), size=min(k, len(words)), replace=False):
        words[i] = mask_token
    return " ".join(words)
