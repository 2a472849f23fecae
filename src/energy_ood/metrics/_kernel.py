"""One linear merge over two sorted score arrays that yields every metric at once.

Compiled with numba when it is installed (a core dependency); the pure-numpy path in
``functional.curve`` computes the same numbers and is the reference the tests compare with.
"""

from __future__ import annotations

import numpy as np

try:  # pragma: no cover - exercised whenever numba is present
    from numba import njit
except ImportError:  # pragma: no cover
    njit = None

# Output slots of the kernel.
AUROC, AP_IN, AP_OUT, FPR_ID_FIRST, FPR_ID_CLOSEST, FPR_OOD_FIRST, FPR_OOD_CLOSEST = range(7)


def _merge_metrics(pos, neg, tpr):
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
        if d <= best_id:
            best_id = d
            fpr_id_closest = fp / n_ood
        # OOD positive, thresholds from strict (low scores) to lenient: walked backwards here.
        r = c_ood / n_ood
        if r >= tpr:
            fpr_ood_first = c_id / n_id
        d = abs(r - tpr)
        if d < best_ood:
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


merge_metrics = njit(cache=True, nogil=True)(_merge_metrics) if njit else None
