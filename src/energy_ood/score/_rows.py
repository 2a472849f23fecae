"""Input handling of ``Scorer.score``: 2-D rows of real numbers, chunks moved to a device,
and the finiteness checks (on scores for logits, on inputs where scores could hide a NaN)."""

from __future__ import annotations

import numpy as np
import torch

from .._validate import InputError, all_finite, real_array


def _shape(x) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _rows(x, name: str, kind: str):
    t = real_array(x, f"{name}: {kind}")  # real numbers only (dtype checks, no data pass)
    if isinstance(t, torch.Tensor):
        t = t.detach()
    shape = tuple(t.shape)
    if len(shape) != 2:
        raise InputError(
            f"{name}: expected a 2-D array of {kind} (samples x columns), got shape {shape}"
        )
    if shape[0] == 0 or shape[1] == 0:
        raise InputError(f"{name}: empty {kind} array of shape {shape}")
    return t


def _check_finite(s: torch.Tensor, chunk: torch.Tensor, start: int, name: str, kind: str) -> None:
    """Scores are checked after the inputs (:func:`_check_finite_inputs`): finite inputs whose
    arithmetic overflows in a method give a non-finite score, refused here."""
    if not all_finite(s):
        finite = torch.isfinite(s)
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
    if not all_finite(chunk):
        finite = torch.isfinite(chunk)
        rows = torch.nonzero(~finite.all(dim=tuple(range(1, chunk.ndim)))).flatten() + start
        raise InputError(
            f"{name}: {int((~finite).sum())} non-finite value(s) (NaN or inf) in {rows.numel()} "
            f"row(s) of {kind}, first at row {int(rows[0])}"
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
