"""What a dataset-vs-dataset run does differently from the energy paper, built when the report
is rendered from the results' records only (``res.run``: the config, the data record and the
machine; ``res.protocol``, ``res.aux_pool``, ``res.margin_sweep``), so re-rendering an old
results.json refreshes the table and a fact the records lack reads ``not recorded``."""

from __future__ import annotations

from ...data.ood_sets import DATASET_SETS
from ...metrics import convention
from ...runtime.provenance import describe_machine
from ...train.loop import steps_per_epoch
from ..disclosure import (
    NOT_RECORDED,
    augment_text,
    dropout_text,
    image_text,
    training_text,
)
from .results import OODResults

PAPER_SETUP = {
    "model": "WRN-40-2",
    "dropout": "0.3 (WRN-40-2)",
    "id": "CIFAR-10 (50,000 train)",
    "images": "32x32, 3 channels (RGB)",
    "pretrain": "100 epochs, SGD lr 0.1 (Nesterov momentum 0.9, wd 5e-4) cosine, batch 128",
    "augment": "random crops after 4-px padding, random horizontal flips",
    "finetune": "10 epochs, lr 0.001 cosine, 128 ID + 256 outliers per step",
    "margins": "m_in = -23, m_out = -5 (grid m_in -3..-7, m_out -15..-27)",
    "aux": "80 Million Tiny Images (natural photos; CIFAR-10 is drawn from it)",
    "aux_format": "32x32 RGB photos, the format of CIFAR-10",
    "reuse": "80 Million Tiny Images, 256 per step for 10 epochs",
    "fit": "Mahalanobis: the whole training set",
    "fpr": "the energy paper's code: the operating point whose TPR is closest to 95%",
    "odin": "eps on [0, 1] pixels (ODIN's code divides the signed gradient by the std)",
    "ood": "Textures, SVHN, Places365, LSUN-C, LSUN-R, iSUN (natural images)",
    "seeds": "one model per method; rebuttal: variance over 10 runs",
    "machine": "one NVIDIA V100",
}


def _config(res: OODResults) -> dict:
    return res.run.get("config") or {}


def _model_row(res: OODResults) -> list[str]:
    m = _config(res).get("model")
    if not m:
        return ["model", PAPER_SETUP["model"], NOT_RECORDED]
    start = (f", starting from {m['checkpoint']}" if m.get("checkpoint")
             else "" if ":" in m["name"] else ", random init")  # fmt: skip
    return ["model", PAPER_SETUP["model"], m["name"] + start]


def _dropout_row(res: OODResults) -> list[str]:
    m = _config(res).get("model") or {}
    text = ("not measured (an external model)" if m.get("checkpoint") or ":" in m.get("name", "")
            else dropout_text(m or None, res.run.get("data")))  # fmt: skip
    return ["dropout", PAPER_SETUP["dropout"], text]


def _pretrain_row(res: OODResults) -> list[str]:
    tr = _config(res).get("pretrain")
    budgets = [b for b in ((res.timings or {}).get("pretrain_time_budget") or {}).values() if b]
    epochs = None
    if budgets:
        eps = sorted({b["epochs"] for b in budgets})
        epochs = (f"{'/'.join(map(str, eps))} epochs (as many as fit in "
                  f"{budgets[0]['budget_s']:g} s, measured {budgets[0]['seconds_per_epoch']:.2f} "
                  "s/epoch)")  # fmt: skip
    return ["pretraining", PAPER_SETUP["pretrain"], training_text(tr, epochs)]


def _augment_row(res: OODResults) -> list[str]:
    cfg = _config(res)
    if "pretrain" not in cfg:
        return ["augmentation", PAPER_SETUP["augment"], NOT_RECORDED]
    text = "pretraining: " + augment_text(cfg["pretrain"].get("augment"))
    if cfg.get("finetune"):
        text += "; fine-tuning: " + augment_text(cfg["finetune"].get("augment"))
    return ["augmentation", PAPER_SETUP["augment"], text]


def _finetune_row(res: OODResults) -> list[str]:
    ft = _config(res).get("finetune")
    if not ft:
        return ["fine-tuning", PAPER_SETUP["finetune"], "none"]
    aux_batch = ft.get("aux_batch_size") or 256
    text = training_text(ft) + f", {aux_batch} outliers per step; methods: "
    return ["fine-tuning", PAPER_SETUP["finetune"], text + ", ".join(ft["methods"])]


def _margins_row(res: OODResults) -> list[str]:
    ft = _config(res).get("finetune")
    if not ft:
        return ["margins", PAPER_SETUP["margins"], "-"]
    if res.margin_sweep is not None:
        ms = res.margin_sweep
        val = f" against {', '.join(ms.val_sets)} outliers" if ms.val_sets else ""
        text = (f"data-chosen (mean ID / outlier validation energies, seed {ms.seed}: "
                f"{ms.base['m_in']}, {ms.base['m_out']}) plus an offset among "
                f"{len(ms.points)}{val}: {ms.choice_text()}")  # fmt: skip
    elif ft.get("m_in") is not None:
        text = f"fixed: m_in = {ft['m_in']}, m_out = {ft['m_out']}"
    else:
        text = "data-chosen per seed: mean ID / outlier validation energies (>= 1 apart)"
    return ["margins", PAPER_SETUP["margins"], text]


def _aux_format_row(res: OODResults) -> list[str]:
    data = res.run.get("data")
    fmt = image_text(data)
    if fmt == NOT_RECORDED or not res.aux:
        return ["auxiliary images", PAPER_SETUP["aux_format"], fmt if res.aux else "none"]
    grey_id, parts = int(data["channels"]) == 1, []
    for a in res.aux:
        if a in DATASET_SETS:
            ds, split, grey = DATASET_SETS[a]
            text = f"{a}: {ds} {split} images"
        else:
            grey, text = False, f"{a}: crops of its pictures"
        parts.append(text + (", turned grey" if grey or grey_id else ""))
    return ["auxiliary images", PAPER_SETUP["aux_format"],
            "; ".join(parts) + f"; all resized to the ID format ({fmt})"]  # fmt: skip


def _reuse_from_config(res: OODResults) -> str:
    """Reuse computed from the config (results written before the pool was recorded)."""
    ft = _config(res).get("finetune") or {}
    n_train = res.protocol.get("n_train")
    if not ft or not n_train or not ft.get("n_aux"):
        return f"reuse {NOT_RECORDED}"
    batch, aux_batch = ft.get("batch_size") or 128, ft.get("aux_batch_size") or 256
    draws = ft["epochs"] * steps_per_epoch(int(n_train), batch) * aux_batch
    return (f"{ft['n_aux']:,} outliers for fine-tuning (how many distinct: {NOT_RECORDED}); "
            f"{draws:,} draws ({ft['epochs']} epochs x {steps_per_epoch(int(n_train), batch)} "
            f"steps x {aux_batch}, from the config): each outlier drawn "
            f"{draws / ft['n_aux']:.1f} times on average")  # fmt: skip


def _pool_text(pool: dict) -> str:
    kind = "distinct " if pool.get("distinct") else ""
    text = (f"{pool['n_train']:,} {kind}outliers for fine-tuning and {pool['n_held_out']:,} "
            f"held out for the data-chosen margins")  # fmt: skip
    if pool.get("pictures_used"):
        text += (f", crops of {pool['pictures_used']:,} of the {pool['pictures']:,} pictures "
                 f"of {len(pool['families'])} families")  # fmt: skip
    left = sum(len(r["left_out"]) for r in pool.get("sources", []))
    if left:
        text += f" ({left} pictures of ID classes left out)"
    if "reuse" in pool:
        text += (f"; {pool['draws']:,} outlier draws in fine-tuning: each outlier drawn "
                 f"{pool['reuse']:.1f} times on average")  # fmt: skip
    return text


def _aux_rows(res: OODResults) -> list[list[str]]:
    fam = res.sources
    aux = ", ".join(f"{a} ({fam[a]['family']})" for a in res.aux) or "none"
    if not res.aux:
        pool = "-"
    elif res.aux_pool:
        pool = _pool_text(res.aux_pool)
    else:
        pool = _reuse_from_config(res)
    return [["auxiliary outliers", PAPER_SETUP["aux"], aux],
            ["auxiliary pool and reuse", PAPER_SETUP["reuse"], pool]]  # fmt: skip


def _fit_row(res: OODResults) -> list[str]:
    n = res.protocol.get("fit_samples") or (_config(res).get("eval") or {}).get("fit_samples")
    if n is None:
        return ["feature scorers fitted on", PAPER_SETUP["fit"], NOT_RECORDED]
    n_train = res.protocol.get("n_train")
    of = f" of the {n_train:,} training images" if n_train else ""
    return ["feature scorers fitted on", PAPER_SETUP["fit"],
            f"a seeded subset of {min(int(n), n_train or int(n)):,}{of} (per seed; "
            "Mahalanobis, KNN, ViM, ... and every scorer's statistics)"]  # fmt: skip


def _fpr_row(res: OODResults) -> list[str]:
    c = res.convention or {}
    rule = c.get("fpr_rule")
    if rule is None:
        return ["FPR95 operating point", PAPER_SETUP["fpr"], NOT_RECORDED]
    tpr = 100 * c.get("fpr_at_tpr", 0.95)
    text = {
        "first": f"the first threshold (strict to lenient) whose TPR >= {tpr:g}%",
        "closest": f"the threshold whose TPR is closest to {tpr:g}%",
    }.get(rule, rule)
    return [
        "FPR95 operating point",
        PAPER_SETUP["fpr"],
        f"{text} ({rule!r}; "
        f"{c.get('positive', 'ID')} positive; default {convention()['fpr_rule']!r})",
    ]


def _odin_row(res: OODResults) -> list[str]:
    methods = (_config(res).get("posthoc") or {}).get("methods") or []
    eps = sorted({float(m.get("eps", 5e-5)) for m in methods if m.get("name") == "odin"})
    if not eps:
        return ["ODIN eps", PAPER_SETUP["odin"], "ODIN not run"]
    std = (res.run.get("data") or {}).get("std")
    given = ", ".join(f"{e:g}" for e in eps)
    if not std:
        return ["ODIN eps", PAPER_SETUP["odin"], f"{given}; input std {NOT_RECORDED}"]
    steps = ", ".join(f"{e / s:.3g}" for e in eps if e for s in std) or "0"
    return [
        "ODIN eps",
        PAPER_SETUP["odin"],
        f"{given} on [0, 1] pixels: a step of eps / std "
        f"= {steps} in the normalised input (std {', '.join(f'{s:.4f}' for s in std)})",
    ]


def departures(res: OODResults) -> list[list[str]]:
    """Rows (what, paper, this run) of everything that differs from the energy paper."""
    p, cfg = res.protocol, _config(res)
    skipped = res.run.get("skipped_images") or []
    rows = [
        _model_row(res), _dropout_row(res),
        ["in-distribution data", PAPER_SETUP["id"],
         f"{p.get('id_dataset')} ({p.get('n_train')} train, {p.get('n_val')} validation, "
         f"{p.get('n_test')} test)"],
        ["images", PAPER_SETUP["images"], image_text(res.run.get("data"))],
        _pretrain_row(res), _augment_row(res), _finetune_row(res), _margins_row(res),
        *_aux_rows(res), _aux_format_row(res), _fit_row(res), _fpr_row(res), _odin_row(res),
        ["OOD test sets", PAPER_SETUP["ood"],
         f"natural: {', '.join(res.headline_sets) or 'none'}; noise: "
         f"{', '.join(res.noise_sets) or 'none'}"],
        ["seeds", PAPER_SETUP["seeds"],
         f"{len(res.seeds)} seed(s): {', '.join(map(str, res.seeds))}"
         + ("" if cfg else f"; config {NOT_RECORDED}")],
        ["machine", PAPER_SETUP["machine"], describe_machine(res.run.get("machine"))],
    ]  # fmt: skip
    if skipped:  # --bad-images skip: never silent
        rows.append(["image files", "all used", f"{len(skipped)} could not be used and were "
                     "skipped (bad_images = skip; each with its reason in results.json, "
                     "run.skipped_images)"])  # fmt: skip
    return rows
