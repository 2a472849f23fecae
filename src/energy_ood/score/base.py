"""The scorer contract (the registry of scorers by name is ``registry``).

A scorer is configured in ``__init__`` (plain JSON values, ``get_params``), learns what it needs
in ``fit(X=None, y=None, **needs)`` and answers in ``score(X)`` (also ``scorer(X)``): a 1-D CPU
numpy array of ID-ness (higher = more in-distribution), float32 for float32 (or half) input and
float64 for float64 input.

Each scorer *declares* what it consumes, so callers ask instead of switching on names:

* ``input_kind``: what ``score`` takes: ``"logits"`` (n x K), ``"features"`` (n x D penultimate
  features), ``"inputs"`` (a batch of model inputs, or an iterable of batches: the scorer runs
  the model), ``"similarity"`` (n x K cosine similarities of a vision-language model);
* ``fit_kind``: what ``fit``'s ``X`` is (default: ``input_kind``);
* ``fit_needs``: what ``fit`` requires, from ``NEEDS``: ``"X"`` (ID data), ``"y"`` (its class
  labels), ``"head"`` (the final linear layer: ``head=nn.Linear`` or ``weight=W, bias=b``),
  ``"model"``, ``"class_weights"``; ``fit_accepts``: what it uses when given (``"std"``: the
  per-channel std of the input normalisation); ``fit_split``: which ID split its paper fits on
  (``"train"`` or ``"val"``).

``fit_scorer(scorer, source)`` (module ``fitting``) hands a scorer exactly what it declares.
Fitted state is a dict of tensors (``state_dict``, keys ``state_keys``), so a fitted scorer saves
as JSON + a tensor file and loads without executing code. A scorer follows the device of its
fitted tensors (or of its model): ``to(device)`` moves it; inputs are moved chunk by chunk.
"""

from __future__ import annotations

import inspect

import numpy as np
import torch

from .._validate import InputError
from ..runtime.device import model_device
from ._rows import _check_finite, _check_finite_inputs, _chunk_tensor, _rows, _shape

INPUT_KINDS = ("logits", "features", "inputs", "similarity")
NEEDS = ("X", "y", "head", "model", "std", "class_weights")
_NEED_KEYWORDS = {
    "head": ("head", "weight", "bias"),
    "model": ("model",),
    "std": ("std",),
    "class_weights": ("class_weights",),
}


class Scorer:
    """Base class. Subclasses set the declarations below and define ``_score_chunk(x)``
    (one chunk of 2-D input, on the scorer's device, float32 or float64) and ``_fit``."""

    name = "scorer"
    input_kind = "logits"
    fit_kind: str | None = None
    fit_needs: frozenset[str] = frozenset()
    fit_accepts: frozenset[str] = frozenset()
    fit_split = "train"
    state_shapes: dict[str, tuple] = {}  # fitted tensors: key -> shape symbols (see _state)
    state_ints: tuple[str, ...] = ()  # state keys holding integer tensors
    runtime_params: tuple[str, ...] = ()  # constructor arguments never saved (a model)
    composable = False  # takes ``score=`` (a logit scorer) after its shaping: "NAME+SCORE"
    # refuse non-finite inputs (NaN, +inf and -inf alike) before scoring: a -inf logit would
    # give a finite score (probability 0), but inf is refused, so -inf is too (issue 18)
    check_inputs = True
    chunk_rows = 65536

    def __init__(self) -> None:
        self.n_features_in_: int | None = None
        self.fitted_ = not (self.fit_needs - {"std"})

    # --- configuration -------------------------------------------------------------------
    @classmethod
    def init_params(cls) -> list[str]:
        """The names of the constructor's parameters (what ``get_params`` reports and
        ``create_scorer`` accepts; ``**kwargs`` and ``*args`` are not listed)."""
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in list(sig.parameters.values())[1:]
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]

    @property
    def state_keys(self) -> tuple[str, ...]:
        return tuple(self.state_shapes)

    def get_params(self, deep: bool = True) -> dict:
        """Constructor parameters as plain JSON values (runtime objects such as a model left
        out), scikit-learn style: read from the attributes of the same names."""
        return {p: getattr(self, p) for p in self.init_params() if p not in self.runtime_params}

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Fitted statistics as tensors (empty for stateless scorers)."""
        return {k: getattr(self, k) for k in self.state_keys}

    def load_state_dict(self, state) -> None:
        """Validate ``state`` against ``state_shapes`` (one-line InputError) and adopt it."""
        from ._state import validate_state

        for k, v in validate_state(self, state).items():
            setattr(self, k, v)
        self._check_state()
        self._after_state()
        self.fitted_ = True

    def _check_state(self) -> None:
        """Hook: extra consistency checks of loaded state (raise InputError)."""

    def _after_state(self) -> None:
        """Hook: derived caches after fit or load (e.g. a search index, the input width)."""

    # --- devices ---------------------------------------------------------------------------
    @property
    def device(self) -> torch.device | None:
        """The device of the fitted tensors (or model); None for a stateless scorer."""
        for k in self.state_keys:
            t = getattr(self, k, None)
            if isinstance(t, torch.Tensor):
                return t.device
        model = getattr(self, "model", None)
        if isinstance(model, torch.nn.Module):
            return model_device(model)
        return None

    def to(self, device) -> Scorer:
        """Move fitted tensors (and a held model, in place) to ``device``."""
        device = torch.device(device)
        for k in self.state_keys:
            t = getattr(self, k, None)
            if isinstance(t, torch.Tensor):
                setattr(self, k, t.to(device))
        model = getattr(self, "model", None)
        if isinstance(model, torch.nn.Module):
            model.to(device)
        if self.fitted_ and self.state_keys:
            self._after_state()  # device-dependent caches (a search index, derived tensors)
        return self

    # --- learning ----------------------------------------------------------------------------
    def fit(self, X=None, y=None, **needs) -> Scorer:
        """Learn from in-distribution data; ``needs`` are the keywords of ``fit_needs`` /
        ``fit_accepts`` (``head`` or ``weight``/``bias``, ``model``, ``std``, ...)."""
        allowed = {
            kw for n in self.fit_needs | self.fit_accepts for kw in _NEED_KEYWORDS.get(n, ())
        }
        extra = sorted(set(needs) - allowed)
        if extra:
            raise InputError(
                f"{self.name}: fit() does not take {extra[0]!r} "
                f"(it takes X{', y' if 'y' in self.fit_needs else ''}"
                f"{''.join(', ' + a for a in sorted(allowed))})"
            )
        needs = {k: v for k, v in needs.items() if v is not None}
        kind = self.fit_kind or self.input_kind
        if "X" in self.fit_needs and X is None:
            raise InputError(f"{self.name} learns from in-distribution {kind}: fit(X) needs them")
        if "y" in self.fit_needs and y is None:
            raise InputError(f"{self.name} needs the class labels of its fit data: fit(X, y)")
        if "head" in self.fit_needs:
            from ._head import resolve_head

            dev = X.device if isinstance(X, torch.Tensor) else None
            needs["weight"], needs["bias"] = resolve_head(
                self.name, needs.pop("weight", None), needs.pop("bias", None),
                needs.pop("head", None), device=dev,
            )  # fmt: skip
        for need in ("model", "class_weights"):
            if need in self.fit_needs and need not in needs and getattr(self, need, None) is None:
                raise InputError(f"{self.name} needs {need}: fit(..., {need}=...)")
        self._fit(X, y, **needs)
        if X is not None and self.input_kind in ("logits", "features", "similarity"):
            self.n_features_in_ = int(_shape(X)[1]) if len(_shape(X)) == 2 else None
        self._after_state()
        self.fitted_ = True
        return self

    def _fit(self, X, y, **needs) -> None:
        """Hook: learn the fitted state (stateless scorers have nothing to learn)."""

    def _check_fitted(self) -> None:
        if not self.fitted_:
            raise InputError(f"scorer {self.name!r} needs fit(...) on in-distribution data first")

    # --- scoring -----------------------------------------------------------------------------
    def __call__(self, x) -> np.ndarray:
        return self.score(x)

    def score(self, x) -> np.ndarray:
        """ID-ness of each row of ``x``, computed chunk by chunk (memory-mapped input is fine)
        on the scorer's device (or the input's, for a stateless scorer); a CPU numpy array."""
        self._check_fitted()
        rows = _rows(x, self.name, self.input_kind)
        dev = self.device or (rows.device if isinstance(rows, torch.Tensor) else None)
        n = rows.shape[0]
        out = None
        with torch.no_grad():
            for start in range(0, n, self.chunk_rows):
                chunk = _chunk_tensor(rows, start, self.chunk_rows, dev)
                self._check_width(chunk)
                if self.check_inputs:
                    _check_finite_inputs(chunk, start, self.name, self.input_kind)
                s = self._score_chunk(chunk)
                _check_finite(s, chunk, start, self.name, self.input_kind)
                s = s.to(chunk.dtype).cpu()
                if out is None:
                    out = np.empty(n, dtype=s.numpy().dtype)
                out[start : start + chunk.shape[0]] = s.numpy()
        return out

    def _check_width(self, chunk: torch.Tensor) -> None:
        """Compare the column count with what the scorer was fitted on (when known)."""
        if self.n_features_in_ is not None and chunk.shape[1] != self.n_features_in_:
            raise InputError(
                f"{self.name}: {self.input_kind} have {chunk.shape[1]} columns, "
                f"fitted on {self.n_features_in_}"
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
