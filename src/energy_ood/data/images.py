"""Images from folders (``<class>/<image>`` or flat) and tar archives, safely enumerated and
decoded, cached as .npz.

- :func:`image_files` lists regular image files only: hidden names are skipped, a FIFO or
  device named like an image is an error (it is never opened), and a symbolic link leading
  outside the folder is an error.
- :func:`decode_image` refuses images above :func:`max_pixels` (env ``ENERGY_OOD_MAX_PIXELS``,
  else :data:`MAX_PIXELS`) from their header, before any pixel is decoded.
- :func:`read_image_tar` reads an archive as a stream and refuses one that is truncated
  anywhere, even at a member boundary (end-of-archive marker and gzip trailer checked).
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import warnings
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, features

from .._validate import InputError
from ..io.decompress import Stream
from ..io.regular_files import check_mode, open_regular, os_error, read_regular, resolve_inside
from ..io.size_limits import check_bytes
from ..runtime.progress import log, progress
from .cache import cache_file, load_cached, save_cached
from .png_check import short_rows

MAX_PIXELS = 64_000_000
FORMATS = ("PNG", "JPEG", "BMP") + (("WEBP",) if features.check("webp") else ())
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp") + ((".webp",) if "WEBP" in FORMATS else ())
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")


def max_pixels() -> int:
    """The pixel cap: env ``ENERGY_OOD_MAX_PIXELS``, else :data:`MAX_PIXELS`."""
    env = os.environ.get("ENERGY_OOD_MAX_PIXELS", "").strip()
    try:
        v = int(float(env)) if env else MAX_PIXELS
    except ValueError:
        v = 0
    if v < 1:
        raise InputError(f"ENERGY_OOD_MAX_PIXELS must be a positive number, got {env!r}")
    return v


def _is_image(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in EXTENSIONS


def _scan(folder: Path) -> list[os.DirEntry]:
    """Entries of ``folder`` not starting with ".", sorted by name."""
    try:
        with os.scandir(folder) as it:
            return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as e:
        raise os_error(folder, e) from None


def _inside(e: os.DirEntry, root: Path, real_root: Path) -> None:
    """Refuse a symbolic link resolving outside the root."""
    if e.is_symlink() and resolve_inside(e.path, real_root) is None:
        raise InputError(
            f"{e.path}: a symbolic link leading outside {root} "
            f"(to {os.path.realpath(e.path)}); copy the file into the folder instead"
        )


def image_files(root, flat: bool = False) -> list[tuple[str | None, Path]]:
    """``(class, path)`` of every image under ``root``, sorted by class, then file name.

    ``flat=False``: ``root/<class>/<image>``, one level of class sub-folders (files directly in
    ``root`` and deeper folders are not read). ``flat=True``: ``root/<image>``, class None.
    Extensions: :data:`EXTENSIONS` (case-insensitive); names starting with "." are skipped.
    A FIFO, device or socket named like an image, a broken link, and a symbolic link
    (image file or class folder) resolving outside ``root`` are errors.
    """
    root = Path(root)
    try:
        st = os.stat(root)
    except FileNotFoundError:
        raise InputError(f"{root}: no such folder") from None
    except OSError as e:
        raise os_error(root, e) from None
    if not stat.S_ISDIR(st.st_mode):
        raise InputError(f"{root}: not a folder (expected a folder of images)")
    real_root = Path(os.path.realpath(root))
    folders = [(None, root)] if flat else []
    for e in [] if flat else _scan(root):
        if e.is_dir():
            _inside(e, root, real_root)
            folders.append((e.name, Path(e.path)))
    out = []
    for cls, folder in folders:
        for e in _scan(folder):
            if not _is_image(e.name) or e.is_dir():
                continue
            _inside(e, root, real_root)
            if not e.is_file():
                _refuse_special(Path(e.path))
            out.append((cls, Path(e.path)))
    return out


def _refuse_special(path: Path):
    try:
        st = os.stat(path)
    except OSError as e:
        if isinstance(e, FileNotFoundError):
            raise InputError(f"{path}: a broken symbolic link") from None
        raise os_error(path, e) from None
    check_mode(path, st, "image file")


# what a file that is not one of FORMATS is, from its first bytes (for the one-line refusal)
_MAGIC = (
    (b"GIF87a", "a GIF image"), (b"GIF89a", "a GIF image"), (b"II*\0", "a TIFF image"),
    (b"MM\0*", "a TIFF image"), (b"%PDF", "a PDF document"), (b"PK\3\4", "a zip archive"),
    (b"\x1f\x8b", "gzip-compressed data"), (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\0", "xz-compressed data"), (b"\x00\x00\x01\x00", "an ICO icon"),
    (b"\x93NUMPY", "a NumPy .npy array"), (b"<svg", "an SVG drawing"), (b"<?xml", "an XML file"),
)  # fmt: skip
_SIGNATURES = {b"\x89PNG": "PNG", b"\xff\xd8": "JPEG", b"BM": "BMP", b"RIFF": "WebP"}


def what_bytes(data: bytes) -> str:
    """A few words on what ``data`` holds when it is not an image we read."""
    if not data:
        return "an empty file"
    hit = next((what for magic, what in _MAGIC if data.startswith(magic)), None)
    if hit:
        return hit
    if len(data) > 262 and data[257:262] == b"ustar":
        return "a tar archive"
    head = data[:512]
    for cut in range(4):  # the first 512 bytes may end inside a character
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if all(c.isprintable() or c in "\t\r\n" for c in text):
            return "text"
        break
    return "not an image file"


def _signature(data: bytes) -> str | None:
    """The format whose signature ``data`` starts with (PNG, JPEG, BMP, WebP), else None."""
    return next((name for sig, name in _SIGNATURES.items() if data.startswith(sig)), None)


def _refuse_format(data: bytes, where: str, formats) -> None:
    """Refuse data that is not one of ``formats`` from its first bytes, naming what it is."""
    if formats is FORMATS and _signature(data) is None:
        kind = what_bytes(data)
        ext = os.path.splitext(where)[1]
        named = f" named {ext}" if ext else ""
        raise InputError(
            f"{where}: {kind}{named}; only {', '.join(FORMATS)} images are read (convert it)"
        )


def _to_uint8(im: Image.Image, want: str) -> np.ndarray:
    """Pixels as uint8 in ``want`` mode; 16-bit grey is scaled (v / 257, rounded), never
    clipped to white, so a 16-bit copy of an 8-bit image gives the same numbers."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(im).astype(np.int64)
        a = ((np.clip(a, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2) if want == "RGB" else a
    return np.asarray(im.convert(want))


def decode_image(data_or_path, where: str, mode: str | None = None, formats=FORMATS) -> np.ndarray:
    """Decode one PNG/JPEG/BMP(/WebP) image to uint8 ``(H, W, C)``.

    ``mode=None`` gives C = 1 for grey sources and 3 otherwise; ``"L"`` or ``"RGB"`` force it.
    ``data_or_path`` is the encoded bytes or a path (a regular file). Images above
    :func:`max_pixels` are refused from the header; every failure is one InputError line
    starting with ``where``. Other formats (a GIF or TIFF, also when named ``.png``) are
    refused, naming what the file is; ``formats`` widens the set (Pillow format names).
    16-bit images are scaled to 8 bits.
    """
    if mode not in (None, "L", "RGB"):
        raise InputError(f"decode_image: mode must be None, 'L' or 'RGB', got {mode!r}")
    if isinstance(data_or_path, (str, os.PathLike)):
        data = read_regular(data_or_path, "image file")
    else:
        data = bytes(data_or_path)
    _refuse_format(data, where, formats)
    cap = max_pixels()
    if Image.MAX_IMAGE_PIXELS is not None and cap > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = cap  # ours is the limit; Pillow's must not be lower
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's bomb and palette warnings: checked here
            with Image.open(io.BytesIO(data), formats=formats) as im:
                w, h = im.size
                if w * h > cap:
                    raise InputError(
                        f"{where}: image of {w}x{h} = {w * h} pixels, above the limit of "
                        f"{cap} (raise ENERGY_OOD_MAX_PIXELS if this is intended)"
                    )
                short = short_rows(data) if im.format == "PNG" else None
                if short:
                    raise InputError(
                        f"{where}: its PNG image data ends after {short[0]} of the {short[1]} "
                        f"bytes its {w}x{h} header announces (a lying header or a cut file)"
                    )
                a = _to_uint8(im, mode or ("L" if im.mode in GREY_MODES else "RGB"))
    except InputError:
        raise
    except Image.DecompressionBombError as e:
        raise InputError(f"{where}: image too large ({e})") from None
    except Image.UnidentifiedImageError:
        kind = _signature(data)
        what = f"a damaged or truncated {kind} image" if kind else what_bytes(data)
        raise InputError(f"{where}: {what} (its header cannot be read)") from None
    except MemoryError:
        raise InputError(f"{where}: too large to decode in this process's memory") from None
    except Exception as e:  # a decoder of untrusted bytes may raise anything
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{where}: cannot decode image ({msg})") from None
    return a[..., None] if a.ndim == 2 else a


def _assemble(decoded, n: int, where: str):
    """Stack ``(class, name, array)`` triples (sorted by class, then name) to (x, y, classes)."""
    xs, labels, total = [], [], 0
    for cls, name, a in progress(decoded, total=n, desc=f"decoding {where}", unit="img"):
        if xs and a.shape[:2] != xs[0].shape[:2]:
            raise InputError(
                f"{where}: image {name} is {a.shape[1]}x{a.shape[0]}, "
                f"the first was {xs[0].shape[1]}x{xs[0].shape[0]}; all must share one size"
            )
        total += a.shape[0] * a.shape[1] * 3
        check_bytes(total, f"{where}: decoded images")
        xs.append(a)
        labels.append(cls)
    if not xs:
        raise InputError(f"{where}: no images found (expected <class>/<image>.png|jpg)")
    if any(a.shape[2] == 3 for a in xs):
        xs = [np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a for a in xs]
    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[c] for c in labels], dtype=np.int64)
    return np.stack(xs), y, classes


def _cached(source: Path, tag: str, cache_dir, build, files=None):
    if cache_dir is False:
        return build()
    path = cache_file(source, tag, cache_dir, files=files)
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
    """Read ``root/<class>/<image>`` (see :func:`image_files`).

    Returns ``(x uint8 (N, H, W, C), y int64 (N,), class names sorted)``. ``cache_dir=False``
    skips the cache; ``None`` uses ``ENERGY_OOD_CACHE`` or ``~/.cache/energy_ood``.
    """
    root = Path(root)
    files = image_files(root)
    if not files:
        loose = [p for _, p in image_files(root, flat=True)]
        hint = f"; {len(loose)} images lie directly in it, class sub-folders are needed" * bool(
            loose
        )
        raise InputError(f"{root}: no images found (expected <class>/<image>.png|jpg){hint}")

    def build():
        decoded = ((c, p.name, decode_image(p, f"{root}/{p.relative_to(root)}")) for c, p in files)
        return _assemble(decoded, len(files), root.name)

    return _cached(root, "folder", cache_dir, build, files=[p for _, p in files])


def _tar_items(path: Path, split: str | None) -> list[tuple[str, str, bytes]]:
    """``(class, member name, bytes)`` of the archive's images, the archive checked whole."""
    items, total = [], 0
    with open_regular(path, "archive") as f:
        stream = Stream(f, path.name)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for m in tar:
                    parts = PurePosixPath(m.name).parts
                    if not m.isfile() or len(parts) < 2 or not _is_image(parts[-1]):
                        continue
                    if split is not None and (len(parts) < 3 or parts[-3] != split):
                        continue
                    total += m.size
                    check_bytes(total, f"{path.name}: image members")
                    items.append((parts[-2], m.name, tar.extractfile(m).read()))
                end = tar.offset
        except (tarfile.TarError, EOFError, OSError) as e:
            raise InputError(f"{path.name}: corrupt or truncated archive ({e})") from None
        if stream.delivered < end + tarfile.BLOCKSIZE:
            raise InputError(
                f"{path.name}: truncated archive (it ends after {end} bytes of members, "
                "without the end-of-archive marker)"
            )
        stream.finish()
    return sorted(items, key=lambda t: (t[0], t[1]))


def read_image_tar(path: str | Path, split: str | None = None, cache_dir=None):
    """Read a tar(.gz/.bz2/.xz) of ``[top/][split/]<class>/<image>`` members.

    ``split`` (e.g. ``"train"``) keeps the members under a ``split/`` folder. Returns and caches
    like :func:`read_image_folder`. Members other than regular image files are ignored.
    """
    path = Path(path)
    open_regular(path, "archive").close()
    where = f"{path.name}" + (f" [{split}]" if split else "")

    def build():
        items = _tar_items(path, split)
        decoded = ((c, name, decode_image(b, f"{path.name}: {name}")) for c, name, b in items)
        return _assemble(decoded, len(items), where)

    return _cached(path, split or "all", cache_dir, build)
