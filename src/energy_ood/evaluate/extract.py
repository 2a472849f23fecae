"""Logits and penultimate features of a model on a data set, on any device, sharded over the
processes of a torchrun job.

The inputs are cut into batches of ``batch_size`` consecutive images; batch ``b`` is computed by
process ``b % world`` and rank 0 gathers them back in order. Each batch is computed exactly as
in a one-process run, so with the same per-process thread count the gathered logits and features
are bit-identical to a one-process run's (tested).
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import InputError
from ..runtime import dist
from ..runtime.device import Runtime, cpu_runtime
from ..runtime.progress import progress
from ..score import ModelAdapter
from ..train.batches import eval_batches


@torch.no_grad()
def extract(
    model: nn.Module,
    x,
    batch_size: int = 1024,
    runtime: Runtime | None = None,
    head: str | None = None,
    desc: str = "extract",
):
    """``(logits, features)`` float32 CPU tensors of every image of ``x`` in order, on rank 0;
    ``(None, None)`` on the other ranks of a torchrun job."""
    runtime = runtime or cpu_runtime()
    n = len(x)
    if n == 0:
        raise InputError(f"{desc}: no images to extract features from")
    n_batches = (n + batch_size - 1) // batch_size
    mine = list(dist.shard(n_batches))
    adapter = ModelAdapter(model, head)
    was = model.training
    model.eval()
    logits, feats = [], []
    try:
        bar = progress(total=len(mine), desc=desc, unit="batch")
        for xb in eval_batches(x, batch_size, runtime.device, mine):
            with runtime.autocast():
                lo, z = adapter.forward_both(xb)
            logits.append(lo.float())
            feats.append(z.float())
            bar.update(1)
        bar.close()
    finally:
        model.train(was)
    lo = dist.gather_batches(logits, n_batches, runtime.device)
    z = dist.gather_batches(feats, n_batches, runtime.device)
    if lo is None:
        return None, None
    return lo.cpu(), z.cpu()
