"""Run folders for ``energy-ood train`` and ``energy-ood finetune``.

A run folder holds ``checkpoint.pt`` (weights, optimizer, history), ``run.json`` (seed,
versions, data, configuration, normalisation, margins) and ``metrics.json`` (ID test accuracy).
The ID training set is split once, by seed, into train and validation parts; the validation
part is what margins and detector thresholds are chosen on, never a test OOD set.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .._validate import InputError
from ..data import bad_images
from ..data.prepare import IDData, prepare_id
from ..data.splits import AuxiliaryPool
from ..io.atomic_write import atomic_write_json
from ..io.size_limits import check_bytes
from ..models import create_model
from ..models.checkpoint import load_model_from_checkpoint
from ..models.preprocess import Preprocess
from ..runtime import dist
from ..runtime.device import Runtime, cpu_runtime
from ..runtime.progress import log
from ..runtime.provenance import run_metadata
from ..runtime.seeds import seed_everything
from .config import NEEDS_AUX, TrainConfig, migrate_amp
from .loop import Trainer, accuracy, steps_per_epoch
from .margins import choose_margins
from .record import check_against_checkpoint, read_run_json
from .rundir import claim, same_folder

# configuration fields that do not change what a run computes (left out of its identity)
NOT_IDENTITY = ("eval_batch_size", "channels_last")


def identity(meta: dict) -> dict:
    """What makes two runs the same run: data, limits, seed, model, method, margins,
    precision, classes, and for fine-tuning the base run and auxiliary data."""
    cfg, data = meta.get("config", {}), meta.get("data", {})
    train = {k: v for k, v in migrate_amp(cfg.get("train", {})).items() if k not in NOT_IDENTITY}
    train.setdefault("rotation_updates", "summed")
    out = {
        "dataset": data.get("dataset"),
        "train_limit": cfg.get("train_limit"),
        "classes": data.get("classes"),
        "arch": cfg.get("arch"),
        **{f"train.{k}": v for k, v in train.items()},
    }
    for key in ("base_run", "base_model", "aux", "n_aux", "test_sets"):
        if key in cfg:
            out[key] = cfg[key]
    if data.get("skipped_images"):  # --bad-images skip: the same images left out
        out["skipped_images"] = _files_of(data["skipped_images"])
    # derived from the above: named last so that a message names the cause
    out.update(n_train=data.get("n_train"), n_test=data.get("n_test"))
    return _flat(out)


def _flat(d: dict, prefix: str = "") -> dict:
    """Nested tables as dotted keys (``arch.num_classes``), so a difference names its field."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _start_run_json(out: Path, meta: dict, resume: bool) -> None:
    """Write run.json for a new run; on resume check the run's identity against it instead
    (any change is refused, naming the field, on every torchrun rank) and record it."""
    dist.on_main(_write_run_json, out, meta, resume)


def _write_run_json(out: Path, meta: dict, resume: bool) -> None:
    path = out / "run.json"
    if resume and path.is_file():
        old = read_run(out)
        before, now = identity(old), identity(meta)
        nested = (k for k in before if "." in k and not k.startswith("train."))
        keys = dict.fromkeys([*now, *nested])  # a nested field dropped counts too
        diff = [k for k in keys if before.get(k) != now.get(k)]
        if diff:
            k = diff[0]
            raise InputError(
                f"{out}: cannot resume, {k} was {_short(before.get(k))} and is now "
                f"{_short(now.get(k))}"
                + (f" (and {len(diff) - 1} more field(s) differ)" if len(diff) > 1 else "")
            )
        old.setdefault("resumed", []).append(
            {"command": meta["command"], "at": meta["started"], "runtime": meta.get("runtime")}
        )
        atomic_write_json(path, old)
        return
    atomic_write_json(path, meta)


def _begin_run(out: Path, cfg: TrainConfig, config: dict, d: IDData, runtime: Runtime,
               resume: bool) -> dict:  # fmt: skip
    """The run's record (``run.json``: its training configuration and ``config``, the data,
    the runtime, the images left out), written, or checked against the run it resumes."""
    meta = run_metadata(seed=cfg.seed, config={"train": cfg.to_dict(), **config},
                        data=d.describe())  # fmt: skip
    meta["runtime"] = runtime.describe()
    if bad_images.skipped():  # --bad-images skip: every image file left out, with reasons
        meta["skipped_images"] = bad_images.skipped()
    _start_run_json(out, meta, resume)
    return meta


def _margins(cfg: TrainConfig, model, d: IDData, aux_val) -> dict:
    """The margins chosen on validation data (ID vs held-out outliers); those ``cfg`` does not
    fix are set from them."""
    margins = choose_margins(model, d.x_val, aux_val)
    if cfg.m_in is None:
        cfg.m_in = margins["m_in"]
    if cfg.m_out is None:
        cfg.m_out = margins["m_out"]
    if cfg.margin is None:
        cfg.margin = margins["margin"]
    log(
        f"margins: m_in={cfg.m_in}, m_out={cfg.m_out}, single margin={cfg.margin} "
        f"(from validation energies)"
    )
    return margins


def _finish(model, d: IDData, out: Path, hist: list, runtime: Runtime, extra=None) -> dict:
    acc = accuracy(model, d.x_test, d.y_test, runtime=runtime)
    metrics = {"test_accuracy": acc, "test_error": 1 - acc, "history": hist, **(extra or {})}
    if dist.is_main():
        atomic_write_json(out / "metrics.json", metrics)
    log(f"test accuracy {100 * acc:.2f}%")
    return metrics


def pretrain(
    dataset: str,
    model_name: str,
    out: str | Path,
    cfg: TrainConfig,
    data_root=None,
    resume: bool = False,
    train_limit: int | None = None,
    data: IDData | None = None,
    rotation_head: bool = False,
    model_kwargs: dict | None = None,
    runtime: Runtime | None = None,
    overwrite: bool = False,
    start: tuple[torch.nn.Module, dict] | None = None,
) -> dict:
    """Cross-entropy (or rotation-task) training from scratch into the run folder ``out``;
    from given weights when ``start`` = ``(model, arch)`` (a loaded torchvision/timm model and
    its ``LoadedModel.arch`` record; ``data`` must then come through its preprocessing).

    ``out`` must be empty unless ``resume`` (same run, checked field by field) or
    ``overwrite``; it is locked while the run writes to it."""
    out, runtime = Path(out), runtime or cpu_runtime()
    with claim(out, resume=resume, overwrite=overwrite):
        seed_everything(cfg.seed)
        d = data or prepare_id(
            dataset, data_root, cfg.seed, train_limit=train_limit, data_mode=runtime.data_mode
        )
        if start is not None:
            if rotation_head or cfg.method == "rotation":
                raise InputError(f"{model_name}: the rotation task needs a registry model")
            model, arch = start
        else:
            model = create_model(
                model_name,
                num_classes=len(d.classes),
                in_channels=d.channels,
                rotation_head=rotation_head or cfg.method == "rotation",
                **(model_kwargs or {}),
            )
            arch = model.arch_config()
        config = {"model": model_name, "arch": arch, "train_limit": train_limit}
        meta = _begin_run(out, cfg, config, d, runtime, resume)
        log(f"training {model_name} on {d.name} ({len(d.x_train)} images) -> {out}")
        trainer = Trainer(model, cfg, out, arch=arch if start is not None else None,
                          runtime=runtime, preprocess=d.preprocess.to_dict())  # fmt: skip
        hist = trainer.fit(d.x_train, d.y_train, resume=resume)
        metrics = _finish(model, d, out, hist, runtime)
    return {"model": model, "data": d, "metrics": metrics, "run": meta}


def read_run(path: str | Path) -> dict:
    """The run.json of a run folder; a missing, unreadable or malformed one is an InputError."""
    p = Path(path) / "run.json"
    if not os.path.lexists(p):
        raise InputError(
            f"{path}: not a run folder (no run.json); train one with "
            "`energy-ood train --out DIR` first"
        )
    return read_run_json(p)


def load_run(path: str | Path, data_root=None, data: IDData | None = None, data_mode="auto"):
    """(model, IDData, run.json) of a finished run folder, data split exactly as in training."""
    run = read_run(path)
    model, ck = load_model_from_checkpoint(Path(path) / "checkpoint.pt")
    check_against_checkpoint(run, ck["arch"], Path(path) / "run.json")
    if data is None:
        tr, rd = run["config"]["train"], run["data"]
        pp = (ck["arch"].get("preprocess") or {}) if isinstance(ck["arch"], dict) else {}
        skipped = _files_of(rd.get("skipped_images"))
        with bad_images.applied("skip") if skipped else contextlib.nullcontext():
            data = prepare_id(
                rd["dataset"],
                data_root,
                tr["seed"],
                train_limit=run["config"].get("train_limit"),
                image_size=rd.get("image_size"),
                channels=rd.get("channels"),
                data_mode=data_mode,
                preprocess=Preprocess.from_dict(pp) if pp.get("size") else None,
            )
        _same_skipped(path, skipped, _files_of(data.extra.get("skipped_images")))
    arch = ck["arch"]
    if arch.get("num_classes") != len(data.classes):
        raise InputError(
            f"{path}: checkpoint has {arch.get('num_classes')} classes, its data set "
            f"{data.name} has {len(data.classes)}"
        )
    if arch.get("in_channels") not in (None, data.channels):
        raise InputError(
            f"{path}: checkpoint takes {arch.get('in_channels')}-channel images, "
            f"{data.name} has {data.channels}"
        )
    return model, data, run


def _files_of(records) -> list[str]:
    """The files of a list of skipped-image records (run.json's data.skipped_images)."""
    if not isinstance(records, list):
        return []
    return sorted(str(r.get("file")) for r in records if isinstance(r, dict))


def _same_skipped(path, then: list[str], now: list[str]) -> None:
    """A run trained with images skipped is rebuilt skipping exactly those images."""
    if then != now:
        diff = sorted(set(then) ^ set(now))
        raise InputError(
            f"{path}: the image files left out differ from training's ({len(then)} then, "
            f"{len(now)} now, e.g. {diff[0]}): its data changed, so its split cannot be rebuilt"
        )


_POOL_CACHE: dict = {}  # the last pool drawn: every fine-tuning of a seed draws the same one


def aux_outliers(
    sources: list[str], test_sets: list[str], n: int, data: IDData, seed: int, data_root=None
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(fine-tuning outliers, held-out outliers for margin choice, the pool's record),
    normalised like the ID data. Refuses a source of an OOD test set's family or of the ID
    data's own; pictures of the ID classes are left out (:class:`~..data.splits.AuxiliaryPool`).
    The same arguments give the same pool (kept in memory, so the fine-tunings of one seed
    draw it once)."""
    held = max(256, n // 10)
    key = (tuple(sources), tuple(test_sets), n, seed, str(data_root), data.name, data.size,
           data.channels, tuple(map(float, data.mean)), tuple(map(float, data.std)),
           data.transform)  # fmt: skip
    if key in _POOL_CACHE:
        return _POOL_CACHE[key]
    pool = AuxiliaryPool(sources, test_sets, id_dataset=data.name)
    check_bytes((n + held) * data.channels * data.size**2 * 4, f"--n-aux {n} auxiliary outliers")
    x = pool.sample(
        n + held,
        size=data.size,
        channels=data.channels,
        seed=seed,
        data_root=data_root,
        transform=data.transform,  # path sources go through the ID recipe (a model's)
    )
    x = data.normalize(x)
    record = {**pool.record, "n_train": n, "n_held_out": held}
    _POOL_CACHE.clear()
    _POOL_CACHE[key] = (x[:n], x[n:], record)
    return _POOL_CACHE[key]


def aux_reuse(record: dict, n_train: int, cfg: TrainConfig) -> dict:
    """How often fine-tuning draws each auxiliary outlier: draws = epochs x steps x aux batch,
    reuse = draws / the distinct outliers it draws from (each draw is augmented anew)."""
    steps = steps_per_epoch(n_train, cfg.batch_size, dist.world())
    draws = cfg.epochs * steps * cfg.aux_batch_size
    return {**record, "draws": draws, "reuse": draws / record["n_train"]}


@dataclass(frozen=True)
class Pretrained:
    """A base model that is not an energy-ood run: a model spec (``torchvision:resnet50``,
    ``timm:NAME``, a registry name or a program file), its local weights and the ID data set
    (taken through the model's own preprocessing). ``new_head`` replaces a head whose class
    count differs from the data set's; ``normalize`` is ``--normalize`` (model | dataset |
    none | MEAN,STD; None: the model's own, or none when it records none)."""

    spec: str
    checkpoint: str | None
    dataset: str
    new_head: bool = False
    train_limit: int | None = None
    input_size: int | None = None
    test_limit: int | None = None
    normalize: object = None
    class_names: str | None = None  # a file: the model's classes in output order


def load_pretrained(p: Pretrained, data_root, seed: int, runtime: Runtime):
    """(model, IDData, base record) of a :class:`Pretrained` base."""
    from ..data.for_model import prepare_for_model
    from ..models import load_model

    lm = load_model(p.spec, p.checkpoint, device=runtime.device, input_size=p.input_size)
    d = prepare_for_model(
        lm, p.dataset, data_root, seed, normalize=p.normalize, class_names=p.class_names,
        train_limit=p.train_limit, test_limit=p.test_limit, data_mode=runtime.data_mode,
    )  # fmt: skip
    recipe, norm = lm.preprocess, lm.normalization
    if lm.num_classes == len(d.classes):  # the ID-accuracy gate, on the validation split
        from ..metrics.accuracy_gate import GateResult, enforce

        acc = accuracy(lm.model, d.x_val, d.y_val, runtime=runtime)
        enforce(GateResult(acc, len(d.x_val), len(d.classes), what="ID validation",
                           context=d.extra.get("normalize", "")))  # fmt: skip
    if lm.num_classes != len(d.classes):
        if not p.new_head:
            raise InputError(
                f"{p.spec}: the model has {lm.num_classes} classes, {d.name} has "
                f"{len(d.classes)}; ask for a new {len(d.classes)}-class head (--new-head, or "
                "model.new_head = true in a config)"
            )
        lm = load_model(p.spec, p.checkpoint, num_classes=len(d.classes), new_head=True,
                        device=runtime.device, input_size=p.input_size,
                        preprocess=recipe)  # fmt: skip
        lm.normalization = norm
    record = {
        "model": p.spec,
        "arch": lm.arch,
        "train_limit": p.train_limit,
        "base_model": lm.describe(),
    }
    return lm.model, d, record


def finetune(
    base: str | Path | Pretrained,
    method: str,
    aux: list[str],
    out: str | Path,
    cfg: TrainConfig,
    test_sets: list[str] | tuple[str, ...] = (),
    data_root=None,
    n_aux: int = 20000,
    resume: bool = False,
    data: IDData | None = None,
    model=None,
    runtime: Runtime | None = None,
    overwrite: bool = False,
) -> dict:
    """Fine-tune a pretrained run (or a :class:`Pretrained` model) with ``method`` (energy |
    oe | single-margin) into ``out`` (never the base run's own folder)."""
    out, runtime = Path(out), runtime or cpu_runtime()
    if not isinstance(base, Pretrained) and same_folder(out, base):
        raise InputError(f"--out {out} is the pretrained run --from {base}; choose another --out")
    if method not in NEEDS_AUX:
        raise InputError(f"finetune --method must be one of {', '.join(NEEDS_AUX)}")
    with claim(out, resume=resume, overwrite=overwrite):
        seed_everything(cfg.seed)
        if isinstance(base, Pretrained):
            base_model, d, base_cfg = load_pretrained(base, data_root, cfg.seed, runtime)
        else:
            base_model, d, base_run = load_run(base, data_root, data, runtime.data_mode)
            base_cfg = {k: base_run["config"].get(k) for k in ("model", "arch", "train_limit")}
            base_cfg["base_run"] = str(base)
        model = (model if model is not None else base_model).to(runtime.device)
        cfg.method = method
        aux_train, aux_val, pool = aux_outliers(aux, list(test_sets), n_aux, d, cfg.seed,
                                                data_root)  # fmt: skip
        pool = aux_reuse(pool, len(d.x_train), cfg)
        margins = (
            _margins(cfg, model, d, aux_val) if method in ("energy", "single-margin") else None
        )
        config = {**base_cfg, "aux": list(aux), "n_aux": n_aux, "test_sets": list(test_sets),
                  "margins": margins}  # fmt: skip
        meta = _begin_run(out, cfg, config, d, runtime, resume)
        log(f"fine-tuning ({method}) with auxiliary outliers from {', '.join(aux)} -> {out}")
        trainer = Trainer(model, cfg, out, arch=base_cfg.get("arch"), runtime=runtime,
                          preprocess=d.preprocess.to_dict())  # fmt: skip
        hist = trainer.fit(d.x_train, d.y_train, aux=aux_train, resume=resume)
        metrics = _finish(model, d, out, hist, runtime, {"margins": margins, "aux_pool": pool})
    return {"model": model, "data": d, "metrics": metrics, "run": meta}
