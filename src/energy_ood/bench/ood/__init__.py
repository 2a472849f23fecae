"""The dataset-vs-dataset protocol (``kind = "ood"``: ``energy-ood bench fmnist``, the demo):
post-hoc scores on OOD test sets by seeded draws, Outlier Exposure vs energy fine-tuning, the
temperature and margin sweeps and the noise diagnostics; claims of the energy paper."""

from ..registry import Protocol, register_protocol

register_protocol(
    Protocol(
        kind="ood",
        summary="dataset-vs-dataset: post-hoc scores, OE vs energy fine-tuning, sweeps, ablations",
        package=__name__,
        config="OODConfig",
        run="run_ood_benchmark",
        render="render",
        epochs_key="pretrain",
        trials_key="seeds",
    )
)
