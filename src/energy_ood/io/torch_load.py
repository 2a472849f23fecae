"""``torch.load(weights_only=True)`` whose every failure is one line naming the file.

Torch's own refusal of a pickle that holds other objects than tensors is a paragraph (how to
load it unsafely, the allow-list API, a link); what the user needs is the file, that it was
refused, and the object that made it so (``GLOBAL __main__.Foo``).
"""

from __future__ import annotations

import pickle
import re
import warnings

import torch

from .._validate import InputError, one_line

_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")
_REASON = re.compile(r"WeightsUnpickler error: ([^\n]+)")


def load_failure(path, e: BaseException, what: str = "checkpoint") -> InputError:
    """The one-line InputError for a failed ``torch.load`` of ``path``."""
    text = str(e)
    if isinstance(e, pickle.UnpicklingError) or "Weights only load failed" in text:
        m = _GLOBAL.search(text)
        if m:
            found = f"holds {m.group(1)}, not only tensors"
        else:
            m = _REASON.search(text)
            found = (
                f"holds objects other than tensors ({m.group(1)[:120]})"
                if m
                else ("holds objects other than tensors")
            )
        return InputError(
            f"{path}: refused to load {what}: it {found} (read with weights_only=True, which "
            "never runs code from a file)"
        )
    if isinstance(e, MemoryError):
        return InputError(f"{path}: refused to load {what} (too large for memory)")
    return InputError(f"{path}: refused to load {what} ({one_line(e)[:200]})")


def safe_load(source, path=None, what: str = "checkpoint"):
    """``torch.load(source, weights_only=True, map_location="cpu")``; ``path`` names it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # notes on odd pickle protocols
            return torch.load(source, weights_only=True, map_location="cpu")
    except PermissionError:
        raise InputError(f"{path or source}: permission denied") from None
    except Exception as e:  # noqa: BLE001 - an untrusted pickle fails in many ways
        raise load_failure(path or source, e, what) from None
