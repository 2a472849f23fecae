"""Every bundled benchmark config loads into its kind's typed config, names things that exist,
and meets the project's rules for benchmarks (seeds, families, epochs). The CIFAR-10 ones need
a GPU to run in reasonable time and so are checked here rather than run."""

import pytest

from energy_ood._validate import InputError
from energy_ood.bench.config_files import bundled_configs, load_config, parse_overrides
from energy_ood.bench.holdout.config import HoldoutConfig
from energy_ood.bench.methods.config import MethodsConfig
from energy_ood.bench.ood.config import OODConfig
from energy_ood.bench.registry import get_protocol, protocols
from energy_ood.bench.vlm.config import VLMConfig
from energy_ood.bench.walkthrough.config import WalkthroughConfig
from energy_ood.data.sources import ood_family, source_info

CONFIGS = bundled_configs()


def test_bundled_configs_present():
    assert {"demo", "demo_digits", "fmnist", "cifar10", "holdout_fmnist", "holdout_cifar10",
            "vlm_wordnet", "walkthrough"} <= set(CONFIGS)  # fmt: skip
    # the shipped protocols are there; a new one is checked by test_protocol_contract.py
    assert {"ood", "holdout", "vlm", "walkthrough", "methods"} <= set(protocols())
    assert {"methods_fmnist", "methods_cifar10_cpu"} <= set(CONFIGS)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_loads_typed(name):
    cfg = load_config(name)
    assert isinstance(cfg, get_protocol(cfg.kind).config_cls)
    assert cfg.device == {"cifar10_gpu": "cuda", "cifar10_cpu": "cpu",
                          "methods_cifar10_cpu": "cpu"}.get(name, "auto")  # fmt: skip
    assert cfg.amp in ("auto", "bf16", "fp16", "off")
    assert load_config(name).to_dict() == cfg.to_dict()  # plain values, deterministic
    if isinstance(cfg, OODConfig):
        assert len(cfg.seeds) >= (1 if name == "cifar10_gpu" else 3)  # the GPU check: speed
        aux_families = {ood_family(a) for a in cfg.data.aux}
        natural = [s for s in cfg.data.ood_sets if source_info(s).kind == "natural"]
        assert not aux_families & {ood_family(s) for s in cfg.data.ood_sets}
        if cfg.sweeps.margins is not None:  # validation outliers of a family of their own
            val = {ood_family(v) for v in cfg.data.margin_val}
            assert val and not val & (aux_families | {ood_family(s) for s in cfg.data.ood_sets})
        # >= 3 natural-image OOD sets unrelated to the auxiliary data, without --data-root
        packaged = [s for s in natural if s not in ("mnist", "cifar10-grey")]
        assert len(packaged) >= 3, natural
    elif isinstance(cfg, HoldoutConfig):
        assert cfg.trials >= 3 and "center-mask" in cfg.variants and "rotation" in cfg.variants
    elif isinstance(cfg, VLMConfig):
        assert cfg.data.splits >= 3 and len(cfg.zeroshot.taus) > 1
    elif isinstance(cfg, MethodsConfig):
        assert len(cfg.seeds) >= 3 and cfg.compare.baselines == ["energy", "ce"]
        names = {m.name for m in cfg.methods}
        assert {"ce", "energy", "oe", "logitnorm", "vos", "mixoe", "energy-scratch"} <= names
        assert any(s.name == "weighted_ebo" for s in cfg.posthoc.methods)
        aux_families = {ood_family(a) for a in cfg.data.aux}
        assert not aux_families & {ood_family(s) for s in cfg.data.ood_sets}
        natural = [s for s in cfg.data.ood_sets if source_info(s).kind == "natural"]
        assert len([s for s in natural if s not in ("mnist", "cifar10-grey")]) >= 3
    elif isinstance(cfg, WalkthroughConfig):
        assert len(cfg.seeds) >= 3
    # a protocol added later has its own rules in its own tests (test_protocol_contract.py
    # checks its shape)


def test_full_benchmarks_are_faithful_where_claimed():
    f = load_config("fmnist")
    assert f.finetune.epochs == 10 and set(f.finetune.methods) == {"oe", "energy", "single-margin"}
    gaps = [d_out - d_in for d_in, d_out in f.sweeps.margins.offsets]
    assert min(gaps) == 0 and max(gaps) >= 14  # widens from the data-chosen gap toward 18
    odin = [m for m in f.posthoc.methods if m.name == "odin"]
    assert {m.params["eps"] for m in odin} == {5e-5, 0.0}
    assert {m.params["T"] for m in odin} == {1000.0}
    h = load_config("holdout_fmnist")
    assert h.train.epochs >= 30 and h.train.center_mask and h.train.rotation_lambda == 0.5


def test_cifar10_cpu_config():
    """The CPU CIFAR-10 benchmark: the energy paper's protocol at the size 2 cores allow."""
    c = load_config("cifar10_cpu")
    assert (c.model.name, c.pretrain.epochs, c.pretrain.augment) == ("resnet9", 20, "crop-flip")
    assert (c.device, c.amp, c.seeds) == ("cpu", "bf16", [0, 1, 2])
    assert c.finetune.epochs == 3 and c.finetune.methods == ["oe", "energy", "single-margin"]
    assert [m.to_plain() for m in c.posthoc.methods] == [
        m.to_plain() for m in load_config("cifar10").posthoc.methods
    ]  # every post-hoc scorer of the full-size config
    natural = [s for s in c.data.ood_sets if source_info(s).kind == "natural"]
    assert {"mnist", "scenes", "textures", "mate-nature", "gimp-textures",
            "sklearn-photos"} <= set(natural)  # fmt: skip
    new = {ood_family(s) for s in natural} - {ood_family(s) for s in load_config("fmnist")
                                              .data.ood_sets}  # fmt: skip
    assert len(new) >= 2  # natural-image families of its own, from Debian packages
    assert len({ood_family(a) for a in c.data.aux}) >= 3
    assert len(c.sweeps.margins.offsets) == 3 and len(c.sweeps.temperatures) > 1


def test_overrides():
    over = parse_overrides(["pretrain.epochs=2", "data.ood_sets=['mnist']", "model.name='wrn'"])
    assert over == {
        "pretrain": {"epochs": 2},
        "data": {"ood_sets": ["mnist"]},
        "model": {"name": "wrn"},
    }
    cfg = load_config("fmnist", parse_overrides(["pretrain.epochs=2", "data.ood_sets=['mnist']"]))
    assert cfg.pretrain.epochs == 2 and cfg.pretrain.lr == 0.1 and cfg.data.ood_sets == ["mnist"]
    assert cfg.data.aux  # untouched keys stay
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_overrides(["epochs"])
    with pytest.raises(InputError, match="model.name: unknown model 'wrn50'"):
        load_config("fmnist", parse_overrides(["model.name='wrn50'"]))


def test_tomli_fallback_where_tomllib_is_missing(monkeypatch):
    """Python 3.10 has no tomllib: config reading falls back to tomli (a dependency there)."""
    import importlib
    import sys
    import types

    import energy_ood.bench.config_files as config

    tomllib = pytest.importorskip("tomllib")  # on 3.10 every other config test uses tomli

    fake = types.ModuleType("tomli")
    fake.loads, fake.TOMLDecodeError = tomllib.loads, tomllib.TOMLDecodeError
    monkeypatch.setitem(sys.modules, "tomllib", None)  # import tomllib -> ModuleNotFoundError
    monkeypatch.setitem(sys.modules, "tomli", fake)
    try:
        importlib.reload(config)
        assert config.tomllib is fake
        assert config.read_toml(config.find_config("fmnist"))["data"]["dataset"] == "fashion-mnist"
    finally:
        monkeypatch.undo()
        importlib.reload(config)
    assert config.tomllib is tomllib
