"""One contract, checked over the whole objective registry (as tests/score/test_contract.py over
the scorers). For every name of ``available_objectives()``:

* a step gives a finite loss and finite, non-zero gradients (VOS's own parameters included,
  once its queues are full);
* the declared needs and nothing else are read: every part of the step it did not declare is a
  sentinel that raises when touched, and the model view refuses undeclared parts;
* a checkpoint round trip: a run stopped after its first epoch and resumed ends bit-identical
  to the run that never stopped (weights, the objective's parameters and state, losses);
* a 2-process gloo run (torchrun) gives the weights of the 1-process run on the same global
  batches (float tolerance: sums are taken in another order).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from energy_ood.train import Trainer
from energy_ood.train.gather import Gather
from energy_ood.train.objectives import NEEDS, NetView, Step, available_objectives

from ._objective_cases import CASES, config, digits, learnable, model_for

NAMES = available_objectives()
ROOT = Path(__file__).resolve().parents[2]


class Touched(AssertionError):
    pass


class Sentinel:
    """Stands for an undeclared part of a step: any use raises."""

    def __init__(self, what: str):
        object.__setattr__(self, "what", what)

    def _touch(self, *a, **k):
        raise Touched(f"the objective read {self.what}, which it did not declare")

    __getattr__ = __len__ = __getitem__ = __iter__ = __bool__ = __call__ = _touch
    __add__ = __radd__ = __mul__ = __rmul__ = __sub__ = __rsub__ = __truediv__ = _touch

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        raise Touched(f"the objective passed an undeclared part of its step to {func}")


def test_every_objective_has_a_case():
    assert set(NAMES) == set(CASES), "add a case to tests/train/_objective_cases.py"
    assert {"ce", "energy", "oe", "single-margin", "rotation", "logitnorm", "vos", "mixoe",
            "energy-scratch"} <= set(NAMES)  # fmt: skip


def _steps(name, sentinels: bool):
    """(model, objective, its parameters, a function giving step i) on real digits."""
    x, y, aux = digits()
    model = model_for(name)
    obj = config(name).objective()
    extra = obj.build(model, 0)
    obj.begin_epoch(1, 2)
    needs = obj.needs
    view = NetView(model, needs, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    n_aux = obj.aux_batch_size(16, 16)

    def step(i):
        xb, yb, ab = x[16 * i : 16 * i + 16], y[16 * i : 16 * i + 16], aux[:n_aux]
        rand = obj.draw(g, 16, n_aux)
        hide = {k: sentinels and k not in needs for k in NEEDS}
        return Step(
            xb, yb, view, epoch=1,
            aux=Sentinel("aux") if hide["aux"] else ab,
            rand=Sentinel("rand") if sentinels and rand is None else rand,
            gather=Sentinel("gather") if hide["global_batch"] else Gather(16, n_aux, 1, 0),
        )  # fmt: skip

    return model, obj, extra, step


def _losses(model, obj, extra, step):
    params = [*model.parameters(), *(extra.parameters() if extra is not None else [])]
    out = []
    for phase in range(obj.phases):
        for p in params:
            p.grad = None
        loss = obj.loss(step, phase)
        loss.backward()
        out.append((loss.detach(), [p.grad for p in params]))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_finite_loss_and_gradients(name):
    model, obj, extra, step = _steps(name, sentinels=False)
    for i in range(3):  # VOS: the first steps fill its queues, the later ones use them
        for loss, grads in _losses(model, obj, extra, step(i)):
            assert loss.ndim == 0 and torch.isfinite(loss), name
            got = [g for g in grads if g is not None]
            assert got and all(bool(torch.isfinite(g).all()) for g in got), name
            assert any(bool((g != 0).any()) for g in got), name
    if extra is not None:  # the objective's own parameters learn too
        assert all(p.grad is not None and bool((p.grad != 0).any()) for p in extra.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_reads_only_what_it_declares(name):
    model, obj, extra, step = _steps(name, sentinels=True)
    assert set(obj.needs) <= set(NEEDS)
    for i in range(3):
        _losses(model, obj, extra, step(i))


def _fit(name, out, resume=False, stop_after=None):
    torch.manual_seed(0)
    model = model_for(name)
    trainer = Trainer(model, config(name, epochs=3), out)
    x, y, aux = digits()

    def stop(_model):
        if len(trainer.history) == stop_after:
            raise KeyboardInterrupt  # killed before this epoch's checkpoint
        return {}

    aux = aux if "aux" in trainer.objective.needs else None
    hist = trainer.fit(x, y, aux=aux, resume=resume, eval_fn=stop if stop_after else None)
    return trainer, [h["loss"] for h in hist]


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_round_trip(name, tmp_path):
    ref, ref_loss = _fit(name, tmp_path / "ref")
    with pytest.raises(KeyboardInterrupt):
        _fit(name, tmp_path / "run", stop_after=2)
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ck["epoch"] == 0
    has_state = ref.extra is not None or bool(ref.objective.state_dict())
    assert ("objective" in ck) == has_state
    run, run_loss = _fit(name, tmp_path / "run", resume=True)
    assert run_loss == ref_loss
    a, b = learnable(ref.model, ref.extra), learnable(run.model, run.extra)
    assert all(torch.equal(a[k], b[k]) for k in a), name
    sa, sb = ref.objective.state_dict(), run.objective.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    for export, value in ref.objective.exports().items():
        assert torch.equal(torch.from_numpy(__import__("numpy").load(
            tmp_path / "run" / f"{export}.npy")), value)  # fmt: skip


def test_two_processes_train_as_one(tmp_path):
    """Every objective, 2 epochs of 6 global steps of 16 ID images (8 per process), under
    torchrun with gloo: the weights equal the one-process run's."""
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}  # fmt: skip
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--standalone", str(Path(__file__).with_name("objective_ddp.py")), str(tmp_path),
           *NAMES]  # fmt: skip
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    x, y, aux = digits()
    for name in NAMES:
        torch.manual_seed(0)
        model = model_for(name)
        trainer = Trainer(model, config(name), tmp_path / f"one-{name}")
        trainer.fit(x, y, aux=aux if "aux" in trainer.objective.needs else None)
        one = learnable(model, trainer.extra)
        two = torch.load(tmp_path / f"two-{name}.pt", weights_only=True)
        assert one.keys() == two.keys()
        for k in one:
            torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=2e-5, msg=f"{name} {k}")
