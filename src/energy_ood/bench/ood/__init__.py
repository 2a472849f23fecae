"""The dataset-vs-dataset protocol (``kind = "ood"``: ``energy-ood bench fmnist``, the demo):
post-hoc scores on OOD test sets by seeded draws, Outlier Exposure vs energy fine-tuning, the
temperature and margin sweeps and the noise diagnostics; claims of the energy paper."""

from ..registry import Protocol, register_protocol

SUMMARY = "dataset-vs-dataset: post-hoc scores, OE vs energy fine-tuning, sweeps, ablations"

register_protocol(Protocol("ood", SUMMARY, __name__, "OODConfig", "run_ood_benchmark", "render",
                           epochs_key="pretrain", trials_key="seeds"))  # fmt: skip
