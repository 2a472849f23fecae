"""Where training batches come from: tensors held in memory, or a streaming data set.

Both give the same thing for the same indices: normalised float batches on the training
device. The training loop decides which images form each step (``index_lists``); a source only
delivers them, so the in-memory and streaming paths train identically.

* :class:`TensorSource`: normalised tensors moved to the device once (on CUDA they live on
  the GPU: no host-to-device copy per step);
* ``energy_ood.data.streaming.StreamSplit``: images decoded by ``DataLoader`` workers in
  parallel (pinned memory, persistent workers), normalised on the device.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch


def as_source(x, y=None, device: torch.device | None = None):
    """A batch source for ``x`` on ``device``: tensors become a :class:`TensorSource`; a
    streaming split is moved to the device."""
    if hasattr(x, "batches"):
        return x.to(device) if device is not None else x
    return TensorSource(x, y, device or torch.device("cpu"))


class TensorSource:
    def __init__(self, x: torch.Tensor, y: torch.Tensor | None, device: torch.device):
        self.x = x.to(device)
        self.y = None if y is None else torch.as_tensor(y).to(device)
        self.device = device

    def __len__(self) -> int:
        return len(self.x)

    @property
    def labels(self) -> torch.Tensor | None:
        return None if self.y is None else self.y.cpu()

    def batches(self, index_lists: Sequence[torch.Tensor]) -> Iterator:
        for idx in index_lists:
            idx = idx.to(self.device)
            yield self.x[idx], (None if self.y is None else self.y[idx])


def eval_batches(x, batch_size: int, device: torch.device, which=None) -> Iterator:
    """Consecutive batches ``b`` (all, or those in ``which``) of ``x`` -- a tensor or a batch
    source -- on ``device``, in order."""
    n = len(x)
    which = range((n + batch_size - 1) // batch_size) if which is None else which
    spans = [(b * batch_size, min(n, (b + 1) * batch_size)) for b in which]
    if hasattr(x, "batches"):
        lists = [torch.arange(a, b) for a, b in spans]
        for xb, _ in x.to(device).batches(lists):
            yield xb
    else:
        for a, b in spans:
            yield x[a:b].to(device, non_blocking=True)
