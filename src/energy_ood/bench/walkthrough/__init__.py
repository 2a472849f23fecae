"""README's walk-through as a protocol (``kind = "walkthrough"``): the train, finetune and
evaluate commands per seed, so README's table is this report's."""

from ..registry import Protocol, register_protocol

SUMMARY = "README's train / finetune / evaluate commands, their numbers per seed"

register_protocol(Protocol("walkthrough", SUMMARY, __name__, "WalkthroughConfig",
                           "run_walkthrough", "render", "pretrain", "seeds"))  # fmt: skip
