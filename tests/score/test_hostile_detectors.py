"""Hostile and damaged detector files and inputs: each is refused with an InputError (exit code
2 from the CLI) and one line naming the problem; and a hypothesis fuzz of the loader, which must
give only InputError or a detector that scores valid input."""

import hashlib
import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energy_ood._validate import InputError
from energy_ood.cli.main import main
from energy_ood.score import Detector, create_scorer, fit_scorer

from ._cases import case, map_net


def fitted_detector(name: str, **params) -> tuple[Detector, np.ndarray]:
    sc = create_scorer(name, **params)
    src, x_id, _ = case(sc.input_kind)
    det = Detector(fit_scorer(sc, src)).fit(x_id)
    return det, x_id.numpy()


def write(base, meta=None, state=None, sha=True):
    """Rewrite a saved detector's JSON and/or state; keep the sha256 consistent unless asked."""
    jp, pp = base.with_suffix(".json"), base.with_suffix(".pt")
    if state is not None:
        torch.save(state, pp)
    if meta is None:
        meta = json.loads(jp.read_text())
    if sha and isinstance(meta, dict):
        meta["state_sha256"] = hashlib.sha256(pp.read_bytes()).hexdigest()
    jp.write_text(json.dumps(meta) if not isinstance(meta, str) else meta)


def saved(tmp_path, name="energy", **params):
    det, x = fitted_detector(name, **params)
    det.save(tmp_path / "det")
    meta = json.loads((tmp_path / "det.json").read_text())
    state = torch.load(tmp_path / "det.pt", weights_only=True)
    return tmp_path / "det", meta, state, x


def set_in(d, key, value):
    d = json.loads(json.dumps(d))
    d[key] = value
    return d


def drop(d, key):
    return {k: v for k, v in d.items() if k != key}


# (scorer, mutate(meta, state) -> (meta, state), message regex)
CASES = [
    (
        "energy",
        lambda m, s: (set_in(m, "threshold", float("nan")), s),
        "threshold must be a finite",
    ),
    (
        "energy",
        lambda m, s: (set_in(m, "threshold", -float("inf")), s),
        "threshold must be a finite",
    ),
    ("energy", lambda m, s: (set_in(m, "threshold", "0.5"), s), "threshold must be a finite"),
    ("energy", lambda m, s: (set_in(m, "threshold", True), s), "threshold must be a finite"),
    ("energy", lambda m, s: (set_in(m, "tpr", 1.5), s), "tpr must be"),
    ("energy", lambda m, s: (drop(m, "scorer"), s), "lacks 'scorer'"),
    ("energy", lambda m, s: ([m], s), "JSON object"),
    ("energy", lambda m, s: ("{not json", s), "invalid JSON"),
    ("energy", lambda m, s: (set_in(m, "extra", 1), s), "unknown key 'extra'"),
    ("energy", lambda m, s: (set_in(m, "params", "T=1"), s), "'params' must be an object"),
    ("energy", lambda m, s: (set_in(m, "params", {"foo": 1}), s), "no parameter 'foo'"),
    ("energy", lambda m, s: (set_in(m, "params", {"T": float("inf")}), s), "T must be finite"),
    ("energy", lambda m, s: (set_in(m, "params", {"T": -1}), s), "T must be > 0"),
    ("energy", lambda m, s: (set_in(m, "params", {"T": "1000"}), s), "T must be a number"),
    ("energy", lambda m, s: (set_in(m, "scorer", "evil"), s), "unknown scorer 'evil'"),
    ("energy", lambda m, s: (set_in(m, "scorer", ["energy"]), s), "'scorer' must be a name"),
    ("energy", lambda m, s: (set_in(m, "format", "other/1"), s), "not an energy-ood detector"),
    ("energy", lambda m, s: (set_in(m, "n_features_in", 0), s), "n_features_in must be"),
    ("energy", lambda m, s: (set_in(m, "input_kind", "features"), s), "input_kind"),
    ("energy", lambda m, s: (m, {"T": torch.tensor(1000.0)}), "unknown state key 'T'"),
    ("energy", lambda m, s: (m, [torch.ones(2)]), "must be a dict of tensors"),
    ("energy", lambda m, s: (m, "a string"), "must be a dict of tensors"),
    ("knn", lambda m, s: (m, {"bank": torch.ones(5)}), "must have 2 dimension"),
    ("knn", lambda m, s: (m, {"bank": torch.ones(3, 4)}), "unit vectors"),
    ("knn", lambda m, s: (m, {}), "lacks 'bank'"),
    ("knn", lambda m, s: (m, {"bank": "x"}), "must be a tensor"),
    ("knn", lambda m, s: (set_in(m, "params", {"k": 10**6, "index": "auto"}), s), "only 200"),
    ("knn", lambda m, s: (set_in(m, "params", {"k": 5, "index": "magic"}), s), "index must be"),
    ("knn", lambda m, s: (set_in(m, "n_features_in", 7), s), "does not match the fitted state"),
    (
        "mahalanobis",
        lambda m, s: (m, {**s, "means_w": torch.ones(3, 5)}),
        "does not match the other fitted tensors",
    ),
    ("mahalanobis", lambda m, s: (m, {**s, "classes": s["classes"].float()}), "must hold integers"),
    (
        "mahalanobis",
        lambda m, s: (m, {**s, "whiten": s["whiten"] * float("nan")}),
        "holds NaN or inf",
    ),
    ("fdbd", lambda m, s: (m, {k: v[:1] if k != "mean" else v for k, v in s.items()}), "2 classes"),
    ("temp_scaling", lambda m, s: (m, {"temperature": torch.tensor(-1.0)}), "temperature"),
    ("weighted_ebo", lambda m, s: (m, {"log_weights": torch.full((4,), -1e30)}), "every class"),
    ("react", lambda m, s: (m, {**s, "score.T": torch.tensor(2.0)}), "unknown state key"),
    (
        "odin",
        lambda m, s: (set_in(m, "params", {**m["params"], "model": "x"}), s),
        "may not set 'model'",
    ),
    # numbers JSON can spell but no detector holds (issue 18)
    ("energy", lambda m, s: (set_in(m, "threshold", 10**30), s), "an integer of 31 digits"),
    ("energy", lambda m, s: (raw(m, "threshold", "1e999"), s), "threshold must be a finite"),
    ("energy", lambda m, s: (raw(m, "threshold", "-1e400"), s), "threshold must be a finite"),
    ("energy", lambda m, s: (raw(m, "threshold", "7" * 100_000), s), "100000 digits"),
    ("energy", lambda m, s: (set_in(m, "params", {"T": 10**25}), s), "an integer of 26 digits"),
    ("energy", lambda m, s: (set_in(m, "params", {"T": 1e308 * 10}), s), "T must be finite"),
    ("energy", lambda m, s: (raw(m, "flag", "[" * 100_000 + "]" * 100_000), s), "too deeply"),
    ("energy", lambda m, s: (set_in(m, "n_features_in", 2**64), s), "n_features_in"),
]


def raw(meta, key, text) -> str:
    """The detector JSON with ``key`` spelt as ``text`` (what json.dumps would not write)."""
    return json.dumps({**meta, key: "@@"}).replace('"@@"', text)


@pytest.mark.parametrize("name,mutate,msg", CASES)
def test_hostile_detector_file(tmp_path, capsys, name, mutate, msg):
    params = {"k": 5} if name == "knn" else {}
    base, meta, state, x = saved(tmp_path, name, **params)
    new_meta, new_state = mutate(meta, state)
    write(base, new_meta, new_state if new_state is not state else None)
    with pytest.raises(InputError, match=msg) as e:
        Detector.load(base, model=map_net())
    assert len(str(e.value).splitlines()) == 1
    np.save(tmp_path / "x.npy", x)
    code = main(["detect", "predict", "--detector", str(base) + ".json",
                 "--input", str(tmp_path / "x.npy")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_state_swapped_under_the_json_is_refused(tmp_path):
    base, meta, state, _ = saved(tmp_path, "knn", k=5)
    other, *_ = saved(tmp_path / "o", "knn", k=5)
    (tmp_path / "det.pt").write_bytes(b"x" + (tmp_path / "o" / "det.pt").read_bytes()[1:])
    with pytest.raises(InputError, match="sha256 differs"):
        Detector.load(base)


def test_non_utf8_json(tmp_path):
    base, *_ = saved(tmp_path)
    base.with_suffix(".json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(InputError, match="det.json: not UTF-8"):
        Detector.load(base)


@pytest.mark.parametrize(
    "name,x,msg",
    [
        ("energy", np.ones((3, 5)), "5 columns, fitted on 4"),  # 5-class logits, 4-class detector
        ("msp", np.ones((3, 10)), "10 columns, fitted on 4"),
        ("knn", np.ones((3, 31)), "31 columns, fitted on 32"),
        ("react+msp", np.ones((3, 8)), "8 columns, fitted on 32"),
        ("energy", np.ones((3, 4), dtype=complex), "complex|real numbers"),
        ("energy", np.array([["a", "b", "c", "d"]]), "real numbers"),
        ("energy", np.ones(4), "2-D"),
    ],
)
def test_hostile_inputs(tmp_path, capsys, name, x, msg):
    det, _ = fitted_detector(name, **({"k": 5} if name == "knn" else {}))
    with pytest.raises(InputError, match=msg):
        det.predict(x)
    det.save(tmp_path / "d")
    if x.dtype.kind in "fc":
        np.save(tmp_path / "x.npy", x)
        code = main(["detect", "predict", "--detector", str(tmp_path / "d.json"),
                     "--input", str(tmp_path / "x.npy")])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("T", ["inf", "nan", "-1", "0"])
def test_bad_temperature_leaves_the_old_detector_whole(tmp_path, capsys, T):
    logits = case("logits")[1].numpy()
    np.save(tmp_path / "val.npy", logits)
    out = str(tmp_path / "det")
    assert main(["detect", "fit", "--val", str(tmp_path / "val.npy"), "--out", out]) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.glob("det.*")}
    code = main(["detect", "fit", "--val", str(tmp_path / "val.npy"), "--score", "msp",
                 "--T", T, "--out", out, "--overwrite"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "T must be" in err and len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in tmp_path.glob("det.*")} == before
    assert not list(tmp_path.glob(".det.*"))  # no temporary folder left behind


def test_output_paths_that_are_folders(tmp_path, capsys):
    logits = case("logits")[1].numpy()
    np.save(tmp_path / "val.npy", logits)
    (tmp_path / "det.json").mkdir()
    code = main(["detect", "fit", "--val", str(tmp_path / "val.npy"), "--out",
                 str(tmp_path / "det")])  # fmt: skip
    assert code == 2 and "is a folder" in capsys.readouterr().err
    assert main(["detect", "fit", "--val", str(tmp_path / "val.npy"), "--out",
                 str(tmp_path / "ok")]) == 0  # fmt: skip
    (tmp_path / "flags").mkdir()
    for flag in ("--csv", "--json"):
        code = main(["detect", "predict", "--detector", str(tmp_path / "ok.json"), "--input",
                     str(tmp_path / "val.npy"), flag, str(tmp_path / "flags")])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and "is a folder" in err and len(err.strip().splitlines()) == 1


def test_garbage_head_file(tmp_path, capsys):
    feats = case("features")[1].numpy()
    np.save(tmp_path / "f.npy", feats)
    (tmp_path / "head.pt").write_bytes(b"garbage")
    np.savez(tmp_path / "head.npz", w=np.ones(3))
    for head, msg in (("head.pt", "refused to load"), ("head.npz", "'weight'")):
        code = main(["detect", "fit", "--val", str(tmp_path / "f.npy"), "--score", "ash_s",
                     "--head", str(tmp_path / head), "--out", str(tmp_path / "d")])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and msg in err and len(err.strip().splitlines()) == 1


# --- fuzz --------------------------------------------------------------------------------------

FUZZ_SCORERS = ["energy", "knn", "mahalanobis", "react+msp", "vim", "temp_scaling", "fdbd",
                "weighted_ebo", "odin"]  # fmt: skip
_BASE: dict = {}


def _base(name, tmp):
    if name not in _BASE:
        d = tmp / name
        d.mkdir(parents=True, exist_ok=True)
        _BASE[name] = saved(d, name, **({"k": 5} if name == "knn" else {}))
    return _BASE[name]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
tensors = st.builds(
    lambda shape, dtype, fill: torch.full(shape, fill).to(dtype),
    st.lists(st.integers(0, 5), max_size=3).map(tuple),
    st.sampled_from([torch.float32, torch.float64, torch.int64, torch.bool]),
    st.floats(-10, 10) | st.sampled_from([float("nan"), float("inf")]),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(FUZZ_SCORERS),
    meta_key=st.sampled_from(
        [
            "threshold",
            "tpr",
            "params",
            "scorer",
            "n_features_in",
            "input_kind",
            "format",
            "head_name",
            "new",
            "param",
            None,
        ]
    ),  # fmt: skip
    meta_value=json_values,
    delete=st.booleans(),
    state_key=st.text(max_size=8) | st.sampled_from(["bank", "whiten", "weight", "score.x", ""]),
    state_value=tensors | json_values,
    touch_state=st.booleans(),
)
def test_fuzz_detector_loader(tmp_path, name, meta_key, meta_value, delete, state_key,
                              state_value, touch_state):  # fmt: skip
    base_dir = tmp_path.parent / "fuzz_base"
    _, meta, state, x = _base(name, base_dir)
    meta = json.loads(json.dumps(meta))
    if meta_key == "param" and meta["params"]:  # one parameter of the scorer changed
        key = sorted(meta["params"])[len(str(meta_value)) % len(meta["params"])]
        meta["params"][key] = meta_value
    elif meta_key is not None:
        if delete:
            meta.pop(meta_key, None)
        else:
            meta[meta_key] = meta_value
    state = dict(state)
    if touch_state:
        if state_key in state and delete:
            del state[state_key]
        else:
            state[state_key] = state_value
    d = tmp_path / "f"
    d.mkdir(exist_ok=True)
    torch.save(state, d / "det.pt")
    if isinstance(meta, dict):
        meta["state_sha256"] = hashlib.sha256((d / "det.pt").read_bytes()).hexdigest()
    (d / "det.json").write_text(json.dumps(meta))
    try:
        det = Detector.load(d / "det", model=map_net() if name == "odin" else None)
    except InputError as e:
        assert len(str(e).splitlines()) == 1
        return
    try:
        s = det.score_samples(x)
    except InputError:
        return
    assert s.shape == (len(x),) and np.isfinite(s).all()
    assert set(np.unique(det.predict(x))) <= {-1, 1}


def test_review_fixes_are_one_line_errors(tmp_path):
    """SHE labels outside the head's classes, a zero batch size, NaN in a detector's inputs."""
    rng = np.random.default_rng(0)
    x, w = (
        rng.normal(size=(40, 4)).astype("f4"),
        torch.tensor(rng.normal(size=(3, 4)), dtype=torch.float32),
    )
    with pytest.raises(InputError, match=r"she: labels must be class indices in 0..2, got 0..7"):
        create_scorer("she").fit(x, np.arange(40) % 8, weight=w, bias=torch.zeros(3))
    with pytest.raises(InputError, match="batch_size must be an integer >= 1"):
        Detector("energy", batch_size=0)
    det = Detector("energy").fit(rng.normal(size=(30, 5)).astype("f4"))
    det.save(tmp_path / "d")
    meta = json.loads((tmp_path / "d.json").read_text())
    meta["inputs"] = {"std": [float("nan")]}
    (tmp_path / "d.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="inputs.std must be a list of finite numbers"):
        Detector.load(tmp_path / "d.json")


def test_scorer_inputs_pass_the_real_array_check():
    x = np.ma.masked_array(np.ones((4, 3), "f4"), mask=np.eye(4, 3, dtype=bool))
    with pytest.raises(InputError, match="masked array with masked entries"):
        create_scorer("energy").score(x)
    with pytest.raises(InputError, match="not an array of numbers"):
        create_scorer("energy").score([[1.0, 2.0], [3.0]])
