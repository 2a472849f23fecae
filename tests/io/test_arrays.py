"""load_array: key selection, dtypes, CSV headers, odd paths, and a fuzz test."""

import io
import os
import warnings
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energy_ood._validate import InputError, as_tensor_2d
from energy_ood.data.sources import load_array, split_key


def one_line(e) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg
    return msg


@pytest.fixture
def bundle(tmp_path):
    rng = np.random.default_rng(0)
    d = {"logits": rng.normal(size=(5, 3)), "features": rng.normal(size=(5, 8))}
    np.savez(tmp_path / "b.npz", **d)
    torch.save({k: torch.from_numpy(v) for k, v in d.items()}, tmp_path / "b.pt")
    return tmp_path, d


@pytest.mark.parametrize("ext", ["npz", "pt"])
def test_bundle_key_selector_and_kind(bundle, ext):
    tmp, d = bundle
    p = tmp / f"b.{ext}"
    assert np.allclose(load_array(f"{p}:features"), d["features"])
    assert np.allclose(load_array(p, kind="features"), d["features"])
    assert np.allclose(load_array(p, kind="logits"), d["logits"])
    with pytest.raises(InputError, match=r"several arrays \(logits, features\)") as e:
        load_array(p)  # ambiguous: never a silent guess
    assert f"{p}:KEY" in one_line(e)
    with pytest.raises(InputError, match="none is named 'scores'"):
        load_array(p, kind="scores")
    with pytest.raises(InputError, match="no array named 'feats'; it holds logits, features"):
        load_array(f"{p}:feats")


def test_single_array_bundles_and_selector_rules(tmp_path):
    np.savez(tmp_path / "one.npz", whatever=np.arange(4.0))
    assert load_array(tmp_path / "one.npz", kind="scores").tolist() == [0, 1, 2, 3]
    np.save(tmp_path / "a.npy", np.arange(3))
    with pytest.raises(InputError, match="needs an .npz or .pt"):
        load_array(f"{tmp_path / 'a.npy'}:x")
    odd = tmp_path / "odd.npz:x"  # a file whose name holds the colon wins
    with open(odd, "wb") as f:
        np.savez(f, y=np.ones(2))
    assert split_key(odd) == (odd, None)
    assert split_key("C:/data/a.npy") == (split_key("C:/data/a.npy")[0], None)
    torch.save(torch.ones(2, dtype=torch.bfloat16), tmp_path / "h.pt")
    assert load_array(tmp_path / "h.pt").dtype == np.float32
    torch.save({"n": 3, "t": torch.arange(3)}, tmp_path / "d.pt")
    assert load_array(tmp_path / "d.pt").tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    "make,word",
    [
        (lambda p: np.save(p / "c.npy", np.ones(3, np.complex64)), "complex"),
        (lambda p: torch.save(torch.ones(3, dtype=torch.complex64), p / "c.pt"), "complex"),
        (lambda p: np.save(p / "c.npy", np.ones(3, "m8[s]")), "timedelta"),
        (lambda p: np.save(p / "c.npy", np.array(["a"])), "text"),
        (lambda p: np.save(p / "c.npy", np.array([1, None]), allow_pickle=True), "objects"),
        (lambda p: torch.save({"a": torch.ones(2), "b": object()}, p / "c.pt"), "refused"),
        (lambda p: np.savez(open(p / "c.npy", "wb"), a=np.ones(2)), "an .npz archive"),
    ],
)
def test_refused_contents(tmp_path, make, word):
    make(tmp_path)
    (p,) = [q for q in tmp_path.iterdir() if q.name.startswith("c.")]
    with pytest.raises(InputError, match=word) as e:
        load_array(p)
    assert str(p) in one_line(e)


def test_big_endian_and_longdouble_converted(tmp_path):
    np.save(tmp_path / "be.npy", np.arange(4, dtype=">f4").reshape(2, 2))
    a = load_array(tmp_path / "be.npy")
    assert a.dtype == np.float32 and a.dtype.isnative and a.tolist() == [[0, 1], [2, 3]]
    np.save(tmp_path / "ld.npy", np.array([0.5, 2.0], dtype=np.longdouble))
    assert load_array(tmp_path / "ld.npy").dtype == np.float64


def test_read_only_file_no_warning(tmp_path):
    p = tmp_path / "ro.npy"
    np.save(p, np.ones((4, 3), np.float32))
    os.chmod(p, 0o444)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = load_array(p)
        t = as_tensor_2d(a, "x")
        a[0, 0] = 5  # copy-on-write: the file is not changed
    assert t.shape == (4, 3) and np.load(p)[0, 0] == 1


@pytest.mark.parametrize(
    "text,want",
    [
        ("1,2\n3,4\n", [[1, 2], [3, 4]]),
        ("a,b\n1,2\n", [[1, 2]]),
        ("# note\nscore\n0.5\n0.25\n", [0.5, 0.25]),
        (",logit0\n1,2\n", [[1, 2]]),
    ],
)
def test_csv_headers(tmp_path, text, want):
    (tmp_path / "s.csv").write_text(text)
    assert load_array(tmp_path / "s.csv").tolist() == want


@pytest.mark.parametrize(
    "text,msg",
    [
        ("1,NA\n3,4\n", r"row 1, column 2: 'NA' is not a number"),
        ("a,b\n1,2\n3,x\n", r"row 3, column 2: 'x' is not a number"),
        ("1,2\n3\n", r"row 2 has 1 columns, the rows above 2"),
        ("", "empty file"),
        ("a,b\n", "a header but no rows"),
    ],
)
def test_csv_errors(tmp_path, text, msg):
    (tmp_path / "s.csv").write_text(text)
    with pytest.raises(InputError, match=msg) as e:
        load_array(tmp_path / "s.csv")
    one_line(e)


def test_csv_not_utf8(tmp_path):
    (tmp_path / "s.csv").write_bytes(b"\xff\xfe1,2\n")
    with pytest.raises(InputError, match="not UTF-8"):
        load_array(tmp_path / "s.csv")


def test_paths_that_are_not_files(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="no such file"):
        load_array(tmp_path / "absent.npy")
    with pytest.raises(InputError, match="is a folder"):
        load_array(tmp_path)
    os.mkfifo(tmp_path / "x.npy")
    with pytest.raises(InputError, match="FIFO"):
        load_array(tmp_path / "x.npy")
    (tmp_path / "a.xyz").write_text("1")
    with pytest.raises(InputError, match="unknown file type"):
        load_array(tmp_path / "a.xyz")
    np.save(tmp_path / "ok.csv.npy", np.ones(2))
    real_stat = os.stat

    def denied(path, *a, **k):
        if str(path).endswith("secret.npy"):
            raise PermissionError(13, "Permission denied")
        return real_stat(path, *a, **k)

    monkeypatch.setattr(os, "stat", denied)
    with pytest.raises(InputError, match="secret.npy: permission denied"):
        load_array(tmp_path / "secret.npy")


def _valid_files() -> dict[str, bytes]:
    """Small valid files of each type, to truncate and mutate."""
    out = {}
    buf = io.BytesIO()
    np.save(buf, np.arange(12, dtype=np.float32).reshape(3, 4))
    out[".npy"] = buf.getvalue()
    buf = io.BytesIO()
    np.savez_compressed(buf, logits=np.ones((2, 3)), features=np.zeros((2, 5), ">f8"))
    out[".npz"] = buf.getvalue()
    buf = io.BytesIO()
    torch.save({"logits": torch.ones(2, 3), "features": torch.zeros(2, 2)}, buf)
    out[".pt"] = buf.getvalue()
    out[".csv"] = b"a,b\n1,2\n3,4\n"
    return out


VALID = _valid_files()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ext=st.sampled_from(sorted(VALID)),
    how=st.sampled_from(["random", "truncate", "flip"]),
    data=st.binary(max_size=300),
    cut=st.floats(0, 1),
    kind=st.sampled_from([None, "logits", "features"]),
)
def test_fuzz_load_array(tmp_path_factory, ext, how, data, cut, kind):
    """Random bytes, truncated and bit-flipped valid files: an InputError or a real array."""
    blob = VALID[ext]
    if how == "random":
        blob = data
    elif how == "truncate":
        blob = blob[: int(cut * len(blob))]
    else:
        pos = int(cut * (len(blob) - 1))
        blob = blob[:pos] + bytes([blob[pos] ^ (data[:1] or b"\x01")[0]]) + blob[pos + 1 :]
    p = tmp_path_factory.mktemp("fuzz") / f"f{ext}"
    p.write_bytes(blob)
    try:
        a = load_array(p, kind=kind)
    except InputError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert isinstance(a, np.ndarray) and a.dtype.kind in "biuf" and a.dtype.isnative


@pytest.mark.parametrize("dtype", ["<c8", ">i2", "<f2", "|b1", "<u8", ">c16", "<M8[D]", "|V4"])
def test_odd_dtypes_in_npz(tmp_path, dtype):
    a = np.zeros(3, dtype=dtype)
    with zipfile.ZipFile(tmp_path / "o.npz", "w") as z:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, a)
        z.writestr("x.npy", buf.getvalue())
    try:
        got = load_array(tmp_path / "o.npz")
    except InputError as e:
        assert np.dtype(dtype).kind in "cMV" and "\n" not in str(e)
        return
    assert got.dtype.kind in "biuf" and got.dtype.isnative and len(got) == 3
