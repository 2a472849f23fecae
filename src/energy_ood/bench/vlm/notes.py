"""The notes of the WordNet gloss report: the two limits of the Delta-Energy score (derived from
its definition, stated as such) and, per stage, how close this run's sweep comes to them (the
measured AUROCs, with the wording following the numbers)."""

from __future__ import annotations

from .results import VLMResults

DERIVED = (
    "Two limits of the Delta-Energy score (c = 1), derived from its definition, not measured: "
    "with the floor below every similarity (floor = -1; cosines are at least -1) the cropped "
    "energy keeps only the other classes, and Delta-Energy = -tau log(1 - p_max), p_max the "
    "largest softmax probability of the CLIP logits: a monotone function of MSP, so it ranks "
    "inputs as MSP does. With the floor above every similarity the floor term dominates the "
    "cropped energy and Delta-Energy ranks inputs as the energy score does."
)


def _compare(res: VLMResults, stage: str, de: str, other: str) -> str:
    a = 100 * res.metric(stage, de, "auroc").mean()
    b = 100 * res.metric(stage, other, "auroc").mean()
    d = a - b
    rel = "equal to" if abs(d) < 0.005 else f"{abs(d):.2f} {'above' if d > 0 else 'below'}"
    return f"{de} {a:.2f} vs {other} {b:.2f} ({rel} {other}'s)"


def limits_text(res: VLMResults) -> str:
    """The derived limits and, where the sweep holds them, the measured AUROCs per stage."""
    floors = sorted({float(lab.split("floor=")[1].rstrip(")")) for lab in res.labels
                     if lab.startswith("DeltaE(c=1,")})  # fmt: skip
    lines = []
    for stage in res.stages:
        parts = []
        if -1.0 in floors and "MSP" in res.labels:
            parts.append(_compare(res, stage, "DeltaE(c=1,floor=-1)", "MSP"))
        if floors and floors[-1] > -1.0 and "Energy" in res.labels:
            parts.append(_compare(res, stage, f"DeltaE(c=1,floor={floors[-1]:g})", "Energy"))
        if parts:
            lines.append(f"- {stage}: " + "; ".join(parts))
    if not lines:
        return DERIVED
    top = f"{floors[-1]:g}" if floors else "-"
    return (
        DERIVED + "\n\nMeasured here (mean AUROC over splits, %). Whether the highest floor "
        f"swept ({top}) lies above every similarity is not recorded, so its row is a "
        "measurement, not a check of the second limit:\n" + "\n".join(lines)
    )
