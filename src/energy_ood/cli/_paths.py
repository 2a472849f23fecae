"""The input paths of a command line, so that no output is, or contains, one of them
(``energy_ood.io.atomic_write``): the run, the model and its weights, the detector, the data, the
config. A value that names no existing path (a data set name, ``gaussian``) is no file."""

from __future__ import annotations

from pathlib import Path

from ..io.output_checks import check_new_file, check_new_folder, refuse_inputs

FLAGS = {
    "run": "--run-dir",
    "base": "--from",
    "model": "--model",
    "checkpoint": "--checkpoint",
    "dataset": "--dataset",
    "data_root": "--data-root",
    "id": "--id",
    "val": "--val",
    "fit": "--fit",
    "fit_data": "--fit",
    "labels": "--labels",
    "head": "--head",
    "class_weights": "--class-weights",
    "texts": "--texts",
    "ood_texts": "--ood-texts",
    "images": "--images",
    "ood_images": "--ood-images",
    "context": "--context",
    "pretrained": "--pretrained",
    "class_names": "--class-names",
}


def _pairs(items, flag: str) -> list[tuple[str, str]]:
    """``NAME=PATH`` (or a bare ``PATH``) items of a repeatable flag."""
    return [(flag, item.partition("=")[2] or item) for item in items or []]


def inputs_of(args, *extra: tuple[str, str | None]) -> list[tuple[str, str]]:
    """``(flag, path)`` of every input that ``args`` names, and ``extra`` ones."""
    out = [(flag, getattr(args, a)) for a, flag in FLAGS.items() if getattr(args, a, None)]
    out = [(f, v) for f, v in out if isinstance(v, str)]
    out += _pairs(getattr(args, "ood", None), "--ood")
    out += _pairs(getattr(args, "sets", None), "--set")
    aux = getattr(args, "aux", None)
    if isinstance(aux, str):
        out += [("--aux", a.strip()) for a in aux.split(",") if a.strip()]
    classes = getattr(args, "classes", None)
    if isinstance(classes, str) and classes.startswith("@"):
        out.append(("--classes", classes[1:]))
    detector = getattr(args, "detector", None)
    if detector:
        from ..score.detector import detector_files

        out += [("--detector", str(p)) for p in detector_files(detector)]
    if isinstance(getattr(args, "input", None), str) and hasattr(args, "detector"):
        out.append(("--input", args.input))  # detect predict's data (evaluate's is a choice)
    return out + [(f, str(p)) for f, p in extra if p]


def check_out_file(args, path, flag: str, *extra) -> Path:
    """``path`` may be written by this command (see :func:`check_new_file`)."""
    return check_new_file(path, getattr(args, "overwrite", False), flag, inputs_of(args, *extra))


def check_out_folder(args, path, flag: str, *extra, overwrite: bool | None = None) -> Path:
    """``path`` may be written as this command's output folder (:func:`check_new_folder`)."""
    ow = getattr(args, "overwrite", False) if overwrite is None else overwrite
    return check_new_folder(path, ow, flag, inputs_of(args, *extra))


def config_inputs(cfg, path) -> list[tuple[str, str]]:
    """The files a benchmark config reads: itself, a model checkpoint, encoder weights, the
    WordNet folder."""
    out = [("(the config)", str(path))]
    for section, key in (
        ("model", "checkpoint"),
        ("encoder", "pretrained"),
        ("data", "wordnet_dir"),
    ):
        value = getattr(getattr(cfg, section, None), key, None)
        if isinstance(value, str):
            out.append((f"({section}.{key})", value))
    return out


def check_not_input(args, path, flag: str, *extra) -> Path:
    """An output folder that a command fills on its own terms (a run folder, a benchmark
    folder) must still never be, nor hold, an input."""
    if path:
        refuse_inputs(path, inputs_of(args, *extra), f"{flag} {path}", folder=True)
    return path
