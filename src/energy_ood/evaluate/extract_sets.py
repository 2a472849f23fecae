"""What the extract command writes: logits and penultimate features of a model on named sets
(its ID splits ``train``/``val``/``test``, named OOD sets, or images by path in its ID
transform), as one ``.npz`` (with a ``.json`` description beside it) or a folder of ``.npy``
files written chunk by chunk (sets larger than memory are fine). Under torchrun the extraction
is sharded and rank 0 writes.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import torch

from ..data import bad_images
from ..data.ood_files import load_ood_path
from ..data.sources import ood_set_names
from ..io.atomic_write import (
    atomic_write_bytes,
    atomic_write_json,
    new_temp_folder,
    replace_folder,
)
from ..runtime import dist
from ..runtime.progress import log
from ..runtime.provenance import run_metadata
from .extract import extract

SPLITS = ("train", "val", "test")


def _inputs(source: str, data, seed: int, data_root):
    """(images, labels or None) of one set."""
    if source in SPLITS:
        return getattr(data, f"x_{source}"), getattr(data, f"y_{source}")
    if source in ood_set_names():
        from ..data import load_ood_set

        x = load_ood_set(source, len(data.x_test), data.size, data.channels, seed, data_root,
                         transform=data.transform)  # fmt: skip
        return data.normalize(x), None
    x = load_ood_path(source, None, data.size, data.channels, seed, data.transform)
    return data.normalize(x), None


def _gate(preds, y, data, source):
    """(accuracy, warning line or None) of the model on a labelled ID split."""
    from ..metrics.accuracy_gate import enforce, from_predictions

    if not preds or any(p is None for p in preds):
        return None, None  # the model's outputs are not the data set's classes
    g = from_predictions(torch.cat(preds), y, len(data.classes), what=f"ID {source}",
                         context=data.extra.get("normalize", ""))  # fmt: skip
    return (None, None) if g is None else (g.accuracy, enforce(g))


def _slice(x, a: int, b: int):
    return x[a:b] if not hasattr(x, "batches") else x[np.arange(a, b)]


class _Sink:
    """Where one set's chunks go: lists of arrays (for an .npz) or .npy files in a folder,
    written chunk by chunk."""

    def __init__(self, name: str, n: int, arrays: dict, folder: Path | None):
        self.name, self.n, self.arrays, self.folder, self.files = name, n, arrays, folder, None

    def add(self, a: int, b: int, lo: torch.Tensor, z: torch.Tensor) -> None:
        if self.folder is None:
            self.arrays.setdefault(f"{self.name}/logits", []).append(lo.numpy())
            self.arrays.setdefault(f"{self.name}/features", []).append(z.numpy())
            return
        if self.files is None:
            self.files = {
                k: np.lib.format.open_memmap(
                    self.folder / f"{self.name}.{k}.npy", "w+", np.float32, (self.n, v.shape[1])
                )
                for k, v in (("logits", lo), ("features", z))
            }
        self.files["logits"][a:b], self.files["features"][a:b] = lo.numpy(), z.numpy()

    def close(self, y) -> None:
        for f in (self.files or {}).values():
            f.flush()
        if y is not None:
            if self.folder is None:
                self.arrays[f"{self.name}/labels"] = [y.numpy()]
            else:
                np.save(self.folder / f"{self.name}.labels.npy", y.numpy())


def _extract_sets(src, sets: dict, folder: Path | None, batch_size: int, chunk: int, seed: int,
                  data_root, rt):  # fmt: skip
    """Logits and features of every set: in ``arrays`` (lists of chunks) for an .npz, or
    written chunk by chunk as .npy files into ``folder``; what each set was; and the
    ID-accuracy gate's warning (or None), checked on the first labelled set."""
    arrays, shapes, warning, data = {}, {}, None, src.data
    for name, source in sets.items():
        x, y = _inputs(source, data, seed, data_root)
        step = batch_size * chunk
        sink, preds = _Sink(name, len(x), arrays, folder), []
        for a in range(0, len(x), step):
            b = min(len(x), a + step)
            lo, z = extract(src.model, _slice(x, a, b), batch_size, rt, src.head, f"{name} {a}")
            if dist.is_main():
                preds.append(lo.argmax(1) if lo.shape[1] == len(data.classes) else None)
                sink.add(a, b, lo, z)
        if not dist.is_main():
            continue
        sink.close(y)
        shapes[name] = {"source": source, "n": len(x), "labels": y is not None}
        log(f"{name}: {len(x)} images")
        if y is not None and warning is None:  # the ID-accuracy gate, on labelled ID data
            shapes[name]["accuracy"], warning = _gate(preds, y, data, source)
    return arrays, shapes, warning


def extract_to(source, sets: dict[str, str], out, *, batch_size: int = 512, chunk: int = 64,
               seed: int = 0, data_root=None, runtime=None, command=None) -> bool:  # fmt: skip
    """Write the logits and features of ``source`` (an ``evaluate.source.ModelSource``) on
    ``sets`` (name -> source) to ``out``; True on the process that wrote (rank 0)."""
    out = Path(out)
    to_npz = out.suffix.lower() == ".npz"
    # a folder is filled beside --out and put in place once complete
    tmp = new_temp_folder(out) if not to_npz and dist.is_main() else None
    try:
        arrays, shapes, warning = _extract_sets(source, sets, tmp, batch_size, chunk, seed,
                                                data_root, runtime)  # fmt: skip
        if not dist.is_main():
            return False
        meta = {
            "warning": warning,
            "source": str(source.spec.run_dir or source.spec.model),
            "sets": shapes,
            "logits": "final layer outputs, float32",
            "features": "inputs of the final linear layer (penultimate features), float32",
            "run": run_metadata(seed=seed, config={"sets": sets}, command=command),
        }
        if bad_images.skipped():  # --bad-images skip: the image files left out, with reasons
            meta["skipped_images"] = bad_images.skipped()
        if to_npz:
            buf = io.BytesIO()
            np.savez(buf, **{k: np.concatenate(v) for k, v in arrays.items()})
            atomic_write_bytes(out, buf.getvalue())
            atomic_write_json(out.with_suffix(".json"), meta)
        else:
            atomic_write_json(tmp / "extract.json", meta)
            replace_folder(tmp, out)
            tmp = None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return True
