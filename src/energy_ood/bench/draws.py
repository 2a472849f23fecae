"""Dataset-vs-dataset protocol (SPEC section 4; the energy paper / OE protocol).

ID scores on the whole ID test set; for each OOD set draw ``len(ID test) // 5`` OOD samples
at random (seeded), compute the metrics, repeat ``n_draws`` times and report mean and std; the
headline is the mean over OOD sets. The mean row's std is the spread over draws of the per-draw
mean over sets (draw i of every set), not the average of the per-set stds.
"""

from __future__ import annotations

import numpy as np

from ..metrics import ood_metrics
from ..reporting.tables import METRIC_COLUMNS
from ..runtime.progress import log

KEYS = [k for k, _ in METRIC_COLUMNS]
_NOTED: set[int] = set()


def draw_metrics(
    id_scores, ood_scores, n_draws: int = 10, ood_num: int | None = None, seed: int = 0, **metric_kw
) -> dict:
    """Mean and std of the metrics over ``n_draws`` random OOD subsets of size ``ood_num``
    (default ``len(id_scores) // 5``; all OOD samples when fewer exist)."""
    id_scores = np.asarray(id_scores)
    ood_scores = np.asarray(ood_scores)
    k = ood_num if ood_num is not None else max(1, len(id_scores) // 5)
    k = min(k, len(ood_scores))
    if n_draws > 1 and k == len(ood_scores) and k not in _NOTED:
        _NOTED.add(k)  # once per pool size, not once per method and set
        log(f"note: an OOD pool holds only {k} samples, so all {n_draws} draws are the same set")
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_draws):
        idx = rng.choice(len(ood_scores), size=k, replace=False)
        draws.append(ood_metrics(id_scores, ood_scores[idx], **metric_kw))
    arr = {key: np.array([d[key] for d in draws]) for key in KEYS}
    return {
        "mean": {key: float(v.mean()) for key, v in arr.items()},
        "std": {key: float(v.std()) for key, v in arr.items()},
        "n_draws": n_draws,
        "ood_num": k,
        "draws": {key: v.tolist() for key, v in arr.items()},
    }


def dataset_vs_dataset(
    id_scores, ood_scores_by_set: dict, n_draws: int = 10, seed: int = 0, **metric_kw
) -> dict:
    """{set: draw_metrics(...), ..., "mean": mean over sets} for one scorer.
    Each OOD set gets its own seeded stream (seed + index) so sets do not share draws."""
    out = {}
    for i, (name, s) in enumerate(ood_scores_by_set.items()):
        out[name] = draw_metrics(id_scores, s, n_draws, seed=seed + 1000 * i, **metric_kw)
    sets = list(ood_scores_by_set)
    per_draw = {k: np.mean([out[s]["draws"][k] for s in sets], axis=0) for k in KEYS}
    out["mean"] = {
        "mean": {k: float(np.mean([out[s]["mean"][k] for s in sets])) for k in KEYS},
        "std": {k: float(per_draw[k].std()) for k in KEYS},
    }
    return out
