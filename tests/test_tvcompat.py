"""The torchvision ops shim: a plain ``import torchvision`` / ``import timm`` in a venv with the
.pth hook, true op schemas, the pure-torch ``nms`` kernel, and nothing done when torchvision's
own ops load."""

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import energy_ood
from energy_ood import _tvcompat

SRC = Path(energy_ood.__file__).resolve().parents[1]
HAS_TV = importlib.util.find_spec("torchvision") is not None
HAS_TIMM = importlib.util.find_spec("timm") is not None


def _python(code: str, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.mark.skipif(not (HAS_TV and HAS_TIMM), reason="extras [torchvision] and [timm] needed")
def test_plain_imports_with_the_pth_hook(tmp_path):
    """What scripts/setup.sh sets up: the .pth in site-packages, then plain imports that do not
    mention energy_ood; torchvision and timm models build and run a batch."""
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    pth = Path(_tvcompat.install_pth(str(site_dir)))
    assert pth.name == "energy_ood_tvcompat.pth"
    r = _python(
        f"import site; site.addsitedir({str(site_dir)!r})\n"
        "import sys\n"
        "assert 'torch' not in sys.modules  # the hook imports nothing heavy at start\n"
        "import torch, torchvision, timm\n"
        "from energy_ood._tvcompat import defined_ops\n"
        "x = torch.rand(2, 3, 32, 32)\n"
        "a = torchvision.models.resnet18(num_classes=10).eval()(x)\n"
        "b = timm.create_model('vit_tiny_patch16_224', img_size=32, num_classes=10).eval()(x)\n"
        "print(__import__('json').dumps({'has_ops': torchvision.extension._has_ops(),\n"
        "    'defined': list(defined_ops()), 'shapes': [list(a.shape), list(b.shape)],\n"
        "    'nms': torch.ops.torchvision.nms(torch.tensor([[0., 0, 10, 10], [1, 1, 10, 10]]),\n"
        "                                     torch.tensor([0.5, 0.9]), 0.5).tolist()}))\n"
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["shapes"] == [[2, 10], [2, 10]]
    assert out["nms"] == [1]  # the second box has the higher score and covers the first
    # only when torchvision's own ops failed to load
    assert bool(out["defined"]) != out["has_ops"]
    if out["defined"]:
        assert sorted(out["defined"]) == sorted(s.split("(")[0] for s in _tvcompat.SCHEMAS["0.28"])
        # without the hook (dropped, should a .pth in site-packages have installed it), this
        # torchvision does not import at all
        bare = _python(
            "import sys\n"
            "sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != '_Finder']\n"
            "import torchvision\n"
        )
        assert bare.returncode != 0 and "torchvision::nms does not exist" in bare.stderr


def _args(schema: str) -> list[str]:
    inner = schema.split("(", 1)[1].rsplit(") ->", 1)[0]
    return [a.strip().split()[-1] for a in inner.split(",")]


@pytest.mark.skipif(not HAS_TV, reason="extra [torchvision] needed")
def test_schemas_are_the_installed_torchvision_ones():
    """Each declared op is one the installed _C.so defines, with the argument names and types
    its compiled schema strings hold and the arity torchvision's own Python code expects."""
    spec = importlib.util.find_spec("torchvision")
    root = Path(spec.origin).parent
    version = re.search(r"__version__ = '([\d.]+)", (root / "version.py").read_text())
    key = ".".join(version.group(1).split(".")[:2]) if version else ""
    if key not in _tvcompat.SCHEMAS:
        pytest.skip(f"torchvision {key} is not one the shim knows")
    schemas = {s.split("(")[0]: s for s in _tvcompat.SCHEMAS[key]}
    lib = (root / "_C.so").read_bytes()
    assert set(schemas) == {m.decode() for m in re.findall(rb"torchvision::(\w+)", lib)}
    for name, s in schemas.items():
        inner = s.split("(", 1)[1].rsplit(") ->", 1)[0]
        for arg in inner.split(", "):  # "SymInt pooled_height", "float spatial_scale", ...
            assert arg.encode() in lib, (name, arg)
    # the meta kernels torchvision registers for these ops take as many arguments
    tree = ast.parse((root / "_meta_registrations.py").read_text())
    checked = 0
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        for dec in fn.decorator_list:
            first = dec.args[0] if isinstance(dec, ast.Call) and dec.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                op = first.value.replace("torchvision::", "")
                if op in schemas:
                    assert len(fn.args.args) == len(_args(schemas[op])), op
                    checked += 1
    assert checked >= 10


def _nms_reference(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep: list[int] = []
    for i in order:
        ok = True
        for j in keep:
            xx1, yy1 = max(boxes[i, 0], boxes[j, 0]), max(boxes[i, 1], boxes[j, 1])
            xx2, yy2 = min(boxes[i, 2], boxes[j, 2]), min(boxes[i, 3], boxes[j, 3])
            inter = max(0.0, xx2 - xx1) * max(0.0, yy2 - yy1)
            area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
            if inter / (area(boxes[i]) + area(boxes[j]) - inter) > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


@pytest.mark.parametrize("thr", [0.0, 0.3, 0.7])
def test_nms_kernel_matches_greedy_reference(thr):
    rng = np.random.default_rng(int(thr * 10))
    xy = rng.uniform(0, 50, (60, 2))
    boxes = np.c_[xy, xy + rng.uniform(1, 20, (60, 2))].astype(np.float32)
    scores = rng.permutation(60).astype(np.float32)  # distinct scores: one right answer
    got = _tvcompat.nms_cpu(torch.from_numpy(boxes), torch.from_numpy(scores), thr)
    assert got.dtype == torch.long
    assert got.tolist() == _nms_reference(boxes.astype(np.float64), scores, thr)
    assert _tvcompat.nms_cpu(torch.zeros(0, 4), torch.zeros(0), 0.5).tolist() == []


@pytest.mark.skipif(not HAS_TV, reason="extra [torchvision] needed")
def test_nms_kernel_matches_torchvision_where_its_ops_load():
    """On a machine where torchvision's compiled ops load (a matching build), the shim stays
    out of the way and its nms agrees with torchvision's own kernel."""
    import torchvision

    if not torchvision.extension._has_ops():
        pytest.skip("torchvision's compiled ops do not load here")
    assert _tvcompat.defined_ops() == ()
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(300, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 1 + torch.rand(300, 2, generator=g) * 30], 1)
    scores = torch.randperm(300, generator=g).float()
    for thr in (0.1, 0.5, 0.9):
        want = torchvision.ops.nms(boxes, scores, thr)
        assert torch.equal(_tvcompat.nms_cpu(boxes, scores, thr), want)


def test_hook_leaves_working_or_unknown_torchvision_alone():
    """With ops that loaded, or a version it does not know, the hook defines nothing."""
    code = (
        "import sys, types\n"
        "from energy_ood import _tvcompat as t\n"
        "ext = types.ModuleType('torchvision.extension'); ext._has_ops = lambda: True\n"
        "sys.modules['torchvision.extension'] = ext\n"
        "t._define_missing_ops(); a = (t.defined_ops(), t._state['lib'])\n"
        "ext._has_ops = lambda: False\n"
        "ver = types.ModuleType('torchvision.version'); ver.__version__ = '0.99.0'\n"
        "sys.modules['torchvision'] = types.ModuleType('torchvision')\n"
        "sys.modules['torchvision.version'] = ver\n"
        "t._define_missing_ops(); b = (t.defined_ops(), t._state['lib'])\n"
        "print(a == ((), None), b == ((), None))\n"
    )
    r = _python(code, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["True", "True"]


def test_hook_is_installed_once():
    before = sum(isinstance(f, _tvcompat._Finder) for f in sys.meta_path)
    _tvcompat.install_hook()
    _tvcompat.install_hook()
    assert before == 1 and sum(isinstance(f, _tvcompat._Finder) for f in sys.meta_path) == 1
