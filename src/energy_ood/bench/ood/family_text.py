"""The sentences of a dataset-vs-dataset report about families (the same distribution: one data
set, one package's pictures), generated from the families results.json records for each source,
so a report says what its records show: which headline set, if any, shares a family with the
auxiliary outliers or the ID data, and of which families the margin-validation outliers are."""

from __future__ import annotations

from ...data.sources import id_family
from ..disclosure import NOT_RECORDED
from .results import OODResults


def _family(res: OODResults, name: str) -> str | None:
    return (res.sources.get(name) or {}).get("family")


def _id_family(res: OODResults) -> str | None:
    ds = ((res.run or {}).get("config") or {}).get("data", {}).get("dataset")
    return id_family(ds) if ds else None


def _shared(res: OODResults, names, against: dict[str, str]) -> list[str]:
    """'name (family, as the X)' for each of ``names`` whose family is one of ``against``."""
    out = []
    for n in names:
        fam = _family(res, n)
        if fam is not None and fam in against:
            out.append(f"{n} ({fam}, as {against[fam]})")
    return out


def headline_family_text(res: OODResults) -> str:
    """'Headline = mean over ...' and whether a headline set shares a family with the auxiliary
    outliers or the ID data, read off the recorded families."""
    head = res.headline_sets
    text = "Headline = mean over the natural-image OOD sets (" + ", ".join(head) + ")"
    unknown = [n for n in [*head, *res.aux] if _family(res, n) is None]
    if unknown:
        return text + f". Family of {', '.join(unknown)}: {NOT_RECORDED}."
    against = {_family(res, a): f"the auxiliary source {a}" for a in res.aux}
    idf = _id_family(res)
    if idf is not None:
        against.setdefault(idf, "the ID data")
    shared = _shared(res, head, against)
    if shared:
        return text + ". **Shares a family with the training data: " + "; ".join(shared) + ".**"
    aux = ", ".join(sorted({_family(res, a) for a in res.aux})) or "none"
    return (
        text
        + f": none shares a family with the auxiliary outliers (recorded families: {aux})"
        + ("" if idf is None else f" or with the ID data ({idf})")
        + "; the config loader refuses such a benchmark (data.splits.check_families)."
    )


def val_outliers_text(res: OODResults) -> str:
    """The margin sweep's validation outliers and their recorded families vs the training
    outliers' and the test sets'."""
    ms = res.margin_sweep
    if not ms.val_sets:
        return (
            "held-out auxiliary outliers (the training outliers' family; results written before "
            "data.margin_val)"
        )
    against = {_family(res, a): "the training outliers" for a in res.aux}
    for t in res.ood_sets:
        against.setdefault(_family(res, t), f"the test set {t}")
    against.pop(None, None)
    fams = [f"{v}: {_family(res, v) or NOT_RECORDED}" for v in ms.val_sets]
    shared = _shared(res, ms.val_sets, against)
    if shared:
        note = "**shares a family with " + "; ".join(shared) + "**"
    elif any(_family(res, v) is None for v in ms.val_sets):
        note = f"whether it shares a family with the training outliers or a test: {NOT_RECORDED}"
    else:
        note = "of neither the training outliers' family nor a test's"
    return f"{', '.join(ms.val_sets)} (families {', '.join(fams)}; {note})"
