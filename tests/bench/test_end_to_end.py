"""Each protocol end to end on tiny real data (scikit-learn digits, WordNet glosses): the report
files exist and their numbers are consistent with each other."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from energy_ood.cli.main import main
from energy_ood.data.packaged import PACKAGES
from energy_ood.metrics import average_precision

pytestmark = pytest.mark.slow
KEYS = ("fpr95", "auroc", "aupr_in", "aupr_out")

OOD_TOML = """
title = "tiny dataset-vs-dataset"
seeds = [0, 1]
skip_missing = true
[data]
dataset = "digits"
ood_sets = ["sklearn-photos", "gimp-textures", "gaussian", "uniform"]
aux = ["scenes-aux", "textures-aux"]
margin_val = ["mate-nature"]
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
  { name = "odin", T = 1000.0, eps = 5e-5 }, { name = "odin", T = 1000.0, eps = 0.0 },
  { name = "self_normalized_energy" },
]
[eval]
n_draws = 3
fit_samples = 800
[finetune]
methods = ["oe", "energy", "single-margin"]
epochs = 1
lr = 0.001
batch_size = 64
aux_batch_size = 128
n_aux = 1000
[sweeps]
temperatures = [1, 10, 100]
[sweeps.margins]
offsets = [[0.0, 0.0], [-1.0, 1.0], [-3.0, 3.0]]
"""

HOLDOUT_TOML = """
kind = "holdout"
title = "tiny hold-out-class"
seed = 0
trials = 2
rotation = true
classes = [0, 1, 7]
methods = [{ name = "msp" }, { name = "odin", T = 1000.0, eps = 5e-5 },
           { name = "odin", T = 1000.0, eps = 0.0 }, { name = "energy" }]
[data]
dataset = "digits"
[model]
name = "cnn"
[train]
epochs = 2
lr = 0.05
batch_size = 64
center_mask = true
"""


def _bench(tmp_path: Path, text: str) -> tuple[Path, dict]:
    cfg, out = tmp_path / "cfg.toml", tmp_path / "out"
    cfg.write_text(text)
    assert main(["--quiet", "bench", str(cfg), "--out", str(out)]) == 0
    for f in ("results.json", "report.md", "report.html"):
        assert (out / f).is_file(), f
    return out, json.loads((out / "results.json").read_text())


def test_dataset_vs_dataset_protocol(tmp_path):
    from energy_ood.bench.ood.results import OODResults
    from energy_ood.bench.stats import paired_verdict

    out, plain = _bench(tmp_path, OOD_TOML)
    res = OODResults.from_plain(plain)
    sets = res.ood_sets
    assert sets[0] == "sklearn-photos" and sets[-2:] == ["gaussian", "uniform"]
    assert res.headline_sets == sets[:-2] and res.noise_sets == ["gaussian", "uniform"]
    assert res.seeds == [0, 1] and res.protocol["ood_pool"] == {s: 400 for s in sets}
    assert len(res.evaluations) == 10 + 3 * 2  # post-hoc methods + msp/energy per fine-tune
    for e in res.evaluations:
        assert len(e.per_seed) == 2
        for ps in e.per_seed:
            assert all(0.0 <= ps[s][k] <= 1.0 for s in sets for k in KEYS)
    # a mean row is the spread over seeds of each seed's mean over the headline sets
    en = res.find("pretrained", "energy")
    per_seed = [np.mean([ps[s]["fpr95"] for s in res.headline_sets]) for ps in en.per_seed]
    assert en.mean_over(res.headline_sets, "fpr95") == pytest.approx(per_seed)
    text = (out / "report.md").read_text()
    cell = f"{100 * np.mean(per_seed):.2f} ± {100 * np.std(per_seed, ddof=1):.2f}"
    mean_line = next(ln for ln in text.splitlines() if ln.startswith("| **mean, natural"))
    assert cell in mean_line
    # every claim's verdict follows from its own per-seed numbers by the stated rule
    assert res.claims and "Verdicts: each claim" in text
    for c in res.claims:
        assert c.verdict == paired_verdict(c.claimed, c.other, c.lower_is_better)
    texts = {c.text for c in res.claims}
    assert "two margins keep more ID accuracy than one (single-margin hinge)" in texts
    assert any(t.startswith("ODIN's input perturbation helps") for t in texts)
    for m in ("oe", "energy", "single-margin"):
        assert len(res.id_error[m]) == 2 and all(0.0 < v < 0.6 for v in res.id_error[m])
    # the margin sweep chose on validation figures only (against mate-nature, a family of
    # neither the outliers nor a test), said how, and every seed used that offset
    ms = res.margin_sweep
    vals = [(p.val_fpr95, -p.val_auroc, p.val_error) for p in ms.points]
    assert ms.chosen == min(range(3), key=lambda i: (*vals[i], i)) and ms.seed == 0
    assert ms.val_sets == ["mate-nature"] and ms.val_pool["families"] == ["mate-backgrounds"]
    assert ms.choice_text() in text and ms.choice["tied"]
    off = ms.points[ms.chosen].offset
    for m in res.margins["energy"]:
        assert m["m_in"] == pytest.approx(m["base"]["m_in"] + off[0], abs=2e-3)
        assert m["m_out"] == pytest.approx(m["base"]["m_out"] + off[1], abs=2e-3)
    for e, s in zip(res.margins["energy"], res.margins["single-margin"]):
        assert s["margin"] == pytest.approx(e["m_out"] - e["m_in"], abs=2e-3)
    # T = 1 of the sweep is the post-hoc energy score
    ts = res.temperature_sweep
    assert np.array(ts.energy_fpr95)[:, 0] == pytest.approx(per_seed)
    assert len(res.noise["per_seed"]) == 2 and "spearman_norm_vs_neg_energy" in str(res.noise)
    assert text.index("## What differs from the paper") < text.index("## Convention")
    assert "| machine" in text and "## Per OOD set: paired verdicts" in text
    for png in (
        "fpr95_per_set.png",
        "roc_posthoc.png",
        "fpr_vs_temperature.png",
        "margins.png",
        "noise_energy_and_norm.png",
    ):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert res.run["seed"] == 0 and "torch" in res.run["versions"] and res.run["machine"]["cpu"]


def test_holdout_protocol(tmp_path):
    out, res = _bench(tmp_path, HOLDOUT_TOML)
    assert res["classes"] == ["0", "1", "7"] and res["trials"] == 2
    assert res["convention"]["positive"].startswith("held-out class")
    assert list(res["variants"]) == ["plain", "center-mask", "rotation"]
    for var in res["variants"].values():
        for m in res["labels"]:
            a = np.array(var["ap"][m])  # trials x classes
            assert a.shape == (2, 3) and ((a >= 0) & (a <= 1)).all()
        assert 0.3 < np.mean(var["accuracy"]) <= 1.0
    texts = [c["text"] for c in res["claims"]]
    assert (
        "centre masking raises accuracy" in texts and "the rotation head raises accuracy" in texts
    )
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
    assert text.index("## What differs from the paper") < text.index("## Claims")
    assert "held-out class" in text and "**mean**" in text and "trials won" in text
    rows = {r[0]: r[2] for r in res["departures"]}
    assert rows["rotation task"].startswith("alternating class / rotation updates")
    assert rows["centre-mask ablation"] == "4x4 inside the central 5x5 (8x8 images)"
    assert rows["training images"].startswith("the whole training pool")  # no train_limit
    assert [s["seed"] for s in res["subsets"]] == [0, 1000] and "## Training subsets" in text
    assert (out / "ap_per_class_center-mask.png").is_file()


VLM_TOML = """
title = "tiny WordNet gloss benchmark"
kind = "vlm"
seed = 0
[data]
wordnet_dir = "/usr/share/wordnet"
exclude = ["noun.Tops"]
per_category = 24
train_per_class = 8
val_per_class = 4
n_id = 5
splits = 2
[encoder]
kind = "sentence"
[zeroshot]
templates = ["a definition of a kind of {}."]
logit_scales = [10.0, 100.0]
taus = [0.1, 1.0]
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
    assert res["stages"] == ["zero-shot", "CoOp CE", "CoOp CE+EBM"]
    assert "reconstruction" in res["reconstruction"].lower()
    for sp in res["splits"]:
        # validation never sees a test category, and ID validation glosses are not test glosses
        assert not set(sp["val_ood_categories"]) & set(sp["ood_categories"])
        assert not set(sp["val_ood_categories"]) & set(sp["id_categories"])
        for stage in sp["stages"].values():
            for label, ch in stage["chosen"].items():
                param = res["params"][label]
                assert ch[param] in ([0.1, 1.0] if param == "tau" else [10.0, 100.0])
    # Delta-Energy with the floor far below every cosine is -tau log(1 - MSP): at the same
    # logit scale it ranks as MSP, except where MSP saturates at 1.0 in float32
    for sp in res["splits"]:
        d = sp["stages"]["zero-shot"]["default"]
        assert d["DeltaE(c=1,floor=-1)"]["auroc"] == pytest.approx(d["MSP"]["auroc"], abs=0.02)
    assert any(c["text"].startswith("zero-shot: Delta-Energy") for c in res["claims"])
    assert (out / "prompts" / "split0_ce_ebm.pt").is_file()
    text = (out / "report.md").read_text()
    assert "Reconstruction" in text and "Temperatures chosen on validation" in text
    assert "splits won" in text and "## Per split: best scores" in text


EXTERNAL_TOML = """
title = "a torchvision model of one's own"
seeds = [0]
[data]
dataset = "digits"
ood_sets = ["gaussian", "uniform"]
aux = ["scenes-aux"]
n_ood = 100
[model]
name = "torchvision:resnet18"
checkpoint = "CKPT"
new_head = true
input_size = 32
[pretrain]
epochs = 1
lr = 0.01
batch_size = 64
[posthoc]
methods = [{ name = "msp" }, { name = "energy" }, { name = "mahalanobis" }]
[eval]
n_draws = 2
fit_samples = 200
[finetune]
methods = ["energy"]
epochs = 1
lr = 0.001
batch_size = 64
aux_batch_size = 64
n_aux = 200
"""


def test_bench_starts_from_a_torchvision_checkpoint(tmp_path):
    """model.name = "torchvision:..." with a local checkpoint: its preprocessing sizes the data,
    the pretraining stage trains a new head from those weights, fine-tuning and scoring run."""
    tv = pytest.importorskip("torchvision")
    import torch

    from energy_ood.bench.ood.results import OODResults

    torch.manual_seed(0)
    ck = tmp_path / "r18.pth"
    torch.save(tv.models.resnet18(num_classes=5).state_dict(), ck)
    out, plain = _bench(tmp_path, EXTERNAL_TOML.replace("CKPT", str(ck)))
    res = OODResults.from_plain(plain)
    run = json.loads((out / "seed0" / "base" / "run.json").read_text())
    arch = run["config"]["arch"]
    assert arch["name"] == "torchvision:resnet18" and arch["num_classes"] == 10
    assert run["data"]["image_size"] == 32 and run["data"]["channels"] == 3
    assert {e.spec.name for e in res.evaluations} >= {"msp", "energy", "mahalanobis"}
    assert len(res.id_error["energy"]) == 1 and 0.0 < res.id_error["energy"][0] < 1.0
    assert f"torchvision:resnet18, starting from {ck}" in (out / "report.md").read_text()
    # a head of the wrong size without new_head is refused before anything trains
    cfg = tmp_path / "no_head.toml"
    cfg.write_text(EXTERNAL_TOML.replace("CKPT", str(ck)).replace("new_head = true\n", ""))
    assert main(["--quiet", "bench", str(cfg), "--out", str(tmp_path / "o2")]) == 2


def test_time_budget_is_measured_once_and_kept_on_resume(tmp_path, monkeypatch):
    """The epoch count of pretrain.time_budget_s is part of the run: a resumed bench reads it
    back from budget.json instead of measuring again (which would give another count)."""
    from energy_ood.train import budget as B

    cfg = tmp_path / "b.toml"
    cfg.write_text(EXTERNAL_TOML.split("[model]")[0] + "[pretrain]\nepochs = 1\nlr = 0.05\n"
                   "time_budget_s = 3.0\n[posthoc]\nmethods = [{ name = \"energy\" }]\n"
                   "[eval]\nn_draws = 2\nfit_samples = 200\n")  # fmt: skip
    out = tmp_path / "out"
    assert main(["--quiet", "bench", str(cfg), "--out", str(out)]) == 0
    kept = json.loads((out / "seed0" / "budget.json").read_text())
    run = json.loads((out / "seed0" / "base" / "run.json").read_text())
    assert run["config"]["train"]["epochs"] == kept["epochs"] >= 1

    def no_probe(*a, **k):
        raise AssertionError("measured again on resume")

    monkeypatch.setattr(B, "epochs_for_budget", no_probe)
    assert main(["--quiet", "bench", str(cfg), "--out", str(out)]) == 0
    (out / "seed0" / "budget.json").write_text("[]")
    assert main(["--quiet", "bench", str(cfg), "--out", str(out)]) == 2


SHARED = Path(os.environ.get("ENERGY_OOD_DATA_ROOT") or "/work/shared/data")
CIFAR_CPU_SETS = ("tuxpaint-stamps", "ukui-wallpapers", "mypaint-paper", "lxqt-photos",
                  "lomiri-photos")  # fmt: skip
TINY_CIFAR = [
    "data.train_limit=400", "data.test_limit=200", "data.n_ood=100",
    "data.ood_sets=['lomiri-photos', 'gaussian']", "pretrain.epochs=1", "finetune.epochs=1",
    "finetune.n_aux=200", "seeds=[0]", "posthoc.methods=[{name='msp'}, {name='energy'}]",
    "eval.n_draws=2", "eval.fit_samples=100", "sweeps.temperatures=[1, 10]",
    "strict=false",  # one epoch on 400 images sits near chance: the gate would stop it
]  # fmt: skip


@pytest.mark.skipif(
    not (SHARED / "cifar10-jpeg.tar.gz").is_file()
    or not all(Path(PACKAGES[s].system).is_dir() for s in CIFAR_CPU_SETS),
    reason="shared CIFAR-10 copy or a Debian picture package (scripts/setup.sh) absent",
)
def test_cifar10_cpu_config_end_to_end(tmp_path):
    """`bench cifar10_cpu` cut down with --set: ResNet-9, the three-family pool without CIFAR-10
    classes, the margin sweep on lxqt-photos; a second call resumes and changes nothing."""
    out = tmp_path / "out"
    argv = ["--quiet", "bench", "cifar10_cpu", "--data-root", str(SHARED), "--out", str(out)]
    for s in TINY_CIFAR:
        argv += ["--set", s]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["run"]["config"]["model"]["name"] == "resnet9"
    assert res["timings"]["runtime"]["amp"] == "bf16"
    pool = res["aux_pool"]
    assert pool["families"] == ["mypaint", "tuxpaint", "ukui-wallpapers"] and pool["distinct"]
    # 360 training images, batch 128: 3 steps of 256 outliers for 1 epoch, over 200 outliers
    assert pool["n_train"] == 200 and pool["draws"] == 3 * 256 and pool["reuse"] == 3.84
    left = res["sources"]["tuxpaint-stamps"]["left_out"]
    assert left["animals/mammals/dogs/dog.png"].startswith("dog")
    ms = res["margin_sweep"]
    assert ms["val_sets"] == ["lxqt-photos"] and len(ms["points"]) == 3
    assert all(p["val_auroc"] is not None for p in ms["points"])
    text = (out / "report.md").read_text()
    assert "3.8 times on average" in text and "against lxqt-photos outliers" in text
    assert (
        "| margin validation only" in text
        and "| 1 epoch, SGD (Nesterov momentum 0.9) lr 0.001" in text
    )
    before = {k: res[k] for k in ("id_error", "evaluations", "margins")}
    assert main(argv) == 0  # resumes: every run folder is complete, the numbers are the same
    again = json.loads((out / "results.json").read_text())
    assert {k: again[k] for k in before} == before
