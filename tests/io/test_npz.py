""".npz members: headers checked against the member size, the ceiling and the ratio limit."""

import io
import zipfile

import numpy as np
import pytest

from energy_ood._validate import InputError
from energy_ood.io.npz import load_npz


def _npy_member(header: dict, body: bytes) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + body


def test_load_npz_checks_headers_before_allocating(tmp_path, monkeypatch):
    p = tmp_path / "a.npz"
    np.savez_compressed(p, a=np.arange(6).reshape(2, 3), b=np.ones(2, ">f4"))
    d = load_npz(p)
    assert d["a"].tolist() == [[0, 1, 2], [3, 4, 5]] and d["a"].flags.writeable
    assert load_npz(p, pick=lambda keys: ["b"]).keys() == {"b"}
    huge = {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", _npy_member(huge, bytes(64)))
    with pytest.raises(InputError, match=r"a.npz:x: header says \(1000000000000,\)"):
        load_npz(p)
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:  # ~1018x: deflate's maximum
        z.writestr("x.npy", _npy_member({**huge, "shape": (1 << 20,)}, bytes(8 << 20)))
    with pytest.raises(InputError, match="above the 1000x ratio limit"):
        load_npz(p)  # the default limit lies below what deflate can reach: bombs are refused
    body = bytearray(8 << 20)
    body[::512] = np.random.default_rng(0).integers(1, 255, len(body[::512]), np.uint8).tobytes()
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", _npy_member({**huge, "shape": (1 << 20,)}, bytes(body)))
    assert load_npz(p)["x"].shape == (1 << 20,)  # highly compressible data still loads
    monkeypatch.setenv("ENERGY_OOD_MAX_BYTES", "1M")
    with pytest.raises(InputError, match="above the limit of 1 MiB"):
        load_npz(p)
    monkeypatch.setenv("ENERGY_OOD_MAX_BYTES", "1G")
    monkeypatch.setenv("ENERGY_OOD_MAX_RATIO", "10")
    with pytest.raises(InputError, match="10x ratio limit"):
        load_npz(p)
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("o.npy", _npy_member({**huge, "descr": "|O", "shape": (1,)}, bytes(8)))
    with pytest.raises(InputError, match="Python objects"):
        load_npz(p)


def test_encrypted_or_unusual_members(tmp_path):
    p = tmp_path / "e.npz"
    np.savez(p, a=np.ones(3))
    raw = bytearray(p.read_bytes())
    raw[6] |= 1  # the local header's "encrypted" flag
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 8] |= 1  # and the central directory's
    p.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="e.npz:a: unreadable or truncated member"):
        load_npz(p)
