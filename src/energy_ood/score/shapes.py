"""The registered shapings (``shaping`` holds the interface and the pure functions).

Each is followed by a logit score, energy by default: ``react``, ``ash_p``, ``ash_b``, ``ash_s``,
``scale``, ``dice`` and any ``NAME+SCORE`` (``react+msp``, ``ash_s+gen``, ...). Like the papers
(and pytorch-ood), ASH and SCALE act on the penultimate features after global pooling.
"""

from __future__ import annotations

import torch

from .._validate import InputError
from . import param_checks as P
from .registry import register
from .shaping import Shaped, _PercentileShaped, ash_b, ash_p, ash_s, percentile_of, react_clip
from .shaping import scale_shape as _scale


@register("react")
class ReAct(Shaped):
    """ReAct (Sun, Guo & Li, NeurIPS 2021): h' = min(h, c), c = the ``percentile``-th
    percentile (default 90) of all ID training activations; then the logit score (energy) of
    W h' + b. ``fit(train_features, head=model.fc)``."""

    base_needs = frozenset({"X", "head"})
    shaping_state = {"threshold": ()}

    def __init__(self, percentile: float = 90.0, score: str = "energy", **score_params):
        super().__init__(score, **score_params)
        self.percentile = P.percent(percentile, "react: percentile", allow_100=True, allow_0=False)

    def _fit_shaping(self, h: torch.Tensor) -> None:
        self.threshold = percentile_of(h, self.percentile).float()

    def _shape(self, h: torch.Tensor) -> torch.Tensor:
        return react_clip(h, float(self.threshold))


@register("ash_p")
class ASHP(_PercentileShaped):
    """ASH-P (Djurisic et al., "Extremely Simple Activation Shaping", ICLR 2023): per sample,
    zero the entries below its ``percentile``-th percentile (default 90), keep the rest; then
    the logit score (energy). Needs only the head: ``fit(head=model.fc)``."""

    shape_fn = staticmethod(ash_p)


@register("ash_b")
class ASHB(_PercentileShaped):
    """ASH-B (Djurisic et al., ICLR 2023): prune as ASH-P, then set every kept entry to
    s1 / k, s1 = the sample's sum before pruning, k = the number kept; then the logit score."""

    shape_fn = staticmethod(ash_b)


@register("ash_s")
class ASHS(_PercentileShaped):
    """ASH-S (Djurisic et al., ICLR 2023): prune as ASH-P, then scale the kept entries by
    exp(s1 / s2), s1 / s2 = the sample's sums before / after pruning; then the logit score."""

    shape_fn = staticmethod(ash_s)


@register("scale")
class SCALE(_PercentileShaped):
    """SCALE (Xu et al., "Scaling for Training Time and Post-hoc OOD Detection Enhancement",
    ICLR 2024): h' = h * exp(s1 / s2), s1 = sum of h, s2 = sum of its entries above the
    sample's ``percentile``-th percentile; no pruning. Then the logit score (energy).
    Default percentile 85, the middle of the 65-95 range OpenOOD sweeps for it."""

    shape_fn = staticmethod(_scale)

    def __init__(self, percentile: float = 85.0, score: str = "energy", **score_params):
        super().__init__(percentile, score, **score_params)


@register("dice")
class DICE(Shaped):
    """DICE (Sun & Li, "Leveraging Sparsification for OOD Detection", ECCV 2022): contribution
    V_kj = mean_ID(h_j) * W_kj; keep the weights whose V is above the ``sparsity``-th percentile
    of all V (default 90: 10% kept), zero the rest; then the logit score (energy) of
    W' h + b. ``fit(train_features, head=model.fc)``."""

    base_needs = frozenset({"X", "head"})

    def __init__(self, sparsity: float = 90.0, score: str = "energy", **score_params):
        super().__init__(score, **score_params)
        self.sparsity = P.percent(sparsity, "dice: sparsity")

    def _fit_shaping(self, h: torch.Tensor) -> None:
        w = self.weight
        contrib = h.to(w.device, w.dtype).mean(0, keepdim=True) * w
        keep = contrib > percentile_of(contrib, self.sparsity)
        if not bool(keep.any()):
            raise InputError("dice: the sparsity keeps no weight (all contributions equal)")
        self.weight = torch.where(keep, w, torch.zeros_like(w))
