"""Vision-language OOD detection: zero-shot scores on cosine similarities (MCM, CLIP-style
MSP / energy / MaxLogit, Delta-Energy), encoders (open_clip, sentence-transformers), CoOp
prompt tuning with CE or CE + a reconstructed EBM term, and the WordNet gloss benchmark.

The scorers ``mcm``, ``clip_msp``, ``clip_energy``, ``clip_maxlogit`` and ``delta_energy``
(module ``scores``) are a plugin of ``energy_ood.score`` (listed in ``energy_ood.plugins``):
``create_scorer("mcm")`` and ``Detector.load`` of an ``mcm`` detector work without importing
this package. What is verified
and what is reconstruction is stated in ``functional``, ``ebm`` and ``bench.RECONSTRUCTION``.
"""

from . import functional
from .ebm import ebm_loss
from .encoder_base import Encoder
from .encoders import load_encoder
from .prompt import PromptLearner, load_context
from .scores import MCM, ClipEnergy, ClipMaxLogit, ClipMSP, DeltaEnergy
from .tuning import TuneConfig, tune_prompts
from .zeroshot import ZeroShotClassifier, build_prompts, similarity

__all__ = [
    "MCM",
    "ClipEnergy",
    "ClipMSP",
    "ClipMaxLogit",
    "DeltaEnergy",
    "Encoder",
    "PromptLearner",
    "TuneConfig",
    "ZeroShotClassifier",
    "build_prompts",
    "ebm_loss",
    "functional",
    "load_context",
    "load_encoder",
    "similarity",
    "tune_prompts",
]
