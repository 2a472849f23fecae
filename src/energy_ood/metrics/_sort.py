"""The sort under the metrics: ``np.sort`` of the scores or a radix sort of integer keys.

* ``padded_sort(a, method)``: the order-preserving unsigned integer keys of the scores
  (IEEE-754 trick: a positive float gets its sign bit set, a negative one becomes the sign bit
  minus its magnitude bits, so -0.0 maps to +0.0 and NaN / inf to the extremes), written in one
  pass into a new array one element longer whose last element, the largest key, is a sentinel
  above every finite score (the merge in ``_kernel`` then needs no bounds test), and sorted in
  place: ``method="numpy"`` by ``ndarray.sort`` (numpy's SIMD sort where it dispatches one:
  x86-simd-sort on AVX-512 / AVX2, Highway on Arm), ``"radix"`` by an LSD radix sort of 11-bit
  digits that skips the passes whose digit is the same for every key (float64 scores computed
  in float32 have 29 constant low bits). Both give the same array, so the metrics are
  bit-identical either way. Integer keys also compare faster than floats in the merge, and
  ``all_finite`` reads the finiteness of all scores off the two ends of the sorted keys.
* ``sort_method(a)``: which of the two, per process, by measurement: the first time scores of
  a given key layout (key width, number of digits that vary) arrive in an array of at least
  ``CALIBRATE_MIN``, both sorts are timed on a sample of ``CALIBRATE_ROWS`` of them and the
  faster is kept for that layout. ``ENERGY_OOD_METRICS_SORT=radix|numpy`` forces one.

Why measured: numpy's AVX-512 sort is the fastest sort here on Intel and AMD Zen 5, but on AMD
Zen 4 its memory-destination compress instructions are microcoded and it runs 6x slower than
numpy's own AVX2 path (which ``NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL"`` selects at
start-up; BENCHMARKS.md), where the radix sort wins.
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

RADIX_BITS = 11
SORTS = ("radix", "numpy")
SORT_ENV = "ENERGY_OOD_METRICS_SORT"  # "radix" | "numpy" | "auto" (default: measured)
CALIBRATE_MIN = 100_000  # arrays at least this long settle the choice for their key layout
CALIBRATE_ROWS = 1 << 17  # scores timed (a strided, shuffled sample), best of CALIBRATE_REPEATS
CALIBRATE_REPEATS = 3
LAYOUT_ROWS = 4096  # scores (strided) that tell the key layout of an array, on every call
_CHOICE: dict[tuple[int, int], str] = {}  # (key bits, varying digits) -> the faster sort


def _make_radix_sort(ut):
    """The LSD radix sort for keys of the unsigned type ``ut`` (digit arithmetic in the keys'
    own width: 32-bit keys sort 10-25% faster than with 64-bit digit arithmetic)."""

    def radix_sort(keys, n, width):
        """Sort ``keys[:n]`` ascending (``keys[n]`` is the sentinel). Returns the sorted padded
        array: ``keys`` itself (overwritten) or a new buffer."""
        nb = 1 << RADIX_BITS
        mask = ut(nb - 1)
        n_pass = (width + RADIX_BITS - 1) // RADIX_BITS
        hist = np.zeros((n_pass, nb), dtype=np.int64)
        for i in range(n):
            k = keys[i]
            for p in range(n_pass):
                hist[p, (k >> ut(p * RADIX_BITS)) & mask] += 1
        src = keys
        dst = np.empty_like(keys)
        dst[n] = keys[n]
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
            shift = ut(p * RADIX_BITS)
            for i in range(n):
                k = src[i]
                d = (k >> shift) & mask
                dst[offset[d]] = k
                offset[d] += 1
            src, dst = dst, src
        return src

    return radix_sort


def _keys(u, sign, out):
    """Order-preserving keys of IEEE-754 floats given as their unsigned bits ``u`` (uint32 or
    uint64) with ``sign`` their sign bit, written to ``out[:u.size]``: negative -> sign - |x|
    bits (-0.0 -> the key of +0.0; trailing zero bits kept), positive -> x | sign."""
    for i in range(u.size):
        k = u[i]
        out[i] = sign - (k ^ sign) if k & sign else k | sign


if njit:
    _RADIX = {
        np.dtype(np.uint32): njit(cache=True, nogil=True)(_make_radix_sort(np.uint32)),
        np.dtype(np.uint64): njit(cache=True, nogil=True)(_make_radix_sort(np.uint64)),
    }
    _keys_jit = njit(cache=True, nogil=True)(_keys)
else:  # pragma: no cover
    _RADIX = {}
    _keys_jit = None


def padded_keys(a: np.ndarray) -> tuple[np.ndarray, int]:
    """(keys of ``a`` followed by the largest key as a sentinel, key width in bits)."""
    if a.dtype == np.float32:
        out, width = np.empty(a.size + 1, np.uint32), 32
        _keys_jit(a.view(np.uint32), np.uint32(1 << 31), out)
    else:
        out, width = np.empty(a.size + 1, np.uint64), 64
        _keys_jit(a.view(np.uint64), np.uint64(1 << 63), out)
    out[a.size] = np.iinfo(out.dtype).max  # no finite score has it (NaN would)
    return out, width


def padded_sort(a: np.ndarray, method: str) -> np.ndarray:
    """The keys of ``a`` (float32 or float64, contiguous) sorted ascending, plus the sentinel."""
    keys, width = padded_keys(a)
    if method == "numpy":
        keys[:-1].sort()  # in place: numpy's introsort, SIMD-dispatched where the CPU has it
        return keys
    return _RADIX[keys.dtype](keys, a.size, width)


def sorted_keys(a: np.ndarray, method: str = "radix") -> np.ndarray:
    """The order-preserving keys of ``a``, sorted (either sort; no sentinel)."""
    return padded_sort(np.ascontiguousarray(a), method)[:-1]


def all_finite(padded: np.ndarray) -> bool:
    """Whether the scores behind sorted padded keys are all finite: NaN and -inf have keys
    below the key of -max, +inf and NaN above the key of +max."""
    if padded.size < 2:
        return True
    big = np.float32 if padded.dtype == np.uint32 else np.float64
    lo, hi = padded_keys(np.array([-np.finfo(big).max, np.finfo(big).max], big))[0][:2]
    return bool(padded[0] >= lo and padded[-2] <= hi)


def _sample(a: np.ndarray, rows: int) -> np.ndarray:
    return np.ascontiguousarray(a[:: max(1, a.size // rows)][:rows])


def layout(a: np.ndarray) -> tuple[int, int]:
    """(key width, number of radix digits that vary across a strided sample of ``a``)."""
    keys, width = padded_keys(_sample(a, LAYOUT_ROWS))
    keys = keys[:-1]
    varying = int(np.bitwise_or.reduce(keys) ^ np.bitwise_and.reduce(keys))
    mask = (1 << RADIX_BITS) - 1
    return width, sum(1 for p in range(0, width, RADIX_BITS) if (varying >> p) & mask)


def calibrate(sample: np.ndarray) -> dict[str, float]:
    """Best-of-``CALIBRATE_REPEATS`` seconds of each sort of ``sample`` (a shuffled copy, so a
    sorted input does not flatter ``np.sort``), interleaved."""
    sample = np.random.default_rng(0).permutation(sample)
    best = dict.fromkeys(SORTS, float("inf"))
    for _ in range(CALIBRATE_REPEATS):
        for m in SORTS:
            t0 = time.perf_counter()
            padded_sort(sample, m)
            best[m] = min(best[m], time.perf_counter() - t0)
    return best


def sort_method(a: np.ndarray) -> str:
    """The sort for the scores ``a``: forced by ``ENERGY_OOD_METRICS_SORT``, else the one
    measured faster for their key layout in this process (radix until an array of
    ``CALIBRATE_MIN`` scores of that layout has been measured)."""
    forced = os.environ.get(SORT_ENV, "auto").strip().lower() or "auto"
    if forced in SORTS:
        return forced
    if forced != "auto":
        raise InputError(f"{SORT_ENV} must be one of radix, numpy, auto; got {forced!r}")
    key = layout(a)
    choice = _CHOICE.get(key)
    if choice is None:
        if a.size < CALIBRATE_MIN:
            return "radix"
        t = calibrate(_sample(a, CALIBRATE_ROWS))
        choice = _CHOICE[key] = "radix" if t["radix"] <= t["numpy"] else "numpy"
    return choice
