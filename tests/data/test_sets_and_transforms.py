"""Transforms, OOD sets, splits and the auxiliary-outlier pool."""

import numpy as np
import pytest
import torch

from energy_ood._validate import InputError
from energy_ood.data import (
    AuxiliaryPool,
    holdout_class_split,
    load_ood_set,
    ood_set_names,
    ood_sources,
    validation_split,
)
from energy_ood.data import transforms as T
from energy_ood.data.splits import _allocate


def test_normalize_and_channels():
    x = torch.rand(4, 3, 5, 5)
    n = T.normalize(x, [0.5, 0.5, 0.5], [0.25, 0.25, 0.25])
    assert torch.allclose(n, (x - 0.5) / 0.25)
    g = T.to_grey(x)
    assert g.shape == (4, 1, 5, 5)
    assert torch.allclose(g[0, 0, 0, 0], (x[0, :, 0, 0] * torch.tensor(T.GREY_WEIGHTS)).sum())
    assert torch.equal(T.to_rgb(g)[:, 2], g[:, 0]) and T.to_channels(g, 1) is g
    with pytest.raises(InputError, match="std must be positive"):
        T.normalize(x, 0.0, 0.0)
    with pytest.raises(InputError, match="N, C, H, W"):
        T.to_grey(torch.rand(3, 5, 5))


def test_random_crop_flip_resize():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    g = torch.Generator().manual_seed(0)
    c = T.random_crop(x, 4, padding=1, generator=g)
    assert c.shape == x.shape
    again = T.random_crop(x, 4, padding=1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(c, again)  # seeded
    # every crop is a shifted window of the zero-padded image
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i in range(2):
        assert any(
            torch.equal(c[i], padded[i, :, a : a + 4, b : b + 4])
            for a in range(3)
            for b in range(3)
        )
    f = T.random_hflip(x, generator=torch.Generator().manual_seed(1), p=1.0)
    assert torch.equal(f, x.flip(-1))
    r = T.resize(torch.ones(1, 1, 8, 8), 4)
    assert r.shape == (1, 1, 4, 4) and torch.allclose(r, torch.ones_like(r))
    with pytest.raises(InputError, match="larger than"):
        T.random_crop(x, 9)


@pytest.mark.parametrize("name", ["gaussian", "uniform", "rademacher"])
def test_noise_sets(name):
    a = load_ood_set(name, 16, size=28, channels=1, seed=3)
    b = load_ood_set(name, 16, size=28, channels=1, seed=3)
    assert a.shape == (16, 1, 28, 28) and torch.equal(a, b)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    if name == "rademacher":
        assert set(a.unique().tolist()) == {0.0, 1.0}


@pytest.mark.parametrize("name", ["scenes", "textures", "scenes-aux", "textures-aux"])
def test_skimage_crops(name):
    x = load_ood_set(name, 12, size=32, channels=3, seed=0)
    assert x.shape == (12, 3, 32, 32) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert float(x.std()) > 0.01  # real picture content, not constant
    g = load_ood_set(name, 12, size=28, channels=1, seed=0)
    assert g.shape == (12, 1, 28, 28)


def test_ood_set_errors():
    assert "mnist" in ood_set_names() and "cifar10-grey" in ood_set_names()
    with pytest.raises(InputError, match="unknown OOD set"):
        load_ood_set("svhn", 3)
    with pytest.raises(InputError, match="n >= 1"):
        load_ood_set("gaussian", 0)


def test_holdout_split():
    y = np.array([0, 1, 2, 1, 0, 2])
    idx, remap = holdout_class_split(y, 1)
    assert idx.tolist() == [0, 2, 4, 5]
    assert remap.tolist() == [0, -1, 1]
    with pytest.raises(InputError, match="does not occur"):
        holdout_class_split(y, 5)


def test_validation_split():
    tr, va = validation_split(100, 0.1, seed=0)
    assert len(va) == 10 and len(tr) == 90 and not set(tr) & set(va)
    assert np.array_equal(va, validation_split(100, 0.1, seed=0)[1])
    with pytest.raises(InputError, match="fraction"):
        validation_split(10, 1.0)


def test_auxiliary_pool_refuses_test_families():
    with pytest.raises(InputError, match="'scenes' and OOD test set 'scenes' are one family"):
        AuxiliaryPool(["scenes", "gaussian"], ["scenes", "mnist"])
    # other pictures of the same package, other images of the same data set: one family
    with pytest.raises(InputError, match="'scenes-aux' and OOD test set 'textures'.*scikit-image"):
        AuxiliaryPool(["scenes-aux"], ["textures"])
    with pytest.raises(InputError, match="cifar10-train-grey.*cifar10-grey.*family \\(cifar10\\)"):
        AuxiliaryPool(["cifar10-train-grey"], ["cifar10-grey"])
    with pytest.raises(InputError, match="pixel-noise"):
        AuxiliaryPool(["uniform"], ["gaussian"])
    with pytest.raises(InputError, match="in-distribution data's family"):
        AuxiliaryPool(["cifar10-train-grey"], ["mnist"], id_dataset="cifar10")
    AuxiliaryPool(["cifar10-train-grey", "scenes-aux"], ["mnist", "mate-nature", "gaussian"])
    assert not ood_sources("scenes") & ood_sources("scenes-aux")  # other images all the same


def test_auxiliary_pool_sample():
    pool = AuxiliaryPool(["scenes-aux", "uniform"], ["mnist", "sklearn-photos"])
    x = pool.sample(40, size=28, channels=1, seed=5)
    assert x.shape == (40, 1, 28, 28)
    assert torch.equal(x, pool.sample(40, size=28, channels=1, seed=5))
    assert _allocate(10, [3, None]) == [3, 7]
    with pytest.raises(InputError, match="hold 5 images, 9 requested"):
        _allocate(9, [2, 3])
