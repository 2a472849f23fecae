"""One plain PyTorch training loop for pretraining and every fine-tuning method.

* Nesterov SGD, per-step cosine decay (a pure function of the global step);
* ID and auxiliary batches concatenated into ONE forward pass for energy / OE / single-margin;
* deterministic: the data order, augmentation and dropout of epoch e depend only on (seed, e),
  so a run resumed from the checkpoint of epoch e-1 repeats epoch e exactly;
* a checkpoint after every epoch, written atomically (temporary file, then rename), loaded with
  ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .._progress import log, progress
from .._runinfo import atomic_torch_save
from .._validate import InputError
from ..data import transforms as T
from .checkpoint import check_compatible, load_checkpoint
from .config import NEEDS_AUX, TrainConfig
from .losses import (
    center_mask,
    energy_bounded_loss,
    outlier_exposure_loss,
    rotate_batch,
    single_margin_loss,
)
from .schedule import cosine_lr


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed * 100_003 + epoch)
    return g


def _augment(x: torch.Tensor, cfg: TrainConfig, g: torch.Generator) -> torch.Tensor:
    if cfg.augment != "none":
        x = T.random_crop(x, x.shape[-1], cfg.crop_padding, generator=g)
    if cfg.augment == "crop-flip":
        x = T.random_hflip(x, generator=g)
    return x


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    was = model.training
    model.eval()
    try:
        out = [model(x[i : i + batch_size]).float() for i in range(0, len(x), batch_size)]
    finally:
        model.train(was)
    return torch.cat(out)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    return float((predict_logits(model, x, batch_size).argmax(1) == y).float().mean())


class Trainer:
    """``Trainer(model, cfg, out_dir).fit(x, y, aux=None, resume=False)``."""

    def __init__(
        self, model: nn.Module, cfg: TrainConfig, out_dir: str | Path, arch: dict | None = None
    ):
        self.model, self.cfg, self.out = model, cfg, Path(out_dir)
        self.arch = arch or (model.arch_config() if hasattr(model, "arch_config") else {})
        self.opt = torch.optim.SGD(
            model.parameters(),
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )
        self.history: list[dict] = []
        self.start_epoch = 0
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def _save(self, epoch: int, step: int) -> None:
        atomic_torch_save(
            {
                "model": self.model.state_dict(),
                "optimizer": self.opt.state_dict(),
                "epoch": epoch,
                "step": step,
                "config": self.cfg.to_dict(),
                "arch": self.arch,
                "history": self.history,
            },
            self.checkpoint_path,
        )

    def _resume(self) -> int:
        ck = load_checkpoint(self.checkpoint_path)
        check_compatible(ck, self.arch, self.cfg.to_dict(), self.checkpoint_path)
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        self.history = list(ck["history"])
        self.start_epoch = int(ck["epoch"]) + 1
        log(f"resumed from {self.checkpoint_path} after epoch {self.start_epoch}")
        return int(ck["step"])

    def _forward(self, fn, x):
        """``fn(x)`` in float32 logits, under bfloat16 autocast when configured."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.cfg.bf16):
            return fn(x).float()

    def _loss(self, xb, yb, aux_b, g) -> torch.Tensor:
        cfg, model = self.cfg, self.model
        if cfg.method == "ce":
            return F.cross_entropy(self._forward(model, xb), yb)
        if cfg.method == "rotation":
            # class head on the unrotated labelled batch, rotation head on a rotated copy
            # (0/90/180/270, one per image); one summed update, where the paper alternates two
            logits = self._forward(model, xb)
            k = torch.randint(0, 4, (xb.shape[0],), generator=g)
            rot_logits = self._forward(model.forward_rotation, rotate_batch(xb, k))
            return F.cross_entropy(logits, yb) + cfg.lam * F.cross_entropy(rot_logits, k)
        # ID and auxiliary outliers concatenated into one forward pass.
        logits = self._forward(model, torch.cat([xb, aux_b]))
        lin, lout = logits[: xb.shape[0]], logits[xb.shape[0] :]
        ce = F.cross_entropy(lin, yb)
        if cfg.method == "energy":
            return ce + cfg.lam * energy_bounded_loss(lin, lout, cfg.m_in, cfg.m_out)
        if cfg.method == "single-margin":
            return ce + cfg.lam * single_margin_loss(lin, lout, cfg.margin)
        return ce + cfg.lam * outlier_exposure_loss(lout)

    def fit(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        aux: torch.Tensor | None = None,
        resume: bool = False,
        eval_fn=None,
    ) -> list[dict]:
        """Train on normalised tensors ``x`` (N, C, H, W) and labels ``y``; ``aux`` holds
        auxiliary outliers (normalised the same way) for energy / OE / single-margin.
        ``eval_fn(model) -> dict`` is called after every epoch and its numbers recorded."""
        cfg = self.cfg
        if cfg.method in NEEDS_AUX:
            if aux is None or len(aux) == 0:
                raise InputError(f"method {cfg.method!r} needs auxiliary outliers (--aux)")
            if cfg.method == "energy" and (cfg.m_in is None or cfg.m_out is None):
                raise InputError("energy fine-tuning needs m_in and m_out (or choose_margins)")
            if cfg.method == "single-margin" and cfg.margin is None:
                raise InputError("single-margin fine-tuning needs margin")
        if cfg.method == "rotation" and not hasattr(self.model, "forward_rotation"):
            raise InputError("rotation training needs a model built with rotation_head=True")
        if len(x) != len(y):
            raise InputError(f"{len(x)} images but {len(y)} labels")
        n = len(x)
        steps_per_epoch = (n + cfg.batch_size - 1) // cfg.batch_size
        if n % cfg.batch_size == 1 and n > 1:
            steps_per_epoch -= 1  # a last batch of one image breaks BatchNorm: drop it
        total = steps_per_epoch * cfg.epochs
        step = self._resume() if resume and self.checkpoint_path.exists() else 0
        self.out.mkdir(parents=True, exist_ok=True)
        for epoch in range(self.start_epoch, cfg.epochs):
            g = _epoch_generator(cfg.seed, epoch)
            torch.manual_seed(cfg.seed * 100_003 + epoch)  # dropout
            perm = torch.randperm(n, generator=g)
            aux_perm = torch.randperm(len(aux), generator=g) if aux is not None else None
            self.model.train()
            t0, seen, loss_sum = time.perf_counter(), 0, 0.0
            bar = progress(
                range(steps_per_epoch),
                desc=f"{cfg.method} epoch {epoch + 1}/{cfg.epochs}",
                unit="step",
            )
            for s in bar:
                idx = perm[s * cfg.batch_size : (s + 1) * cfg.batch_size]
                xb = _augment(x[idx], cfg, g)
                if cfg.center_mask:
                    xb = center_mask(xb, g)
                aux_b = None
                if aux is not None and cfg.method in NEEDS_AUX:
                    j = (s * cfg.aux_batch_size) % len(aux)
                    ai = aux_perm[j : j + cfg.aux_batch_size]
                    if len(ai) < cfg.aux_batch_size:
                        ai = torch.cat([ai, aux_perm[: cfg.aux_batch_size - len(ai)]])
                    aux_b = _augment(aux[ai], cfg, g)
                if cfg.channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                    if aux_b is not None:
                        aux_b = aux_b.contiguous(memory_format=torch.channels_last)
                for group in self.opt.param_groups:
                    group["lr"] = cosine_lr(step, total, cfg.lr)
                loss = self._loss(xb, y[idx], aux_b, g)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()
                step += 1
                seen += len(idx)
                loss_sum += loss.item() * len(idx)
                if s % 20 == 0:
                    bar.set_postfix(loss=f"{loss.item():.3f}")
            bar.close()
            rec = {
                "epoch": epoch + 1,
                "loss": loss_sum / seen,
                "seconds": time.perf_counter() - t0,
                "images_per_s": seen / (time.perf_counter() - t0),
            }
            if eval_fn is not None:
                rec.update(eval_fn(self.model))
            self.history.append(rec)
            self._save(epoch, step)
            log(
                f"epoch {epoch + 1}/{cfg.epochs}: "
                + ", ".join(f"{k}={v:.4g}" for k, v in rec.items() if k != "epoch")
            )
        return self.history
