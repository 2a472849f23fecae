"""The semantic-anomaly paper's claims, tested on a hold-out-class benchmark's typed results
(paired over trials)."""

from __future__ import annotations

from ..claims import Claim
from ..stats import paired_verdict
from .results import HoldoutResults


def holdout_claims(res: HoldoutResults) -> list[Claim]:
    """The semantic-anomaly paper's claims, paired over trials (mean over classes per trial)."""
    out, v = [], res.variants
    msp = res.label_of("msp")
    odin = next((lab for spec, lab in zip(res.methods, res.labels) if spec.name == "odin"
                 and float(spec.params.get("eps", 1.0)) > 0), None)  # fmt: skip
    energy = res.label_of("energy")

    def add(text, metric, a, b, paper, lower=False):
        a, b = [float(x) for x in a], [float(x) for x in b]
        out.append(Claim(text, metric, lower, a, b, paper, paired_verdict(a, b, lower)))

    if "rotation" in v:
        for lab, paper in ((msp, "40.22 vs 34.92"), (odin, "41.56 vs 36.63"), (energy, "-")):
            if lab:
                add(f"the rotation head raises AP ({lab})", "AP", res.ap("rotation", lab).mean(1),
                    res.ap("plain", lab).mean(1), paper)  # fmt: skip
        add("the rotation head raises accuracy", "accuracy", res.accuracy("rotation").mean(1),
            res.accuracy("plain").mean(1), "96.83 vs 96.03")  # fmt: skip
    if "center-mask" in v:
        add("centre masking raises accuracy", "accuracy", res.accuracy("center-mask").mean(1),
            res.accuracy("plain").mean(1), "96.27 vs 96.03")  # fmt: skip
        if msp:
            add(f"centre masking lowers AP ({msp})", "AP", res.ap("center-mask", msp).mean(1),
                res.ap("plain", msp).mean(1), "34.41 vs 34.92", lower=True)  # fmt: skip
    if msp and odin:
        add(f"ODIN beats MSP ({odin}, plain)", "AP", res.ap("plain", odin).mean(1),
            res.ap("plain", msp).mean(1), "36.63 vs 34.92")  # fmt: skip
    zero = res.label_of("odin", eps=0.0)
    if odin and zero and odin != zero:
        add(f"ODIN's input perturbation helps ({odin} vs eps = 0, plain)", "AP",
            res.ap("plain", odin).mean(1), res.ap("plain", zero).mean(1), "-")  # fmt: skip
    if msp and energy:
        add("energy beats MSP (plain; not a claim of the paper)", "AP",
            res.ap("plain", energy).mean(1), res.ap("plain", msp).mean(1), "-")  # fmt: skip
    return out
