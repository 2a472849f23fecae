"""The hold-out-class protocol (``kind = "holdout"``): one classifier per held-out class and
trial, average precision of the held-out class as the anomaly; claims of the semantic-anomaly
paper (rotation head, centre masking)."""

from ..registry import Protocol, register_protocol

SUMMARY = "hold-out-class AP with and without the rotation head (and the masking ablation)"

register_protocol(Protocol("holdout", SUMMARY, __name__, "HoldoutConfig", "run_holdout", "render",
                           epochs_key="train", trials_key="trials"))  # fmt: skip
