"""The energy paper's claims, tested on a dataset-vs-dataset benchmark's typed results, and the
table of what this run does differently from the paper.

Every claim compares two per-seed lists measured on the same seeds and is decided by the one
rule of :mod:`.stats` (paired 95% t-interval). Headline numbers are means over the natural-image
OOD sets, none of which shares a family with the auxiliary outliers.
"""

from __future__ import annotations

import numpy as np

from ...runtime.provenance import describe_machine
from ..claims import Claim
from ..stats import paired_verdict
from .results import OODResults

PAPER_SETUP = {
    "model": "WRN-40-2",
    "id": "CIFAR-10 (50,000 train)",
    "pretrain": "100 epochs, SGD lr 0.1 cosine, batch 128",
    "finetune": "10 epochs, lr 0.001, 128 ID + 256 outliers per step",
    "margins": "m_in = -23, m_out = -5 (grid m_in -3..-7, m_out -15..-27)",
    "aux": "80 Million Tiny Images (natural photos; CIFAR-10 is drawn from it)",
    "ood": "Textures, SVHN, Places365, LSUN-C, LSUN-R, iSUN (natural images)",
    "seeds": "one model per method; rebuttal: variance over 10 runs",
    "machine": "one NVIDIA V100",
}


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


def _pretrain_text(tr: dict, timings: dict | None) -> str:
    budgets = [b for b in ((timings or {}).get("pretrain_time_budget") or {}).values() if b]
    if not budgets:
        return f"epochs: {tr.get('epochs')}, lr {tr.get('lr')}"
    eps = sorted({b["epochs"] for b in budgets})
    return (
        f"epochs: {'/'.join(map(str, eps))} (as many as fit in {budgets[0]['budget_s']:g} s, "
        f"measured {budgets[0]['seconds_per_epoch']:.2f} s/epoch), lr {tr.get('lr')}"
    )


def _pool_text(pool: dict | None) -> str:
    """The auxiliary pool's size, make-up and reuse, from its record ("" without one)."""
    if not pool:
        return ""
    kind = "distinct " if pool.get("distinct") else ""
    text = (f"; {pool['n_train']:,} {kind}outliers for fine-tuning and {pool['n_held_out']:,} "
            f"held out for the data-chosen margins")  # fmt: skip
    if pool.get("pictures_used"):
        text += (f", crops of {pool['pictures_used']:,} of the {pool['pictures']:,} pictures "
                 f"of {len(pool['families'])} families")  # fmt: skip
    left = sum(len(r["left_out"]) for r in pool["sources"])
    if left:
        text += f" ({left} pictures of ID classes left out)"
    if "reuse" in pool:
        text += (f"; {pool['draws']:,} outlier draws in fine-tuning: each outlier drawn "
                 f"{pool['reuse']:.1f} times on average")  # fmt: skip
    return text


def departures(cfg, res: OODResults) -> list[list[str]]:
    """Rows (what, paper, this run) of everything that differs from the energy paper."""
    ft = cfg.finetune
    fam = res.sources
    aux = ", ".join(f"{a} ({fam[a]['family']})" for a in res.aux) or "none"
    aux += _pool_text(res.aux_pool)
    if res.margin_sweep is not None:
        ms = res.margin_sweep
        val = f" against {', '.join(ms.val_sets)} outliers" if ms.val_sets else ""
        margins = (f"data-chosen (mean ID / outlier validation energies, seed {ms.seed}: "
                   f"{ms.base['m_in']}, {ms.base['m_out']}) plus an offset among "
                   f"{len(ms.points)}{val}: {ms.choice_text()}")  # fmt: skip
    elif ft is not None and ft.m_in is not None:
        margins = f"fixed: m_in = {ft.m_in}, m_out = {ft.m_out}"
    else:
        margins = "data-chosen per seed: mean ID / outlier validation energies (>= 1 apart)"
    tr = res.run.get("config", {}).get("pretrain", {})
    seeds = ", ".join(map(str, res.seeds))
    rows = [
        ["model", PAPER_SETUP["model"], cfg.model.name + (
            f", starting from {cfg.model.checkpoint}" if cfg.model.checkpoint else
            ", random init" if cfg.model.pretrained else "")],
        ["in-distribution data", PAPER_SETUP["id"],
         f"{res.protocol['id_dataset']} ({res.protocol['n_train']} train, "
         f"{res.protocol['n_val']} validation, {res.protocol['n_test']} test)"],
        ["pretraining", PAPER_SETUP["pretrain"], _pretrain_text(tr, res.timings)],
        ["fine-tuning", PAPER_SETUP["finetune"],
         "none" if ft is None else f"epochs: {ft.epochs}, lr {ft.lr}, {ft.n_aux} outliers drawn; "
         f"methods: {', '.join(ft.methods)}"],
        ["margins", PAPER_SETUP["margins"], margins if ft is not None else "-"],
        ["auxiliary outliers", PAPER_SETUP["aux"], aux],
        ["OOD test sets", PAPER_SETUP["ood"],
         f"natural: {', '.join(res.headline_sets) or 'none'}; noise: "
         f"{', '.join(res.noise_sets) or 'none'}"],
        ["seeds", PAPER_SETUP["seeds"], f"{len(res.seeds)} seed(s): {seeds}"],
        ["machine", PAPER_SETUP["machine"], describe_machine(res.run.get("machine"))],
    ]  # fmt: skip
    skipped = res.run.get("skipped_images") or []
    if skipped:  # --bad-images skip: never silent
        rows.append(["image files", "all used", f"{len(skipped)} could not be used and were "
                     "skipped (bad_images = skip; each with its reason in results.json, "
                     "run.skipped_images)"])  # fmt: skip
    return rows
