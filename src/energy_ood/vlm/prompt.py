"""CoOp-style learnable prompt context (Zhou et al. 2022), verified settings: 16 context
vectors shared by all classes, random init N(0, 0.02^2), class token last, frozen encoders.

The prompt of class k is [start] ctx_1 ... ctx_n <tokens of name_k> [end]; only ``ctx`` is
trained. For the sentence encoder the vectors are token embeddings fed through the frozen BERT;
for open_clip they take the places of the "X" tokens of "X X ... X {name}." as in CoOp.

A checkpoint holds only the context vectors and plain metadata, written atomically and read
with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .._validate import InputError
from ..io.atomic_write import atomic_torch_save
from ..io.regular_files import regular_file
from ..io.torch_load import load_failure
from .encoder_base import Encoder, check_texts

CKPT_FORMAT = "energy_ood.vlm.prompt/1"


class PromptLearner(nn.Module):
    """Learnable context for ``encoder``; ``forward()`` gives the (K, D) class text features."""

    def __init__(
        self,
        encoder: Encoder,
        classnames: list[str],
        n_ctx: int = 16,
        init_std: float = 0.02,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if not hasattr(encoder, "prompt_parts"):
            raise InputError(f"{type(encoder).__name__} does not support prompt tuning")
        if int(n_ctx) < 1:
            raise InputError(f"n_ctx must be >= 1, got {n_ctx}")
        self.encoder = encoder
        self.classnames = check_texts(classnames)
        self.n_ctx = int(n_ctx)
        ctx = torch.empty(self.n_ctx, encoder.ctx_dim)
        nn.init.normal_(ctx, std=init_std, generator=generator)
        self.ctx = nn.Parameter(ctx.to(getattr(encoder, "device", "cpu")))
        self.parts = encoder.prompt_parts(self.classnames, self.n_ctx)

    def forward(self) -> torch.Tensor:
        return self.encoder.encode_prompts(self.ctx, self.parts)

    @torch.no_grad()
    def text_features(self) -> torch.Tensor:
        """Class-prompt features, on the CPU (where scores are computed)."""
        return self.forward().detach().cpu()

    # --- checkpoints -------------------------------------------------------------------------
    def save(self, path: str | Path, meta: dict | None = None) -> Path:
        obj = {
            "format": CKPT_FORMAT,
            "ctx": self.ctx.detach().cpu().clone(),
            "classnames": list(self.classnames),
            "meta": dict(meta or {}),
        }
        atomic_torch_save(obj, path)
        return Path(path)

    def load(self, path: str | Path) -> dict:
        obj = load_context(path)
        if tuple(obj["ctx"].shape) != tuple(self.ctx.shape):
            raise InputError(
                f"{path}: context of shape {tuple(obj['ctx'].shape)} does not fit this "
                f"learner's {tuple(self.ctx.shape)}"
            )
        if obj["classnames"] != self.classnames:
            raise InputError(f"{path}: saved for classes {obj['classnames']}, not these")
        with torch.no_grad():
            self.ctx.copy_(obj["ctx"])
        return obj["meta"]


def load_context(path: str | Path) -> dict:
    """Read a context checkpoint safely (``weights_only=True``) and check its format."""
    regular_file(path, "prompt-context checkpoint")  # a FIFO would block torch.load
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # unpickling errors come in several types
        raise load_failure(path, e, "prompt-context checkpoint") from e
    if not isinstance(obj, dict) or obj.get("format") != CKPT_FORMAT:
        raise InputError(f"{path}: not a prompt-context checkpoint ({CKPT_FORMAT})")
    if not isinstance(obj.get("ctx"), torch.Tensor) or obj["ctx"].ndim != 2:
        raise InputError(f"{path}: checkpoint has no 2-D 'ctx' tensor")
    return obj
