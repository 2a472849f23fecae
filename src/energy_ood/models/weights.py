"""Weights from local files: state dicts (``torch.load(weights_only=True)`` or safetensors),
energy-ood checkpoints, and strict loading with one-line errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch
from torch import nn

from .._validate import InputError
from ..io.regular_files import regular_file
from ..io.torch_load import safe_load

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module", "net")


def program_kind(path: str | Path) -> str | None:
    """``"torchscript"`` / ``"export"`` for a ``torch.jit.save`` / ``torch.export.save``
    archive, else None (a state dict, or not a zip file at all)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names):
        return "torchscript"
    if any(n.endswith("/archive_format") for n in names) and any("/models/" in n for n in names):
        return "export"
    return None


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """``(state_dict, arch)`` of a weights file; ``arch`` is the architecture record of an
    energy-ood checkpoint (``{"model", "arch", ...}``), else None.

    Accepted: ``torch.save(model.state_dict())`` files (loaded with ``weights_only=True``),
    ``.safetensors`` files, and dicts wrapping a state dict under one of ``WRAPPER_KEYS``; a
    ``module.`` prefix on every key (DataParallel) is removed. The ``arch`` of a checkpoint
    carries its ``preprocess`` record (a run's geometry and training statistics) when it has
    one."""
    path = Path(path)
    if not path.is_file() and not path.exists():
        raise InputError(f"{path}: no such checkpoint file")
    regular_file(path, "checkpoint file")  # a FIFO or device: refused, never read blocking
    kind = program_kind(path)
    if kind is not None:
        raise InputError(
            f"{path}: is a {kind} program, not a state dict; give it as the model itself"
        )
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path), device="cpu")
        else:
            obj = safe_load(path, path, "weights")
    except ImportError as e:
        raise InputError(f"{path}: reading .safetensors needs the safetensors package") from e
    except InputError:
        raise
    except Exception as e:  # a damaged safetensors file
        raise InputError(f"{path}: refused to load weights ({_first_line(e)})") from e
    if not isinstance(obj, dict):
        raise InputError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    arch = None
    if isinstance(obj.get("model"), dict) and isinstance(obj.get("arch"), dict):
        pre = obj.get("preprocess")  # a run's recipe: its geometry and training statistics
        obj, arch = obj["model"], dict(obj["arch"])
        if isinstance(pre, dict) and not arch.get("preprocess"):
            arch["preprocess"] = pre
    elif not all(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = [k for k in WRAPPER_KEYS if isinstance(obj.get(k), dict)]
        if not inner:
            keys = ", ".join(map(str, list(obj)[:5]))
            raise InputError(f"{path}: holds no state dict (keys: {keys})")
        obj = obj[inner[0]]
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad or not obj:
        what = f"non-tensor entry {bad[0]!r}" if bad else "no tensors"
        raise InputError(f"{path}: not a state dict ({what})")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    check_finite(obj, path)
    return dict(obj), arch


def check_finite(state: dict, where) -> None:
    """Refuse weights holding NaN or inf: such a model gives no numbers, only NaN."""
    for k, v in state.items():
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.isfinite(v).all():
            n = int((~torch.isfinite(v)).sum())
            raise InputError(
                f"{where}: weight {k!r} holds {n} non-finite value(s) (NaN or inf); "
                "the model would give NaN scores"
            )


def _few(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (f", ... ({len(keys)} in all)" if len(keys) > 3 else "")


def load_weights(model: nn.Module, state: dict, where, name: str) -> None:
    """Strict ``load_state_dict`` whose failure is one line naming the keys that differ."""
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    parts = []
    if missing:
        parts.append(f"missing {_few(missing)}")
    if unexpected:
        parts.append(f"unexpected {_few(unexpected)}")
    if shapes:
        parts.append(f"shape of {_few(shapes)}")
    if parts:
        raise InputError(f"{where}: weights do not fit {name}: {'; '.join(parts)}")
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise InputError(f"{where}: weights do not fit {name}: {_first_line(e)}") from e
