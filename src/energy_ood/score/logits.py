"""Logit scorers without fitted statistics: MSP, MaxLogit, energy, the self-normalized energy
ablation, entropy, GEN, and WeightedEBO (whose class weights come from training)."""

from __future__ import annotations

import torch

from .._validate import InputError
from . import functional as F
from . import param_checks as P
from .base import Scorer
from .registry import register


class LogitScorer(Scorer):
    """A scorer of (n, K) logits; composable after any feature shaping (``react+NAME``)."""

    input_kind = "logits"


class _TemperatureScorer(LogitScorer):
    def __init__(self, T: float = 1.0):
        super().__init__()
        self.T = P.temperature(T, "temperature T")


@register("msp")
class MSP(_TemperatureScorer):
    """Maximum softmax probability max_i softmax(f / T)_i (Hendrycks & Gimpel, ICLR 2017)."""

    def _score_chunk(self, x: torch.Tensor) -> torch.Tensor:
        return F.msp_score(x, self.T)


@register("maxlogit")
class MaxLogit(LogitScorer):
    """Maximum logit max_i f_i (Hendrycks et al., ICML 2022)."""

    chunk_rows = 1 << 20  # amax makes no temporaries: big chunks, less per-chunk overhead

    def _score_chunk(self, x: torch.Tensor) -> torch.Tensor:
        return F.maxlogit_score(x)


@register("energy")
class Energy(_TemperatureScorer):
    """Negative free energy T * logsumexp(f / T) (Liu et al., NeurIPS 2020). Parameter-free at
    T = 1, the paper's recommendation."""

    def _score_chunk(self, x: torch.Tensor) -> torch.Tensor:
        return F.energy_score(x, self.T)


@register("self_normalized_energy")
class SelfNormalizedEnergy(Energy):
    """Energy on log_softmax(f): identically 0 at T = 1 (the rebuttal's failed ablation)."""

    def _score_chunk(self, x: torch.Tensor) -> torch.Tensor:
        return F.self_normalized_energy_score(x, self.T)


@register("entropy")
class Entropy(LogitScorer):
    """Negative predictive entropy sum_j p_j log p_j, p = softmax(f) (the classic uncertainty
    baseline; e.g. Hendrycks & Gimpel 2017, OpenOOD). Higher = more peaked = more ID."""

    def _score_chunk(self, x: torch.Tensor) -> torch.Tensor:
        return F.entropy_score(x)


@register("gen")
class GEN(LogitScorer):
    """GEN, generalized entropy (Liu, Lochman & Zach, CVPR 2023):
    score = -sum_{j in top-M of p} p_j^gamma (1 - p_j)^gamma, p = softmax(f).

    Paper defaults gamma = 0.1, M = 100 (capped at the number of classes K). The authors' code
    sums over the M largest probabilities; pytorch-ood 0.4 averages them (the same ranking)
    and clamps p to [1e-7, 1 - 1e-7], which moves the rows with a probability outside that
    range, their ranking too (benchmarks/bench_agreement.py).
    """

    def __init__(self, gamma: float = 0.1, M: int = 100):
        super().__init__()
        self.gamma = P.positive(gamma, "gen: gamma")
        self.M = P.integer(M, "gen: M", low=1)

    def _score_chunk(self, x: torch.Tensor) -> torch.Tensor:
        return F.gen_score(x, self.gamma, self.M)


@register("weighted_ebo")
class WeightedEBO(LogitScorer):
    """Weighted energy score of VOS (Du et al., ICLR 2022), as pytorch-ood 0.4's WeightedEBO:
    score = -E_w(x) = log sum_i w_i exp(f_i), w = relu(class weights).

    The class weights are learned in VOS training (its ``weight_energy`` layer): pass them with
    ``fit(class_weights=w)`` (shape K or 1 x K). At least one weight must be positive.
    """

    fit_needs = frozenset({"class_weights"})
    state_shapes = {"log_weights": ("K",)}

    def _fit(self, X, y, class_weights=None, **_) -> None:
        w = torch.as_tensor(class_weights).detach()
        if w.is_complex() or w.numel() == 0 or w.reshape(-1).shape[0] != w.shape[-1]:
            raise InputError(f"weighted_ebo: class_weights must be a vector, got {tuple(w.shape)}")
        w = w.reshape(-1).double().relu()
        if not bool(torch.isfinite(w).all()) or not bool((w > 0).any()):
            raise InputError("weighted_ebo: class_weights must be finite with one entry > 0")
        dev = X.device if isinstance(X, torch.Tensor) else w.device
        self.log_weights = w.log().clamp_min(-1e30).float().to(dev)  # log 0 -> -1e30: finite

    def _check_state(self) -> None:
        if not bool((self.log_weights > -1e29).any()):
            raise InputError("weighted_ebo: every class weight is 0")

    def _after_state(self) -> None:
        self.n_features_in_ = int(self.log_weights.shape[0])

    def _score_chunk(self, x: torch.Tensor) -> torch.Tensor:
        return F.weighted_energy_score(x, self.log_weights.to(x.dtype))
