"""Run under torchrun by test_objective_contract.py: train each named objective for 2 epochs
on 2 processes (gloo) and save its learned tensors to OUT/two-NAME.pt (rank 0).

    torchrun --nproc_per_node 2 --standalone objective_ddp.py OUT NAME [NAME ...]
"""

import sys
from pathlib import Path

import torch

from energy_ood.runtime import dist
from energy_ood.train import Trainer
from tests.train._objective_cases import config, digits, learnable, model_for


def main(out: Path, names: list[str]) -> None:
    dist.init(torch.device("cpu"))
    x, y, aux = digits()
    for name in names:
        torch.manual_seed(0)
        model = model_for(name)
        trainer = Trainer(model, config(name), out / f"two-{name}-run")
        trainer.fit(x, y, aux=aux if "aux" in trainer.objective.needs else None)
        if dist.is_main():
            torch.save(learnable(model, trainer.extra), out / f"two-{name}.pt")
    dist.barrier()
    dist.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
