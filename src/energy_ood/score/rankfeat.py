"""RankFeat (Song, Sebe & Wang, NeurIPS 2022): remove the rank-1 part of high-level feature maps.

For each sample the feature map X (C x HW) of a block output loses its largest singular
component, X' = X - s_1 u_1 v_1^T, and the rest of the network runs on X' (the later blocks,
pooling, head); the score is a logit score of the resulting logits (energy by default, as the
paper; ``rankfeat+msp`` etc. compose like the shapings). With several layers, each layer's
removal is a separate forward pass and the logits are averaged before scoring: the paper's
"Block 3 + Block 4" variant for residual networks, which its official code
(``test_ood_resnetv2.py``, ``iterate_data_rankfeat``: "fusion at the logit space") computes as
energy((logits with X' at block 4 + logits with X' at block 3, then block 4) / 2).

What it consumes: the full model and its inputs (``input_kind = "inputs"``), because the logits
of X' need every layer after the map, which a feature array cannot give. Layers, by default:
the last two of the model's ``block_names`` (every ``energy_ood`` architecture declares its
block outputs; the last one if it declares one); ``layer3`` and ``layer4`` of a torchvision or
timm ResNet; otherwise the last submodule, in execution order, whose output is a 4-D map larger
than 1 x 1 (one layer). ``layer="block3"`` forces one layer, ``layers=["block2", "block3"]``
any list. The map edited is the block module's output: after its ReLU on post-activation
networks (``resnet18``, ``cnn``, torchvision ResNets); on pre-activation ones (``wrn``,
``densenet_bc100``) the residual sum / concatenation that the next BN-ReLU takes, which is where
the official code removes it on its pre-activation BiT ResNetv2 (block output, then GroupNorm-
ReLU). Exact SVD (``torch.linalg.svd``), not the paper's power iteration.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import InputError
from . import param_checks as P
from ._inputs import InputScorer
from .registry import create_scorer, register

_RESNET_LIBRARIES = ("torchvision.models", "timm.models")


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


def block_layers(model: nn.Module) -> tuple[str, ...]:
    """The block outputs a model declares (``block_names``), or ``layer1`` ... ``layerK`` of a
    torchvision / timm ResNet; empty when neither."""
    names = tuple(getattr(model, "block_names", None) or ())
    if names:
        return names
    if not type(model).__module__.startswith(_RESNET_LIBRARIES):
        return ()
    children = dict(model.named_children())
    k = 1
    while f"layer{k}" in children:
        k += 1
    return tuple(f"layer{i}" for i in range(1, k))


def _layer_list(layers, layer) -> tuple[str, ...] | None:
    if layer is not None and layers is not None:
        raise InputError("rankfeat: give layer= (one layer) or layers= (a list), not both")
    if layer is not None:
        return (P.optional_name(layer, "rankfeat: layer"),)
    if layers is None:
        return None
    if isinstance(layers, str) or not isinstance(layers, (list, tuple)) or not layers:
        raise InputError(f"rankfeat: layers must be a non-empty list of names, got {layers!r}")
    names = tuple(P.optional_name(n, f"rankfeat: layers[{i}]") for i, n in enumerate(layers))
    if None in names or len(set(names)) != len(names):
        raise InputError(f"rankfeat: layers must name distinct modules, got {list(layers)!r}")
    return names


@register("rankfeat")
class RankFeat(InputScorer):
    """``create_scorer("rankfeat", model=net)`` (the last two block outputs, logits averaged),
    ``layer="block3"`` or ``layers=[...]``; scores model inputs."""

    composable = True

    def __init__(
        self,
        model: nn.Module | None = None,
        layer: str | None = None,
        layers: list[str] | None = None,
        batch_size: int = 256,
        score: str = "energy",
        **score_params,
    ):
        super().__init__(model, batch_size)
        chosen = _layer_list(layers, layer)
        self.layer = chosen[0] if layer is not None else None
        self.layers = list(chosen) if layers is not None else None
        inner = create_scorer(score, **score_params) if isinstance(score, str) else None
        if inner is None or inner.input_kind != "logits" or inner.fit_needs:
            raise InputError(f"rankfeat: {score!r} is not a logit scorer without fitting")
        self.inner, self.score_name = inner, inner.name
        self.name = "rankfeat" if inner.name == "energy" else f"rankfeat+{inner.name}"

    def get_params(self, deep: bool = True) -> dict:
        own = {"layer": self.layer, "layers": self.layers, "batch_size": self.batch_size}
        return {**own, "score": self.score_name, **self.inner.get_params()}

    def chosen_layers(self, x: torch.Tensor | None = None) -> tuple[str, ...]:
        """The layers this scorer edits on its model (``x``: a batch for the probing forward
        pass of a model that declares no blocks)."""
        if self.layer is not None:
            return (self.layer,)
        if self.layers is not None:
            return tuple(self.layers)
        cached = getattr(self, "_found", None)
        if cached is None or cached[0] is not self.model:  # found once per model
            blocks = block_layers(self.model)
            if blocks:
                names = blocks[-2:]
            elif x is None:
                raise InputError("rankfeat: the model declares no blocks; give a batch to probe")
            else:
                names = (last_map_layer(self.model, x),)
            self._found = (self.model, names)
        return self._found[1]

    def _module(self, name: str) -> nn.Module:
        try:
            return self.model.get_submodule(name)
        except AttributeError as e:
            raise InputError(f"rankfeat: the model has no submodule {name!r}") from e

    def _logits_without_rank1(self, x: torch.Tensor, name: str) -> torch.Tensor:
        def hook(_m, _i, out):
            if not (isinstance(out, torch.Tensor) and out.ndim == 4):
                raise InputError(f"rankfeat: layer {name!r} does not output a 4-D feature map")
            return remove_rank1(out)

        h = self._module(name).register_forward_hook(hook)
        try:
            with torch.no_grad():
                return self.model(x)
        finally:
            h.remove()

    def _score_batch(self, x: torch.Tensor) -> torch.Tensor:
        names = self.chosen_layers(x)
        logits = self._logits_without_rank1(x, names[0])
        for name in names[1:]:
            logits = logits + self._logits_without_rank1(x, name)
        return self.inner._score_chunk(logits / len(names))
