"""As many epochs as fit in a time budget.

The cosine schedule needs the number of epochs up front, so the speed is measured first: a
copy of the model trains two short epochs of ``probe_steps`` steps on the same data (the first
warms up kernels, cuDNN autotuning and allocators and is discarded), and the budget is divided
by the measured time of a full epoch. The probe's own time is reported beside the result.
"""

from __future__ import annotations

import copy
import tempfile
import time
from dataclasses import replace

from .._validate import InputError
from ..runtime.progress import log
from .config import TrainConfig
from .loop import Trainer, steps_per_epoch


def epochs_for_budget(
    model, x, y, cfg: TrainConfig, runtime, budget_s: float, probe_steps: int = 40, aux=None
) -> dict:
    """``{"epochs", "seconds_per_epoch", "probe_s"}``: the largest epoch count whose estimated
    time fits ``budget_s`` (at least 1)."""
    if not budget_s > 0:
        raise InputError(f"time budget must be > 0 seconds, got {budget_s}")
    n_probe = min(len(x), probe_steps * cfg.batch_size)
    probe_cfg = replace(cfg, epochs=2)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(copy.deepcopy(model), probe_cfg, tmp, runtime=runtime)
        hist = trainer.fit(x[:n_probe], y[:n_probe], aux=aux)
    per_step = hist[-1]["seconds"] / steps_per_epoch(n_probe, cfg.batch_size)
    per_epoch = per_step * steps_per_epoch(len(x), cfg.batch_size)
    epochs = max(1, int(budget_s // per_epoch))
    log(f"time budget {budget_s:.0f} s: {per_epoch:.2f} s per epoch -> {epochs} epochs")
    return {
        "epochs": epochs,
        "seconds_per_epoch": per_epoch,
        "probe_s": time.perf_counter() - t0,
        "budget_s": budget_s,
    }
