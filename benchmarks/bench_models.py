"""Training throughput of ``energy_ood.models`` on this CPU, against the machine's own peak.

One training step = forward + backward + SGD step on a batch of 28x28 grey images (10 classes).
Modes: fp32 (contiguous NCHW), channels_last (fp32, NHWC), bf16 (CPU autocast, NCHW) and
bf16+cl (autocast and channels_last). FLOPs of one step are counted with
``torch.utils.flop_counter.FlopCounterMode`` (convs and matmuls only); the peak is the best of
a large fp32 matmul and a large conv, measured in the same run. Prints a markdown table.

The second table compares the cost of one fine-tuning step with each objective on the same
concatenated batch (128 ID + 256 auxiliary images in ONE forward pass, as the energy paper's
code): plain cross-entropy on all 384 images, energy-bounded (CE on the ID part + the two
squared hinges), Outlier Exposure, single margin. Target: energy <= 1.1x the CE step.

    .venv/bin/python benchmarks/bench_models.py --models cnn wrn40_2 --steps 20 --big-steps 2
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from energy_ood.models import create_model
from energy_ood.train.losses import (
    energy_bounded_loss,
    outlier_exposure_loss,
    single_margin_loss,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _baselines as B  # noqa: E402

MODES = ("fp32", "channels_last", "bf16", "bf16+cl")
CL = torch.channels_last


def _best_time(fn, reps: int) -> float:
    fn()  # warm-up (oneDNN primitive creation)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure_peak(dtype=torch.float32, reps: int = 3) -> dict:
    """GFLOP/s of a 2048^3 matmul and of a 3x3 conv (32x128x28x28 -> 128 channels)."""
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    mm = 2 * 2048**3 / _best_time(lambda: a @ b, reps) / 1e9
    x = torch.randn(32, 128, 28, 28, dtype=dtype).contiguous(memory_format=CL)
    w = torch.randn(128, 128, 3, 3, dtype=dtype).contiguous(memory_format=CL)
    conv_flops = 2 * 32 * 28 * 28 * 128 * 128 * 9
    conv = conv_flops / _best_time(lambda: F.conv2d(x, w, padding=1), reps) / 1e9
    return {"matmul": mm, "conv": conv, "peak": max(mm, conv)}


def make_step(name: str, mode: str, batch: int):
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_channels=1).train()
    fmt = CL if mode in ("channels_last", "bf16+cl") else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = torch.randn(batch, 1, 28, 28).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.SGD(
        model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    bf16 = mode.startswith("bf16")

    def step():
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with ctx:
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def bench(name: str, mode: str, batch: int, steps: int, max_s: float) -> dict:
    step = make_step(name, mode, batch)
    counter = FlopCounterMode(display=False)
    t = time.perf_counter()
    with counter:
        step()  # also the warm-up
    first = time.perf_counter() - t
    flops = counter.get_total_flops()
    times = []
    n = steps if first * steps <= max_s else max(1, int(max_s / max(first, 1e-9)))
    for _ in range(n):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    med = sorted(times)[len(times) // 2]
    return {
        "steps": n,
        "step_s": med,
        "img_s": batch / med,
        "gflops": flops / med / 1e9,
        "gflop_step": flops / 1e9,
    }


OBJECTIVES = {
    "ce (all 384)": lambda lo, y, n: F.cross_entropy(lo, y),
    "energy": lambda lo, y, n: (
        F.cross_entropy(lo[:n], y[:n]) + 0.1 * energy_bounded_loss(lo[:n], lo[n:], -8.0, -6.0)
    ),
    "oe": lambda lo, y, n: F.cross_entropy(lo[:n], y[:n]) + 0.5 * outlier_exposure_loss(lo[n:]),
    "single-margin": lambda lo, y, n: (
        F.cross_entropy(lo[:n], y[:n]) + 0.1 * single_margin_loss(lo[:n], lo[n:], 2.0)
    ),
}


def objective_steps(name: str, n_in: int, n_out: int, reps: int, mode: str) -> dict:
    """Seconds per training step of each objective on one concatenated batch (interleaved)."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_channels=1).train()
    fmt = CL if mode in ("channels_last", "bf16+cl") else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = torch.randn(n_in + n_out, 1, 28, 28).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (n_in + n_out,))
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True)

    def step(obj):
        loss = obj(model(x), y, n_in)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    best = dict.fromkeys(OBJECTIVES, float("inf"))
    for obj in OBJECTIVES.values():
        step(obj)  # warm-up
    for _ in range(reps):
        for k, obj in OBJECTIVES.items():
            t = time.perf_counter()
            step(obj)
            best[k] = min(best[k], time.perf_counter() - t)
    return best


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["cnn", "wrn40_2"])
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20, help="timed steps for small models")
    p.add_argument("--big-steps", type=int, default=2, help="timed steps for wrn/densenet/...")
    p.add_argument(
        "--max-s",
        type=float,
        default=20.0,
        help="time budget per model and mode; fewer steps (at least 1) beyond it",
    )
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--epoch-images", type=int, default=60_000)
    p.add_argument("--objective-reps", type=int, default=10, help="steps per objective (best)")
    p.add_argument("--objective-mode", default="channels_last", choices=MODES[:2])
    p.add_argument("--json", help="write the measurements and their figures here")
    a = p.parse_args(argv)
    results, figs = {"peak": None, "steps": {}, "objectives": {}}, []
    if a.threads:
        torch.set_num_threads(a.threads)
    peak = measure_peak()
    bf_peak = measure_peak(torch.bfloat16, reps=1) if any("bf16" in m for m in a.modes) else None
    results["peak"], results["bf16_peak"] = peak, bf_peak
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, batch {a.batch}, 28x28x1, 10 classes\n"
    )
    print(
        f"fp32 peak: matmul 2048^3 {peak['matmul']:.1f} GFLOP/s, conv3x3 128ch "
        f"{peak['conv']:.1f} GFLOP/s -> peak {peak['peak']:.1f} GFLOP/s"
    )
    if bf_peak:
        print(
            f"bf16 peak: matmul {bf_peak['matmul']:.1f} GFLOP/s, conv {bf_peak['conv']:.1f}"
            " GFLOP/s (fractions below are of the fp32 peak)"
        )
    print(
        "\n| model | mode | steps | s/step | images/s | GFLOP/step | GFLOP/s | % of peak |"
        f" epoch ({a.epoch_images // 1000}k) s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in a.models:
        steps = a.steps if name == "cnn" else a.big_steps
        for mode in a.modes:
            r = bench(name, mode, a.batch, steps, a.max_s)
            results["steps"][f"{name}|{mode}"] = r
            figs.append(B.figure(f"models/{name}/{mode}", r["img_s"], "img/s",
                                 f"{name} {mode} training images/s"))  # fmt: skip
            print(
                f"| {name} | {mode} | {r['steps']} | {r['step_s']:.3f} | {r['img_s']:.0f} | "
                f"{r['gflop_step']:.2f} | {r['gflops']:.1f} | "
                f"{100 * r['gflops'] / peak['peak']:.0f}% | "
                f"{a.epoch_images / r['img_s']:.1f} |",
                flush=True,
            )
    print(
        f"\nFine-tuning step on one concatenated batch (128 ID + 256 auxiliary), "
        f"{a.objective_mode}, best of {a.objective_reps} interleaved steps:\n"
    )
    print("| model | " + " | ".join(OBJECTIVES) + " | energy / ce |")
    print("|---|" + "---|" * (len(OBJECTIVES) + 1))
    for name in a.models:
        reps = a.objective_reps if name == "cnn" else max(2, a.objective_reps // 5)
        b = objective_steps(name, 128, 256, reps, a.objective_mode)
        cells = " | ".join(f"{1000 * v:.1f} ms" for v in b.values())
        print(f"| {name} | {cells} | {b['energy'] / b['ce (all 384)']:.3f}x |", flush=True)
        results["objectives"][name] = b
        figs.append(B.figure(f"models/{name}/energy_vs_ce", b["energy"] / b["ce (all 384)"], "x",
                             f"{name}: energy step / ce step"))  # fmt: skip
    B.write_json(a.json, results, None, figs)


if __name__ == "__main__":
    main()
