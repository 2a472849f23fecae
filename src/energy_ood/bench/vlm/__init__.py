"""The WordNet gloss protocol (``kind = "vlm"``): vision-language scores (MCM, CLIP-style
MSP / energy / MaxLogit, Delta-Energy) zero-shot and after CoOp prompt tuning (CE, CE+EBM)."""

from ..registry import Protocol, register_protocol

register_protocol(
    Protocol(
        kind="vlm",
        summary="WordNet gloss benchmark: zero-shot scores, CoOp prompt tuning (CE, CE+EBM)",
        package=__name__,
        config="VLMConfig",
        run="run_vlm_bench",
        render="render",
        epochs_key="tune",
        trials_key="data.splits",
    )
)
