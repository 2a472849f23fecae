"""Pure OOD metrics over numpy arrays or torch tensors.

Conventions (SPEC section 1):

* A *score* is ID-ness: higher means more in-distribution.
* By default ID is the positive class (``positive="id"``, the energy paper's convention): FPR95
  is the fraction of OOD samples accepted at the threshold that accepts 95% of ID samples.
  ``positive="ood"`` gives the reverse convention of OpenOOD and pytorch-ood: the threshold
  flags 95% of OOD samples and FPR95 is the fraction of ID samples flagged.
* FPR at TPR uses ``rule="first"`` (the first operating point, scanning thresholds from strict
  to lenient, whose TPR >= target) or ``rule="closest"`` (the point whose TPR is closest to the
  target, as the energy paper's code; ties go to the larger TPR). Like that code, "closest"
  considers thresholds only up to the strictest one reaching TPR 1, so at a target of 1 it
  agrees with "first" (not the most lenient threshold, which accepts everything).
* Scores may be numpy arrays or torch tensors on any device (moved to the CPU).
* AUROC counts ties as one half. AUPR-In / AUPR-Out are average precision (scikit-learn's
  ``average_precision_score``: sum of precision x recall increments) with ID resp. OOD positive.

All four metrics come from sorting each class's scores once (``np.sort`` or a radix sort of
integer keys, whichever this machine runs faster: ``_sort``) and three compiled linear passes over
the sorted arrays (``_kernel``); ``curve`` gives the same counts in pure numpy (``np.sort``), for
plots, as the fallback without numba and as the reference the tests hold the kernel to. Every
function returns a fraction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._validate import InputError, as_numpy_1d, check_choice, real_array
from . import _kernel as _k
from ._kernel import merge_metrics
from ._sort import all_finite, padded_sort, sort_method

RULES = ("first", "closest")
POSITIVES = ("id", "ood")


@dataclass(frozen=True)
class Curve:
    """Cumulative counts at each distinct threshold, from the highest score down.

    ``tp[g]`` / ``fp[g]``: number of ID / OOD samples with score >= the g-th largest distinct
    value. Both end at the class sizes.
    """

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    n_id: int
    n_ood: int


def _common_dtype(a: np.ndarray, b: np.ndarray) -> np.dtype:
    if a.dtype == np.float32 and b.dtype == np.float32:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _pair(id_scores, ood_scores) -> tuple[np.ndarray, np.ndarray]:
    """Validate both score arrays and return them in one common float dtype."""
    a = as_numpy_1d(id_scores, "id_scores")  # refuses complex, date/time, text dtypes
    b = as_numpy_1d(ood_scores, "ood_scores")
    dt = _common_dtype(a, b)
    return a.astype(dt, copy=False), b.astype(dt, copy=False)


def _unchecked_1d(x, name: str) -> np.ndarray:
    """``as_numpy_1d`` without its finiteness pass (``ood_metrics`` reads finiteness off the
    sorted keys, :func:`_sort.all_finite`, and calls ``as_numpy_1d`` for the message)."""
    a = real_array(x, name)
    if hasattr(a, "detach"):
        a = a.detach().cpu()
        a = (a.float() if a.dtype in (torch.bfloat16, torch.float16) else a).numpy()
    if a.ndim != 1 and not (a.ndim == 2 and 1 in a.shape):
        return as_numpy_1d(a, name)  # its one-line error
    a = a.reshape(-1)
    if a.size == 0 or not np.issubdtype(a.dtype, np.floating) or a.dtype == np.float16:
        return as_numpy_1d(a, name)  # its error or its float64 conversion (and check)
    return a


def _sorted_pair(id_scores, ood_scores) -> tuple[np.ndarray, np.ndarray]:
    """Validate both score arrays and return them sorted ascending in one common dtype."""
    a, b = _pair(id_scores, ood_scores)
    return np.sort(a), np.sort(b)


def curve(id_scores, ood_scores) -> Curve:
    """Counts of ID and OOD samples at or above every distinct threshold (pure numpy)."""
    pos, neg = _sorted_pair(id_scores, ood_scores)
    dt = pos.dtype
    n_pos, n_neg = pos.size, neg.size
    n = n_pos + n_neg
    idx_t = np.int32 if n < 2**31 - 1 else np.int64
    # Position of every OOD score in the merged ascending order (placed before equal ID scores).
    at = np.searchsorted(pos, neg, side="left").astype(idx_t, copy=False)
    at += np.arange(n_neg, dtype=idx_t)
    is_neg = np.zeros(n, dtype=bool)
    is_neg[at] = True
    merged = np.empty(n, dtype=dt)
    merged[at] = neg
    merged[~is_neg] = pos
    del at
    # Group starts of equal values in ascending order.
    change = np.empty(n, dtype=bool)
    change[0] = True
    np.not_equal(merged[1:], merged[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    del change
    thresholds = merged[starts]
    del merged
    neg_before = np.cumsum(is_neg, dtype=idx_t)  # inclusive cumsum
    del is_neg
    # OOD count strictly below a group's start = inclusive cumsum at start-1.
    below_neg = np.empty(starts.size, dtype=np.int64)
    below_neg[0] = 0
    below_neg[1:] = neg_before[starts[1:] - 1]
    del neg_before
    fp = n_neg - below_neg
    tp = (n_pos - (starts - below_neg)).astype(np.int64)
    # Descending order of thresholds: strict to lenient.
    return Curve(thresholds[::-1], tp[::-1], fp[::-1], n_pos, n_neg)


def _fpr_from_curve(c: Curve, tpr: float, rule: str, positive: str) -> float:
    if positive == "id":
        tp, fp, n_pos, n_neg = c.tp, c.fp, c.n_id, c.n_ood
    else:
        # OOD positive, flagged when the score is low: walk thresholds from the lowest score up.
        # Counts of samples with score <= the g-th smallest distinct value.
        tp = c.n_ood - np.concatenate(([0], c.fp[:-1]))[::-1]
        fp = c.n_id - np.concatenate(([0], c.tp[:-1]))[::-1]
        n_pos, n_neg = c.n_ood, c.n_id
    tprs = tp / n_pos
    if rule == "first":
        g = int(np.argmax(tprs >= tpr))  # tprs ends at 1.0, so a point always exists
    else:
        # The energy paper's code cuts the curve at the first (strictest) point with TPR 1,
        # then takes the closest TPR; ties go to the larger TPR, then to the later point.
        d = np.abs(tprs - tpr)[: int(np.argmax(tprs >= 1.0)) + 1]
        g = int(np.flatnonzero(d == d.min())[-1])
    return float(fp[g] / n_neg)


def check_options(tpr, rule: str, positive: str) -> None:
    """One-line InputError for a bad rule, positive class or target TPR."""
    check_choice(rule, "rule", RULES)
    check_choice(positive, "positive", POSITIVES)
    if isinstance(tpr, bool) or not isinstance(tpr, (int, float, np.floating)):
        raise InputError(f"tpr must be a number in (0, 1], got {tpr!r}")
    if not 0.0 < float(tpr) <= 1.0:
        raise InputError(f"tpr must be in (0, 1], got {tpr}")


def fpr_at_tpr(
    id_scores, ood_scores, tpr: float = 0.95, *, rule: str = "first", positive: str = "id"
) -> float:
    """False-positive rate at the threshold reaching ``tpr`` true-positive rate (a fraction)."""
    check_options(tpr, rule, positive)
    return ood_metrics(id_scores, ood_scores, tpr, rule=rule, positive=positive)["fpr95"]


def _auroc_from_curve(c: Curve) -> float:
    tp = np.concatenate(([0], c.tp)).astype(np.float64)
    fp = np.concatenate(([0], c.fp)).astype(np.float64)
    # Trapezoid on integer counts: exactly the Mann-Whitney U with ties counting one half.
    area = np.dot(np.diff(fp), tp[1:] + tp[:-1]) / 2.0
    return float(area / (c.n_id * c.n_ood))


def _ap(tp: np.ndarray, fp: np.ndarray, n_pos: int) -> float:
    tp = tp.astype(np.float64)
    precision = tp / (tp + fp)
    dtp = np.diff(np.concatenate(([0.0], tp)))
    return float(np.dot(dtp, precision) / n_pos)


def _aupr_in_from_curve(c: Curve) -> float:
    return _ap(c.tp, c.fp, c.n_id)


def _aupr_out_from_curve(c: Curve) -> float:
    tp = c.n_ood - np.concatenate(([0], c.fp[:-1]))[::-1]
    fp = c.n_id - np.concatenate(([0], c.tp[:-1]))[::-1]
    return _ap(tp, fp, c.n_ood)


def auroc(id_scores, ood_scores) -> float:
    """Area under the ROC curve, ID positive (symmetric: the same with OOD positive)."""
    return ood_metrics(id_scores, ood_scores)["auroc"]


def aupr_in(id_scores, ood_scores) -> float:
    """Average precision with ID as the positive class (higher score = more ID)."""
    return ood_metrics(id_scores, ood_scores)["aupr_in"]


def aupr_out(id_scores, ood_scores) -> float:
    """Average precision with OOD as the positive class (lower score = more OOD)."""
    return ood_metrics(id_scores, ood_scores)["aupr_out"]


def average_precision(scores, labels) -> float:
    """Average precision of ``scores`` for binary ``labels`` (1 = positive, higher = positive).

    The semantic-anomaly protocol uses it with the held-out class as the positive class and an
    anomaly score (higher = more anomalous); pass ``-id_score`` for an ID-ness score.
    """
    s = as_numpy_1d(scores, "scores")
    y = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
    if y.shape != s.shape:
        raise InputError(f"labels: shape {y.shape} does not match scores shape {s.shape}")
    uniq = np.unique(y)
    if not np.isin(uniq, [0, 1]).all():
        raise InputError(f"labels must be 0/1 (or bool), got values {uniq[:5].tolist()}")
    y = y.astype(bool)
    if not y.any():
        raise InputError("labels: no positive sample, average precision is undefined")
    if y.all():
        return 1.0
    return aupr_in(s[y], s[~y])


def ood_metrics(
    id_scores, ood_scores, tpr: float = 0.95, *, rule: str = "first", positive: str = "id"
) -> dict[str, float]:
    """FPR at ``tpr``, AUROC, AUPR-In and AUPR-Out as fractions, from one sort.

    Returns ``{"fpr95", "auroc", "aupr_in", "aupr_out"}``; the key ``fpr95`` holds the FPR at
    the requested ``tpr`` (0.95 by default) under ``rule`` and ``positive`` (module docstring).
    """
    check_options(tpr, rule, positive)
    if merge_metrics is None:
        return _ood_metrics_numpy(id_scores, ood_scores, tpr, rule=rule, positive=positive)
    a, b = _unchecked_1d(id_scores, "id_scores"), _unchecked_1d(ood_scores, "ood_scores")
    dt = _common_dtype(a, b)
    a, b = (np.ascontiguousarray(x, dtype=dt) for x in (a, b))
    method = sort_method(a if a.size >= b.size else b)  # one sort for both arrays
    pos, neg = padded_sort(a, method), padded_sort(b, method)
    for keys, x, name in ((pos, id_scores, "id_scores"), (neg, ood_scores, "ood_scores")):
        if not all_finite(keys):
            as_numpy_1d(x, name)  # raises the one-line error with the count
    out = merge_metrics(pos, neg, tpr)
    slot = {
        ("id", "first"): _k.FPR_ID_FIRST,
        ("id", "closest"): _k.FPR_ID_CLOSEST,
        ("ood", "first"): _k.FPR_OOD_FIRST,
        ("ood", "closest"): _k.FPR_OOD_CLOSEST,
    }
    return {
        "fpr95": float(out[slot[positive, rule]]),
        "auroc": float(out[_k.AUROC]),
        "aupr_in": float(out[_k.AP_IN]),
        "aupr_out": float(out[_k.AP_OUT]),
    }


def _ood_metrics_numpy(
    id_scores, ood_scores, tpr: float = 0.95, *, rule: str = "first", positive: str = "id"
) -> dict[str, float]:
    """The same numbers as :func:`ood_metrics` from :func:`curve` (reference, no numba)."""
    c = curve(id_scores, ood_scores)
    return {
        "fpr95": _fpr_from_curve(c, float(tpr), rule, positive),
        "auroc": _auroc_from_curve(c),
        "aupr_in": _aupr_in_from_curve(c),
        "aupr_out": _aupr_out_from_curve(c),
    }


def convention(tpr: float = 0.95, rule: str = "first", positive: str = "id") -> dict:
    """A description of the metric convention, written into every report."""
    return {
        "score": "ID-ness (higher = more in-distribution)",
        "positive": "ID" if positive == "id" else "OOD",
        "fpr_at_tpr": tpr,
        "fpr_rule": rule,
        "auroc": "ties count one half",
        "aupr_in": "average precision, ID positive",
        "aupr_out": "average precision, OOD positive",
        "units": "fractions in [0, 1] (reports print percent)",
    }
