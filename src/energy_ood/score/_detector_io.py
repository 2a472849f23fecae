"""Detector files: ``NAME.json`` (scorer, parameters, threshold, ...) + ``NAME.pt`` (fitted
tensors), written as a set and validated against a schema when read.

Writing: both files go to a fresh temporary folder beside the target, then are renamed into
place (state first, JSON last). An error while serialising leaves the old pair untouched; the
JSON records the sha256 of its state file, so a pair left mixed by a crash between the two
renames is refused at load instead of silently combining old and new. Temporary folders
of crashed writers are removed by the next save of the same name.

Reading: the JSON must be an object with exactly the known keys, of the right types, a finite
threshold and a tpr in (0, 1]; the state is loaded with ``weights_only=True`` and must match
the sha256, hold only the scorer's fitted attributes (never a parameter, so a ``.pt`` cannot
override the JSON) with the shapes it declares. Every failure is a one-line InputError.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import numbers
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from .._validate import InputError
from ..io.atomic_write import TMP_SUFFIX
from ..io.bounded_json import parse_json
from ..io.regular_files import read_regular
from ..io.torch_load import load_failure

FORMAT = "energy-ood-detector/2"
OLD_FORMATS = ("energy-ood-detector/1",)
REQUIRED = ("format", "scorer", "params", "tpr", "threshold")
OPTIONAL = (
    "energy_ood",
    "flag",
    "convention",
    "input_kind",
    "n_features_in",
    "head_name",
    "state_sha256",
    "inputs",  # where model inputs come from (a run or a model spec, the image transform)
)
INPUT_KEYS = {"run_dir", "model", "checkpoint", "input_size", "transform", "mean", "std",
              "normalization", "id_accuracy", "warning"}  # fmt: skip
STALE_TMP_S = 600


def base_path(path) -> Path:
    """``det.json``, ``det.pt`` and ``det`` -> ``det``; a name with another dot stays whole
    (``v1.5`` is ``v1.5.json`` + ``v1.5.pt``, never ``v1.json``)."""
    p = Path(path)
    return p.with_suffix("") if p.suffix.lower() in (".json", ".pt") else p


def pair_paths(path) -> tuple[Path, Path]:
    """The ``.json`` and ``.pt`` files of the detector at ``path``."""
    base = base_path(path)
    return base.with_name(base.name + ".json"), base.with_name(base.name + ".pt")


def write_pair(path, meta: dict, state: dict) -> Path:
    """Write ``path.json`` + ``path.pt`` as a set; returns the JSON path."""
    base = base_path(path)
    parent, name = base.parent, base.name
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    meta = {**meta, "state_sha256": hashlib.sha256(data).hexdigest()}
    try:
        text = json.dumps(meta, indent=2, allow_nan=False)
    except ValueError as e:
        raise InputError(f"detector has a non-finite value and cannot be saved ({e})") from e
    for suffix in (".pt", ".json"):
        if (parent / (name + suffix)).is_dir():
            raise InputError(f"{parent / (name + suffix)}: is a folder, cannot write the detector")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _clean_stale(parent, name)
        tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}.", suffix=TMP_SUFFIX))
    except OSError as e:
        raise InputError(f"{parent}: cannot write the detector there ({e.strerror or e})") from e
    try:
        for suffix, payload in ((".pt", data), (".json", text.encode())):
            with open(tmp / (name + suffix), "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
        for suffix in (".pt", ".json"):  # state first: the JSON commits the pair
            os.replace(tmp / (name + suffix), parent / (name + suffix))
        _fsync_dir(parent)
    except OSError as e:
        raise InputError(f"{base}: cannot write the detector ({e.strerror or e})") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return parent / (name + ".json")


def _clean_stale(parent: Path, name: str) -> None:
    now = time.time()
    for d in parent.glob(f".{name}.*{TMP_SUFFIX}"):  # only folders this module made
        try:
            if d.is_dir() and now - d.stat().st_mtime > STALE_TMP_S:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass


def _fsync_dir(parent: Path) -> None:
    try:
        fd = os.open(parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_pair(path) -> tuple[dict, object]:
    """(validated meta, raw state object) of a saved detector."""
    jpath, ppath = pair_paths(path)
    meta = read_meta(jpath)
    data = _read_bytes(ppath, "detector state")
    sha = meta.get("state_sha256")
    if sha is not None and hashlib.sha256(data).hexdigest() != sha:
        raise InputError(
            f"{ppath}: does not belong to {jpath.name} (sha256 differs: the pair was not "
            "written together); save the detector again"
        )
    try:
        state = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any failure of the restricted unpickler
        raise load_failure(ppath, e, "the detector state") from e
    return meta, state


def _read_bytes(path: Path, what: str) -> bytes:
    """The bytes of a regular file (a FIFO cannot hang the load; size capped); one line else."""
    return read_regular(path, what)


def read_meta(jpath: Path) -> dict:
    raw = _read_bytes(jpath, "detector file")
    return check_meta(parse_json(raw, jpath, "detector file"), jpath)


def _real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def check_meta(meta, where) -> dict:
    """Validate the JSON of a detector against the schema (module docstring)."""
    if not isinstance(meta, dict):
        raise InputError(f"{where}: not a detector file (a JSON object is expected)")
    if meta.get("format") not in (FORMAT, *OLD_FORMATS):
        raise InputError(
            f"{where}: not an energy-ood detector file (format {meta.get('format')!r})"
        )
    for key in REQUIRED:
        if key not in meta:
            raise InputError(f"{where}: detector file lacks {key!r}")
    extra = sorted(str(k) for k in meta if k not in REQUIRED + OPTIONAL)
    if extra:
        raise InputError(f"{where}: unknown key {extra[0]!r} in the detector file")
    if not isinstance(meta["scorer"], str):
        raise InputError(f"{where}: 'scorer' must be a name, got {meta['scorer']!r}")
    params = meta["params"]
    if not isinstance(params, dict):
        raise InputError(f"{where}: 'params' must be an object, got {type(params).__name__}")
    t = meta["threshold"]
    if not _real(t) or not math.isfinite(t):
        raise InputError(f"{where}: threshold must be a finite number, got {t!r}")
    tpr = meta["tpr"]
    if not _real(tpr) or not 0 < tpr <= 1:
        raise InputError(f"{where}: tpr must be a number in (0, 1], got {tpr!r}")
    n = meta.get("n_features_in")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n < 2**31):
        raise InputError(f"{where}: n_features_in must be an integer in [1, 2^31), got {n!r}")
    for key in ("head_name", "input_kind", "energy_ood", "flag", "convention"):
        v = meta.get(key)
        if v is not None and not isinstance(v, str):
            raise InputError(f"{where}: {key!r} must be a string, got {v!r}")
    inputs = meta.get("inputs")
    if inputs is not None:
        if not isinstance(inputs, dict) or not set(inputs) <= INPUT_KEYS:
            raise InputError(
                f"{where}: 'inputs' must be an object with keys among {sorted(INPUT_KEYS)}"
            )
        for key in ("normalization", "warning"):
            v = inputs.get(key)
            if v is not None and not isinstance(v, str):
                raise InputError(f"{where}: inputs.{key} must be a string")
        v = inputs.get("id_accuracy")
        if v is not None and not (_real(v) and 0 <= v <= 1):
            raise InputError(f"{where}: inputs.id_accuracy must be a number in [0, 1]")
        for key in ("mean", "std"):
            v = inputs.get(key)
            if v is not None and not (
                isinstance(v, list) and all(_real(a) and math.isfinite(a) for a in v)
            ):
                raise InputError(f"{where}: inputs.{key} must be a list of finite numbers")
    sha = meta.get("state_sha256")
    if meta["format"] == FORMAT and not (isinstance(sha, str) and len(sha) == 64):
        raise InputError(f"{where}: 'state_sha256' must be the 64-hex-digit sha256 of the .pt")
    return meta
