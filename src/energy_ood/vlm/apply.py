"""Zero-shot (or prompt-tuned) scoring of a user's own texts or images: read the inputs, build
the class text features (templates, or a saved CoOp context), and return predictions plus one
ID-ness score per scorer for each input; with an OOD set also the metrics.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._validate import InputError
from ..io.regular_files import read_regular, regular_file, resolve_inside
from ..metrics import ood_metrics
from ..score.registry import create_scorer
from .encoder_base import Encoder
from .prompt import PromptLearner, load_context
from .zeroshot import ZeroShotClassifier, similarity

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def read_lines(path: str | Path) -> list[str]:
    """Non-empty lines of a UTF-8 text file (one input or class name per line)."""
    data = read_regular(path, "text file")
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is not part of the first line
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start})") from None
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise InputError(f"{path}: no non-empty lines")
    return lines


def list_images(path: str | Path) -> list[Path]:
    """An image file, or the image files under a folder (sorted, hidden names skipped). Only
    regular files are listed: a FIFO or device named like an image is refused (never opened),
    and so is a symbolic link (file or folder) leading outside the folder."""
    p = Path(path)
    if not p.is_dir():
        regular_file(p, "image file")
        return [p]
    real = Path(os.path.realpath(p))
    files = []
    for top, dirs, names in os.walk(p):  # links to folders are not descended into
        for name in sorted(dirs) + sorted(names):
            f = Path(top) / name
            if name.startswith(".") or (name in names and f.suffix.lower() not in IMAGE_SUFFIXES):
                continue
            if f.is_symlink() and resolve_inside(f, real) is None:
                raise InputError(
                    f"{f}: a symbolic link leading outside {p} (to {os.path.realpath(f)}); "
                    "copy it into the folder instead"
                )
            if name in names:
                regular_file(f, "image file")
                files.append(f)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
    if not files:
        raise InputError(f"{p}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return sorted(files)


def class_features(encoder: Encoder, classnames, templates, context: str | None = None):
    """Template-ensemble features, or those of a saved prompt context (``context``)."""
    if context is None:
        return ZeroShotClassifier(encoder, classnames, templates).text_features
    ckpt = load_context(context)
    learner = PromptLearner(encoder, ckpt["classnames"], n_ctx=ckpt["ctx"].shape[0])
    if list(classnames) != ckpt["classnames"]:
        raise InputError(f"{context}: trained for classes {ckpt['classnames']}")
    learner.load(context)
    return learner.text_features()


def score_sets(
    encoder: Encoder, text_features, sets: dict[str, tuple[list, str]], scorers: dict
) -> dict:
    """``sets`` = {name: (inputs, kind)}; returns per set predictions and scores, and if a set
    named "ood" and one named "id" are given, the OOD metrics of every scorer."""
    out: dict = {}
    for name, (inputs, kind) in sets.items():
        sim = similarity(encoder.encode(inputs, kind), text_features)
        out[name] = {
            "pred": sim.argmax(1).tolist(),
            "scores": {k: create_scorer(n, **p).score(sim) for k, (n, p) in scorers.items()},
        }
    if "id" in out and "ood" in out:
        out["metrics"] = {
            k: ood_metrics(out["id"]["scores"][k], out["ood"]["scores"][k]) for k in scorers
        }
    for name in sets:
        out[name]["scores"] = {k: np.asarray(v).tolist() for k, v in out[name]["scores"].items()}
    return out


def read_classes(spec: str) -> list[str]:
    """Class names: comma-separated, or one per line of the file ``@FILE``."""
    if spec.startswith("@"):
        return read_lines(spec[1:])
    return [c.strip() for c in spec.split(",") if c.strip()]


def read_sets(texts=None, images=None, ood_texts=None, ood_images=None) -> dict:
    """``{"id": (inputs, kind), ["ood": ...]}`` of text files (one input per line) or image
    files or folders; the ID set is required, each set is texts or images."""
    sets = {}
    for name, tx, im in (("id", texts, images), ("ood", ood_texts, ood_images)):
        if tx and im:
            raise InputError(f"give texts or images for the {name} set, not both")
        if tx:
            sets[name] = (read_lines(tx), "text")
        elif im:
            sets[name] = (list_images(im), "image")
    if "id" not in sets:
        raise InputError("give the inputs to score with --texts or --images")
    return sets


def score_inputs(encoder: Encoder, classes: list[str], sets: dict, scorers: dict,
                 templates=("a photo of a {}.",), context: str | None = None) -> dict:  # fmt: skip
    """:func:`score_sets` against the class features of ``templates`` (or of a saved prompt
    ``context``), with the class names recorded."""
    feats = class_features(encoder, classes, list(templates), context)
    res = score_sets(encoder, feats, sets, scorers)
    res["classes"] = classes
    return res
