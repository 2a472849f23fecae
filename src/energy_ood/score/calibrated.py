"""Logit scorers fitted on ID validation logits: temperature scaling and KL-Matching."""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validate import InputError, as_tensor_2d, real_array
from . import functional as F
from .logits import LogitScorer
from .registry import register

T_RANGE = (1e-3, 1e3)


MAX_CLASSES = 1_000_000  # a class index above this is no class index


def check_labels(y, n: int, k: int | None, name: str, device) -> torch.Tensor:
    """Integer class labels in 0..k-1 (0..MAX_CLASSES-1 when ``k`` is None), one per row
    (n), on ``device``; booleans, fractions, negative and huge values are one line. Labels on
    the CPU are checked with numpy: a torch reduction leaves its OpenMP threads spinning for a
    few ms, which slowed the numpy / BLAS fit that follows by a third (Mahalanobis, 2 cores)."""
    t = real_array(y if isinstance(y, torch.Tensor) else np.asarray(y), f"{name}: labels")
    t = t.detach() if isinstance(t, torch.Tensor) else torch.as_tensor(t)
    if t.dtype == torch.bool:
        raise InputError(f"{name}: labels must be class indices (integers), got booleans")
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    v = t.reshape(-1)
    v = v.numpy() if v.device.type == "cpu" else v
    if t.is_floating_point() and not bool((v == v.round()).all() and abs(v).max() < 2**53):
        raise InputError(f"{name}: labels must be integers")
    if v.shape[0] != n:
        raise InputError(f"{name}: {n} rows but {v.shape[0]} labels")
    k = MAX_CLASSES if k is None else k
    if v.shape[0] and (float(v.min()) < 0 or float(v.max()) >= k):
        raise InputError(
            f"{name}: labels must be class indices in 0..{k - 1}, got "
            f"{int(v.min())}..{int(v.max())}"
        )
    if isinstance(v, np.ndarray):
        return torch.from_numpy(v.astype(np.int64, copy=False)).to(device)
    return v.long().to(device)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T in ``T_RANGE`` minimising the validation NLL of softmax(f / T) (Guo et al., ICML
    2017). NLL(b) = mean(logsumexp(b f) - b f_y) is convex in b = 1/T, so a bounded 1-D search
    on log b (Brent) finds its minimum."""
    from scipy.optimize import minimize_scalar

    z = logits.double()
    zy = z.gather(1, labels[:, None]).squeeze(1)

    def nll(log_b: float) -> float:
        b = math.exp(log_b)
        return float((torch.logsumexp(b * z, dim=1) - b * zy).mean())

    lo, hi = -math.log(T_RANGE[1]), -math.log(T_RANGE[0])
    res = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-7})
    return 1.0 / math.exp(res.x)


@register("temp_scaling")
class TemperatureScaling(LogitScorer):
    """Temperature-scaled MSP: max_i softmax(f / T)_i with T fitted on ID validation logits and
    labels by minimising the negative log-likelihood (Guo et al., "On Calibration of Modern
    Neural Networks", ICML 2017), searched in [1e-3, 1e3]. ``fit(val_logits, val_labels)``."""

    fit_needs = frozenset({"X", "y"})
    fit_split = "val"
    state_shapes = {"temperature": ()}

    def _fit(self, X, y, **_) -> None:
        z = as_tensor_2d(X, "temp_scaling logits", torch.float64)
        y = check_labels(y, z.shape[0], z.shape[1], "temp_scaling", z.device)
        self.temperature = torch.tensor(fit_temperature(z, y), device=z.device)

    def _check_state(self) -> None:
        if not 0 < float(self.temperature) < math.inf:
            raise InputError("temp_scaling: temperature must be > 0")

    def _score_chunk(self, x: torch.Tensor) -> torch.Tensor:
        return F.msp_score(x, float(self.temperature))


@register("kl_matching")
class KLMatching(LogitScorer):
    """KL-Matching (Hendrycks et al., "Scaling Out-of-Distribution Detection for Real-World
    Settings", ICML 2022): templates d_k = mean of softmax(f) over the ID validation samples
    *predicted* as k (no labels needed); score = -KL(p || d_yhat), yhat = argmax f.

    A class never predicted on the fit data takes the mean posterior over all of it as its
    template, and templates are floored at 1e-30 so the divergence stays finite (the paper
    leaves both cases open).
    """

    fit_needs = frozenset({"X"})
    fit_split = "val"
    state_shapes = {"log_templates": ("K", "K")}

    def _fit(self, X, y, **_) -> None:
        z = as_tensor_2d(X, "kl_matching logits", torch.float64)
        p = torch.softmax(z, dim=1)
        pred = z.argmax(dim=1)
        k = z.shape[1]
        sums = torch.zeros(k, k, dtype=p.dtype, device=p.device).index_add_(0, pred, p)
        counts = torch.bincount(pred, minlength=k)
        mean = p.mean(0, keepdim=True).expand(k, k)
        d = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], mean)
        self.log_templates = d.clamp_min(1e-30).log().float()

    def _after_state(self) -> None:
        self.n_features_in_ = int(self.log_templates.shape[1])

    def _score_chunk(self, x: torch.Tensor) -> torch.Tensor:
        return F.kl_matching_score(x, self.log_templates.to(x.dtype))
