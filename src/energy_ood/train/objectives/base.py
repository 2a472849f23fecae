"""The training-objective contract: what an objective declares, and what a step hands it.

An objective (one file per method in this package, registered with
:func:`~.registry.register_objective`) declares

* ``needs``: what a step must give it beyond the labelled ID batch, from :data:`NEEDS` --
  ``"aux"`` (a batch of auxiliary outliers), ``"features"`` (penultimate features with the
  logits, ``step.net.features``), ``"head"`` (the final linear layer applied to given
  features, ``step.net.head``), ``"rotation_head"`` (``step.net.rotation``) and
  ``"global_batch"`` (``step.gather``: tensors of the whole global batch, in order, on every
  process: for a feature queue fed by every process, or a loss over every pair of the batch).
  A step built for it holds nothing else: what is not declared is not even computed (no
  auxiliary batch is loaded for cross-entropy), and ``step.net`` refuses an undeclared part
  (:class:`UndeclaredNeed`);
* ``hparams``: its hyperparameters (:class:`HParam`: default, kind, range), checked when the
  objective is created, every bad value named in one line;
* ``phases``: optimizer updates per step (the rotation task alternates two);
* ``stage``: how its paper trains it (``"scratch"`` or ``"finetune"``), ``score``: the
  post-hoc score its paper reports (what a comparison ranks it by), and ``paper_setup``: its
  paper's training setup in words (what a comparison states its departures from).

Its lifecycle in the training loop: ``check_ready(model)`` (required values, model parts),
``build(model, seed)`` (learnable parameters of its own, an ``nn.Module`` trained and
synchronised with the model, or None), ``begin_epoch(epoch, epochs)``, per step
``draw(g, n_id, n_aux)`` (its random numbers, drawn on the CPU from the epoch's generator when
the epoch starts, in step order after the augmentation numbers) and ``loss(step, phase)``;
``state_dict`` / ``load_state_dict`` (state that is not a parameter, e.g. a feature queue,
saved in every checkpoint and restored on ``--resume``) and ``exports()`` (arrays written next
to the run, e.g. the class weights ``weighted_ebo`` reads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..._validate import InputError

NEEDS = ("aux", "features", "head", "rotation_head", "global_batch")


class UndeclaredNeed(RuntimeError):
    """An objective touched a part of the step it did not declare in ``needs``."""


@dataclass(frozen=True)
class HParam:
    """One hyperparameter: ``kind`` "float" | "int" | "choice"; ``low`` inclusive, ``gt``
    exclusive lower bound; ``optional``: None is allowed (derived or required later)."""

    default: Any
    kind: str = "float"
    low: float | None = None
    gt: float | None = None
    choices: tuple = ()
    optional: bool = False
    doc: str = ""

    def check(self, name: str, value) -> tuple[Any, str | None]:
        """(the value converted, None) or (value, the problem in a few words)."""
        if value is None:
            return (None, None) if self.optional else (value, f"{name} is required")
        if self.kind == "choice":
            if value not in self.choices:
                return value, f"{name} must be one of {', '.join(self.choices)}, got {value!r}"
            return value, None
        if self.kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
            ok = ok or (isinstance(value, float) and value.is_integer())
            if not ok:
                return value, f"{name} must be an integer{self._bounds()}, got {value!r}"
            value = int(value)
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return value, f"{name} must be a number{self._bounds()}, got {value!r}"
            value = float(value)
            if not math.isfinite(value):
                return value, f"{name} must be a finite number, got {value!r}"
        if (self.low is not None and value < self.low) or (
            self.gt is not None and not value > self.gt
        ):
            return value, f"{name} must be{self._bounds()}, got {value!r}"
        return value, None

    def _bounds(self) -> str:
        if self.gt is not None:
            return f" > {self.gt:g}"
        return f" >= {self.low:g}" if self.low is not None else ""


class Objective:
    """Base class: subclasses set the declarations and define :meth:`loss`."""

    name = "objective"
    summary = ""
    paper = ""
    needs: frozenset[str] = frozenset()
    hparams: dict[str, HParam] = {}
    stage = "scratch"
    score = "msp"
    paper_setup = ""  # how its paper trains it (what a comparison reports departures from)

    def __init__(self, **hp):
        problems = [f"unknown hyperparameter {k!r} ({self._takes()})"
                    for k in hp if k not in self.hparams]  # fmt: skip
        values = {}
        for key, spec in self.hparams.items():
            value, problem = spec.check(key, hp.get(key, spec.default))
            values[key] = value
            if problem:
                problems.append(problem)
        self.hp = values
        if not problems:
            problems = self.cross_check()
        if problems:
            raise InputError(f"method {self.name!r}: " + "; ".join(problems))
        self.module: nn.Module | None = None

    def _takes(self) -> str:
        return "it takes " + ", ".join(self.hparams) if self.hparams else "it takes none"

    def cross_check(self) -> list[str]:
        """Problems between hyperparameters (each a few words), once each is valid."""
        return []

    # --- lifecycle (override what applies) ------------------------------------------------
    @property
    def phases(self) -> int:
        return 1

    def check_ready(self, model: nn.Module) -> None:
        """Refuse (InputError) when a value needed for training is missing."""

    def aux_batch_size(self, configured: int, n_id: int) -> int:
        """Auxiliary outliers in a global step of ``n_id`` ID images (the configured number,
        unless the method pairs each outlier with an ID image)."""
        return configured

    def build(self, model: nn.Module, seed: int) -> nn.Module | None:
        """The objective's own learnable parameters (initialised from ``seed``), or None."""
        return None

    def begin_epoch(self, epoch: int, epochs: int) -> None:
        """Called before each epoch (0-based ``epoch`` of ``epochs``)."""

    def draw(self, g: torch.Generator, n_id: int, n_aux: int) -> torch.Tensor | None:
        """This step's random numbers (a CPU tensor of a fixed shape), drawn from ``g``."""
        return None

    def loss(self, step, phase: int) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define loss(step, phase)")

    def state_dict(self) -> dict[str, torch.Tensor]:
        """State that is not a parameter (saved in checkpoints)."""
        return {}

    def load_state_dict(self, state: dict, where: str) -> None:
        if state:
            raise InputError(f"{where}: method {self.name!r} keeps no state, got {sorted(state)}")

    def exports(self) -> dict[str, torch.Tensor]:
        """Arrays written next to the run (``NAME.npy``) after training."""
        return {}

    def describe(self) -> dict:
        return {"name": self.name, "hparams": dict(self.hp), "needs": sorted(self.needs),
                "stage": self.stage, "score": self.score, "paper": self.paper,
                "paper_setup": self.paper_setup}  # fmt: skip


def load_tensors(state: dict, like: dict[str, torch.Tensor], where: str) -> dict:
    """``state`` checked against the tensors ``like`` (same keys, shapes, dtypes, finite)."""
    if not isinstance(state, dict) or set(state) != set(like):
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise InputError(f"{where}: objective state holds {got}, expected {sorted(like)}")
    out = {}
    for k, ref in like.items():
        v = state[k]
        if not isinstance(v, torch.Tensor) or v.shape != ref.shape or v.dtype != ref.dtype:
            raise InputError(f"{where}: objective state {k!r} does not fit this run")
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise InputError(f"{where}: objective state {k!r} holds NaN or inf")
        out[k] = v.to(ref.device)
    return out
