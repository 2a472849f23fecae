"""Every bundled benchmark config names things that exist (the CIFAR-10 ones included, which
need a GPU to run in reasonable time and so are checked here rather than run)."""

import pytest

from energy_ood.data import available_datasets, ood_set_names
from energy_ood.data.splits import AuxiliaryPool
from energy_ood.evaluate.config import CONFIG_DIR, load_config
from energy_ood.models import available_models
from energy_ood.score import available_scorers
from energy_ood.train import TrainConfig

CONFIGS = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def test_bundled_configs_present():
    assert {"demo", "demo_digits", "fmnist", "cifar10", "holdout_fmnist", "holdout_cifar10"} <= set(
        CONFIGS
    )


@pytest.mark.parametrize("name", CONFIGS)
def test_config_is_consistent(name):
    cfg = load_config(name)
    kind = cfg.get("kind", "ood")
    if kind == "vlm":
        assert cfg["data"]["n_id"] >= 2 and cfg["tune"]["losses"]
        return
    assert cfg["data"]["dataset"] in available_datasets()
    assert cfg["model"]["name"] in available_models()
    methods = cfg.get("methods") or cfg.get("posthoc", {}).get("methods", [])
    assert methods and all(m["name"] in available_scorers() for m in methods)
    if kind == "holdout":
        TrainConfig(method="rotation", **{k: cfg["train"][k] for k in ("epochs", "lr")})
        return
    sets, aux = cfg["data"]["ood_sets"], cfg["data"]["aux"]
    assert set(sets) <= set(ood_set_names()) and set(aux) <= set(ood_set_names())
    AuxiliaryPool(aux, sets)  # raises if an auxiliary source overlaps a test set
    for m in cfg.get("finetune", {}).get("methods", []):
        assert m in ("energy", "oe", "single-margin")


def test_overrides():
    from energy_ood._validate import InputError
    from energy_ood.evaluate.config import parse_overrides

    over = parse_overrides(["pretrain.epochs=2", "data.ood_sets=['mnist']", "model.name=wrn"])
    assert over == {
        "pretrain": {"epochs": 2},
        "data": {"ood_sets": ["mnist"]},
        "model": {"name": "wrn"},
    }
    cfg = load_config("fmnist", over)
    assert cfg["pretrain"] == {"epochs": 2, "lr": 0.1} and cfg["data"]["ood_sets"] == ["mnist"]
    assert cfg["data"]["aux"]  # untouched keys stay
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_overrides(["epochs"])
