"""Training throughput (images/s) of ``energy_ood.train.Trainer`` against a plain PyTorch loop,
one process against two (torchrun, gloo), and a streamed image folder against in-memory
tensors. Prints markdown tables; every row is measured in this run.

1. overhead: the same model, tensors, optimizer and augmentation (random crop), one epoch each,
   run alternately ``--rounds`` times; best epoch of each. Target: Trainer <= 5% slower.
2. processes: ``energy-ood train`` with 1 process (all threads) and with 2 torchrun processes
   (gloo, one thread each); images/s of the last epoch from metrics.json.
3. data path: ``energy-ood train`` on an image folder with --data-mode memory and stream.

    .venv/bin/python benchmarks/bench_train.py --model cnn --n 12000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from energy_ood.data import transforms as T
from energy_ood.data.prepare import prepare_id
from energy_ood.models import create_model
from energy_ood.runtime.device import Runtime
from energy_ood.runtime.progress import set_quiet
from energy_ood.train import TrainConfig, Trainer
from energy_ood.train.schedule import cosine_lr

ROOT = Path(__file__).resolve().parents[1]


def plain_epoch(model, x, y, batch: int, seed: int) -> float:
    """A textbook loop: shuffle, random crop (pad 2), forward, CE, backward, Nesterov SGD with
    per-step cosine; returns seconds."""
    opt = torch.optim.SGD(
        model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    g = torch.Generator().manual_seed(seed)
    n = len(x)
    steps = n // batch
    t0 = time.perf_counter()
    perm = torch.randperm(n, generator=g)
    model.train()
    for s in range(steps):
        idx = perm[s * batch : (s + 1) * batch]
        xb = T.random_crop(x[idx], x.shape[-1], 2, generator=g)
        xb = xb.contiguous(memory_format=torch.channels_last)
        for group in opt.param_groups:
            group["lr"] = cosine_lr(s, steps, 0.1)
        loss = F.cross_entropy(model(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def trainer_epoch(model, x, y, batch: int, seed: int, out: Path) -> float:
    cfg = TrainConfig(epochs=1, batch_size=batch, seed=seed, lr=0.1)
    t0 = time.perf_counter()
    Trainer(
        model, cfg, out, runtime=Runtime(torch.device("cpu"), "off", torch.get_num_threads())
    ).fit(x, y)
    return time.perf_counter() - t0


def overhead(model_name: str, n: int, batch: int, rounds: int) -> list[list[str]]:
    d = prepare_id("fashion-mnist", train_limit=n + n // 9 + 1)
    x, y = d.x_train[:n], d.y_train[:n]
    n = len(x) // batch * batch
    x, y = x[:n], y[:n]
    best = {"plain PyTorch loop": float("inf"), "energy-ood Trainer": float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(-1, rounds):  # round -1 warms oneDNN up and is not counted
            for name in best:
                torch.manual_seed(0)
                model = create_model(model_name, num_classes=10, in_channels=1)
                if name.startswith("plain"):
                    sec = plain_epoch(model, x, y, batch, r + 1)
                else:
                    sec = trainer_epoch(model, x, y, batch, r + 1, Path(tmp) / f"r{r + 1}")
                if r >= 0:
                    best[name] = min(best[name], sec)
    base = best["plain PyTorch loop"]
    return [
        [name, f"{n / sec:,.0f}", f"{sec:.2f} s", f"{100 * (sec / base - 1):+.1f}%"]
        for name, sec in best.items()
    ]


def _cli_train(args: list[str], nproc: int, out: Path, threads: int | None) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m"]
    if nproc > 1:
        base += ["torch.distributed.run", "--nproc_per_node", str(nproc), "--standalone", "-m"]
    cmd = base + ["energy_ood", "--quiet", "train", *args, "--out", str(out), "--device", "cpu"]
    if threads:
        cmd += ["--threads", str(threads)]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    hist = json.loads((out / "metrics.json").read_text())["history"]
    return max(h["images_per_s"] for h in hist)


def processes(model: str, limit: int, epochs: int) -> list[list[str]]:
    args = ["--dataset", "fashion-mnist", "--model", model, "--train-limit", str(limit)]
    args += ["--epochs", str(epochs), "--batch-size", "128"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        one = _cli_train(args, 1, Path(tmp) / "one", torch.get_num_threads())
        two = _cli_train(args, 2, Path(tmp) / "two", None)
    rows.append(["1 process", str(torch.get_num_threads()), f"{one:,.0f}", "1.00x"])
    rows.append(["2 processes (torchrun, gloo)", "1 each", f"{two:,.0f}", f"{two / one:.2f}x"])
    return rows


def data_paths(model: str, n: int, epochs: int) -> list[list[str]]:
    from PIL import Image

    d = prepare_id("fashion-mnist", train_limit=n + n // 9 + 1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        x = (d.x_train[:n] * torch.tensor(d.std).view(1, -1, 1, 1)) + torch.tensor(d.mean).view(
            1, -1, 1, 1
        )
        imgs = (x.clamp(0, 1) * 255).round().byte()[:, 0].numpy()
        for i, (a, c) in enumerate(zip(imgs, d.y_train[:n].tolist())):
            (root / str(c)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(a).save(root / str(c) / f"{i:06d}.png")
        args = ["--dataset", str(root), "--model", model, "--epochs", str(epochs)]
        for mode in ("memory", "stream"):
            ips = _cli_train([*args, "--data-mode", mode], 1, Path(tmp) / mode, None)
            rows.append([mode, f"{ips:,.0f}"])
    mem = float(rows[0][1].replace(",", ""))
    for r in rows:
        r.append(f"{float(r[1].replace(',', '')) / mem:.2f}x")
    return rows


def table(head, rows) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="cnn")
    p.add_argument("--n", type=int, default=12000, help="training images")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--skip", nargs="*", default=(), choices=("overhead", "processes", "data"))
    a = p.parse_args()
    set_quiet(True)
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}"
    )
    print(f"Load average before: {os.getloadavg()}\n")
    if "overhead" not in a.skip:
        print(
            f"## Trainer vs a plain loop ({a.model}, {a.n} images, batch 128, best of {a.rounds})\n"
        )
        print(
            table(["loop", "images/s", "epoch", "vs plain"], overhead(a.model, a.n, 128, a.rounds))
        )
    if "processes" not in a.skip:
        print(f"\n## 1 vs 2 processes ({a.model}, {a.n} images, {a.epochs} epochs, best epoch)\n")
        print(
            table(
                ["processes", "threads", "images/s", "speed-up"], processes(a.model, a.n, a.epochs)
            )
        )
    if "data" not in a.skip:
        print(f"\n## In memory vs streamed PNG folder ({a.model}, {a.n} images, best epoch)\n")
        print(table(["data mode", "images/s", "vs memory"], data_paths(a.model, a.n, a.epochs)))
    print(f"\nLoad average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
