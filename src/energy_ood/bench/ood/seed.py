"""One seed of the dataset-vs-dataset benchmark: its ID data, the pretrained model (trained or
resumed; from given weights when the config names them; the ID-accuracy gate on it), its OOD
test sets and auxiliary outliers, and fine-tuned copies of the model."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import torch

from ..._validate import InputError
from ...evaluate.ood_inputs import load_ood_tensors
from ...io.atomic_write import atomic_write_json
from ...metrics.accuracy_gate import GateResult, enforce
from ...runtime import dist
from ...train.runs import aux_outliers, finetune, prepare_id, pretrain
from ...train.timing import run_speed
from ..sections import on_runtime
from .config import OODConfig


def median_epoch(metrics: dict) -> float:
    """Median seconds of a run's epochs (its history), NaN when it has none."""
    secs = [h["seconds"] for h in metrics.get("history", []) if "seconds" in h]
    return float(np.median(secs)) if secs else float("nan")


def _start_model(m, d, data_root, seed: int, rt) -> tuple:
    """(model, arch record, ID data through the model's preprocessing) of a torchvision/timm
    model or a checkpoint: the starting point of the pretraining stage."""
    from ...train.runs import Pretrained, load_pretrained

    torch.manual_seed(seed)  # a new head is drawn from the seed
    p = Pretrained(m.name, m.checkpoint, d.dataset, m.new_head, d.train_limit, m.input_size,
                   d.test_limit, m.normalize, m.class_names)  # fmt: skip
    model, data, record = load_pretrained(p, data_root, seed, rt)
    return model, record["arch"], data


def _read_budget(path: Path) -> dict:
    try:
        budget = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: unreadable ({e}); resume with --fresh") from None
    epochs = budget.get("epochs") if isinstance(budget, dict) else None
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise InputError(f"{path}: no epoch count >= 1 in it; resume with --fresh")
    return budget


class Seed:
    """Everything one seed needs: data, pretrained model, OOD tensors, auxiliary data."""

    def __init__(self, cfg: OODConfig, seed: int, out: Path, data_root, resume, sets, rt):
        self.seed, self.dir = seed, out / f"seed{seed}"
        d, m = cfg.data, cfg.model
        start = None
        if m.pretrained:
            *start, self.data = _start_model(m, d, data_root, seed, rt)
        else:
            self.data = prepare_id(d.dataset, data_root, seed, train_limit=d.train_limit,
                                   test_limit=d.test_limit)  # fmt: skip
        self.base_dir = self.dir / "base"
        tcfg = on_runtime(rt, cfg.pretrain.train_config(seed))
        self.budget = None
        if cfg.pretrain.time_budget_s is not None:  # as many epochs as fit in the budget
            self.budget = self._budget(cfg, tcfg, start, rt, resume)
            tcfg.epochs = self.budget["epochs"]
        pre = pretrain(
            self.data.name, cfg.model.name, self.base_dir, tcfg, resume=resume, data=self.data,
            train_limit=d.train_limit, runtime=rt, overwrite=not resume,
            start=tuple(start) if start else None,
        )  # fmt: skip
        self.model, self.id_error = pre["model"], pre["metrics"]["test_error"]
        gate = GateResult(1 - self.id_error, len(self.data.x_test), len(self.data.classes),
                          cfg.accuracy_gate, f"ID test (seed {seed}, pretrained model)",
                          self.data.extra.get("normalize", ""))  # fmt: skip
        self.warning = enforce(gate, cfg.strict) if gate.n_classes > 1 else None
        self.epoch_s = median_epoch(pre["metrics"])
        self.speed = {"pretrain": run_speed(pre["metrics"])}
        n = d.n_ood or len(self.data.x_test)  # a pool of 5x the draw size (len(ID) // 5)
        self.oods = load_ood_tensors(sets or d.ood_sets, n, self.data, seed + 1, data_root,
                                     skip_missing=cfg.skip_missing and not sets)  # fmt: skip
        self._aux_val = None

    def _budget(self, cfg: OODConfig, tcfg, start, rt, resume: bool) -> dict:
        """The epoch count for the time budget: measured once per seed and kept in
        budget.json, so a resumed run trains the epochs it started with (a new measurement
        would differ and break the run's identity); rank 0 measures, every rank trains it."""
        from ...models import create_model
        from ...train.budget import epochs_for_budget

        path = self.dir / "budget.json"
        budget = None
        if dist.is_main():
            if resume and path.is_file():
                budget = _read_budget(path)
            else:
                probe = start[0] if start else create_model(
                    cfg.model.name, num_classes=len(self.data.classes),
                    in_channels=self.data.channels)  # fmt: skip
                budget = epochs_for_budget(probe, self.data.x_train, self.data.y_train, tcfg,
                                           rt, cfg.pretrain.time_budget_s)  # fmt: skip
                atomic_write_json(path, budget)
        return dist.broadcast_object(budget)

    def margin_val(self, cfg: OODConfig, data_root) -> tuple[torch.Tensor, dict]:
        """As many margin-validation outliers as ID validation images (distinct crops, no
        picture of an ID class), normalised like the ID data, and their record."""
        from ...data.splits import AuxiliaryPool

        d = cfg.data
        pool = AuxiliaryPool(d.margin_val, [*self.oods, *d.aux], id_dataset=self.data.name)
        x = pool.sample(len(self.data.x_val), size=self.data.size, channels=self.data.channels,
                        seed=self.seed + 4099, data_root=data_root,
                        transform=self.data.transform)  # fmt: skip
        return self.data.normalize(x), pool.record

    def aux_val(self, cfg: OODConfig, data_root) -> torch.Tensor:
        if self._aux_val is None:
            ft = cfg.finetune
            self._aux_val = aux_outliers(cfg.data.aux, list(self.oods), ft.n_aux, self.data,
                                         self.seed, data_root)[1]  # fmt: skip
        return self._aux_val


def finetune_copy(cfg: OODConfig, sd: Seed, tcfg, dest: Path, data_root, resume, rt) -> dict:
    """Fine-tune a copy of the seed's pretrained model with ``tcfg`` into ``dest``."""
    return finetune(
        sd.base_dir, tcfg.method, cfg.data.aux, dest, on_runtime(rt, tcfg), test_sets=list(sd.oods),
        data_root=data_root, n_aux=cfg.finetune.n_aux, resume=resume, data=sd.data,
        model=copy.deepcopy(sd.model), runtime=rt, overwrite=not resume,
    )  # fmt: skip
