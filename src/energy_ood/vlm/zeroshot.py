"""Zero-shot classification from an encoder and class names: class prompts from templates,
L2-normalized features, the cosine-similarity matrix that the VLM scorers read.

With several templates a class's text feature is the normalized mean of its normalized prompt
features (CLIP's prompt ensembling). The first template defaults to MCM's "a photo of a {}".
"""

from __future__ import annotations

import numpy as np
import torch

from .._validate import InputError
from ..score.registry import create_scorer
from .encoder_base import Encoder, check_texts, normalize

DEFAULT_TEMPLATES = ("a photo of a {}.",)


def check_template(t, where: str = "template") -> str:
    """A prompt template: text with exactly one ``{}`` (the class name) and no other brace.
    Templates are filled by replacement, never by ``str.format``: ``{0}``, ``{.__class__}``
    or a lone ``{`` are refused, not evaluated."""
    if (
        not isinstance(t, str)
        or t.count("{}") != 1
        or t.replace("{}", "").count("{")
        or (t.replace("{}", "").count("}"))
    ):
        raise InputError(
            f"{where} {t!r}: needs exactly one '{{}}' for the class name and no other braces"
        )
    return t


def build_prompts(classnames: list[str], templates=DEFAULT_TEMPLATES) -> list[list[str]]:
    """``prompts[k][j]`` = template j filled with class k."""
    classnames = check_texts(classnames)
    templates = [check_template(t) for t in check_texts(templates)]
    if len(set(classnames)) != len(classnames):
        raise InputError("class names must be distinct")
    return [[t.replace("{}", c) for t in templates] for c in classnames]


def similarity(features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
    """Cosine-similarity matrix (n x K) of two sets of feature rows (normalized here)."""
    if features.ndim != 2 or text_features.ndim != 2:
        raise InputError("features must be 2-D (rows = samples)")
    if features.shape[1] != text_features.shape[1]:
        raise InputError(
            f"feature width {features.shape[1]} does not match text width {text_features.shape[1]}"
        )
    return (normalize(features) @ normalize(text_features).T).clamp(-1.0, 1.0)


class ZeroShotClassifier:
    """``ZeroShotClassifier(encoder, classnames, templates)``: ``similarity(inputs, kind)``,
    ``predict``, and ``score(inputs, "mcm", tau=1.0)`` through the scorer registry."""

    def __init__(self, encoder: Encoder, classnames: list[str], templates=DEFAULT_TEMPLATES):
        self.encoder = encoder
        self.classnames = check_texts(classnames)
        self.templates = list(templates)
        prompts = build_prompts(self.classnames, self.templates)
        flat = encoder.encode_text([p for row in prompts for p in row])
        per_class = flat.view(len(prompts), len(self.templates), -1)
        self.text_features = normalize(normalize(per_class).mean(dim=1))

    def set_text_features(self, text_features: torch.Tensor) -> None:
        """Replace the class features (e.g. by those of tuned prompts)."""
        if tuple(text_features.shape) != tuple(self.text_features.shape):
            raise InputError(
                f"text features must have shape {tuple(self.text_features.shape)}, "
                f"got {tuple(text_features.shape)}"
            )
        self.text_features = normalize(text_features.detach())

    def features(self, inputs, kind: str = "text") -> torch.Tensor:
        return self.encoder.encode(inputs, kind)

    def similarity(self, inputs, kind: str = "text") -> torch.Tensor:
        return similarity(self.features(inputs, kind), self.text_features)

    def predict(self, sim: torch.Tensor) -> np.ndarray:
        return sim.argmax(dim=1).numpy()

    def score(self, sim: torch.Tensor, scorer: str = "mcm", **params) -> np.ndarray:
        return create_scorer(scorer, **params).score(sim)
