"""Issue 18 from the command line: image files that cannot be used, FIFOs and bombs given to
train, evaluate, extract, detect, finetune and vlm. A refusal is exit 2 and one line on stderr
naming the file and the problem (DataLoader workers on: ENERGY_OOD_WORKERS=2); under
``--bad-images skip`` the command finishes, counts what it skipped on stderr and lists each
file with its reason in its outputs."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from energy_ood.cli.main import main

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("ENERGY_OOD_WORKERS", "2")
    monkeypatch.setenv("ENERGY_OOD_CACHE", str(tmp_path / "cache"))
    old = signal.signal(signal.SIGALRM, lambda *a: pytest.fail("hung on a hostile input"))
    signal.alarm(240)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def png(a) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """120 scikit-learn digits as 8x8 PNGs in class folders, a run trained on them, and an OOD
    folder of 12 images; one truncated PNG ("bad") is added by the tests that need it."""
    root = tmp_path_factory.mktemp("readers")
    d = load_digits()
    x = np.rint(d.images[:120] * (255 / 16)).astype(np.uint8)
    for i, (a, c) in enumerate(zip(x, d.target[:120])):
        (root / "id" / f"c{c}").mkdir(parents=True, exist_ok=True)
        (root / "id" / f"c{c}" / f"{i:03d}.png").write_bytes(png(a))
    (root / "ood").mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        (root / "ood" / f"{i:02d}.png").write_bytes(png(rng.integers(0, 255, (8, 8), np.uint8)))
    train = ["--quiet", "train", "--dataset", str(root / "id"), "--epochs", "1"]
    assert main([*train, "--batch-size", "32", "--out", str(root / "run")]) == 0
    return root


TRUNCATED = png(np.arange(64, dtype=np.uint8).reshape(8, 8))[:40]


def spoilt(src: Path, dst: Path, name: str) -> Path:
    """A copy of the folder ``src`` with a truncated PNG at ``name``."""
    import shutil

    shutil.copytree(src, dst)
    (dst / name).write_bytes(TRUNCATED)
    return dst


def one_line(capsys, *words) -> str:
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.strip()]
    assert len(err) == 1, err
    assert all(w in err[0] for w in words), err[0]
    assert "Traceback" not in err[0] and "worker process" not in err[0]
    return err[0]


@pytest.mark.parametrize("mode", ["memory", "stream"])
def test_train_on_a_folder_with_a_bad_image(digits, tmp_path, capsys, mode):
    data = spoilt(digits / "id", tmp_path / "id", "c3/bad.png")
    argv = ["--quiet", "train", "--dataset", str(data), "--epochs", "1", "--data-mode", mode]
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    one_line(capsys, "energy-ood train: error:", "c3/bad.png", "damaged or truncated PNG")


def test_evaluate_extract_detect_with_a_bad_ood_image(digits, tmp_path, capsys):
    ood = spoilt(digits / "ood", tmp_path / "ood", "05x.png")
    run = str(digits / "run")
    capsys.readouterr()
    assert main(["--quiet", "evaluate", "--run-dir", run, "--ood", f"mine={ood}"]) == 2
    one_line(capsys, "energy-ood evaluate: error:", "05x.png", "truncated PNG")
    argv = ["--quiet", "extract", "--run-dir", run, "--set", f"mine={ood}"]
    assert main([*argv, "--out", str(tmp_path / "f.npz")]) == 2
    one_line(capsys, "energy-ood extract: error:", "05x.png")
    det = str(tmp_path / "det")
    assert main(["--quiet", "detect", "fit", "--run-dir", run, "--out", det]) == 0
    capsys.readouterr()
    assert main(["--quiet", "detect", "predict", "--detector", f"{det}.json",
                 "--input", str(ood)]) == 2  # fmt: skip
    one_line(capsys, "energy-ood detect: error:", "05x.png")


def test_skip_trains_and_lists_the_skipped_files(digits, tmp_path, capsys):
    data = spoilt(digits / "id", tmp_path / "id", "c3/bad.png")
    out = tmp_path / "run"
    argv = ["--quiet", "train", "--dataset", str(data), "--epochs", "1", "--bad-images", "skip"]
    capsys.readouterr()
    assert main([*argv, "--data-mode", "stream", "--out", str(out)]) == 0
    warn = capsys.readouterr().err
    assert "warning: 1 image file(s) could not be used and were skipped" in warn
    run = json.loads((out / "run.json").read_text())
    rec = run["data"]["skipped_images"]
    assert [Path(r["file"]).name for r in rec] == ["bad.png"] and "PNG" in rec[0]["reason"]
    assert (
        run["skipped_images"] == rec
        and run["data"]["n_train"] + run["data"]["n_val"] + run["data"]["n_test"] == 120
    )
    # the run's split is rebuilt skipping the same file, without being asked again
    rep = tmp_path / "rep"
    argv = ["--quiet", "evaluate", "--run-dir", str(out), "--ood-set", "gaussian"]
    assert main([*argv, "--report", str(rep), "--json", str(tmp_path / "e.json")]) == 0
    res = json.loads((rep / "results.json").read_text())
    assert [Path(r["file"]).name for r in res["skipped_images"]] == ["bad.png"]
    assert json.loads((tmp_path / "e.json").read_text())["skipped_images"] == res["skipped_images"]
    assert "Image files skipped" in (rep / "report.md").read_text()
    # another image that breaks since: the split cannot be rebuilt, and this is said
    (data / "c5" / next(p.name for p in (data / "c5").iterdir())).write_bytes(b"")
    capsys.readouterr()
    assert main(argv) == 2
    one_line(capsys, str(out), "the image files left out differ from training's")


def test_skip_for_ood_sets_in_evaluate_extract_and_detect(digits, tmp_path, capsys):
    ood = spoilt(digits / "ood", tmp_path / "ood", "05x.png")
    run, skip = str(digits / "run"), ["--bad-images", "skip"]
    capsys.readouterr()
    argv = ["--quiet", "evaluate", "--run-dir", run, "--ood", f"mine={ood}", *skip]
    assert main([*argv, "--json", str(tmp_path / "e.json")]) == 0
    res = json.loads((tmp_path / "e.json").read_text())
    assert [Path(r["file"]).name for r in res["skipped_images"]] == ["05x.png"]
    assert "1 image file(s) could not be used" in capsys.readouterr().err
    argv = ["--quiet", "extract", "--run-dir", run, "--set", f"mine={ood}", *skip]
    assert main([*argv, "--out", str(tmp_path / "f.npz")]) == 0
    meta = json.loads((tmp_path / "f.json").read_text())
    assert meta["sets"]["mine"]["n"] == 12 and len(meta["skipped_images"]) == 1
    det = str(tmp_path / "det")
    assert main(["--quiet", "detect", "fit", "--run-dir", run, "--out", det]) == 0
    pred = ["--quiet", "detect", "predict", "--detector", f"{det}.json", "--input", str(ood)]
    assert main([*pred, *skip, "--csv", str(tmp_path / "p.csv"),
                 "--json", str(tmp_path / "p.json")]) == 0  # fmt: skip
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    # 05x.png sorts sixth (00..05, 05x, 06..): rows keep the positions of the images read
    assert [int(r["index"]) for r in rows] == [i for i in range(13) if i != 6]
    assert json.loads((tmp_path / "p.json").read_text())["skipped_images"][0]["file"].endswith(
        "05x.png"
    )


# --- paths that could hang or allocate without bound -------------------------------------------


def test_fifos_given_as_paths(digits, tmp_path, capsys):
    for name in ("d.tar", "l.txt", "h.npz", "a.tar"):
        os.mkfifo(tmp_path / name)
    run = str(digits / "run")
    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(40, 10)).astype("f4"))
    cases = [
        (["train", "--dataset", str(tmp_path / "d.tar"), "--out", str(tmp_path / "r1")],
         "d.tar: a FIFO (named pipe), expected a regular tar shard"),
        (["train", "--dataset", str(tmp_path / "l.txt"), "--out", str(tmp_path / "r2")],
         "l.txt: a FIFO (named pipe), expected a regular file list"),
        (["evaluate", "--run-dir", run, "--ood", f"x={tmp_path / 'd.tar'}"], "d.tar: a FIFO"),
        (["detect", "fit", "--val", str(tmp_path / "v.npy"), "--score", "react", "--fit",
          str(tmp_path / "v.npy"), "--head", str(tmp_path / "h.npz"), "--out",
          str(tmp_path / "det")], "h.npz: a FIFO (named pipe), expected a regular head file"),
        (["finetune", "--from", run, "--method", "oe", "--aux", str(tmp_path / "a.tar"), "--out",
          str(tmp_path / "ft")], "a.tar: a FIFO (named pipe), expected a regular tar shard"),
    ]  # fmt: skip
    for argv, words in cases:
        capsys.readouterr()
        assert main(["--quiet", *argv]) == 2, argv
        one_line(capsys, words)


def test_head_npz_bomb_is_refused_before_it_is_inflated(tmp_path, capsys):
    """3 MB of deflated zeros would be 3 GB: refused from the member's sizes (ratio limit)."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "v.npy", rng.normal(size=(40, 4)).astype("f4"))
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (4, 1 << 20)}
    )
    with zipfile.ZipFile(tmp_path / "h.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("weight.npy", buf.getvalue() + bytes(16 << 20))
    argv = ["--quiet", "detect", "fit", "--val", str(tmp_path / "v.npy"), "--score", "react"]
    argv += ["--fit", str(tmp_path / "v.npy"), "--head", str(tmp_path / "h.npz")]
    assert main([*argv, "--out", str(tmp_path / "det")]) == 2
    one_line(capsys, "h.npz:weight: declares 16 MiB from", "above the 1000x ratio limit")


def _limited(code: str, limit_gib: float) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter whose address space is capped (ulimit -v) once torch is
    imported: a read that asks for more than that fails."""
    prelude = (
        "import resource, sys, torch, energy_ood.cli.main as m\n"
        "vm = int(open('/proc/self/status').read().split('VmSize:')[1].split()[0]) * 1024\n"
        f"lim = vm + int({limit_gib} * 2**30)\n"
        "resource.setrlimit(resource.RLIMIT_AS, (lim, lim))\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", prelude + code], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_a_small_detector_loads_under_a_memory_limit(tmp_path):
    """Reads are sized by the file, not by the 16 GiB ceiling: a 1 KB detector and its input
    load with 1 GiB of address space to spare."""
    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(40, 10)).astype("f4"))
    assert main(["--quiet", "detect", "fit", "--val", str(tmp_path / "v.npy"),
                 "--out", str(tmp_path / "det")]) == 0  # fmt: skip
    assert (tmp_path / "det.json").stat().st_size < 4096
    argv = ["--quiet", "detect", "predict", "--detector", str(tmp_path / "det.json"), "--input",
            str(tmp_path / "v.npy"), "--csv", str(tmp_path / "p.csv")]  # fmt: skip
    r = _limited(f"sys.exit(m.main({argv!r}))", 1.0)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(list(csv.DictReader(open(tmp_path / "p.csv")))) == 40


def test_an_npz_bomb_under_a_memory_limit_is_one_line(tmp_path):
    """A member that declares 3.5 GB (from 4 MB: under the ratio limit and the ceiling) cannot be
    allocated under a 1 GiB limit: one line, exit 2, no MemoryError traceback."""
    buf = io.BytesIO()
    n = 875 << 20  # float32 items: 3.5 GB
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False,
                                               "shape": (n,)})  # fmt: skip
    p = tmp_path / "bomb.npz"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as z:
        z.writestr("logits.npy", buf.getvalue() + os.urandom(4 << 20))
    raw = bytearray(p.read_bytes())
    size = len(buf.getvalue()) + (4 << 20)
    fake = (4 * n + len(buf.getvalue())).to_bytes(4, "little")
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local, central: file size
        at = raw.find(sig)
        assert int.from_bytes(raw[at + off : at + off + 4], "little") == size
        raw[at + off : at + off + 4] = fake
    p.write_bytes(bytes(raw))
    np.save(tmp_path / "o.npy", np.zeros((5, 3), np.float32))
    argv = ["--quiet", "evaluate", "--id", str(p), "--ood", f"o={tmp_path / 'o.npy'}"]
    r = _limited(f"sys.exit(m.main({argv!r}))", 1.0)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 1, r.stderr[-2000:]
    assert "bomb.npz:logits: needs 3.42 GiB, more than this process can allocate" in err[0]


# --- vlm score --images --------------------------------------------------------------------


def test_vlm_images_folder_stays_inside_and_never_blocks(tmp_path, capsys):
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    (d / "a.png").write_bytes(png(np.zeros((8, 8, 3), np.uint8)))
    os.symlink("/etc/hostname", d / "sub" / "b.png")
    argv = ["vlm", "score", "--classes", "a,b", "--encoder", "openclip", "--images", str(d)]
    assert main(argv) == 2
    one_line(capsys, "b.png: a symbolic link leading outside", "/etc/hostname")
    os.remove(d / "sub" / "b.png")
    os.mkfifo(d / "sub" / "c.jpg")
    assert main(argv) == 2
    one_line(capsys, "c.jpg: a FIFO (named pipe), expected a regular image file")


def test_vlm_images_keep_the_pixel_cap(tmp_path, monkeypatch):
    from energy_ood._validate import InputError
    from energy_ood.vlm.preprocess import preprocess_image

    (tmp_path / "big.png").write_bytes(png(np.zeros((100, 100, 3), np.uint8)))
    (tmp_path / "line.png").write_bytes(png(np.zeros((1, 3000, 3), np.uint8)))
    monkeypatch.setenv("ENERGY_OOD_MAX_PIXELS", "5000")
    with pytest.raises(InputError, match=r"big\.png: image of 100x100 = 10000 pixels, above"):
        preprocess_image(tmp_path / "big.png", 16)
    monkeypatch.setenv("ENERGY_OOD_MAX_PIXELS", "40000")
    with pytest.raises(InputError, match=r"line\.png: a 3000x1 image would be resized to"):
        preprocess_image(tmp_path / "line.png", 16)
    assert preprocess_image(tmp_path / "big.png", 16).shape == (3, 16, 16)


def test_huge_npy_header_is_one_line(tmp_path, capsys):
    hdr = repr({"descr": "<f4", "fortran_order": False, "shape": (2, 3)}) + " " * 200_000 + "\n"
    blob = b"\x93NUMPY\x02\x00" + len(hdr).to_bytes(4, "little") + hdr.encode() + bytes(24)
    (tmp_path / "h.npy").write_bytes(blob)
    np.save(tmp_path / "o.npy", np.zeros((4, 3), np.float32))
    for argv in (
        ["evaluate", "--id", str(tmp_path / "h.npy"), "--ood", f"a={tmp_path / 'o.npy'}"],
        ["detect", "fit", "--val", str(tmp_path / "h.npy"), "--out", str(tmp_path / "d")],
    ):
        capsys.readouterr()
        assert main(["--quiet", *argv]) == 2
        one_line(capsys, "h.npy: unreadable or truncated file (Header info length (200058)")


def test_bad_images_is_a_bench_config_key_and_flag():
    from energy_ood._validate import InputError
    from energy_ood.bench.config_files import load_config
    from energy_ood.bench.sections import bench_runtime
    from energy_ood.cli.bench import _runtime_overrides
    from energy_ood.cli.main import build_parser
    from energy_ood.data import bad_images

    args = build_parser().parse_args(["bench", "fmnist", "--bad-images", "skip"])
    assert _runtime_overrides(args) == {"bad_images": "skip"}
    cfg = load_config("fmnist", {"bad_images": "skip", "device": "cpu"})
    assert cfg.bad_images == "skip" and load_config("fmnist").bad_images == "error"
    try:
        bench_runtime(cfg)
        assert bad_images.policy() == "skip"
    finally:
        bad_images.set_policy("error")
    with pytest.raises(InputError, match="bad_images"):
        load_config("fmnist", {"bad_images": "ignore"})
