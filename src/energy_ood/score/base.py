"""The scorer contract and its registry.

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

import importlib
import inspect
from collections.abc import Callable

import numpy as np
import torch

from .._validate import InputError

INPUT_KINDS = ("logits", "features", "inputs", "similarity")
NEEDS = ("X", "y", "head", "model", "std", "class_weights")
_NEED_KEYWORDS = {
    "head": ("head", "weight", "bias"),
    "model": ("model",),
    "std": ("std",),
    "class_weights": ("class_weights",),
}

_REGISTRY: dict[str, type[Scorer]] = {}
# Scorers defined outside energy_ood.score, registered when first asked for (no extra import
# needed by the caller): name -> (module, input kind).
_LAZY: dict[str, tuple[str, str]] = {
    name: ("energy_ood.vlm.scores", "similarity")
    for name in ("mcm", "clip_msp", "clip_energy", "clip_maxlogit", "delta_energy")
}


def register(name: str) -> Callable[[type[Scorer]], type[Scorer]]:
    def deco(cls: type[Scorer]) -> type[Scorer]:
        if name in _REGISTRY:
            raise ValueError(f"scorer {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _key(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"scorer name must be a non-empty string, got {name!r}")
    return name.strip().lower().replace("-", "_")


def available_scorers(kind: str | None = None) -> list[str]:
    """Registered names (optionally only those scoring ``kind``). Any ``SHAPING+LOGIT`` pair,
    e.g. ``react+msp``, is also a valid name (``composable`` scorers, see ``shaping``)."""
    names = {n: c.input_kind for n, c in _REGISTRY.items()}
    names.update({n: k for n, (_, k) in _LAZY.items() if n not in names})
    return sorted(n for n, k in names.items() if kind is None or k == kind)


def scorer_class(name: str) -> type[Scorer]:
    """The class registered under ``name`` (a lazily registered one is imported here)."""
    key = _key(name)
    if key not in _REGISTRY and key in _LAZY:
        importlib.import_module(_LAZY[key][0])
    if key not in _REGISTRY:
        raise InputError(f"unknown scorer {name!r}; available: {', '.join(available_scorers())}")
    return _REGISTRY[key]


def scorer_params(name: str) -> list[str]:
    """Constructor parameters a scorer accepts (for a ``A+B`` name, those of both parts)."""
    key = _key(name)
    base, _, inner = key.partition("+")
    out = [p for p in _signature_params(scorer_class(base)) if p != "score"]
    if inner or scorer_class(base).composable:
        out += _signature_params(scorer_class(inner or "energy"))
    return out


def _signature_params(cls) -> list[str]:
    sig = inspect.signature(cls.__init__)
    return [
        p.name
        for p in list(sig.parameters.values())[1:]
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


def create_scorer(name: str, **params) -> Scorer:
    """Build a scorer by registry name, e.g. ``create_scorer("energy", T=1.0)`` or
    ``create_scorer("ash_s+msp", percentile=90)``; unknown names and parameters are refused."""
    key = _key(name)
    if "+" in key:
        base, _, inner = key.partition("+")
        cls = scorer_class(base)
        if not cls.composable:
            shapings = [n for n, c in _REGISTRY.items() if c.composable]
            raise InputError(
                f"scorer {base!r} takes no logit score after '+'; "
                f"composable: {', '.join(sorted(shapings))}"
            )
        if "score" in params and _key(params["score"]) != inner:
            raise InputError(f"{name!r} names score {inner!r} but score={params['score']!r}")
        params = {**params, "score": inner}
    else:
        cls = scorer_class(key)
    if not any(
        p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values()
    ):
        known = _signature_params(cls)
        bad = sorted(set(params) - set(known))
        if bad:
            raise InputError(
                f"scorer {cls.name!r} has no parameter {bad[0]!r} "
                f"(parameters: {', '.join(known) or 'none'})"
            )
    try:
        return cls(**params)
    except TypeError as e:  # a wrongly typed argument the constructor did not name itself
        raise InputError(f"scorer {cls.name!r}: {str(e).splitlines()[0]}") from e


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
    check_inputs = False  # True: refuse non-finite inputs explicitly (scores could hide them)
    chunk_rows = 65536

    def __init__(self) -> None:
        self.n_features_in_: int | None = None
        self.fitted_ = not (self.fit_needs - {"std"})

    # --- configuration -------------------------------------------------------------------
    @property
    def state_keys(self) -> tuple[str, ...]:
        return tuple(self.state_shapes)

    def get_params(self, deep: bool = True) -> dict:
        """Constructor parameters as plain JSON values (runtime objects such as a model left
        out), scikit-learn style: read from the attributes of the same names."""
        return {
            p: getattr(self, p)
            for p in _signature_params(type(self))
            if p not in self.runtime_params
        }

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
            p = next(model.parameters(), None)
            return p.device if p is not None else torch.device("cpu")
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


def _shape(x) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _rows(x, name: str, kind: str):
    if isinstance(x, torch.Tensor):
        t = x.detach()
        if t.is_complex():
            raise InputError(f"{name}: complex {kind} are not supported, got dtype {t.dtype}")
    else:
        t = x if isinstance(x, np.ndarray) else np.asarray(x)
        if t.dtype.kind not in "biuf":
            raise InputError(f"{name}: expected real numbers as {kind}, got dtype {t.dtype}")
        if t.dtype.kind == "f" and t.dtype.itemsize > 8:
            t = t.astype(np.float64)  # longdouble
        elif not t.dtype.isnative:
            t = t.astype(t.dtype.newbyteorder("="))
    shape = tuple(t.shape)
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
        why = (
            f"{bad} NaN or inf input value(s)"
            if bad
            else "finite inputs: the method's arithmetic overflows on them"
        )
        raise InputError(
            f"{name}: {kind} of {rows.numel()} row(s) give a non-finite score ({why}), "
            f"first at row {int(rows[0])}"
        )


def _check_finite_inputs(chunk: torch.Tensor, start: int, name: str, kind: str) -> None:
    finite = torch.isfinite(chunk)
    if not bool(finite.all()):
        rows = torch.nonzero(~finite.all(dim=tuple(range(1, chunk.ndim)))).flatten() + start
        raise InputError(
            f"{name}: {int((~finite).sum())} NaN or inf value(s) in {rows.numel()} row(s) of "
            f"{kind}, first at row {int(rows[0])}"
        )


def _chunk_tensor(rows, start: int, size: int, device) -> torch.Tensor:
    part = rows[start : start + size]
    if isinstance(part, torch.Tensor):
        t = part
    else:
        part = np.ascontiguousarray(part)
        t = torch.from_numpy(part if part.flags.writeable else part.copy())
    if not torch.is_floating_point(t) or t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return t if device is None else t.to(device)
