"""The scorer contract and its registry.

A scorer is configured in ``__init__``, learns in-distribution statistics in ``fit`` where the
method needs them, and answers in ``score``: a 1-D numpy array of ID-ness (higher = more
in-distribution), float32 for float32 input (the precision it is computed in), else float64.
``input_kind`` says what ``score`` and ``fit`` consume:

* ``"logits"``   -- a (n, K) array of logits (numpy, memory-mapped numpy or tensor);
* ``"features"`` -- a (n, D) array of penultimate features;
* ``"inputs"``   -- a batch of model inputs (the scorer holds the model, e.g. ODIN);
* ``"similarity"`` -- a (n, K) matrix of cosine similarities (vision-language scorers).

Fitted state is a dict of tensors (``state_dict``) and the configuration a dict of plain values
(``get_params``), so a fitted scorer saves as JSON + a tensor file and loads without executing
code.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .._validate import InputError

_REGISTRY: dict[str, type[Scorer]] = {}


def register(name: str) -> Callable[[type[Scorer]], type[Scorer]]:
    def deco(cls: type[Scorer]) -> type[Scorer]:
        if name in _REGISTRY:
            raise ValueError(f"scorer {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def available_scorers() -> list[str]:
    return sorted(_REGISTRY)


def create_scorer(name: str, **params) -> Scorer:
    """Build a scorer by registry name, e.g. ``create_scorer("energy", T=1.0)``."""
    key = name.lower().replace("-", "_")
    if key not in _REGISTRY:
        raise InputError(f"unknown scorer {name!r}; available: {', '.join(available_scorers())}")
    return _REGISTRY[key](**params)


class Scorer:
    """Base class. Subclasses set ``input_kind`` and define ``_score_chunk(x)`` (or ``score``)."""

    name = "scorer"
    input_kind = "logits"
    needs_fit = False
    chunk_rows = 65536

    def __init__(self) -> None:
        self.fitted_ = not self.needs_fit

    # --- configuration -------------------------------------------------------------------
    def get_params(self) -> dict:
        """Constructor parameters as plain JSON values."""
        return {}

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Fitted statistics as tensors (empty for stateless scorers)."""
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
        self.fitted_ = True

    # --- learning and scoring ------------------------------------------------------------
    def fit(self, *args, **kwargs) -> Scorer:
        return self

    def _check_fitted(self) -> None:
        if not self.fitted_:
            raise InputError(f"scorer {self.name!r} needs fit(...) on in-distribution data first")

    def score(self, x) -> np.ndarray:
        """ID-ness of each row of ``x``, computed chunk by chunk (memory-mapped input is fine)."""
        self._check_fitted()
        rows = _rows(x, self.name, self.input_kind)
        out = None  # in the dtype the scores are computed in: float32 logits give float32
        with torch.no_grad():
            for start in range(0, rows.shape[0], self.chunk_rows):
                chunk = _chunk_tensor(rows, start, self.chunk_rows)
                self._check_width(chunk)
                s = self._score_chunk(chunk)
                _check_finite(s, chunk, start, self.name, self.input_kind)
                if out is None:
                    out = np.empty(rows.shape[0], dtype=s.numpy().dtype)
                out[start : start + chunk.shape[0]] = s.numpy()
        return out

    def _check_width(self, chunk: torch.Tensor) -> None:
        """Hook: fitted scorers compare the column count with what they were fitted on."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def _rows(x, name: str, kind: str):
    if isinstance(x, torch.Tensor):
        t = x.detach()
        shape = tuple(t.shape)
    else:
        t = x if isinstance(x, np.ndarray) else np.asarray(x)
        shape = t.shape
    if len(shape) != 2:
        raise InputError(
            f"{name}: expected a 2-D array of {kind} (samples x columns), got shape {shape}"
        )
    if shape[0] == 0 or shape[1] == 0:
        raise InputError(f"{name}: empty {kind} array of shape {shape}")
    return t


def _check_finite(s: torch.Tensor, chunk: torch.Tensor, start: int, name: str, kind: str) -> None:
    """Scores are checked instead of inputs (one pass over n values, not n x K): a NaN or +inf
    input propagates to the score of its row. A -inf entry among finite ones is a valid logit
    (probability 0) and gives a finite score; a row that is all -inf gives a non-finite one."""
    finite = torch.isfinite(s)
    if not bool(finite.all()):
        rows = torch.nonzero(~finite).flatten() + start
        bad = int((~torch.isfinite(chunk[rows - start])).sum())
        raise InputError(
            f"{name}: {kind} of {rows.numel()} row(s) give a non-finite score "
            f"({bad} NaN or inf input value(s)), first at row {int(rows[0])}"
        )


def _chunk_tensor(rows, start: int, size: int) -> torch.Tensor:
    part = rows[start : start + size]
    if isinstance(part, torch.Tensor):
        t = part
    else:
        part = np.ascontiguousarray(part)
        t = torch.from_numpy(part if part.flags.writeable else part.copy())
    if not torch.is_floating_point(t):
        t = t.float()
    elif t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return t.cpu()
