"""`train` / `finetune --method NAME --param KEY=VALUE`: bad methods and hyperparameters are one
line and exit 2 before anything is written; a VOS run's exported class weights feed
weighted_ebo."""

from __future__ import annotations

import pytest

from energy_ood.cli.main import main
from energy_ood.train import TrainConfig

TRAIN = ["--quiet", "train", "--dataset", "digits", "--epochs", "1", "--batch-size", "64"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--method", "mixoe"], "method 'mixoe' needs auxiliary outliers: give --aux"),
        (["--method", "vos", "--aux", "scenes-aux"], "trains without auxiliary outliers"),
        (["--method", "vos", "--param", "queue_size=0", "--param", "select=0"],
         "method 'vos': queue_size must be >= 1, got 0; select must be >= 1, got 0"),
        (["--method", "logitnorm", "--param", "foo=1"],
         "unknown hyperparameter 'foo' (it takes tau)"),
        (["--method", "logitnorm", "--param", "lam=1"], "has no hyperparameter 'lam'"),
        (["--method", "logitnorm", "--param", "tau"], "--param 'tau': expected KEY=VALUE"),
        (["--method", "logitnorm", "--param", "tau=1", "--param", "tau=2"], "given twice"),
        (["--method", "mixoe", "--param", "mix=blend"], "mix must be one of mixup, cutmix"),
        (["--method", "vos", "--rotation"], "--rotation is --method rotation"),
        (["--method", "vos", "--param", "sample_from=5", "--param", "select=6"],
         "select (6) must be <= sample_from"),
    ],
)  # fmt: skip
def test_bad_method_options_are_one_line(tmp_path, capsys, args, words):
    out = tmp_path / "run"
    assert main([*TRAIN, *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert not (out / "checkpoint.pt").exists()


def test_unknown_method_is_a_usage_error(tmp_path, capsys):
    assert main([*TRAIN, "--method", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_config_keeps_the_shared_fields_and_hparams():
    cfg = TrainConfig(method="vos", hparams={"lam": 0.2, "queue_size": 50})
    assert cfg.lam == 0.2 and cfg.hparams == {"queue_size": 50}
    assert cfg.objective().hp["queue_size"] == 50
    assert TrainConfig(method="energy-scratch").m_in == -23.0  # the default, recorded
    assert TrainConfig(method="energy").m_in is None  # chosen from data later
    assert TrainConfig(method="logitnorm").lam == 0.0
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(Exception, match="lam is given twice"):
        TrainConfig(method="vos", lam=0.1, hparams={"lam": 0.2})
