"""Scale without memory growth: ``energy-ood extract`` and ``evaluate`` on a streamed folder of
generated images, peak memory at two sizes, throughput against a bare PIL decode loop.

1. ``--sizes 10000,100000`` (default) grey 28 x 28 PNGs are generated into a temporary folder
   (seeded blobs on noise, one file per image; the smaller set is the first files of the
   larger, hard-linked), deleted at the end.
2. ``bare PIL``: ``Image.open(f).convert("L")`` + ``np.asarray`` over the same files, one
   process: the decode floor of one core.
3. ``extract``: ``energy-ood extract --run-dir RUN --set big=FOLDER --out DIR --data-mode
   stream`` (outputs written chunk by chunk into a folder of .npy files).
4. ``evaluate``: ``energy-ood evaluate --run-dir RUN --ood big=FOLDER --score
   energy,mahalanobis,knn --data-mode stream`` (the run's ID test set against the folder).

Each command runs in a fresh process that reports its own peak resident memory (``VmHWM``;
its DataLoader workers are forked copies and not counted). Throughput is marginal: the extra
images of the larger folder over the extra seconds, so start-up and the run's own data
loading drop out. RUN is a run folder; without
``--run-dir`` one is trained first (``energy-ood train --dataset fashion-mnist --model cnn
--epochs 1``, about 15 s on 2 quiet cores; its time is not part of any figure).

    python benchmarks/bench_scale.py --sizes 10000,100000 --json out.json
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
SIDE = 28
SCORES = "energy,mahalanobis,knn"


def generate(folder: Path, n: int, seed: int = 0) -> None:
    """``n`` seeded grey PNGs: Gaussian noise plus a few bright discs (about 1 KB each)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIDE, :SIDE]
    for i in range(n):
        img = rng.normal(60, 25, (SIDE, SIDE))
        for _ in range(3):
            cy, cx, r = rng.uniform(4, SIDE - 4, 2).tolist() + [rng.uniform(2, 7)]
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] += rng.uniform(80, 180)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"{i:07d}.png")


def subset(big: Path, folder: Path, n: int) -> None:
    """The first ``n`` files of ``big``, hard-linked into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in sorted(big.iterdir())[:n]:
        os.link(f, folder / f.name)


def pil_loop(folder: Path) -> dict:
    from PIL import Image

    files = sorted(folder.iterdir())
    t0 = time.perf_counter()
    total = 0
    for f in files:
        with Image.open(f) as im:
            total += int(np.asarray(im.convert("L"))[0, 0])
    dt = time.perf_counter() - t0
    return {"seconds": dt, "images_per_s": len(files) / dt}


_WRAPPER = """
import sys, time
from energy_ood.cli.main import main
t0 = time.perf_counter()
rc = main(sys.argv[1:])
dt = time.perf_counter() - t0
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print("@@", rc, dt, int(hwm) / 1024, flush=True)
"""


def run_cli(argv: list[str], threads: int | None) -> dict:
    """One energy-ood command in a fresh process: wall time inside it, its peak RSS (MB)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    if threads:
        argv = [*argv, "--threads", str(threads)]
    p = subprocess.run(
        [sys.executable, "-c", _WRAPPER, "--quiet", *argv], capture_output=True, text=True, env=env
    )
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("@@")]
    if p.returncode != 0 or not lines or lines[-1].split()[1] != "0":
        raise RuntimeError(f"{' '.join(argv[:2])} failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    _, _, dt, hwm = lines[-1].split()
    return {"seconds": float(dt), "peak_rss_mb": float(hwm)}


def train_run(out: Path, threads: int | None) -> Path:
    run = out / "run"
    run_cli(
        [
            "train",
            "--dataset",
            "fashion-mnist",
            "--model",
            "cnn",
            "--epochs",
            "1",
            "--out",
            str(run),
        ],
        threads,
    )
    return run


def measure(run: Path, folder: Path, n: int, work: Path, threads: int | None) -> dict:
    ex = run_cli(
        [
            "extract",
            "--run-dir",
            str(run),
            "--set",
            f"big={folder}",
            "--out",
            str(work / f"feats{n}"),
            "--data-mode",
            "stream",
        ],
        threads,
    )
    ev = run_cli(
        [
            "evaluate",
            "--run-dir",
            str(run),
            "--ood",
            f"big={folder}",
            "--score",
            SCORES,
            "--data-mode",
            "stream",
            "--json",
            str(work / f"eval{n}.json"),
        ],
        threads,
    )
    return {"n": n, "pil": pil_loop(folder), "extract": ex, "evaluate": ev}


def derived(rows: list[dict]) -> dict:
    """Marginal images/s and peak-RSS growth between the smallest and the largest folder."""
    a, b = rows[0], rows[-1]
    dn = b["n"] - a["n"]
    out = {}
    for k in ("pil", "extract", "evaluate"):
        dt = b[k]["seconds"] - a[k]["seconds"]
        out[k] = {"images_per_s": dn / dt if dt > 0 else None}
        if k != "pil":
            out[k]["rss_growth_mb"] = b[k]["peak_rss_mb"] - a[k]["peak_rss_mb"]
    return out


def report(res: dict) -> str:
    rows, d = res["rows"], res["derived"]
    import _baselines as B

    out = ["### Scale: extract and evaluate on a streamed folder of generated PNGs", ""]
    out.append(f"Machine: {B.machine()}  ")
    out.append(f"Command: `{B.command_line()}`  ")
    out.append(f"{res['sizes'][-1]} 28x28 grey PNGs generated in {res['generate_s']:.0f} s; "
               f"scorers {res['scores']}; load average {res['load_before']} before, "
               f"{res['load_after']} after.")  # fmt: skip
    out += ["", "| images | bare PIL decode | extract | extract peak RSS | evaluate | "
            "evaluate peak RSS |", "|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        ex, ev = r["extract"], r["evaluate"]
        out.append(f"| {r['n']:,} | {B.fmt_s(r['pil']['seconds'])} | "
                   f"{B.fmt_s(ex['seconds'])} | {ex['peak_rss_mb']:.0f} MB | "
                   f"{B.fmt_s(ev['seconds'])} | {ev['peak_rss_mb']:.0f} MB |")  # fmt: skip
    pil = d["pil"]["images_per_s"] or float("nan")
    out.append("")
    for k in ("extract", "evaluate"):
        ips = d[k]["images_per_s"] or float("nan")
        out.append(f"- {k}: {ips:,.0f} images/s over the extra {rows[-1]['n'] - rows[0]['n']:,} "
                   f"images ({ips / pil:.2f}x the bare PIL loop's {pil:,.0f}/s); peak RSS "
                   f"{d[k]['rss_growth_mb']:+.0f} MB from {rows[0]['n']:,} to {rows[-1]['n']:,} "
                   "images")  # fmt: skip
    return "\n".join(out)


def figures(res: dict) -> list[dict]:
    import _baselines as B

    d, out = res["derived"], []
    for k, v in d.items():
        out.append(B.figure(f"scale/{k}/images_per_s", v["images_per_s"], "img/s", f"{k} images/s"))
        if "rss_growth_mb" in v:
            out.append(B.figure(f"scale/{k}/rss_growth", v["rss_growth_mb"], "MB",
                                f"{k} peak RSS growth, smallest to largest folder"))  # fmt: skip
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10000,100000", help="image counts (the largest generated)")
    p.add_argument("--run-dir", help="a run folder (default: train a small one first)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--workdir", help="where the temporary folder goes (default: system temp)")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args(argv)
    sizes = sorted(int(float(s)) for s in a.sizes.split(","))
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="eood-scale-", dir=a.workdir) as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        generate(work / f"img{sizes[-1]}", sizes[-1])
        gen_s = time.perf_counter() - t0
        for n in sizes[:-1]:
            subset(work / f"img{sizes[-1]}", work / f"img{n}", n)
        run = Path(a.run_dir) if a.run_dir else train_run(work, a.threads)
        rows = [measure(run, work / f"img{n}", n, work, a.threads) for n in sizes]
    out = {
        "sizes": sizes,
        "rows": rows,
        "generate_s": gen_s,
        "scores": SCORES,
        "load_before": " ".join(f"{x:.2f}" for x in load0),
        "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    out["derived"] = derived(rows)
    md = report(out)
    print(md)
    if a.json:
        import _baselines as B

        B.write_json(a.json, out, md, figures(out))


if __name__ == "__main__":
    main()
