"""The report of ``energy-ood evaluate --report DIR``: one model, its ID data and OOD sets.

report.md / report.html (tables per scorer, the convention, what the model and the data are,
the command), results.json (every number) and score histograms (ID vs each OOD set), written
into a temporary folder and put in place as a set."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ..io.atomic_write import new_temp_folder, replace_folder
from ..reporting import plots
from ..reporting.pages import convention_text, write_report
from ..reporting.tables import metrics_table
from ..runtime.provenance import run_metadata


def _data_text(d: dict) -> str:
    keep = ("dataset", "source", "n_train", "n_val", "n_test", "image_size", "channels")
    rows = [f"- {k}: {d[k]}" for k in keep if k in d]
    for k in ("normalization", "class_order", "transform", "stats", "test_split", "storage"):
        if k in d:
            rows.append(f"- {k}: {d[k]}")
    rows.append(f"- classes ({len(d.get('classes', []))}): {', '.join(d.get('classes', [])[:20])}")
    return "\n".join(rows)


def _skipped_text(skipped: list[dict], shown: int = 20) -> str:
    rows = [f"{len(skipped)} image file(s) could not be used and were left out "
            "(--bad-images skip); all are listed in results.json:"]  # fmt: skip
    rows += [f"- {r['file']}: {r['reason']}" for r in skipped[:shown]]
    if len(skipped) > shown:
        rows.append(f"- ... and {len(skipped) - shown} more")
    return "\n".join(rows)


def write_eval_report(out, res: dict, conv: dict, model: dict, command: str, where: str) -> Path:
    out = Path(out)
    tmp = new_temp_folder(out)
    try:
        err = res["id_test_error"]
        err_text = "n/a (the model's classes are not the data set's)"
        if err is not None:
            err_text = f"{100 * err:.2f}%"
        sections = [("Warning", res["warning"])] if res.get("warning") else []
        sections += [
            ("Convention", convention_text(conv)),
            ("Model", "\n".join(f"- {k}: {v}" for k, v in model.items() if k != "arch")),
            ("In-distribution data", _data_text(res["data"])),
            ("ID test error", err_text),
        ]
        skipped = res.get("skipped_images") or []
        if skipped:  # --bad-images skip: never silent
            sections.append(("Image files skipped", _skipped_text(skipped)))
        for label, rows in res["results"].items():
            sections.append((f"{label} (percent)", metrics_table(rows)))
        sections.append(("Command", f"`{command}`"))
        figs = []
        for label, r in res["raw"].items():
            panels = {name: (np.asarray(r["id"]), np.asarray(s)) for name, s in r["ood"].items()}
            safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in label)
            figs.append(plots.score_histograms(panels, tmp / f"hist_{safe}.png", title=label))
        results = {
            "warning": res.get("warning"),
            "title": f"OOD evaluation of {where}",
            "convention": conv,
            "results": res["results"],
            "id_test_error": err,
            "id_accuracy_gate": res.get("gate"),
            "data": res["data"],
            **({"skipped_images": skipped} if skipped else {}),
            "model": model,
            "run": run_metadata(seed=0, config={"where": where}, command=command),
        }
        write_report(tmp, f"OOD evaluation of {where}", sections, results, figs)
        replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "report.md"
