"""Run folders for ``energy-ood train`` and ``energy-ood finetune``.

A run folder holds ``checkpoint.pt`` (weights, optimizer, history), ``run.json`` (seed,
versions, data, configuration, normalisation, margins) and ``metrics.json`` (ID test accuracy).
The ID training set is split once, by seed, into train and validation parts; the validation
part is what margins and detector thresholds are chosen on, never a test OOD set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .._progress import log
from .._runinfo import atomic_write_json, run_metadata, seed_everything
from .._validate import InputError
from ..data import load_dataset
from ..data.splits import AuxiliaryPool
from ..models import create_model
from .checkpoint import load_model_from_checkpoint
from .config import NEEDS_AUX, TrainConfig
from .loop import Trainer, accuracy
from .margins import choose_margins


@dataclass
class IDData:
    name: str
    classes: list[str]
    source: str
    mean: list[float]
    std: list[float]
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def size(self) -> int:
        return int(self.x_train.shape[-1])

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[1])

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise [0, 1] images (N, C, H, W) with the ID training statistics."""
        m = torch.tensor(self.mean).view(1, -1, 1, 1)
        s = torch.tensor(self.std).view(1, -1, 1, 1)
        return (x - m) / s

    def describe(self) -> dict:
        return {
            "dataset": self.name,
            "source": self.source,
            "classes": self.classes,
            "n_train": len(self.x_train),
            "n_val": len(self.x_val),
            "n_test": len(self.x_test),
            "mean": self.mean,
            "std": self.std,
        }


def prepare_id(
    dataset: str,
    data_root=None,
    seed: int = 0,
    val_fraction: float = 0.1,
    train_limit: int | None = None,
    test_limit: int | None = None,
) -> IDData:
    """Load an ID data set, split train/validation by seed, normalise with train statistics."""
    tr = load_dataset(dataset, "train", data_root=data_root)
    te = load_dataset(dataset, "test", data_root=data_root)
    x, y = tr.tensors()
    xt, yt = te.tensors()
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    if train_limit:
        perm = perm[:train_limit]
    n_val = max(1, int(round(val_fraction * len(perm))))
    val_idx, tr_idx = perm[:n_val], perm[n_val:]
    if test_limit:
        keep = torch.randperm(len(xt), generator=g)[:test_limit]
        xt, yt = xt[keep], yt[keep]
    mean = x[tr_idx].mean(dim=(0, 2, 3)).tolist()
    std = x[tr_idx].std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()
    d = IDData(
        dataset,
        list(tr.classes),
        str(tr.source),
        mean,
        std,
        x[tr_idx],
        y[tr_idx],
        x[val_idx],
        y[val_idx],
        xt,
        yt,
    )
    d.x_train, d.x_val, d.x_test = d.normalize(d.x_train), d.normalize(d.x_val), d.normalize(xt)
    return d


def pretrain(
    dataset: str,
    model_name: str,
    out: str | Path,
    cfg: TrainConfig,
    data_root=None,
    resume: bool = False,
    train_limit: int | None = None,
    data: IDData | None = None,
    rotation_head: bool = False,
    model_kwargs: dict | None = None,
) -> dict:
    """Cross-entropy (or rotation-task) training from scratch into the run folder ``out``."""
    out = Path(out)
    seed_everything(cfg.seed)
    d = data or prepare_id(dataset, data_root, cfg.seed, train_limit=train_limit)
    model = create_model(
        model_name,
        num_classes=len(d.classes),
        in_channels=d.channels,
        rotation_head=rotation_head or cfg.method == "rotation",
        **(model_kwargs or {}),
    )
    meta = run_metadata(
        seed=cfg.seed,
        config={
            "train": cfg.to_dict(),
            "model": model_name,
            "arch": model.arch_config(),
            "train_limit": train_limit,
        },
        data=d.describe(),
    )
    atomic_write_json(out / "run.json", meta)
    log(f"training {model_name} on {d.name} ({len(d.x_train)} images) -> {out}")
    hist = Trainer(model, cfg, out).fit(d.x_train, d.y_train, resume=resume)
    acc = accuracy(model, d.x_test, d.y_test)
    metrics = {"test_accuracy": acc, "test_error": 1 - acc, "history": hist}
    atomic_write_json(out / "metrics.json", metrics)
    log(f"test accuracy {100 * acc:.2f}%")
    return {"model": model, "data": d, "metrics": metrics, "run": meta}


def read_run(path: str | Path) -> dict:
    p = Path(path) / "run.json"
    if not p.exists():
        raise InputError(
            f"{path}: not a run folder (no run.json); train one with "
            "`energy-ood train --out DIR` first"
        )
    return json.loads(p.read_text())


def load_run(path: str | Path, data_root=None, data: IDData | None = None):
    """(model, IDData, run.json) of a finished run folder, data split exactly as in training."""
    run = read_run(path)
    model, _ = load_model_from_checkpoint(Path(path) / "checkpoint.pt")
    if data is None:
        tr = run["config"]["train"]
        data = prepare_id(
            run["data"]["dataset"],
            data_root,
            tr["seed"],
            train_limit=run["config"].get("train_limit"),
        )
    return model, data, run


def aux_outliers(
    sources: list[str], test_sets: list[str], n: int, data: IDData, seed: int, data_root=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(fine-tuning outliers, held-out outliers for margin choice), normalised like the ID data.
    Refuses a source that is also an OOD test set of the same run."""
    pool = AuxiliaryPool(sources, test_sets)
    x = pool.sample(
        n + max(256, n // 10),
        size=data.size,
        channels=data.channels,
        seed=seed,
        data_root=data_root,
    )
    x = data.normalize(x)
    return x[:n], x[n:]


def finetune(
    base: str | Path,
    method: str,
    aux: list[str],
    out: str | Path,
    cfg: TrainConfig,
    test_sets: list[str] | tuple[str, ...] = (),
    data_root=None,
    n_aux: int = 20000,
    resume: bool = False,
    data: IDData | None = None,
    model=None,
) -> dict:
    """Fine-tune a pretrained run with ``method`` (energy | oe | single-margin | ce)."""
    out = Path(out)
    seed_everything(cfg.seed)
    base_model, d, base_run = load_run(base, data_root, data)
    model = model if model is not None else base_model
    if method not in NEEDS_AUX:
        raise InputError(f"finetune --method must be one of {', '.join(NEEDS_AUX)}")
    cfg.method = method
    aux_train, aux_val = aux_outliers(aux, list(test_sets), n_aux, d, cfg.seed, data_root)
    margins = None
    if method in ("energy", "single-margin"):
        margins = choose_margins(model, d.x_val, aux_val)
        if cfg.m_in is None:
            cfg.m_in = margins["m_in"]
        if cfg.m_out is None:
            cfg.m_out = margins["m_out"]
        if cfg.margin is None:
            cfg.margin = margins["margin"]
        log(
            f"margins: m_in={cfg.m_in}, m_out={cfg.m_out}, single margin={cfg.margin} "
            f"(from validation energies)"
        )
    meta = run_metadata(
        seed=cfg.seed,
        config={
            "train": cfg.to_dict(),
            "model": base_run["config"]["model"],
            "arch": base_run["config"]["arch"],
            "train_limit": base_run["config"].get("train_limit"),
            "base_run": str(base),
            "aux": list(aux),
            "n_aux": n_aux,
            "test_sets": list(test_sets),
            "margins": margins,
        },
        data=d.describe(),
    )
    atomic_write_json(out / "run.json", meta)
    log(f"fine-tuning ({method}) with auxiliary outliers from {', '.join(aux)} -> {out}")
    hist = Trainer(model, cfg, out).fit(d.x_train, d.y_train, aux=aux_train, resume=resume)
    acc = accuracy(model, d.x_test, d.y_test)
    metrics = {"test_accuracy": acc, "test_error": 1 - acc, "history": hist, "margins": margins}
    atomic_write_json(out / "metrics.json", metrics)
    log(f"test accuracy {100 * acc:.2f}%")
    return {"model": model, "data": d, "metrics": metrics, "run": meta}
