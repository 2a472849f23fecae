"""report.md / report.html / results.json of a training-method comparison."""

from __future__ import annotations

from pathlib import Path

from ...reporting.pages import convention_text, write_report
from ...reporting.tables import markdown_table
from ...runtime.provenance import describe_machine
from ..report_sections import claims_table, command_section, provenance_section, seed_cell
from ..stats import RULE
from .results import MethodsResults


def _schedule(m: dict) -> str:
    s = m["schedule"]
    n = s["epochs"]
    parts = [f"{m['stage']}: {n} epoch{'s' * (n != 1)}, lr {s['lr']:g}"]
    if s.get("batch_size"):
        parts.append(f"batch {s['batch_size']}")
    hp = {k: v for k, v in m.items() if k not in (
        "name", "stage", "label", "score", "paper", "paper_setup", "paper_stage", "summary",
        "aux", "schedule")}  # fmt: skip
    if hp:
        parts.append(", ".join(f"{k} = {v}" for k, v in hp.items()))
    if m["stage"] != m["paper_stage"]:
        parts.append(f"(its paper: {m['paper_stage']})")
    return "; ".join(parts)


def departures(res: MethodsResults) -> str:
    rows = [[m["label"], m["paper"] or "-", m["paper_setup"] or "-", _schedule(m)]
            for m in res.methods]  # fmt: skip
    p = res.protocol
    rows.append(["all", "-", "-", f"{res.run.get('config', {}).get('model', {}).get('name')} on "
                 f"{p['id_dataset']} ({p['n_train']} train, {p['n_val']} validation, "
                 f"{p['n_test']} test), {len(res.seeds)} seed(s); machine: "
                 f"{describe_machine(res.run.get('machine'))}"])  # fmt: skip
    return markdown_table(["method", "paper", "paper's setup", "this run"], rows)


def _native_verdict(res: MethodsResults, x: str, b: str) -> str:
    """The verdict of "x (its own score) beats b (its own score)" on the headline FPR95."""
    if x == b:
        return "-"
    for c in res.verdicts.get(b, []):
        if c.metric == "FPR95" and c.text.startswith(f"{x} (") and f" beats {b} (" in c.text:
            return f"{c.verdict.verdict} ({c.verdict.interval_text()})"
    return "-"


def headline_table(res: MethodsResults) -> str:
    """Per method: ID accuracy, the headline FPR95 / AUROC of its own score, and whether it
    beats each baseline on that FPR95 (the paired verdicts of the report's tables below)."""
    rows = []
    for m in res.methods:
        e, lab = res.native(m["label"]), m["label"]
        acc = [1 - v for v in res.id_error[lab]]
        fpr = seed_cell(e.mean_over(res.headline_sets, "fpr95")) if e else "-"
        au = seed_cell(e.mean_over(res.headline_sets, "auroc")) if e else "-"
        rows.append([lab, m["stage"], "yes" if m["aux"] else "no", e.label if e else "-",
                     seed_cell(acc), fpr, au,
                     *(_native_verdict(res, lab, b) for b in res.verdicts)])  # fmt: skip
    return markdown_table(["method", "stage", "outliers", "score", "ID accuracy",
                           "FPR95 ↓ (natural sets)", "AUROC ↑",
                           *(f"FPR95 beats {b}?" for b in res.verdicts)], rows)  # fmt: skip


def family_table(res: MethodsResults, scorer: str | None = None) -> str:
    """Per method (its native score, or ``scorer``) and OOD family: FPR95 / AUROC."""
    fams = list(dict.fromkeys(res.families[s] for s in res.ood_sets))
    rows = []
    for m in res.methods:
        e = res.native(m["label"]) if scorer is None else res.find(m["label"], scorer)
        if e is None:
            continue
        rows.append([m["label"], e.label, *(
            f"{seed_cell(res.family_values(e, f, 'fpr95'))} / "
            f"{seed_cell(res.family_values(e, f, 'auroc'))}" for f in fams)])  # fmt: skip
    return markdown_table(["method", "score", *fams], rows)


def score_matrix(res: MethodsResults, metric: str) -> str:
    """Rows: scorers; columns: methods; cells: the headline mean of ``metric`` over seeds."""
    labels = [m["label"] for m in res.methods]
    scorers = list(dict.fromkeys(e.label for e in res.evaluations))
    rows = []
    for s in scorers:
        cells = []
        for lab in labels:
            e = next((x for x in res.evaluations if x.model == lab and x.label == s), None)
            cells.append(seed_cell(e.mean_over(res.headline_sets, metric)) if e else "-")
        rows.append([s, *cells])
    return markdown_table(["score", *labels], rows)


def _verdicts(res: MethodsResults) -> list[tuple[str, str]]:
    return [(f"Verdicts: X beats {b}", claims_table(cs)) for b, cs in res.verdicts.items()]


def render(res: MethodsResults, out: str | Path, command: str = "") -> Path:
    secs = [provenance_section(res.run)]
    if res.warning:
        secs.append(("Warning", res.warning))
    secs += [
        ("What differs from the papers", departures(res)),
        ("Convention", convention_text(res.convention) + " Headline = mean over the "
         f"natural-image OOD sets ({', '.join(res.headline_sets)}), each scored on "
         f"{res.protocol['n_draws']} seeded draws of {res.protocol['ood_num']} images. " + RULE),
        command_section(command, res.timings.get("total_s"), res.run.get("machine"),
                        _resumed_note(res)),
        ("ID accuracy and the headline (each method's own score)", headline_table(res)),
        ("Per OOD family: FPR95 / AUROC (each method's own score)", family_table(res)),
        ("Per OOD family: FPR95 / AUROC (energy score)", family_table(res, "energy")),
        *_verdicts(res),
        ("Every score of every model: FPR95 ↓ (natural sets)", score_matrix(res, "fpr95")),
        ("Every score of every model: AUROC ↑ (natural sets)", score_matrix(res, "auroc")),
        ("Margins chosen on the cross-entropy model", _margins(res)),
        ("Run time and speed", _times(res)),
    ]  # fmt: skip
    return write_report(out, res.title, secs, res.to_plain(), [])


def _margins(res: MethodsResults) -> str:
    lines = [
        f"- {lab}, seed {seed}: " + ", ".join(f"{k} = {v}" for k, v in mm.items())
        for lab, per in res.margins.items()
        for seed, mm in zip(res.seeds, per)
        if mm
    ]
    return "\n".join(lines) or "No method took margins from data."


def _recorded_total(res: MethodsResults) -> float | None:
    """The recorded training seconds of every model of every seed; None for results written
    before they were recorded (``timings.train_s``) or where a run lacks them."""
    per = res.timings.get("train_s")
    if not per or any(v is None for d in per for v in d.values()):
        return None
    return sum(sum(d.values()) for d in per)


def _resumed_note(res: MethodsResults) -> str:
    """A run resumed after its models trained spends less in this process than training took."""
    trained, total = _recorded_total(res), res.timings.get("total_s") or 0.0
    if trained is None or trained <= total:
        return ""
    return (f"resumed: this process trained what was left and scored; the models' training as "
            f"their records say took {trained / 60:.1f} min in all")  # fmt: skip


def _times(res: MethodsResults) -> str:
    """Per model: its recorded training time (sum of its epochs), the seconds this process
    spent on it (training what was left, loading, scoring) and its training speed."""
    rows, train = [], res.timings.get("train_s")
    seconds, speed = res.timings["seconds"], res.timings["speed"]
    for i, (seed, secs, speeds) in enumerate(zip(res.seeds, seconds, speed)):
        for lab, t in secs.items():
            sp = speeds.get(lab) or {}
            row = [f"seed {seed}: {lab}", f"{t:.1f}",
                   f"{sp.get('images_per_s', float('nan')):.0f}",
                   f"{sp.get('step_ms_p50', float('nan')):.1f}"]  # fmt: skip
            if train:
                tr = train[i].get(lab)
                row.insert(1, "not recorded" if tr is None else f"{tr:.1f}")
            rows.append(row)
    total = ["total", f"{res.timings.get('total_s', 0):.1f}", "", ""]
    if not train:  # results written before training and scoring were told apart
        return markdown_table(["step", "training seconds", "images/s", "step ms p50"],
                              [*rows, total])  # fmt: skip
    trained = _recorded_total(res)
    total.insert(1, "not recorded" if trained is None else f"{trained:.1f}")
    head = ["step", "training seconds (recorded epochs)", "seconds in this process",
            "images/s", "step ms p50"]  # fmt: skip
    return markdown_table(head, [*rows, total])
