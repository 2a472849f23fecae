"""Data of the WordNet gloss benchmark: a fixed, seeded sample of glosses per lexicographer
category (a train part for prompt tuning, a validation part, a test part), the seeded ID / OOD
category splits (the OOD categories themselves split into validation-OOD and test-OOD, so that
what is chosen on validation never sees a test category), and cached frozen-encoder features.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..._validate import InputError
from ...io.atomic_write import atomic_torch_save
from ...runtime.progress import log, progress
from ...vlm.ebm import mask_words
from ...vlm.encoder_base import Encoder
from ...vlm.wordnet import load_noun_synsets


@dataclass
class GlossData:
    categories: list[str]  # lexnames, sorted
    texts: list[str]  # every sampled gloss
    category: np.ndarray  # index into ``categories`` per text
    part: np.ndarray  # per text: 0 = train (prompt tuning), 1 = validation, 2 = test
    available: dict[str, int]  # distinct, unambiguous glosses per category before the cap

    @property
    def is_train(self) -> np.ndarray:
        return self.part == 0


def sample_glosses(d, seed: int) -> GlossData:
    """Distinct glosses that occur in one category only; ``per_category`` per category, of which
    ``train_per_class`` train, ``val_per_class`` validation and the rest test (``d``: the
    config's typed ``data`` section)."""
    syn = load_noun_synsets(d.wordnet_dir)
    cats_of = defaultdict(set)
    for s in syn:
        cats_of[s.gloss].add(s.category)
    unique = defaultdict(set)
    for s in syn:
        if s.gloss and len(cats_of[s.gloss]) == 1:
            unique[s.category].add(s.gloss)
    by_cat = {c: sorted(g) for c, g in unique.items()}
    per_cat, n_train, n_val = d.per_category, d.train_per_class, d.val_per_class
    if not (0 < n_train and 0 < n_val and n_train + n_val < per_cat):
        raise InputError(
            "data: need 0 < train_per_class, val_per_class and their sum < per_category"
        )
    wanted = d.categories or sorted(by_cat)
    excluded = set(d.exclude)
    cats = sorted(c for c in wanted if c not in excluded and len(by_cat.get(c, [])) >= per_cat)
    if len(cats) < 3:
        raise InputError(f"only {len(cats)} categories have >= {per_cat} glosses; need 3")
    rng = np.random.default_rng(seed)
    texts, cat_idx, part = [], [], []
    for k, c in enumerate(cats):
        pick = rng.choice(len(by_cat[c]), size=per_cat, replace=False)
        texts += [by_cat[c][i] for i in pick]
        cat_idx += [k] * per_cat
        part += [0] * n_train + [1] * n_val + [2] * (per_cat - n_train - n_val)
    return GlossData(
        cats, texts, np.array(cat_idx), np.array(part), {c: len(g) for c, g in by_cat.items()}
    )


def category_splits(n_cats: int, n_id: int, n_splits: int, seed: int) -> list[np.ndarray]:
    """``n_splits`` seeded choices of ``n_id`` in-distribution categories (sorted indices)."""
    if not 2 <= n_id < n_cats:
        raise InputError(f"data.n_id must be in [2, {n_cats - 1}], got {n_id}")
    rng = np.random.default_rng(seed + 1)
    return [np.sort(rng.choice(n_cats, size=n_id, replace=False)) for _ in range(n_splits)]


def validation_ood(
    n_cats: int, ids: np.ndarray, fraction: float, seed: int, split_no: int
) -> tuple[np.ndarray, np.ndarray]:
    """The OOD categories of a split divided into (validation-OOD, test-OOD), seeded; at least
    one of each."""
    rest = np.setdiff1d(np.arange(n_cats), ids)
    if len(rest) < 2:
        raise InputError(f"need >= 2 OOD categories to keep one for validation, got {len(rest)}")
    k = min(len(rest) - 1, max(1, round(fraction * len(rest))))
    rng = np.random.default_rng([seed, 3, split_no])
    val = np.sort(rng.choice(rest, size=k, replace=False))
    return val, np.setdiff1d(rest, val)


def masked_texts(texts: list[str], ratio: float, seed: int, mask_token: str) -> list[str]:
    rng = np.random.default_rng(seed + 2)
    return [mask_words(t, ratio, rng, mask_token) for t in texts]


def _key(encoder: Encoder, texts: list[str]) -> str:
    h = hashlib.sha256(repr(sorted(encoder.describe().items())).encode())
    for t in texts:
        h.update(t.encode() + b"\0")
    return h.hexdigest()


def encode_cached(encoder: Encoder, texts: list[str], path: Path, desc: str) -> torch.Tensor:
    """Frozen features of ``texts``; reused from ``path`` when the texts and encoder match."""
    key = _key(encoder, texts)
    if path.exists():
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(obj, dict) and obj.get("key") == key:
            log(f"vlm bench: {desc}: reusing {path.name} ({len(texts)} texts)")
            return obj["features"]
    starts = range(0, len(texts), 256)
    bar = progress(starts, desc=f"encoding {desc}", unit="batch")
    feats = torch.cat([encoder.encode_text(texts[i : i + 256]) for i in bar])
    atomic_torch_save({"key": key, "features": feats}, path)
    return feats


def summary_counts(data: GlossData) -> dict:
    c = Counter(data.category.tolist())
    return {data.categories[k]: int(v) for k, v in sorted(c.items())}
