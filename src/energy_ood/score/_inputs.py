"""Base of the scorers that consume model inputs and run the model themselves (ODIN,
Mahalanobis with input pre-processing, RankFeat).

``score(x)`` takes a tensor of inputs (split into ``batch_size`` batches) or an iterable of
batches (a DataLoader; a ``(x, y)`` batch uses x). Each batch is checked for NaN/inf, moved to
the model's device and scored with the model in eval mode (its mode is restored after).
Scores come back as CPU numpy, float64 for float64 inputs, float32 otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from .._validate import InputError
from ..runtime.device import model_device
from . import param_checks as P
from .base import Scorer, _check_finite, _check_finite_inputs


def model_dtype(model: nn.Module) -> torch.dtype:
    p = next((p for p in model.parameters() if torch.is_floating_point(p)), None)
    return p.dtype if p is not None else torch.float32


def batches(x, batch_size: int) -> Iterable[torch.Tensor]:
    """Batches of a tensor / array, or the batches of an iterable (first item of a tuple)."""
    if isinstance(x, (torch.Tensor, np.ndarray)):
        t = torch.as_tensor(x) if isinstance(x, np.ndarray) else x
        if t.ndim < 2 or t.shape[0] == 0:
            raise InputError(f"expected a non-empty batch of inputs, got shape {tuple(t.shape)}")
        return (t[i : i + batch_size] for i in range(0, t.shape[0], batch_size))
    if isinstance(x, (str, bytes)) or not isinstance(x, Iterable):
        raise InputError(f"expected a tensor of inputs or an iterable of batches, got {type(x)}")
    return (b[0] if isinstance(b, (tuple, list)) else b for b in x)


class InputScorer(Scorer):
    input_kind = "inputs"
    fit_needs = frozenset({"model"})
    runtime_params = ("model",)
    check_inputs = True

    def __init__(self, model: nn.Module | None = None, batch_size: int = 256):
        super().__init__()
        if model is not None and not isinstance(model, nn.Module):
            raise InputError(f"{self.name}: model must be a torch nn.Module, got {type(model)}")
        self.model = model
        self.batch_size = P.integer(batch_size, f"{self.name}: batch_size", low=1)
        self.fitted_ = model is not None and not (self.fit_needs - {"model", "std"})

    @property
    def device(self) -> torch.device | None:
        return None if self.model is None else model_device(self.model)

    def _fit(self, X, y, model=None, **needs) -> None:
        if model is not None:
            if not isinstance(model, nn.Module):
                raise InputError(f"{self.name}: model must be a torch nn.Module")
            self.model = model
        if "std" in needs and getattr(self, "std", None) is None:
            self.std = P.channel_std(needs["std"], f"{self.name}: std")
        self._fit_inputs(X, y)

    def _fit_inputs(self, X, y) -> None:
        """Hook: learn from ID data (``fit_kind``) once the model is known."""

    def _check_fitted(self) -> None:
        if self.model is None:
            raise InputError(
                f"{self.name} needs the model: fit(model=net) or {self.name}(model=net)"
            )
        super()._check_fitted()

    def _score_batch(self, x: torch.Tensor) -> torch.Tensor:
        """ID-ness of one batch of model inputs; every input scorer defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define _score_batch")

    def score(self, x) -> np.ndarray:
        self._check_fitted()
        dev, dtype = model_device(self.model), model_dtype(self.model)
        was_training = self.model.training
        self.model.eval()
        out, start = [], 0
        try:
            for xb in batches(x, self.batch_size):
                if not isinstance(xb, torch.Tensor):
                    xb = torch.as_tensor(np.asarray(xb))
                if xb.is_complex() or xb.dtype == torch.bool:
                    raise InputError(f"{self.name}: inputs of dtype {xb.dtype} are not supported")
                dt = torch.float64 if xb.dtype == torch.float64 else torch.float32
                xb = xb.to(dev, dtype)
                _check_finite_inputs(xb, start, self.name, "inputs")
                s = self._score_batch(xb).detach()
                _check_finite(s, xb.reshape(xb.shape[0], -1), start, self.name, "inputs")
                out.append(s.to(dt).cpu())
                start += xb.shape[0]
        finally:
            self.model.train(was_training)
        if not out:
            raise InputError(f"{self.name}: no inputs to score")
        return torch.cat(out).numpy()


def step_scale(std, x: torch.Tensor, name: str) -> torch.Tensor | float:
    """1 / std per channel, shaped to broadcast over (N, C, ...) inputs; 1 without a std."""
    if std is None:
        return 1.0
    if x.ndim < 2 or x.shape[1] != len(std):
        raise InputError(
            f"{name}: std has {len(std)} channel(s), inputs have shape {tuple(x.shape)}"
        )
    s = torch.tensor(std, dtype=x.dtype, device=x.device)
    return 1.0 / s.view(1, -1, *([1] * (x.ndim - 2)))
