"""open_clip adapter (optional extra ``energy-ood[vlm]``).

Weights come from a local checkpoint file the user gives (``pretrained="path/to/ckpt.pt"``)
or an open_clip ``local-dir:`` model folder; nothing is downloaded. Random weights only on
request (``random_init=True``, for tests), with a ``RandomInitWarning``: scores of a random
model mean nothing. ``overrides`` passes model-config fields to open_clip, e.g. a tiny
``vision_cfg``/``text_cfg`` for tests. Images are preprocessed by ``energy_ood.vlm.preprocess``
(no torchvision transforms).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from .._validate import InputError
from .encoder_base import Encoder, check_texts, normalize, require
from .preprocess import OPENAI_MEAN, OPENAI_STD, preprocess_batch


class RandomInitWarning(UserWarning):
    """An open_clip model runs with random weights (``random_init=True``)."""


class OpenCLIPEncoder(Encoder):
    modalities = ("text", "image")

    def __init__(
        self,
        model: str = "ViT-B-32",
        pretrained: str | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        overrides: dict | None = None,
        random_init: bool = False,
    ):
        local_dir = model.startswith("local-dir:")
        if pretrained is not None and random_init:
            raise InputError("give pretrained weights or random_init=True, not both")
        if pretrained is None and not local_dir and not random_init:
            raise InputError(
                "open_clip needs pretrained weights: give a local checkpoint file "
                "(pretrained=FILE, --pretrained FILE); random weights only with "
                "random_init=True (--random-init), for tests"
            )
        open_clip = require("open_clip")
        if pretrained is not None and not Path(pretrained).exists():
            raise InputError(
                f"open_clip checkpoint {pretrained!r} not found; give a local file "
                "(nothing is downloaded)"
            )
        if random_init:
            warnings.warn(
                f"open_clip {model} runs with RANDOM weights (random_init=True): its scores "
                "mean nothing; for tests only",
                RandomInitWarning,
                stacklevel=2,
            )
        if model not in open_clip.list_models() and not model.startswith("local-dir:"):
            raise InputError(f"unknown open_clip model {model!r}; see open_clip.list_models()")
        self.name, self.pretrained, self.device = model, pretrained, device
        self.random_init = bool(random_init)
        self.batch_size = int(batch_size)
        self.model = open_clip.create_model(
            model, pretrained=pretrained, device=device, **(overrides or {})
        ).eval()
        self.model.requires_grad_(False)
        self.tokenizer = open_clip.get_tokenizer(model)
        cfg = getattr(self.model.visual, "preprocess_cfg", {})
        size = cfg.get("size", 224)
        self.image_size = int(size if isinstance(size, int) else size[0])
        self.mean = tuple(cfg.get("mean", OPENAI_MEAN))
        self.std = tuple(cfg.get("std", OPENAI_STD))
        self.logit_scale = float(self.model.logit_scale.exp())

    def describe(self) -> dict:
        return {
            "encoder": "open_clip",
            "model": self.name,
            "pretrained": self.pretrained,
            "random_init": self.random_init,
        }

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        texts = check_texts(texts)
        out = [
            self.model.encode_text(self.tokenizer(texts[i : i + self.batch_size]).to(self.device))
            for i in range(0, len(texts), self.batch_size)
        ]
        return normalize(torch.cat(out).cpu())

    @torch.no_grad()
    def encode_images(self, images) -> torch.Tensor:
        x = preprocess_batch(images, self.image_size, self.mean, self.std)
        out = [
            self.model.encode_image(x[i : i + self.batch_size].to(self.device))
            for i in range(0, x.shape[0], self.batch_size)
        ]
        return normalize(torch.cat(out).cpu())

    # --- prompt tuning (CoOp) ----------------------------------------------------------------
    @property
    def ctx_dim(self) -> int:
        return int(self.model.token_embedding.embedding_dim)

    def _check_coop(self) -> None:
        if not hasattr(self.model, "token_embedding"):
            raise InputError(
                f"prompt tuning needs a standard CLIP text tower; {self.name} has none"
            )

    def prompt_parts(self, names: list[str], n_ctx: int) -> dict:
        """CoOp prompts "X X ... X {name}." tokenized; the n_ctx X positions get the context."""
        self._check_coop()
        ids = self.tokenizer([" ".join(["X"] * n_ctx) + f" {n}." for n in check_texts(names)])
        with torch.no_grad():
            emb = self.model.token_embedding(ids.to(self.device))
        return {"ids": ids.to(self.device), "embeds": emb, "n_ctx": n_ctx}

    def encode_prompts(self, ctx: torch.Tensor, parts: dict) -> torch.Tensor:
        """Frozen text tower on [SOT, ctx_1..ctx_n, name tokens, ., EOT]; normalized (K, D)."""
        from open_clip.transformer import text_global_pool

        m, emb, ids, n = self.model, parts["embeds"], parts["ids"], parts["n_ctx"]
        k = emb.shape[0]
        x = torch.cat([emb[:, :1], ctx.unsqueeze(0).expand(k, -1, -1), emb[:, 1 + n :]], dim=1)
        x = x + m.positional_embedding
        x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask))
        x = text_global_pool(x, ids, m.text_pool_type, eos_token_id=getattr(m, "text_eos_id", None))
        if m.text_projection is not None:
            proj = m.text_projection
            x = proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj
        return normalize(x)
