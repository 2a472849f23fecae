"""README's researcher walk-through table holds the seed-0 numbers of the committed
docs/results/walkthrough/results.json (made by `energy-ood bench walkthrough`)."""

import json
import re
from pathlib import Path

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
