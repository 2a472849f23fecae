"""Training-time augmentation driven by per-sample uniforms.

Each step draws one row of uniforms per image of the GLOBAL batch from the epoch's CPU
generator (:func:`draw`); a process applies the rows of its own shard (:func:`apply`). So an
image gets the same crop, flip and mask whatever the number of processes or the device, and a
resumed epoch repeats exactly.
"""

from __future__ import annotations

import torch

from ..data import transforms as T

N_UNIFORMS = 5  # crop y, crop x, flip, mask top, mask left


def draw(g: torch.Generator, n: int) -> torch.Tensor:
    """(n, N_UNIFORMS) uniforms in [0, 1) for a global batch of ``n`` images."""
    return torch.rand(n, N_UNIFORMS, generator=g)


def _index(u: torch.Tensor, count: int) -> torch.Tensor:
    """Map uniforms in [0, 1) to integers 0 .. count-1."""
    return (u * count).long().clamp_(max=count - 1)


def apply(x: torch.Tensor, u: torch.Tensor, augment: str, padding: int, mask: bool):
    """Augment normalised images ``x`` (N, C, H, W) with their rows ``u`` of :func:`draw`."""
    if augment != "none":
        size = x.shape[-2:]
        if padding:
            x = torch.nn.functional.pad(x, (padding,) * 4)
        oy = _index(u[:, 0], x.shape[-2] - size[0] + 1)
        ox = _index(u[:, 1], x.shape[-1] - size[1] + 1)
        x = T.crop_at(x, oy, ox, size)
    if augment == "crop-flip":
        flip = (u[:, 2] < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if mask:
        x = center_mask_at(x, u[:, 3], u[:, 4])
    return x


def center_mask_at(
    x: torch.Tensor, u_top: torch.Tensor, u_left: torch.Tensor, mask: int = 16, region: int = 21
) -> torch.Tensor:
    """Zero a ``mask`` x ``mask`` square inside the central ``region`` x ``region`` area at the
    positions the uniforms pick (the semantic-anomaly paper's ablation; sizes for 32x32 images,
    scaled for other sizes)."""
    n, _, h, w = x.shape
    scale = h / 32.0
    m, r = max(1, round(mask * scale)), max(1, round(region * scale))
    r = max(r, m)
    tops = (_index(u_top, r - m + 1) + (h - r) // 2).to(x.device)
    lefts = (_index(u_left, r - m + 1) + (w - r) // 2).to(x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (
        (rows >= tops.view(n, 1, 1))
        & (rows < (tops + m).view(n, 1, 1))
        & (cols >= lefts.view(n, 1, 1))
        & (cols < (lefts + m).view(n, 1, 1))
    )
    return x.masked_fill(inside.unsqueeze(1), 0.0)


def rotate_all(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The four rotations (0, 90, 180, 270 degrees counter-clockwise) of every image, and their
    rotation labels: (4N, C, H, W), (4N,)."""
    rots = [torch.rot90(x, r, dims=(2, 3)) for r in range(4)]
    labels = torch.arange(4, device=x.device).repeat_interleave(x.shape[0])
    return torch.cat(rots), labels
