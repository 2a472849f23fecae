"""What every run records in its output folder: seed, versions, machine, data, configuration
and command (``run.json``, and ``run`` inside ``results.json``)."""

from __future__ import annotations

import os
import platform
import sys
import time

import numpy as np
import torch


def versions() -> dict[str, str]:
    from .. import __version__

    out = {
        "energy_ood": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_threads": str(torch.get_num_threads()),
    }
    for mod in ("sklearn", "scipy", "numba"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            pass
    return out


def cpu_model() -> str:
    """The CPU model name (/proc/cpuinfo), else what platform says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _physical_cores() -> int | None:
    """Distinct (package, core) pairs in /proc/cpuinfo; None where it cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    cores, phys = set(), "0"
    for line in text.splitlines():
        key, _, val = line.partition(":")
        key = key.strip().lower()
        if key == "physical id":
            phys = val.strip()
        elif key == "core id":
            cores.add((phys, val.strip()))
    return len(cores) or None


def machine() -> dict:
    """What ran a job: CPU model, physical cores, logical CPUs (and those this process may use),
    torch's intra-op threads, and each CUDA GPU's name."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    gpus = []
    if torch.cuda.is_available():
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "cpu": cpu_model(),
        "physical_cores": _physical_cores(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "torch_threads": torch.get_num_threads(),
        "gpus": gpus,
        "system": platform.system(),
    }


def describe_machine(m: dict | None = None) -> str:
    """One line, e.g. "AMD EPYC, 2 cores / 2 threads (torch: 2 threads), no GPU"."""
    m = m or machine()
    cores = m.get("physical_cores")
    cpu = f"{m.get('cpu', 'unknown CPU')}, "
    cpu += f"{cores} cores / " if cores else ""
    cpu += f"{m.get('usable_cpus') or m.get('logical_cpus')} threads"
    cpu += f" (torch: {m.get('torch_threads')} threads)"
    gpus = m.get("gpus") or []
    return cpu + (", GPU: " + ", ".join(gpus) if gpus else ", no GPU")


def run_metadata(
    *, seed: int | None, config: dict, data: dict | None = None, command: str | None = None
) -> dict:
    """The reproducibility record written as ``run.json`` and inside ``results.json``."""
    return {
        "seed": seed,
        "config": config,
        "data": data or {},
        "versions": versions(),
        "machine": machine(),
        "command": command if command is not None else " ".join(sys.argv),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
