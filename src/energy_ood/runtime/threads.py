"""CPU threads of one process.

``default_threads()``: intra-op threads for one process: the CPUs this process may use (its
affinity mask, not the host's count) divided by the processes started on this node by
torchrun. torch's own default can oversubscribe a shared machine badly.
"""

from __future__ import annotations

import os

import torch

from .._validate import check_int

MAX_THREADS = 1024


def available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """CPUs this process may use, shared among the processes torchrun started on this node."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, available_cpus() // max(1, local))


def set_threads(n: int | None) -> int:
    """Set torch's intra-op threads (``None``: :func:`default_threads`); returns the value.
    At most :data:`MAX_THREADS` (torch crashes with SIGSEGV on 100,000)."""
    if n is None:
        n = default_threads()
    n = check_int(n, "--threads", min=1, max=MAX_THREADS)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
