"""Many processes through PyTorch's own engine: ``torchrun`` + ``torch.distributed``.

``torchrun --nproc_per_node N -m energy_ood <command> ...`` sets RANK, WORLD_SIZE, LOCAL_RANK
and the rendezvous; :func:`init` joins the process group (gloo on the CPU, nccl on CUDA) and
gives each rank its own CUDA device (``cuda:LOCAL_RANK``). Without torchrun every helper here is
the one-process identity, so library code calls them unconditionally.

Conventions: rank 0 alone writes files and prints; every rank computes. ``shard`` splits work
by whole batches (batch ``b`` goes to rank ``b % world``), so each batch is computed exactly as
in a one-process run and :func:`gather_batches` restores the original order on rank 0.
"""

from __future__ import annotations

import io
import os
from datetime import timedelta

import torch
import torch.distributed as dist

from .._validate import InputError


def launched() -> bool:
    """True inside a torchrun-launched process (WORLD_SIZE set)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def is_main() -> bool:
    return rank() == 0


def init(device: torch.device, timeout_s: float = 1800.0) -> torch.device:
    """Join the process group when launched by torchrun; returns this rank's device.

    On CUDA each rank takes ``cuda:LOCAL_RANK`` (nccl); on the CPU the backend is gloo."""
    if not launched() or active():
        return device
    if not dist.is_available():
        raise InputError("this torch build has no torch.distributed; run one process")
    if device.type == "cuda":
        if local_rank() >= torch.cuda.device_count():
            raise InputError(
                f"LOCAL_RANK {local_rank()} but {torch.cuda.device_count()} CUDA device(s); "
                "use --nproc_per_node <= the number of GPUs"
            )
        device = torch.device("cuda", local_rank())
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise InputError(f"torchrun with --device {device}: use cpu (gloo) or cuda (nccl)")
    kw = {"device_id": device} if device.type == "cuda" else {}
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s), **kw)
    return device


def shutdown() -> None:
    if active():
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast_object(obj=None, src: int = 0):
    """``obj`` of rank ``src`` on every rank (pickled by torch.distributed; only plain values
    and tensors produced by this program travel this way, never a file's contents)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def on_main(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` on rank 0 only; an InputError there is raised on every rank
    with the same line (so no rank waits in a collective for one that has failed)."""
    from .._validate import InputError

    result, error = None, None
    if is_main():
        try:
            result = fn(*args, **kwargs)
        except InputError as e:
            error = str(e)
    error = broadcast_object(error)
    if error is not None:
        raise InputError(error)
    return result


def broadcast_bytes(data: bytes | None, device: torch.device) -> bytes:
    """Raw bytes of rank 0 on every rank, as a uint8 tensor (no pickling)."""
    if not active():
        return data
    dev = device if dist.get_backend() == "nccl" else torch.device("cpu")
    n = torch.tensor([len(data) if is_main() else 0], dtype=torch.int64, device=dev)
    dist.broadcast(n, 0)
    buf = torch.empty(int(n), dtype=torch.uint8, device=dev)
    if is_main():
        buf.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    dist.broadcast(buf, 0)
    return bytes(buf.cpu().numpy())


def load_broadcast(path, device: torch.device) -> dict:
    """``torch.load(path, weights_only=True)`` read by rank 0 and sent to every rank, so ranks
    on other machines need no shared file system."""
    data = open(path, "rb").read() if is_main() else None
    data = broadcast_bytes(data, device)
    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")


def shard(n_batches: int) -> range:
    """The batch indices of this rank: ``rank, rank + world, ...``."""
    return range(rank(), n_batches, world())


def gather_batches(parts: list[torch.Tensor], n_batches: int, device: torch.device):
    """Rank 0 gets the batches of every rank in the original order (``torch.cat`` of batch 0,
    1, ...); other ranks get None. ``parts`` are this rank's outputs for :func:`shard`."""
    if not active():
        return torch.cat(parts)
    w = world()
    dev = device if dist.get_backend() == "nccl" else torch.device("cpu")
    mine = torch.cat(parts) if parts else None
    # sizes first: each rank's row count and the trailing shape / dtype of the rows
    meta = [None] * w
    local = (
        [int(p.shape[0]) for p in parts],
        tuple(mine.shape[1:]) if mine is not None else None,
        str(mine.dtype) if mine is not None else None,
    )
    dist.all_gather_object(meta, local)
    tail = next(m[1] for m in meta if m[1] is not None)
    dtype = getattr(torch, next(m[2] for m in meta if m[2] is not None).split(".")[-1])
    counts = [sum(m[0]) for m in meta]
    biggest = max(counts)
    send = torch.zeros((biggest, *tail), dtype=dtype, device=dev)
    if mine is not None:
        send[: mine.shape[0]] = mine.to(dev)
    recv = [torch.empty_like(send) for _ in range(w)] if is_main() else None
    dist.gather(send, recv, dst=0)
    if not is_main():
        return None
    per_rank = [list(torch.split(recv[r][: counts[r]].cpu(), meta[r][0])) for r in range(w)]
    ordered = [per_rank[b % w][b // w] for b in range(n_batches)]
    return torch.cat(ordered)
