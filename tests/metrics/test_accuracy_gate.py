"""The ID-accuracy gate: a model near chance on its own labelled ID data gets one loud warning
line (printed once, at the top of the report and results.json), or exit 2 with --strict; and
``--class-names`` aligns a data set's classes with the model's outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from energy_ood._validate import InputError
from energy_ood.cli.main import main
from energy_ood.data.for_model import prepare_for_model
from energy_ood.metrics.accuracy_gate import GateResult, enforce, id_accuracy
from energy_ood.models import load_model


def test_gate_line_and_threshold():
    y = np.arange(100) % 10
    good = np.eye(10)[y] * 5
    assert id_accuracy(good, y).passed and id_accuracy(good, y).warning is None
    bad = np.eye(10)[(y + 1) % 10]  # always wrong: 0%
    g = id_accuracy(bad, y, context="none")
    assert not g.passed and g.accuracy == 0.0 and g.chance == 0.1
    line = g.warning
    assert "\n" not in line and line.startswith("WARNING: ID accuracy 0.0%")
    for cause in ("--normalize; now: none", "--class-names", "--input-size", "channels"):
        assert cause in line
    assert id_accuracy(bad, y, ratio=0).passed  # 0 turns it off
    # exactly at 1.5x chance passes, just below fails
    assert GateResult(0.15, 100, 10).passed and not GateResult(0.149, 100, 10).passed
    with pytest.raises(InputError, match=r"--strict"):
        enforce(g, strict=True)
    assert id_accuracy(bad, y[:5]) is None  # labels of other images: no gate
    with pytest.raises(InputError, match="accuracy-gate"):
        id_accuracy(good, y, ratio=-1)


class Net(nn.Module):
    """Output k = the mean of channel k: class k is the brightest channel."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 3-class program that is right on every image of a 3-class folder (class k: channel k
    bright), so the class order decides whether it recognises its data; wrong.txt misorders."""
    root = tmp_path_factory.mktemp("gate")
    rng = np.random.default_rng(0)
    for k, c in enumerate(("cat", "dog", "eel")):
        (root / "id" / c).mkdir(parents=True)
        for i in range(20):
            a = (rng.random((12, 12, 3)) * 100).astype(np.uint8)
            a[..., k] += 150
            Image.fromarray(a).save(root / "id" / c / f"{i}.png")
    (root / "wrong.txt").write_text("dog\neel\ncat\n")
    (root / "ood").mkdir()
    for i in range(6):
        Image.fromarray((rng.random((12, 12, 3)) * 255).astype(np.uint8)).save(
            root / "ood" / f"{i}.png"
        )
    net = Net().eval()
    with torch.no_grad():
        net.fc.weight.copy_(10 * torch.eye(3))
        net.fc.bias.zero_()
    batch = torch.export.Dim("batch", min=1)
    ep = torch.export.export(net, (torch.rand(2, 3, 12, 12),), dynamic_shapes={"x": {0: batch}})
    torch.export.save(ep, str(root / "net.pt2"))
    return root


def test_evaluate_warns_once_and_reports_it_first(setup, tmp_path, capsys):
    argv = ["--quiet", "evaluate", "--model", str(setup / "net.pt2"), "--dataset",
            str(setup / "id"), "--ood", f"o={setup / 'ood'}", "--device", "cpu"]  # fmt: skip
    rep0 = tmp_path / "rep0"
    assert main([*argv, "--report", str(rep0)]) == 0  # the right order: no warning
    assert "WARNING" not in capsys.readouterr().err
    text = (rep0 / "report.md").read_text()
    assert "Warning" not in text and "class_order: a guess: the sorted folder" in text
    assert "normalization: none: inputs are the images in [0, 1]" in text
    argv += ["--class-names", str(setup / "wrong.txt")]
    rep, js = tmp_path / "rep", tmp_path / "r.json"
    assert main([*argv, "--report", str(rep), "--json", str(js)]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "WARNING" in ln]
    assert len(lines) == 1 and "ID accuracy 0.0%" in lines[0] and "now: none" in lines[0]
    md = (rep / "report.md").read_text().splitlines()
    assert md[2] == "## Warning" and md[4] == lines[0]
    for path in (rep / "results.json", js):
        res = json.loads(path.read_text())
        assert next(iter(res)) == "warning" and res["warning"] == lines[0]
    assert "class_order: from " in (rep / "report.md").read_text()
    # --strict: exit 2, one line, nothing written
    out2 = tmp_path / "rep2"
    assert main([*argv, "--strict", "--report", str(out2)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error: ID accuracy 0.0%" in err[-1]
    assert not (out2 / "report.md").exists()
    assert main([*argv, "--accuracy-gate", "0"]) == 0  # off
    assert "WARNING" not in capsys.readouterr().err


def test_detect_fit_gate_recorded_and_strict(setup, tmp_path, capsys):
    argv = ["--quiet", "detect", "fit", "--model", str(setup / "net.pt2"), "--dataset",
            str(setup / "id"), "--class-names", str(setup / "wrong.txt"),
            "--device", "cpu"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "det")]) == 0
    meta = json.loads((tmp_path / "det.json").read_text())
    assert meta["inputs"]["warning"].startswith("WARNING") and meta["inputs"]["normalization"]
    assert main([*argv, "--strict", "--out", str(tmp_path / "det2")]) == 2
    assert not (tmp_path / "det2.json").exists()


def test_class_names_align_and_refuse(setup, tmp_path):
    lm = load_model(str(setup / "net.pt2"))
    base = prepare_for_model(lm, str(setup / "id"))
    names = tmp_path / "names.txt"
    names.write_text("eel\ncat\ndog\n")
    d = prepare_for_model(load_model(str(setup / "net.pt2")), str(setup / "id"),
                          class_names=str(names))  # fmt: skip
    assert d.classes == ["eel", "cat", "dog"] and "names.txt" in d.extra["class_order"]
    old_to_new = torch.tensor([1, 2, 0])  # cat -> 1, dog -> 2, eel -> 0
    assert torch.equal(d.y_test, old_to_new[base.y_test])
    assert torch.equal(d.x_test, base.x_test)
    for text, msg in (("cat\ndog\n", "2 class names, the data set has 3"),
                      ("cat\ndog\ncow\n", "'cow' is not a class"),
                      ("cat\ncat\ndog\n", "listed twice")):  # fmt: skip
        names.write_text(text)
        with pytest.raises(InputError, match=msg):
            prepare_for_model(load_model(str(setup / "net.pt2")), str(setup / "id"),
                              class_names=str(names))  # fmt: skip
