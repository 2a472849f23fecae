"""The WordNet gloss protocol (``kind = "vlm"``): vision-language scores (MCM, CLIP-style
MSP / energy / MaxLogit, Delta-Energy) zero-shot and after CoOp prompt tuning (CE, CE+EBM)."""

from ..registry import Protocol, register_protocol

SUMMARY = "WordNet gloss benchmark: zero-shot scores, CoOp prompt tuning (CE, CE+EBM)"

register_protocol(Protocol("vlm", SUMMARY, __name__, "VLMConfig", "run_vlm_bench", "render",
                           epochs_key="tune", trials_key="data.splits"))  # fmt: skip
