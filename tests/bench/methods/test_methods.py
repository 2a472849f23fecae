"""The training-method comparison (``kind = "methods"``): its configs are checked when they load
(one line naming the key), and both bundled configs run end to end, cut down with --set (digits
for methods_fmnist; the shared CIFAR-10 copy for methods_cifar10_cpu)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from energy_ood._validate import InputError
from energy_ood.bench.config_files import load_config, parse_overrides
from energy_ood.bench.methods import run as methods_run
from energy_ood.bench.methods import score_cache
from energy_ood.cli.main import main
from energy_ood.data.packaged import PACKAGES

SHARED = Path(os.environ.get("ENERGY_OOD_DATA_ROOT") or "/work/shared/data")
ALL = ["ce", "energy", "oe", "mixoe", "logitnorm", "vos", "energy-scratch"]
TINY = [  # the comparison in about a minute: 2 seeds, 1 epoch per stage, 3 scorers
    "seeds=[0, 1]", "scratch.epochs=1", "finetune.epochs=1", "scratch.batch_size=64",
    "finetune.batch_size=64", "eval.n_draws=2", "eval.fit_samples=300", "strict=false",
    "posthoc.methods=[{name='msp'}, {name='energy'}, {name='weighted_ebo'}]",
]  # fmt: skip
TINY_DIGITS = [
    "data.dataset=digits", "data.ood_sets=['sklearn-photos', 'gimp-textures', 'gaussian']",
    "data.aux=['scenes-aux']", "data.n_aux=600", "data.n_ood=300",
    "methods=[{name='ce'}, {name='energy'}, {name='oe'}, {name='mixoe'}, {name='logitnorm'}, "
    "{name='vos', queue_size=20}, {name='energy-scratch'}]",
]  # fmt: skip


@pytest.mark.parametrize(
    "sets, words",
    [
        (["methods=[{name='energy'}]"], "list { name = 'ce' }"),
        (["methods=[{name='ce'}, {name='nope'}]"], "methods[1].name: unknown method 'nope'"),
        (["methods=[{name='ce'}, {name='vos', queue_size=0, select=-1}]"],
         "methods[1]: method 'vos': queue_size must be >= 1, got 0; select must be"),
        (["methods=[{name='ce'}, {name='logitnorm', lam=1.0}]"], "has no hyperparameter 'lam'"),
        (["methods=[{name='ce'}, {name='ce'}]"], "'ce' is listed twice"),
        (["methods=[{name='ce'}, {name='oe', stage='later'}]"], "methods[1].stage"),
        (["compare.baselines=['odin']"], "compare.baselines: 'odin' is not a method label"),
        (["compare.scores=['nope']"], "compare.scores: unknown scorer"),
        (["scratch.time_budget_s=60.0"], "scratch.time_budget_s"),
        (["data.aux=[]"], "data.aux: a method takes auxiliary outliers"),
    ],
)  # fmt: skip
def test_bad_configs_are_one_line(sets, words):
    with pytest.raises(InputError) as e:
        load_config("methods_fmnist", parse_overrides(sets))
    assert words in str(e.value) and "\n" not in str(e.value)


def _run(out: Path, name: str, sets: list[str], data_root=None) -> dict:
    argv = ["--quiet", "bench", name, "--out", str(out), "--device", "cpu"]
    argv += ["--data-root", str(data_root)] if data_root else ["--amp", "off"]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    return json.loads((out / "results.json").read_text())


def _check(res: dict, out: Path) -> None:
    labels = [m["label"] for m in res["methods"]]
    assert labels == ALL and all(len(v) == 2 for v in res["id_error"].values())
    models = {(e["model"], e["label"]) for e in res["evaluations"]}
    for lab in ALL:  # every model scored, each with its own score
        assert {(lab, "msp"), (lab, "energy")} <= models
    assert [m for m, s in models if s == "weighted_ebo"] == ["vos"]  # learned class weights
    w = np.load(out / "seed0" / "vos" / "class_weights.npy")
    assert w.shape == (10,) and np.isfinite(w).all()
    assert res["margins"]["energy"] == res["margins"]["energy-scratch"]  # the same margins
    assert res["margins"]["energy"][0]["m_in"] < res["margins"]["energy"][0]["m_out"]
    assert set(res["verdicts"]) == {"energy", "ce"}
    for train_s in res["timings"]["train_s"]:  # every model's recorded epochs, per seed
        assert list(train_s) == labels and all(t > 0 for t in train_s.values())
    texts = [c["text"] for c in res["verdicts"]["ce"]]
    assert "vos (energy) beats ce (msp)" in texts and "mixoe has lower ID error than ce" in texts
    assert "logitnorm beats ce, both scored with energy" in texts
    for c in res["verdicts"]["energy"]:
        assert c["verdict"]["n"] == 2 and len(c["claimed"]) == len(c["other"]) == 2
    fams = set(res["families"].values())
    report = (out / "report.md").read_text()
    for head in (
        "## What differs from the papers",
        "## Verdicts: X beats energy",
        "## Verdicts: X beats ce",
        "## Per OOD family",
        "## Run time and speed",
    ):
        assert head in report, head
    assert all(f in report for f in fams)
    _check_headline_verdicts(res, report)


def _check_headline_verdicts(res: dict, report: str) -> None:
    """The headline table's "FPR95 beats B?" cells are the FPR95 verdicts of each method's own
    score against B's, from results.json."""
    lines = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in report.splitlines()]
    at = next(i for i, c in enumerate(lines) if c[:2] == ["method", "stage"])
    assert lines[at][-2:] == ["FPR95 beats energy?", "FPR95 beats ce?"]
    rows = {c[0]: c for c in lines[at + 2 : at + 2 + len(res["methods"])]}
    assert list(rows) == [m["label"] for m in res["methods"]]
    for b in ("energy", "ce"):
        for c in res["verdicts"][b]:
            if c["metric"] == "FPR95" and "both scored" not in c["text"]:
                x, v = c["text"].split(" (")[0], c["verdict"]
                lo, hi = 100 * v["low"], 100 * v["high"]
                cell = f"{v['verdict']} (Δ {100 * v['mean_diff']:+.2f} [{lo:+.2f}, {hi:+.2f}])"
                assert rows[x][-2 if b == "energy" else -1] == cell, (x, b, cell)


@pytest.mark.slow
def test_methods_fmnist_end_to_end_on_digits(tmp_path, monkeypatch):
    out = tmp_path / "out"
    res = _run(out, "methods_fmnist", TINY + TINY_DIGITS)
    _check(res, out)
    pool = res["aux_pool"]
    assert pool["n_train"] == 600 and pool["families"]
    before = {k: res[k] for k in ("id_error", "evaluations", "margins", "verdicts")}
    for seed in (0, 1):
        assert all((out / f"seed{seed}" / m / score_cache.CACHE_NAME).is_file() for m in ALL)

    def no_scoring(*a, **k):
        raise AssertionError("a resumed run scored a model whose scores are kept")

    monkeypatch.setattr(methods_run, "score_on_sets", no_scoring)
    again = _run(out, "methods_fmnist", TINY + TINY_DIGITS)  # resumes: nothing retrains
    assert {k: again[k] for k in before} == before


@pytest.mark.slow
@pytest.mark.skipif(
    not (SHARED / "cifar10-jpeg.tar.gz").is_file()
    or not all(Path(PACKAGES[s].system).is_dir()
               for s in ("tuxpaint-stamps", "ukui-wallpapers", "mypaint-paper", "lomiri-photos")),
    reason="shared CIFAR-10 copy or a Debian picture package (scripts/setup.sh) absent",
)  # fmt: skip
def test_methods_cifar10_cpu_end_to_end(tmp_path):
    out = tmp_path / "out"
    sets = TINY + [
        "data.train_limit=400", "data.test_limit=200", "data.n_ood=100", "data.n_aux=200",
        "data.ood_sets=['lomiri-photos', 'scenes', 'gaussian']",
        "methods=[{name='ce'}, {name='energy'}, {name='oe'}, {name='mixoe'}, "
        "{name='logitnorm'}, {name='vos', queue_size=10}, {name='energy-scratch'}]",
    ]  # fmt: skip
    res = _run(out, "methods_cifar10_cpu", sets, data_root=SHARED)
    _check(res, out)
    assert res["run"]["config"]["model"]["name"] == "resnet9"
    assert res["timings"]["runtime"]["amp"] == "bf16"
    assert res["aux_pool"]["families"] == ["mypaint", "tuxpaint", "ukui-wallpapers"]
