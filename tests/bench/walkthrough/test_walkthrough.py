"""README's walk-through benchmark gives exactly the numbers of the commands it lists."""

import json
import shlex

import pytest

from energy_ood.cli.main import main

WALK_TOML = """
kind = "walkthrough"
title = "tiny walk-through"
seeds = [0, 1]
[data]
dataset = "digits"
aux = ["scenes-aux"]
test_sets = ["sklearn-photos", "gaussian"]
evaluate_sets = ["sklearn-photos", "gaussian"]
[pretrain]
epochs = 2
lr = 0.05
[finetune]
method = "energy"
epochs = 1
n_aux = 500
"""


@pytest.mark.slow
def test_walkthrough_equals_its_commands(tmp_path):
    cfg, out = tmp_path / "walk.toml", tmp_path / "walk"
    cfg.write_text(WALK_TOML)
    assert main(["--quiet", "bench", str(cfg), "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["seeds"] == [0, 1] and len(res["accuracy"]["energy"]) == 2
    text = (out / "report.md").read_text()
    assert "README's table" in text and "mean ± std over 2 seeds" in text
    # run seed 1's listed commands by hand in another folder: the same numbers
    cmds = res["commands"]["1"]
    assert cmds[0].startswith("energy-ood train --dataset digits")
    runs = tmp_path / "runs"
    for i, c in enumerate(cmds):
        argv = shlex.split(c.replace("runs/", f"{runs}/"))[1:]
        if argv[0] == "evaluate":
            argv += ["--json", str(tmp_path / f"eval{i}.json")]
        assert main(["--quiet", *argv]) == 0, c
    for i, model in ((2, "pretrained"), (3, "energy")):
        ev = json.loads((tmp_path / f"eval{i}.json").read_text())
        assert 1 - ev["id_test_error"] == res["accuracy"][model][1]
        for score in ("msp", "energy"):
            for s in ("sklearn-photos", "gaussian"):
                for k, v in ev["results"][score][s].items():
                    assert res["metrics"][model][score][s][k][1] == v, (model, score, s, k)
