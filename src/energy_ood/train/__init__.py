"""Training: one loop for every registered objective (:mod:`.objectives`): cross-entropy,
energy-bounded fine-tuning and its from-scratch variant, Outlier Exposure, the single-margin
ablation, the rotation-prediction task, LogitNorm, VOS and MixOE."""

from ..models.checkpoint import load_checkpoint, load_model_from_checkpoint
from .config import TrainConfig, methods, needs_aux
from .loop import Trainer, accuracy, predict_logits
from .losses import (
    center_mask,
    energy_bounded_loss,
    outlier_exposure_loss,
    rotate_batch,
    single_margin_loss,
)
from .margins import choose_margins, energy_stats
from .schedule import cosine_lr

__all__ = [
    "TrainConfig",
    "Trainer",
    "accuracy",
    "center_mask",
    "choose_margins",
    "cosine_lr",
    "energy_bounded_loss",
    "energy_stats",
    "load_checkpoint",
    "load_model_from_checkpoint",
    "methods",
    "needs_aux",
    "outlier_exposure_loss",
    "predict_logits",
    "rotate_batch",
    "single_margin_loss",
]
