"""Any model: torchvision / timm architectures with a local state dict, TorchScript and exported
programs, registry names; heads, preprocessing and arch records. Random-init weights saved to
files stand in for pretrained ones (nothing is downloaded)."""

import importlib.util
import json
import os

import numpy as np
import pytest
import torch

from energy_ood._validate import InputError
from energy_ood.models import (
    Preprocess,
    create_model,
    load_model,
    rebuild_model,
)
from energy_ood.score import ModelAdapter

HAS_TV = importlib.util.find_spec("torchvision") is not None
HAS_TIMM = importlib.util.find_spec("timm") is not None
needs_tv = pytest.mark.skipif(not HAS_TV, reason="optional extra [torchvision] not installed")
needs_timm = pytest.mark.skipif(not HAS_TIMM, reason="optional extra [timm] not installed")


@pytest.fixture(scope="module")
def tv():
    if not HAS_TV:
        pytest.skip("optional extra [torchvision] not installed")
    import torchvision  # importable: `import energy_ood` (above) hooked the ops shim in

    return torchvision


@pytest.fixture(scope="module")
def resnet(tv, tmp_path_factory):
    """A random-init torchvision resnet18 with 10 classes, saved as a state dict."""
    torch.manual_seed(0)
    m = tv.models.resnet18(num_classes=10).eval()
    path = tmp_path_factory.mktemp("tv") / "resnet18.pth"
    torch.save(m.state_dict(), path)
    return m, path


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    if not HAS_TIMM:
        pytest.skip("optional extra [timm] not installed")
    import timm

    torch.manual_seed(0)
    m = timm.create_model("vit_tiny_patch16_224", img_size=32, num_classes=10).eval()
    path = tmp_path_factory.mktemp("timm") / "vit.pth"
    torch.save(m.state_dict(), path)
    return m, path


X = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def test_torchvision_checkpoint_logits_features_and_preprocess(tv, resnet):
    ref, path = resnet
    lm = load_model("torchvision:resnet18", path, input_size=32)
    assert lm.head == "fc" and lm.num_classes == 10 and lm.source == "torchvision"
    assert not lm.model.training
    with torch.no_grad():
        torch.testing.assert_close(lm.model(X), ref(X))
        logits, feats = ModelAdapter(lm.model, head=lm.head).forward_both(X)
    assert logits.shape == (3, 10) and feats.shape == (3, 512)
    # preprocessing from the weights enum (no download), scaled to the 32 px input
    pre = lm.preprocess
    assert pre.size == (32, 32) and pre.mean == (0.485, 0.456, 0.406)
    assert "ResNet18_Weights.IMAGENET1K_V1" in pre.source
    imgs = np.random.default_rng(0).integers(0, 256, (2, 40, 50, 3), dtype=np.uint8)
    assert lm.model(lm.preprocess(imgs)).shape == (2, 10)
    # arch: JSON, rebuilds the same architecture
    arch = json.loads(json.dumps(lm.arch))
    assert arch["name"] == "torchvision:resnet18" and arch["num_classes"] == 10
    again = rebuild_model(arch)
    assert {k: v.shape for k, v in again.state_dict().items()} == {
        k: v.shape for k, v in ref.state_dict().items()
    }
    assert lm.describe()["preprocess"] == pre.to_dict()


def test_torchvision_preprocess_matches_its_transforms(tv):
    """Same numbers as torchvision's ImageClassification transforms on a float tensor."""
    x = torch.rand(3, 150, 180, generator=torch.Generator().manual_seed(2))
    for spec, weights in (
        ("torchvision:resnet50", tv.models.ResNet50_Weights.DEFAULT),
        ("torchvision:resnet50.IMAGENET1K_V1", tv.models.ResNet50_Weights.IMAGENET1K_V1),
    ):
        pre = load_model(spec, num_classes=3).preprocess
        t = weights.transforms()
        assert pre.size == (t.crop_size[0],) * 2 and pre.resize == t.resize_size[0]
        torch.testing.assert_close(pre(x)[0], t(x))
    with pytest.raises(InputError, match="no weights 'V9'"):
        load_model("torchvision:resnet50.V9")
    with pytest.raises(InputError, match="did you mean resnet50"):
        load_model("torchvision:resnet5")


def test_wrong_class_count_and_new_head(tv, resnet):
    ref, path = resnet
    with pytest.raises(InputError, match="checkpoint has 10 classes") as e:
        load_model("torchvision:resnet18", path, num_classes=5)
    assert "\n" not in str(e.value) and "new_head" in str(e.value)
    lm = load_model("torchvision:resnet18", path, num_classes=5, new_head=True)
    assert lm.num_classes == 5 and lm.model.fc.out_features == 5 and lm.arch["num_classes"] == 5
    own = lm.model.state_dict()
    for k, v in ref.state_dict().items():  # the backbone is the checkpoint's
        if not k.startswith("fc."):
            assert torch.equal(own[k], v), k
    with pytest.raises(InputError, match="needs num_classes"):
        load_model("torchvision:resnet18", path, new_head=True)


def test_mismatched_weights_are_one_line_errors(tv, resnet, tmp_path):
    _, path = resnet
    with pytest.raises(InputError, match="weights do not fit torchvision:resnet34") as e:
        load_model("torchvision:resnet34", path)
    assert "\n" not in str(e.value) and "missing layer1.2" in str(e.value)
    sd = torch.load(path, weights_only=True)
    torch.save({**sd, "extra.weight": torch.zeros(2)}, tmp_path / "extra.pth")
    with pytest.raises(InputError, match=r"unexpected extra\.weight"):
        load_model("torchvision:resnet18", tmp_path / "extra.pth")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"fc.weight": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(InputError, match="refused to load weights"):
        load_model("torchvision:resnet18", tmp_path / "evil.pth")
    with pytest.raises(InputError, match="no such checkpoint"):
        load_model("torchvision:resnet18", tmp_path / "none.pth")
    with pytest.raises(InputError, match="never downloaded"):
        load_model("torchvision:resnet18", weights="DEFAULT")


def test_wrapped_and_dataparallel_state_dicts(tv, resnet, tmp_path):
    ref, path = resnet
    sd = torch.load(path, weights_only=True)
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3}, tmp_path / "w"
    )
    lm = load_model("torchvision:resnet18", tmp_path / "w")
    with torch.no_grad():
        torch.testing.assert_close(lm.model(X), ref(X))
    if importlib.util.find_spec("safetensors") is not None:
        from safetensors.torch import save_file

        save_file(sd, str(tmp_path / "w.safetensors"))
        lm = load_model("torchvision:resnet18", tmp_path / "w.safetensors")
        with torch.no_grad():
            torch.testing.assert_close(lm.model(X), ref(X))


def test_timm_checkpoint_head_and_data_config(vit):
    import timm

    ref, path = vit
    lm = load_model("timm:vit_tiny_patch16_224", path, img_size=32)
    assert lm.head == "head" and lm.num_classes == 10 and lm.source == "timm"
    with torch.no_grad():
        torch.testing.assert_close(lm.model(X), ref(X))
        _, feats = ModelAdapter(lm.model, head=lm.head).forward_both(X)
    assert feats.shape == (3, 192)
    pre = lm.preprocess  # timm's data config: bicubic, crop_pct 0.9, mean/std 0.5
    assert pre.size == (32, 32) and pre.resize == 35 and pre.interpolation == "bicubic"
    assert pre.mean == (0.5, 0.5, 0.5)
    cfg = {**timm.data.resolve_model_data_config(lm.model), "input_size": (3, 32, 32)}
    x = torch.rand(3, 20, 24, generator=torch.Generator().manual_seed(3))  # upsampled
    torch.testing.assert_close(pre(x)[0], timm.data.create_transform(**cfg)(x))
    assert rebuild_model(lm.arch).patch_embed.img_size == (32, 32)
    with pytest.raises(InputError, match="weights do not fit timm:vit_tiny_patch16_224"):
        load_model("timm:vit_tiny_patch16_224", path)  # built at 224 px: pos_embed differs


def test_timm_new_head_grey_input(vit):
    _, path = vit
    lm = load_model("timm:vit_tiny_patch16_224", path, img_size=32, num_classes=3, new_head=True)
    assert lm.model.get_classifier().out_features == 3 and lm.head == "head"
    grey = load_model("timm:resnet18", num_classes=4, in_channels=1)
    assert grey.preprocess.channels == 1 and len(grey.preprocess.mean) == 1
    assert grey.model(grey.preprocess(torch.rand(2, 3, 40, 40))).shape == (2, 4)


def test_fine_tuned_external_checkpoint_rebuilds_from_arch(tv, resnet, tmp_path):
    _, path = resnet
    lm = load_model("torchvision:resnet18", path, num_classes=4, new_head=True, input_size=32)
    # what Trainer writes: weights and the arch record
    torch.save({"model": lm.model.state_dict(), "arch": lm.arch}, tmp_path / "ck.pt")
    back = load_model(checkpoint=tmp_path / "ck.pt")
    assert back.arch == lm.arch and back.preprocess == lm.preprocess
    with torch.no_grad():
        torch.testing.assert_close(back.model(X), lm.model(X))
    with pytest.raises(InputError, match="checkpoint is for 'torchvision:resnet18'"):
        load_model("torchvision:resnet34", tmp_path / "ck.pt")
    with pytest.raises(InputError, match="checkpoint is for 4 classes"):
        load_model(None, tmp_path / "ck.pt", num_classes=7)


def test_torchscript_and_exported_programs(tv, resnet, tmp_path):
    ref, _ = resnet
    torch.jit.save(torch.jit.script(ref), tmp_path / "r.ts")
    ts = load_model(str(tmp_path / "r.ts"))
    assert ts.source == "torchscript" and ts.head is None and ts.preprocess.size is None
    with torch.no_grad():
        torch.testing.assert_close(ts.model(X), ref(X))
    batch = torch.export.Dim("batch")
    ep = torch.export.export(ref, (X,), dynamic_shapes={"x": {0: batch}})
    torch.export.save(ep, tmp_path / "r.pt2")
    ex = load_model(str(tmp_path / "r.pt2"))
    assert ex.head == "fc" and ex.num_classes == 10 and ex.preprocess.input_shape == (3, 32, 32)
    x5 = torch.rand(5, 3, 32, 32)
    with torch.no_grad():
        lo, z = ModelAdapter(ex.model, head=ex.head).forward_both(x5)
        lo_ref, z_ref = ModelAdapter(ref, head="fc").forward_both(x5)
    torch.testing.assert_close(lo, lo_ref)
    torch.testing.assert_close(z, z_ref)
    torch.export.save(torch.export.export(ref, (X,)), tmp_path / "fixed.pt2")
    with pytest.raises(InputError, match="fixed batch size 3"):
        load_model(str(tmp_path / "fixed.pt2"))
    with pytest.raises(InputError, match="torchscript program, not a state dict"):
        load_model("torchvision:resnet18", tmp_path / "r.ts")
    with pytest.raises(InputError, match="holds its weights"):
        load_model(str(tmp_path / "r.ts"), tmp_path / "r.ts")
    own = Preprocess(size=32, mean=(0.5,) * 3, std=(0.5,) * 3)
    assert load_model(str(tmp_path / "r.ts"), preprocess=own.to_dict()).preprocess == own


def test_registry_names_keep_working(tmp_path):
    torch.manual_seed(0)
    m = create_model("cnn", num_classes=6, in_channels=1, rotation_head=True).eval()
    torch.save({"model": m.state_dict(), "arch": m.arch_config()}, tmp_path / "ck.pt")
    lm = load_model(checkpoint=tmp_path / "ck.pt")
    assert lm.arch == m.arch_config() and lm.head == "fc" and lm.source == "energy_ood"
    assert lm.num_classes == 6 and lm.in_channels == 1
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(lm.model(x), m(x))
    torch.save(m.state_dict(), tmp_path / "sd.pt")  # a bare state dict: classes from fc.weight
    assert load_model("cnn", tmp_path / "sd.pt", in_channels=1, rotation_head=True).num_classes == 6
    assert load_model("wrn40_2", num_classes=3).model.fc.out_features == 3
    new = load_model(checkpoint=tmp_path / "ck.pt", num_classes=2, new_head=True)
    assert new.model.fc.out_features == 2 and new.arch["num_classes"] == 2
    assert new.model.rot_head.out_features == 4  # only the class head is new
    assert torch.equal(new.model.state_dict()["rot_head.weight"], m.state_dict()["rot_head.weight"])
    with pytest.raises(InputError, match="checkpoint is for 'cnn', not 'wrn40_2'"):
        load_model("wrn40_2", tmp_path / "ck.pt")
    with pytest.raises(InputError, match="unknown model 'nope'"):
        load_model("nope")
    with pytest.raises(InputError, match="no such model file"):
        load_model("missing/model.pt2")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_loaded_models_run_on_cuda(tv, resnet, tmp_path):
    ref, path = resnet
    lm = load_model("torchvision:resnet18", path, input_size=32, device="cuda")
    assert next(lm.model.parameters()).is_cuda
    x = lm.preprocess(torch.rand(4, 3, 40, 40))
    with torch.no_grad():
        lo, z = ModelAdapter(lm.model, head=lm.head).forward_both(x.cuda())
        want = ref(x)
    assert lo.is_cuda and z.shape == (4, 512)
    torch.testing.assert_close(lo.cpu(), want, atol=1e-3, rtol=1e-3)
    ep = torch.export.export(ref, (x,), dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    torch.export.save(ep, tmp_path / "r.pt2")
    ex = load_model(str(tmp_path / "r.pt2"), device="cuda")
    with torch.no_grad():
        lo2, _ = ModelAdapter(ex.model, head=ex.head).forward_both(x.cuda())
    torch.testing.assert_close(lo2.cpu(), want, atol=1e-3, rtol=1e-3)
