"""Epoch and step times that do not stall the device.

On CUDA a step's time is read from events recorded on the stream after each step (no host
synchronisation per step); the device is synchronised once, before the epoch's timer is read,
so the epoch time counts the work queued on it. On the CPU a step ends when its Python returns.
"""

from __future__ import annotations

import time

import numpy as np
import torch


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (before a timer is read)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class StepClock:
    """``start()``, ``tick()`` after every step, ``stop(images)`` -> seconds, images/s and
    step-time percentiles (milliseconds)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"

    def start(self) -> None:
        synchronize(self.device)
        self.t0 = time.perf_counter()
        if self.cuda:
            self.events = [torch.cuda.Event(enable_timing=True)]
            self.events[0].record()
        else:
            self.marks = [self.t0]

    def tick(self) -> None:
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            self.events.append(ev)
        else:
            self.marks.append(time.perf_counter())

    def stop(self, images: int) -> dict:
        synchronize(self.device)
        seconds = time.perf_counter() - self.t0
        if self.cuda:
            ev = self.events
            ms = np.array([a.elapsed_time(b) for a, b in zip(ev[:-1], ev[1:])])
        else:
            ms = np.diff(np.array(self.marks)) * 1000.0
        out = {"seconds": seconds, "images_per_s": images / seconds}
        if len(ms):
            p50, p90, p99 = np.percentile(ms, [50, 90, 99])
            out.update(step_ms_p50=float(p50), step_ms_p90=float(p90), step_ms_p99=float(p99))
        return out


SPEED_KEYS = ("images_per_s", "step_ms_p50", "step_ms_p90", "step_ms_p99")


def run_speed(metrics: dict) -> dict:
    """Training speed of a run (its ``metrics.json``): the median over its epochs of images/s
    and of the step-time percentiles (milliseconds; device-event times on CUDA); empty when
    its epochs did not record them."""
    hist = metrics.get("history", [])
    return {k: float(np.median([h[k] for h in hist])) for k in SPEED_KEYS
            if hist and all(k in h for h in hist)}  # fmt: skip


def run_training_s(metrics: dict) -> float | None:
    """The training time of a run as its record says (the sum of its epochs' seconds, which
    a resumed run keeps); None when an epoch did not record it."""
    hist = metrics.get("history") or []
    if not hist or not all(isinstance(h.get("seconds"), int | float) for h in hist):
        return None
    return float(sum(h["seconds"] for h in hist))
