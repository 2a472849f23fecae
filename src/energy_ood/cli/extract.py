"""``energy-ood extract``: logits and penultimate features of a trained run, or of any model
(``--model SPEC --checkpoint FILE --dataset PATH``), on any data set.

  energy-ood extract --run-dir runs/base --set id=test --set val=val --set mnist \\
      --set mine=path/to/images --out feats.npz
      one .npz with keys <set>/logits, <set>/features (and <set>/labels for ID splits)
  energy-ood extract --run-dir runs/base --set id=test --out feats/
      a folder of .npy files (<set>.logits.npy, ...), written chunk by chunk: sets larger
      than memory are fine

A set is ``NAME=SOURCE``: SOURCE is ``train``, ``val`` or ``test`` (the run's own ID splits),
a named OOD set, or a path (image folder, .tar shard, file list, IDX or .npz) taken through the
run's ID transform; a bare ``NAME`` is a named OOD set. Under torchrun the extraction is
sharded and rank 0 writes.
"""

from __future__ import annotations

import argparse
import io
import shutil
from pathlib import Path

import numpy as np
import torch

from .._validate import InputError
from ..data import bad_images
from ..data.ood_files import load_ood_path
from ..data.sources import ood_set_names
from ..evaluate.extract import extract
from ..io.atomic_write import atomic_write_bytes, atomic_write_json, new_temp_folder, replace_folder
from ..runtime import dist
from ..runtime.progress import log
from ..runtime.provenance import run_metadata
from ._paths import check_out_file, check_out_folder
from ._runtime import add_runtime_args, runtime_from_args
from ._source import add_source_args, load_source, seed

SPLITS = ("train", "val", "test")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "extract",
        help="write a run's logits and features on any data set",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        required=True,
        metavar="NAME=SOURCE",
        help="a data set to extract (see above); repeat",
    )
    p.add_argument("--out", required=True, help="an .npz file, or a folder for .npy files")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--chunk", type=int, default=64, help="batches per chunk written (folder)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out file or folder"
    )
    p.add_argument("--seed", type=seed, default=0, help="seed of OOD draws")
    add_source_args(p)
    add_runtime_args(p, train=False)
    p.set_defaults(func=run)


def _parse_sets(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, source = item.partition("=")
        name, source = name.strip(), (source.strip() if sep else name.strip())
        if not name or not source or "/" in name or name in out:
            raise InputError(f"--set {item!r}: expected NAME=SOURCE with a new NAME")
        out[name] = source
    return out


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


def run(args) -> int:
    sets = _parse_sets(args.sets)
    out = Path(args.out)
    to_npz = out.suffix.lower() == ".npz"
    if to_npz:  # the arrays and their description, both kept unless asked
        for path in (out, out.with_suffix(".json")):
            check_out_file(args, path, "--out")
    else:
        check_out_folder(args, out, "--out")
    if args.batch_size < 1 or args.chunk < 1:
        raise InputError("--batch-size and --chunk must be >= 1")
    rt = runtime_from_args(args)
    src = load_source(args, rt)
    # a folder is filled beside --out and put in place once complete
    tmp = new_temp_folder(out) if not to_npz and dist.is_main() else None
    try:
        arrays, shapes, warning = _extract_sets(args, sets, src, rt, tmp)
        if not dist.is_main():
            return 0
        meta = {
            "warning": warning,
            "source": str(args.run or args.model),
            "sets": shapes,
            "logits": "final layer outputs, float32",
            "features": "inputs of the final linear layer (penultimate features), float32",
            "run": run_metadata(seed=args.seed, config={"sets": sets}, command=args.command_line),
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
    print(f"{out}: logits and features of {', '.join(sets)}")
    return 0


def _extract_sets(args, sets: dict, src, rt, folder: Path | None):
    """Logits and features of every set: in ``arrays`` (lists of chunks) for an .npz, or
    written chunk by chunk as .npy files into ``folder``; what each set was; and the
    ID-accuracy gate's warning (or None), checked on the first labelled set."""
    arrays, shapes, warning, data = {}, {}, None, src.data
    for name, source in sets.items():
        x, y = _inputs(source, data, args.seed, args.data_root)
        step = args.batch_size * args.chunk
        files, preds = None, []
        for a in range(0, len(x), step):
            b = min(len(x), a + step)
            lo, z = extract(src.model, _slice(x, a, b), args.batch_size, rt, src.head,
                            f"{name} {a}")  # fmt: skip
            if not dist.is_main():
                continue
            preds.append(lo.argmax(1) if lo.shape[1] == len(data.classes) else None)
            if folder is None:
                arrays.setdefault(f"{name}/logits", []).append(lo.numpy())
                arrays.setdefault(f"{name}/features", []).append(z.numpy())
                continue
            if files is None:
                files = {
                    k: np.lib.format.open_memmap(
                        folder / f"{name}.{k}.npy", "w+", np.float32, (len(x), v.shape[1])
                    )
                    for k, v in (("logits", lo), ("features", z))
                }
            files["logits"][a:b], files["features"][a:b] = lo.numpy(), z.numpy()
        if not dist.is_main():
            continue
        for f in (files or {}).values():
            f.flush()
        if y is not None:
            if folder is None:
                arrays[f"{name}/labels"] = [y.numpy()]
            else:
                np.save(folder / f"{name}.labels.npy", y.numpy())
        shapes[name] = {"source": source, "n": len(x), "labels": y is not None}
        log(f"{name}: {len(x)} images")
        if y is not None and warning is None:  # the ID-accuracy gate, on labelled ID data
            shapes[name]["accuracy"], warning = _gate(preds, y, data, source)
    return arrays, shapes, warning
