"""A model and its in-distribution data: a run folder (``run_dir``), or a model spec with local
weights and a data set (``model``, ``checkpoint``, ``dataset``: torchvision:NAME, timm:NAME, a
registry name, a TorchScript or exported program). What ``evaluate``, ``detect fit`` and
``extract`` take.

The data set is split as a run's would be (train / validation by seed, a held-out test part
when it has none) and taken through the model's own preprocessing (size, crop, normalisation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._validate import InputError


@dataclass(frozen=True)
class SourceSpec:
    """Where the model and its data come from (the command line's ``--run-dir`` or ``--model``
    with ``--checkpoint``, ``--dataset``, ``--input-size``, ``--normalize``,
    ``--class-names``)."""

    run_dir: str | None = None
    model: str | None = None
    checkpoint: str | None = None
    dataset: str | None = None
    input_size: int | None = None
    normalize: str | None = None
    class_names: str | None = None
    data_root: str | None = None

    @property
    def where(self) -> str:
        return f"run {self.run_dir}" if self.run_dir else f"model {self.model}"


@dataclass
class ModelSource:
    """The model (on the runtime's device), its ``IDData``, the name of its final layer, a
    record of what the model is (JSON, for reports) and the class weights a run learned in
    training (VOS; None otherwise)."""

    model: object
    data: object
    head: str | None
    record: dict = field(default_factory=dict)
    spec: SourceSpec = field(default_factory=SourceSpec)
    class_weights: object = None  # learned in the run's training (VOS), for weighted_ebo

    def inputs_record(self) -> dict:
        """The record a detector fitted with this model keeps (``score.model_record``)."""
        from ..score.model_record import inputs_record

        s = self.spec
        return inputs_record(self.data, run_dir=s.run_dir, model=s.model,
                             checkpoint=s.checkpoint, input_size=s.input_size)  # fmt: skip


def _from_run(spec: SourceSpec, runtime) -> ModelSource:
    if spec.checkpoint or spec.dataset or spec.input_size or spec.normalize or spec.class_names:
        raise InputError(
            "--checkpoint, --dataset, --input-size, --normalize and --class-names go with "
            "--model (a run folder's model takes the data and statistics it was trained with)"
        )
    from ..train.runs import load_run, run_class_weights

    model, data, run = load_run(spec.run_dir, spec.data_root, data_mode=runtime.data_mode)
    note = "the run's own training statistics"
    data.extra.setdefault("normalization", note)
    data.extra.setdefault("normalize", "model")
    norm = {"normalize": "model", "mean": data.mean, "std": data.std, "note": note}
    record = {"run_dir": str(spec.run_dir), "arch": run["config"].get("arch"),
              "normalization": norm}  # fmt: skip
    head = (run["config"].get("arch") or {}).get("head")
    weights = run_class_weights(spec.run_dir)
    return ModelSource(model.to(runtime.device), data, head, record, spec, weights)


def _from_model(spec: SourceSpec, runtime, seed: int) -> ModelSource:
    if not spec.dataset:
        raise InputError("--model needs --dataset (the in-distribution data set)")
    from ..data.for_model import prepare_for_model
    from ..models import load_model

    lm = load_model(spec.model, spec.checkpoint, device=runtime.device, input_size=spec.input_size)
    data = prepare_for_model(lm, spec.dataset, spec.data_root, seed, normalize=spec.normalize,
                             class_names=spec.class_names, data_mode=runtime.data_mode)  # fmt: skip
    n_model = lm.num_classes or 0
    if len(data.classes) < 2 <= n_model:
        raise InputError(
            f"{spec.dataset}: {len(data.classes)} class ({', '.join(data.classes)}), for a "
            f"{n_model}-class model; in-distribution data needs at least 2 class folders "
            "(scores and errors over one class are no evaluation of a classifier)"
        )
    record = {"model": spec.model, **lm.describe()}
    model = lm.model
    if not hasattr(model, "num_classes"):
        model.num_classes = lm.num_classes
    return ModelSource(model, data, lm.head, record, spec)


def load_source(spec: SourceSpec, runtime, seed: int = 0) -> ModelSource:
    """The model and ID data of a run folder or of a model spec (exactly one of them)."""
    if bool(spec.run_dir) == bool(spec.model):
        raise InputError("give either --run-dir DIR or --model SPEC (with --dataset)")
    if spec.run_dir:
        return _from_run(spec, runtime)
    return _from_model(spec, runtime, seed)
