"""Families of OOD sets and outlier sources, and the pictures that ship in packages."""

import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from energy_ood._validate import InputError
from energy_ood.data.ood_sets import load_ood_set
from energy_ood.data.packaged import PACKAGES, list_files, load_pictures, read_gimp_pattern
from energy_ood.data.source_table import SOURCES
from energy_ood.data.sources import data_table, id_family, ood_family, ood_set_names, source_info


def test_every_source_has_a_family_and_licence():
    for name in ood_set_names():
        s = source_info(name)
        assert s.family and s.kind in ("natural", "noise") and s.licence and s.origin
    assert ood_family("cifar10-grey") == ood_family("cifar10-train-grey") == id_family("cifar10")
    assert ood_family("scenes") == ood_family("textures-aux") == "scikit-image"
    assert len({ood_family(n) for n in ("gaussian", "uniform", "rademacher")}) == 1
    natural = {SOURCES[n].family for n in SOURCES if SOURCES[n].kind == "natural"}
    assert len(natural) >= 6  # mnist, cifar10, scikit-image, mate, gimp, scikit-learn
    table = data_table()
    assert table.count("\n") == len(SOURCES) + 1 and "GPL-2+" in table
    with pytest.raises(InputError, match="unknown OOD set"):
        source_info("svhn")


def _pattern(w, h, depth, name=b"x"):
    header = struct.pack(">5I", 24 + len(name) + 1, 1, w, h, depth) + b"GPAT" + name + b"\0"
    return header + bytes(range(256)) * (w * h * depth // 256 + 1)


def test_gimp_pattern_reader():
    a = read_gimp_pattern(_pattern(4, 3, 3)[: 24 + 2 + 36], "p")
    assert a.shape == (3, 4, 3) and a.dtype == np.uint8 and a[0, 0].tolist() == [0, 1, 2]
    assert read_gimp_pattern(_pattern(2, 2, 2), "p").shape == (2, 2, 1)  # grey + alpha
    with pytest.raises(InputError, match="truncated"):
        read_gimp_pattern(_pattern(100, 100, 3)[:500], "p")
    with pytest.raises(InputError, match="not a GIMP pattern"):
        read_gimp_pattern(b"GPAT" * 10, "p")
    with pytest.raises(InputError, match="header gives"):
        read_gimp_pattern(struct.pack(">5I", 24, 1, 100000, 100000, 3) + b"GPAT", "p")


def test_list_files_reads_only_regular_files_inside(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes(b"1")
    (tmp_path / "Legacy").mkdir()
    (tmp_path / "Legacy" / "y.jpg").write_bytes(b"1")
    outside = tmp_path.parent / f"{tmp_path.name}_outside.jpg"
    outside.write_bytes(b"1")
    (tmp_path / "a" / "leak.jpg").symlink_to(outside)
    (tmp_path / "a" / "inside.jpg").symlink_to(tmp_path / "a" / "x.jpg")
    import os

    os.mkfifo(tmp_path / "a" / "fifo.jpg")
    got = [p.relative_to(tmp_path).as_posix() for p in list_files(tmp_path, (".jpg",), ("Legacy",))]
    assert got == ["a/inside.jpg", "a/x.jpg"]


def test_sklearn_photos_ship_with_scikit_learn():
    x = load_ood_set("sklearn-photos", 20, size=32, channels=3, seed=1)
    assert x.shape == (20, 3, 32, 32) and float(x.std()) > 0.02
    assert torch.equal(x, load_ood_set("sklearn-photos", 20, size=32, channels=3, seed=1))


SLOW_PACKAGES = {"tuxpaint-stamps", "ukui-wallpapers"}  # 10 s or so to decode


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_PACKAGES else n
             for n in sorted(PACKAGES)],
)  # fmt: skip
def test_packaged_sources(name, tmp_path):
    if not Path(PACKAGES[name].system).is_dir():
        pytest.skip(f"{name}: Debian package absent ({PACKAGES[name].install})")
    pics = load_pictures(name)
    assert all(p.ndim == 3 and p.shape[0] in (1, 3) for p in pics)
    stated = int(re.search(r"crops of (\d+) ", SOURCES[name].content).group(1))
    assert len(pics) == stated  # the data table says how many pictures the source holds
    x = load_ood_set(name, 16, size=28, channels=1, seed=0)
    assert x.shape == (16, 1, 28, 28) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert float(x.std()) > 0.02


def test_packaged_source_from_a_data_root(tmp_path):
    from PIL import Image

    folder = tmp_path / PACKAGES["mate-nature"].folder
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")  # skipped with a note
    assert len(load_pictures("mate-nature", data_root=tmp_path)) == 2
    empty = tmp_path / "empty"
    (empty / PACKAGES["gimp-textures"].folder).mkdir(parents=True)
    if not Path(PACKAGES["gimp-textures"].system).is_dir():
        with pytest.raises(InputError, match="apt-get install gimp-data"):
            load_pictures("gimp-textures", data_root=tmp_path / "nowhere")
    with pytest.raises(InputError, match="no readable pictures"):
        load_pictures("gimp-textures", data_root=empty)
