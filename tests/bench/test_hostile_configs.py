"""Hostile configs and overrides: each one exits with code 2 and ONE line naming the problem,
before anything trains. (Cases from issues 12 and 13; a case that passed validation would start
a benchmark, so every case here must be refused at load.)"""

from pathlib import Path

import pytest

from energy_ood._validate import InputError
from energy_ood.bench.config_files import load_config
from energy_ood.cli.main import main

TINY_OOD = """
title = "t"
seeds = [0, 1, 2]
[data]
dataset = "digits"
ood_sets = ["sklearn-photos", "gaussian"]
aux = ["scenes-aux"]
[finetune]
methods = ["oe"]
"""

CASES = [
    # (argv after "energy-ood", the fragment the one-line message must contain)
    (["bench", "fmnist", "--set", "eval.n_drawz=3"], "eval.n_drawz: unknown key"),
    (["bench", "fmnist", "--set", "finetune.bf16=true"], "finetune.bf16: unknown key"),
    (["bench", "fmnist", "--set", 'pretrain.epochs="two"'], "pretrain.epochs: expected an integer"),
    (["bench", "fmnist", "--set", "data=5"], "data: expected a table, got an integer 5"),
    (["bench", "fmnist", "--set", "eval.n_draws=0"], "eval.n_draws: must be >= 1, got 0"),
    (["bench", "holdout", "--trials", "-1"], "--trials must be >= 1, got -1"),
    (["bench", "fmnist", "--trials", "0"], "--trials must be >= 1, got 0"),
    (["bench", "fmnist", "--epochs", "0"], "pretrain.epochs: must be >= 1, got 0"),
    (["bench", "holdout", "--set", "trials=0"], "trials: must be >= 1"),
    (["bench", "fmnist", "--set", "seeds=[]"], "seeds: needs at least 1 value"),
    (["bench", "fmnist", "--set", "seeds=[0, 0]"], "seeds: 0 is listed twice"),
    (["bench", "fmnist", "--set", "seeds=[-1]"], "seeds[0]: must be >= 0"),
    (["bench", "fmnist", "--set", "pretrain.lr=nan"], "pretrain.lr: must be a finite number"),
    (["bench", "fmnist", "--set", "pretrain.lr=0"], "pretrain.lr: must be > 0"),
    (["bench", "fmnist", "--set", "device=5"], "device: expected a string"),
    (["bench", "fmnist", "--set", 'amp="fp8"'], "amp: expected one of"),
    (["bench", "fmnist", "--set", "threads=0"], "threads: must be >= 1"),
    (["bench", "fmnist", "--set", 'kind="nope"'], "unknown benchmark kind 'nope'"),
    (["bench", "fmnist", "--set", "title=5"], "title: expected a string"),
    (["bench", "fmnist", "--set", "data.ood_sets=['svhn']"], "unknown set 'svhn'"),
    (["bench", "fmnist", "--set", "data.aux=['textures-aux']"],
     "'textures-aux' and OOD test set 'scenes' are one family (scikit-image)"),
    (["bench", "fmnist", "--set", "data.ood_sets=['cifar10-grey']"],
     "'cifar10-train-grey' and OOD test set 'cifar10-grey' are one family"),
    (["bench", "fmnist", "--set", "data.ood_sets=['mnist', 'mnist']"], "'mnist' is listed twice"),
    (["bench", "fmnist", "--set", "posthoc.methods=[{name='knn', kk=3}]"],
     "posthoc.methods[0]: scorer 'knn' has no parameter 'kk'"),
    (["bench", "fmnist", "--set", "posthoc.methods=[{name='nope'}]"], "unknown scorer 'nope'"),
    (["bench", "fmnist", "--set", "posthoc.methods=[{name='odin', T=0.0}]"], "T must be > 0"),
    (["bench", "fmnist", "--set", "sweeps.margins.offsets=[[1.0]]"],
     "offsets[0]: expected [m_in offset, m_out offset]"),
    (["bench", "fmnist", "--set", "finetune.methods=['ce']"],
     "finetune.methods[0]: expected one of"),
    (["bench", "fmnist", "--set", "model.name='wrn50'"], "model.name: unknown model 'wrn50'"),
    (["bench", "fmnist", "--set", "model.checkpoint='/nonexistent.pth'"],
     "model.checkpoint: no such file '/nonexistent.pth'"),
    (["bench", "fmnist", "--set", "model.new_head=true"],
     "model: new_head, input_size, normalize and class_names go with a checkpoint"),
    (["bench", "fmnist", "--set", "model.name='torchvision:resnet18'", "--set",
      "model.input_size=4"], "model.input_size: must be >= 8"),
    (["bench", "holdout", "--set", "model.checkpoint='w.pth'"], "model.checkpoint: unknown key"),
    (["bench", "holdout_digits", "--set", "classes=[0, 0]"], "classes: a class is listed twice"),
    (["bench", "vlm_wordnet", "--set", "data.n_id=1"], "data.n_id: must be >= 2"),
    (["bench", "vlm_wordnet", "--set", "data.val_per_class=90"], "must be < per_category"),
    (["bench", "vlm_wordnet", "--set", "zeroshot.taus=[0.0]"], "zeroshot.taus[0]: must be > 0"),
    (["bench", "no_such_config"], "no config 'no_such_config'"),
    (["bench", "fmnist", "--set", "bogus"], "expected KEY=VALUE"),
    (["vlm", "bench", "--config", "demo_digits"], "a 'ood' config; this command runs 'vlm'"),
    (["vlm", "zeroshot", "--set", "data.splits=0"], "data.splits: must be >= 1"),
    (["vlm", "tune", "--set", "tune.ebm.mask_ratio=2.0"], "tune.ebm.mask_ratio: must be <= 1"),
    (["demo", "--config", "holdout_digits"], "a 'holdout' config; this command runs 'ood'"),
    (["demo", "--set", "finetune.epochs=-3"], "finetune.epochs: must be >= 1"),
]  # fmt: skip


def _one_line_error(capsys, argv, fragment):
    rc = main(["--quiet", *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2, (argv, err)
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert fragment in err, err
    return err


@pytest.mark.parametrize("argv, fragment", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_hostile_override(capsys, argv, fragment):
    _one_line_error(capsys, argv, fragment)


def test_missing_section(tmp_path, capsys):
    cfg = tmp_path / "nodata.toml"
    cfg.write_text('title = "no data"\n[pretrain]\nepochs = 1\n')
    _one_line_error(capsys, ["bench", str(cfg)], "data: missing (required)")


def test_non_utf8_and_invalid_toml(tmp_path, capsys):
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'title = "caf\xe9"\n')
    _one_line_error(capsys, ["bench", str(bad)], "not UTF-8 text (byte 12)")
    broken = tmp_path / "broken.toml"
    broken.write_text("title = \n[data\n")
    _one_line_error(capsys, ["bench", str(broken)], "invalid TOML")
    folder = tmp_path / "dir.toml"
    folder.mkdir()
    _one_line_error(capsys, ["bench", str(folder)], "not a file")


def test_python_api_gives_the_same_errors(tmp_path):
    cfg = tmp_path / "t.toml"
    cfg.write_text(TINY_OOD)
    ok = load_config(str(cfg))
    assert ok.seeds == [0, 1, 2] and ok.finetune.epochs == 10 and ok.finetune.methods == ["oe"]
    with pytest.raises(InputError, match=r"config t.toml: eval.n_drawz: unknown key; eval takes"):
        load_config(str(cfg), {"eval": {"n_drawz": 3}})
    with pytest.raises(InputError, match="finetune: fine-tuning needs auxiliary outliers"):
        load_config(str(cfg), {"data": {"aux": []}})
    with pytest.raises(InputError, match="'holdout' config; this command runs 'ood'"):
        load_config("holdout_digits", kind="ood")


def test_runners_refuse_untyped_configs(tmp_path):
    from energy_ood.bench.holdout.run import run_holdout
    from energy_ood.bench.ood.run import run_ood_benchmark

    with pytest.raises(InputError, match="needs an OODConfig"):
        run_ood_benchmark({"data": {}}, tmp_path)
    with pytest.raises(InputError, match="needs a HoldoutConfig"):
        run_holdout({"data": {}}, tmp_path)


def test_holdout_class_out_of_range(tmp_path, capsys):
    out = tmp_path / "o"
    _one_line_error(capsys, ["bench", "holdout_digits", "--set", "classes=[99]", "--out",
                             str(out)], "classes: 99 is not a class of digits")  # fmt: skip
    assert not (out / "runs").exists()  # refused before any training


@pytest.mark.slow
@pytest.mark.skipif(
    not Path("/usr/share/wordnet/data.noun").exists(), reason="Debian package wordnet-base absent"
)
def test_bench_runs_a_vlm_config(tmp_path, capsys):
    """`energy-ood bench vlm_wordnet` dispatches to the VLM protocol (a small variant of it)."""
    out = tmp_path / "vlm"
    argv = ["--quiet", "bench", "vlm_wordnet", "--out", str(out), "--trials", "1", "--set",
            "data.per_category=30", "--set", "data.train_per_class=8", "--set",
            "data.val_per_class=4", "--set", "tune.losses=[]"]  # fmt: skip
    assert main(argv) == 0
    assert "Vision-language OOD scores" in (out / "report.md").read_text()
