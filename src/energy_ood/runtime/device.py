"""Where and how computation runs: device choice and mixed precision.

* ``resolve_device("auto" | "cpu" | "cuda" | "cuda:N" | "mps")``: ``auto`` takes CUDA, then
  MPS, then the CPU. Asking for a device this machine lacks is an :class:`InputError` (the CLI
  exits 2 with one line), never a silent fall-back to the CPU.
* ``resolve_amp(amp, device)``: ``"auto"`` is bfloat16 on CUDA devices that support it, else
  float16 on CUDA, and float32 (off) on the CPU and MPS; ``"bf16"``/``"fp16"``/``"off"`` are
  taken as asked (fp16 on the CPU is refused: no GradScaler there). fp16 training uses a
  GradScaler (``energy_ood.train.loop``).
* :class:`Runtime`: device, precision, threads (:mod:`.threads`), torch.compile and data path
  of one command; :func:`start_runtime` makes one and joins torchrun's process group.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validate import InputError
from .threads import set_threads

AMP_CHOICES = ("auto", "bf16", "fp16", "off")
DEVICE_HELP = "auto | cpu | cuda | cuda:N | mps (default auto: CUDA, then MPS, then CPU)"


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """The ``torch.device`` for ``spec``; an InputError when this machine does not have it."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    if isinstance(spec, str) and not spec.strip():
        raise InputError(f"--device {spec!r}: empty; expected {DEVICE_HELP}")
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise InputError(f"--device {spec!r}: expected {DEVICE_HELP}") from None
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(
                f"--device {spec}: CUDA is not available on this machine "
                f"(torch {torch.__version__}); use --device cpu or auto"
            )
        n = torch.cuda.device_count()
        index = 0 if dev.index is None else dev.index
        if index >= n:
            raise InputError(f"--device {spec}: this machine has {n} CUDA device(s)")
        return torch.device("cuda", index)
    if dev.type == "mps":
        if not _mps_available():
            raise InputError(f"--device {spec}: MPS is not available on this machine")
        return dev
    raise InputError(f"--device {spec!r}: expected {DEVICE_HELP}")


def check_device_spec(spec: str) -> str:
    """``spec`` if it names a device this package knows (whether or not this machine has it)."""
    s = spec.strip().lower() if isinstance(spec, str) else ""
    ok = s in ("auto", "cpu", "cuda", "mps") or (s.startswith("cuda:") and s[5:].isdigit())
    if not ok:
        raise InputError(f"{spec!r}: expected {DEVICE_HELP}")
    return spec


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_amp(amp: str | None, device: torch.device) -> str:
    """``"bf16"``, ``"fp16"`` or ``"off"`` for the ``--amp`` choice on ``device``."""
    amp = (amp or "auto").lower()
    if amp not in AMP_CHOICES:
        raise InputError(f"--amp {amp!r}: choose one of {', '.join(AMP_CHOICES)}")
    if amp == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "off"
    if amp == "fp16" and device.type == "cpu":
        raise InputError("--amp fp16 needs a GPU; on the CPU use --amp bf16 or off")
    return amp


def amp_dtype(amp: str) -> torch.dtype | None:
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)


def autocast(device: torch.device, amp: str):
    """The autocast context for ``amp`` on ``device`` (a no-op context when off)."""
    dtype = amp_dtype(amp)
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter (or buffer); the CPU for a stateless model."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


@dataclass(frozen=True)
class Runtime:
    """How a command runs: device, precision, threads, torch.compile, data path."""

    device: torch.device
    amp: str = "off"
    threads: int = 1
    compile: bool = False
    data_mode: str = "auto"  # "auto" | "memory" | "stream"

    @classmethod
    def create(
        cls,
        device="auto",
        amp="auto",
        threads=None,
        compile=False,
        data_mode="auto",
    ) -> Runtime:
        dev = resolve_device(device)
        if data_mode not in ("auto", "memory", "stream"):
            raise InputError(f"--data-mode {data_mode!r}: choose auto, memory or stream")
        return cls(dev, resolve_amp(amp, dev), set_threads(threads), bool(compile), data_mode)

    def describe(self) -> dict:
        out = {
            "device": str(self.device),
            "amp": self.amp,
            "threads": self.threads,
            "compile": self.compile,
            "data_mode": self.data_mode,
        }
        if self.device.type == "cuda":
            out["device_name"] = torch.cuda.get_device_name(self.device)
        return out

    def autocast(self):
        return autocast(self.device, self.amp)


def start_runtime(device="auto", amp="auto", threads=None, compile=False, data_mode="auto"):
    """:meth:`Runtime.create`, then torchrun's process group joined when launched by torchrun
    (each rank on its own CUDA device): how every command and benchmark starts."""
    from . import dist

    rt = Runtime.create(device, amp, threads, compile, data_mode)
    dev = dist.init(rt.device)
    return rt if dev == rt.device else Runtime(dev, rt.amp, rt.threads, rt.compile, rt.data_mode)


def cpu_runtime() -> Runtime:
    """The CPU, float32, current threads: what library calls use when given no runtime."""
    return Runtime(torch.device("cpu"), "off", torch.get_num_threads(), False, "auto")
