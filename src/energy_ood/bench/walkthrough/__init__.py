"""README's walk-through as a protocol (``kind = "walkthrough"``): the train, finetune and
evaluate commands per seed, so README's table is this report's."""

from ..registry import Protocol, register_protocol

register_protocol(
    Protocol(
        kind="walkthrough",
        summary="README's train / finetune / evaluate commands, their numbers per seed",
        package=__name__,
        config="WalkthroughConfig",
        run="run_walkthrough",
        render="render",
        epochs_key="pretrain",
        trials_key="seeds",
    )
)
