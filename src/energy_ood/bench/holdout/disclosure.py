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


def _dropout(model: nn.Module) -> list[float]:
    """Dropout rates in the model: dropout modules and blocks' ``dropout`` rates."""
    ps = set()
    for m in model.modules():
        if isinstance(m, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)):
            ps.add(float(m.p))
        elif isinstance(getattr(m, "dropout", None), float):
            ps.add(float(m.dropout))
    return sorted(p for p in ps if p > 0)


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
        "crop_padding": tc.crop_padding, "dropout": _dropout(model),
        "rotation_updates": tc.rotation_updates,
        "center_mask": _mask_geometry(size),
    }  # fmt: skip


_ROTATION = {"alternating": "alternating class / rotation updates",
             "summed": "one update of the summed class and rotation losses"}  # fmt: skip


def _augment_text(tr: dict) -> str:
    crop = f"random crops after {tr['crop_padding']}-px padding"
    return {"none": "none", "crop": f"{crop}, no flips",
            "crop-flip": f"{crop}, random horizontal flips"}[tr["augment"]]  # fmt: skip


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


def holdout_departures(cfg, res) -> list[list[str]]:
    """Rows (what, paper, this run) of the hold-out run's departures from the paper, built
    from the config and the run's records (``res.training``, ``res.subsets``)."""
    t, tr = cfg.train, res.training
    drop = ", ".join(f"{p:g}" for p in tr["dropout"]) or "none"
    mask = tr["center_mask"]
    return [
        ["model", PAPER["model"], cfg.model.name],
        ["data", PAPER["data"], cfg.data.dataset],
        ["images", PAPER["images"], f"{tr['image_size']}x{tr['image_size']}, "
         f"{tr['channels']} channel{'s' if tr['channels'] > 1 else ''}"],
        ["training images", PAPER["subset"], _subsets_text(res.subsets)],
        ["epochs", PAPER["epochs"], str(tr["epochs"])],
        ["learning-rate schedule", PAPER["schedule"], f"{tr['schedule']}: lr {tr['lr']:g} "
         f"down to {tr['lr_end']:g} over {tr['epochs']} epoch{'s' if tr['epochs'] > 1 else ''}"],
        ["optimiser", PAPER["optimiser"], f"SGD, {'Nesterov ' if tr['nesterov'] else ''}"
         f"momentum {tr['momentum']:g}, batches of {tr['batch_size']}; weight decay "
         f"{tr['weight_decay']:g}"],
        ["dropout", PAPER["dropout"], drop],
        ["augmentation", PAPER["augmentation"], _augment_text(tr)],
        ["rotation task", PAPER["rotation"], f"{_ROTATION[tr['rotation_updates']]}, all four "
         f"rotations, lambda {t.rotation_lambda}" if cfg.rotation else "not trained"],
        ["centre-mask ablation", PAPER["mask"], f"{mask['mask']}x{mask['mask']} inside the "
         f"central {mask['region']}x{mask['region']} ({tr['image_size']}x{tr['image_size']} "
         "images)" if t.center_mask else "not trained"],
        ["classes held out", "all", ", ".join(res.classes)],
        ["trials", "3", f"{cfg.trials} (seeds {', '.join(map(str, res.seeds))})"],
        ["methods", "MSP, ODIN (T = 1000, eps = 5e-5)", ", ".join(res.labels)],
        ["machine", "GPU (not stated)", describe_machine(res.run.get("machine"))],
    ]  # fmt: skip
