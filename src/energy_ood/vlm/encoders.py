"""Encoders by name: ``load_encoder("sentence", ...)`` (sentence-transformers, extra ``[text]``)
or ``load_encoder("openclip", ...)`` (open_clip, extra ``[vlm]``); the interface they share is
:class:`energy_ood.vlm.encoder_base.Encoder`."""

from __future__ import annotations

from .._validate import InputError
from .encoder_base import Encoder


def load_encoder(kind: str, **kwargs) -> Encoder:
    """``load_encoder("sentence", model=None)`` or ``load_encoder("openclip", model=..., ...)``."""
    if kind in ("sentence", "sentence-transformers", "text"):
        from .sentence import SentenceEncoder

        return SentenceEncoder(**kwargs)
    if kind in ("openclip", "open_clip", "clip"):
        from .openclip import OpenCLIPEncoder

        return OpenCLIPEncoder(**kwargs)
    raise InputError(f"unknown encoder {kind!r}; use 'sentence' or 'openclip'")
