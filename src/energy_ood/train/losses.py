"""Training objectives (SPEC section 3). Energies are E = -logsumexp(f) at T = 1 (lower = ID)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..score.functional import free_energy


def energy_bounded_loss(
    logits_in: torch.Tensor, logits_out: torch.Tensor, m_in: float, m_out: float
) -> torch.Tensor:
    """mean_ID relu(E(x_in) - m_in)^2 + mean_OOD relu(m_out - E(x_out))^2 (two squared hinges)."""
    e_in, e_out = free_energy(logits_in), free_energy(logits_out)
    return F.relu(e_in - m_in).pow(2).mean() + F.relu(m_out - e_out).pow(2).mean()


def single_margin_loss(
    logits_in: torch.Tensor, logits_out: torch.Tensor, margin: float
) -> torch.Tensor:
    """The rebuttal's ablation: the hinge relu(E(x_in) - E(x_out) + m), averaged over EVERY
    (ID, outlier) pair of the batch, so all outliers count (128 ID x 256 outliers = 32768 pairs
    in the training loop). The rebuttal gives the hinge per pair, not a pairing rule; the mean
    over all pairs is the U-statistic of that hinge and pairs no sample twice by accident.
    """
    e_in, e_out = free_energy(logits_in), free_energy(logits_out)
    return F.relu(e_in[:, None] - e_out[None, :] + margin).mean()


def outlier_exposure_loss(logits_out: torch.Tensor) -> torch.Tensor:
    """Cross-entropy from the softmax to the uniform: mean(logsumexp f - mean_i f_i)."""
    return (torch.logsumexp(logits_out, dim=1) - logits_out.mean(dim=1)).mean()


def rotate_batch(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Rotate image i of ``x`` (N, C, H, W; H == W) by k[i] * 90 degrees counter-clockwise."""
    out = x.clone()
    for r in range(1, 4):
        m = k == r
        if m.any():
            out[m] = torch.rot90(x[m], r, dims=(2, 3))
    return out


def center_mask(
    x: torch.Tensor, generator: torch.Generator, mask: int = 16, region: int = 21
) -> torch.Tensor:
    """Zero a random ``mask`` x ``mask`` square inside the central ``region`` x ``region`` area
    (the semantic-anomaly paper's ablation, sizes for 32x32; scaled for other sizes)."""
    from .augment import center_mask_at

    u = torch.rand(2, x.shape[0], generator=generator)
    return center_mask_at(x, u[0], u[1], mask, region)
