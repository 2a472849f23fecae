"""One plain PyTorch training loop for every registered objective (:mod:`.objectives`).

* the objective says what a step needs (auxiliary outliers, features, the head, the rotation
  head, the global batch for a feature queue) and how many updates a step makes (the rotation
  task alternates two); the loop never switches on its name;
* Nesterov SGD, per-step cosine decay (a pure function of the global step); the objective's own
  parameters (VOS's class weights and logistic regression) in the same optimizer;
* any device (``Runtime``): batches and augmentation on the model's device, autocast in bf16
  or fp16 (with a GradScaler), channels_last inputs, optional ``torch.compile``; an epoch's
  indices and random numbers are drawn on the CPU when it starts and copied to the device once
  (:mod:`.epoch_plan`); step times come from device events (:mod:`.timing`);
* many processes (torchrun): DistributedDataParallel over the model and the objective's
  parameters, each rank computes its shard of every global batch (the configured batch size is
  the global one), rank 0 alone writes;
* deterministic: the data order, augmentation, the objective's draws and dropout of epoch e
  depend only on (seed, e), so a run resumed from the checkpoint of epoch e-1 repeats epoch e
  exactly (the objective's state, e.g. VOS's queues, is in the checkpoint);
* a checkpoint after every epoch, written atomically (temporary file, then rename), loaded with
  ``torch.load(weights_only=True)``; what the objective exports (``class_weights.npy``) is
  written next to it when training ends.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .._validate import InputError
from ..io.atomic_write import atomic_torch_save, atomic_write_bytes
from ..models.checkpoint import load_checkpoint
from ..runtime import dist
from ..runtime.device import Runtime, cpu_runtime, model_device
from ..runtime.progress import log, progress
from . import augment
from .batches import TensorSource, as_source, eval_batches
from .config import TrainConfig
from .epoch_plan import EpochPlan, plan_epoch
from .gather import Gather
from .objectives.base import load_tensors
from .objectives.step import NetView, Step
from .resume import check_compatible
from .schedule import cosine_lr
from .timing import StepClock


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


class _StepModule(nn.Module):
    """The module a step calls (and DistributedDataParallel wraps): the model and the
    objective's own parameters, so that DDP synchronises the gradients of both; ``forward``
    returns the objective's loss of one step's phase."""

    def __init__(self, model: nn.Module, extra: nn.Module | None, objective):
        super().__init__()
        self.model = model
        if extra is not None:
            self.extra = extra
        self._objective = (objective,)  # not a submodule

    def forward(self, step: Step, phase: int) -> torch.Tensor:
        return self._objective[0].loss(step, phase)


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
        self.objective = cfg.objective()
        self.extra = self.objective.build(self.model, cfg.seed)  # its own parameters, if any
        params = list(self.model.parameters())
        if self.extra is not None:
            params += list(self.extra.parameters())
        self.opt = torch.optim.SGD(
            params,
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
        """The module the steps call: DDP across processes (finding unused parameters when a
        rotation head or the objective's own parameters can sit out a step)."""
        net: nn.Module = _StepModule(self.model, self.extra, self.objective)
        if dist.world() > 1:
            unused = getattr(self.model, "rot_head", None) is not None or self.extra is not None
            ids = [self.device.index] if self.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(
                net, device_ids=ids, find_unused_parameters=unused
            )
        return net

    def _view(self) -> NetView:
        """The model as the objective sees it (compiled for its logits when asked)."""
        call = torch.compile(self.model) if self.runtime.compile else self.model
        cfg = self.cfg
        return NetView(self.model, self.objective.needs, self.device, cfg.amp,
                       cfg.channels_last, call)  # fmt: skip

    def _save(self, epoch: int, step: int) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "epoch": epoch,
            "step": step,
            "config": self.cfg.to_dict(),
            "arch": self.arch,
            "history": self.history,
        }
        obj = self.objective.state_dict()  # on every process: it may read the device
        if self.extra is not None or obj:
            extra = {} if self.extra is None else self.extra.state_dict()
            state["objective"] = {"params": extra, "state": obj}
        if not dist.is_main():
            return
        if self.preprocess is not None:
            state["preprocess"] = self.preprocess
        if self.scaler.is_enabled():
            state["scaler"] = self.scaler.state_dict()
        atomic_torch_save(state, self.checkpoint_path)

    def _resume(self) -> int:
        ck = load_checkpoint(self.checkpoint_path, broadcast_device=self.device)
        check_compatible(ck, self.arch, self.cfg.to_dict(), self.checkpoint_path)
        self.model.load_state_dict(ck["model"])
        self._load_objective(ck.get("objective"))
        self.opt.load_state_dict(ck["optimizer"])
        if "scaler" in ck and self.scaler.is_enabled():
            self.scaler.load_state_dict(ck["scaler"])
        self.history = list(ck["history"])
        self.start_epoch = int(ck["epoch"]) + 1
        log(f"resumed from {self.checkpoint_path} after epoch {self.start_epoch}")
        return int(ck["step"])

    def _load_objective(self, saved) -> None:
        """The objective's parameters and state from a checkpoint (checked, never code)."""
        where = str(self.checkpoint_path)
        saved = saved if saved is not None else {"params": {}, "state": {}}
        if not isinstance(saved, dict) or set(saved) != {"params", "state"}:
            raise InputError(f"{where}: checkpoint field 'objective' is malformed")
        if self.extra is not None:
            like = self.extra.state_dict()
            self.extra.load_state_dict(load_tensors(saved["params"], like, where))
        elif saved["params"]:
            raise InputError(f"{where}: holds objective parameters this method has not")
        self.objective.load_state_dict(saved["state"], where)

    def _update(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()

    def _step(self, step: Step) -> torch.Tensor:
        """One training step: one update per phase of the objective (the rotation task
        alternates two); returns the summed loss (a 0-d tensor)."""
        total = None
        for phase in range(self.objective.phases):
            loss = self._net(step, phase)
            self._update(loss)
            total = loss.detach() if total is None else total + loss.detach()
        return total

    def _check(self, source, aux) -> None:
        obj = self.objective
        if "aux" in obj.needs and (aux is None or len(aux) == 0):
            raise InputError(f"method {obj.name!r} needs auxiliary outliers (--aux)")
        obj.check_ready(self.model)
        if len(source) < 2 * dist.world():
            raise InputError(f"need at least {2 * dist.world()} training images, got {len(source)}")
        k = getattr(self.model, "num_classes", None)
        if k is not None and source.labels is not None:
            check_labels(source.labels, k, "training")

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
        the same way) for objectives that need them. ``eval_fn(model) -> dict`` is called
        after every epoch and its numbers recorded."""
        cfg = self.cfg
        if y is not None and len(x) != len(y):
            raise InputError(f"{len(x)} images but {len(y)} labels")
        source = as_source(x, y, self.device)
        self._check(source, aux)
        aux_src = as_source(aux, None, self.device) if "aux" in self.objective.needs else None
        steps = steps_per_epoch(len(source), cfg.batch_size, dist.world())
        has_ck = dist.broadcast_object(self.checkpoint_path.exists() if dist.is_main() else None)
        step = self._resume() if resume and has_ck else 0
        if dist.is_main():
            self.out.mkdir(parents=True, exist_ok=True)
        self._net, view = self._wrap(), self._view()
        for epoch in range(self.start_epoch, cfg.epochs):
            step = self._epoch(epoch, steps, step, source, aux_src, view)
            if eval_fn is not None:
                self.history[-1].update(eval_fn(self.model))
            self._save(epoch, step)
            rec = self.history[-1]
            log(
                f"epoch {epoch + 1}/{cfg.epochs}: "
                + ", ".join(f"{k}={v:.4g}" for k, v in rec.items() if k != "epoch")
            )
        dist.barrier()
        for name, value in self.objective.exports().items():
            dist.on_main(_save_npy, self.out / f"{name}.npy", value)
        return self.history

    def _plan(self, epoch: int, steps: int, source, aux_src) -> EpochPlan:
        cfg, world = self.cfg, dist.world()
        g = _epoch_generator(cfg.seed, epoch)
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # dropout (every device)
        cpu = torch.device("cpu")

        def index_device(src):
            return self.device if isinstance(src, TensorSource) else cpu

        def aux_size(n_id: int) -> int:
            return self.objective.aux_batch_size(cfg.aux_batch_size, n_id)

        return plan_epoch(g, len(source), steps, cfg.batch_size,
                          len(aux_src) if aux_src is not None else None, aux_size,
                          self.objective, world, dist.rank(), self.device,
                          index_device(source), index_device(aux_src))  # fmt: skip

    def _epoch(self, epoch: int, steps: int, step: int, source, aux_src, view) -> int:
        """Train one epoch; appends its record to the history; returns the global step."""
        cfg, world, rank = self.cfg, dist.world(), dist.rank()
        total = steps * cfg.epochs
        self.objective.begin_epoch(epoch, cfg.epochs)
        plan = self._plan(epoch, steps, source, aux_src)
        self.model.train()
        clock = StepClock(self.device)
        clock.start()
        seen = 0
        loss_sum = torch.zeros((), device=self.device)
        bar = progress(total=steps, desc=f"{cfg.method} epoch {epoch + 1}/{cfg.epochs}",
                       unit="step")  # fmt: skip
        show = not bar.disable and self.device.type == "cpu"  # reading a loss syncs a GPU
        for s, (xb, yb) in enumerate(source.batches(plan.mine)):
            xb = augment.apply(xb, plan.u[s], cfg.augment, cfg.crop_padding, cfg.center_mask)
            aux_b = None
            if aux_src is not None:
                ((aux_b, _),) = aux_src.batches([plan.aux[s]])
                aux_b = augment.apply(aux_b, plan.u_aux[s], cfg.augment, cfg.crop_padding, False)
            for group in self.opt.param_groups:
                group["lr"] = cosine_lr(step, total, cfg.lr)
            n = plan.sizes[s]
            gather = self._gather(n, plan.aux_sizes[s])
            loss = self._step(Step(xb, yb, view, aux=aux_b, rand=plan.rand[s], epoch=epoch, n=n,
                                   world=world, rank=rank, gather=gather))  # fmt: skip
            clock.tick()
            step += 1
            seen += n
            loss_sum += loss * len(xb)
            bar.update(1)
            if s % 20 == 0 and show:
                bar.set_postfix(loss=f"{float(loss):.3f}")
        bar.close()
        if world > 1:
            torch.distributed.all_reduce(loss_sum)
        rec = {"epoch": epoch + 1, "loss": float(loss_sum) / seen, **clock.stop(seen)}
        self.history.append(rec)
        return step

    def _gather(self, n_id: int, n_aux: int) -> Gather | None:
        if "global_batch" not in self.objective.needs:
            return None
        return Gather(n_id, n_aux, dist.world(), dist.rank())


def _save_npy(path: Path, value: torch.Tensor) -> None:
    """``value`` as a float32 .npy file, written atomically."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, value.detach().cpu().float().numpy())
    atomic_write_bytes(path, buf.getvalue())
