"""RankFeat on block outputs against an independent computation: the model run piece by piece,
the rank-1 part removed with numpy's SVD (float64), the head applied in numpy, the logits of
the two edited passes averaged and scored with energy (the official code's "Block 3 + Block 4")."""

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from energy_ood._validate import InputError
from energy_ood.models import available_models, create_model
from energy_ood.score import create_scorer
from energy_ood.score.rankfeat import block_layers


def _np_remove_rank1(maps: torch.Tensor) -> np.ndarray:
    a = maps.detach().numpy().astype(np.float64)
    out = np.empty_like(a)
    for i, m in enumerate(a):
        mat = m.reshape(m.shape[0], -1)
        u, s, vt = np.linalg.svd(mat, full_matrices=False)
        out[i] = (mat - s[0] * np.outer(u[:, 0], vt[0])).reshape(m.shape)
    return out


def _np_head(maps: np.ndarray, fc: torch.nn.Linear) -> np.ndarray:
    """Global average pooling then the final linear layer, in numpy."""
    z = maps.mean(axis=(2, 3))
    return z @ fc.weight.detach().numpy().T.astype(np.float64) + fc.bias.detach().numpy()


def _np_bn_relu(maps: np.ndarray, bn: torch.nn.BatchNorm2d) -> np.ndarray:
    """Eval-mode BatchNorm with its running statistics, then ReLU, in numpy."""
    v = [t.detach().numpy().astype(np.float64)[None, :, None, None]
         for t in (bn.running_mean, bn.running_var, bn.weight, bn.bias)]  # fmt: skip
    return np.maximum((maps - v[0]) / np.sqrt(v[1] + bn.eps) * v[2] + v[3], 0.0)


def _randomise_bn(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """BN layers with non-trivial running statistics and affine parameters, in eval mode."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
    return model.eval()


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a.astype(np.float32))


def test_resnet18_default_is_the_average_of_layer3_and_layer4():
    torch.manual_seed(0)
    net = _randomise_bn(create_model("resnet18", num_classes=5), 1)
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        l3 = net.layer3(net.layer2(net.layer1(torch.relu(net.bn1(net.conv1(x))))))
        l4 = net.layer4(l3)
        at4 = _np_head(_np_remove_rank1(l4), net.fc)  # block 4 edited, then pool + fc
        at3 = _np_head(net.layer4(_t(_np_remove_rank1(l3))).double().numpy(), net.fc)
    want = logsumexp((at3 + at4) / 2, axis=1)
    sc = create_scorer("rankfeat", model=net)
    assert sc.chosen_layers() == ("layer3", "layer4")
    assert sc.score(x) == pytest.approx(want, rel=1e-4)
    one = create_scorer("rankfeat", model=net, layer="layer4").score(x)
    assert one == pytest.approx(logsumexp(at4, axis=1), rel=1e-4)
    both = create_scorer("rankfeat", model=net, layers=["layer3", "layer4"]).score(x)
    assert both == pytest.approx(want, rel=1e-4)
    assert not np.allclose(one, want, rtol=1e-3)  # the average is not the single layer


def test_wrn_edits_the_block_outputs_before_the_final_bn_relu():
    """Pre-activation WRN: block2 / block3 outputs (residual sums) edited, then block3 and the
    final BN-ReLU, as the official code does on its pre-activation ResNetv2."""
    torch.manual_seed(0)
    net = _randomise_bn(create_model("wrn", num_classes=4, depth=10, widen=1), 2)
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        b2 = net.block2(net.block1(net.conv1(x)))
        b3 = net.block3(b2)
        at3 = _np_head(_np_bn_relu(_np_remove_rank1(b3), net.bn1), net.fc)
        b3_from_2 = net.block3(_t(_np_remove_rank1(b2))).double().numpy()
        at2 = _np_head(_np_bn_relu(b3_from_2, net.bn1), net.fc)
    want = logsumexp((at2 + at3) / 2, axis=1)
    sc = create_scorer("rankfeat", model=net)
    assert sc.chosen_layers() == ("block2", "block3")
    assert sc.score(x) == pytest.approx(want, rel=1e-4)
    msp = create_scorer("rankfeat+msp", model=net).score(x)
    p = np.exp((at2 + at3) / 2 - want[:, None])
    assert msp == pytest.approx(p.max(1), rel=1e-4)


def _small(name: str) -> torch.nn.Module:
    kw = {"wrn": {"depth": 10, "widen": 1}, "densenet_bc100": {"depth": 10},
          "allconv": {"width1": 8, "width2": 16},
          "cnn": {"widths": (4, 8, 8), "convs": 2}}.get(name, {})  # fmt: skip
    return create_model(name, in_channels=3, **kw).eval()


@pytest.mark.parametrize("name", available_models())
def test_every_model_declares_its_block_outputs_in_forward_order(name):
    net = _small(name)
    names = block_layers(net)
    assert len(names) >= 3 and names == tuple(net.block_names)
    seen = []
    hooks = [net.get_submodule(n).register_forward_hook(
        lambda _m, _i, out, n=n: seen.append((n, out))) for n in names]  # fmt: skip
    with torch.no_grad():
        net(torch.randn(2, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert [n for n, _ in seen] == list(names)  # each runs once, in the declared order
    assert all(out.ndim == 4 and out.shape[2] * out.shape[3] > 1 for _, out in seen)
    if name in ("cnn", "resnet18"):  # post-activation blocks end in a ReLU
        assert all(bool((out >= 0).all()) for _, out in seen)
    assert create_scorer("rankfeat", model=net).chosen_layers() == names[-2:]


def test_torchvision_resnet_uses_layer3_and_layer4():
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    net = tv.models.resnet18(num_classes=3).eval()
    assert block_layers(net) == ("layer1", "layer2", "layer3", "layer4")
    x = torch.randn(2, 3, 64, 64)
    sc = create_scorer("rankfeat", model=net)
    assert sc.chosen_layers() == ("layer3", "layer4")
    want = create_scorer("rankfeat", model=net, layers=["layer3", "layer4"]).score(x)
    assert sc.score(x) == pytest.approx(want, rel=1e-6)


def test_one_declared_block_and_none_declared():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3),
    ).eval()  # fmt: skip
    x = torch.randn(2, 3, 8, 8)
    assert create_scorer("rankfeat", model=net).chosen_layers(x) == ("1",)  # probed
    net.block_names = ("0",)
    sc = create_scorer("rankfeat", model=net)
    assert sc.chosen_layers() == ("0",)
    assert sc.score(x) == pytest.approx(create_scorer("rankfeat", model=net, layer="0").score(x))


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"layer": "a", "layers": ["b"]}, "not both"),
        ({"layers": []}, "non-empty list"),
        ({"layers": "block3"}, "non-empty list"),
        ({"layers": ["a", "a"]}, "distinct"),
        ({"layers": ["a", 3]}, r"layers\[1\]"),
        ({"layer": 3}, "layer must be a module name"),
    ],
)
def test_bad_layer_choices_are_one_line(kw, match):
    with pytest.raises(InputError, match=match):
        create_scorer("rankfeat", **kw)


def test_missing_layer_is_named():
    net, x = _small("cnn"), torch.randn(2, 3, 8, 8)
    with pytest.raises(InputError, match="no submodule 'nope'"):
        create_scorer("rankfeat", model=net, layers=["body.2", "nope"]).score(x)
    with pytest.raises(InputError, match="'fc' does not output a 4-D"):
        create_scorer("rankfeat", model=net, layer="fc").score(x)


def test_params_round_trip():
    sc = create_scorer("rankfeat", layers=["layer3", "layer4"])
    p = sc.get_params()
    assert p["layers"] == ["layer3", "layer4"] and p["layer"] is None
    again = create_scorer("rankfeat", **p)
    assert again.get_params() == p
