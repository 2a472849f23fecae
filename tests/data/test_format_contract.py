"""The reader contract, over every entry of the one source map (``data.sources.FORMATS``), as
the scorer contract test does over the scorer registry: for each format, a small real file of
that format is found by ``format_of`` for every kind the format gives (and by no earlier
format), and each of its readers returns what the module doc promises. A new format without a
sample here fails ``test_every_format_has_a_sample``."""

import gzip
import io
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from energy_ood.data.sources import FORMATS, KINDS, format_of, is_flat

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, size=(4, 8, 8, 3), dtype=np.uint8)
LABELS = np.array([0, 1, 0, 1])
ARRAY = RNG.standard_normal((5, 3)).astype(np.float32)


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _idx(a: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def _tar(root: Path) -> Path:
    path = root / "shard.tar"
    with tarfile.open(path, "w") as tf:
        for i, a in enumerate(IMAGES):
            data = _png(a)
            info = tarfile.TarInfo(f"c{LABELS[i]}/{i}.png")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _folder(root: Path) -> Path:
    for i, a in enumerate(IMAGES):
        (root / "imgs" / f"c{LABELS[i]}").mkdir(parents=True, exist_ok=True)
        (root / "imgs" / f"c{LABELS[i]}" / f"{i}.png").write_bytes(_png(a))
    return root / "imgs"


def _file_list(root: Path) -> Path:
    lines = []
    for i, a in enumerate(IMAGES):
        (root / f"{i}.png").write_bytes(_png(a))
        lines.append(f"{i}.png,{LABELS[i]}")
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    return root / "list.txt"


def _npz(root: Path) -> Path:
    np.savez(root / "d.npz", x=IMAGES, y=LABELS)
    return root / "d.npz"


def _idx_folder(root: Path) -> Path:
    d = root / "mnistlike"
    d.mkdir()
    grey = IMAGES[..., 0]
    for split in ("train", "t10k"):
        (d / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(grey)))
        (d / f"{split}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(_idx(LABELS.astype(np.uint8)))
        )
    return d


def _idx_file(root: Path) -> Path:
    (root / "images-idx3-ubyte").write_bytes(_idx(IMAGES[..., 0]))
    return root / "images-idx3-ubyte"


def _npy(root: Path) -> Path:
    np.save(root / "a.npy", ARRAY)
    return root / "a.npy"


def _pt(root: Path) -> Path:
    torch.save({"logits": torch.from_numpy(ARRAY)}, root / "a.pt")
    return root / "a.pt"


def _csv(root: Path) -> Path:
    np.savetxt(root / "a.csv", ARRAY, delimiter=",")
    return root / "a.csv"


SAMPLES = {"tar shards": _tar, "image folder": _folder, "file list": _file_list, "npz": _npz,
           "IDX folder": _idx_folder, "IDX file": _idx_file, "npy": _npy, "pt": _pt,
           "csv": _csv}  # fmt: skip


def test_every_format_has_a_sample():
    assert [f.name for f in FORMATS] == list(SAMPLES), "a new format needs a sample here"


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_format_is_found_for_each_kind_it_gives(fmt, tmp_path):
    path = SAMPLES[fmt.name](tmp_path)
    given = [k for k in KINDS if fmt.gives(k)]
    assert given, f"{fmt.name} gives nothing"
    for kind in given:
        found = format_of(path, (kind,))
        assert found is not None and found[0].name == fmt.name, (kind, found)
        assert found[1] == kind


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_readers_return_what_the_map_promises(fmt, tmp_path):
    path = SAMPLES[fmt.name](tmp_path)
    if fmt.list_items is not None:
        items, classes = fmt.list_items(path, False)
        assert len(items) == len(IMAGES) and len(classes) == 2
        assert sorted(label for _, label in items) == sorted(LABELS.tolist())
        if is_flat(path):  # an OOD set: every image, one class
            flat_items, flat_classes = fmt.list_items(path, True)
            assert len(flat_items) == len(IMAGES) and len(flat_classes) == 1
    if fmt.read_dataset is not None:
        x, y, classes, x_test, y_test = fmt.read_dataset(path)[:5]
        for a, b in ((x, y), (x_test, y_test)):
            if a is None:  # no test part (an .npz): both None
                assert b is None
                continue
            assert a.dtype == np.uint8 and a.ndim == 4 and len(a) == len(b) == len(IMAGES)
        assert np.array_equal(np.asarray(y), LABELS) and len(classes) == 2
    if fmt.read_images is not None:
        imgs = fmt.read_images(path)
        assert imgs.dtype == np.uint8 and imgs.ndim == 4 and len(imgs) == len(IMAGES)
    if fmt.read_array is not None and fmt.name in ("npy", "csv"):
        np.testing.assert_allclose(fmt.read_array(path, None, "logits"), ARRAY, rtol=1e-6)
    if fmt.read_named is not None and fmt.name == "pt":
        got = fmt.read_named(path, ["logits"], "logits")
        np.testing.assert_allclose(np.asarray(got["logits"]), ARRAY)


def test_a_path_no_format_reads_is_none(tmp_path):
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    for kind in KINDS:
        assert format_of(tmp_path / "notes.docx", (kind,)) is None
