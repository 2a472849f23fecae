"""A thin accumulating wrapper: feed batches of scores, compute the metrics once."""

from __future__ import annotations

import numpy as np

from .._validate import InputError, as_numpy_1d
from .functional import check_options, ood_metrics


class OODMetrics:
    """Accumulate ID and OOD scores over batches; ``compute()`` calls :func:`ood_metrics`."""

    def __init__(self, tpr: float = 0.95, rule: str = "first", positive: str = "id"):
        check_options(tpr, rule, positive)
        self.tpr, self.rule, self.positive = tpr, rule, positive
        self.reset()

    def reset(self) -> None:
        self._id: list[np.ndarray] = []
        self._ood: list[np.ndarray] = []

    def update(self, scores, is_ood) -> None:
        s = as_numpy_1d(scores, "scores")
        m = np.asarray(is_ood.detach().cpu() if hasattr(is_ood, "detach") else is_ood)
        if m.dtype != bool:
            if m.dtype.kind not in "iuf" or not np.isin(np.unique(m), [0, 1]).all():
                raise InputError("is_ood must hold booleans or 0/1 values")
            m = m.astype(bool)
        if m.shape != s.shape:
            raise InputError(f"is_ood: shape {m.shape} does not match scores shape {s.shape}")
        self._id.append(s[~m])
        self._ood.append(s[m])

    def compute(self) -> dict[str, float]:
        ids = np.concatenate(self._id) if self._id else np.empty(0)
        oods = np.concatenate(self._ood) if self._ood else np.empty(0)
        return ood_metrics(ids, oods, self.tpr, rule=self.rule, positive=self.positive)
