"""Split any ``nn.Module`` classifier into penultimate features and its final linear layer.

The adapter hooks the final linear layer: its input is the penultimate feature vector, its
output the logits. For our own models (``energy_ood.models``) the layer is ``fc``; for other
networks name it, e.g. ``ModelAdapter(torchvision_resnet, head="fc")`` or
``ModelAdapter(timm_vit, head="head")`` or ``head="classifier.1"`` for a torchvision
EfficientNet. Without a name the last ``nn.Linear`` registered in the module is used.

Inputs are moved to the model's device batch by batch; what ``extract`` returns stays there
(scorers fitted on it then live on that device too).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from .._validate import InputError
from ..runtime.device import model_device
from ..runtime.progress import progress


def _find_head(model: nn.Module, head: str | None) -> nn.Linear:
    if head is not None:
        try:
            layer = model.get_submodule(head)
        except AttributeError as e:
            raise InputError(f"model has no submodule named {head!r}") from e
        if not isinstance(layer, nn.Linear):
            raise InputError(f"head {head!r} is a {type(layer).__name__}, expected nn.Linear")
        return layer
    if isinstance(getattr(model, "fc", None), nn.Linear):
        return model.fc
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise InputError("model has no nn.Linear layer; name the final layer with head=...")
    return linears[-1]


LOGITS_ONLY = (
    "the model gives logits only (a TorchScript program, whose layers cannot be read): "
    "feature scorers need a torch.export program or the architecture with a state dict"
)


def check_features(z: torch.Tensor) -> torch.Tensor:
    """Refuse the empty features of a logits-only model (one line)."""
    if z.ndim == 2 and z.shape[1] == 0 and z.shape[0] > 0:
        raise InputError(LOGITS_ONLY)
    return z


class ModelAdapter:
    """``features(x)``, ``logits(x)`` and ``head`` (the final ``nn.Linear``) of a classifier.
    A TorchScript program without a readable ``nn.Linear`` gives logits only: its features are
    empty (0 columns) and what needs them is refused (:data:`LOGITS_ONLY`)."""

    def __init__(self, model: nn.Module, head: str | None = None):
        self.model = model
        if head is None and isinstance(model, torch.jit.ScriptModule):
            linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
            self.head = linears[-1] if linears else None
        else:
            self.head = _find_head(model, head)

    def _head(self) -> nn.Linear:
        if self.head is None:
            raise InputError(LOGITS_ONLY)
        return self.head

    @property
    def weight(self) -> torch.Tensor:
        return self._head().weight.detach()

    @property
    def bias(self) -> torch.Tensor:
        b = self._head().bias
        if b is None:
            return torch.zeros(self.head.out_features, device=self.head.weight.device)
        return b.detach()

    @property
    def device(self) -> torch.device:
        return model_device(self.model)

    def forward_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, penultimate features) from one forward pass; keeps the autograd graph."""
        if self.head is None:  # logits only
            logits = self.model(x.to(self.device) if isinstance(x, torch.Tensor) else x)
            return logits, logits.new_zeros((logits.shape[0], 0))
        captured = {}

        def hook(_m, inputs, _out):
            captured["z"] = inputs[0]

        h = self.head.register_forward_hook(hook)
        try:
            logits = self.model(x.to(self.device) if isinstance(x, torch.Tensor) else x)
        finally:
            h.remove()
        if "z" not in captured:
            raise InputError("the head layer was not called in forward(); name it with head=...")
        z = captured["z"]
        return logits, z.reshape(z.shape[0], -1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return check_features(self.forward_both(x)[1])

    @torch.no_grad()
    def extract(
        self, inputs: torch.Tensor | Iterable, batch_size: int = 512, desc: str = "extract"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and features for a tensor of inputs (or an iterable of batches), in eval mode."""
        logits, feats, _ = self.extract_labelled(inputs, batch_size, desc)
        return logits, feats

    @torch.no_grad()
    def extract_labelled(
        self, inputs: torch.Tensor | Iterable, batch_size: int = 512, desc: str = "extract"
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(logits, features, labels): labels are those of ``(x, y)`` batches, else None."""
        if isinstance(inputs, np.ndarray):
            inputs = torch.from_numpy(np.ascontiguousarray(inputs))
        was_training = self.model.training
        self.model.eval()
        batches = (
            [inputs[i : i + batch_size] for i in range(0, len(inputs), batch_size)]
            if isinstance(inputs, torch.Tensor)
            else inputs
        )
        logits, feats, labels = [], [], []
        try:
            for xb in progress(batches, desc=desc, unit="batch"):
                if isinstance(xb, (tuple, list)):
                    if len(xb) > 1:
                        labels.append(torch.as_tensor(xb[1]).reshape(-1))
                    xb = xb[0]
                if not isinstance(xb, torch.Tensor):
                    raise InputError(f"model inputs must be tensors, got {type(xb).__name__}")
                if not torch.is_floating_point(xb):
                    xb = xb.float()
                lo, z = self.forward_both(xb)
                logits.append(lo.float())
                feats.append(z.float())
        finally:
            self.model.train(was_training)
        if not logits:
            raise InputError("no inputs to extract features from")
        y = torch.cat(labels) if labels and len(labels) == len(logits) else None
        return torch.cat(logits), torch.cat(feats), y
