"""Data sets by path, held in memory or streamed from disk: the two paths train identically."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from energy_ood._validate import InputError
from energy_ood.data.image_items import list_items
from energy_ood.data.prepare import is_path, prepare_id
from energy_ood.data.streaming import (
    ImageTransform,
    StreamSplit,
    image_source,
    materialize,
)


def _digit_images(n=300):
    d = load_digits()
    x = np.rint(d.images[:n] * (255 / 16)).astype(np.uint8)
    return x, d.target[:n]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """scikit-learn digits as PNG files: root/<class>/<i>.png (8x8 grey)."""
    root = tmp_path_factory.mktemp("digits_png")
    x, y = _digit_images()
    for i, (a, c) in enumerate(zip(x, y)):
        (root / f"c{c}").mkdir(exist_ok=True)
        Image.fromarray(a).save(root / f"c{c}" / f"{i:04d}.png")
    return root


def test_folder_is_read_in_sorted_class_order(folder):
    ds = image_source(folder, ImageTransform(8, 1))
    assert ds.classes == [f"c{i}" for i in range(10)] and len(ds) == 300
    x, y = ds[0]
    assert x.dtype == torch.uint8 and x.shape == (1, 8, 8)
    assert y == 0


def test_transform_resizes_the_shorter_side_and_crops(tmp_path):
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, 10:30] = 255  # a white band in the middle of a wide image
    out = ImageTransform(10, 3)(a)
    assert out.shape == (3, 10, 10)
    assert int(out[:, :, 2:8].min()) > 200  # the centre crop keeps the band
    assert ImageTransform(10, 1)(a).shape == (1, 10, 10)


def test_tar_shard_and_file_list_give_the_folder_images(folder, tmp_path):
    shard = tmp_path / "shard-000.tar"
    with tarfile.open(shard, "w") as tar:
        for p in sorted(folder.glob("*/*.png")):
            tar.add(p, arcname=f"data/{p.parent.name}/{p.name}")
    listing = tmp_path / "list.txt"
    lines = [f"{p.resolve()},{p.parent.name}" for p in sorted(folder.glob("*/*.png"))]
    listing.write_text("# images\n" + "\n".join(lines) + "\n")
    t = ImageTransform(8, 1)
    ref_x, ref_y = materialize(image_source(folder, t), workers=0)
    for src in (shard, listing):
        x, y = materialize(image_source(src, t), workers=2)
        assert torch.equal(x, ref_x) and torch.equal(y, ref_y), src


def test_file_list_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("a.png,1\nb.png,cat\n")
    with pytest.raises(InputError, match="mixes integer labels and class names"):
        list_items(bad)
    with pytest.raises(InputError, match="not an uncompressed tar shard"):
        (tmp_path / "x.tar").write_bytes(b"not a tar")
        image_source(tmp_path / "x.tar", ImageTransform(8, 1))


def test_stream_split_batches_match_memory(folder):
    d_mem = prepare_id(str(folder), seed=1, data_mode="memory")
    d_str = prepare_id(str(folder), seed=1, data_mode="stream")
    assert isinstance(d_str.x_train, StreamSplit) and not d_mem.streaming
    assert d_mem.mean == d_str.mean and d_mem.std == d_str.std
    assert len(d_str.x_train) == len(d_mem.x_train) and d_str.describe()["storage"].startswith(
        "str"
    )
    lists = [torch.tensor([5, 0, 7]), torch.arange(10, 20)]
    got = [xb for xb, _ in d_str.x_train.batches(lists)]
    assert torch.equal(got[0], d_mem.x_train[lists[0]])
    assert torch.equal(got[1], d_mem.x_train[10:20])
    assert torch.equal(d_str.y_test, d_mem.y_test)
    assert torch.equal(d_str.x_test[torch.arange(4)].tensor(), d_mem.x_test[:4])


def test_is_path():
    assert not is_path("digits") and not is_path("fashion-mnist")
    assert is_path("./my_images") and is_path("data.npz") and is_path("/x/y")


def _train(out, dataset, mode):
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": src, "ENERGY_OOD_WORKERS": "2"}
    cmd = [sys.executable, "-m", "energy_ood", "--quiet", "train", "--dataset", dataset]
    cmd += ["--model", "cnn", "--epochs", "1", "--batch-size", "32", "--threads", "1"]
    cmd += ["--data-mode", mode, "--out", str(out)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return torch.load(out / "checkpoint.pt", weights_only=True)["model"]


def test_streaming_and_memory_train_identically(folder, tmp_path):
    a = _train(tmp_path / "mem", str(folder), "memory")
    b = _train(tmp_path / "stream", str(folder), "stream")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_missing_path_is_a_clean_error(tmp_path):
    with pytest.raises(InputError, match="no such data set"):
        prepare_id(str(tmp_path / "nope"))
