"""KNN ``auto`` clusters a sample of the bank first (issue 22): a bank with little structure
is not clustered whole (its build time counts against the exhaustive search it ends up
using), a class-structured one still is."""

import torch

from energy_ood.score import _knn_backends as KB
from energy_ood.score import _knn_index as KI


def _bank(n, classes, sep, seed=0):
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(classes, 32, generator=g) * sep
    y = torch.randint(0, classes, (n,), generator=g)
    return torch.nn.functional.normalize(torch.randn(n, 32, generator=g) + means[y], dim=1)


def test_sample_share_tracks_the_structure():
    assert KI.sample_share(_bank(30_000, 1, 0.0), 50, rows=4096) > 0.9  # no structure
    assert KI.sample_share(_bank(30_000, 20, 6.0), 50, rows=4096) < 0.25  # 20 tight classes


def test_auto_skips_the_full_cluster_build_of_an_unstructured_bank(monkeypatch):
    sizes = []
    real = KI.ClusterIndex.__init__

    def spy(self, bank, *a, **kw):
        sizes.append(bank.shape[0])
        real(self, bank, *a, **kw)

    monkeypatch.setattr(KI.ClusterIndex, "__init__", spy)
    monkeypatch.setenv(KB.EXHAUSTIVE_ENV, "brute")
    flat = _bank(KB.CLUSTER_MIN_ROWS, 1, 0.0)
    s = KB.make_search(flat, 50, "auto")
    assert s.name == "brute" and KB.CLUSTER_MIN_ROWS not in sizes  # only the sample clustered
    sizes.clear()
    tight = _bank(KB.CLUSTER_MIN_ROWS, 20, 6.0)
    s = KB.make_search(tight, 50, "auto")
    assert s.name == "cluster+brute" and KB.CLUSTER_MIN_ROWS in sizes
    q = torch.nn.functional.normalize(tight[:300] + 0.01, dim=1)
    want = (q @ tight.T).topk(50, dim=1).values[:, -1]
    assert torch.allclose(s(q), want, atol=1e-5)
