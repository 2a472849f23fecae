"""Where training batches come from: tensors held in memory, or a streaming data set.

Both give the same thing for the same indices: normalised float batches on the training
device. The training loop decides which images form each step (``index_lists``); a source only
delivers them, so the in-memory and streaming paths train identically.

* :class:`TensorSource`: normalised tensors moved to the device once (on CUDA they live on
  the GPU: no host-to-device copy per step);
* :class:`StreamSource`: a map-style data set of uint8 images decoded by ``DataLoader`` workers
  in parallel (pinned memory, persistent workers), normalised on the device.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch


def as_source(x, y=None, device: torch.device | None = None):
    """A batch source for ``x``: tensors become a :class:`TensorSource`; a source is kept."""
    if hasattr(x, "batches"):
        return x
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


class _Lists(torch.utils.data.Sampler):
    """A batch sampler whose index lists are replaced before every pass."""

    def __init__(self):
        self.lists: list[list[int]] = []

    def __iter__(self):
        return iter(self.lists)

    def __len__(self) -> int:
        return len(self.lists)


class StreamSource:
    """Batches decoded by DataLoader workers from ``dataset`` (items: uint8 (C, H, W) tensor,
    int label), normalised with ``mean``/``std`` on ``device``."""

    def __init__(self, dataset, mean, std, device: torch.device, workers: int = 4):
        self.dataset, self.device = dataset, device
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self._sampler = _Lists()
        self._loader = torch.utils.data.DataLoader(
            dataset,
            batch_sampler=self._sampler,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
        )

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def labels(self) -> torch.Tensor:
        return torch.as_tensor(self.dataset.labels)

    def normalize(self, xb: torch.Tensor) -> torch.Tensor:
        xb = xb.to(self.device, non_blocking=True).float().div_(255.0)
        return (xb - self.mean) / self.std

    def batches(self, index_lists: Sequence[torch.Tensor]) -> Iterator:
        self._sampler.lists = [idx.tolist() for idx in index_lists]
        for xb, yb in self._loader:
            yield self.normalize(xb), yb.to(self.device, non_blocking=True)
