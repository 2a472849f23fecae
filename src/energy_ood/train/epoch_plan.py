"""Every random number of one training epoch, drawn on the CPU when the epoch starts.

The epoch's generator (seeded from (seed, epoch)) gives, in this order: the permutation of
the training images, the permutation of the auxiliary outliers, then for each global step the
augmentation uniforms of its ID images, those of its outliers and the objective's numbers. This
is the order in which the loop drew them step by step before, so the numbers are the same
(bit for bit on the CPU). Each kind is then copied to the training device ONCE
(:func:`to_device`, from pinned memory with ``non_blocking`` on CUDA) and cut into per-step
views there: a step makes no host-to-device copy of indices or augmentation numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import augment


def to_device(parts: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """``parts`` on ``device`` through one copy (views of one tensor); on the CPU unchanged."""
    if device.type == "cpu" or not parts:
        return parts
    flat = torch.cat([p.reshape(-1) for p in parts])
    if device.type == "cuda":
        flat = flat.pin_memory().to(device, non_blocking=True)
    else:
        flat = flat.to(device)
    out, at = [], 0
    for p in parts:
        out.append(flat[at : at + p.numel()].view(p.shape))
        at += p.numel()
    return out


def aux_indices(aux_perm: torch.Tensor, s: int, size: int, stride: int) -> torch.Tensor:
    """The ``size`` auxiliary images of global step ``s``: consecutive slices (``stride``
    apart) of the epoch's permutation, wrapping around."""
    return aux_perm[(torch.arange(size) + s * stride) % len(aux_perm)]


@dataclass
class EpochPlan:
    """Per global step: this process's image indices (``mine``, on the source's index
    device), augmentation rows (``u``, on the device), auxiliary indices and rows (or None)
    and the objective's numbers (``rand``, on the device, or None); ``sizes`` and
    ``aux_sizes`` the global ID and auxiliary batch sizes."""

    sizes: list[int]
    aux_sizes: list[int]
    mine: list[torch.Tensor]
    u: list[torch.Tensor]
    aux: list[torch.Tensor] | None
    u_aux: list[torch.Tensor] | None
    rand: list[torch.Tensor | None]


def plan_epoch(g, n: int, steps: int, batch_size: int, aux_len: int | None, aux_size,
               objective, world: int, rank: int, device, index_device,
               aux_index_device):  # fmt: skip
    """The :class:`EpochPlan` of an epoch. ``aux_size(n_id)`` is the global auxiliary batch of
    a step of ``n_id`` ID images (the objective's choice)."""
    perm = torch.randperm(n, generator=g)
    aux_perm = torch.randperm(aux_len, generator=g) if aux_len is not None else None
    parts = [perm[s * batch_size : (s + 1) * batch_size] for s in range(steps)]
    us, aux_idx, u_aux, rand, aux_sizes = [], [], [], [], []
    stride = aux_size(batch_size) if aux_perm is not None else 0
    for s in range(steps):
        us.append(augment.draw(g, len(parts[s])).tensor_split(world)[rank])
        m = len(parts[s])
        if aux_perm is not None:
            ai = aux_indices(aux_perm, s, aux_size(m), stride)
            u_aux.append(augment.draw(g, len(ai)).tensor_split(world)[rank])
            aux_idx.append(ai.tensor_split(world)[rank])
        aux_sizes.append(len(ai) if aux_perm is not None else 0)
        rand.append(objective.draw(g, m, len(ai) if aux_perm is not None else 0))
    mine = [p.tensor_split(world)[rank] for p in parts]
    return EpochPlan(
        sizes=[len(p) for p in parts],
        aux_sizes=aux_sizes,
        mine=to_device(mine, index_device),
        u=to_device(us, device),
        aux=to_device(aux_idx, aux_index_device) if aux_perm is not None else None,
        u_aux=to_device(u_aux, device) if aux_perm is not None else None,
        rand=to_device(rand, device) if rand and rand[0] is not None else rand,
    )
