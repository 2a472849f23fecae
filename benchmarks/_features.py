"""Real penultimate features for the KNN benchmark, and the run folder the scale benchmark uses:
``energy-ood train --dataset fashion-mnist --model cnn --epochs 1``, then ``energy-ood extract``
of its training split (the KNN bank, 54k x 128), its test split (ID queries) and MNIST's test
set (OOD queries) into ``OUT/knn_feats.npz``. Prints ``{"real": ..., "run": ..., ...}``.

Fashion-MNIST comes from ``--data-root`` or the Debian package ``dataset-fashion-mnist``
(``/usr/share/datasets/fashion-mnist``); MNIST's test set from ``--data-root`` (the project's
shared data folder holds ``mnist-test``). Without them the script exits 3 and says what is
missing (the runner then skips the real-feature rows).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def cli(argv: list[str]) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    p = subprocess.run([sys.executable, "-m", "energy_ood", "--quiet", *argv], env=env,
                       capture_output=True, text=True)  # fmt: skip
    if p.returncode != 0:
        raise SystemExit(f"energy-ood {argv[0]} failed: {p.stderr.strip()[-2000:]}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="a folder (made; reused when complete)")
    p.add_argument("--data-root", default=os.environ.get("ENERGY_OOD_DATA_ROOT"))
    p.add_argument("--json", help="also write the result here")
    a = p.parse_args()
    out = Path(a.out)
    feats, run = out / "knn_feats.npz", out / "run"
    root = ["--data-root", a.data_root] if a.data_root else []
    have_fm = DEBIAN.exists() or (a.data_root and any(Path(a.data_root).glob("*fashion*")))
    if not have_fm:
        print(f"Fashion-MNIST not found ({DEBIAN} or --data-root)", file=sys.stderr)
        sys.exit(3)
    t0 = time.perf_counter()
    if not (run / "checkpoint.pt").exists():
        cli(["train", "--dataset", "fashion-mnist", "--model", "cnn", "--epochs", "1",
             "--out", str(run), *root])  # fmt: skip
    if not feats.exists():
        sets = ["--set", "id=train", "--set", "test=test", "--set", "mnist"]
        cli(["extract", "--run-dir", str(run), *sets, "--out", str(feats), *root])
    res = {"real": str(feats), "run": str(run), "seconds": time.perf_counter() - t0,
           "source": "energy-ood train --dataset fashion-mnist --model cnn --epochs 1; extract "
           "id=train (bank), test (ID queries), mnist (OOD queries)"}  # fmt: skip
    md = f"Real KNN features: {res['source']} ({res['seconds']:.0f} s, once per machine)."
    if a.json:
        Path(a.json).write_text(json.dumps({"results": res, "markdown": md, "figures": []}))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
