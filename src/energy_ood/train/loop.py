"""One plain PyTorch training loop for pretraining and every fine-tuning method.

* Nesterov SGD, per-step cosine decay (a pure function of the global step);
* ID and auxiliary batches concatenated into ONE forward pass for energy / OE / single-margin;
* the rotation task as the semantic-anomaly paper's code trains it: per batch, one update of
  the class head on the unrotated images, then one of the rotation head on all four rotations
  (``rotation_updates = "summed"`` takes one update of the summed losses instead);
* any device (``Runtime``): batches and augmentation on the model's device, autocast in bf16
  or fp16 (with a GradScaler), channels_last inputs, optional ``torch.compile``;
* many processes (torchrun): DistributedDataParallel, each rank computes its shard of every
  global batch (the configured batch size is the global one), rank 0 alone writes;
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

from .._validate import InputError
from ..io.atomic_write import atomic_torch_save
from ..models.checkpoint import load_checkpoint
from ..runtime import dist
from ..runtime.device import Runtime, autocast, cpu_runtime, model_device
from ..runtime.progress import log, progress
from . import augment
from .batches import as_source, eval_batches
from .config import NEEDS_AUX, TrainConfig
from .losses import energy_bounded_loss, outlier_exposure_loss, single_margin_loss
from .resume import check_compatible
from .schedule import cosine_lr


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed * 100_003 + epoch)
    return g


@torch.no_grad()
def predict_logits(
    model: nn.Module, x, batch_size: int = 1024, runtime: Runtime | None = None
) -> torch.Tensor:
    """Logits (float32, on the CPU) of ``x`` (normalised images, any device) in eval mode, on
    the model's device, under the runtime's autocast."""
    dev = model_device(model)
    ac = runtime.autocast() if runtime is not None else torch.autocast(dev.type, enabled=False)
    was = model.training
    model.eval()
    out = []
    try:
        for xb in eval_batches(x, batch_size, dev):
            with ac:
                out.append(model(xb).float().cpu())
    finally:
        model.train(was)
    if not out:
        raise InputError("no images to predict")
    return torch.cat(out)


def accuracy(model: nn.Module, x, y, batch_size: int = 1024, runtime=None) -> float:
    """Top-1 accuracy; labels outside the model's classes are an InputError, not a miss."""
    logits = predict_logits(model, x, batch_size, runtime)
    y = torch.as_tensor(y).cpu().long().reshape(-1)
    check_labels(y, logits.shape[1], "test")
    if len(y) != len(logits):
        raise InputError(f"{len(logits)} test images but {len(y)} labels")
    return float((logits.argmax(1) == y).float().mean())


def check_labels(y: torch.Tensor, num_classes: int, what: str) -> None:
    """Labels must lie in 0 .. num_classes - 1."""
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        bad = int(y.max()) if int(y.max()) >= num_classes else int(y.min())
        raise InputError(f"{what} label {bad} is outside the model's {num_classes} classes")


class _Heads(nn.Module):
    """``forward(x)`` -> class logits, ``forward(x, rotation=True)`` -> rotation logits: one
    module so that DistributedDataParallel synchronises both heads' gradients."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, rotation: bool = False) -> torch.Tensor:
        return self.model.forward_rotation(x) if rotation else self.model(x)


def steps_per_epoch(n: int, batch_size: int, world: int = 1) -> int:
    """Global steps per epoch; a last global batch too small to give every process two images
    (BatchNorm needs two) is dropped."""
    steps = (n + batch_size - 1) // batch_size
    last = n - (steps - 1) * batch_size
    if steps > 1 and last < 2 * world:
        steps -= 1
    return steps


class Trainer:
    """``Trainer(model, cfg, out_dir, runtime=...).fit(x, y, aux=None, resume=False)``."""

    def __init__(
        self,
        model: nn.Module,
        cfg: TrainConfig,
        out_dir: str | Path,
        arch: dict | None = None,
        runtime: Runtime | None = None,
        preprocess: dict | None = None,
    ):
        self.cfg, self.out = cfg, Path(out_dir)
        self.preprocess = preprocess  # the data's recipe (Preprocess record), saved with it
        self.runtime = runtime or cpu_runtime()
        self.device = self.runtime.device
        self.model = model.to(self.device)
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.arch = arch or (model.arch_config() if hasattr(model, "arch_config") else {})
        self.opt = torch.optim.SGD(
            self.model.parameters(),
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.amp == "fp16")
        self.history: list[dict] = []
        self.start_epoch = 0
        self._net: nn.Module | None = None

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def _wrap(self) -> nn.Module:
        """The module the steps call: DDP across processes, compiled when asked."""
        net: nn.Module = _Heads(self.model)
        if dist.world() > 1:
            rot = getattr(self.model, "rot_head", None) is not None
            ids = [self.device.index] if self.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(
                net, device_ids=ids, find_unused_parameters=rot
            )
        if self.runtime.compile:
            net = torch.compile(net)
        return net

    def _save(self, epoch: int, step: int) -> None:
        if not dist.is_main():
            return
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "epoch": epoch,
            "step": step,
            "config": self.cfg.to_dict(),
            "arch": self.arch,
            "history": self.history,
        }
        if self.preprocess is not None:
            state["preprocess"] = self.preprocess
        if self.scaler.is_enabled():
            state["scaler"] = self.scaler.state_dict()
        atomic_torch_save(state, self.checkpoint_path)

    def _resume(self) -> int:
        ck = load_checkpoint(self.checkpoint_path, broadcast_device=self.device)
        check_compatible(ck, self.arch, self.cfg.to_dict(), self.checkpoint_path)
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        if "scaler" in ck and self.scaler.is_enabled():
            self.scaler.load_state_dict(ck["scaler"])
        self.history = list(ck["history"])
        self.start_epoch = int(ck["epoch"]) + 1
        log(f"resumed from {self.checkpoint_path} after epoch {self.start_epoch}")
        return int(ck["step"])

    def _forward(self, x: torch.Tensor, rotation: bool = False) -> torch.Tensor:
        """Float32 logits of ``x`` under the runtime's autocast."""
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.cfg.amp):
            return self._net(x, rotation).float()

    def _update(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()

    def _step(self, xb, yb, aux_b) -> torch.Tensor:
        """One training step (one or two updates); returns the loss (a 0-d tensor)."""
        cfg = self.cfg
        if cfg.method == "ce":
            loss = F.cross_entropy(self._forward(xb), yb)
        elif cfg.method == "rotation":
            rx, ry = augment.rotate_all(xb)
            if cfg.rotation_updates == "alternating":
                loss = F.cross_entropy(self._forward(xb), yb)
                self._update(loss)
                rot = cfg.lam * F.cross_entropy(self._forward(rx, rotation=True), ry)
                self._update(rot)
                return (loss + rot).detach()
            loss = F.cross_entropy(self._forward(xb), yb)
            loss = loss + cfg.lam * F.cross_entropy(self._forward(rx, rotation=True), ry)
        else:  # ID and auxiliary outliers concatenated into one forward pass
            logits = self._forward(torch.cat([xb, aux_b]))
            lin, lout = logits[: xb.shape[0]], logits[xb.shape[0] :]
            loss = F.cross_entropy(lin, yb)
            if cfg.method == "energy":
                loss = loss + cfg.lam * energy_bounded_loss(lin, lout, cfg.m_in, cfg.m_out)
            elif cfg.method == "single-margin":
                loss = loss + cfg.lam * single_margin_loss(lin, lout, cfg.margin)
            else:
                loss = loss + cfg.lam * outlier_exposure_loss(lout)
        self._update(loss)
        return loss.detach()

    def _check(self, source, aux) -> None:
        cfg = self.cfg
        if cfg.method in NEEDS_AUX:
            if aux is None or len(aux) == 0:
                raise InputError(f"method {cfg.method!r} needs auxiliary outliers (--aux)")
            if cfg.method == "energy" and (cfg.m_in is None or cfg.m_out is None):
                raise InputError("energy fine-tuning needs m_in and m_out (or choose_margins)")
            if cfg.method == "single-margin" and cfg.margin is None:
                raise InputError("single-margin fine-tuning needs margin")
        if cfg.method == "rotation" and getattr(self.model, "rot_head", None) is None:
            raise InputError("rotation training needs a model built with rotation_head=True")
        if len(source) < 2 * dist.world():
            raise InputError(f"need at least {2 * dist.world()} training images, got {len(source)}")
        k = getattr(self.model, "num_classes", None)
        if k is not None and source.labels is not None:
            check_labels(source.labels, k, "training")

    def _epoch(self, epoch: int, source, aux_src, steps: int, total: int, step: int):
        """One epoch (seeded order, augmentation and dropout, cosine learning rate per step):
        its record and the step count after it."""
        cfg, rank, world = self.cfg, dist.rank(), dist.world()
        g = _epoch_generator(cfg.seed, epoch)
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # dropout (every device)
        perm = torch.randperm(len(source), generator=g)
        aux_perm = torch.randperm(len(aux_src), generator=g) if aux_src is not None else None
        parts = [perm[s * cfg.batch_size : (s + 1) * cfg.batch_size] for s in range(steps)]
        mine = [p.tensor_split(world)[rank] for p in parts]
        self.model.train()
        t0, seen = time.perf_counter(), 0
        loss_sum = torch.zeros((), device=self.device)
        bar = progress(
            total=steps, desc=f"{cfg.method} epoch {epoch + 1}/{cfg.epochs}", unit="step"
        )
        for s, (xb, yb) in enumerate(source.batches(mine)):
            u = augment.draw(g, len(parts[s])).tensor_split(world)[rank]
            xb = augment.apply(xb, u, cfg.augment, cfg.crop_padding, cfg.center_mask)
            aux_b = None
            if aux_src is not None:
                ai = _aux_indices(aux_perm, s, cfg.aux_batch_size)
                ua = augment.draw(g, len(ai)).tensor_split(world)[rank]
                ((aux_b, _),) = aux_src.batches([ai.tensor_split(world)[rank]])
                aux_b = augment.apply(aux_b, ua, cfg.augment, cfg.crop_padding, False)
            for group in self.opt.param_groups:
                group["lr"] = cosine_lr(step, total, cfg.lr)
            loss = self._step(xb, yb, aux_b)
            step += 1
            seen += len(parts[s])
            loss_sum += loss * len(xb)
            bar.update(1)
            if s % 20 == 0 and not bar.disable:
                bar.set_postfix(loss=f"{float(loss):.3f}")
        bar.close()
        if world > 1:
            torch.distributed.all_reduce(loss_sum)
        seconds = time.perf_counter() - t0
        rec = {"epoch": epoch + 1, "loss": float(loss_sum) / seen, "seconds": seconds,
               "images_per_s": seen / seconds}  # fmt: skip
        return rec, step

    def fit(
        self,
        x,
        y: torch.Tensor | None = None,
        aux: torch.Tensor | None = None,
        resume: bool = False,
        eval_fn=None,
    ) -> list[dict]:
        """Train on normalised images ``x`` (a tensor (N, C, H, W) with labels ``y``, or a batch
        source of ``energy_ood.train.batches``); ``aux`` holds auxiliary outliers (normalised
        the same way) for energy / OE / single-margin. ``eval_fn(model) -> dict`` is called
        after every epoch and its numbers recorded."""
        cfg = self.cfg
        if y is not None and len(x) != len(y):
            raise InputError(f"{len(x)} images but {len(y)} labels")
        source = as_source(x, y, self.device)
        self._check(source, aux)
        aux_src = as_source(aux, None, self.device) if cfg.method in NEEDS_AUX else None
        steps = steps_per_epoch(len(source), cfg.batch_size, dist.world())
        total = steps * cfg.epochs
        has_ck = dist.broadcast_object(self.checkpoint_path.exists() if dist.is_main() else None)
        step = self._resume() if resume and has_ck else 0
        if dist.is_main():
            self.out.mkdir(parents=True, exist_ok=True)
        self._net = self._wrap()
        for epoch in range(self.start_epoch, cfg.epochs):
            rec, step = self._epoch(epoch, source, aux_src, steps, total, step)
            if eval_fn is not None:
                rec.update(eval_fn(self.model))
            self.history.append(rec)
            self._save(epoch, step)
            log(
                f"epoch {epoch + 1}/{cfg.epochs}: "
                + ", ".join(f"{k}={v:.4g}" for k, v in rec.items() if k != "epoch")
            )
        dist.barrier()
        return self.history


def _aux_indices(aux_perm: torch.Tensor, s: int, size: int) -> torch.Tensor:
    """The auxiliary images of global step ``s``: consecutive slices of the epoch's
    permutation, wrapping around."""
    return aux_perm[(torch.arange(size) + s * size) % len(aux_perm)]
