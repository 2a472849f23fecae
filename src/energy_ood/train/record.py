"""run.json read back: the fields a run folder's reader relies on, checked against the typed
schema of configs (``energy_ood.io.typed_schema``), and against the checkpoint they travel with.

Only the fields that decide what is computed are checked (the data set, its classes, image size
and channels, the training seed, the training limit); the rest of run.json (versions, machine,
history) is a record and stays free. A field out of its range or of the wrong type is one line
naming ``run.json`` and the field; so is a record that contradicts its checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from .._validate import MAX_INPUT_SIZE, MAX_SEED, InputError
from ..io.bounded_json import parse_json
from ..io.regular_files import read_regular
from ..io.typed_schema import Section, build, option

MAX_RUN_JSON = 64 << 20  # a run.json is a few KB


@dataclass(kw_only=True)
class _Train(Section):
    seed: int = option(min=0, max=MAX_SEED)


@dataclass(kw_only=True)
class _Config(Section):
    train: _Train
    train_limit: int | None = option(None, min=2)
    arch: dict[str, Any] | None = None


@dataclass(kw_only=True)
class _Data(Section):
    dataset: str
    classes: list[str] | None = option(None, min_len=1)
    image_size: int | None = option(None, min=1, max=MAX_INPUT_SIZE)
    channels: Literal[1, 3] | None = None


def _known(cls, table: dict) -> dict:
    """The fields of ``cls`` in ``table`` (JSON null = absent)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in table.items() if k in names and v is not None}


def read_run_json(path: Path) -> dict:
    """The checked run.json at ``path`` (an InputError naming it and the field otherwise)."""
    run = parse_json(read_regular(path, "run.json", limit=MAX_RUN_JSON), path, "run.json")
    ok = (
        isinstance(run, dict)
        and isinstance(run.get("config"), dict)
        and isinstance(run["config"].get("train"), dict)
        and isinstance(run.get("data"), dict)
    )
    if not ok:
        raise InputError(f"{path}: not an energy-ood run.json (missing config.train / data fields)")
    try:
        config = _known(_Config, run["config"])
        config["train"] = _known(_Train, config["train"])
        build(_Config, config, "config")
        build(_Data, _known(_Data, run["data"]), "data")
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
    return run


def check_against_checkpoint(run: dict, arch: dict, path) -> None:
    """run.json and the checkpoint's architecture record describe the same model."""
    data = run["data"]
    classes, n = data.get("classes"), arch.get("num_classes")
    if classes is not None and n is not None and len(classes) != n:
        raise InputError(
            f"{path}: run.json data.classes lists {len(classes)} classes, the checkpoint's head "
            f"has {n} (arch.num_classes)"
        )
    ch, want = data.get("channels"), arch.get("in_channels")
    if ch is not None and want is not None and ch != want:
        raise InputError(
            f"{path}: run.json data.channels is {ch}, the checkpoint takes {want}-channel "
            "images (arch.in_channels)"
        )
