"""What a hold-out-class run trained on and how, recorded for results.json and the report.

* Each trial draws its own seeded subset of the training pool (``data.train_limit`` images,
  positions drawn with the trial's seed); :func:`subset_records` says which, with the images
  each pair of trials shares, and :func:`claim_subset` refuses to resume a run folder whose
  trainings were made on another subset.
* :func:`training_record` reads the training setup off the config and the model (image size and
  channels, optimiser, schedule, dropout, augmentation, the centre mask's size), and
  :func:`holdout_departures` turns it into the rows of "what differs from the paper".
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..._validate import InputError
from ...io.atomic_write import atomic_write_json
from ...runtime.provenance import describe_machine
from ...train import TrainConfig
from ...train.augment import center_mask_at
from ...train.schedule import cosine_lr
from ..disclosure import (
    NOT_RECORDED,
    augment_text,
    dropout_text,
    image_text,
    model_dropout,
    training_text,
)

# The semantic-anomaly paper's CIFAR-10 setup (Ahmed & Courville, AAAI 2020, section 5.1).
PAPER = {
    "model": "WRN-28-10 (CIFAR-10)",
    "data": "CIFAR-10, STL-10, ImageNet subsets",
    "images": "32x32, 3 channels (CIFAR-10)",
    "subset": "the whole training set of the seen classes, every trial",
    "epochs": "200",
    "schedule": "step: lr 0.1, divided by 5 at epochs 60, 120 and 160",
    "optimiser": "SGD, Nesterov momentum 0.9, batches of 4 x 128; weight decay not stated",
    "dropout": "0.3",
    "augmentation": "random crops after padding, random horizontal flips",
    "rotation": "alternating class / rotation updates, all four rotations, lambda 0.5 (CIFAR-10)",
    "mask": "16x16 inside the central 21x21 (32x32 images)",
}


def trial_seed(seed: int, trial: int) -> int:
    return seed + 1000 * trial


def draw_subset(pool: int, limit: int | None, seed: int) -> np.ndarray:
    """Sorted positions in the training pool of one trial's subset (all when no limit)."""
    if not limit or limit >= pool:
        return np.arange(pool)
    return np.sort(np.random.default_rng(seed).permutation(pool)[:limit])


def _digest(positions: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(positions, dtype=np.int64).tobytes()).hexdigest()[:16]


def subset_records(subsets: list[np.ndarray], seeds: list[int], pool: int) -> list[dict]:
    """Per trial: its seed, size, the positions (or "all") and their sha256, and how many of
    its images each trial's subset shares with it."""
    out = []
    for t, (idx, s) in enumerate(zip(subsets, seeds)):
        everything = len(idx) == pool
        out.append({
            "trial": t, "seed": s, "size": int(len(idx)), "pool": int(pool),
            "positions": "all" if everything else [int(i) for i in idx],
            "sha256": _digest(idx),
            "shared": [int(np.intersect1d(idx, other, assume_unique=True).size)
                       for other in subsets],
        })  # fmt: skip
    return out


def claim_subset(out: Path, record: dict, resume: bool) -> None:
    """Write ``runs/trial<t>_subset.json``; on resume, refuse a folder whose trainings of this
    trial were made on another subset (or before subsets were recorded)."""
    t = record["trial"]
    path = out / "runs" / f"trial{t}_subset.json"
    key = {k: record[k] for k in ("seed", "size", "pool", "sha256")}
    if resume and path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"{path}: unreadable ({e}); rerun with --fresh") from None
        if {k: old.get(k) for k in key} != key:
            raise InputError(
                f"{path}: trial {t} was trained on another subset ({old.get('size')} images, "
                f"sha256 {old.get('sha256')}); rerun with --fresh or another --out"
            )
    elif resume and any((out / "runs").glob(f"trial{t}_class*/checkpoint.pt")):
        raise InputError(
            f"{out / 'runs'}: trial {t} has trainings made before each trial drew its own "
            "subset; rerun with --fresh or another --out"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, key)


def _mask_geometry(size: int) -> dict:
    """Side of the centre mask and of the region it moves in, measured on a blank image."""
    ones = torch.ones(1, 1, size, size)
    corners = [center_mask_at(ones, torch.tensor([u]), torch.tensor([u])) for u in (0.0, 0.999)]
    rows = [torch.nonzero((c[0, 0] == 0).any(1)).flatten() for c in corners]
    side = int(rows[0].numel())
    return {"mask": side, "region": int(rows[1].max() - rows[0].min() + 1)}


def training_record(tc: TrainConfig, model: nn.Module, data_record: dict) -> dict:
    """The setup of the trainings, read off the train config, a model and the data record."""
    size = int(data_record["image_size"])
    return {
        "image_size": size, "channels": int(data_record["channels"]),
        "epochs": tc.epochs, "lr": tc.lr, "lr_end": cosine_lr(1, 1, tc.lr),
        "schedule": "per-step cosine", "momentum": tc.momentum, "nesterov": tc.nesterov,
        "batch_size": tc.batch_size, "weight_decay": tc.weight_decay, "augment": tc.augment,
        "crop_padding": tc.crop_padding, "dropout": model_dropout(model),
        "rotation_updates": tc.rotation_updates,
        "center_mask": _mask_geometry(size),
    }  # fmt: skip


_ROTATION = {"alternating": "alternating class / rotation updates",
             "summed": "one update of the summed class and rotation losses"}  # fmt: skip


def _subsets_text(subsets: list[dict]) -> str:
    if not subsets:
        return "-"
    pool = subsets[0]["pool"]
    if all(s["positions"] == "all" for s in subsets):
        return f"the whole training pool ({pool} images) every trial"
    shared = [f"{a['trial'] + 1} & {b['trial'] + 1}: {a['shared'][b['trial']]}"
              for i, a in enumerate(subsets) for b in subsets[i + 1:]]  # fmt: skip
    return (f"a seeded subset of {subsets[0]['size']} of {pool} images per trial (seeds "
            f"{', '.join(str(s['seed']) for s in subsets)}; see Training subsets)"
            + (f"; images shared by trials {', '.join(shared)}" if shared else ""))  # fmt: skip


def _config_rows(run: dict) -> list[list[str]]:
    """The same rows from the run's config and data records, for results written before the
    training record (:func:`training_record`) was."""
    cfg = run.get("config") or {}
    t = cfg.get("train")
    return [
        ["images", PAPER["images"], image_text(run.get("data"))],
        ["epochs", PAPER["epochs"], str(t["epochs"]) if t else NOT_RECORDED],
        ["learning-rate schedule", PAPER["schedule"], training_text(t)],
        ["optimiser", PAPER["optimiser"], "as in the schedule row" if t else NOT_RECORDED],
        ["dropout", PAPER["dropout"], dropout_text(cfg.get("model"), run.get("data"))],
        ["augmentation", PAPER["augmentation"], augment_text(t.get("augment")) if t
         else NOT_RECORDED],
    ]  # fmt: skip


def _training_rows(tr: dict, run: dict) -> list[list[str]]:
    """The rows read off the training record (off the config without one)."""
    if not tr:
        return _config_rows(run)
    drop = ", ".join(f"{p:g}" for p in tr["dropout"]) or "none"
    return [
        ["images", PAPER["images"], f"{tr['image_size']}x{tr['image_size']}, "
         f"{tr['channels']} channel{'s' if tr['channels'] > 1 else ''}"],
        ["epochs", PAPER["epochs"], str(tr["epochs"])],
        ["learning-rate schedule", PAPER["schedule"], f"{tr['schedule']}: lr {tr['lr']:g} "
         f"down to {tr['lr_end']:g} over {tr['epochs']} epoch{'s' if tr['epochs'] > 1 else ''}"],
        ["optimiser", PAPER["optimiser"], f"SGD, {'Nesterov ' if tr['nesterov'] else ''}"
         f"momentum {tr['momentum']:g}, batches of {tr['batch_size']}; weight decay "
         f"{tr['weight_decay']:g}"],
        ["dropout", PAPER["dropout"], drop],
        ["augmentation", PAPER["augmentation"], augment_text(tr["augment"], tr["crop_padding"])],
    ]  # fmt: skip


def _mask_text(cfg: dict, tr: dict) -> str:
    if not (cfg.get("train") or {}).get("center_mask"):
        return "not trained"
    if not tr:
        return f"trained; mask size {NOT_RECORDED}"
    mask, size = tr["center_mask"], tr["image_size"]
    return (
        f"{mask['mask']}x{mask['mask']} inside the central {mask['region']}x"
        f"{mask['region']} ({size}x{size} images)"
    )


def holdout_departures(res) -> list[list[str]]:
    """Rows (what, paper, this run) of the hold-out run's departures from the paper, built when
    the report is rendered from the run's records (``res.run``'s config, ``res.training``,
    ``res.subsets``); a record an older results.json lacks reads ``not recorded``."""
    cfg, tr = res.run.get("config") or {}, res.training
    rot = (cfg.get("train") or {}).get("rotation_lambda")
    if tr and cfg.get("rotation"):
        rotation = f"{_ROTATION[tr['rotation_updates']]}, all four rotations, lambda {rot}"
    else:
        rotation = "not trained" if not cfg.get("rotation") else f"lambda {rot}; {NOT_RECORDED}"
    n = (res.run.get("data") or {}).get("n_train")
    subsets = (_subsets_text(res.subsets) if res.subsets else
               f"{NOT_RECORDED} per trial (the data record: {n} training images)")  # fmt: skip
    return [
        ["model", PAPER["model"], (cfg.get("model") or {}).get("name", NOT_RECORDED)],
        ["data", PAPER["data"], (cfg.get("data") or {}).get("dataset", NOT_RECORDED)],
        _training_rows(tr, res.run)[0], ["training images", PAPER["subset"], subsets],
        *_training_rows(tr, res.run)[1:],
        ["rotation task", PAPER["rotation"], rotation],
        ["centre-mask ablation", PAPER["mask"], _mask_text(cfg, tr)],
        ["classes held out", "all", ", ".join(res.classes)],
        ["trials", "3", f"{res.trials} (seeds {', '.join(map(str, res.seeds))})"],
        ["methods", "MSP, ODIN (T = 1000, eps = 5e-5)", ", ".join(res.labels)],
        ["machine", "GPU (not stated)", describe_machine(res.run.get("machine"))],
    ]  # fmt: skip
