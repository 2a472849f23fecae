import pytest
import torch

from energy_ood._validate import InputError
from energy_ood.models import OODNet, available_models, create_model, register_model

SLOW = {"wrn28_10", "densenet_bc100"}
MODELS = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in available_models()]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("channels", [1, 3])
def test_builds_and_shapes(name, channels):
    m = create_model(name, num_classes=7, in_channels=channels, rotation_head=True).eval()
    d = m.feature_dim
    assert isinstance(m, OODNet) and d > 0 and m.fc.in_features == d
    for size in (28, 32):
        x = torch.randn(2, channels, size, size)
        with torch.no_grad():
            z, logits, (lo, rot) = m.features(x), m(x), m.forward_both(x)
            assert z.shape == (2, d) and logits.shape == (2, 7) and rot.shape == (2, 4)
            torch.testing.assert_close(m.fc(z), logits)
            torch.testing.assert_close(lo, logits)
            torch.testing.assert_close(m.forward_rotation(x), rot)


def test_small_models_feature_dim():
    assert create_model("cnn", in_channels=1).feature_dim == 128
    assert create_model("wrn40_2").feature_dim == 128


def test_resnet9_width_and_blocks():
    m = create_model("resnet9").eval()  # width 16: the CPU size of the cifar10_cpu benchmark
    assert m.feature_dim == 128 and sum(p.numel() for p in m.parameters()) == 412_954
    assert create_model("resnet9", width=64).feature_dim == 512  # Page's original width
    outs = {}
    for name in m.block_names:
        getattr(m, name).register_forward_hook(lambda _m, _i, o, n=name: outs.setdefault(n, o))
    with torch.no_grad():
        z = m.features(torch.randn(3, 3, 32, 32))
    shapes = {n: tuple(o.shape) for n, o in outs.items()}
    assert shapes == {"prep": (3, 16, 32, 32), "layer1": (3, 32, 16, 16),
                      "layer2": (3, 64, 8, 8), "layer3": (3, 128, 4, 4)}  # fmt: skip
    assert all(float(o.min()) >= 0 for o in outs.values())  # after ReLU (and residual sums)
    torch.testing.assert_close(z, outs["layer3"].mean(dim=(2, 3)))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InputError, match="width must be a positive integer"):
            create_model("resnet9", width=bad)


def test_train_step_gives_grads():
    m = create_model("cnn", in_channels=1, rotation_head=True)
    lo, rot = m.forward_both(torch.randn(4, 1, 28, 28))
    (lo.sum() + rot.sum()).backward()
    assert all(p.grad is not None for p in m.parameters())


def test_rotation_head_only_when_asked():
    m = create_model("cnn", in_channels=1)
    assert m.rot_head is None and not any(k.startswith("rot_head") for k in m.state_dict())
    with pytest.raises(InputError, match="rotation_head=True"):
        m.forward_rotation(torch.randn(2, 1, 28, 28))
    with pytest.raises(InputError, match="rotation_head=True"):
        m.forward_both(torch.randn(2, 1, 28, 28))
    m = create_model("cnn", in_channels=1, rotation_head=True)
    assert m.rot_head.out_features == 4 and "rot_head.weight" in m.state_dict()


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("cnn", {"widths": [8, 16], "hidden": 32}),
        ("wrn", {"depth": 10, "widen": 1, "dropout": 0.0}),
        ("wrn40_2", {}),
        ("resnet18", {}),
        ("allconv", {}),
        ("resnet9", {"width": 8}),
    ],
)
def test_arch_config_round_trip(name, kwargs):
    m = create_model(name, num_classes=5, in_channels=1, rotation_head=True, **kwargs)
    cfg = m.arch_config()
    assert cfg == {
        "name": name,
        "num_classes": 5,
        "in_channels": 1,
        "rotation_head": True,
        "kwargs": kwargs,
    }
    m2 = create_model(**cfg)
    s1, s2 = m.state_dict(), m2.state_dict()
    assert list(s1) == list(s2)
    assert all(s1[k].shape == s2[k].shape for k in s1)
    m2.load_state_dict(s1)
    cfg["kwargs"]["extra"] = 1  # a copy: the model's record is unchanged
    assert "extra" not in m.arch_config()["kwargs"]


def test_unknown_name_and_bad_args():
    with pytest.raises(InputError, match="available: .*wrn40_2"):
        create_model("vgg99")
    with pytest.raises(InputError, match="bad arguments"):
        create_model("resnet18", depth=3)
    with pytest.raises(InputError, match="depth"):
        create_model("wrn", depth=11)
    with pytest.raises(InputError, match="num_classes"):
        create_model("cnn", num_classes=0)
    with pytest.raises(InputError, match="expected input"):
        create_model("cnn", in_channels=1)(torch.randn(2, 3, 28, 28))


def test_register_model_duplicate_and_custom():
    with pytest.raises(ValueError, match="already registered"):
        register_model("cnn")(lambda **kw: None)
    assert {"cnn", "wrn40_2", "wrn28_10", "wrn", "resnet18", "densenet_bc100", "allconv"} <= set(
        available_models()
    )


def _nparams(m):
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts_match_known_figures():
    # WRN-40-2: 2,243,546 (energy / OE papers' code); CIFAR ResNet-18: 11,173,962
    assert _nparams(create_model("wrn40_2")) == 2_243_546
    assert _nparams(create_model("resnet18")) == 11_173_962


@pytest.mark.slow
def test_parameter_counts_big():
    assert _nparams(create_model("densenet_bc100")) == 769_162  # DenseNet-BC-100 k=12: 0.77M
    assert abs(_nparams(create_model("wrn28_10")) - 36.5e6) < 0.1e6


def test_init_like_papers():
    m = create_model("wrn40_2")
    assert torch.all(m.fc.bias == 0) and torch.all(m.bn1.weight == 1)
    w = m.block3.layer[0].conv2.weight  # He normal, fan_out: std sqrt(2 / (9 * 128))
    assert abs(float(w.std()) - (2 / (9 * 128)) ** 0.5) < 0.002
