"""The boundary between DataLoader workers and the user: every image a worker reads comes back
as ``(x, label, problem)``, so a file that cannot be used reaches the main process as our one
line naming it (never as a worker's traceback), and the bad-images policy is applied there.

- :class:`Checked` wraps an image list (``streaming.ImageList``) for a DataLoader;
- :func:`checked_batches` iterates such a loader: the first problem is one InputError;
- :func:`screen` is the policy ``skip``: one decoding pass that leaves the bad images out and
  records each, with its reason.
"""

from __future__ import annotations

import torch

from .._validate import InputError, one_line
from ..runtime.progress import log
from . import bad_images


class Checked(torch.utils.data.Dataset):
    """Items of ``ds`` as ``(x, label, problem)``: an image that cannot be used gives a blank
    and its one line, so what a DataLoader worker finds reaches the main process as data (and
    then as our one line), never as a worker's traceback. ``decode_only``: read, decode and
    check the size, without the transform (the screening pass of the policy ``skip``)."""

    def __init__(self, ds, decode_only: bool = False):
        self.ds, self.decode_only = ds, decode_only

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int):
        label = int(self.ds.labels[i])
        try:
            if self.decode_only:
                self.ds.image(i)
                return torch.zeros(0, dtype=torch.uint8), label, ""
            return self.ds[i][0], label, ""
        except InputError as e:
            problem = one_line(e)
        except MemoryError:
            problem = f"{self.ds.name(i)}: too large to decode in this process's memory"
        blank = torch.zeros(0, dtype=torch.uint8) if self.decode_only else self.ds.transform.blank()
        return blank, label, problem


def worker_line(e: Exception) -> str | None:
    """Our one line inside a DataLoader's report of an InputError raised in a worker."""
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    if lines and lines[0].startswith("Caught InputError"):
        head = next((ln for ln in reversed(lines) if "InputError: " in ln), "")
        return head.split("InputError: ", 1)[1] if head else None
    return None


def _loaded(loader, source: str):
    """The ``(x, labels, problems)`` batches of ``loader``; an InputError raised in a worker and
    a worker that died are each one InputError line."""
    it = iter(loader)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except InputError as e:
            line = worker_line(e)
            if line is None:
                raise
            raise InputError(line) from None
        except RuntimeError as e:
            if "DataLoader worker" not in str(e):
                raise
            raise InputError(
                f"{source}: a DataLoader worker died ({one_line(e)}); with little memory set "
                "ENERGY_OOD_WORKERS=0"
            ) from None
        yield batch


def checked_batches(loader, source: str):
    """``(x, labels)`` of a loader over :class:`Checked` items; the first image that cannot be
    used is one InputError naming the file and the problem."""
    for xb, yb, problems in _loaded(loader, source):
        bad = next((p for p in problems if p), None)
        if bad:
            raise InputError(bad)
        yield xb, yb


def screen(ds, workers: int):
    """``ds`` without the images that cannot be used, under the bad-images policy ``skip``
    (one decoding pass, in DataLoader workers); each is recorded with its reason in the
    returned list's ``skipped`` and in the process record. Under ``error`` ``ds`` itself."""
    if bad_images.policy() == "error" or not ds.from_files:
        return ds
    batches = [list(range(i, min(len(ds), i + 256))) for i in range(0, len(ds), 256)]
    loader = torch.utils.data.DataLoader(
        Checked(ds, decode_only=True), batch_sampler=batches,
        num_workers=min(workers, len(batches)), generator=torch.Generator(),
    )  # fmt: skip
    found = []
    for idx, (_, _, problems) in zip(batches, _loaded(loader, ds.source)):
        found += [(i, p) for i, p in zip(idx, problems) if p]
    if not found:
        return ds
    records = [bad_images.entry(ds.name(i), p) for i, p in found]
    bad_images.record(records)
    log(f"{ds.source}: {len(found)} of {len(ds)} images cannot be used and are skipped")
    if len(found) == len(ds):
        raise InputError(f"{ds.source}: none of its {len(ds)} images can be used ({found[0][1]})")
    out = ds.subset(sorted(set(range(len(ds))) - {i for i, _ in found}))
    out.skipped += records
    return out
