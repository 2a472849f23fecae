"""``Preprocess``: the eval transform record and its application to uint8 and float images."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from energy_ood._validate import InputError
from energy_ood.models import Preprocess
from energy_ood.models.preprocess import IMAGENET_MEAN, IMAGENET_STD

RECIPE = Preprocess(
    size=24, resize=28, interpolation="bilinear", mean=IMAGENET_MEAN, std=IMAGENET_STD
)


def test_json_round_trip_and_validation():
    d = json.loads(json.dumps(RECIPE.to_dict()))
    assert d["size"] == [24, 24] and d["resize"] == 28
    assert Preprocess.from_dict(d) == RECIPE
    assert RECIPE.input_shape == (3, 24, 24)
    with pytest.raises(InputError, match="unknown field"):
        Preprocess.from_dict({**d, "colour": 1})
    with pytest.raises(InputError, match="both mean and std"):
        Preprocess(mean=(0.5,))
    with pytest.raises(InputError, match="interpolation"):
        Preprocess(interpolation="lanczos")
    with pytest.raises(InputError, match="length 2"):
        Preprocess(mean=(0.5, 0.5), std=(1.0, 1.0))


def test_shorter_side_resize_then_center_crop_by_hand():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    # shorter side 40 -> 28, longer 60 -> int(28 * 60 / 40) = 42; crop 24 x 24 from the centre
    r = F.interpolate(x, size=(28, 42), mode="bilinear", align_corners=False, antialias=True)
    top, left = round((28 - 24) / 2), round((42 - 24) / 2)
    want = r[..., top : top + 24, left : left + 24]
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    want = (want - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    got = RECIPE(img)
    assert got.shape == (1, 3, 24, 24) and got.dtype == torch.float32
    torch.testing.assert_close(got, want)
    # the same picture as a PIL image, a float HWC array, a uint8 or float CHW tensor
    for same in (
        Image.fromarray(img),
        img.astype(np.float32) / 255,
        torch.from_numpy(img).permute(2, 0, 1),
        x[0],
    ):
        torch.testing.assert_close(RECIPE(same), want)


def test_lists_of_any_size_and_channels():
    rng = np.random.default_rng(1)
    imgs = [
        rng.integers(0, 256, (30, 30, 3), dtype=np.uint8),
        rng.integers(0, 256, (50, 35), dtype=np.uint8),  # grey
        rng.integers(0, 256, (33, 44, 4), dtype=np.uint8),  # RGBA
    ]
    out = RECIPE(imgs)
    assert out.shape == (3, 3, 24, 24) and torch.isfinite(out).all()
    grey = RECIPE(imgs[1])[0]
    torch.testing.assert_close(  # a grey image becomes three equal channels before normalising
        grey[0] * IMAGENET_STD[0] + IMAGENET_MEAN[0], grey[2] * IMAGENET_STD[2] + IMAGENET_MEAN[2]
    )
    one = Preprocess(size=16, channels=1)(imgs[0])
    assert one.shape == (1, 1, 16, 16)
    with pytest.raises(InputError, match="different sizes"):
        Preprocess()(imgs[:2])
    assert Preprocess()(np.zeros((2, 8, 8, 3), np.uint8)).shape == (2, 3, 8, 8)


def test_squash_and_padding_small_images():
    x = torch.rand(1, 3, 10, 20)
    sq = Preprocess(size=8, resize=8, resize_mode="squash")(x)
    want = F.interpolate(x, size=(8, 8), mode="bilinear", align_corners=False, antialias=True)
    torch.testing.assert_close(sq, want)
    # a crop larger than the image pads with zeros around it, as torchvision's center_crop
    from energy_ood.models.preprocess import _center_crop

    padded = _center_crop(torch.ones(1, 1, 4, 4), (6, 6))
    assert padded.shape == (1, 1, 6, 6) and padded.sum() == 16 and padded[0, 0, 0].sum() == 0


def test_bad_inputs_are_refused():
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        RECIPE(torch.randn(2, 3, 32, 32) * 3)  # already normalised images
    with pytest.raises(InputError, match="uint8 or float"):
        RECIPE(np.zeros((8, 8, 3), np.int32))
    with pytest.raises(InputError, match="no images"):
        RECIPE([])
    with pytest.raises(InputError, match="cannot read images"):
        RECIPE("image.png")
    with pytest.raises(InputError, match="H x W x C"):
        RECIPE(np.zeros((2, 2, 8, 8, 3), np.uint8))
