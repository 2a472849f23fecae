"""What a benchmark ran on: CPU, instruction sets, cores, thread settings, library builds, numpy's
SIMD targets and whether its sort uses them. Run by ``benchmarks/run.py`` with the benchmark
interpreter (``python benchmarks/_machine.py [--sort-n N]`` prints the record as JSON).

The sort probe times ``np.sort`` of N float32 in three fresh interpreters: numpy as installed,
with its AVX-512 targets switched off (``NPY_DISABLE_CPU_FEATURES``: its AVX2 x86-simd-sort),
and with every dispatched target off (the scalar introsort). On AMD Zen 4 the AVX-512 sort is
slower than the AVX2 one (its memory-destination compress instructions are microcoded); the
record says so, and BENCHMARKS.md shows the metrics against both sorts.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys

FLAGS_OF_NOTE = (
    "sse4_2 avx avx2 fma f16c bmi2 avx512f avx512dq avx512cd avx512bw avx512vl avx512ifma "
    "avx512vbmi avx512_vbmi2 avx512_vnni avx512_bitalg avx512_vpopcntdq avx512_bf16 avx512_fp16 "
    "amx_bf16 amx_int8 amx_tile gfni vaes vpclmulqdq sha_ni hypervisor"
).split()
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
              "NPY_DISABLE_CPU_FEATURES", "ENERGY_OOD_WORKERS", "ENERGY_OOD_METRICS_SORT",
              "ENERGY_OOD_KNN_EXHAUSTIVE")  # fmt: skip
PACKAGES = ("numpy", "torch", "numba", "scipy", "scikit-learn", "faiss-cpu", "pytorch-ood",
            "pillow", "threadpoolctl")  # fmt: skip


def cpuinfo() -> dict:
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                k, _, v = line.partition(":")
                fields[k.strip()] = v.strip()
    except OSError:
        pass
    flags = set(fields.get("flags", "").split())
    vendor = fields.get("vendor_id", platform.processor() or platform.machine())
    fam, model = int(fields.get("cpu family", "0") or 0), int(fields.get("model", "0") or 0)
    return {
        "model_name": fields.get("model name", platform.processor() or "unknown"),
        "vendor": vendor,
        "family": fam,
        "model": model,
        "stepping": fields.get("stepping"),
        "microarchitecture": uarch(vendor, fam, model),
        "flags_of_note": [f for f in FLAGS_OF_NOTE if f in flags],
        "cache_size": fields.get("cache size"),
    }


def uarch(vendor: str, family: int, model: int) -> str | None:
    """AMD Zen generation from family / model (the VM's model name often hides it)."""
    if vendor != "AuthenticAMD":
        return None
    if family == 0x17:
        return "Zen 2" if model >= 0x30 else "Zen / Zen+"
    if family == 0x19:
        zen4 = 0x10 <= model <= 0x1F or 0x60 <= model <= 0x7F or 0xA0 <= model <= 0xAF
        return "Zen 4" if zen4 else "Zen 3"
    if family == 0x1A:
        return "Zen 5"
    return None


def cores() -> dict:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    mem = None
    try:
        with open("/proc/meminfo") as f:
            kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
        mem = round(kb / 2**20, 1)
    except (OSError, AttributeError):
        pass
    return {"logical": os.cpu_count(), "usable": usable, "memory_gib": mem}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def blas() -> dict:
    import numpy as np
    import torch

    cfg = torch.__config__.show()
    info = {
        "torch_blas": (re.search(r"BLAS_INFO=(\w+)", cfg) or [None, None])[1],
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cuda": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            | {"library": os.path.basename(p.get("filepath", ""))}
            for p in threadpool_info()
        ]
    except ImportError:
        info["threadpools"] = None
    info["numpy_blas"] = np.show_config(mode="dicts")["Build Dependencies"]["blas"].get("name")
    return info


_PROBE = """
import json, sys, time, numpy as np
a = np.random.default_rng(0).standard_normal(int(sys.argv[1])).astype(np.float32)
best = min((lambda t0: (np.sort(a), time.perf_counter() - t0)[1])(time.perf_counter())
           for _ in range(5))
print(json.dumps(best))
"""


def sort_probe(n: int) -> dict:
    """np.sort of n float32 (best of 5) with numpy as installed, its AVX-512 targets off and
    every dispatched target off; and what that says."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _baselines as B

    d = B.numpy_dispatch()
    variants = {"default": {}, "avx512_off": {B.NPY_ENV: " ".join(d["avx512"])},
                "scalar": {B.NPY_ENV: " ".join(d["found"])}}  # fmt: skip
    out = {"n": n, "numpy_dispatch": d, "seconds": {}}
    for name, env in variants.items():
        if name != "default" and not env[B.NPY_ENV]:
            continue
        p = subprocess.run([sys.executable, "-c", _PROBE, str(n)], capture_output=True,
                           text=True, env={**os.environ, **env})  # fmt: skip
        out["seconds"][name] = json.loads(p.stdout) if p.returncode == 0 else None
    s = out["seconds"]
    base, off, scalar = s.get("default"), s.get("avx512_off"), s.get("scalar")
    out["uses_simd_sort"] = bool(base and scalar and base < 0.6 * scalar)
    out["avx512_sort_slower"] = bool(base and off and base > 1.3 * off)
    notes = []
    if out["avx512_sort_slower"]:
        notes.append(
            f"numpy's AVX-512 sort is {base / off:.1f}x slower than its AVX2 sort here (AMD "
            "Zen 4: microcoded memory-destination compress); NPY_DISABLE_CPU_FEATURES="
            f"'{' '.join(d['avx512'])}' at start-up selects the AVX2 sort"
        )
    if base and scalar and not out["uses_simd_sort"]:
        notes.append("np.sort runs no faster than numpy's scalar sort: no SIMD sort in effect")
    out["note"] = "; ".join(notes)
    return out


def record(sort_n: int = 1_000_000) -> dict:
    return {
        "cpu": cpuinfo(),
        "cores": cores(),
        "os": platform.platform(),
        "versions": versions(),
        "blas": blas(),
        "thread_env": {k: os.environ.get(k) for k in THREAD_ENV if os.environ.get(k)},
        "sort": sort_probe(sort_n),
        "interpreter": sys.executable,
    }


def slug(text: str) -> str:
    text = re.sub(r"\((R|TM|tm|r)\)|\bCPU\b|\bProcessor\b|@.*$|\d+-Core", " ", text)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def tag(rec: dict) -> str:
    """A folder name for the machine: CPU model, AMD Zen generation, usable cores, GPU."""
    cpu = rec["cpu"]
    parts = [slug(cpu["model_name"])]
    if cpu.get("microarchitecture"):
        parts.append(slug(cpu["microarchitecture"]))
    parts.append(f"{rec['cores']['usable']}c")
    if rec["blas"]["cuda"]:
        parts.append(slug(rec["blas"]["cuda"][0].replace("NVIDIA", "")))
    return "-".join(p for p in parts if p)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sort-n", type=int, default=1_000_000)
    a = p.parse_args()
    rec = record(a.sort_n)
    rec["tag"] = tag(rec)
    print(json.dumps(rec, indent=1))


if __name__ == "__main__":
    main()
