"""A global batch on every process: ``Gather(n_id, n_aux, world)(t, kind, grad)``.

Each process holds its share (``tensor_split``) of a global step's ID images and outliers. An
objective that needs the whole batch (a feature queue fed by every process, a loss over every
pair of ID image and outlier) gathers the shares in global order. With ``grad=True`` the
gradient flows back to each process's share (the backward sums the gradient over processes and
keeps this process's rows), so a loss on gathered tensors trains as on one process.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def _sizes(n: int, world: int) -> list[int]:
    return [len(c) for c in torch.arange(n).tensor_split(world)]


def _all_gather(t: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    pad = t.new_zeros((max(sizes), *t.shape[1:]))
    pad[: len(t)] = t
    parts = [torch.empty_like(pad) for _ in sizes]
    dist.all_gather(parts, pad.contiguous())
    return torch.cat([p[:k] for p, k in zip(parts, sizes)])


class _GatherGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t, sizes, rank):
        ctx.sizes, ctx.rank = sizes, rank
        return _all_gather(t.detach(), sizes)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start : start + ctx.sizes[ctx.rank]], None, None


class Gather:
    """``gather(t, kind="id" | "aux", grad=False)``: ``t`` aligned with this process's share
    of the step's ID images (or outliers) -> the global batch's, in order (``t`` itself on one
    process)."""

    def __init__(self, n_id: int, n_aux: int, world: int, rank: int):
        self.world, self.rank = world, rank
        self.sizes = {"id": _sizes(n_id, world), "aux": _sizes(n_aux, world)}

    def __call__(self, t: torch.Tensor, kind: str = "id", grad: bool = False) -> torch.Tensor:
        if self.world == 1:
            return t
        sizes = self.sizes[kind]
        if grad:
            return _GatherGrad.apply(t, sizes, self.rank)
        return _all_gather(t.detach(), sizes)
