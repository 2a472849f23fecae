"""VOS's machinery: per-class feature queues and virtual outliers drawn from class-conditional
Gaussians with a shared covariance, keeping the least likely of many draws.

Drawing n = 10,000 points per class and keeping the lowest-likelihood one, as the paper, costs
K x n x D normal numbers per step. The same choice is made exactly, at the cost of one draw:
a sample of N(mu_k, Sigma) is mu_k + L e (Sigma = L L^T, e ~ N(0, I_D)) and its log-density is
const - ||e||^2 / 2, so the least likely of n draws is the one whose ||e|| is largest. For
Gaussian e, ||e|| and e / ||e|| are independent, ||e||^2 ~ chi^2(D) and e / ||e|| is uniform on
the sphere. So the kept point is mu_k + r L d with d a normalised normal vector and r^2 the
largest of n chi^2(D) variables, whose CDF is F^n: r^2 = F^-1(U^(1/n)). The s largest (the
authors' ``select``) follow one by one: F(r_(j)^2) = F(r_(j-1)^2) U_j^(1/(n-j+1)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

COV_EPS = 1e-4  # added to the covariance's diagonal, as the authors' code


def top_radii(u: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """Per row of uniforms ``u`` (rows, s), the s largest of ``n`` i.i.d. norms ||e||,
    e ~ N(0, I_dim), in decreasing order (float64)."""
    from scipy.special import gammainccinv

    s = u.shape[1]
    logp = torch.cumsum(torch.log(u.double()) / (n - torch.arange(s, dtype=torch.float64)), 1)
    survival = -torch.expm1(logp)  # 1 - F, accurate when F is near 1
    r2 = 2.0 * torch.from_numpy(gammainccinv(dim / 2.0, survival.numpy()))
    return r2.sqrt()


def draw_virtual(g: torch.Generator, k: int, s: int, n: int, dim: int) -> torch.Tensor:
    """(k * s, 1 + dim) rows [radius, unit direction] of the s least likely of n draws per
    class (uniforms first, then normals, from ``g``)."""
    u = torch.rand(k, s, generator=g, dtype=torch.float64)
    d = torch.randn(k * s, dim, generator=g)
    r = top_radii(u, n, dim).reshape(-1, 1).float()
    return torch.cat([r, d / torch.linalg.vector_norm(d, dim=1, keepdim=True)], 1)


def gaussian_outliers(queue: torch.Tensor, rand: torch.Tensor, s: int) -> torch.Tensor:
    """Virtual outliers (k * s, D) of the class-conditional Gaussians of ``queue`` (k, Q, D):
    class means, one covariance of the centred features of all classes (+ 1e-4 I), and the
    rows [radius, direction] of :func:`draw_virtual`."""
    k, q, d = queue.shape
    mu = queue.mean(1)
    x = (queue - mu[:, None]).reshape(k * q, d)
    cov = x.T @ x / (k * q) + COV_EPS * torch.eye(d, device=queue.device, dtype=queue.dtype)
    chol = torch.linalg.cholesky_ex(cov).L  # no host sync for an error check
    e = rand[:, 1:] * rand[:, :1]
    return mu.repeat_interleave(s, 0) + e @ chol.T


class FeatureQueues:
    """A queue of the last ``size`` features per class, as the authors' code: each class
    fills its queue in arrival order (later features of a full class are dropped) until every
    class is full; from then on each feature replaces its class's oldest. Kept as a ring
    buffer updated without host synchronisation (one spare row takes what is dropped)."""

    def __init__(self, k: int, size: int, dim: int, device):
        self.k, self.size = k, size
        self.buf = torch.zeros(k, size + 1, dim, device=device)
        self.count = torch.zeros(k, dtype=torch.long, device=device)
        self.ptr = torch.zeros(k, dtype=torch.long, device=device)

    @property
    def features(self) -> torch.Tensor:
        return self.buf[:, : self.size]

    def push(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Add features ``z`` (N, D) of classes ``y`` in order; returns whether every queue
        was full BEFORE them (a 0-d bool tensor)."""
        q = self.size
        onehot = F.one_hot(y, self.k)
        rank = (onehot.cumsum(0) - 1).gather(1, y[:, None]).squeeze(1)
        n_c = onehot.sum(0)
        full = (self.count == q).all()
        fill = self.count[y] + rank
        pos = torch.where(full, (self.ptr[y] + rank) % q, fill)
        keep = torch.where(full, rank >= n_c[y] - q, fill < q)
        pos = torch.where(keep, pos, torch.full_like(pos, q))
        self.buf[y, pos] = z.to(self.buf.dtype)
        self.count = torch.where(full, self.count, (self.count + n_c).clamp(max=q))
        self.ptr = torch.where(full, (self.ptr + n_c) % q, self.ptr)
        return full

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"queue": self.features.detach().cpu().clone(), "count": self.count.cpu(),
                "ptr": self.ptr.cpu()}  # fmt: skip

    def load(self, state: dict) -> None:
        dev = self.buf.device
        self.buf[:, : self.size] = state["queue"].to(dev)
        self.count, self.ptr = state["count"].to(dev).clone(), state["ptr"].to(dev).clone()
