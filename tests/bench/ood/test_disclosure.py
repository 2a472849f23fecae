"""The OOD "what differs from the paper" table is built at render time from the results'
records (config, data record, protocol), names every departure the issue lists, follows a
changed config value, and says "not recorded" for what an old results.json lacks."""

import copy
import json
from pathlib import Path

from energy_ood.bench.config_files import load_config
from energy_ood.bench.ood.disclosure import departures
from energy_ood.bench.ood.results import OODResults

FMNIST = Path(__file__).resolve().parents[3] / "docs" / "results" / "fmnist" / "results.json"


def _res(cfg_over=None) -> OODResults:
    res = OODResults.from_plain(json.loads(FMNIST.read_text()))
    cfg = load_config("fmnist").to_dict()
    for section, values in (cfg_over or {}).items():
        cfg[section].update(values)
    res.run = {**res.run, "config": cfg}
    return res


def _rows(res) -> dict:
    return {r[0]: r[2] for r in departures(res)}


def test_every_listed_departure_has_a_row():
    rows = _rows(_res())
    assert rows["images"] == "28x28, 1 channel (grey)"
    assert "cifar10 train images, turned grey" in rows["auxiliary images"]
    assert "2-px padding, no flips" in rows["augmentation"]
    assert rows["dropout"] == "none" and rows["model"].startswith("cnn")
    assert "5 epochs" in rows["pretraining"] and "per-step cosine" in rows["pretraining"]
    assert "10 epochs" in rows["fine-tuning"]
    assert "54.0 times" in rows["auxiliary pool and reuse"]  # 10 x 422 x 256 / 20,000
    assert "seeded subset of 10,000 of the 54,000" in rows["feature scorers fitted on"]
    assert "'first'" in rows["FPR95 operating point"]
    assert "on [0, 1] pixels" in rows["ODIN eps"] and "0.000142" in rows["ODIN eps"]


def test_a_changed_config_value_changes_its_row():
    before = _rows(_res())
    after = _rows(_res({"pretrain": {"augment": "crop-flip", "epochs": 7},
                        "finetune": {"epochs": 5}, "eval": {"fit_samples": 500}}))  # fmt: skip
    assert "random horizontal flips" in after["augmentation"] != before["augmentation"]
    assert "7 epochs" in after["pretraining"]
    assert "27.0 times" in after["auxiliary pool and reuse"]  # half the epochs
    res = _res()
    res.protocol = {k: v for k, v in res.protocol.items() if k != "fit_samples"}
    res.run["config"]["eval"]["fit_samples"] = 500
    assert "subset of 500 of" in _rows(res)["feature scorers fitted on"]


def test_missing_records_read_not_recorded():
    res = _res()
    res.run = {k: v for k, v in res.run.items() if k not in ("data", "config")}
    rows = _rows(copy.deepcopy(res))
    assert rows["images"] == "not recorded" and rows["dropout"] == "not recorded"
    assert rows["pretraining"] == "not recorded"
