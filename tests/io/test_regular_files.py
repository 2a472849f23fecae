"""Regular files only, and the byte ceiling."""

import os

import pytest

from energy_ood._validate import InputError
from energy_ood.io.regular_files import open_regular, read_regular, regular_file
from energy_ood.io.size_limits import max_bytes


def test_max_bytes_env(monkeypatch):
    monkeypatch.setenv("ENERGY_OOD_MAX_BYTES", "2K")
    assert max_bytes() == 2048
    monkeypatch.setenv("ENERGY_OOD_MAX_BYTES", "0")
    with pytest.raises(InputError, match="ENERGY_OOD_MAX_BYTES"):
        max_bytes()


def test_regular_files_only(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="no such file"):
        regular_file(tmp_path / "absent")
    with pytest.raises(InputError, match="is a folder"):
        regular_file(tmp_path)
    os.mkfifo(tmp_path / "x.png")
    with pytest.raises(InputError, match="FIFO"):
        open_regular(tmp_path / "x.png")  # returns at once, never blocks on the pipe
    with pytest.raises(InputError, match="character device"):
        read_regular("/dev/zero")
    (tmp_path / "big").write_bytes(bytes(100))
    with pytest.raises(InputError, match="above the limit"):
        read_regular(tmp_path / "big", limit=50)

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(InputError, match="permission denied"):
        open_regular(tmp_path / "big")
