"""A finished model's post-hoc results kept beside it, so a resumed comparison does not score
it again (scoring a CIFAR-10 model with every scorer takes about 40 s; a resumed 3-seed run
re-scored up to 20 of them).

The file, ``posthoc_scores.json`` in the model's run folder, is used only when its key equals
the key of the scoring about to run, every part of it:

- the model: sha256 of ``checkpoint.pt`` (and of ``class_weights.npy`` where training wrote it);
- the data: sha256 of the ID train/val/test tensors and of every OOD set's tensor, in order
  (a streamed set by its description);
- the scoring: the scorers with their parameters, ``fit_samples``, ``n_draws`` and the seed;
- the code: sha256 of this package's source files, so any change to the code scores again.

Anything else (no file, another key, a file that is not this module's JSON) means: score,
then write the file atomically. Under torchrun rank 0 decides and tells every rank, so all
ranks score together or none does.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import torch

from ..._validate import InputError
from ...data.checksums import sha256_file
from ...io.atomic_write import atomic_write_json, json_default
from ...io.bounded_json import parse_json
from ...io.regular_files import read_regular
from ...runtime import dist
from ..sections import ScorerSpec

CACHE_NAME = "posthoc_scores.json"
_MAX_BYTES = 16 << 20
_CHUNK = 1 << 20


def _digest_file(path: Path) -> str | None:
    return sha256_file(path) if path.is_file() else None


def tensor_digest(x) -> str:
    """sha256 of a tensor's dtype, shape and bytes; a streamed set by its description."""
    if not isinstance(x, torch.Tensor):
        describe = getattr(x, "describe", None)
        return "streamed:" + repr(describe() if describe else type(x).__name__) + f":{len(x)}"
    h = hashlib.sha256(f"{x.dtype}:{tuple(x.shape)}".encode())
    flat = x.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
    for i in range(0, len(flat), _CHUNK):
        h.update(flat[i : i + _CHUNK])
    return h.hexdigest()


def data_digest(d, oods: dict) -> dict:
    """The digests of one seed's ID split and OOD sets (computed once per seed)."""
    return {"describe": d.describe(),
            "id": [tensor_digest(x) for x in (d.x_train, d.x_val, d.x_test)],
            "id_labels": [tensor_digest(y) for y in (d.y_train, d.y_val, d.y_test)],
            "ood": [[k, tensor_digest(x)] for k, x in oods.items()]}  # fmt: skip


@lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 over this package's ``.py`` files (relative path and content, in path order)."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def cache_key(run_dir, specs: list[ScorerSpec], fit_samples, n_draws, seed, data: dict) -> dict:
    """The key, as JSON reads it back (tuples as lists), so a kept key compares equal."""
    run_dir = Path(run_dir)
    key = {
        "checkpoint": _digest_file(run_dir / "checkpoint.pt"),
        "class_weights": _digest_file(run_dir / "class_weights.npy"),
        "scorers": [s.to_plain() for s in specs],
        "fit_samples": fit_samples, "n_draws": n_draws, "seed": seed,
        "data": data, "code": code_digest(),
    }  # fmt: skip
    return json.loads(json.dumps(key, default=json_default))


def _read(path: Path, key: dict) -> dict | None:
    """The evaluations kept at ``path`` when their key is ``key``; else None."""
    if not path.is_file():
        return None
    try:
        obj = parse_json(read_regular(path, "score cache", _MAX_BYTES), path, "score cache")
    except (OSError, InputError):
        return None
    if not isinstance(obj, dict) or obj.get("key") != key:
        return None
    return _evals(obj.get("evals"))


def _evals(plain) -> dict | None:
    """{label: (ScorerSpec, mean, std)} from the kept JSON; None unless every entry has the
    shape :func:`save` writes (per-set numbers)."""
    if not isinstance(plain, dict) or not plain:
        return None
    out = {}
    for label, e in plain.items():
        spec = e.get("spec") if isinstance(e, dict) else None
        mean, std = (e.get("mean"), e.get("std")) if isinstance(e, dict) else (None, None)
        if not (isinstance(spec, dict) and isinstance(spec.get("name"), str)):
            return None
        if not all(isinstance(m, dict) and all(isinstance(v, dict) for v in m.values())
                   for m in (mean, std)):  # fmt: skip
            return None
        out[label] = (ScorerSpec.from_plain(spec), mean, std)
    return out


def load(run_dir, key: dict, resume: bool = True) -> tuple[bool, dict | None]:
    """(hit, the kept evaluations): rank 0 reads and every rank gets the same ``hit``; the
    evaluations are rank 0's (None on other ranks, as scoring returns there). A run that is
    not resumed scores again."""
    found = _read(Path(run_dir) / CACHE_NAME, key) if resume and dist.is_main() else None
    return bool(dist.broadcast_object(found is not None)), found


def save(run_dir, key: dict, evals: dict) -> None:
    """Keep ``evals`` ({label: (spec, mean, std)}) under ``key``; rank 0 writes."""
    if not dist.is_main():
        return
    plain = {label: {"spec": s.to_plain(), "mean": mean, "std": std}
             for label, (s, mean, std) in evals.items()}  # fmt: skip
    atomic_write_json(Path(run_dir) / CACHE_NAME, {"key": key, "evals": plain})
