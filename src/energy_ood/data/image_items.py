"""The items of an image source given by path, listed without decoding anything: an image
folder, uncompressed tar shards (one, or a folder of them) and file lists.

An item is ``(reference, label)``; the reference is a file path or, for a tar member,
``(shard path, data offset, size, member name)``. Everything that could make a later read hang,
allocate without bound or give silently fewer images is refused here, with one line:

* only regular files are opened (a FIFO or device named ``x.tar`` or ``list.txt`` is refused
  without blocking), and a shard linked from a folder must lie inside that folder;
* a shard is checked whole: every member's data lies inside the file (a header announcing
  2^60 bytes is refused), and the last member is followed by the end-of-archive marker, so a
  shard cut at a member boundary is refused as the in-memory reader refuses it;
* a file list is read up to the byte ceiling; a NUL byte, an empty path, a negative label and
  a label at or above :data:`~energy_ood.data.arrays.MAX_CLASSES` are refused before any
  class list is built.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path, PurePosixPath

from .._validate import InputError
from ..io.regular_files import check_mode, open_regular, read_regular, resolve_inside
from .arrays import MAX_CLASSES
from .images import EXTENSIONS, image_files

LIST_SUFFIXES = (".txt", ".lst", ".csv")


def folder_items(root, flat: bool = False):
    """Items and class names of an image folder (flat: one class, label 0)."""
    files = image_files(root, flat=flat)
    if flat:
        return [(p, 0) for _, p in files], ["ood"]
    classes = sorted({c for c, _ in files})
    index = {c: i for i, c in enumerate(classes)}
    return [(p, index[c]) for c, p in files], classes


def shards_in(folder: Path) -> list[Path]:
    """The ``*.tar`` shards directly in ``folder``, sorted; a shard that is a link leading
    outside the folder, or is not a regular file, is refused."""
    real = Path(os.path.realpath(folder))
    out = []
    for p in sorted(folder.glob("*.tar")):
        if p.name.startswith("."):
            continue
        if p.is_symlink() and resolve_inside(p, real) is None:
            raise InputError(
                f"{p}: a symbolic link leading outside {folder} (to {os.path.realpath(p)}); "
                "copy the shard into the folder instead"
            )
        if not p.is_dir():
            try:
                check_mode(p, os.stat(p), "tar shard")
            except FileNotFoundError:
                raise InputError(f"{p}: a broken symbolic link") from None
            out.append(p)
    return out


class _Bounded:
    """A file object whose reads never ask for more than the file holds (tarfile reads a
    long-name or pax header of the size its header announces)."""

    def __init__(self, f, size: int):
        self.f, self.size = f, size

    def read(self, n: int = -1) -> bytes:
        left = max(0, self.size - self.f.tell())
        return self.f.read(left if n is None or n < 0 else min(n, left))

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.f.seek(pos, whence)

    def tell(self) -> int:
        return self.f.tell()


def _members(shard: Path, flat: bool) -> list[tuple[str, tuple]]:
    """``(class, reference)`` of a shard's image members, the shard checked whole."""
    found = []
    with open_regular(shard, "tar shard") as f:
        size = os.fstat(f.fileno()).st_size
        try:
            with tarfile.open(fileobj=_Bounded(f, size), mode="r:") as tar:
                for m in tar:
                    if m.offset_data + m.size > size:
                        raise InputError(
                            f"{shard}: truncated shard, member {m.name} announces {m.size} "
                            f"bytes, the file holds {max(0, size - m.offset_data)} after its header"
                        )
                    name = PurePosixPath(m.name)
                    if not m.isfile() or name.suffix.lower() not in EXTENSIONS:
                        continue
                    if m.issparse():
                        raise InputError(f"{shard}: member {m.name} is a sparse file (not read)")
                    if flat or len(name.parts) >= 2:
                        cls = "ood" if flat else name.parts[-2]
                        found.append((cls, (str(shard), m.offset_data, m.size, m.name)))
                end = tar.offset
        except tarfile.TarError as e:
            raise InputError(f"{shard}: not an uncompressed tar shard ({e})") from None
        except (OSError, EOFError, ValueError) as e:
            raise InputError(f"{shard}: unreadable tar shard ({e})") from None
        f.seek(end)
        block = f.read(tarfile.BLOCKSIZE)
    if len(block) < tarfile.BLOCKSIZE:
        raise InputError(
            f"{shard}: truncated shard (it ends after {end} bytes of members, without the "
            "end-of-archive marker)"
        )
    if any(block):
        raise InputError(
            f"{shard}: at byte {end} neither a member header nor the end-of-archive marker "
            "(a damaged or concatenated shard)"
        )
    return found


def tar_items(shards, flat: bool = False):
    """Items of uncompressed tar shards: members ``[...]/<class>/<image>`` (as webdataset
    writes them), or with ``flat`` every image member as one class ("ood")."""
    found = []
    for shard in map(Path, shards):
        found += _members(shard, flat)
    classes = sorted({c for c, _ in found})
    index = {c: i for i, c in enumerate(classes)}
    return [(ref, index[c]) for c, ref in found], classes


def _list_lines(list_file: Path) -> list[tuple[int, str, str]]:
    """``(line number, path, label)`` of a file list's entries."""
    data = read_regular(list_file, "file list")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{list_file}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "\0" in line:
            raise InputError(f"{list_file}: line {n}: a NUL byte (not a file list of paths)")
        path, _, label = (p.strip() for p in line.partition(","))
        if not path:
            raise InputError(f"{list_file}: line {n}: no path before the comma")
        rows.append((n, path, label or "0"))
    return rows


def _is_int(label: str) -> bool:
    return label.isascii() and label.lstrip("-").isdigit() and label.count("-") <= 1


def list_items(list_file):
    """Items of a file list: ``path[,label]`` per line (paths relative to the list's folder;
    the label an integer or a class name), '#' comments and blank lines skipped."""
    list_file = Path(list_file)
    rows = _list_lines(list_file)
    base = list_file.parent

    def where(path: str) -> Path:
        return Path(path) if os.path.isabs(path) else base / path

    names = sorted({lab for _, _, lab in rows if not _is_int(lab)})
    if names and len(names) != len({lab for _, _, lab in rows}):
        raise InputError(f"{list_file}: mixes integer labels and class names")
    if names:
        index = {c: i for i, c in enumerate(names)}
        return [(where(p), index[lab]) for _, p, lab in rows], names
    for n, _, lab in rows:  # checked as text first: a label of 10**12 allocates nothing
        digits = lab.lstrip("-").lstrip("0")
        if lab.startswith("-") and digits:
            raise InputError(f"{list_file}: line {n}: negative label {lab}")
        if len(digits) > len(str(MAX_CLASSES)) or int(digits or 0) >= MAX_CLASSES:
            raise InputError(
                f"{list_file}: line {n}: label {lab[:20]} at or above {MAX_CLASSES} (labels "
                f"are class numbers 0..{MAX_CLASSES - 1}; name the classes instead)"
            )
    k = max((int(lab) for _, _, lab in rows), default=0) + 1
    return [(where(p), int(lab)) for _, p, lab in rows], [str(i) for i in range(k)]
