"""Every metric at once from the two sorted score arrays (numba).

``merge_metrics(pos, neg, tpr)`` takes the ID (``pos``) and OOD (``neg``) scores sorted
ascending, each followed by a sentinel above every score (``_sort.padded_sort``: floats or
order-preserving integer keys), and returns the 7 slots below. It computes exactly what a walk
down the merged order, one group of equal scores at a time, computes (``_reference`` in the
tests keeps that walk: bit for bit the same numbers, ties included), in three linear passes
without a branch that depends on how the two classes interleave:

1. ``_cross_counts``: R[j] = #(pos <= neg[j]) and NL[i] = #(neg < pos[i]) for every element,
   by a branch-free merge run as two independent walkers over the two halves of the merged
   order (so their load-compare-advance chains overlap);
2. ``_pos_pass`` / ``_neg_pass``: AUPR-In adds a * tp / (tp + fp) per group of equal ID scores,
   AUPR-Out b * c_ood / (c_ood + c_id) and the AUROC area b * (tp_prev + tp) / 2 per group of
   equal OOD scores, from the top score down: the same terms in the same order as the walk,
   so the floating-point sums are identical;
3. ``_fpr_points``: the FPR operating points from a few binary searches (the walk's rules:
   "first" = first threshold reaching the target TPR, "closest" = closest TPR, later point on
   ties, never past the first point with TPR 1).
"""

from __future__ import annotations

import numpy as np

try:  # pragma: no cover - exercised whenever numba is present
    from numba import njit
except ImportError:  # pragma: no cover
    njit = None

# Output slots of the kernel.
AUROC, AP_IN, AP_OUT, FPR_ID_FIRST, FPR_ID_CLOSEST, FPR_OOD_FIRST, FPR_OOD_CLOSEST = range(7)


def _step(P, Q, R, NL, i, j):
    """One step of the merge: take P[i] if P[i] <= Q[j], else Q[j]; both counts are written
    (the one that does not advance is overwritten by a later step)."""
    take = P[i] <= Q[j]
    R[j] = i
    NL[i] = j
    return i + take, j + (not take)


def _split(P, Q, n1, d):
    """Smallest j with j + #(P[:n1] <= Q[j]) >= d: where the merged order reaches d."""
    lo, hi = 0, Q.size - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if mid + np.searchsorted(P[:n1], Q[mid], side="right") >= d:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _cross_counts(P, Q, R, NL):
    """R[j] = #(P <= Q[j]) for j < m; NL[i] = #(Q < P[i]) for i < n1 (P, Q padded)."""
    n1, m = P.size - 1, Q.size - 1
    e0 = _split(P, Q, n1, (n1 + m) // 2)  # walker 0: Q[:e0]; walker 1: Q[e0:m]
    i0, j0, j1 = 0, 0, e0
    i1 = np.searchsorted(P[:n1], Q[e0 - 1], side="right") if e0 > 0 else 0
    start1 = i1
    while j0 < e0 and j1 < m:
        i0, j0 = _step(P, Q, R, NL, i0, j0)
        i1, j1 = _step(P, Q, R, NL, i1, j1)
    while j0 < e0:
        i0, j0 = _step(P, Q, R, NL, i0, j0)
    while j1 < m:
        i1, j1 = _step(P, Q, R, NL, i1, j1)
    for i in range(i1, n1):  # ID scores above every OOD score
        NL[i] = m
    if start1 < n1:  # walker 0's last step wrote NL at walker 1's first element
        NL[start1] = np.searchsorted(Q[:m], P[start1], side="left")


def _pos_pass(P, NL, m):
    """Sum over groups of equal ID scores, from the top, of a * tp / (tp + fp)."""
    n1 = P.size - 1
    ap = 0.0
    i = n1 - 1
    while i >= 0:
        v = P[i]
        f = i
        while f > 0 and P[f - 1] == v:
            f -= 1
        tp = n1 - f  # ID scores >= v
        fp = m - NL[f]  # OOD scores >= v
        ap += (i + 1 - f) * (tp / (tp + fp))
        i = f - 1
    return ap


def _neg_pass(P, Q, R):
    """(AUROC area, AUPR-Out sum) over groups of equal OOD scores, from the top."""
    n1, m = P.size - 1, Q.size - 1
    area = 0.0
    ap = 0.0
    j = m - 1
    while j >= 0:
        v = Q[j]
        g = j
        while g > 0 and Q[g - 1] == v:
            g -= 1
        b = j + 1 - g
        c_ood = j + 1  # OOD scores <= v
        c_id = R[g]  # ID scores <= v
        lt = c_id
        while lt > 0 and P[lt - 1] == v:
            lt -= 1
        tp_prev, tp = n1 - c_id, n1 - lt  # ID scores > v, >= v
        area += b * (tp_prev + tp) * 0.5
        ap += b * (c_ood / (c_ood + c_id))
        j = g - 1
    return area, ap


def _rate_at_least(n, tpr):
    """Smallest count t in 1..n with t / n >= tpr (the float test of the walk)."""
    t = min(max(int(np.ceil(tpr * n)), 1), n)
    while t > 1 and (t - 1) / n >= tpr:
        t -= 1
    while t < n and t / n < tpr:
        t += 1
    return t


def _fpr_points(P, Q, tpr, out):
    n1, m = P.size - 1, Q.size - 1
    p, q = P[:n1], Q[:m]
    # ID positive: thresholds from the top; the first group reaching T1 ID scores
    v1 = p[n1 - _rate_at_least(n1, tpr)]
    tp1 = n1 - np.searchsorted(p, v1, side="left")
    fp_first = m - np.searchsorted(q, v1, side="left")
    tp0 = n1 - np.searchsorted(p, v1, side="right")  # the group before it, if any
    fp0 = m - np.searchsorted(q, v1, side="right")
    fp1 = fp_first  # the last group with tp1 (OOD-only groups follow) before TPR 1
    if tp1 < n1:
        fp1 = m - np.searchsorted(q, p[n1 - tp1 - 1], side="right")
    out[FPR_ID_FIRST] = fp_first / m
    if (tp0 > 0 or fp0 > 0) and not abs(tp1 / n1 - tpr) <= abs(tp0 / n1 - tpr):
        out[FPR_ID_CLOSEST] = fp0 / m
    else:
        out[FPR_ID_CLOSEST] = fp1 / m
    # OOD positive: thresholds from the bottom; w is the U1-th lowest OOD score
    w = q[_rate_at_least(m, tpr) - 1]
    out[FPR_OOD_FIRST] = np.searchsorted(p, w, side="right") / n1
    c1 = np.searchsorted(q, w, side="right")
    cid1 = np.searchsorted(p, w, side="right")
    if c1 < m:
        cid1 = np.searchsorted(p, q[c1], side="left")
    c0, cid0 = np.searchsorted(q, w, side="left"), np.searchsorted(p, w, side="left")
    if (c0 > 0 or cid0 > 0) and abs(c0 / m - tpr) < abs(c1 / m - tpr):
        out[FPR_OOD_CLOSEST] = cid0 / n1
    else:
        out[FPR_OOD_CLOSEST] = cid1 / n1


def _merge_metrics(pos, neg, tpr, out, R, NL):
    n1, m = pos.size - 1, neg.size - 1
    _cross_counts(pos, neg, R, NL)
    area, ap_out = _neg_pass(pos, neg, R)
    out[AUROC] = area / (n1 * m)
    out[AP_IN] = _pos_pass(pos, NL, m) / n1
    out[AP_OUT] = ap_out / m
    _fpr_points(pos, neg, tpr, out)


def merge_metrics(pos: np.ndarray, neg: np.ndarray, tpr: float) -> np.ndarray:
    """The 7 slots from ``pos`` / ``neg``: ascending ID / OOD scores (floats or keys of one
    dtype), each followed by a sentinel above every score."""
    n1, m = pos.size - 1, neg.size - 1
    idx = np.int32 if n1 + m < 2**31 - 1 else np.int64  # counts: half the memory of int64
    out = np.empty(7)
    _merge_metrics_jit(pos, neg, float(tpr), out, np.empty(m, idx), np.empty(n1 + 1, idx))
    return out


if njit:
    _jit = njit(cache=True, nogil=True)
    _step = njit(cache=True, nogil=True, inline="always")(_step)
    _split, _rate_at_least = _jit(_split), _jit(_rate_at_least)
    _cross_counts, _pos_pass, _neg_pass = _jit(_cross_counts), _jit(_pos_pass), _jit(_neg_pass)
    _fpr_points = _jit(_fpr_points)
    _merge_metrics_jit = _jit(_merge_metrics)
else:  # pragma: no cover
    merge_metrics = None  # noqa: F811 - functional falls back to the pure-numpy curve
