"""The WordNet gloss benchmark's "what differs from the paper" table, built when a report is
rendered from the records its results.json holds (the run's config, its data record, the
splits, the machine), so a re-render refreshes it; a fact an old results.json lacks reads
:data:`~energy_ood.bench.disclosure.NOT_RECORDED`."""

from __future__ import annotations

from ...runtime.provenance import describe_machine
from ..disclosure import NOT_RECORDED
from .results import VLMResults


def _get(d: dict | None, *keys):
    """``d[k0][k1]...`` or None where a level is missing."""
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _text(value, fmt=str) -> str:
    return NOT_RECORDED if value is None else fmt(value)


def _data_row(res: VLMResults) -> str:
    run, sp0 = res.run or {}, (res.splits or [{}])[0]
    cats, n_id = _get(run, "data", "categories"), _get(run, "config", "data", "n_id")
    return (f"WordNet noun glosses: {_text(cats, len)} categories, {_text(n_id)} ID per split; "
            f"per split {_text(sp0.get('n'))}")  # fmt: skip


def _temperatures_row(res: VLMResults) -> str:
    zs = _get(res.run, "config", "zeroshot") or {}
    n_val = _get((res.splits or [{}])[0], "val_ood_categories")
    return (
        "chosen per split and stage on validation (ID validation glosses vs "
        f"{_text(n_val, len)} validation-OOD categories): tau from {_text(zs.get('taus'))}, "
        f"logit scale from {_text(zs.get('logit_scales'))}"
    )


def _tuning_row(res: VLMResults) -> str:
    per_class = _get(res.run, "config", "data", "train_per_class")
    tune = _get(res.run, "config", "tune") or {}
    if "CoOp CE" not in res.stages and "CoOp CE+EBM" not in res.stages:
        return "not run (zero-shot only)"
    return (f"CoOp, {_text(per_class)} glosses per class, epochs: {_text(tune.get('epochs'))}, "
            f"lr {_text(tune.get('lr'))}, batch {_text(tune.get('batch_size'))}")  # fmt: skip


def vlm_departures(res: VLMResults) -> list[list[str]]:
    """[what, the paper, this run] rows, each read off a record."""
    enc = _get(res.run, "data", "encoder")
    enc_text = ", ".join(str(v) for v in enc.values()) if isinstance(enc, dict) else _text(enc)
    splits = _get(res.run, "config", "data", "splits")
    machine = (res.run or {}).get("machine")
    return [
        ["model", "CLIP ViT-B/16 (images and text)", enc_text],
        ["data", "ImageNet-1k ID; iNaturalist, SUN, Places, Textures OOD", _data_row(res)],
        ["OOD", "other data sets (covariate and semantic shift)",
         "held-out WordNet categories (semantic shift only)"],
        ["temperatures", "MCM tau = 1, CLIP logit scale 100", _temperatures_row(res)],
        ["Delta-Energy score and EBM loss", "as published (not readable here)",
         "RECONSTRUCTION (see Setup: verified vs reconstruction)"],
        ["prompt tuning", "CoOp, 16 shots per class", _tuning_row(res)],
        ["repetitions", "not stated",
         f"{_text(splits)} seeded category splits (paired units)"],
        ["machine", "GPU (not stated)", describe_machine(machine) if machine else NOT_RECORDED],
    ]  # fmt: skip
