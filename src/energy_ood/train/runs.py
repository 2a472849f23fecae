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
from ..io.atomic_write import atomic_write_json
from ..models import create_model
from ..models.checkpoint import load_model_from_checkpoint
from ..models.preprocess import Preprocess
from ..runtime import dist
from ..runtime.device import Runtime, cpu_runtime
from ..runtime.progress import log
from ..runtime.provenance import run_metadata
from ..runtime.seeds import seed_everything
from .config import TrainConfig, migrate_amp
from .loop import Trainer, accuracy
from .margins import fill_margins
from .objectives import objective_class
from .outliers import aux_outliers, aux_reuse, training_outliers  # noqa: F401 - re-exported
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
    train.setdefault("hparams", {})  # written before the objective registry
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


def _margins(cfg: TrainConfig, model, d: IDData, aux_val) -> dict | None:
    """The margins chosen on validation data (ID vs held-out outliers) for a method that takes
    margins ``cfg`` leaves unset (:func:`~.margins.fill_margins`); those are set from them."""
    margins = fill_margins(cfg, model, d.x_val, aux_val)
    if margins is not None:
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
    aux: list[str] | None = None,
    test_sets: list[str] | tuple[str, ...] = (),
    n_aux: int = 20000,
) -> dict:
    """Training from scratch with ``cfg.method`` (cross-entropy, the rotation task, LogitNorm,
    VOS, energy-scratch, ...; ``aux``: auxiliary outlier sources for a method that takes them,
    ``test_sets`` the study's OOD test sets, whose families they must not share) into the run
    folder ``out``; from given weights when ``start`` = ``(model, arch)`` (a loaded
    torchvision/timm model and its ``LoadedModel.arch`` record; ``data`` must then come through
    its preprocessing).

    ``out`` must be empty unless ``resume`` (same run, checked field by field) or
    ``overwrite``; it is locked while the run writes to it."""
    out, runtime = Path(out), runtime or cpu_runtime()
    rotation_head = rotation_head or "rotation_head" in objective_class(cfg.method).needs
    with claim(out, resume=resume, overwrite=overwrite):
        seed_everything(cfg.seed)
        d = data or prepare_id(
            dataset, data_root, cfg.seed, train_limit=train_limit, data_mode=runtime.data_mode
        )
        if start is not None:
            if rotation_head:
                raise InputError(f"{model_name}: the rotation task needs a registry model")
            model, arch = start
        else:
            model = create_model(
                model_name,
                num_classes=len(d.classes),
                in_channels=d.channels,
                rotation_head=rotation_head,
                **(model_kwargs or {}),
            )
            arch = model.arch_config()
        aux_train, _, pool = training_outliers(cfg, aux, test_sets, n_aux, d, data_root)
        config = {"model": model_name, "arch": arch, "train_limit": train_limit}
        if pool is not None:
            config.update(aux=list(aux), n_aux=n_aux, test_sets=list(test_sets))
        meta = _begin_run(out, cfg, config, d, runtime, resume)
        log(f"training {model_name} on {d.name} ({len(d.x_train)} images) -> {out}")
        trainer = Trainer(model, cfg, out, arch=arch if start is not None else None,
                          runtime=runtime, preprocess=d.preprocess.to_dict())  # fmt: skip
        hist = trainer.fit(d.x_train, d.y_train, aux=aux_train, resume=resume)
        metrics = _finish(model, d, out, hist, runtime, {"aux_pool": pool} if pool else None)
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


def run_class_weights(path):
    """The class weights a run's training learned (``class_weights.npy``, written by VOS), as
    a float array, or None when the run has none: ``weighted_ebo`` reads them."""
    p = Path(path) / "class_weights.npy"
    if not p.is_file():
        return None
    from ..io.arrays import npy_array

    return npy_array(p)


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
    """Fine-tune a pretrained run (or a :class:`Pretrained` model) with ``method`` (any
    registered objective: energy, oe, single-margin, mixoe, vos, logitnorm, ...) into ``out``
    (never the base run's own folder). Margins a method takes and ``cfg`` leaves unset are
    chosen on validation data (:func:`~.margins.fill_margins`)."""
    out, runtime = Path(out), runtime or cpu_runtime()
    if not isinstance(base, Pretrained) and same_folder(out, base):
        raise InputError(f"--out {out} is the pretrained run --from {base}; choose another --out")
    if cfg.method != method:
        raise InputError(f"finetune: method {method!r} but the configuration is {cfg.method!r}")
    with claim(out, resume=resume, overwrite=overwrite):
        seed_everything(cfg.seed)
        if isinstance(base, Pretrained):
            base_model, d, base_cfg = load_pretrained(base, data_root, cfg.seed, runtime)
        else:
            base_model, d, base_run = load_run(base, data_root, data, runtime.data_mode)
            base_cfg = {k: base_run["config"].get(k) for k in ("model", "arch", "train_limit")}
            base_cfg["base_run"] = str(base)
        model = (model if model is not None else base_model).to(runtime.device)
        aux_train, aux_val, pool = training_outliers(cfg, aux, test_sets, n_aux, d, data_root)
        margins = _margins(cfg, model, d, aux_val) if pool is not None else None
        config = dict(base_cfg)
        if pool is not None:
            config.update(aux=list(aux), n_aux=n_aux, test_sets=list(test_sets))
        config["margins"] = margins
        meta = _begin_run(out, cfg, config, d, runtime, resume)
        src = f" with auxiliary outliers from {', '.join(aux)}" if pool is not None else ""
        log(f"fine-tuning ({method}){src} -> {out}")
        trainer = Trainer(model, cfg, out, arch=base_cfg.get("arch"), runtime=runtime,
                          preprocess=d.preprocess.to_dict())  # fmt: skip
        hist = trainer.fit(d.x_train, d.y_train, aux=aux_train, resume=resume)
        metrics = _finish(model, d, out, hist, runtime, {"margins": margins, "aux_pool": pool})
    return {"model": model, "data": d, "metrics": metrics, "run": meta}
