"""The training-method comparison (``kind = "methods"``: ``energy-ood bench methods_fmnist``):
cross-entropy, energy fine-tuning, OE, LogitNorm, VOS, MixOE and energy from scratch on the same
data, seeds, epochs and auxiliary pool, every model scored with the post-hoc scorers; paired
verdicts against the baselines."""

from ..registry import Protocol, register_protocol

SUMMARY = "training methods compared: CE, energy, OE, LogitNorm, VOS, MixOE, energy from scratch"

register_protocol(Protocol("methods", SUMMARY, __name__, "MethodsConfig", "run_methods_benchmark",
                           "render", epochs_key="scratch", trials_key="seeds"))  # fmt: skip
