"""OOD test sets (named, or a user's files by path) as model inputs: at the ID data's size and
channel count, through its transform, normalised like it."""

from __future__ import annotations

from .._validate import InputError
from ..data import load_ood_set
from ..runtime.progress import log


def load_ood_tensors(
    names: list[str], n: int, data, seed: int, data_root=None, skip_missing: bool = False
) -> dict:
    """Each OOD test set at the ID size and channel count, normalised like the ID data.
    With ``skip_missing`` a set whose files are absent is left out with a note."""
    out = {}
    for i, name in enumerate(names):
        try:
            x = load_ood_set(
                name, n, size=data.size, channels=data.channels, seed=seed + 7 * i,
                data_root=data_root, transform=data.transform,
            )  # fmt: skip
        except InputError as e:
            if not skip_missing:
                raise
            log(f"OOD set {name} skipped: {e}")
            continue
        out[name] = data.normalize(x)
    return out
