"""RankFeat (Song, Sebe & Wang, NeurIPS 2022): remove the rank-1 part of the last feature map.

For each sample the feature map X (C x HW) of a chosen layer loses its largest singular
component, X' = X - s_1 u_1 v_1^T, and the rest of the network runs on X' (pooling, head, and
whatever lies between); the score is a logit score of the resulting logits (energy by default,
as the paper; ``rankfeat+msp`` etc. compose like the shapings).

What it consumes: the full model and its inputs (``input_kind = "inputs"``), because the logits
of X' need every layer after the map, which a feature array cannot give. The layer is
``layer`` (a submodule name, e.g. ``"layer4"`` of a torchvision ResNet or ``"block3"`` of
``energy_ood``'s WRN); by default the last submodule, in execution order, whose output is a
4-D map larger than 1 x 1. Exact SVD (``torch.linalg.svd``), not the paper's power iteration.
The paper's best variant also averages block-3 and block-4 results; this is the single-layer
method.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import InputError
from . import _params as P
from ._inputs import InputScorer
from .base import create_scorer, register


def remove_rank1(maps: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) feature maps minus each sample's rank-1 SVD component."""
    b, c, h, w = maps.shape
    m = maps.reshape(b, c, h * w)
    u, s, vh = torch.linalg.svd(m.float() if m.dtype == torch.float16 else m, full_matrices=False)
    rank1 = s[:, :1, None] * (u[:, :, :1] @ vh[:, :1, :])
    return (m - rank1.to(m.dtype)).reshape(b, c, h, w)


def last_map_layer(model: nn.Module, x: torch.Tensor) -> str:
    """Name of the last submodule (execution order) whose output is a (N, C, H, W) map with
    H * W > 1, found by one forward pass of ``x``."""
    seen: list[str] = []
    hooks = []
    for name, mod in model.named_modules():
        if not name:
            continue

        def hook(_m, _i, out, name=name):
            if isinstance(out, torch.Tensor) and out.ndim == 4 and out.shape[2] * out.shape[3] > 1:
                seen.append(name)

        hooks.append(mod.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    if not seen:
        raise InputError("rankfeat: the model has no 4-D feature map; name one with layer=...")
    return seen[-1]


@register("rankfeat")
class RankFeat(InputScorer):
    """``create_scorer("rankfeat", model=net, layer="block3")``; scores model inputs."""

    composable = True

    def __init__(
        self,
        model: nn.Module | None = None,
        layer: str | None = None,
        batch_size: int = 256,
        score: str = "energy",
        **score_params,
    ):
        super().__init__(model, batch_size)
        self.layer = P.optional_name(layer, "rankfeat: layer")
        inner = create_scorer(score, **score_params) if isinstance(score, str) else None
        if inner is None or inner.input_kind != "logits" or inner.fit_needs:
            raise InputError(f"rankfeat: {score!r} is not a logit scorer without fitting")
        self.inner, self.score_name = inner, inner.name
        self.name = "rankfeat" if inner.name == "energy" else f"rankfeat+{inner.name}"

    def get_params(self, deep: bool = True) -> dict:
        own = {"layer": self.layer, "batch_size": self.batch_size}
        return {**own, "score": self.score_name, **self.inner.get_params()}

    def _module(self, x: torch.Tensor) -> nn.Module:
        name = self.layer
        if name is None:  # found once per model, by one probing forward pass
            cached = getattr(self, "_found", None)
            if cached is None or cached[0] is not self.model:
                self._found = (self.model, last_map_layer(self.model, x))
            name = self._found[1]
        try:
            return self.model.get_submodule(name)
        except AttributeError as e:
            raise InputError(f"rankfeat: the model has no submodule {name!r}") from e

    def _score_batch(self, x: torch.Tensor) -> torch.Tensor:
        def hook(_m, _i, out):
            if not (isinstance(out, torch.Tensor) and out.ndim == 4):
                raise InputError("rankfeat: the chosen layer does not output a 4-D feature map")
            return remove_rank1(out)

        h = self._module(x).register_forward_hook(hook)
        try:
            with torch.no_grad():
                logits = self.model(x)
        finally:
            h.remove()
        return self.inner._score_chunk(logits)
