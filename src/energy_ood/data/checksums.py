"""Known sha256 digests of the named data files, and a check cached by path, size and mtime.

A local copy of a named data set is trusted only when its file's sha256 is one recorded
here. A gzip file with an unknown digest is also accepted when its decompressed content has a
recorded digest (the same data, compressed by another tool). The verdict is cached in
``<cache root>/sha256-checked.json``, so each file is hashed once per (size, mtime).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .._validate import InputError
from ..io.decompress import Stream
from ..io.regular_files import open_regular
from ..runtime.progress import log
from .cache import cache_root

# Fashion-MNIST: the canonical .gz files (github.com/zalandoresearch/fashion-mnist) and the
# Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), which differ:
# Debian's gzip headers omit the original file name (each file is shorter by exactly that
# name) but hold the same deflate data. "raw" is the sha256 of the decompressed IDX content,
# computed here from the Debian copy; it is the same for both and for a gunzipped file.
# MNIST: the canonical .gz files (the CVDF mirror), and the test-set copy in the shared data
# folder (same sizes, another gzip header); "raw" for the test set computed from that copy.
# The MNIST training files' raw digests are unknown here, so only the canonical .gz counts.
KNOWN = {
    "fashion-mnist": {
        "train-images-idx3-ubyte": {
            "gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "gz-debian": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
            "raw": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        },
        "train-labels-idx1-ubyte": {
            "gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "gz-debian": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
            "raw": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        },
        "t10k-images-idx3-ubyte": {
            "gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "gz-debian": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
            "raw": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        },
        "t10k-labels-idx1-ubyte": {
            "gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            "gz-debian": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
            "raw": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
    },
    "mnist": {
        "train-images-idx3-ubyte": {
            "gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        },
        "train-labels-idx1-ubyte": {
            "gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        },
        "t10k-images-idx3-ubyte": {
            "gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "gz-shared": "167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b",
            "raw": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        },
        "t10k-labels-idx1-ubyte": {
            "gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "gz-shared": "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c",
            "raw": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
    },
    "cifar10": {  # the JPEG repack in the shared data folder (see its README)
        "cifar10-jpeg.tar.gz": {
            "tar.gz": "cfbdb3c603d7ea6b651985e2ae1745428dc0c3e88ebf65d836482c3fb9df6c68",
        },
    },
}
CACHE_NAME = "sha256-checked.json"


def sha256_file(path) -> str:
    with open_regular(path) as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _content_sha256(path) -> str | None:
    """sha256 of a compressed file's decompressed content (bounded), or None if not compressed."""
    with open_regular(path) as f:
        r = Stream(f, Path(path).name)
        if r.kind is None:
            return None
        h = hashlib.sha256()
        while chunk := r.read(1 << 20):
            h.update(chunk)
        return h.hexdigest()


def _load_cache(path: Path) -> dict:
    try:
        d = json.loads(path.read_text())
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def _digests(path: Path, cache_dir) -> tuple[str, str | None]:
    """(file sha256, content sha256 or None), from the cache when size and mtime match."""
    real = os.path.realpath(path)
    st = os.stat(real)
    stamp = [st.st_size, st.st_mtime_ns]
    store = cache_root(cache_dir) / CACHE_NAME
    cache = _load_cache(store)
    hit = cache.get(real)
    if isinstance(hit, dict) and hit.get("stamp") == stamp and "sha256" in hit:
        return hit["sha256"], hit.get("content")
    entry = {"stamp": stamp, "sha256": sha256_file(real)}
    cache = _load_cache(store)  # re-read: another process may have added entries
    cache[real] = entry
    _save_cache(store, cache)
    return entry["sha256"], None


def _save_cache(store: Path, cache: dict) -> None:
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_name(f".{store.name}.{os.getpid()}.tmp")
        cache = {k: v for k, v in cache.items() if os.path.exists(k)}  # drop deleted files
        tmp.write_text(json.dumps(cache, indent=0, sort_keys=True))
        os.replace(tmp, store)
    except OSError as e:
        log(f"could not write {store} ({e}); named data files will be hashed again")


def verify(path, dataset: str, stem: str, cache_dir=None) -> Path:
    """Check ``path`` (a local copy of ``stem`` of the named ``dataset``) against
    :data:`KNOWN`; return the path or raise a one-line InputError naming the file."""
    path = Path(path)
    known = KNOWN[dataset][stem]
    digest, content = _digests(path, cache_dir)
    if digest in known.values():
        return path
    if "raw" in known:
        if content is None:
            try:
                content = _content_sha256(path)
            except InputError:  # not even a readable compressed file: not a known copy
                content = "unreadable"
            if content is not None:
                store = cache_root(cache_dir) / CACHE_NAME
                cache = _load_cache(store)
                if isinstance(cache.get(os.path.realpath(path)), dict):
                    cache[os.path.realpath(path)]["content"] = content
                    _save_cache(store, cache)
        if content == known["raw"]:
            return path
    raise InputError(
        f"{path}: sha256 {digest[:16]}... is not a known copy of {dataset} {stem} "
        "(modified, truncated or another data set); replace it, or give your own data by path"
    )
