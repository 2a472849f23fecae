"""Image-folder and tar-archive readers (``<class>/<image>``), decoded once and cached as .npz."""

from __future__ import annotations

import io
import tarfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from .._progress import log, progress
from .._validate import InputError
from .cache import cache_file, load_cached, save_cached

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


def _decode(items: list[tuple[str, str, bytes]], where: str):
    """Decode (class, name, bytes) items, sorted by class then name, to (x, y, classes)."""
    if not items:
        raise InputError(f"{where}: no images found (expected <class>/<image>.png|jpg)")
    items.sort(key=lambda t: (t[0], t[1]))
    classes = sorted({c for c, _, _ in items})
    index = {c: i for i, c in enumerate(classes)}
    xs = []
    for _, name, data in progress(items, desc=f"decoding {Path(where).name}", unit="img"):
        try:
            with Image.open(io.BytesIO(data)) as im:
                im = im.convert("L" if im.mode in ("1", "L", "I;16", "I") else "RGB")
                a = np.asarray(im)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise InputError(f"{where}: cannot decode image {name} ({e})") from None
        xs.append(a[..., None] if a.ndim == 2 else a)
        if xs[-1].shape[:2] != xs[0].shape[:2]:
            raise InputError(
                f"{where}: image {name} is {a.shape[1]}x{a.shape[0]}, "
                f"the first was {xs[0].shape[1]}x{xs[0].shape[0]}; all must share one size"
            )
    if any(a.shape[2] == 3 for a in xs):
        xs = [np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a for a in xs]
    y = np.array([index[c] for c, _, _ in items], dtype=np.int64)
    return np.stack(xs).astype(np.uint8), y, classes


def image_files(root: str | Path, flat: bool = False) -> list[tuple[str | None, Path]]:
    """``(class name or None, path)`` of the images under ``root``: ``root/<class>/<image>``,
    or ``root/<image>`` with ``flat``; regular files only, symlinks leading out of ``root``
    skipped, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    base = root.resolve()
    pattern = "*" if flat else "*/*"
    out = []
    for p in sorted(root.glob(pattern)):
        if p.suffix.lower() not in EXTENSIONS:
            continue
        real = p.resolve()
        if not real.is_file() or base not in real.parents:
            continue
        out.append((None if flat else p.parent.name, p))
    return out


def decode_image(data: bytes | str | Path, where: str, mode: str | None = None) -> np.ndarray:
    """One image as uint8 (H, W, C): C = 1 for grey, 3 for colour (or as ``mode`` says)."""
    if not isinstance(data, bytes):
        data = Path(data).read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as im:
            im = im.convert(mode or ("L" if im.mode in ("1", "L", "I;16", "I") else "RGB"))
            a = np.asarray(im)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise InputError(f"{where}: cannot decode image ({e})") from None
    return a[..., None] if a.ndim == 2 else a


def _cached(source: Path, tag: str, cache_dir, build):
    if cache_dir is False:
        return build()
    path = cache_file(source, tag, cache_dir)
    hit = load_cached(path)
    if hit is not None and {"x", "y", "classes"} <= hit.keys():
        return hit["x"], hit["y"].astype(np.int64), [str(c) for c in hit["classes"]]
    x, y, classes = build()
    try:
        save_cached(path, x=x, y=y, classes=np.array(classes))
    except OSError as e:
        log(f"could not write cache file {path} ({e})")
    return x, y, classes


def read_image_folder(root: str | Path, cache_dir=None):
    """Read ``root/<class>/*.png|jpg``.

    Returns ``(x uint8 (N, H, W, C), y int64 (N,), class names sorted)``. ``cache_dir=False``
    skips the cache; ``None`` uses ``ENERGY_OOD_CACHE`` or ``~/.cache/energy_ood``.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")

    def build():
        files = [p for p in sorted(root.glob("*/*")) if p.suffix.lower() in EXTENSIONS]
        items = [(p.parent.name, str(p.relative_to(root)), p.read_bytes()) for p in files]
        return _decode(items, str(root))

    return _cached(root, "folder", cache_dir, build)


def read_image_tar(path: str | Path, split: str | None = None, cache_dir=None):
    """Read a tar(.gz) of ``[top/][split/]<class>/<image>`` members.

    ``split`` (e.g. ``"train"``) keeps the members under a ``split/`` folder. Returns and caches
    like :func:`read_image_folder`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")

    def build():
        items = []
        try:
            with tarfile.open(path, "r|*") as tar:
                for m in tar:
                    parts = PurePosixPath(m.name).parts
                    if not m.isfile() or len(parts) < 2:
                        continue
                    if PurePosixPath(m.name).suffix.lower() not in EXTENSIONS:
                        continue
                    if split is not None and (len(parts) < 3 or parts[-3] != split):
                        continue
                    items.append((parts[-2], m.name, tar.extractfile(m).read()))
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise InputError(f"{path.name}: corrupt or truncated archive ({e})") from None
        where = f"{path.name}" + (f" [{split}]" if split else "")
        return _decode(items, where)

    return _cached(path, split or "all", cache_dir, build)
