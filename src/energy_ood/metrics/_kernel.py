"""Every metric at once from two sorted score arrays, and the sort itself.

* ``sorted_keys(a)``: the scores as order-preserving unsigned integer keys (IEEE-754 trick: a
  positive float gets its sign bit set, a negative one becomes the sign bit minus its magnitude
  bits, so -0.0 maps to +0.0 and trailing zero bits stay zero for both signs),
  sorted by an LSD radix sort with 11-bit digits. Passes whose digit is the same for every key
  are skipped (float64 scores computed in float32 have 29 constant low bits). On the 2-core
  machine of BENCHMARKS.md this is several times faster than ``np.sort`` of the floats, but
  numpy's SIMD sort (x86-simd-sort, on CPUs where numpy dispatches it) can beat it, so the sort
  is chosen per process by measurement (``sort_method``): the first time keys of a given layout
  (key width, number of digits that vary) arrive in an array of at least ``CALIBRATE_MIN``,
  both sorts are timed on a sample of ``CALIBRATE_ROWS`` of them and the faster is kept for
  that layout. Both give the same sorted keys, so the metrics are bit-identical either way.
  ``ENERGY_OOD_METRICS_SORT=radix|numpy`` forces one (benchmarks, reproducing a timing).
* ``merge_metrics(pos, neg, tpr)``: one linear merge of two ascending key (or float) arrays
  that yields AUROC, both average precisions and the four FPR operating points.

Compiled with numba (a core dependency). Without numba ``functional`` falls back to
``np.sort`` and the pure-numpy ``curve``, which is also the reference the tests compare with.
"""

from __future__ import annotations

import os
import time

import numpy as np

from .._validate import InputError

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


def _keys(u, sign):
    """Order-preserving keys of IEEE-754 floats given as their unsigned bits ``u`` (uint32 or
    uint64) with ``sign`` their sign bit: negative -> sign - |x| bits (-0.0 -> the key of
    +0.0; trailing zero bits kept), positive -> x | sign."""
    out = np.empty(u.size, dtype=u.dtype)
    for i in range(u.size):
        k = u[i]
        out[i] = sign - (k ^ sign) if k & sign else k | sign
    return out


if njit:
    merge_metrics = njit(cache=True, nogil=True)(_merge_metrics)
    _radix_sort_jit = njit(cache=True, nogil=True)(_radix_sort)
    _keys_jit = njit(cache=True, nogil=True)(_keys)
else:  # pragma: no cover
    merge_metrics = _radix_sort_jit = _keys_jit = None


SORTS = ("radix", "numpy")
SORT_ENV = "ENERGY_OOD_METRICS_SORT"  # "radix" | "numpy" | "auto" (default: measured)
CALIBRATE_MIN = 100_000  # arrays at least this long settle the choice for their key layout
CALIBRATE_ROWS = 1 << 17  # keys timed (a strided, shuffled sample), best of CALIBRATE_REPEATS
CALIBRATE_REPEATS = 3
LAYOUT_ROWS = 4096  # keys (strided) that tell the layout of an array, on every call
_CHOICE: dict[tuple[int, int], str] = {}  # (key bits, varying digits) -> the faster sort


def sort_keys(keys: np.ndarray, width: int, method: str) -> np.ndarray:
    """``keys`` sorted ascending by ``method`` (may overwrite ``keys``)."""
    if method == "radix":
        return _radix_sort_jit(keys, width)
    keys.sort()  # numpy's introsort, SIMD-dispatched where the CPU has it
    return keys


def _sample(keys: np.ndarray, rows: int) -> np.ndarray:
    return np.ascontiguousarray(keys[:: max(1, keys.size // rows)][:rows])


def _layout(keys: np.ndarray, width: int) -> tuple[int, int]:
    """(key width, number of radix digits that vary across a sample of ``keys``)."""
    sample = _sample(keys, LAYOUT_ROWS)
    varying = int(np.bitwise_or.reduce(sample) ^ np.bitwise_and.reduce(sample))
    mask = (1 << RADIX_BITS) - 1
    digits = sum(1 for p in range(0, width, RADIX_BITS) if (varying >> p) & mask)
    return width, digits


def calibrate(sample: np.ndarray, width: int) -> dict[str, float]:
    """Best-of-``CALIBRATE_REPEATS`` seconds of each sort on ``sample`` (in a shuffled copy,
    so a sorted input does not flatter ``np.sort``), interleaved."""
    sample = np.random.default_rng(0).permutation(sample)
    best = dict.fromkeys(SORTS, float("inf"))
    for _ in range(CALIBRATE_REPEATS):
        for m in SORTS:
            work = sample.copy()
            t0 = time.perf_counter()
            sort_keys(work, width, m)
            best[m] = min(best[m], time.perf_counter() - t0)
    return best


def sort_method(keys: np.ndarray, width: int) -> str:
    """The sort for ``keys``: forced by ``ENERGY_OOD_METRICS_SORT``, else the one measured
    faster for this key layout in this process (radix until an array of ``CALIBRATE_MIN``
    keys of that layout has been measured)."""
    forced = os.environ.get(SORT_ENV, "auto").strip().lower() or "auto"
    if forced in SORTS:
        return forced
    if forced != "auto":
        raise InputError(f"{SORT_ENV} must be one of radix, numpy, auto; got {forced!r}")
    layout = _layout(keys, width)
    choice = _CHOICE.get(layout)
    if choice is None:
        if keys.size < CALIBRATE_MIN:
            return "radix"
        t = calibrate(_sample(keys, CALIBRATE_ROWS), width)
        choice = _CHOICE[layout] = "radix" if t["radix"] <= t["numpy"] else "numpy"
    return choice


def float_keys(a: np.ndarray) -> tuple[np.ndarray, int]:
    """(order-preserving unsigned keys, their bit width) of a float32 (32) or any other float
    (as float64, 64) array, unsorted."""
    a = np.ascontiguousarray(a)
    if a.dtype == np.float32:
        return _keys_jit(a.view(np.uint32), np.uint32(1 << 31)), 32
    a = a.astype(np.float64, copy=False)
    return _keys_jit(a.view(np.uint64), np.uint64(1 << 63)), 64


def sorted_keys(a: np.ndarray, method: str | None = None) -> np.ndarray:
    """Ascending order-preserving integer keys of a finite float32/float64 array (numba);
    ``method`` ("radix" or "numpy") overrides ``sort_method``."""
    keys, width = float_keys(a)
    return sort_keys(keys, width, method or sort_method(keys, width))
