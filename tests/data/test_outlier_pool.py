"""Auxiliary and margin-validation outliers: distinct crops, pictures of ID classes left out,
picture-proportional allocation over families, the pool's record; and the packaged pictures
they come from (cut-out stamps, shared folders, copies)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from energy_ood._validate import InputError
from energy_ood.data.crops import distinct_crops
from energy_ood.data.id_classes import id_class_reason
from energy_ood.data.outliers import kept_pictures
from energy_ood.data.packaged import PACKAGES, load_named_pictures
from energy_ood.data.splits import AuxiliaryPool, _allocate


def _digest(x: torch.Tensor) -> set:
    return {bytes(c.numpy().tobytes()) for c in x}


def test_distinct_crops_have_no_pixel_copies():
    g = torch.Generator().manual_seed(0)
    blank = torch.ones(3, 120, 90)  # every crop of it is the same white square
    blank[:, 50:60, 40:50] = 0.0
    rng = np.random.default_rng(0)
    grey = torch.from_numpy(rng.random((1, 70, 140), dtype=np.float32))
    x, per_picture = distinct_crops([blank, grey], 200, 16, g)
    assert x.shape == (200, 3, 16, 16) and len(_digest(x)) == 200
    assert sum(per_picture) == 200 and per_picture[0] < 100  # few distinct crops in the blank
    grey_only, _ = distinct_crops([grey], 20, 16, torch.Generator().manual_seed(1))
    assert torch.equal(grey_only[:, 0], grey_only[:, 2])  # a grey picture fills all 3 channels
    again, _ = distinct_crops([blank, grey], 200, 16, torch.Generator().manual_seed(0))
    assert torch.equal(x, again)
    one = torch.rand(3, 16, 16)  # one position at every fraction: one distinct crop
    with pytest.raises(InputError, match="could not draw 2 distinct crops"):
        distinct_crops([one], 2, 16, torch.Generator().manual_seed(0))


def test_allocation_even_or_in_proportion():
    assert _allocate(10, [None] * 3) == [4, 3, 3]  # evenly, as before weights existed
    assert _allocate(10, [None, None], [7, 3]) == [7, 3]
    assert _allocate(100, [None, None, None], [536, 12, 17]) == [95, 2, 3]
    assert _allocate(10, [2, None], [5, 5]) == [2, 8]  # a capped source gives its excess
    with pytest.raises(InputError, match="hold 3 images, 5 requested"):
        _allocate(5, [1, 2], [1, 1])


def test_id_class_table():
    assert id_class_reason("tuxpaint-stamps", "animals/birds/cartoon/tux.png", "cifar10") == "bird"
    assert id_class_reason("tuxpaint-stamps", "animals/birds/owl.png", "CIFAR-10") == "bird"
    assert id_class_reason("tuxpaint-stamps", "vehicles/auto/truck.png", "cifar10") == "truck"
    assert id_class_reason("tuxpaint-stamps", "food/fruit/apple_red.png", "cifar10") is None
    assert id_class_reason("tuxpaint-stamps", "animals/birds/owl.png", "fashion-mnist") is None
    assert id_class_reason("tuxpaint-stamps", "clothes/t_shirt.png", "fmnist") == "T-shirt/top"
    assert id_class_reason("scenes", "chelsea", "cifar10").startswith("cat")
    assert id_class_reason("scenes", "chelsea", None) is None


def _png(path: Path, a: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)


@pytest.fixture
def stamps_root(tmp_path):
    """A data root with a tuxpaint-stamps folder and a mypaint-backgrounds folder."""
    rng = np.random.default_rng(0)
    stamps = tmp_path / PACKAGES["tuxpaint-stamps"].folder
    for rel in ("animals/birds/owl.png", "vehicles/auto/sedan.png", "food/apple.png",
                "symbols/alphabets/a.png", "food/apple_mirror.png", "plants/tree.png"):  # fmt: skip
        a = np.zeros((60, 50, 4), np.uint8)  # transparent, an opaque textured block inside
        a[10:50, 5:35, :3] = rng.integers(0, 255, (40, 30, 3))
        a[10:50, 5:35, 3] = 255
        _png(stamps / rel, a)
    (stamps / "food/apple_copy.png").write_bytes((stamps / "food/apple.png").read_bytes())
    paper = tmp_path / PACKAGES["mypaint-paper"].folder
    for rel in ("mrmamurk/a.png", "ramon/b.png", "elsewhere/c.png"):
        _png(paper / rel, rng.integers(0, 255, (64, 80, 3), dtype=np.uint8))
    return tmp_path


def test_packaged_pictures_from_a_data_root(stamps_root):
    named = dict(load_named_pictures("tuxpaint-stamps", data_root=stamps_root))
    # glyphs, mirrored stamps and a byte copy are not pictures of their own
    assert sorted(named) == ["animals/birds/owl.png", "food/apple.png", "plants/tree.png",
                             "vehicles/auto/sedan.png"]  # fmt: skip
    apple = named["food/apple.png"]
    assert apple.shape == (3, 40, 30)  # cut to its opaque part
    paper = load_named_pictures("mypaint-paper", data_root=stamps_root)
    assert [n for n, _ in paper] == ["mrmamurk/a.png", "ramon/b.png"]  # not another package's


def test_transparency_goes_white(tmp_path):
    a = np.zeros((20, 20, 4), np.uint8)
    a[2:18, 2:18] = (255, 0, 0, 255)
    a[2:18, 2:10, 3] = 0  # transparent: cut away
    a[8:10, 12:14, 3] = 0  # a transparent hole inside the opaque box: white
    _png(tmp_path / PACKAGES["tuxpaint-stamps"].folder / "x.png", a)
    ((_, pic),) = load_named_pictures("tuxpaint-stamps", data_root=tmp_path)
    assert pic.shape == (3, 16, 8)  # the box of opaque pixels
    assert torch.equal(pic[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.equal(pic[:, 6, 2], torch.ones(3)) and torch.equal(pic[:, 7, 3], torch.ones(3))
    full = np.zeros((20, 20, 4), np.uint8)
    _png(tmp_path / "b" / PACKAGES["tuxpaint-stamps"].folder / "y.png", full)
    with pytest.raises(InputError, match="no readable pictures"):
        load_named_pictures("tuxpaint-stamps", data_root=tmp_path / "b")


def test_pool_leaves_out_id_classes_and_records_itself(stamps_root):
    pool = AuxiliaryPool(["tuxpaint-stamps", "mypaint-paper"], ["gaussian"], id_dataset="cifar10")
    x = pool.sample(30, size=16, channels=3, seed=0, data_root=stamps_root)
    assert x.shape == (30, 3, 16, 16) and len(_digest(x)) == 30
    rec = pool.record
    assert rec["families"] == ["mypaint", "tuxpaint"] and rec["n"] == 30 and rec["distinct"]
    tux, paper = rec["sources"]
    assert tux["left_out"] == {"animals/birds/owl.png": "bird",
                               "vehicles/auto/sedan.png": "automobile"}  # fmt: skip
    assert tux["pictures"] == 2 and paper["pictures"] == 2 and rec["pictures"] == 4
    assert tux["crops"] == paper["crops"] == 15  # in proportion to the pictures each holds
    fm = AuxiliaryPool(["tuxpaint-stamps"], id_dataset="fashion-mnist")
    fm.sample(10, size=16, channels=1, seed=0, data_root=stamps_root)
    assert fm.record["sources"][0]["left_out"] == {} and fm.record["sources"][0]["pictures"] == 4


def test_pool_refuses_the_id_family_and_an_emptied_source(stamps_root):
    with pytest.raises(InputError, match="in-distribution data's family"):
        AuxiliaryPool(["cifar10-train-grey"], id_dataset="cifar10")
    birds = stamps_root / "only_birds" / PACKAGES["tuxpaint-stamps"].folder / "animals/birds"
    _png(birds / "owl.png", np.full((40, 40, 3), 90, np.uint8))
    pool = AuxiliaryPool(["tuxpaint-stamps"], id_dataset="cifar10")
    with pytest.raises(InputError, match="no picture left"):
        pool.sample(5, size=16, channels=3, data_root=stamps_root / "only_birds")


CIFAR_POOL = ("tuxpaint-stamps", "ukui-wallpapers", "mypaint-paper")


@pytest.mark.slow
@pytest.mark.skipif(
    not all(Path(PACKAGES[s].system).is_dir() for s in CIFAR_POOL),
    reason="Debian packages tuxpaint-stamps-default / ukui-wallpapers / mypaint-data-extras absent",
)
def test_the_cifar10_pool():
    """configs/cifar10_cpu.toml's pool: 3 families, hundreds of pictures, no CIFAR-10 class."""
    tests = ["mnist", "scenes", "lomiri-photos", "tuxtype-space", "gaussian"]
    pool = AuxiliaryPool(list(CIFAR_POOL), tests, id_dataset="cifar10")
    x = pool.sample(3000, size=32, channels=3, seed=0)
    rec = pool.record
    assert len(_digest(x)) == 3000 and len(rec["families"]) == 3
    assert rec["pictures"] >= 500 and rec["pictures_used"] >= 400
    left = rec["sources"][0]["left_out"]
    assert len(left) == 90 and left["animals/mammals/cats/tiger.png"].startswith("cat")  # README
    assert len(kept_pictures("tuxpaint-stamps", id_dataset="fashion-mnist")[1]) == 5
    assert "animals/mammals/equines/horse.png" in left and "vehicles/ship/walnutBoat.png" in left
    assert rec["sources"][0]["crops"] > 10 * rec["sources"][1]["crops"]
