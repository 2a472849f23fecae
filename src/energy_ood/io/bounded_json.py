"""JSON from files a user gives (run.json, detectors): numbers and nesting are bounded, so a
100,000-digit integer, an integer past 64 bits or a 100,000-deep array is one line naming the
file, never a traceback or an overflow further on."""

from __future__ import annotations

import json

from .._validate import InputError

MAX_INT_DIGITS = 20  # 2**64 has 20 digits: larger integers are no count, size or seed of ours


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _TooLong(digits)
    return int(text)


class _TooLong(ValueError):
    def __init__(self, digits: int):
        super().__init__(digits)
        self.digits = digits


def parse_json(text: str | bytes, where, what: str = "JSON file"):
    """The value of ``text``; an InputError naming ``where`` for anything that is not
    ordinary JSON (invalid, nested too deeply, an integer of more than 20 digits)."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, parse_int=_bounded_int)
    except _TooLong as e:
        raise InputError(f"{where}: an integer of {e.digits} digits; not a valid {what}") from None
    except RecursionError:
        raise InputError(f"{where}: nested too deeply; not a valid {what}") from None
    except UnicodeDecodeError as e:
        raise InputError(
            f"{where}: not UTF-8 ({e.reason} at byte {e.start}); not a valid {what}"
        ) from None
    except ValueError as e:  # JSONDecodeError, and int() limits of other spellings
        raise InputError(f"{where}: not a valid {what} (invalid JSON: {e})") from None
