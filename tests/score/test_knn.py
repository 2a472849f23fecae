"""KNN search backends: every backend against a float64 brute-force reference written here."""

import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from energy_ood._validate import InputError
from energy_ood.score import _knn_backends as KB
from energy_ood.score import _topk, create_scorer
from energy_ood.score._knn_index import ClusterIndex

HAS_FAISS = KB.faiss_available()
BACKENDS = [
    pytest.param(
        "faiss", marks=pytest.mark.skipif(not HAS_FAISS, reason="faiss-cpu not installed")
    ),
    "torch",
    "brute",
    "cluster",
    "cluster-forced",  # the pruned search on every chunk, however little it prunes
    "auto",
]


def search_for(bank, k, backend):
    if backend == "cluster-forced":
        return KB.make_search(bank, k, "cluster", max_share=1.0)
    return KB.make_search(bank, k, backend)


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def unit(x) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    return x / x.norm(dim=1, keepdim=True)


def kth_reference(q: torch.Tensor, bank: torch.Tensor, k: int) -> np.ndarray:
    """The k-th largest similarity of each query, in float64, by a full sort."""
    sims = q.double().numpy() @ bank.double().numpy().T
    return -np.sort(-sims, axis=1)[:, k - 1]


def mixture(n, seed, d=32, classes=6):
    g = torch.Generator().manual_seed(100)
    means = torch.randn(classes, d, generator=g) * 3
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    return (torch.randn(n, d, generator=g) + means[y]).numpy()


def digits():
    """Real class-structured data: scikit-learn's 8x8 digits (1797 x 64), shifted off zero."""
    x = load_digits().data.astype(np.float32) + 0.5
    return x[:1500], x[1500:]


def data(kind):
    if kind == "classes":
        bank = mixture(6000, 1)
        bank[:40] = bank[40:80]  # duplicated rows: ties
        q = np.r_[mixture(400, 2), np.random.default_rng(3).normal(0, 3, (100, 32))]
        return unit(bank), unit(q)
    if kind == "digits":
        bank, q = digits()
        return unit(bank), unit(q)
    rng = np.random.default_rng(0)
    return unit(rng.normal(size=(4000, 16))), unit(rng.normal(size=(300, 16)))


@pytest.fixture
def small_cluster_min(monkeypatch):
    """Let ``auto`` consider the pruned search on the small banks of these tests."""
    monkeypatch.setattr(KB, "CLUSTER_MIN_ROWS", 1000)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["classes", "digits", "random"])
@pytest.mark.parametrize("k", [1, 7, 50])
def test_backends_match_float64_reference(backend, kind, k, small_cluster_min):
    bank, q = data(kind)
    got = search_for(bank, k, backend)(q).double().numpy()
    np.testing.assert_allclose(got, kth_reference(q, bank, k), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("tile", [1, 7, 4000, 10**6])
def test_brute_tiles_of_the_bank_give_the_same_kth(tile):
    """Tiles of the bank (the last one narrower, a tile wider than the bank) and blocks of
    queries (a 1 KB buffer: a few rows each) merge into the same k-th value as one product, up
    to the product's rounding (a one-row tile is a matrix-vector product: other sums)."""
    bank, q = data("random")
    whole = KB.BruteSearch(bank, 50, 256, tile=bank.shape[0])(q)
    tiled = KB.BruteSearch(bank, 50, 256, tile=tile)
    assert tiled.tile == min(tile, bank.shape[0])
    np.testing.assert_allclose(tiled(q).numpy(), whole.numpy(), rtol=0, atol=3e-7)
    small = KB.BruteSearch(bank, 50, 1e-3, tile=tile)
    assert small.rows < q.shape[0]
    np.testing.assert_allclose(small(q).numpy(), whole.numpy(), rtol=0, atol=3e-7)
    np.testing.assert_allclose(whole.double().numpy(), kth_reference(q, bank, 50), atol=1e-6)


def test_cluster_search_prunes_on_class_structure():
    bank, q = data("classes")
    search = KB.make_search(bank, 7, "cluster")
    assert search.name == "cluster+brute"
    assert search.tree.kth_similarity(q[:400], 7) is not None
    assert search.tree.last_share < 0.5  # it really skipped pairs: the pruned path was tested


def test_cluster_on_structureless_data_falls_back_to_brute():
    bank, q = data("random")
    tree = ClusterIndex(bank)
    assert tree.kth_similarity(q, 20) is None and tree.last_share > 0.5
    assert not tree.prunes(20, 0.5)
    search = KB.make_search(bank, 20, "cluster")  # asked for: kept, chunks fall back
    np.testing.assert_allclose(search(q), kth_reference(q, bank, 20), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ties_duplicates_and_k_equal_n(backend, small_cluster_min):
    # integer vectors: many exactly equal similarities; every row present 3 times
    base = torch.tensor([[3, 4, 0], [0, 5, 0], [4, 3, 0], [0, 0, 1], [1, 1, 1]]).float()
    bank = unit(base.repeat(3, 1))
    q = torch.cat([bank[:5], unit(torch.tensor([[1.0, 2.0, 2.0], [-1.0, 0.0, 0.0]]))])
    for k in (1, 2, 3, 4, 14, 15):  # k = n = 15 included
        got = search_for(bank, k, backend)(q).double().numpy()
        np.testing.assert_allclose(got, kth_reference(q, bank, k), rtol=1e-5, atol=1e-6)


def test_scores_agree_across_backends_and_chunk_sizes(small_cluster_min):
    bank, q = digits()
    ref = kth_reference(unit(q), unit(bank), 10)
    want = np.sqrt(np.maximum(2.0 - 2.0 * ref, 0.0))
    for backend in ["faiss"] * HAS_FAISS + ["torch", "brute", "cluster", "auto"]:
        sc = create_scorer("knn", k=10, index=backend).fit(bank)
        s = sc.score(q)
        np.testing.assert_allclose(-s, want, rtol=1e-5)
        sc.chunk_rows = 37
        np.testing.assert_allclose(sc.score(q), s, rtol=1e-6, atol=1e-7)


def test_auto_rule(monkeypatch):
    small = unit(mixture(3000, 1))
    assert KB.auto_backend(small) == KB.exhaustive_cpu_backend() == "brute"
    assert KB.make_search(small, 5).name == "brute"
    assert KB.auto_backend(torch.empty(10, 4, device="meta")) == "torch"
    monkeypatch.setattr(KB, "CLUSTER_MIN_ROWS", 1000)
    monkeypatch.setattr(KB, "CLUSTER_MAX_SHARE", ((None, 0.5),))
    assert KB.make_search(small, 5).name == "cluster+brute"  # class-structured: pruned
    rnd = unit(np.random.default_rng(0).normal(size=(3000, 16)))
    assert KB.make_search(rnd, 5).name == "brute"  # the probe finds nothing to prune
    sc = create_scorer("knn", k=5).fit(small.numpy())
    assert sc.backend_ == "cluster+brute"
    monkeypatch.setattr(KB, "CLUSTER_MAX_SHARE", ((None, 0.0),))  # pruning never pays
    assert KB.make_search(small, 5).name == "brute"
    monkeypatch.setattr(KB, "CPU_EXHAUSTIVE", ("faiss", "brute"))  # the preference is a table
    assert KB.exhaustive_cpu_backend() == ("faiss" if HAS_FAISS else "brute")


def test_cluster_max_share_follows_the_thread_count(monkeypatch):
    monkeypatch.setattr(KB, "CLUSTER_MAX_SHARE", ((2, 0.25), (8, 0.15), (None, 0.08)))
    assert [KB.cluster_max_share(t) for t in (1, 2, 3, 8, 9, 64)] == [
        0.25, 0.25, 0.15, 0.15, 0.08, 0.08
    ]  # fmt: skip
    monkeypatch.setattr(torch, "get_num_threads", lambda: 5)
    assert KB.cluster_max_share() == 0.15
    bank, q = data("classes")
    search = KB.make_search(bank, 7, "cluster")
    search.tree.kth_similarity(q, 7, 1.0)
    share = search.tree.last_share
    calls = []
    real = search.fallback.__call__
    monkeypatch.setattr(search, "fallback", lambda x: calls.append(1) or real(x))
    monkeypatch.setattr(KB, "CLUSTER_MAX_SHARE", ((None, share * 0.9),))
    search(q)
    assert calls == [1]  # the limit is read at every call: over it, brute force
    monkeypatch.setattr(KB, "CLUSTER_MAX_SHARE", ((None, share * 1.1),))
    search(q)
    assert calls == [1]


def test_cluster_chunk_over_budget_uses_the_exhaustive_backend(monkeypatch):
    monkeypatch.setattr(KB, "CLUSTER_MIN_ROWS", 1000)
    monkeypatch.setattr(KB, "CLUSTER_MAX_SHARE", ((None, 0.5),))
    bank, _ = data("classes")
    search = KB.make_search(bank, 5)
    assert isinstance(search, KB.ClusterSearch)
    rnd = unit(np.random.default_rng(5).normal(size=(200, 32)))  # far from every class
    calls = []
    real = search.fallback.__call__
    monkeypatch.setattr(search, "fallback", lambda q: calls.append(len(q)) or real(q))
    search.max_share = 0.0  # nothing may be compared: every chunk goes to the fallback
    np.testing.assert_allclose(search(rnd), kth_reference(rnd, bank, 5), rtol=1e-5, atol=1e-6)
    assert calls == [200]


def test_missing_faiss_is_a_clear_input_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss -> ImportError
    assert not KB.faiss_available()
    bank = mixture(100, 1)
    with pytest.raises(InputError, match=r"index='faiss' needs .*energy-ood\[faiss\]"):
        create_scorer("knn", k=3, index="faiss").fit(bank)
    monkeypatch.setattr(KB, "CPU_EXHAUSTIVE", ("faiss", "brute"))
    sc = create_scorer("knn", k=3).fit(bank)  # auto does without it, even where preferred
    assert sc.backend_ == "brute"


@pytest.mark.skipif(not HAS_FAISS, reason="faiss-cpu not installed")
def test_faiss_nan_query_is_refused():
    bank, q = digits()
    q = q[:10].copy()
    q[3, 7] = np.nan
    kth = KB.make_search(unit(bank), 5, "faiss")(unit(q)).numpy()
    assert np.isnan(kth[3]) and np.isfinite(np.delete(kth, 3)).all()  # never a made-up value
    with pytest.raises(InputError, match="non-finite|NaN"):
        create_scorer("knn", k=5, index="faiss").fit(bank).score(q)


def test_bad_index_and_device():
    with pytest.raises(InputError, match="index must be one of"):
        create_scorer("knn", index="annoy")
    meta = torch.empty(10, 4, device="meta")
    for backend in KB.CPU_ONLY:
        with pytest.raises(InputError, match="searches on the CPU"):
            KB.make_search(meta, 2, backend)


@CUDA
@pytest.mark.parametrize("kind", ["classes", "random"])
def test_torch_backend_on_cuda(kind):
    bank, q = data(kind)
    for k in (1, 50):
        search = KB.make_search(bank.cuda(), k)
        assert search.name == "torch"
        got = search(q.cuda())
        assert got.device.type == "cuda"
        np.testing.assert_allclose(
            got.double().cpu().numpy(), kth_reference(q, bank, k), rtol=1e-5, atol=1e-6
        )


@CUDA
def test_torch_backend_on_cuda_stays_exact_when_tf32_is_allowed():
    bank, q = data("random")
    m = torch.backends.cuda.matmul
    m.allow_tf32 = True  # the legacy switch, as many scripts still set it
    try:
        got = KB.make_search(bank.cuda(), 7)(q.cuda()).double().cpu().numpy()
        assert getattr(m, "fp32_precision", "tf32" if m.allow_tf32 else "?") == "tf32"  # restored
    finally:
        m.allow_tf32 = False
    np.testing.assert_allclose(got, kth_reference(q, bank, 7), rtol=1e-5, atol=1e-6)


@CUDA
def test_knn_scorer_on_cuda_bank():
    bank, q = digits()
    cpu = create_scorer("knn", k=10, index="brute").fit(bank)
    gpu = create_scorer("knn", k=10).fit(bank)
    if hasattr(gpu, "to"):  # the common scorer contract
        gpu.to("cuda")
    else:
        gpu.bank = gpu.bank.cuda()
        gpu._prepare()
    assert gpu.backend_ == "torch"
    got = gpu._score_chunk(torch.from_numpy(q).cuda())
    assert got.device.type == "cuda"
    np.testing.assert_allclose(got.cpu().numpy(), cpu.score(q), rtol=1e-5)


def test_topk_heap_merge_matches_torch():
    g = torch.Generator().manual_seed(0)
    sims = torch.randint(0, 40, (300, 500), generator=g).float()  # many ties
    heap = _topk.new_heap(400, 25)
    rows = torch.randperm(400, generator=g)[:300]
    lo = torch.randint(0, 500, (300,), generator=g)
    hi = (lo + torch.randint(0, 100, (300,), generator=g)).clamp(max=500)
    _topk.merge(heap, rows, sims[:, :250], lo.clamp(max=250), hi.clamp(max=250))
    _topk.merge(heap, rows, sims[:, 250:], (lo - 250).clamp(0, 250), (hi - 250).clamp(0, 250))
    cols = torch.arange(500)
    masked = sims.masked_fill((cols >= lo[:, None]) & (cols < hi[:, None]), -float("inf"))
    want = masked.topk(25, dim=1).values
    got = heap[rows].sort(dim=1, descending=True).values
    assert torch.equal(got, want)
    assert torch.equal(heap[rows, 0], want[:, -1])  # the root is the k-th largest


def test_exhaustive_search_is_chosen_by_measurement(monkeypatch, tmp_path):
    monkeypatch.setenv("ENERGY_OOD_CACHE", str(tmp_path))
    monkeypatch.setattr(KB, "faiss_available", lambda: True)
    monkeypatch.setattr(KB, "_MEASURED", {})
    big = torch.zeros(KB.MEASURE_MIN_ROWS, 8)
    assert KB.exhaustive_cpu_backend(big[:100]) == "brute"  # small: no measurement
    for fast in ("faiss", "brute"):
        monkeypatch.setattr(KB, "_MEASURED", {})
        timed, slow = [], "brute" if fast == "faiss" else "faiss"

        def fake(name, bank, q, k, timed=timed, slow=slow):
            timed.append(name)
            return 0.02 if name == slow else 0.01

        monkeypatch.setattr(KB, "_time_search", fake)
        assert KB.exhaustive_cpu_backend(big) == fast
        assert sorted(timed) == ["brute", "brute", "faiss", "faiss"]  # best of 2, interleaved
        assert KB.exhaustive_cpu_backend(big) == fast and len(timed) == 4  # measured once
        monkeypatch.setattr(KB, "_MEASURED", {})  # a new process on this machine: from disk
        assert KB.exhaustive_cpu_backend(big) == fast and len(timed) == 4
        (tmp_path / "measured_choices.json").write_text("{not json")  # not ours: measured
        monkeypatch.setattr(KB, "_MEASURED", {})
        assert KB.exhaustive_cpu_backend(big) == fast and len(timed) == 8
        assert (tmp_path / "measured_choices.json").read_text() == "{not json"  # left alone
        (tmp_path / "measured_choices.json").unlink()
    monkeypatch.setenv(KB.EXHAUSTIVE_ENV, "brute")
    assert KB.exhaustive_cpu_backend(big) == "brute"
    monkeypatch.setenv(KB.EXHAUSTIVE_ENV, "annoy")
    with pytest.raises(InputError, match="ENERGY_OOD_KNN_EXHAUSTIVE='annoy'"):
        KB.exhaustive_cpu_backend(big)


@pytest.mark.skipif(not HAS_FAISS, reason="faiss-cpu not installed")
def test_measured_exhaustive_times_the_real_searches(monkeypatch, tmp_path):
    monkeypatch.setenv("ENERGY_OOD_CACHE", str(tmp_path))
    monkeypatch.setattr(KB, "_MEASURED", {})
    monkeypatch.setattr(KB, "MEASURE_BANK", 500)
    monkeypatch.setattr(KB, "MEASURE_QUERIES", 50)
    assert KB.measured_exhaustive(("brute", "faiss"), 16) in ("brute", "faiss")
