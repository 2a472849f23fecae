"""Choose the energy margins from the pretrained model's energies on validation data.

The paper's grid and its code disagree on the ranges of m_in / m_out, so margins come from
data: m_in = mean energy of ID validation samples, m_out = mean energy of auxiliary outliers
held out from the fine-tuning draw. Never computed on a test OOD set. The squared hinges then
push the more OOD-like half of the ID samples down and the more ID-like half of the outliers up.
"""

from __future__ import annotations

import torch

from ..score.functional import free_energy
from .loop import predict_logits


def energy_stats(model, x: torch.Tensor) -> dict[str, float]:
    e = free_energy(predict_logits(model, x))
    return {
        "mean": float(e.mean()),
        "std": float(e.std()),
        "q05": float(e.quantile(0.05)),
        "q50": float(e.median()),
        "q95": float(e.quantile(0.95)),
    }


def choose_margins(
    model, id_val: torch.Tensor, aux_val: torch.Tensor, min_gap: float = 1.0
) -> dict:
    """Return ``{"m_in", "m_out", "margin", "id_energy", "aux_energy", "rule"}``."""
    s_in, s_out = energy_stats(model, id_val), energy_stats(model, aux_val)
    m_in, m_out = s_in["mean"], s_out["mean"]
    if m_out - m_in < min_gap:  # outliers already look ID-like: keep the margins apart
        mid = (m_in + m_out) / 2
        m_in, m_out = mid - min_gap / 2, mid + min_gap / 2
    return {
        "m_in": round(m_in, 3),
        "m_out": round(m_out, 3),
        "margin": round(m_out - m_in, 3),
        "id_energy": s_in,
        "aux_energy": s_out,
        "rule": "m_in = mean E(ID validation), m_out = mean E(auxiliary validation), "
        f"at least {min_gap} apart; single margin = m_out - m_in",
    }


MARGIN_KEYS = ("m_in", "m_out", "margin")


def fill_margins(cfg, model, id_val: torch.Tensor, aux_val: torch.Tensor) -> dict | None:
    """For a method that takes margins left unset (energy's m_in / m_out, the single-margin
    hinge's margin), choose them from data (:func:`choose_margins`) and set every unset
    margin field of ``cfg``; returns the choice (None when nothing was chosen)."""
    from .objectives import objective_class

    takes = objective_class(cfg.method).hparams
    if not any(k in takes and getattr(cfg, k) is None for k in MARGIN_KEYS):
        return None
    margins = choose_margins(model, id_val, aux_val)
    for k in MARGIN_KEYS:
        if getattr(cfg, k) is None:
            setattr(cfg, k, margins[k])
    return margins
