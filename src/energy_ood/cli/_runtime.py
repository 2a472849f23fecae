"""Command-line options for where and how a command runs: ``--device``, ``--amp``,
``--threads``, ``--compile``, ``--data-mode``, ``--bad-images``; turned into a
:class:`energy_ood.runtime.device.Runtime` (and the process-wide bad-images policy).

A config file may set the same keys (``device = "cuda"``); a command-line flag wins."""

from __future__ import annotations

import argparse

from ..data.bad_images import POLICIES, set_policy
from ..runtime.device import AMP_CHOICES, DEVICE_HELP, Runtime, start_runtime


def add_runtime_args(
    p: argparse.ArgumentParser, *, train: bool = True, data: bool = True, amp: bool = True
):
    g = p.add_argument_group("where it runs")
    g.add_argument("--device", help=DEVICE_HELP)
    if amp:
        g.add_argument(
            "--amp",
            choices=AMP_CHOICES,
            help="mixed precision: auto (default: bf16 on CUDA that supports it, else fp16 on "
            "CUDA, off on the CPU), bf16, fp16 (with a gradient scaler), off",
        )
    g.add_argument(
        "--threads",
        type=int,
        help="CPU threads per process (default: the CPUs this process may use, divided by "
        "the processes torchrun started on this node)",
    )
    if train:
        g.add_argument("--compile", action="store_true", help="torch.compile the model")
    if data:
        g.add_argument(
            "--data-mode",
            choices=("auto", "memory", "stream"),
            help="hold data sets in memory (on the GPU with CUDA) or stream them from disk "
            "through DataLoader workers; auto (default) streams image folders larger than "
            "ENERGY_OOD_MEMORY_LIMIT_MB (default 4096) once decoded",
        )
        add_bad_images_arg(g)


def add_bad_images_arg(g) -> None:
    g.add_argument(
        "--bad-images",
        choices=POLICIES,
        help="an image file that cannot be read or decoded: error (default) stops with one "
        "line naming it; skip leaves it out, lists it (with the reason) in the outputs and "
        "prints how many were skipped",
    )


def runtime_from_args(args, config: dict | None = None) -> Runtime:
    """The runtime asked for by ``args`` (flags win over ``config`` keys); joins the torchrun
    process group when launched by torchrun."""
    config = config or {}

    def pick(key, default=None):
        v = getattr(args, key, None)
        return v if v is not None else config.get(key, default)

    set_policy(pick("bad_images", "error"))
    amp = pick("amp", "auto")
    if getattr(args, "bf16", False):  # the old flag
        amp = "bf16"
    return start_runtime(
        device=pick("device", "auto"),
        amp=amp,
        threads=pick("threads"),
        compile=bool(getattr(args, "compile", False) or config.get("compile", False)),
        data_mode=pick("data_mode", "auto"),
    )
