"""The bad-images policy (issue 18): ``error`` stops at the first image that cannot be used,
with one line; ``skip`` leaves every such image out, records each with its reason, and gives
the same data in memory and in stream mode, with DataLoader workers."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from energy_ood._validate import InputError
from energy_ood.data import bad_images
from energy_ood.data.ood_files import load_ood_path
from energy_ood.data.prepare import prepare_id
from energy_ood.data.streaming import ImageTransform, image_source, materialize, screen


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_OOD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ENERGY_OOD_WORKERS", "2")
    bad_images.set_policy("error")
    yield
    bad_images.set_policy("error")


def png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


BAD = {
    "a/07.png": b"",
    "b/03.png": b"GIF89a not really",
    "b/11.png": png(np.zeros((4, 4), np.uint8))[:30],
}


@pytest.fixture
def folder(tmp_path):
    """Two classes of 12 grey 6x6 images, three of them unusable."""
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(12):
            (root / cls / f"{i:02d}.png").write_bytes(png(rng.integers(0, 255, (6, 6), np.uint8)))
    for name, data in BAD.items():
        (root / name).write_bytes(data)
    return root


def shard_of(folder, out):
    with tarfile.open(out, "w") as t:
        for p in sorted(folder.glob("*/*.png")):
            t.add(p, arcname=f"d/{p.parent.name}/{p.name}")
    return out


def test_error_is_the_default_and_names_the_first_bad_file(folder):
    with pytest.raises(InputError, match=r"a/07\.png: an empty file named \.png") as e:
        prepare_id(str(folder), image_size=6, channels=1, data_mode="memory")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("kind", ["folder", "shard"])
def test_skip_gives_the_same_data_in_memory_and_stream_mode(folder, tmp_path, kind):
    src = folder if kind == "folder" else shard_of(folder, tmp_path / "s.tar")
    with bad_images.using("skip") as record:
        mem = prepare_id(str(src), seed=3, image_size=6, channels=1, data_mode="memory")
        n_mem = len(record)
        stream = prepare_id(str(src), seed=3, image_size=6, channels=1, data_mode="stream")
        assert len(record) == 2 * n_mem == 6  # each preparation records its own three
    skipped = mem.describe()["skipped_images"]
    assert skipped == stream.describe()["skipped_images"]
    reasons = {r["file"][-8:]: r["reason"] for r in skipped}  # .../a/07.png or s.tar:d/a/07.png
    assert sorted(reasons) == sorted(BAD)
    assert reasons["a/07.png"].startswith("an empty file named .png")
    assert reasons["b/03.png"].startswith("a GIF image named .png")
    assert "PNG" in reasons["b/11.png"]
    assert len(mem.x_train) + len(mem.x_val) + len(mem.x_test) == 24 - 3
    assert mem.mean == stream.mean and mem.std == stream.std
    assert torch.equal(mem.y_test, stream.y_test) and torch.equal(mem.y_train, stream.y_train)
    assert torch.equal(stream.x_test.tensor(), mem.x_test)
    lists = [torch.arange(len(stream.x_train))]
    assert torch.equal(next(iter(stream.x_train.batches(lists)))[0], mem.x_train)


def test_skip_in_stream_mode_uses_exactly_the_kept_images(folder):
    """Streamed batches of a split hold only usable images (no blanks stand in)."""
    with bad_images.using("skip"):
        d = prepare_id(str(folder), seed=0, image_size=6, channels=1, data_mode="stream")
    x = torch.cat([xb for xb, _ in d.x_train.batches([torch.arange(len(d.x_train))])])
    assert len(x) == len(d.x_train) and int((x.flatten(1).std(1) == 0).sum()) == 0


def test_skip_for_ood_sets_and_the_process_record(folder):
    bad_images.set_policy("skip")
    x = load_ood_path(folder, None, 6, 1)
    assert x.shape == (21, 1, 6, 6)
    assert len(bad_images.skipped()) == 3
    bad_images.set_policy("error")  # a command's start clears the record
    assert bad_images.skipped() == []


def test_skipped_items_keep_their_positions(folder):
    with bad_images.using("skip"):
        ds = screen(image_source(folder, ImageTransform(6, 1), flat=False), workers=2)
    assert len(ds) == 21 and len(ds.skipped) == 3
    assert 7 not in ds.positions.tolist() and ds.positions.tolist()[:8] == [0, 1, 2, 3, 4, 5, 6, 8]
    x, y = materialize(ds, workers=2)
    assert x.shape == (21, 1, 6, 6)


def test_all_images_bad_is_one_line(tmp_path):
    (tmp_path / "d" / "a").mkdir(parents=True)
    for i in range(3):
        (tmp_path / "d" / "a" / f"{i}.png").write_bytes(b"")
    with bad_images.using("skip"), pytest.raises(InputError, match=r"none of its 3 images"):
        load_ood_path(tmp_path / "d", None, 6, 1)


def test_using_restores_the_policy_and_its_record():
    bad_images.set_policy("error")
    bad_images.record([{"file": "x", "reason": "y"}])
    with bad_images.using("skip") as rec:
        assert bad_images.policy() == "skip" and rec == []
    assert bad_images.policy() == "error" and bad_images.skipped() == [{"file": "x", "reason": "y"}]
    with pytest.raises(InputError, match="bad_images must be error or skip, got 'ignore'"):
        bad_images.set_policy("ignore")
