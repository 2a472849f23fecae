"""Pictures that ship inside Debian or PyPI packages, read as OOD test sets or outlier sources.

Each source is a list of pictures (float (C, H, W) in [0, 1]) that :mod:`.ood_sets` crops. The
files are looked for under ``data_root/<folder>``, then ``$ENERGY_OOD_DATA_ROOT/<folder>``, then
the package's system path; a source whose files are absent raises InputError naming the Debian
package to install (``scripts/setup.sh`` installs them).

Only regular files inside the folder are read (a symlink whose target leaves the folder, a FIFO
or a device is skipped); a picture over ``MAX_PIXELS`` or ``MAX_BYTES`` is skipped with a note,
and so is a byte-for-byte copy of an earlier file (one picture, counted once). A package whose
folder is shared with other packages (``/usr/share/backgrounds``) names its files (``only``).
Large JPEGs are decoded at a reduced scale (at least ``DECODE_SIDE`` pixels on the shorter side),
which is plenty for crops that end at 28 or 32 pixels. A picture with transparency (a cut-out
stamp) is cropped to its opaque part and composited on white.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .._validate import InputError
from ..runtime.progress import log
from .package_list import PACKAGES, Package  # noqa: F401  (re-exported)

MAX_PIXELS = 40_000_000
MAX_BYTES = 64 * 1024 * 1024
DECODE_SIDE = 512


def _sklearn_images_dir() -> str:
    import sklearn.datasets

    return str(Path(sklearn.datasets.__file__).parent / "images")


def package_root(name: str, data_root=None) -> Path | None:
    """The first folder holding source ``name``'s files, or None."""
    if name == "sklearn-photos":
        return Path(_sklearn_images_dir())
    pkg = PACKAGES[name]
    roots = [Path(r).expanduser() / pkg.folder for r in (data_root, os.environ.get(
        "ENERGY_OOD_DATA_ROOT")) if r]  # fmt: skip
    for cand in [*roots, Path(pkg.system)]:
        if cand.is_dir():
            return cand
    return None


def list_files(root: Path, extensions, exclude_dirs=()) -> list[Path]:
    """Regular files under ``root`` with one of ``extensions``, sorted; symlinks that leave
    ``root`` and anything that is not a regular file are skipped."""
    real_root = root.resolve()
    out = []
    for dirpath, dirnames, filenames in os.walk(root):  # does not descend into symlinked dirs
        dirnames[:] = sorted(d for d in dirnames if d not in exclude_dirs)
        for fn in sorted(filenames):
            p = Path(dirpath) / fn
            if p.suffix.lower() not in extensions:
                continue
            try:
                target = p.resolve(strict=True)
            except OSError:
                continue
            if not target.is_relative_to(real_root) or not target.is_file():
                continue
            out.append(p)
    return out


def read_gimp_pattern(data: bytes, where: str) -> np.ndarray:
    """A GIMP pattern (.pat, "GPAT" v1) as uint8 (H, W, 1 or 3)."""
    if len(data) < 24:
        raise InputError(f"{where}: not a GIMP pattern (file of {len(data)} bytes)")
    hsize, version, w, h, depth = struct.unpack(">5I", data[:20])
    if data[20:24] != b"GPAT" or version != 1 or not 1 <= depth <= 4:
        raise InputError(f"{where}: not a GIMP pattern (bad magic, version or depth)")
    if not (w and h) or w * h > MAX_PIXELS or not 24 <= hsize <= len(data):
        raise InputError(f"{where}: GIMP pattern header gives {w}x{h}, header {hsize} bytes")
    if hsize + w * h * depth > len(data):
        raise InputError(f"{where}: truncated GIMP pattern ({w}x{h}x{depth} pixels announced)")
    a = np.frombuffer(data, np.uint8, count=w * h * depth, offset=hsize).reshape(h, w, depth)
    return a[..., :1] if depth <= 2 else a[..., :3]  # drop alpha


def _decode(data: bytes, where: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PIXELS:
                raise InputError(f"{where}: {im.width}x{im.height} pixels, over {MAX_PIXELS}")
            side = min(im.width, im.height)
            if im.format == "JPEG" and side > 2 * DECODE_SIDE:
                scale = side / DECODE_SIDE
                im.draft("RGB", (int(im.width / scale), int(im.height / scale)))
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                im = _on_white(im, where)
            im = im.convert("L" if im.mode in ("1", "L", "I;16", "I") else "RGB")
            a = np.asarray(im)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise InputError(f"{where}: cannot decode image ({e})") from None
    return a[..., None] if a.ndim == 2 else a


def _on_white(im: Image.Image, where: str) -> Image.Image:
    """A picture with transparency cropped to its opaque part and composited on white."""
    im = im.convert("RGBA")
    box = im.getchannel("A").getbbox()
    if box is None:
        raise InputError(f"{where}: fully transparent picture")
    im = im.crop(box)
    return Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), im)


def _to_tensor(a: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.array(a)).permute(2, 0, 1).float().div_(255.0)
    side = min(t.shape[1:])
    if side > DECODE_SIDE:  # bound the memory of every later resize
        from . import transforms as T

        h, w = t.shape[1:]
        t = T.resize(t[None], (round(h * DECODE_SIDE / side), round(w * DECODE_SIDE / side)))[0]
    return t.contiguous()


def load_named_pictures(name: str, data_root=None) -> list[tuple[str, torch.Tensor]]:
    """``(name, picture)`` of every picture of packaged source ``name``: its path inside the
    package's folder and the picture as float (C, H, W) in [0, 1]."""
    if name == "sklearn-photos":
        root = package_root(name)
        files = [root / "china.jpg", root / "flower.jpg"]
        if not all(f.is_file() for f in files):
            raise InputError(f"sklearn-photos: china.jpg / flower.jpg not found in {root}")
        return [(f.name, _to_tensor(_decode(f.read_bytes(), str(f)))) for f in files]
    pkg = PACKAGES[name]
    root = package_root(name, data_root)
    if root is None:
        raise InputError(
            f"{name}: pictures not found (looked for <data-root>/{pkg.folder} and "
            f"{pkg.system}); {pkg.install}"
        )
    pics, seen = [], set()
    for f in list_files(root, pkg.extensions, pkg.exclude_dirs):
        rel = f.relative_to(root).as_posix()
        if not pkg.wants(rel):
            continue
        if f.stat().st_size > MAX_BYTES:
            log(f"{name}: {f} skipped (over {MAX_BYTES // 2**20} MB)")
            continue
        data = f.read_bytes()
        digest = hashlib.sha256(data).digest()
        if digest in seen:
            log(f"{name}: {rel} skipped (a copy of an earlier file)")
            continue
        seen.add(digest)
        try:
            a = read_gimp_pattern(data, str(f)) if f.suffix == ".pat" else _decode(data, str(f))
        except InputError as e:
            log(f"{name}: skipped ({e})")
            continue
        pics.append((rel, _to_tensor(a)))
    if not pics:
        raise InputError(f"{name}: no readable pictures in {root}")
    return pics


def load_pictures(name: str, data_root=None) -> list[torch.Tensor]:
    """Every picture of packaged source ``name`` as float (C, H, W) in [0, 1]."""
    return [pic for _, pic in load_named_pictures(name, data_root)]
