"""Speed of all four OOD metrics (FPR95, AUROC, AUPR-In, AUPR-Out) on N scores.

Compares, side by side in one run, ``energy_ood.metrics.ood_metrics`` with scikit-learn
(``roc_auc_score`` + 2x ``average_precision_score`` + ``roc_curve`` for FPR95) and with
pytorch-ood 0.4.0's ``OODMetrics``, and states the machine's own limit: one ``np.sort`` of N
float32 values. N scores are split 5:1 ID:OOD (ID ~ N(1, 1), OOD ~ N(0, 1), float32, seed 0).

The sort inside ``ood_metrics`` is the numba radix sort or ``np.sort`` of the integer keys,
whichever a one-time measurement in the process found faster (``_kernel.sort_method``); the
rows "radix sort" and "np.sort" force each path (``ENERGY_OOD_METRICS_SORT``) so both are
shown, and the report says which one the automatic choice took and what the measurement cost.

Every measurement is one call in a fresh subprocess (inputs built there, a small warm-up call
first, so numba's cache load and lazy imports are not timed); the methods are interleaved round
by round and the best of ``--repeats`` rounds is reported. Extra peak memory is the increase of
the process's peak RSS during the call (VmHWM reset through /proc/self/clear_refs, see
``_baselines.py``); the numpy-only tracemalloc peak of energy-ood's call is shown beside it.

Run in the benchmark env (``bash benchmarks/setup_bench_env.sh``)::

    .venv-bench/bin/python benchmarks/bench_metrics.py            # N = 1e6 and 1e7
    .venv-bench/bin/python benchmarks/bench_metrics.py --quick    # N = 1e5 and 1e6, 2 rounds
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _baselines as B  # noqa: E402

ID_SHARE = 5 / 6  # 5:1 ID:OOD
TARGET_S, TARGET_VS_POOD, TARGET_VS_SK, TARGET_MB = 0.5, 10.0, 40.0, 512.0

METHODS = {
    "np.sort": "np.sort of N float32 (the machine's limit)",
    "np.argsort": "np.argsort of N float32 (what a sort-by-index approach pays)",
    "ours": "energy-ood ood_metrics (float32 scores)",
    "ours_radix": "energy-ood ood_metrics (float32), radix sort forced",
    "ours_npsort": "energy-ood ood_metrics (float32), np.sort of the keys forced",
    "ours_f64": "energy-ood ood_metrics (float64 scores, as Scorer.score returns)",
    "ours_f64_radix": "energy-ood ood_metrics (float64), radix sort forced",
    "ours_f64_npsort": "energy-ood ood_metrics (float64), np.sort of the keys forced",
    "ours_numpy": "energy-ood without numba (pure-numpy fallback `_ood_metrics_numpy`)",
    "pood": "pytorch-ood 0.4.0 OODMetrics",
    "sklearn": "scikit-learn: roc_auc + 2x average_precision + roc_curve",
    # numpy's AVX-512 targets switched off at start-up (NPY_DISABLE_CPU_FEATURES): its AVX2 sort
    "np.sort@avx2": "np.sort of N float32, numpy's AVX-512 targets off (its AVX2 SIMD sort)",
    "ours@avx2": "energy-ood ood_metrics (float32), numpy's AVX-512 targets off",
}
VARIANT = "@avx2"  # methods run with B.avx512_off_env(); dropped where the CPU has no AVX-512
NEEDS = {"pood": "pytorch_ood", "sklearn": "sklearn"}  # baselines run where installed


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_id = int(round(n * ID_SHARE))
    id_s = rng.standard_normal(n_id, dtype=np.float32) + np.float32(1.0)
    ood_s = rng.standard_normal(n - n_id, dtype=np.float32)
    return id_s, ood_s


def build(method: str, id_s: np.ndarray, ood_s: np.ndarray):
    """Inputs in each library's own form (not timed) and the call to time."""
    method = method.removesuffix(VARIANT)  # the variant differs by environment only
    if method in ("np.sort", "np.argsort"):
        s = np.concatenate([id_s, ood_s])
        f = np.sort if method == "np.sort" else np.argsort
        return lambda: (f(s), None)[1]
    if method.startswith("ours"):
        from energy_ood.metrics import _sort
        from energy_ood.metrics import functional as F

        forced = {"radix": "radix", "npsort": "numpy"}.get(method.rsplit("_", 1)[-1])
        if forced:  # read at every call
            os.environ[_sort.SORT_ENV] = forced
        else:
            os.environ.pop(_sort.SORT_ENV, None)
        if method.startswith("ours_f64"):
            id_s, ood_s = id_s.astype(np.float64), ood_s.astype(np.float64)
        fn = F._ood_metrics_numpy if method == "ours_numpy" else F.ood_metrics
        return lambda: fn(id_s, ood_s)
    s = np.concatenate([id_s, ood_s])
    is_id = np.zeros(s.size, dtype=np.int64)
    is_id[: id_s.size] = 1
    if method == "sklearn":
        return lambda: B.sklearn_four_metrics(is_id, s)
    if method == "pood":
        import torch

        outlier = torch.from_numpy(-s)  # pytorch-ood: larger = more OOD
        labels = torch.from_numpy(is_id - 1)  # 0 = ID, -1 = OOD
        return lambda: B.pood_four_metrics(outlier, labels)
    raise ValueError(method)


TORCH_METHODS = {"pood"}  # measured at every --threads setting, the best reported


def child(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--method", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--trace", action="store_true")
    a = p.parse_args(argv)
    B.set_threads(a.threads)
    build(a.method, *make_data(2000, seed=1))()  # numba cache load, lazy imports
    calib = {}
    if a.method.removesuffix(VARIANT) in ("ours", "ours_f64"):
        # the one-time sort measurement happens at the first call of >= 1e5 scores: a warm-up
        # call of that size runs twice; the difference is what the measurement cost
        from energy_ood.metrics import _sort

        warm = build(a.method, *make_data(min(a.n, 200_000), seed=1))
        t0 = time.perf_counter()
        warm()
        t1 = time.perf_counter()
        warm()
        t2 = time.perf_counter()
        choice = {f"{w}-bit keys, {d} varying digits": c for (w, d), c in _sort._CHOICE.items()}
        calib = {"calib_s": max(0.0, (t1 - t0) - (t2 - t1)), "choice": choice}
    fn = build(a.method, *make_data(a.n))
    r = B.time_call(fn, trace=a.trace)
    res = r.pop("result")
    r["metrics"] = {k: float(v) for k, v in res.items()} if res else None
    r.update(calib)
    print(json.dumps(r))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1e6,1e7", help="comma-separated N (ID+OOD scores)")
    p.add_argument("--repeats", type=int, default=3, help="rounds; the best is reported")
    p.add_argument("--methods", default=",".join(METHODS), help=f"subset of {list(METHODS)}")
    p.add_argument(
        "--threads",
        default="1,2",
        help="torch thread counts tried for pytorch-ood (best reported; on a shared 2-core "
        "machine 2 threads can be slower than 1)",
    )
    p.add_argument(
        "--slow-cap",
        type=float,
        default=8.0,
        help="a method whose first call takes longer than this many seconds runs once",
    )
    p.add_argument("--quick", action="store_true", help="N = 1e5,1e6 and 2 rounds")
    p.add_argument("--json", help="write the results, the report and its figures here")
    a = p.parse_args()
    if a.quick:
        a.sizes, a.repeats = "1e5,1e6", 2
    sizes = [int(float(x)) for x in a.sizes.split(",")]
    off = B.avx512_off_env()
    methods = [
        m
        for m in a.methods.split(",")
        if m and (m not in NEEDS or B.available(NEEDS[m])) and (VARIANT not in m or off)
    ]
    threads = [int(t) for t in a.threads.split(",") if t]
    configs = [(m, th) for m in methods for th in (threads if m in TORCH_METHODS else [None])]
    script = os.path.abspath(__file__)
    load0 = B.loadavg()
    best = B.run_rounds(script, configs, sizes, a.repeats, a.slow_cap,
                        env_for=lambda m: off if VARIANT in m else None)  # fmt: skip
    if "ours" in methods:  # numpy-side allocations of our call, by tracemalloc
        for n in sizes:
            r = B.measure_in_subprocess(script, ["--method", "ours", "--n", str(n), "--trace"])
            best[(n, "ours")]["tracemalloc_mb"] = r["tracemalloc_mb"]
    a.load = f"{load0} before, {B.loadavg()} after"
    a.off = off
    md = report(sizes, methods, best, a)
    print(md)
    B.write_json(a.json, {f"{n}|{m}": r for (n, m), r in best.items()}, md, figures(sizes, best))


def figures(sizes, best) -> list[dict]:
    """Every time, and the ratios the targets are about (ours / np.sort, peers / ours)."""
    out = []
    for (n, m), r in best.items():
        out.append(B.figure(f"metrics/{n:.0e}/{m}", r["seconds"], "s", f"{METHODS[m]}, N={n:.0e}"))
    for n in sizes:
        for ours, srt in (("ours", "np.sort"), ("ours@avx2", "np.sort@avx2")):
            o, q = best.get((n, ours)), best.get((n, srt))
            if o and q:
                label = f"ood_metrics / np.sort, N={n:.0e}" + (
                    " (AVX2 sort)" if "@" in ours else ""
                )
                out.append(B.figure(f"metrics/{n:.0e}/{ours}/vs_sort", o["seconds"] / q["seconds"],
                                    "x", label))  # fmt: skip
    return out


def report(sizes, methods, best, a) -> str:
    out = ["### Metrics: all four on N scores (5:1 ID:OOD, float32)", ""]
    out.append(f"Machine: {B.machine()}  ")
    out.append(f"Command: `{B.command_line()}`  ")
    out.append(
        f"Best of {a.repeats} rounds (methods slower than {a.slow_cap:g} s on their first "
        "call run once); one call per fresh subprocess. Extra peak = increase of peak RSS "
        "during the call (all allocations, torch and C included); tracemalloc = numpy-only peak. "
        "Threads: torch threads of the best pytorch-ood call (— = single-threaded numpy/numba "
        "code). vs np.sort: against np.sort in the same numpy configuration. Load average "
        f"(1/5/15 min): {a.load}."
    )
    out.append("")
    out.append(
        "| N | method | time | calls | threads | ours faster by | vs np.sort | extra peak RSS |"
    )
    out.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        ours = best.get((n, "ours"))
        srt = best.get((n, "np.sort"))
        for m in methods:
            r = best.get((n, m))
            if r is None:
                continue
            speed = (r["seconds"] / ours["seconds"]) if ours and m != "ours" else None
            ref = best.get((n, "np.sort" + VARIANT)) if VARIANT in m else srt  # same numpy
            vs_sort = r["seconds"] / ref["seconds"] if ref else None
            mem = f"{r['peak_mb']:.0f} MB"
            if r.get("tracemalloc_mb") is not None:
                mem += f" (tracemalloc {r['tracemalloc_mb']:.0f} MB)"
            out.append(
                f"| {n:.0e} | {METHODS[m]} | {B.fmt_s(r['seconds'])} | {r['rounds']} | "
                f"{r['threads'] or '—'} | {B.fmt_ratio(speed) if m != 'ours' else '1x'} | "
                f"{B.fmt_ratio(vs_sort)} | "
                f"{mem} |"
            )
    out.append("")
    # the automatic sort choice and what measuring it cost (first call of a process)
    for n in sizes:
        for m in ("ours", "ours_f64"):
            r = best.get((n, m))
            if r and r.get("choice"):
                picks = "; ".join(f"{k}: {v}" for k, v in r["choice"].items())
                out.append(
                    f"N={n:.0e}, {METHODS[m]}: automatic sort choice {picks} "
                    f"(one-time measurement: {B.fmt_s(r['calib_s'])})  "
                )
        for f, rad, nps in (
            ("ours", "ours_radix", "ours_npsort"),
            ("ours_f64", "ours_f64_radix", "ours_f64_npsort"),
        ):
            r, q, auto = best.get((n, rad)), best.get((n, nps)), best.get((n, f))
            if r and q:
                same = r["metrics"] == q["metrics"]
                line = (
                    f"N={n:.0e}, {f}: radix / np.sort time = "
                    f"{r['seconds'] / q['seconds']:.2f}; metrics bit-identical: {same}"
                )
                if auto and auto.get("choice"):
                    faster = "radix" if r["seconds"] <= q["seconds"] else "numpy"
                    ok = set(auto["choice"].values()) == {faster}
                    line += f"; automatic choice = the faster path here: {'yes' if ok else 'NO'}"
                out.append(line + "  ")
    out.append("")
    # agreement check: the same numbers as scikit-learn (and pytorch-ood's AUROC)
    for n in sizes:
        o, s, pd = (best.get((n, k)) for k in ("ours", "sklearn", "pood"))
        if o and s:
            d = max(abs(o["metrics"][k] - s["metrics"][k]) for k in o["metrics"])
            line = f"N={n:.0e}: max |ours - scikit-learn| over the four metrics = {d:.1e}"
            if pd:
                gap = abs(o["metrics"]["auroc"] - pd["metrics"]["auroc"])
                line += f"; |AUROC ours - pytorch-ood| = {gap:.1e}"
            out.append(line + "  ")
    out.append("")
    # the issue-22 target: ood_metrics within 1.5x one np.sort of the same float32 scores
    out.append("Sort targets (ood_metrics / one np.sort of the same N float32 scores <= 1.5x):")
    for n in sizes:
        for ours, srt, what in (
            ("ours", "np.sort", "numpy as installed"),
            ("ours@avx2", "np.sort@avx2", f"numpy's AVX-512 targets off ({B.NPY_ENV}="
             f"'{(a.off or {}).get(B.NPY_ENV, '')}'): its AVX2 SIMD sort"),
        ):  # fmt: skip
            o, q = best.get((n, ours)), best.get((n, srt))
            if o and q:
                x = o["seconds"] / q["seconds"]
                out.append(
                    f"- N={n:.0e}, {what}: {B.fmt_s(o['seconds'])} / {B.fmt_s(q['seconds'])} "
                    f"= {x:.2f}x: {'met' if x <= 1.5 else 'NOT met'}"
                )
    out.append("")
    # targets
    n_t = max(sizes)
    o = best.get((n_t, "ours"))
    if o:
        pd, s = best.get((n_t, "pood")), best.get((n_t, "sklearn"))
        out.append(f"Targets at N={n_t:.0e}:")
        out.append(
            f"- time {B.fmt_s(o['seconds'])} <= {TARGET_S} s: "
            f"{'met' if o['seconds'] <= TARGET_S else 'NOT met'}"
        )
        if pd:
            x = pd["seconds"] / o["seconds"]
            out.append(
                f"- {x:.1f}x pytorch-ood >= {TARGET_VS_POOD:g}x: "
                f"{'met' if x >= TARGET_VS_POOD else 'NOT met'}"
            )
        if s:
            x = s["seconds"] / o["seconds"]
            out.append(
                f"- {x:.1f}x scikit-learn >= {TARGET_VS_SK:g}x: "
                f"{'met' if x >= TARGET_VS_SK else 'NOT met'}"
            )
        out.append(
            f"- extra peak {o['peak_mb']:.0f} MB <= {TARGET_MB:.0f} MB: "
            f"{'met' if o['peak_mb'] <= TARGET_MB else 'NOT met'}"
        )
    return "\n".join(out)


if __name__ == "__main__":
    main()
