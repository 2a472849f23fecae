"""What every run records in its output folder: seed, versions, data, configuration.

Also the atomic writers used for checkpoints and reports (write a temporary file, then rename).
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def versions() -> dict[str, str]:
    from . import __version__

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


def _cpu_model() -> str:
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
        "cpu": _cpu_model(),
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


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch generator for data order."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


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


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    text = json.dumps(obj, indent=2, default=_json_default, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same folder, then an atomic rename."""
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def check_new_folder(path, overwrite: bool = False) -> Path:
    """``path`` may be written as a new folder: absent, empty, or ``overwrite`` asked for."""
    from ._validate import InputError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise InputError(f"{path}: holds files; pass --overwrite to replace it, or choose another")
    return path


def check_new_file(path, overwrite: bool = False, flag: str = "") -> Path:
    """``path`` for a file a command is about to write: not a folder, and not an existing file
    unless ``overwrite`` (no command replaces a file it was not asked to)."""
    from ._validate import InputError

    path = Path(path)
    what = f"{flag} {path}" if flag else str(path)
    if path.is_dir():
        raise InputError(f"{what}: is a folder, expected a file path")
    if path.exists() and not overwrite:
        raise InputError(f"{what}: exists; pass --overwrite to replace it")
    return path


def replace_folder(tmp: Path, out: Path) -> None:
    """Put the finished folder ``tmp`` at ``out`` (beside it, same file system): the old
    folder is moved aside first and removed only once the new one is in place."""
    import shutil

    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def new_temp_folder(out: Path) -> Path:
    """A temporary folder beside ``out`` (removed by the caller on failure)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
