"""The typed config of README's walk-through as a benchmark (``kind = "walkthrough"``,
configs/walkthrough.toml), and the command lines it stands for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..._validate import InputError
from ...io.typed_schema import Section, option
from ..sections import ModelSection, RunOptions, TrainSection


@dataclass(kw_only=True)
class WalkData(Section):
    dataset: str = "fashion-mnist"
    aux: list[str] = option(factory=lambda: ["cifar10-train-grey"], min_len=1)
    test_sets: list[str] = option(factory=list)  # finetune --test-sets (families refused)
    evaluate_sets: list[str] = option(factory=lambda: ["mnist"], min_len=1)

    def check(self, where: str) -> None:
        from ...data.sources import ood_set_names
        from ...data.splits import check_families

        for key in ("aux", "test_sets", "evaluate_sets"):
            for n in getattr(self, key):
                if n not in ood_set_names():
                    raise InputError(f"{where}.{key}: unknown set {n!r}")
        try:
            check_families(self.aux, [*self.test_sets, *self.evaluate_sets], self.dataset)
        except InputError as e:
            raise InputError(f"{where}.aux: {e}") from None


@dataclass(kw_only=True)
class WalkFinetune(TrainSection):
    method: Literal["energy", "oe", "single-margin"] = "energy"
    epochs: int = option(10, min=1)
    lr: float = option(0.001, gt=0)
    n_aux: int = option(20000, min=1)


@dataclass(kw_only=True)
class WalkthroughConfig(RunOptions):
    kind: Literal["walkthrough"] = "walkthrough"
    title: str = "README walk-through: train, fine-tune, evaluate"
    config_file: str = ""
    seeds: list[int] = option(factory=lambda: [0, 1, 2], min_len=1, min=0, max=2**64 - 1)
    scores: list[str] = option(factory=lambda: ["msp", "energy"], min_len=1)
    data: WalkData
    model: ModelSection = option(factory=ModelSection)
    pretrain: TrainSection = option(factory=TrainSection)
    finetune: WalkFinetune = option(factory=WalkFinetune)

    def commands(self, seed: int, out: str = "runs", data_root=None) -> list[str]:
        """The CLI commands that give seed ``seed``'s numbers (train, finetune, evaluate the
        pretrained and the fine-tuned run)."""
        d, ft, pre = self.data, self.finetune, self.pretrain
        base, tuned = f"{out}/base_s{seed}", f"{out}/{ft.method}_s{seed}"
        root = f" --data-root {data_root}" if data_root else ""
        return [
            f"energy-ood train --dataset {d.dataset} --model {self.model.name} --epochs "
            f"{pre.epochs} --lr {pre.lr:g} --seed {seed} --out {base}",
            f"energy-ood finetune --method {ft.method} --from {base} --aux {','.join(d.aux)} "
            + (f"--test-sets {','.join(d.test_sets)} " if d.test_sets else "")
            + f"--n-aux {ft.n_aux} --epochs {ft.epochs} --lr {ft.lr:g} --seed {seed}{root} "
            f"--out {tuned}",
            *(f"energy-ood evaluate --run-dir {r} --ood-set {','.join(d.evaluate_sets)} --score "
              f"{','.join(self.scores)}{root}" for r in (base, tuned)),
        ]  # fmt: skip
