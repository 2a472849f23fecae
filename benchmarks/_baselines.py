"""Shared helpers for the speed benchmarks: the baselines and the measuring harness.

Baselines (only in ``.venv-bench``, never dependencies of energy-ood):

* scikit-learn: ``roc_auc_score`` + two ``average_precision_score`` + ``roc_curve`` (FPR95);
* pytorch-ood 0.4.0: its metrics (``OODMetrics``) and its detectors (``Mahalanobis`` / ``KNN``
  for the speed benchmarks, every detector energy-ood also implements for bench_agreement.py).

pytorch-ood without torchvision
-------------------------------
``import pytorch_ood`` runs the package's ``__init__``, which imports ``dataset`` and ``model``,
and those import torchvision. The metrics, ``api``, ``utils`` and ``detector`` subpackages do
not. So we put a *stub parent package* in ``sys.modules["pytorch_ood"]``: a bare module whose
``__path__`` is the installed package folder (found with ``importlib.util.find_spec``, which
locates the package without executing it). Python then imports ``pytorch_ood.metrics`` or
``pytorch_ood.detector.mahalanobis`` from the real files, resolving their relative imports
(``..api``, ``..utils``) against the stub, and never runs the real ``__init__``. A meta-path
guard makes any attempt to import torchvision fail loudly instead of silently finding one.

Measuring
---------
``measure_in_subprocess`` runs one timed call in a fresh interpreter and reports its wall time
and its *extra peak resident memory*: the child builds its inputs, runs a small warm-up (numba
cache load, lazy imports), then resets the kernel's peak-RSS counter (``echo 5 >
/proc/self/clear_refs`` resets ``VmHWM`` to the current RSS) and reads ``VmHWM - VmRSS_before``
after the call. That counts every allocation, numpy's, torch's and scikit-learn's (C/Cython
buffers included), unlike ``tracemalloc``, which only sees numpy and Python allocations; the
``tracemalloc`` peak is reported beside it for the numpy-only view. Where ``clear_refs`` is not
writable the harness falls back to ``ru_maxrss`` minus the RSS before the call.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import time
import types
from collections.abc import Callable

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------------------------------------
# pytorch-ood, loaded without its top-level __init__ (and so without torchvision)
# ---------------------------------------------------------------------------------------------
class _NoTorchvision(importlib.abc.MetaPathFinder):
    """Refuse ``import torchvision`` so a hidden dependency shows up as an ImportError."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision" or name.startswith("torchvision."):
            raise ImportError("torchvision is deliberately unavailable in the benchmark env")
        return None


def _install_pood_stub() -> None:
    if "pytorch_ood" in sys.modules:
        mod = sys.modules["pytorch_ood"]
        if getattr(mod, "__energy_ood_stub__", False):
            return
        raise RuntimeError("the real pytorch_ood package was imported; it pulls torchvision")
    spec = importlib.util.find_spec("pytorch_ood")  # locates the package, does not run it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "pytorch-ood is not installed: run benchmarks/setup_bench_env.sh and use "
            ".venv-bench/bin/python"
        )
    if not any(isinstance(f, _NoTorchvision) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoTorchvision())
    stub = types.ModuleType("pytorch_ood")
    stub.__path__ = list(spec.submodule_search_locations)
    stub.__spec__ = importlib.machinery.ModuleSpec("pytorch_ood", None, is_package=True)
    stub.__spec__.submodule_search_locations = stub.__path__
    stub.__energy_ood_stub__ = True
    stub.__version__ = pood_version()
    sys.modules["pytorch_ood"] = stub


def pood_version() -> str:
    return importlib.metadata.version("pytorch-ood")


def pood_module(name: str) -> types.ModuleType:
    """``pood_module("metrics")`` -> ``pytorch_ood.metrics``, without torchvision."""
    _install_pood_stub()
    return importlib.import_module(f"pytorch_ood.{name}")


def pood_metrics_module() -> types.ModuleType:
    return pood_module("metrics")


def pood_detector(name: str, cls: str | None = None) -> type:
    """A detector class: ``"mahalanobis"`` -> ``Mahalanobis``, ``"knn"`` -> ``KNN``, or any
    ``(module, class)`` such as ``("softmax", "MaxSoftmax")``.

    Loads only that detector's module (``pytorch_ood.detector.<name>``); the ``detector``
    package ``__init__`` (every detector) also imports fine without torchvision.
    """
    cls = cls or {"mahalanobis": "Mahalanobis", "knn": "KNN"}[name]
    return getattr(pood_module(f"detector.{name}"), cls)


# ---------------------------------------------------------------------------------------------
# Metric baselines: the same four numbers, each library's way
# ---------------------------------------------------------------------------------------------
def sklearn_four_metrics(y_id: np.ndarray, s: np.ndarray, tpr: float = 0.95) -> dict:
    """scikit-learn, ID positive: roc_auc_score, AP (ID pos.), AP (OOD pos.), roc_curve FPR95.

    ``y_id``: 1 for ID, 0 for OOD; ``s``: ID-ness. Four separate sorts, as a user would write it.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    auroc = roc_auc_score(y_id, s)
    ap_in = average_precision_score(y_id, s)
    ap_out = average_precision_score(1 - y_id, -s)
    fpr, tpr_c, _ = roc_curve(y_id, s, drop_intermediate=False)
    fpr95 = float(fpr[np.argmax(tpr_c >= tpr)])
    return {"fpr95": fpr95, "auroc": float(auroc), "aupr_in": float(ap_in), "aupr_out": ap_out}


def pood_four_metrics(outlier_scores, labels) -> dict:
    """pytorch-ood's ``OODMetrics`` on all scores at once (OOD positive, labels < 0 are OOD).

    One ``update`` with every score, one ``compute``: the library builds its curve counts once
    and derives AUROC, AUPR-IN, AUPR-OUT, FPR95TPR (and AUTC, an O(N) mean, from them).
    """
    m = pood_metrics_module().OODMetrics()
    m.update(outlier_scores, labels)
    r = m.compute()
    return {
        "fpr95": r["FPR95TPR"],
        "auroc": r["AUROC"],
        "aupr_in": r["AUPR-IN"],
        "aupr_out": r["AUPR-OUT"],
    }


# ---------------------------------------------------------------------------------------------
# Harness
# ---------------------------------------------------------------------------------------------
def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        m = re.search(rf"^{key}:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) if m else -1


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def time_call(fn: Callable[[], object], trace: bool = False) -> dict:
    """Run ``fn`` once: wall time, extra peak RSS (MB) and, optionally, the tracemalloc peak."""
    import gc
    import resource

    gc.collect()
    rss0 = _status_kb("VmRSS")
    hwm_ok = _reset_peak()
    maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if trace:
        import tracemalloc

        tracemalloc.start()
    t0 = time.perf_counter()
    result = fn()
    dt = time.perf_counter() - t0
    tm_peak = None
    if trace:
        import tracemalloc

        tm_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    if hwm_ok:
        peak_kb = _status_kb("VmHWM") - rss0
        how = "VmHWM"
    else:  # only meaningful when the inputs were the process's peak so far
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - max(rss0, maxrss0)
        how = "ru_maxrss"
    return {
        "seconds": dt,
        "peak_mb": max(peak_kb, 0) / 1024,
        "tracemalloc_mb": tm_peak,
        "mem_method": how,
        "result": result,
    }


def measure_in_subprocess(
    script: str,
    args: list[str],
    timeout: float = 600,
    python: str | None = None,
    extra_env: dict | None = None,
) -> dict:
    """Run ``python script --child ARGS`` (with ``extra_env`` set) and parse the JSON line it
    prints last."""
    cmd = [python or sys.executable, script, "--child", *args]
    env = {**os.environ, **(extra_env or {})}
    env.setdefault("PYTHONHASHSEED", "0")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def set_threads(n: int | None) -> None:
    """Limit torch's intra-op threads and the BLAS/OpenMP pools (threadpoolctl) to ``n``."""
    if not n:
        return
    import torch

    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass


def run_rounds(
    script: str,
    configs: list[tuple[str, int | None]],
    sizes: list,
    repeats: int,
    slow_cap: float,
    extra: list[str] | None = None,
    env_for=None,
) -> dict:
    """Measure every (method, threads) config at every size, interleaved round by round.

    Returns ``{(size, method): best}``: the fastest call over all rounds and thread settings
    (``best["threads"]`` says which), with ``peak_mb`` the largest extra peak seen for that
    method and ``rounds`` the number of calls made. A config whose first call took longer
    than ``slow_cap`` seconds is not repeated.
    """
    best: dict = {}
    first: dict = {}
    for n in sizes:
        for rnd in range(repeats):
            for m, th in configs:
                if rnd > 0 and first.get((n, m, th), 0.0) > slow_cap:
                    continue
                args = ["--method", m, "--n", str(n), *(extra or [])]
                if th:
                    args += ["--threads", str(th)]
                r = measure_in_subprocess(script, args, extra_env=env_for(m) if env_for else None)
                r["threads"] = th
                first.setdefault((n, m, th), r["seconds"])
                old = best.get((n, m))
                calls = (old or {}).get("rounds", 0) + 1
                peak = max(r["peak_mb"], (old or {}).get("peak_mb", 0.0))
                if old is None or r["seconds"] < old["seconds"]:
                    best[(n, m)] = r
                best[(n, m)]["rounds"], best[(n, m)]["peak_mb"] = calls, peak
                tag = f" threads={th}" if th else ""
                print(f"  n={n} round {rnd + 1} {m}{tag}: {r['seconds']:.4f} s", file=sys.stderr)
    return best


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        avail = len(os.sched_getaffinity(0))
    except AttributeError:
        avail = os.cpu_count()
    import torch

    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, AttributeError):
        pass
    libs = [f"numpy {np.__version__}", f"torch {torch.__version__}"]
    for name in ("scikit-learn", "numba", "pytorch-ood"):
        try:
            libs.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            libs.append(f"{name} absent")
    return (
        f"{model}, {avail} cores usable ({os.cpu_count()} logical){mem}; "
        f"Python {platform.python_version()}; torch threads {torch.get_num_threads()}; "
        + ", ".join(libs)
    )


# ---------------------------------------------------------------------------------------------
# numpy's CPU dispatch and the SIMD sort (what BENCHMARKS.md calls the machine's limit)
# ---------------------------------------------------------------------------------------------
NPY_ENV = "NPY_DISABLE_CPU_FEATURES"


def numpy_dispatch() -> dict:
    """numpy's SIMD targets: baseline, dispatched targets found on this CPU, and those among
    them that are AVX-512 (what ``NPY_DISABLE_CPU_FEATURES`` can switch off at start-up)."""
    try:
        from numpy._core import _multiarray_umath as mu
    except ImportError:  # numpy 1.x
        from numpy.core import _multiarray_umath as mu
    found = [f for f in mu.__cpu_dispatch__ if mu.__cpu_features__.get(f)]
    avx512 = [f for f in found if "AVX512" in f or f == "X86_V4"]
    return {"baseline": list(mu.__cpu_baseline__), "found": found, "avx512": avx512,
            "disabled_by_env": os.environ.get(NPY_ENV, "")}  # fmt: skip


def avx512_off_env() -> dict | None:
    """The environment that makes numpy skip its AVX-512 targets (its AVX2 sort instead):
    None when this CPU has none."""
    off = numpy_dispatch()["avx512"]
    return {NPY_ENV: " ".join(off)} if off else None


def write_json(path: str | None, results, markdown: str, figures: list[dict]) -> None:
    """The machine-readable output of a benchmark (``--json``): its structured results, the
    markdown it printed, and its headline figures ({key, label, value, unit})."""
    if not path:
        return
    doc = {"results": results, "markdown": markdown, "figures": figures}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=float)


def figure(key: str, value, unit: str, label: str = "") -> dict:
    return {"key": key, "value": None if value is None else float(value), "unit": unit,
            "label": label or key}  # fmt: skip


def available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def command_line() -> str:
    """The command as a reader would type it (without ``--json PATH``, the runner's own)."""
    rel = os.path.relpath(sys.argv[0], os.getcwd())
    py = os.path.relpath(sys.executable, os.getcwd()) if sys.executable else "python"
    if py.startswith(".."):
        py = sys.executable
    args = list(sys.argv[1:])
    if "--json" in args:
        i = args.index("--json")
        del args[i : i + 2]
    return " ".join([py, rel, *args])


def fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    if x >= 1:
        return f"{x:.2f} s"
    if x >= 1e-3:
        return f"{x * 1e3:.0f} ms" if x >= 0.1 else f"{x * 1e3:.1f} ms"
    return f"{x * 1e6:.0f} µs"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.1f}x" if x < 100 else f"{x:.0f}x"
