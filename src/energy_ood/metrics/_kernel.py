"""Every metric at once from two sorted score arrays, and the sort itself.

* ``sorted_keys(a)``: the scores as order-preserving unsigned integer keys (IEEE-754 trick:
  flip every bit of a negative float, only the sign bit of a positive one; -0.0 maps to +0.0),
  sorted by an LSD radix sort with 11-bit digits. Passes whose digit is the same for every key
  are skipped (float64 scores computed in float32 have 29 constant low bits). On the 2-core
  machine of BENCHMARKS.md this is several times faster than ``np.sort`` of the floats.
* ``merge_metrics(pos, neg, tpr)``: one linear merge of two ascending key (or float) arrays
  that yields AUROC, both average precisions and the four FPR operating points.

Compiled with numba (a core dependency). Without numba ``functional`` falls back to
``np.sort`` and the pure-numpy ``curve``, which is also the reference the tests compare with.
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


RADIX_BITS = 11


def _radix_sort(keys, width):
    """Sort unsigned integer ``keys`` (``width`` bits) ascending; returns a sorted array (which
    may be ``keys`` itself, overwritten, or a new buffer)."""
    n = keys.size
    nb = 1 << RADIX_BITS
    mask = np.uint64(nb - 1)
    n_pass = (width + RADIX_BITS - 1) // RADIX_BITS
    hist = np.zeros((n_pass, nb), dtype=np.int64)
    for i in range(n):
        k = np.uint64(keys[i])
        for p in range(n_pass):
            hist[p, (k >> np.uint64(p * RADIX_BITS)) & mask] += 1
    src = keys
    dst = np.empty_like(keys)
    offset = np.empty(nb, dtype=np.int64)
    for p in range(n_pass):
        h = hist[p]
        trivial = False
        total = 0
        for b in range(nb):
            if h[b] == n:
                trivial = True
                break
            offset[b] = total
            total += h[b]
        if trivial:  # every key has the same digit here: nothing to move
            continue
        shift = np.uint64(p * RADIX_BITS)
        for i in range(n):
            k = src[i]
            d = (np.uint64(k) >> shift) & mask
            dst[offset[d]] = k
            offset[d] += 1
        src, dst = dst, src
    return src


def _keys32(a):
    u = a.view(np.uint32)
    out = np.empty(a.size, dtype=np.uint32)
    sign = np.uint32(0x80000000)
    for i in range(a.size):
        k = u[i]
        if k == sign:  # -0.0 == +0.0
            k = np.uint32(0)
        out[i] = np.uint32(~k) if k & sign else np.uint32(k | sign)
    return out


def _keys64(a):
    u = a.view(np.uint64)
    out = np.empty(a.size, dtype=np.uint64)
    sign = np.uint64(0x8000000000000000)
    for i in range(a.size):
        k = u[i]
        if k == sign:
            k = np.uint64(0)
        out[i] = np.uint64(~k) if k & sign else np.uint64(k | sign)
    return out


if njit:
    merge_metrics = njit(cache=True, nogil=True)(_merge_metrics)
    _radix_sort_jit = njit(cache=True, nogil=True)(_radix_sort)
    _keys32_jit = njit(cache=True, nogil=True)(_keys32)
    _keys64_jit = njit(cache=True, nogil=True)(_keys64)
else:  # pragma: no cover
    merge_metrics = _radix_sort_jit = _keys32_jit = _keys64_jit = None


def sorted_keys(a: np.ndarray) -> np.ndarray:
    """Ascending order-preserving integer keys of a finite float32/float64 array (numba)."""
    a = np.ascontiguousarray(a)
    if a.dtype == np.float32:
        return _radix_sort_jit(_keys32_jit(a), 32)
    return _radix_sort_jit(_keys64_jit(a.astype(np.float64, copy=False)), 64)
