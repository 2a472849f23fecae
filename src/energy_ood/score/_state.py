"""Validation of a scorer's fitted state read from a file (``Scorer.load_state_dict``).

``state_shapes`` maps each fitted attribute to the symbols of its shape, e.g.
``{"whiten": ("D", "D"), "means_w": ("C", "D"), "classes": ("C",)}``: a symbol binds to one
size across all keys; an integer is a fixed size. Keys must be exactly those, values tensors of
a real dtype (integer for ``state_ints``, floating and finite otherwise). Anything else is a
one-line InputError naming the key, so a hostile or damaged file never reaches the arithmetic.
"""

from __future__ import annotations

import torch

from .._validate import InputError


def validate_state(scorer, state) -> dict[str, torch.Tensor]:
    name = scorer.name
    if not isinstance(state, dict):
        raise InputError(
            f"{name}: fitted state must be a dict of tensors, got {type(state).__name__}"
        )
    spec = scorer.state_shapes
    extra = sorted(str(k) for k in state if k not in spec)
    if extra:
        raise InputError(
            f"{name}: unknown state key {extra[0]!r} (fitted attributes: "
            f"{', '.join(spec) or 'none'})"
        )
    missing = [k for k in spec if k not in state]
    if missing:
        raise InputError(f"{name}: fitted state lacks {missing[0]!r}")
    sizes: dict[str, int] = {}
    out = {}
    for key, dims in spec.items():
        t = state[key]
        if not isinstance(t, torch.Tensor):
            raise InputError(f"{name}: state {key!r} must be a tensor, got {type(t).__name__}")
        if t.is_complex() or t.dtype == torch.bool:
            raise InputError(f"{name}: state {key!r} has unsupported dtype {t.dtype}")
        if t.ndim != len(dims):
            raise InputError(
                f"{name}: state {key!r} must have {len(dims)} dimension(s), got shape "
                f"{tuple(t.shape)}"
            )
        for d, size in zip(dims, t.shape):
            if isinstance(d, int):
                if size != d:
                    raise InputError(f"{name}: state {key!r} has shape {tuple(t.shape)}")
            elif sizes.setdefault(d, int(size)) != size:
                raise InputError(
                    f"{name}: state {key!r} of shape {tuple(t.shape)} does not match the other "
                    f"fitted tensors ({d} = {sizes[d]})"
                )
            elif size == 0:
                raise InputError(f"{name}: state {key!r} is empty, shape {tuple(t.shape)}")
        if key in scorer.state_ints:
            if torch.is_floating_point(t):
                raise InputError(f"{name}: state {key!r} must hold integers, got {t.dtype}")
            t = t.long()
        else:
            t = t.float() if not torch.is_floating_point(t) or t.dtype != torch.float64 else t
            if not bool(torch.isfinite(t).all()):
                raise InputError(f"{name}: state {key!r} holds NaN or inf")
        out[key] = t.detach()
    return out
