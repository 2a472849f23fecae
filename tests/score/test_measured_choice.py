"""A choice measured once per machine, kept in the cache root: read back, refused when it is not
one of the allowed values, and never an error when the file cannot be read or written."""

from energy_ood.score import _measured_choice as MC


def test_round_trip_and_allowed_values(monkeypatch, tmp_path):
    monkeypatch.setenv("ENERGY_OOD_CACHE", str(tmp_path))
    key = MC.machine_key("knn exhaustive", 128, 2)
    assert key.endswith("| knn exhaustive | 128 | 2") and MC.load_choice(key, ("a", "b")) is None
    MC.save_choice(key, "b")
    MC.save_choice("other", "a")
    assert MC.load_choice(key, ("a", "b")) == "b"
    assert MC.load_choice(key, ("a",)) is None  # a stored value no longer allowed: measure
    assert MC.load_choice("other", ("a",)) == "a"


def test_unreadable_or_unwritable_cache_is_only_a_new_measurement(monkeypatch, tmp_path):
    f = tmp_path / MC.FILE
    monkeypatch.setenv("ENERGY_OOD_CACHE", str(tmp_path))
    f.write_bytes(b"[1, 2]")  # JSON, not an object: not ours, left alone
    MC.save_choice("k", "a")
    assert f.read_bytes() == b"[1, 2]" and MC.load_choice("k", ("a",)) is None
    f.write_bytes(b" " * (MC.MAX_BYTES + 1))  # too large to be ours: left alone
    MC.save_choice("k", "a")
    assert f.stat().st_size == MC.MAX_BYTES + 1 and MC.load_choice("k", ("a",)) is None
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    monkeypatch.setenv("ENERGY_OOD_CACHE", str(blocked / "cache"))  # its parent is a file
    MC.save_choice("k", "a")  # no error
    assert MC.load_choice("k", ("a",)) is None
