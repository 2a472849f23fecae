"""How the margin sweep picks its offset, and the sentence that says how it did.

The criterion is the validation FPR95 of the energy score: the ID validation split against
outliers of a family used neither for the training outliers nor for any test set (the config's
``data.margin_val``), so the criterion sees a distribution the fine-tuning did not. Points whose
validation FPR95 is equal tie; ties are broken by higher validation AUROC, then lower
validation error, then the earlier offset of the config. The sentence names the tie and the
tie-break that decided, from the recorded numbers, never a fixed text.
"""

from __future__ import annotations

RULE = (
    "lowest validation FPR95 (energy score, ID validation split vs the margin-validation "
    "outliers); ties: higher validation AUROC, then lower validation error, then the earlier "
    "offset"
)
# (field, sign: +1 lower is better, -1 higher is better, what it is called)
TIE_BREAKS = (("val_auroc", -1, "higher validation AUROC"),
              ("val_error", +1, "lower validation error"))  # fmt: skip


def choose(points) -> tuple[int, dict]:
    """(index of the chosen point, how it was chosen): ``tied`` = the points at the lowest
    validation FPR95, ``broken_by`` = the tie-breaks that narrowed them, in order."""
    best = min(p.val_fpr95 for p in points)
    tied = [i for i, p in enumerate(points) if p.val_fpr95 == best]
    cands, used = tied, []
    for key, sign, _ in TIE_BREAKS:
        vals = [getattr(points[i], key, None) for i in cands]
        if len(cands) == 1 or None in vals:  # results written before the field existed
            continue
        top = min(sign * v for v in vals)
        narrowed = [i for i, v in zip(cands, vals) if sign * v == top]
        if len(narrowed) < len(cands):
            used.append(key)
        cands = narrowed
    if len(cands) > 1:
        used.append("order")
    return cands[0], {"criterion": "val_fpr95", "tied": tied, "broken_by": used}


def _pct(v: float) -> str:
    return f"{100 * v:.2f}%"


def _span(vals: list[float]) -> str:
    lo, hi = min(vals), max(vals)
    return _pct(lo) if lo == hi else f"{_pct(lo)}-{_pct(hi)}"


def _offset(p) -> str:
    return f"{p.offset[0]:+g} / {p.offset[1]:+g}"


def choice_text(points, chosen: int, choice: dict | None = None) -> str:
    """One sentence, from the numbers: which offset was chosen, by what, and whether a tie was
    broken (and by which figure). ``choice`` is :func:`choose`'s record (recomputed when
    absent: results written before it was kept)."""
    if choice is None:
        chosen, choice = choose(points)
    p, tied = points[chosen], choice["tied"]
    others = [q.val_fpr95 for i, q in enumerate(points) if i not in tied]
    if len(tied) == 1:
        rest = f" vs {_span(others)} for the other {len(others)}" if others else ""
        return (f"offset {_offset(p)} chosen by the lowest validation FPR95 "
                f"({_pct(p.val_fpr95)}{rest})")  # fmt: skip
    text = (f"validation FPR95 ties at {_pct(p.val_fpr95)} among {len(tied)} of "
            f"{len(points)} points, so it does not decide; ")  # fmt: skip
    names = dict((k, n) for k, _, n in TIE_BREAKS)
    cands, parts = tied, []
    for key in choice["broken_by"]:
        if key == "order":
            parts.append("no figure separates the rest, so the earliest offset in the config")
            continue
        sign = next(s for k, s, _ in TIE_BREAKS if k == key)
        vals = {i: getattr(points[i], key) for i in cands}
        top = min(sign * v for v in vals.values())
        rest = [v for i, v in vals.items() if sign * v != top]
        parts.append(f"{names[key]} ({_pct(sign * top)} vs {_span(rest)})")
        cands = [i for i in cands if sign * vals[i] == top]
    return text + f"offset {_offset(p)} was chosen by " + ", then ".join(parts)
