"""README's researcher walk-through table holds the seed-0 numbers of the committed
docs/results/walkthrough/results.json (made by `energy-ood bench walkthrough`)."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_walkthrough_table_is_the_committed_results():
    res = json.loads((ROOT / "docs/results/walkthrough/results.json").read_text())
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## For a researcher") :]
    cells = r" \| ([\d.]+) / ([\d.]+) \| ([\d.]+) / ([\d.]+) \|"
    rows = {
        "pretrained": r"\| pretrained \(`runs/base`\)",
        "energy": r"\| energy fine-tuned \(`runs/energy`\)",
    }
    for model, head in rows.items():
        got = [float(v) for v in re.search(head + cells, section).groups()]
        m = res["metrics"][model]
        want = [100 * m[s]["mnist"][k][0] for s in ("msp", "energy") for k in ("fpr95", "auroc")]
        assert got == [round(w, 2) for w in want], model
    acc = f"{100 * res['accuracy']['pretrained'][0]:.2f}% test accuracy"
    assert acc in section


def _mean_std(values) -> str:
    import numpy as np

    v = 100 * np.asarray(values, dtype=float)
    return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}"


def test_cifar10_claims_table_is_the_committed_results():
    """README's CIFAR-10 claims table holds docs/results/cifar10_cpu/results.json's claims."""
    res = json.loads((ROOT / "docs/results/cifar10_cpu/results.json").read_text())
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### CIFAR-10 on 2 CPU cores") : text.index("### Fashion-MNIST")]
    for c in res["claims"]:
        v = c["verdict"]
        verdict = f"**{v['verdict']}**" if v["verdict"] == "no" else v["verdict"]
        row = (f"| {c['text']} | {c['metric']} | {_mean_std(c['claimed'])} vs "
               f"{_mean_std(c['other'])} | {100 * v['mean_diff']:+.2f} [{100 * v['low']:+.2f}, "
               f"{100 * v['high']:+.2f}] | {c['paper']} | {verdict} |")  # fmt: skip
        assert row in section, row
    acc = 100 - 100 * sum(res["id_error"]["pretrained"]) / len(res["id_error"]["pretrained"])
    assert f"**{acc:.2f} ± " in section


@pytest.mark.parametrize("name", ["methods_fmnist", "methods_cifar10_cpu"])
def test_methods_table_is_the_committed_report(name):
    """README's training-method tables are the headline tables of the committed methods
    reports, rendered from their results.json with the current code (verdicts included)."""
    from energy_ood.bench.methods.report import headline_table
    from energy_ood.bench.methods.results import from_plain

    res = from_plain(json.loads((ROOT / f"docs/results/{name}/results.json").read_text()))
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Training methods") : text.index("## Where it runs")]
    table = headline_table(res)
    assert table in section
    assert len(res.seeds) == 3 and len(table.splitlines()) == 2 + len(res.methods)
    ce = res.find("ce", "energy").mean_over(res.headline_sets, "fpr95").mean()
    vos = res.native("vos").mean_over(res.headline_sets, "fpr95").mean()
    assert f"({100 * vos:.2f} vs {100 * ce:.2f})" in section
