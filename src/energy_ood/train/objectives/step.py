"""What one training step hands an objective: :class:`Step` (the batch and the step's numbers)
and :class:`NetView` (the model's parts, each behind the need that declares it).

A ``Step`` is a plain object (not a dataclass or a tuple), so that DistributedDataParallel
passes it to the wrapped module untouched. Everything in it is this process's share of the
global step: ``x``/``y`` the ID shard, ``aux`` the auxiliary shard; ``rand`` (the objective's
numbers), ``n`` (the global ID batch size), ``world`` and ``rank`` are the same on every
process, and ``gather(t, kind="id" | "aux", grad=False)`` (:class:`~..gather.Gather`) returns
a tensor aligned with this process's ID (or auxiliary) share for the whole global batch, in
global order (with ``grad=True`` its gradient reaches every process's share).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import UndeclaredNeed


class Step:
    __slots__ = ("x", "y", "aux", "rand", "net", "gather", "epoch", "n", "world", "rank")

    def __init__(self, x, y, net, *, aux=None, rand=None, gather=None, epoch: int = 0,
                 n: int | None = None, world: int = 1, rank: int = 0):  # fmt: skip
        self.x, self.y, self.net, self.aux, self.rand = x, y, net, aux, rand
        self.gather, self.epoch, self.world, self.rank = gather, epoch, world, rank
        self.n = len(x) if n is None else n


def _head_and_trunk(model: nn.Module):
    """(final linear layer, features function) of a model: ``features`` + ``fc`` of our own
    models, otherwise the adapter's hook on its last linear layer."""
    fc = getattr(model, "fc", None)
    if isinstance(fc, nn.Linear) and callable(getattr(model, "features", None)):
        return fc, None
    from ..._validate import InputError
    from ...score.adapter import LOGITS_ONLY, ModelAdapter

    ad = ModelAdapter(model)
    if ad.head is None:
        raise InputError(LOGITS_ONLY)
    return ad.head, ad


def feature_shape(model: nn.Module) -> tuple[int, int]:
    """(classes, feature width) of a model's final linear layer."""
    fc, _ = _head_and_trunk(model)
    return fc.out_features, fc.in_features


class NetView:
    """The model as an objective sees it: ``logits(x)`` always; ``features(x)`` ->
    (logits, features), ``head(z)`` and ``rotation(x)`` only when declared. Every output is
    float32, computed under the run's autocast, inputs in channels_last when asked."""

    def __init__(self, model: nn.Module, needs, device, amp: str = "off",
                 channels_last: bool = False, call=None):  # fmt: skip
        from ...runtime.device import autocast

        self.model, self.call = model, call or model
        self.needs = frozenset(needs)
        self._autocast = lambda: autocast(device, amp)
        self.channels_last = channels_last
        self._parts = None

    def _need(self, need: str) -> None:
        if need not in self.needs:
            raise UndeclaredNeed(f"the objective used {need!r} without declaring it in needs")

    def _in(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self._in(x)
        with self._autocast():
            return self.call(x).float()

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._need("features")
        fc, adapter = self._parts or _head_and_trunk(self.model)
        self._parts = (fc, adapter)
        x = self._in(x)
        with self._autocast():
            if adapter is None:
                z = self.model.features(x)
                return fc(z).float(), z.float()
            out, z = adapter.forward_both(x)
            return out.float(), z.float()

    def head(self, z: torch.Tensor) -> torch.Tensor:
        self._need("head")
        fc, adapter = self._parts or _head_and_trunk(self.model)
        self._parts = (fc, adapter)
        with self._autocast():
            return fc(z).float()

    def rotation(self, x: torch.Tensor) -> torch.Tensor:
        self._need("rotation_head")
        x = self._in(x)
        with self._autocast():
            return self.model.forward_rotation(x).float()
