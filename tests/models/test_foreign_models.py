"""Models trained elsewhere give the right answer.

``foreign_train.py`` trains small classifiers on sklearn's digits in plain PyTorch, in its own
process (energy_ood is never imported there), each with a stated input convention, and saves
them as a ``torch.export`` program (RGB in [0, 1]), a TorchScript file (``(x - 0.5) / 0.25``)
and a torchvision resnet18 state dict (torchvision's own recipe). For each: the logits the
command line extracts equal a plain forward of the same files under that convention (1e-5),
the ID accuracy ``evaluate`` reports equals the plain one, and a deliberately wrong
``--normalize`` trips the ID-accuracy gate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from energy_ood.cli.main import main

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import foreign_train as ft  # noqa: E402  (plain PyTorch: what the outside code does)

KINDS = {  # kind: (model args of the command line, --normalize that states the convention)
    "export": (["--model", "model.pt2"], None),
    "torchscript": (["--model", "model.ts"], "0.5,0.5,0.5,0.25,0.25,0.25"),
    "torchvision": (["--model", "torchvision:resnet18", "--checkpoint", "resnet18.pt",
                     "--input-size", "32"], None),
}  # fmt: skip
WRONG = "127.5,58"  # statistics in pixel units (0..255) given for [0, 1] images: a classic


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """sklearn's digits as 24x24 RGB PNGs: train/ (600) and test/ (297) class folders."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("foreign")
    d = load_digits()
    for split, sl in (("train", slice(0, 600)), ("test", slice(1500, 1797))):
        for i, (a, c) in enumerate(zip(d.images[sl], d.target[sl])):
            im = np.rint(a * (255 / 16)).astype(np.uint8).repeat(3, 0).repeat(3, 1)
            p = root / "digits" / split / f"c{c}"
            p.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.stack([im] * 3, -1)).save(p / f"{i:04d}.png")
    return root


def _startup_modules(env: dict) -> str:
    """The energy_ood modules a bare interpreter of this environment has loaded: its startup
    hook (energy_ood._tvcompat, from a .pth line) and what importing the package brings."""
    script = "import sys; print(sorted(m for m in sys.modules if m.startswith('energy_ood.')))"
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip()


def _train(root: Path, *kinds: str) -> None:
    """Run foreign_train.py in a fresh process and check that it used no energy_ood code (the
    environment's startup hook, energy_ood._tvcompat, is all that may be loaded there)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}
    script = (
        "import runpy, sys; "
        f"sys.argv = ['foreign_train.py', {str(root / 'digits')!r}, {str(root)!r}, *{kinds!r}]; "
        f"runpy.run_path({str(HERE / 'foreign_train.py')!r}, run_name='__main__'); "
        "used = [m for m in sys.modules if m.startswith('energy_ood.') and m not in "
        f"{_startup_modules(env)}]; "
        "assert not used, used"
    )
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.fixture(scope="module")
def programs(digits):
    _train(digits, "export", "torchscript")
    return digits


def _plain_logits(root: Path, kind: str):
    """Logits and labels of the test images by the outside code's own forward pass."""
    x8, y, _ = ft.read_folder(root / "digits" / "test")
    x = ft.CONVENTIONS[kind](x8)
    if kind == "export":
        model = torch.export.load(str(root / "model.pt2")).module()
    elif kind == "torchscript":
        model = torch.jit.load(str(root / "model.ts"))
    else:
        import torchvision

        model = torchvision.models.resnet18(num_classes=10)
        model.load_state_dict(torch.load(root / "resnet18.pt", weights_only=True))
        model.eval()
    with torch.no_grad():
        return model(x).numpy(), y.numpy()


def _check(root: Path, kind: str, tmp_path: Path, capsys) -> None:
    args, norm = KINDS[kind]
    args = [str(root / a) if a.startswith(("model.", "resnet")) else a for a in args]
    src = [*args, "--dataset", str(root / "digits"), "--device", "cpu"]
    src += [] if norm is None else ["--normalize", norm]
    plain, y = _plain_logits(root, kind)
    out = tmp_path / f"{kind}.npz"
    assert main(["--quiet", "extract", *src, "--set", "id=test", "--out", str(out)]) == 0
    z = np.load(out)
    assert np.array_equal(z["id/labels"], y)
    np.testing.assert_allclose(z["id/logits"], plain, rtol=0, atol=1e-5)
    acc = float((plain.argmax(1) == y).mean())
    assert acc > 0.6, f"{kind}: the outside model itself is at {acc:.2f}"
    js = tmp_path / f"{kind}_evaluate.json"
    argv = ["--quiet", "evaluate", *src, "--ood-set", "uniform", "--json", str(js)]
    assert main(argv) == 0
    res = json.loads(js.read_text())
    assert res["warning"] is None and res["id_accuracy_gate"]["passed"]
    assert res["id_accuracy_gate"]["accuracy"] == acc  # the same count
    assert 1 - res["id_test_error"] == pytest.approx(acc, abs=1e-12)
    assert "WARNING" not in capsys.readouterr().err
    # a deliberately wrong normalisation: the gate trips (a warning; exit 2 with --strict)
    wrong = [a for a in src if a != norm]
    wrong = [*(wrong[:-1] if wrong[-1] == "--normalize" else wrong), "--normalize", WRONG]
    assert main(["--quiet", "evaluate", *wrong, "--ood-set", "uniform", "--strict"]) == 2
    err = capsys.readouterr().err
    assert "ID accuracy" in err and "--normalize; now: given" in err


@pytest.mark.parametrize("kind", ["export", "torchscript"])
def test_program_files(programs, kind, tmp_path, capsys):
    _check(programs, kind, tmp_path, capsys)


def test_a_program_loads_quietly(programs, capsys):
    """Loading a program prints nothing of torch's own (its warnings are ours or none)."""
    pt2, ts = str(programs / "model.pt2"), str(programs / "model.ts")
    r = subprocess.run(
        [sys.executable, "-c", "from energy_ood.models import load_model; "
         f"load_model({pt2!r}); load_model({ts!r})"],
        env={**os.environ, "PYTHONPATH": str(HERE.parents[1] / "src")},
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.slow
def test_torchvision_state_dict(digits, tmp_path, capsys):
    pytest.importorskip("torchvision")
    _train(digits, "torchvision")
    _check(digits, "torchvision", tmp_path, capsys)
