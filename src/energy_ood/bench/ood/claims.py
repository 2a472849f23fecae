"""The energy paper's claims, tested on a dataset-vs-dataset benchmark's typed results (what
the run does differently from the paper: :mod:`.disclosure`).

Every claim compares two per-seed lists measured on the same seeds and is decided by the one
rule of :mod:`.stats` (paired 95% t-interval). Headline numbers are means over the natural-image
OOD sets, none of which shares a family with the auxiliary outliers.
"""

from __future__ import annotations

import numpy as np

from ..claims import Claim
from ..stats import paired_verdict
from .results import OODResults


def _claim(text, metric, lower, a, b, paper) -> Claim:
    a, b = [float(v) for v in a], [float(v) for v in b]
    return Claim(text, metric, lower, a, b, paper, paired_verdict(a, b, lower))


def _score_claims(res: OODResults) -> list[Claim]:
    """Energy vs softmax score (pretrained) and energy fine-tuning vs OE, on the headline
    sets."""
    sets, out = res.headline_sets, []
    msp = res.find("pretrained", "msp", T=1.0)
    en = res.find("pretrained", "energy", T=1.0)
    if msp and en and sets:
        out.append(_claim("energy score beats softmax score (pretrained model)", "FPR95", True,
                          en.mean_over(sets, "fpr95"), msp.mean_over(sets, "fpr95"),
                          "33.01 vs 51.04"))  # fmt: skip
        out.append(_claim("energy score beats softmax score (pretrained model)", "AUROC", False,
                          en.mean_over(sets, "auroc"), msp.mean_over(sets, "auroc"),
                          "91.88 vs 90.90"))  # fmt: skip
    oe, ef = res.find("oe", "msp"), res.find("energy", "energy")
    if oe and ef and sets:
        out.append(_claim("energy fine-tuning (energy score) beats OE (softmax score)", "FPR95",
                          True, ef.mean_over(sets, "fpr95"), oe.mean_over(sets, "fpr95"),
                          "3.32 vs 8.53"))  # fmt: skip
        out.append(_claim("energy fine-tuning (energy score) beats OE (softmax score)", "AUROC",
                          False, ef.mean_over(sets, "auroc"), oe.mean_over(sets, "auroc"),
                          "98.92 vs 98.30"))  # fmt: skip
    return out


def _error_claims(res: OODResults) -> list[Claim]:
    """The ID error of energy fine-tuning vs OE, the pretrained model and a single margin."""
    err, out = res.id_error, []
    if "energy" in err and "oe" in err:
        out.append(_claim("energy fine-tuning has lower ID error than OE", "ID error", True,
                          err["energy"], err["oe"], "4.87 vs 5.32"))  # fmt: skip
    if "energy" in err:
        out.append(_claim("energy fine-tuning lowers ID error (vs the pretrained model)",
                          "ID error", True, err["energy"], err["pretrained"],
                          "4.87 vs 5.16"))  # fmt: skip
    if "energy" in err and "single-margin" in err:
        out.append(_claim("two margins keep more ID accuracy than one (single-margin hinge)",
                          "ID error", True, err["energy"], err["single-margin"],
                          "single margin: -0.57 accuracy (CIFAR-10)"))  # fmt: skip
    return out


def _ablation_claims(res: OODResults) -> list[Claim]:
    """The temperature, the self-normalised energy and ODIN's input perturbation."""
    sets, out = res.headline_sets, []
    ts = res.temperature_sweep
    if ts and len(ts.temperatures) > 1 and ts.temperatures[0] == 1.0:
        e = np.array(ts.energy_fpr95)
        out.append(_claim(f"energy score: T = 1 beats T = {ts.temperatures[-1]:g}", "FPR95",
                          True, e[:, 0], e[:, -1], "FPR95 rises with T (Fig. 4a)"))  # fmt: skip
    en = res.find("pretrained", "energy", T=1.0)
    sn = res.find("pretrained", "self_normalized_energy")
    if sn and en and sets:
        out.append(_claim("self-normalized energy separates worse than energy (it is 0)",
                          "AUROC", False, en.mean_over(sets, "auroc"),
                          sn.mean_over(sets, "auroc"), "collapses to 0 (rebuttal)"))  # fmt: skip
    odins = [e for e in res.evaluations if e.model == "pretrained" and e.spec.name == "odin"]
    zero = next((e for e in odins if float(e.spec.params.get("eps", 1.0)) == 0.0), None)
    for e in odins:
        if (
            zero is not None
            and e is not zero
            and e.spec.params.get("T") == zero.spec.params.get("T")
        ):
            out.append(_claim(f"ODIN's input perturbation helps ({e.label} vs eps = 0)", "FPR95",
                              True, e.mean_over(sets, "fpr95"), zero.mean_over(sets, "fpr95"),
                              "ODIN paper: perturbation lowers FPR"))  # fmt: skip
    return out


def ood_claims(res: OODResults) -> list[Claim]:
    """The claims whose evaluations this run holds, in the paper's order."""
    return _score_claims(res) + _error_claims(res) + _ablation_claims(res)


def per_set_claims(res: OODResults) -> list[tuple[str, Claim | None, Claim | None]]:
    """Per OOD set: energy vs softmax (pretrained) and energy fine-tuning vs OE, on FPR95."""
    msp, en = res.find("pretrained", "msp", T=1.0), res.find("pretrained", "energy", T=1.0)
    oe, ef = res.find("oe", "msp"), res.find("energy", "energy")
    rows = []
    for s in res.ood_sets:
        a = b = None
        if msp and en:
            a = _claim("", "FPR95", True, en.values(s, "fpr95"), msp.values(s, "fpr95"), "")
        if oe and ef:
            b = _claim("", "FPR95", True, ef.values(s, "fpr95"), oe.values(s, "fpr95"), "")
        rows.append((s, a, b))
    return rows
