"""One contract, checked over the whole registry (as scikit-learn's check_estimator).

For every name of ``available_scorers()`` (and a few ``SHAPING+SCORE`` compositions): fitted
with what it declares (``fit_scorer``) on a constructed separable case of its input kind,
higher scores mean ID; dtype and device rules hold; chunk / batch size does not change the
scores; NaN and inf inputs are refused with InputError; repr / get_params round-trip; and a
``Detector`` saved here loads and scores identically in a fresh Python process.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from energy_ood._validate import InputError
from energy_ood.metrics import auroc
from energy_ood.score import (
    INPUT_KINDS,
    NEEDS,
    Detector,
    available_scorers,
    create_scorer,
    fit_scorer,
    scorer_class,
)

from ._cases import COMPOSED, PARAMS, case

NAMES = available_scorers() + COMPOSED
ROOT = Path(__file__).resolve().parents[2]
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def fitted(name, seed=0):
    sc = create_scorer(name, **PARAMS.get(name, {}))
    src, x_id, x_ood = case(sc.input_kind, seed)
    return fit_scorer(sc, src), x_id, x_ood


def with_bad(x, value, row=3):
    x = x.clone()
    x.view(x.shape[0], -1)[row, 1] = value
    return x


def small_chunks(sc, n=7):
    sc.chunk_rows = n
    if hasattr(sc, "batch_size"):
        sc.batch_size = n


def test_registry_is_complete():
    want = {
        "msp", "maxlogit", "energy", "self_normalized_energy", "entropy", "gen", "kl_matching",
        "temp_scaling", "weighted_ebo", "odin", "mahalanobis", "mahalanobis_pre", "knn", "vim",
        "residual", "react", "ash_p", "ash_b", "ash_s", "scale", "dice", "rankfeat", "she",
        "nnguide", "fdbd", "gradnorm", "mcm", "clip_msp", "clip_energy", "clip_maxlogit",
        "delta_energy",
    }  # fmt: skip
    assert want <= set(available_scorers())
    assert set(available_scorers("similarity")) == {
        "mcm", "clip_msp", "clip_energy", "clip_maxlogit", "delta_energy"
    }  # fmt: skip
    with pytest.raises(InputError, match="unknown scorer"):
        create_scorer("nope")
    with pytest.raises(InputError, match="takes no logit score"):
        create_scorer("knn+msp")
    with pytest.raises(InputError, match="no parameter 'Q'"):
        create_scorer("energy", Q=1)


@pytest.mark.parametrize("name", NAMES)
def test_declarations(name):
    sc = create_scorer(name, **PARAMS.get(name, {}))
    assert sc.input_kind in INPUT_KINDS
    assert sc.fit_needs <= set(NEEDS) and sc.fit_accepts <= set(NEEDS)
    assert sc.fit_split in ("train", "val")
    assert not set(sc.state_keys) & set(sc.get_params())  # a .pt can never override a param
    assert sc.name.split("+")[0] == type(sc).name


@pytest.mark.parametrize("name", NAMES)
def test_higher_means_in_distribution(name):
    sc, x_id, x_ood = fitted(name)
    if name == "self_normalized_energy":  # identically 0 by design: the rebuttal's ablation
        assert np.abs(np.r_[sc.score(x_id), sc.score(x_ood)]).max() < 1e-5
        return
    a = auroc(sc.score(x_id), sc.score(x_ood))
    assert a > 0.9, f"{name}: AUROC {a:.3f} on a separable case"


@pytest.mark.parametrize("name", NAMES)
def test_dtype_device_and_call(name):
    sc, x_id, _ = fitted(name)
    s32 = sc.score(x_id.float())
    s64 = sc.score(x_id.double().numpy())
    assert isinstance(s32, np.ndarray) and s32.dtype == np.float32 and s32.ndim == 1
    assert s64.dtype == np.float64
    assert np.allclose(s32, s64, rtol=1e-4, atol=1e-4)
    assert np.array_equal(sc(x_id.float()), s32)  # callable == score
    assert sc.to("cpu") is sc
    assert sc.device is None or sc.device.type == "cpu"


@pytest.mark.parametrize("name", NAMES)
def test_chunk_size_does_not_change_scores(name):
    sc, x_id, x_ood = fitted(name)
    x = torch.cat([x_id, x_ood])
    full = sc.score(x)
    small_chunks(sc)
    # float32 products of other shapes round differently; distances expanded as
    # |a|^2 - 2ab + |b|^2 carry an absolute error of eps * |a|^2, hence the scaled atol
    assert np.allclose(sc.score(x), full, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(full).max()))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_inputs_refused(name, bad):
    sc, x_id, _ = fitted(name)
    with pytest.raises(InputError) as e:
        sc.score(with_bad(x_id, bad))
    assert len(str(e.value).splitlines()) == 1


@pytest.mark.parametrize("name", NAMES)
def test_repr_and_get_params_round_trip(name):
    sc = create_scorer(name, **PARAMS.get(name, {}))
    params = sc.get_params()
    json.dumps(params, allow_nan=False)  # plain JSON values
    again = create_scorer(name, **params)
    assert again.get_params() == params
    assert repr(again) == repr(sc) and type(sc).__name__ in repr(sc)
    assert scorer_class(name.split("+")[0]) is type(sc)


def test_unfitted_scorer_says_so():
    with pytest.raises(InputError, match="needs fit"):
        create_scorer("knn").score(np.ones((2, 3)))
    with pytest.raises(InputError, match=r"learns from in-distribution features: fit\(X\)"):
        create_scorer("knn").fit()
    with pytest.raises(InputError, match="class labels"):
        create_scorer("mahalanobis").fit(np.ones((4, 2)))
    with pytest.raises(InputError, match="final linear layer"):
        create_scorer("react").fit(np.ones((4, 2)))
    with pytest.raises(InputError, match="does not take 'labels'"):
        create_scorer("knn").fit(np.ones((4, 2)), labels=1)


FRESH = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from energy_ood.score import Detector
from tests.score._cases import map_net
assert "energy_ood.vlm" not in sys.modules
out = {}
for item in json.loads(open(sys.argv[1]).read()):
    model = map_net() if item["model"] else None
    det = Detector.load(item["path"], model=model)
    x = np.load(item["x"])
    out[item["name"]] = [det.score_samples(x).tolist(), det.predict(x).tolist(), det.threshold]
json.dump(out, open(sys.argv[3], "w"))
"""


def test_detector_round_trip_in_a_fresh_process(tmp_path):
    items, want = [], {}
    for i, name in enumerate(NAMES):
        sc, x_id, x_ood = fitted(name)
        det = Detector(sc, tpr=0.9).fit(x_id)
        x = torch.cat([x_id[:20], x_ood[:20]]).numpy()
        np.save(tmp_path / f"x{i}.npy", x)
        det.save(tmp_path / f"d{i}")
        needs_model = sc.input_kind == "inputs"
        items.append({"name": name, "path": str(tmp_path / f"d{i}.json"),
                      "x": str(tmp_path / f"x{i}.npy"), "model": needs_model})  # fmt: skip
        want[name] = (det.score_samples(x), det.predict(x), det.threshold)
    (tmp_path / "items.json").write_text(json.dumps(items))
    r = subprocess.run(
        [sys.executable, "-c", FRESH, str(tmp_path / "items.json"), str(ROOT),
         str(tmp_path / "out.json")],
        capture_output=True, text=True, cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads((tmp_path / "out.json").read_text())
    for name, (scores, labels, thr) in want.items():
        s, lab, t = got[name]
        assert t == thr, name
        assert np.allclose(s, scores, rtol=1e-6, atol=1e-7), name
        assert lab == labels.tolist(), name


@CUDA
@pytest.mark.parametrize("name", NAMES)
def test_cuda_follows_fitted_device(name):
    sc_cpu, x_id, x_ood = fitted(name)
    sc = create_scorer(name, **PARAMS.get(name, {}))
    src, _, _ = case(sc.input_kind)
    dev = torch.device("cuda")
    src.train = {k: v.to(dev) for k, v in src.train.items()}
    src.val = {k: v.to(dev) for k, v in src.val.items()}
    if src.class_weights is not None:
        src.class_weights = src.class_weights.to(dev)
    if src.model is not None:
        src.model = src.model.to(dev)
        if sc.input_kind == "inputs":
            src.head = src.model.fc
    fit_scorer(sc, src)
    assert sc.device is None or sc.device.type == "cuda"
    x = torch.cat([x_id, x_ood])
    got = sc.score(x.numpy())  # numpy in, moved chunk by chunk; CPU numpy out
    assert isinstance(got, np.ndarray)
    assert np.allclose(got, sc_cpu.score(x), rtol=1e-3, atol=1e-3)
    got_t = sc.score(x.to(dev))  # a CUDA tensor in
    assert np.allclose(got_t, got, rtol=1e-5, atol=1e-5)


@CUDA
def test_cuda_metrics_accept_device_tensors():
    from energy_ood.metrics import OODMetrics, ood_metrics

    a, b = torch.randn(100, device="cuda") + 1, torch.randn(80, device="cuda")
    assert ood_metrics(a, b) == ood_metrics(a.cpu().numpy(), b.cpu().numpy())
    m = OODMetrics()
    m.update(torch.cat([a, b]), torch.cat([torch.zeros(100), torch.ones(80)]).bool().cuda())
    assert m.compute() == ood_metrics(a.cpu(), b.cpu())
