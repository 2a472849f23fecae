"""The vlm "what differs from the paper" table is built at render time from results.json's
records: it follows a changed record and reads "not recorded" where an old results.json lacks
one; the notes' measured relation of Delta-Energy's limits follows the numbers."""

import copy
import json
from pathlib import Path

from energy_ood.bench.vlm.disclosure import vlm_departures
from energy_ood.bench.vlm.notes import limits_text
from energy_ood.bench.vlm.results import from_plain

VLM = Path(__file__).resolve().parents[3] / "docs" / "results" / "vlm_wordnet" / "results.json"


def _res():
    return from_plain(json.loads(VLM.read_text()))


def _rows(res) -> dict:
    return {r[0]: r[2] for r in vlm_departures(res)}


def test_rows_read_off_the_records():
    rows = _rows(_res())
    assert rows["data"].startswith("WordNet noun glosses: 24 categories, 12 ID per split")
    assert "vs 4 validation-OOD categories" in rows["temperatures"]
    assert rows["prompt tuning"] == "CoOp, 32 glosses per class, epochs: 10, lr 0.002, batch 32"
    assert rows["repetitions"].startswith("5 seeded")
    assert "no GPU" in rows["machine"] and "all-MiniLM-L6-v2" in rows["model"]


def test_a_changed_record_changes_its_row():
    res = _res()
    res.run["config"]["tune"]["epochs"] = 3
    res.run["config"]["data"]["splits"] = 2
    res.run["machine"]["gpus"] = ["NVIDIA H200"]
    rows = _rows(res)
    assert "epochs: 3," in rows["prompt tuning"] and rows["repetitions"].startswith("2 seeded")
    assert "GPU: NVIDIA H200" in rows["machine"]


def test_missing_records_read_not_recorded():
    res = _res()
    res.run = {k: v for k, v in res.run.items() if k not in ("config", "machine", "data")}
    rows = _rows(copy.deepcopy(res))
    assert rows["model"] == "not recorded" and rows["machine"] == "not recorded"
    assert "not recorded categories, not recorded ID per split" in rows["data"]
    assert "tau from not recorded" in rows["temperatures"]
    assert "epochs: not recorded" in rows["prompt tuning"]


def _set_auroc(res, label, value):
    for sp in res.splits:
        for st in sp["stages"].values():
            st["scores"][label]["auroc"] = value


def test_limits_wording_follows_the_numbers():
    res = _res()
    _set_auroc(res, "DeltaE(c=1,floor=-1)", 0.70)
    _set_auroc(res, "MSP", 0.70)
    _set_auroc(res, "DeltaE(c=1,floor=0.2)", 0.60)
    _set_auroc(res, "Energy", 0.65)
    text = limits_text(res)
    assert "DeltaE(c=1,floor=-1) 70.00 vs MSP 70.00 (equal to MSP's)" in text
    assert "DeltaE(c=1,floor=0.2) 60.00 vs Energy 65.00 (5.00 below Energy's)" in text
    _set_auroc(res, "Energy", 0.55)
    _set_auroc(res, "MSP", 0.69)
    text = limits_text(res)
    assert "(1.00 above MSP's)" in text and "(5.00 above Energy's)" in text
    assert "derived from its definition, not measured" in text


def test_limits_without_the_sweep_are_only_the_derivation():
    res = _res()
    res.labels = [lab for lab in res.labels if not lab.startswith("DeltaE(c=1,")]
    assert "Measured here" not in limits_text(res)
