"""Each protocol end to end on tiny real data (scikit-learn digits, WordNet glosses): the report
files exist and their numbers are consistent with each other."""

import json
from pathlib import Path

import numpy as np
import pytest

from energy_ood.cli.main import main
from energy_ood.metrics import average_precision

pytestmark = pytest.mark.slow
KEYS = ("fpr95", "auroc", "aupr_in", "aupr_out")

OOD_TOML = """
title = "tiny dataset-vs-dataset"
seed = 0
[data]
dataset = "digits"
ood_sets = ["scenes", "textures", "gaussian"]
aux = ["scenes-aux", "textures-aux", "uniform"]
n_ood = 400
[model]
name = "cnn"
[pretrain]
epochs = 4
lr = 0.05
batch_size = 64
[posthoc]
methods = [
  { name = "msp" }, { name = "energy" }, { name = "maxlogit" }, { name = "mahalanobis" },
  { name = "knn", k = 5 }, { name = "react", percentile = 90.0 }, { name = "vim", dim = 32 },
  { name = "odin", T = 1000.0, eps = 5e-5 }, { name = "self_normalized_energy" },
]
[eval]
n_draws = 3
fit_samples = 800
[finetune]
methods = ["oe", "energy"]
epochs = 1
lr = 0.001
batch_size = 64
aux_batch_size = 128
n_aux = 1000
[sweeps]
temperatures = [1, 10, 100]
single_margin = true
[sweeps.margin_grid]
m_in_offsets = [0.0, 1.0]
m_out_offsets = [0.0, 2.0]
"""

HOLDOUT_TOML = """
kind = "holdout"
title = "tiny hold-out-class"
seed = 0
trials = 2
rotation = true
classes = [0, 1, 7]
methods = [{ name = "msp" }, { name = "odin", T = 1000.0, eps = 5e-5 }, { name = "energy" }]
[data]
dataset = "digits"
[model]
name = "cnn"
[train]
epochs = 2
lr = 0.05
batch_size = 64
"""


def _bench(tmp_path: Path, text: str) -> tuple[Path, dict]:
    cfg, out = tmp_path / "cfg.toml", tmp_path / "out"
    cfg.write_text(text)
    assert main(["--quiet", "bench", str(cfg), "--out", str(out)]) == 0
    for f in ("results.json", "report.md", "report.html"):
        assert (out / f).is_file(), f
    return out, json.loads((out / "results.json").read_text())


def _mean_of_rows(block: dict, sets: list[str]) -> None:
    for k in KEYS:
        assert block["mean"]["mean"][k] == pytest.approx(
            np.mean([block[s]["mean"][k] for s in sets]), abs=1e-12
        )


def test_dataset_vs_dataset_protocol(tmp_path):
    out, res = _bench(tmp_path, OOD_TOML)
    sets = res["protocol"]["ood_sets"]
    assert sets == ["scenes", "textures", "gaussian"]
    assert res["protocol"]["ood_pool"] == {s: 400 for s in sets}
    assert len(res["posthoc"]) == 9
    for block in res["posthoc"].values():
        _mean_of_rows(block, sets)
        for s in sets:
            for k in KEYS:
                assert 0.0 <= block[s]["mean"][k] <= 1.0
    for m in ("oe", "energy"):
        for block in res["finetune"][m]["scores"].values():
            _mean_of_rows(block, sets)
        assert 0.0 < res["finetune"][m]["test_error"] < 0.5
    # self-normalized energy is identically zero up to rounding: its ranking is noise
    assert res["self_normalized_max_abs"] < 1e-5
    sn = res["posthoc"]["self_normalized_energy"]["mean"]["mean"]
    assert sn["auroc"] == pytest.approx(0.5, abs=0.12)  # 3 sigma for 360 vs 72 random scores
    ts = res["temperature_sweep"]
    assert ts["temperatures"] == [1, 10, 100] and len(ts["energy"]) == 3
    e1 = res["posthoc"]["energy"]["mean"]["mean"]["fpr95"]
    assert ts["energy"][0] == pytest.approx(e1)  # T = 1 is the post-hoc energy row
    ms = res["margin_sweep"]
    assert len(ms["fpr95"]) == 2 and ms["single_margin"]["margin"] > 0
    assert ms["single_margin"]["two_margin_test_error"] == ms["test_error"][0][0]
    # the margins were chosen on validation data and recorded
    margins = res["finetune"]["energy"]["margins"]
    assert margins["m_in"] < margins["m_out"] and "validation" in margins["rule"]
    text = (out / "report.md").read_text()
    assert "Table 1 (left)" in text and "Table 1 (right)" in text
    assert "ID is the positive class" in text
    mean_line = next(ln for ln in text.splitlines() if ln.startswith("| **mean**"))
    msp, en = res["posthoc"]["msp"]["mean"]["mean"], res["posthoc"]["energy"]["mean"]["mean"]
    assert f"{100 * msp['fpr95']:.2f} / {100 * en['fpr95']:.2f}" in mean_line
    for png in ("roc_posthoc.png", "fpr_vs_temperature.png", "margins.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert res["run"]["seed"] == 0 and "torch" in res["run"]["versions"]


def test_holdout_protocol(tmp_path):
    out, res = _bench(tmp_path, HOLDOUT_TOML)
    assert res["classes"] == ["0", "1", "7"] and res["trials"] == 2
    assert res["convention"]["positive"].startswith("held-out class")
    y_test = None
    for v in ("plain", "rotation"):
        var = res["variants"][v]
        for m in ("msp", "odin", "energy"):
            a = np.array(var["ap"][m]["all"])  # trials x classes
            assert a.shape == (2, 3) and ((a >= 0) & (a <= 1)).all()
            assert var["ap"][m]["mean"] == pytest.approx(a.mean(1).mean())
            assert var["ap"][m]["per_class_mean"] == pytest.approx(a.mean(0).tolist())
        assert 0.5 < var["accuracy"]["mean"] <= 1.0
    # the skew is what a random detector scores
    from energy_ood.data import load_dataset

    y_test = load_dataset("digits", "test").y
    rng = np.random.default_rng(0)
    for c, skew in zip((0, 1, 7), res["skew"]):
        anomaly = y_test == c
        assert skew == pytest.approx(anomaly.mean())
        rand = np.mean([average_precision(rng.random(len(y_test)), anomaly) for _ in range(200)])
        assert rand == pytest.approx(skew, abs=0.03)
    text = (out / "report.md").read_text()
    assert "held-out class" in text and "**mean**" in text
    assert (out / "ap_per_class_rotation.png").is_file()


VLM_TOML = """
title = "tiny WordNet gloss benchmark"
kind = "vlm"
seed = 0
[data]
wordnet_dir = "/usr/share/wordnet"
exclude = ["noun.Tops"]
per_category = 20
train_per_class = 8
n_id = 5
splits = 2
[encoder]
kind = "sentence"
[zeroshot]
templates = ["a definition of a kind of {}."]
logit_scale = 100.0
tau = 1.0
[delta_energy]
c = [1, 2]
floor = [-1.0, 0.0]
[tune]
losses = ["ce", "ce+ebm"]
n_ctx = 4
epochs = 1
batch_size = 16
[tune.ebm]
mask_ratio = 0.5
"""


@pytest.mark.skipif(
    not Path("/usr/share/wordnet/data.noun").exists(), reason="Debian package wordnet-base absent"
)
def test_vlm_wordnet_protocol(tmp_path):
    cfg, out = tmp_path / "vlm.toml", tmp_path / "vlm"
    cfg.write_text(VLM_TOML)
    assert main(["--quiet", "vlm", "bench", "--config", str(cfg), "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["summary"]) == {"zero-shot", "CoOp CE", "CoOp CE+EBM"}
    assert "reconstruction" in res["reconstruction"].lower()
    for stage, s in res["summary"].items():
        runs = [sp["stages"][stage] for sp in res["splits"]]
        mcm = [r["scores"]["MCM"]["auroc"] for r in runs]
        assert s["scores"]["MCM"]["mean"]["auroc"] == pytest.approx(np.mean(mcm))
    # Delta-Energy with the floor far below every cosine is -tau log(1 - MSP): the same ranking
    # as MSP, except where MSP saturates at 1.0 in float32 (ties that Delta-Energy resolves)
    zs = res["summary"]["zero-shot"]["scores"]
    assert zs["DeltaE(c=1,floor=-1)"]["mean"]["auroc"] == pytest.approx(
        zs["MSP"]["mean"]["auroc"], abs=0.01
    )
    assert (out / "prompts" / "split0_ce_ebm.pt").is_file()
    assert "Reconstruction" in (out / "report.md").read_text()
