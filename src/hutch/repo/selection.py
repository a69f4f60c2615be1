"""Choosing archives by name: -a/--match-archives PATTERN.

Styles: `sh:PATTERN` (shell-style: * ? [...]), `re:PATTERN` (a regular
expression, searched anywhere in the name), or a plain name (exact match).
Several patterns must all match.
"""

import fnmatch
import re
from collections.abc import Callable

from ..errors import UsageError


def _one(pattern: str) -> Callable[[str], bool]:
    if pattern.startswith("sh:"):
        compiled = re.compile(fnmatch.translate(pattern[3:]))
        return lambda name: compiled.match(name) is not None
    if pattern.startswith("re:"):
        try:
            compiled = re.compile(pattern[3:])
        except re.error as e:
            raise UsageError(f"invalid regular expression in {pattern!r}: {e}") from None
        return lambda name: compiled.search(name) is not None
    return lambda name: name == pattern


def archive_matcher(patterns: list[str] | None) -> Callable[[str], bool]:
    """A predicate on archive names; with no patterns, every name matches."""
    tests = [_one(p) for p in patterns or []]
    return lambda name: all(test(name) for test in tests)
