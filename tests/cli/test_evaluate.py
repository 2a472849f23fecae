import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from energy_ood.cli.main import main
from energy_ood.metrics import ood_metrics
from energy_ood.score import create_scorer


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    idl = rng.normal(0, 1, (600, 5)) + 4 * np.eye(5)[rng.integers(0, 5, 600)]
    ood = rng.normal(0, 1, (200, 5))
    np.save(tmp_path / "id.npy", idl.astype(np.float32))
    np.savez(tmp_path / "ood.npz", logits=ood)
    np.savetxt(tmp_path / "ood.csv", ood[:50], delimiter=",", header="a,b,c,d,e", comments="")
    return tmp_path, idl.astype(np.float32), ood


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_table_and_json(files, capsys):
    d, idl, ood = files
    code, out, err = run(
        [
            "--quiet",
            "evaluate",
            "--id",
            str(d / "id.npy"),
            "--ood",
            f"a={d / 'ood.npz'}",
            "--ood",
            f"b={d / 'ood.csv'}",
            "--json",
            str(d / "r.json"),
        ],
        capsys,
    )
    assert code == 0, err
    assert "| a " in out and "| mean" in out and "AUPR-Out" in out
    res = json.loads((d / "r.json").read_text())
    assert res["convention"]["positive"] == "ID"
    e = create_scorer("energy")
    ref = ood_metrics(e.score(idl), e.score(ood))
    rows = res["results"]["energy"]
    for k, v in ref.items():
        assert rows["a"][k] == pytest.approx(v)
    means = {k: (rows["a"][k] + rows["b"][k]) / 2 for k in ref}
    assert rows["mean"] == pytest.approx(means)


def test_scores_input_and_pt(files, capsys, tmp_path):
    import torch

    torch.save({"scores": torch.randn(30)}, tmp_path / "s.pt")
    np.save(tmp_path / "s.npy", np.random.default_rng(1).normal(size=40))
    code, out, err = run(
        [
            "evaluate",
            "--input",
            "scores",
            "--id",
            str(tmp_path / "s.npy"),
            "--ood",
            f"x={tmp_path / 's.pt'}",
            "--positive",
            "ood",
        ],
        capsys,
    )
    assert code == 0, err


@pytest.mark.parametrize(
    "make,msg",
    [
        (lambda d: np.save(d / "bad.npy", np.full((4, 5), np.nan)), "non-finite"),
        (lambda d: np.save(d / "bad.npy", np.ones((3, 5)) * np.inf), "non-finite"),
        (lambda d: np.save(d / "bad.npy", np.ones((0, 5))), "empty"),
        (lambda d: np.save(d / "bad.npy", np.ones(5)), "2-D logits"),
        (lambda d: np.save(d / "bad.npy", np.ones((4, 7))), "7 classes"),
        (lambda d: (d / "bad.npy").write_bytes(open(d / "id.npy", "rb").read()[:200]), "truncated"),
        (lambda d: None, "no such file"),
    ],
)
def test_bad_input_one_line_exit_2(files, capsys, make, msg):
    d = files[0]
    make(d)
    code, out, err = run(
        ["evaluate", "--id", str(d / "id.npy"), "--ood", f"x={d / 'bad.npy'}"], capsys
    )
    assert code == 2
    assert out == ""
    assert msg in err and "bad.npy" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_console_script_subprocess(files):
    d = files[0]
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "energy_ood.cli.main",
            "evaluate",
            "--id",
            str(d / "id.npy"),
            "--ood",
            "x=/nonexistent/file.npy",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr


def test_untrusted_pt_is_refused(files, capsys, tmp_path):
    d = files[0]
    torch.save({"logits": Evil()}, tmp_path / "evil.pt")
    code, out, err = run(
        ["evaluate", "--id", str(d / "id.npy"), "--ood", f"x={tmp_path / 'evil.pt'}"], capsys
    )
    assert code == 2 and out == "" and "pwned" not in out + err
    assert "refused to load" in err and "evil.pt" in err and len(err.strip().splitlines()) == 1


def test_several_scores_and_feature_scorers_in_file_mode(tmp_path, capsys):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 900)
    feats = rng.normal(0, 1, (900, 8)) + 3 * np.eye(8)[y]
    far = rng.normal(0, 1, (150, 8)) - 3 * np.eye(8)[rng.integers(0, 4, 150)]
    w, b = 2.0 * np.eye(4, 8), np.zeros(4)

    def bundle(path, h):  # one file holding both kinds: each scorer takes its own key
        np.savez(path, logits=h @ w.T + b, features=h)

    bundle(tmp_path / "train.npz", feats[:600])
    bundle(tmp_path / "id.npz", feats[600:])
    bundle(tmp_path / "far.npz", far)
    np.save(tmp_path / "y.npy", y[:600])
    np.savez(tmp_path / "head.npz", weight=w, bias=b)
    code, out, err = run(
        ["evaluate", "--id", str(tmp_path / "id.npz"), "--ood", f"far={tmp_path / 'far.npz'}",
         "--score", "energy,msp,knn,mahalanobis,react+msp,gradnorm",
         "--fit", str(tmp_path / "train.npz"), "--labels", str(tmp_path / "y.npy"),
         "--head", str(tmp_path / "head.npz"), "--json", str(tmp_path / "r.json")],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    res = json.loads((tmp_path / "r.json").read_text())["results"]
    assert set(res) == {"energy", "msp", "knn", "mahalanobis", "react+msp", "gradnorm"}
    knn = create_scorer("knn").fit(feats[:600])
    want = ood_metrics(knn.score(feats[600:]), knn.score(far))
    assert res["knn"]["far"] == pytest.approx(want)
    e = create_scorer("energy")
    assert res["energy"]["far"] == pytest.approx(
        ood_metrics(e.score(feats[600:] @ w.T), e.score(far @ w.T))
    )
    for label in res:
        assert f"\n{label}\n" in out


@pytest.mark.parametrize(
    "score,msg", [("knn", "needs --fit"), ("odin", "use --run"), ("ash_s", "needs --head")]
)
def test_file_mode_names_the_missing_flag(files, capsys, score, msg):
    d = files[0]
    code, out, err = run(
        ["evaluate", "--id", str(d / "id.npy"), "--ood", f"x={d / 'ood.npz'}", "--score", score],
        capsys,
    )
    assert code == 2 and msg in err and len(err.strip().splitlines()) == 1
