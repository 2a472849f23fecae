"""The bad-images policy: what a reader of image files does with one it cannot use.

``error`` (the default) stops at the first such image with one line naming the file and the
problem. ``skip`` leaves every such image out, and records each one (the file and the reason):
a data set read this way carries its records (``IDData.describe()``, so run.json and reports),
and the process keeps all of them (:func:`skipped`), which commands write to results.json and
count on stderr. Skipping is never silent.

The policy is process-wide, like the progress switch: the command line sets it from
``--bad-images`` (or a config's ``bad_images`` key) with :func:`set_policy`; Python code may use
``with using("skip"): ...``. Images are checked in the main process (DataLoader workers only
report what they found), so the policy needs no passing to workers.
"""

from __future__ import annotations

from contextlib import contextmanager

from .._validate import InputError

POLICIES = ("error", "skip")
_policy = "error"
_skipped: list[dict] = []


def set_policy(policy: str) -> None:
    """Set the process-wide policy and clear the record of skipped images."""
    global _policy
    if policy not in POLICIES:
        raise InputError(f"bad_images must be error or skip, got {policy!r}")
    _policy = policy
    _skipped.clear()


def policy() -> str:
    return _policy


@contextmanager
def using(policy: str):
    """``with using("skip"):`` reads with that policy; the previous one (and its record) is
    restored afterwards. Yields the list that collects the skipped images."""
    global _policy
    old, kept = _policy, list(_skipped)
    set_policy(policy)
    try:
        yield _skipped
    finally:
        _policy = old
        _skipped[:] = kept


@contextmanager
def applied(policy: str):
    """``policy`` for the duration, keeping what it records (a run folder's data rebuilt with
    the policy it was trained with); the previous policy is restored afterwards."""
    global _policy
    if policy not in POLICIES:
        raise InputError(f"bad_images must be error or skip, got {policy!r}")
    old, _policy = _policy, policy
    try:
        yield
    finally:
        _policy = old


def record(found: list[dict]) -> None:
    """Add ``{"file": ..., "reason": ...}`` records of skipped images to the process record."""
    _skipped.extend(found)


def skipped() -> list[dict]:
    """Every image skipped in this process since the policy was set (a copy)."""
    return list(_skipped)


def entry(file: str, message: str) -> dict:
    """The record of one skipped image; ``message`` is the reader's one line, whose leading
    ``file: `` is dropped from the reason."""
    head = f"{file}: "
    return {"file": file, "reason": message[len(head) :] if message.startswith(head) else message}
