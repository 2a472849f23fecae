"""Auxiliary outliers of a training run: the pool (drawn once per seed and kept), how often
fine-tuning reuses each outlier, and what a method's run records about them."""

from __future__ import annotations

import torch

from .._validate import InputError
from ..data.prepare import IDData
from ..data.splits import AuxiliaryPool
from ..io.size_limits import check_bytes
from ..runtime import dist
from .config import TrainConfig, needs_aux
from .loop import steps_per_epoch

_POOL_CACHE: dict = {}  # the last pool drawn: every fine-tuning of a seed draws the same one


def aux_outliers(
    sources: list[str], test_sets: list[str], n: int, data: IDData, seed: int, data_root=None
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(fine-tuning outliers, held-out outliers for margin choice, the pool's record),
    normalised like the ID data. Refuses a source of an OOD test set's family or of the ID
    data's own; pictures of the ID classes are left out (:class:`~..data.splits.AuxiliaryPool`).
    The same arguments give the same pool (kept in memory, so the fine-tunings of one seed
    draw it once)."""
    held = max(256, n // 10)
    key = (tuple(sources), tuple(test_sets), n, seed, str(data_root), data.name, data.size,
           data.channels, tuple(map(float, data.mean)), tuple(map(float, data.std)),
           data.transform)  # fmt: skip
    if key in _POOL_CACHE:
        return _POOL_CACHE[key]
    pool = AuxiliaryPool(sources, test_sets, id_dataset=data.name)
    check_bytes((n + held) * data.channels * data.size**2 * 4, f"--n-aux {n} auxiliary outliers")
    x = pool.sample(
        n + held,
        size=data.size,
        channels=data.channels,
        seed=seed,
        data_root=data_root,
        transform=data.transform,  # path sources go through the ID recipe (a model's)
    )
    x = data.normalize(x)
    record = {**pool.record, "n_train": n, "n_held_out": held}
    _POOL_CACHE.clear()
    _POOL_CACHE[key] = (x[:n], x[n:], record)
    return _POOL_CACHE[key]


def aux_reuse(record: dict, n_train: int, cfg: TrainConfig) -> dict:
    """How often fine-tuning draws each auxiliary outlier: draws = epochs x steps x aux batch,
    reuse = draws / the distinct outliers it draws from (each draw is augmented anew)."""
    steps = steps_per_epoch(n_train, cfg.batch_size, dist.world())
    per_step = cfg.objective().aux_batch_size(cfg.aux_batch_size, cfg.batch_size)
    draws = cfg.epochs * steps * per_step
    return {**record, "draws": draws, "reuse": draws / record["n_train"]}


def training_outliers(cfg: TrainConfig, aux, test_sets, n_aux: int, data: IDData, data_root):
    """(training outliers, held-out outliers, their record) for a method that takes them;
    (None, None, None) for one that does not. Outliers given to a method without use for them,
    or missing for one that needs them, are refused."""
    aux = list(aux or [])
    if not needs_aux(cfg.method):
        if aux:
            raise InputError(f"--aux: method {cfg.method!r} trains without auxiliary outliers")
        return None, None, None
    if not aux:
        raise InputError(f"method {cfg.method!r} needs auxiliary outliers: give --aux SOURCES")
    x, held, pool = aux_outliers(aux, list(test_sets), n_aux, data, cfg.seed, data_root)
    return x, held, aux_reuse(pool, len(data.x_train), cfg)
