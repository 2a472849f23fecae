"""The metrics kernel as it was before issue 22: one walk down the merged order, one group of
equal scores at a time. Kept as the reference the new three-pass kernel must equal bit for bit
(tests/metrics/test_kernel.py)."""

import numpy as np
from numba import njit


@njit(cache=True)
def merge_walk(pos, neg, tpr):
    """``pos`` / ``neg``: ascending ID / OOD scores. Returns the 7 slots above as fractions."""
    n_id = pos.size
    n_ood = neg.size
    i = n_id - 1
    j = n_ood - 1
    tp = 0
    fp = 0
    area = 0.0
    ap_in = 0.0
    ap_out = 0.0
    fpr_id_first = -1.0
    best_id = 2.0
    fpr_id_closest = 0.0
    fpr_ood_first = -1.0
    best_ood = 2.0
    fpr_ood_closest = 0.0
    while i >= 0 or j >= 0:
        if j < 0:
            v = pos[i]
        elif i < 0:
            v = neg[j]
        else:
            v = pos[i] if pos[i] > neg[j] else neg[j]
        a = 0
        while i >= 0 and pos[i] == v:
            a += 1
            i -= 1
        b = 0
        while j >= 0 and neg[j] == v:
            b += 1
            j -= 1
        tp_prev = tp
        fp_prev = fp
        tp += a
        fp += b
        # OOD-positive view: samples at or below v.
        c_ood = n_ood - fp_prev
        c_id = n_id - tp_prev
        area += b * (tp_prev + tp) * 0.5
        if a > 0:
            ap_in += a * (tp / (tp + fp))
        if b > 0:
            ap_out += b * (c_ood / (c_ood + c_id))
        # ID positive, thresholds from strict to lenient.
        r = tp / n_id
        if fpr_id_first < 0.0 and r >= tpr:
            fpr_id_first = fp / n_ood
        d = abs(r - tpr)
        if d <= best_id and tp_prev < n_id:  # the curve ends at the first point with TPR 1
            best_id = d
            fpr_id_closest = fp / n_ood
        # OOD positive, thresholds from strict (low scores) to lenient: walked backwards here.
        r = c_ood / n_ood
        if r >= tpr:
            fpr_ood_first = c_id / n_id
        d = abs(r - tpr)
        if d < best_ood or (c_ood == n_ood and d <= best_ood):  # TPR 1: the strictest point
            best_ood = d
            fpr_ood_closest = c_id / n_id
    out = np.empty(7)
    out[0] = area / (n_id * n_ood)
    out[1] = ap_in / n_id
    out[2] = ap_out / n_ood
    out[3] = fpr_id_first
    out[4] = fpr_id_closest
    out[5] = fpr_ood_first
    out[6] = fpr_ood_closest
    return out
