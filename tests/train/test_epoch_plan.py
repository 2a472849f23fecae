"""An epoch's numbers drawn on the CPU once (train/epoch_plan.py) are the numbers the loop
drew step by step before (bit for bit), on every process; a training run with them ends where
the step-by-step loop ended; a step records its time."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from energy_ood.train import TrainConfig, Trainer, augment
from energy_ood.train.epoch_plan import plan_epoch, to_device
from energy_ood.train.objectives import create_objective

from ._objective_cases import digits, model_for


def _step_by_step(g, n, steps, bs, aux_len, aux_bs, world, rank, objective=None):
    """The draws in the order of the loop before the plan: permutations, then per step the
    ID rows, the outlier indices and rows, the objective's numbers."""
    perm = torch.randperm(n, generator=g)
    aux_perm = torch.randperm(aux_len, generator=g) if aux_len else None
    out = []
    for s in range(steps):
        part = perm[s * bs : (s + 1) * bs]
        u = augment.draw(g, len(part)).tensor_split(world)[rank]
        rec = {"mine": part.tensor_split(world)[rank], "u": u}
        if aux_perm is not None:
            size = objective.aux_batch_size(aux_bs, len(part)) if objective else aux_bs
            stride = objective.aux_batch_size(aux_bs, bs) if objective else aux_bs
            ai = aux_perm[(torch.arange(size) + s * stride) % aux_len]
            rec["u_aux"] = augment.draw(g, len(ai)).tensor_split(world)[rank]
            rec["aux"] = ai.tensor_split(world)[rank]
        if objective is not None:
            rec["rand"] = objective.draw(g, len(part), len(ai) if aux_perm is not None else 0)
        out.append(rec)
    return out


def test_plan_draws_the_step_by_step_numbers():
    cpu = torch.device("cpu")
    for name, aux_len in (("ce", None), ("energy", 50), ("mixoe", 50), ("vos", None)):
        obj = create_objective(name)
        if name == "vos":
            obj.build(model_for("vos"), 0)
        for world, rank in ((1, 0), (2, 0), (2, 1), (3, 2)):
            g1, g2 = (torch.Generator().manual_seed(11) for _ in range(2))
            ref = _step_by_step(g1, 70, 5, 16, aux_len, 24, world, rank, obj)
            plan = plan_epoch(g2, 70, 5, 16, aux_len, lambda m, o=obj: o.aux_batch_size(24, m),
                              obj, world, rank, cpu, cpu, cpu)  # fmt: skip
            for s, r in enumerate(ref):
                assert torch.equal(plan.mine[s], r["mine"]) and torch.equal(plan.u[s], r["u"])
                if aux_len:
                    assert torch.equal(plan.aux[s], r["aux"])
                    assert torch.equal(plan.u_aux[s], r["u_aux"])
                if r.get("rand") is not None:
                    assert torch.equal(plan.rand[s], r["rand"])
            assert torch.equal(g1.get_state(), g2.get_state())  # nothing more was drawn


def test_to_device_is_one_copy_of_the_same_values():
    parts = [torch.arange(5), torch.arange(7).view(7, 1), torch.rand(3, 5)]
    assert to_device(parts, torch.device("cpu")) is parts
    out = to_device([p.float() for p in parts], torch.device("meta"))
    assert [o.shape for o in out] == [p.shape for p in parts]
    assert len({o.untyped_storage().data_ptr() for o in out}) == 1  # views of one copy


def _old_loop(model, cfg, x, y, aux):
    """The training loop as it was before the objective registry (energy fine-tuning): per
    step, draw the augmentation numbers, then the outliers' indices and numbers."""
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          nesterov=True, weight_decay=cfg.weight_decay)  # fmt: skip
    from energy_ood.train.losses import energy_bounded_loss
    from energy_ood.train.schedule import cosine_lr

    n, bs = len(x), cfg.batch_size
    steps = (n + bs - 1) // bs
    step = 0
    for epoch in range(cfg.epochs):
        g = torch.Generator()
        g.manual_seed(cfg.seed * 100_003 + epoch)
        torch.manual_seed(cfg.seed * 100_003 + epoch)
        perm = torch.randperm(n, generator=g)
        aux_perm = torch.randperm(len(aux), generator=g)
        for s in range(steps):
            idx = perm[s * bs : (s + 1) * bs]
            xb = augment.apply(x[idx], augment.draw(g, len(idx)), cfg.augment, 1, False)
            ai = aux_perm[(torch.arange(cfg.aux_batch_size) + s * cfg.aux_batch_size) % len(aux)]
            ab = augment.apply(aux[ai], augment.draw(g, len(ai)), cfg.augment, 1, False)
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, steps * cfg.epochs, cfg.lr)
            logits = model(torch.cat([xb, ab]))
            lin, lout = logits[: len(xb)], logits[len(xb) :]
            loss = F.cross_entropy(lin, y[idx]) + cfg.lam * energy_bounded_loss(
                lin, lout, cfg.m_in, cfg.m_out)  # fmt: skip
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    return model


def test_training_ends_where_the_step_by_step_loop_ended(tmp_path):
    x, y, aux = digits()
    cfg = TrainConfig(method="energy", epochs=2, batch_size=16, aux_batch_size=24, lr=0.05,
                      seed=2, augment="crop-flip", crop_padding=1, m_in=-4.0, m_out=-1.0,
                      channels_last=False)  # fmt: skip
    old = _old_loop(model_for("energy"), cfg, x, y, aux)
    new = model_for("energy")
    hist = Trainer(new, cfg, tmp_path).fit(x, y, aux=aux)
    for (k, a), b in zip(old.state_dict().items(), new.state_dict().values()):
        assert torch.equal(a, b), k
    assert {"images_per_s", "step_ms_p50", "step_ms_p90", "step_ms_p99"} <= set(hist[0])
    assert 0 < hist[0]["step_ms_p50"] <= hist[0]["step_ms_p99"]
