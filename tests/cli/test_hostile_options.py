"""Options, environment variables and configs out of range (issue 18): each is exit 2 and one
line naming the option and the problem, before any work; usage errors are one line pointing to
--help instead of the whole usage."""

from __future__ import annotations

import numpy as np
import pytest

from energy_ood.bench.config_files import load_config
from energy_ood.cli.main import main
from energy_ood.runtime.progress import set_quiet

TRAIN = ["train", "--dataset", "digits", "--epochs", "1"]


def one_line_error(capsys, argv, *words) -> str:
    capsys.readouterr()
    code = main(["--quiet", *map(str, argv)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


@pytest.fixture
def logits(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    peaked = 3 * np.eye(10, dtype="f4")[np.arange(80) % 10]
    np.save("id.npy", rng.normal(size=(80, 10)).astype("f4") + peaked)
    np.save("ood.npy", rng.normal(size=(80, 10)).astype("f4"))
    return tmp_path


EVAL = ["evaluate", "--id", "id.npy", "--ood", "o=ood.npy"]
DEEP = "[" * 3000 + "]" * 3000
CASES = [
    ([*EVAL, "--threads", "100000"], "--threads must be an integer >= 1 and <= 1024"),
    ([*EVAL, "--threads", "0"], "--threads must be an integer >= 1"),
    ([*EVAL, "--threads", "-1"], "--threads must be an integer >= 1"),
    ([*TRAIN, "--threads", "100000", "--out", "r"], "--threads must be an integer >= 1 and <="),
    ([*EVAL, "--device", ""], "--device '': empty; expected auto | cpu"),
    ([*EVAL, "--T", "1e-30"], "temperature T must be within [0.001, 1e+06], got 1e-30"),
    ([*EVAL, "--T", "1e30"], "temperature T must be within"),
    (["detect", "fit", "--val", "id.npy", "--T", "1e-30", "--out", "d"], "within [0.001"),
    ([*TRAIN, "--seed", str(2**64), "--out", "r"], "argument --seed: expected an integer in"),
    (["extract", "--run-dir", "r", "--set", "id=test", "--out", "f.npz", "--seed", "-1"],
     "argument --seed"),
    (["bench", "fmnist", "--set", f"seeds=[{2**64}]"], "--set seeds: [0]: the integer"),
    (["bench", "fmnist", "--set", f"sweeps.margins.seed={2**70}"], "is beyond 64 bits"),
    (["bench", "fmnist", "--set", 'device="bogus"'], "device: 'bogus': expected auto | cpu"),
    (["bench", "fmnist", "--set", 'device=""'], "device: '': expected"),
    (["bench", "fmnist", "--set", "threads=100000"], "threads: must be <= 1024"),
    (["bench", "fmnist", "--set", f"pretrain.epochs={DEEP}"], "nested too deeply"),
    (["demo", "--set", f"seeds={DEEP}"], "nested too deeply"),
    (["demo", "--set", "seeds=" + "[" * 20 + "0" + "]" * 20], "nested more than 16 deep"),
    (["bench", "fmnist", "--set", "pretrain.epochs=" + "9" * 100_000], "invalid TOML (Exceeds"),
    (["demo", "--set", "pretrain.epochs=99999999999999999999"], "beyond 64 bits"),
    ([*EVAL, "--run-dir", "r"], "--id and --run-dir are two sources of ID data"),
    ([*EVAL, "--report", "rep"], "--report needs a model"),
    (["evaluate", "--model", "cnn", "--dataset", "digits", "--ood-set", "gaussian",
      "--input-size", "0"], "argument --input-size: expected an integer in [8, 4096], got '0'"),
    (["evaluate", "--model", "cnn", "--dataset", "digits", "--ood-set", "gaussian",
      "--input-size", "-8"], "argument --input-size"),
    (["finetune", "--method", "oe", "--model", "cnn", "--dataset", "digits", "--aux",
      "gaussian", "--input-size", "100000", "--out", "ft"], "argument --input-size"),
    (["vlm", "score", "--classes", "cat,dog", "--texts", "id.npy", "--template", "{0} {}"],
     "--template '{0} {}': needs exactly one '{}'"),
    (["vlm", "score", "--classes", "cat,dog", "--texts", "id.npy", "--template", "{}{.__class__}"],
     "and no other braces"),
    (["vlm", "score", "--classes", "cat,dog", "--texts", "id.npy", "--template", "{} {"],
     "and no other braces"),
]  # fmt: skip


@pytest.mark.parametrize("argv, words", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_option(logits, capsys, argv, words):
    one_line_error(capsys, argv, words)
    assert not any(logits.glob("r*")) and not (logits / "d.json").exists()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["evaluate", "--idd", "x"], "unrecognized arguments: --idd x"),
        (["evaluate", "--rule", "last"], "argument --rule: invalid choice: 'last'"),
        (["detect", "fit", "--val", "x"], "the following arguments are required: --out"),
        (["train", "--epochs", "0.5", "--out", "r"], "argument --epochs: invalid int value"),
        (["nonsense"], "argument COMMAND: invalid choice: 'nonsense'"),
    ],
)
def test_usage_errors_are_one_line_pointing_to_help(logits, capsys, argv, words):
    err = one_line_error(capsys, argv, words)
    assert err.endswith("--help)") and "usage:" not in err


@pytest.mark.parametrize(
    "var, value, words",
    [
        ("ENERGY_OOD_WORKERS", "many", "ENERGY_OOD_WORKERS must be an integer in [0, 256]"),
        ("ENERGY_OOD_WORKERS", "100000", "ENERGY_OOD_WORKERS must be an integer in [0, 256]"),
        ("ENERGY_OOD_MAX_PIXELS", "-5", "ENERGY_OOD_MAX_PIXELS must be a positive number"),
        ("ENERGY_OOD_MAX_BYTES", "garbage", "ENERGY_OOD_MAX_BYTES must be a positive size"),
        ("ENERGY_OOD_MAX_RATIO", "nan", "ENERGY_OOD_MAX_RATIO must be a number >= 1"),
        ("ENERGY_OOD_MEMORY_LIMIT_MB", "lots", "ENERGY_OOD_MEMORY_LIMIT_MB must be a number"),
    ],
)
def test_bad_environment_variables(logits, capsys, monkeypatch, var, value, words):
    """Refused at start by every command, even one that would not read the variable."""
    monkeypatch.setenv(var, value)
    one_line_error(capsys, EVAL, words)


def test_finetune_n_aux_is_bounded_before_allocating(tmp_path, capsys):
    out = tmp_path / "base"
    assert main(["--quiet", *TRAIN, "--out", str(out)]) == 0
    argv = ["finetune", "--method", "oe", "--from", out, "--aux", "gaussian"]
    argv += ["--n-aux", "100000000", "--out", tmp_path / "ft"]
    one_line_error(capsys, argv, "--n-aux 100000000 auxiliary outliers: needs", "GiB, above")
    assert not (tmp_path / "ft" / "checkpoint.pt").exists()


def test_config_without_model_section_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    set_quiet(False)
    cfg = tmp_path / "nomodel.toml"
    cfg.write_text('title = "t"\nseeds = [0]\n[data]\ndataset = "digits"\n'
                   'ood_sets = ["gaussian"]\n')  # fmt: skip
    capsys.readouterr()
    assert load_config(str(cfg)).model.name == "cnn"
    assert "no [model] section; the default model 'cnn' is used" in capsys.readouterr().err
