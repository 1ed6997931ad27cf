"""Coupon codes: patterns, how many guesses they withstand, and generating them.

A pattern is literal characters with ``#`` where a random character goes, drawn from 32
that cannot be misread for one another (no 0/O, 1/I). A pattern must leave room for the
count asked: at most one code in ``GUESS_ODDS`` possible ones may exist, so a random
guess succeeds less than once in a hundred million tries (and wrong guesses are limited,
promo.services.attempts).
"""
from __future__ import annotations

import math
import re
import secrets
from typing import Callable, Iterable

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
SLOT = "#"
GUESS_ODDS = 10 ** 8
DEFAULT_PATTERN = "####-####-####"
MAX_LENGTH = 64
PATTERN_RULE = re.compile(r"^[A-Z0-9#-]+\Z")
SHARED_RULE = re.compile(r"^[A-Z0-9][A-Z0-9-]*\Z")


def normalise(code: str) -> str:
    """Codes are case-insensitive and may be typed with spaces around them."""
    return code.strip().upper()


def slots_needed(count: int) -> int:
    """Random characters a pattern needs for ``count`` codes to withstand guessing."""
    return math.ceil(math.log(count * GUESS_ODDS, len(ALPHABET)))


def pattern_errors(pattern: str, count: int) -> list[str]:
    problems = []
    if not PATTERN_RULE.match(pattern):
        problems.append("a pattern has letters, digits, dashes and # (a random character) only")
    if len(pattern) > MAX_LENGTH:
        problems.append(f"a pattern is at most {MAX_LENGTH} characters")
    slots, needed = pattern.count(SLOT), slots_needed(count)
    if slots < needed:
        problems.append(f"{count} codes need at least {needed} '#' in the pattern to be unguessable "
                        f"(this one has {slots})")
    return problems


def generate(pattern: str, count: int, taken: Callable[[Iterable[str]], set[str]],
             choice: Callable[[str], str] = secrets.choice) -> list[str]:
    """``count`` distinct codes of ``pattern``, none of them among those ``taken`` says
    exist already; drawn from the operating system's secure random source."""
    def one() -> str:
        return "".join(choice(ALPHABET) if ch == SLOT else ch for ch in pattern)

    codes: set[str] = set()
    while len(codes) < count:
        fresh = {one() for _ in range(count - len(codes))} - codes
        codes |= fresh - taken(fresh)
    return sorted(codes)
