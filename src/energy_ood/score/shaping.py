"""Feature and weight shaping followed by any logit score: ``NAME+SCORE`` (default energy).

A shaped scorer reads penultimate features h, reshapes them (or the final layer's weights),
computes logits W h' + b and hands them to a logit scorer: ``create_scorer("react")`` is
ReAct + energy, ``create_scorer("ash_s+msp")`` ASH-S + MSP, ``ReAct(score="gen", gamma=0.5)``
the same with GEN. Parameters of the logit score are given flat beside the shaping's own.
The final layer is a fit need (``fit(h, head=model.fc)`` or ``weight=W, bias=b``).

Pure shaping functions (each a function of a batch of features):

* ``react_clip``: h' = min(h, c);
* ``ash_p`` / ``ash_b`` / ``ash_s`` and ``scale_shape``: per sample, keep the k = n - round(n p
  / 100) largest of the n entries (the p-th percentile of that sample), as the authors' code.
"""

from __future__ import annotations

import torch

from .._validate import InputError, as_tensor_2d
from . import param_checks as P
from ._head import check_head_width, linear
from .base import Scorer
from .registry import create_scorer

# --- pure shaping functions ---------------------------------------------------------------


def react_clip(h: torch.Tensor, c: float) -> torch.Tensor:
    """ReAct (Sun, Guo & Li, NeurIPS 2021): h' = min(h, c)."""
    return h.clamp(max=c)


def _kept(h: torch.Tensor, percentile: float) -> tuple[torch.Tensor, torch.Tensor, int]:
    n = h.shape[1]
    k = n - int(round(n * percentile / 100.0))
    if k < 1:
        raise InputError(f"percentile {percentile:g} keeps no entry of {n} features")
    v, i = h.topk(k, dim=1, sorted=False)
    return v, i, k


def ash_p(h: torch.Tensor, percentile: float) -> torch.Tensor:
    """ASH-P: zero every entry below the sample's p-th percentile, keep the rest."""
    v, i, _ = _kept(h, percentile)
    return torch.zeros_like(h).scatter_(1, i, v)


def ash_b(h: torch.Tensor, percentile: float) -> torch.Tensor:
    """ASH-B: prune as ASH-P, then set every kept entry to s1 / k (s1 = sum of h before)."""
    _, i, k = _kept(h, percentile)
    fill = (h.sum(dim=1, keepdim=True) / k).expand(-1, k)
    return torch.zeros_like(h).scatter_(1, i, fill)


def ash_s(h: torch.Tensor, percentile: float) -> torch.Tensor:
    """ASH-S: prune as ASH-P, then multiply by exp(s1 / s2), s1 / s2 = sums before / after."""
    v, i, _ = _kept(h, percentile)
    s1, s2 = h.sum(dim=1, keepdim=True), v.sum(dim=1, keepdim=True)
    return torch.zeros_like(h).scatter_(1, i, v) * torch.exp(s1 / s2)


def scale_shape(h: torch.Tensor, percentile: float) -> torch.Tensor:
    """SCALE: no pruning; h * exp(s1 / s2), s1 = sum of h, s2 = sum of its kept (top) part."""
    v, _, _ = _kept(h, percentile)
    return h * torch.exp(h.sum(dim=1, keepdim=True) / v.sum(dim=1, keepdim=True))


def percentile_of(t: torch.Tensor, q: float) -> torch.Tensor:
    """np.percentile(t, q) (linear interpolation) on t's device, without a full sort."""
    flat = t.reshape(-1)
    pos = (flat.numel() - 1) * q / 100.0
    lo = int(pos)
    a = flat.kthvalue(lo + 1).values
    if pos == lo:
        return a
    b = flat.kthvalue(lo + 2).values
    return a + (b - a) * (pos - lo)


# --- the composed scorer ---------------------------------------------------------------------


class Shaped(Scorer):
    """Base of the shapings: ``_shape(h)`` (features) and/or fitted weights, then ``score``."""

    input_kind = "features"
    composable = True
    check_inputs = True
    base_needs = frozenset({"head"})  # the shaping's own needs ("X" where it learns from h)
    shaping_state: dict[str, tuple] = {}

    def __init__(self, score: str = "energy", **score_params):
        super().__init__()
        if not isinstance(score, str):
            raise InputError(f"score must be a logit scorer name, got {score!r}")
        inner = create_scorer(score, **score_params)
        if inner.input_kind != "logits" or inner.composable:
            raise InputError(f"{type(self).name}: {score!r} is not a logit scorer")
        self.score_name, self.inner = inner.name, inner
        self.name = type(self).name if inner.name == "energy" else f"{type(self).name}+{inner.name}"
        self.fit_needs = self.base_needs | inner.fit_needs
        self.fit_accepts = inner.fit_accepts
        self.fit_split = inner.fit_split if "X" in inner.fit_needs else "train"
        self.fitted_ = False

    @property
    def state_shapes(self) -> dict[str, tuple]:
        own = {"weight": ("K", "D"), "bias": ("K",), **self.shaping_state}
        inner = {f"score.{k}": v for k, v in self.inner.state_shapes.items()}
        return {**own, **inner}

    @property
    def state_ints(self) -> tuple[str, ...]:
        return tuple(f"score.{k}" for k in self.inner.state_ints)

    def get_params(self, deep: bool = True) -> dict:
        own = {p: getattr(self, p) for p in self.shaping_params()}
        return {**own, "score": self.score_name, **self.inner.get_params()}

    @classmethod
    def shaping_params(cls) -> list[str]:
        return [p for p in cls.init_params() if p != "score"]

    def state_dict(self) -> dict[str, torch.Tensor]:
        own = {k: getattr(self, k) for k in ("weight", "bias", *self.shaping_state)}
        return {**own, **{f"score.{k}": v for k, v in self.inner.state_dict().items()}}

    def load_state_dict(self, state) -> None:
        from ._state import validate_state

        state = validate_state(self, state)
        for k, v in state.items():
            if not k.startswith("score."):
                setattr(self, k, v)
        inner = {k[6:]: v for k, v in state.items() if k.startswith("score.")}
        if self.inner.state_shapes:
            self.inner.load_state_dict(inner)
        self._check_state()
        self._after_state()
        self.fitted_ = True

    def _fit(self, X, y, weight=None, bias=None, **rest) -> None:
        h = as_tensor_2d(X, f"{self.name} features") if X is not None else None
        if h is not None:
            check_head_width(self.name, h, weight)
        self.weight, self.bias = weight, bias
        self._fit_shaping(h)
        if self.inner.fit_needs:
            logits = None if h is None else self._logits(h.to(weight.device))
            self.inner.fit(logits, y, **rest)

    def _fit_shaping(self, h: torch.Tensor | None) -> None:
        """Hook: learn the shaping's statistics from ID features (ReAct, DICE)."""

    def _after_state(self) -> None:
        self.n_features_in_ = int(self.weight.shape[1])

    def to(self, device) -> Shaped:
        super().to(device)
        self.inner.to(device)
        return self

    def _shape(self, h: torch.Tensor) -> torch.Tensor:
        return h

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        return linear(self._shape(h), self.weight, self.bias)

    def _score_chunk(self, h: torch.Tensor) -> torch.Tensor:
        return self.inner._score_chunk(self._logits(h))


class _PercentileShaped(Shaped):
    shape_fn = staticmethod(ash_p)

    def __init__(self, percentile: float = 90.0, score: str = "energy", **score_params):
        super().__init__(score, **score_params)
        self.percentile = P.percent(percentile, f"{type(self).name}: percentile")

    def _shape(self, h: torch.Tensor) -> torch.Tensor:
        return self.shape_fn(h, self.percentile)
