"""Include/exclude patterns: which archive paths `create`, `extract` and
friends act on.

The pattern language is BorgBackup's. A pattern may start with a
style prefix: `fm:` (fnmatch, `*` crosses `/`), `sh:` (shell, `*` stays within
one name, `**/` spans directories), `re:` (Python regex, searched), `pp:`
(path prefix) or `pf:` (exact path). Apart from `re:`, every style matches a
path and everything below it (`pf:` only the path itself), and a leading `/`
or `./` in the pattern is dropped so it meets the stored relative form.

Pattern lines (`--pattern`, `--patterns-from`) are `+ PAT` (include), `- PAT`
(exclude), `! PAT` (exclude, do not recurse), `R PATH` (a root to back up)
and `P STYLE` (default style of the lines that follow).

The first pattern that matches decides; with none, `fallback` does.
"""

import fnmatch
import os
import posixpath
import re
from collections.abc import Callable, Iterable

from hutch.errors import UsageError

STYLES = ("fm", "sh", "re", "pp", "pf")
_STYLE_LIST = ", ".join(s + ":" for s in STYLES)

INCLUDE = "include"
EXCLUDE = "exclude"
EXCLUDE_NORECURSE = "exclude-norecurse"
_LINE_ACTIONS = {"+": INCLUDE, "-": EXCLUDE, "!": EXCLUDE_NORECURSE}
_LINE_EXAMPLE = "e.g. '- home/*/.cache', '+ home/susan', '! proc', 'R /home' or 'P fm'"


def _normalise(text: str) -> str:
    """The pattern as a stored path looks: no leading `/`, no `./`, no `//`.
    "/" and "." become "", the archive root."""
    path = posixpath.normpath(text).lstrip("/")
    return "" if path == "." else path


def _sh_translate(pat: str) -> str:
    """Regex source for a shell-style pattern (no anchors)."""
    out = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "*":
            j = i
            while j < n and pat[j] == "*":
                j += 1
            # `**` is special only as a whole path component, as in most shells.
            whole = (i == 0 or pat[i - 1] == "/") and j - i >= 2
            if whole and j < n and pat[j] == "/":
                out.append("(?:[^/]*/)*")
                j += 1
            elif whole and j == n:
                out.append(".*")
            else:
                out.append("[^/]*")
            i = j
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = i + 1
            if j < n and pat[j] == "!":
                j += 1
            if j < n and pat[j] == "]":
                j += 1
            while j < n and pat[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(c))
                i += 1
                continue
            body = pat[i + 1 : j]
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            # Keep `-` for ranges; escape what would change the meaning of a
            # Python character set.
            body = "".join("\\" + ch if ch in "\\^[]&~|" else ch for ch in body)
            # A name never contains `/`, so a negated set must not match it either.
            out.append(f"[^/{body}]" if negate else f"[{body}]")
            i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def _compile_test(style: str, text: str, raw: str) -> Callable[[str], object]:
    """A test for one pattern body (prefix removed). (`PatternMatcher` looks
    `pf` patterns up by path instead of testing them one by one.)

    `raw` is the pattern as the user wrote it, for error messages."""
    if style == "pf":
        return _normalise(text).__eq__
    if style == "re":
        try:
            return re.compile(text).search
        except re.error as e:
            raise UsageError(
                f"invalid regular expression in pattern {raw!r}: {e}; "
                "write a Python regex, e.g. 're:^home/[^/]+/\\.cache/'"
            ) from None
    # Borg's rule: with a trailing slash a glob pattern means the directory's
    # contents, while the directory itself stays in.
    contents_only = style in ("fm", "sh") and text.endswith("/")
    path = _normalise(text)
    if not path:
        source = ""  # the archive root: every path is below it
    elif style == "fm":
        # fnmatch.translate yields an anchored group such as `(?s:...)\Z`, so
        # two of them can be joined as alternatives.
        below = fnmatch.translate(path + "/*")
        source = below if contents_only else f"(?:{fnmatch.translate(path)})|(?:{below})"
    else:
        body = re.escape(path) if style == "pp" else _sh_translate(path)
        source = body + ("/.*" if contents_only else "(?:/.*)?") + r"\Z"
    try:
        return re.compile(source, re.DOTALL).match
    except re.error as e:
        raise UsageError(
            f"invalid pattern {raw!r}: {e}; check its [...] character sets, e.g. '[a-z]'"
        ) from None


def split_style(text: str, default: str) -> tuple[str, str]:
    """(style, body) of a pattern: an explicit `xx:` prefix or `default`."""
    if len(text) > 2 and text[2] == ":" and text[:2].isalnum():
        style = text[:2]
        if style not in STYLES:
            raise UsageError(
                f"unknown pattern style {style + ':'!r} in {text!r}: use one of {_STYLE_LIST} "
                f"(to match a name that starts with it, write '{default}:{text}')"
            )
        return style, text[3:]
    return default, text


def _style_name(text: str) -> str:
    name = text.strip()
    name = name.removesuffix(":")
    if name not in STYLES:
        raise UsageError(
            f"unknown pattern style {text!r}: use one of {', '.join(STYLES)}, e.g. 'P sh'"
        )
    return name


class _Pattern:
    __slots__ = ("text", "action", "test", "hits", "index")

    def __init__(self, text: str, action: str, test: Callable[[str], object], index: int):
        self.text = text
        self.action = action
        self.test = test
        self.hits = 0
        self.index = index


class PatternMatcher:
    """An ordered list of include/exclude patterns; the first match decides.

    `fallback` is the answer for a path no pattern matches: True (include)
    for `create`, False for `extract` with PATH arguments."""

    def __init__(self, fallback: bool = True):
        self.fallback = fallback
        self.roots: list[str] = []
        self._patterns: list[_Pattern] = []
        # `pf:` patterns are looked up in a dict; the index of the entry lets
        # `_lookup` keep first-match-wins against the ordered list.
        self._full: dict[str, _Pattern] = {}
        self._includes: list[_Pattern] = []
        self._count = 0
        self._line_style = "sh"

    def _add(self, raw: str, style: str, body: str, action: str) -> None:
        if not body:
            raise UsageError(f"empty pattern {raw!r}: give a path or glob, e.g. 'home/*/.cache'")
        pattern = _Pattern(raw, action, _compile_test(style, body, raw), self._count)
        if style == "pf":
            self._full.setdefault(_normalise(body), pattern)
        else:
            self._patterns.append(pattern)
        self._count += 1
        if action == INCLUDE:
            self._includes.append(pattern)

    def add_exclude(self, text: str) -> None:
        """One `--exclude` value; the default style is `fm:`."""
        style, body = split_style(text, "fm")
        self._add(text, style, body, EXCLUDE)

    def add_include(self, text: str, style: str = "pp") -> None:
        """An include of `text`, taken literally in `style` (no prefix is
        parsed): `extract` adds one `pp` include per PATH argument."""
        self._add(text, _style_name(style), text, INCLUDE)

    def add_pattern_line(self, line: str) -> None:
        """One `--pattern` value or patterns-file line: `+`, `-`, `!`, `R` or `P`."""
        command, rest = line[:1], line[1:].lstrip()
        if command in _LINE_ACTIONS:
            if not rest:
                raise UsageError(f"pattern line {line!r} has no pattern: {_LINE_EXAMPLE}")
            style, body = split_style(rest, self._line_style)
            self._add(rest, style, body, _LINE_ACTIONS[command])
        elif command == "R":
            if not rest:
                raise UsageError(f"pattern line {line!r} has no path: write e.g. 'R /home'")
            self.roots.append(rest)
        elif command == "P":
            if not rest:
                raise UsageError(f"pattern line {line!r} has no style: write e.g. 'P sh'")
            self._line_style = _style_name(rest)
        else:
            raise UsageError(
                f"invalid pattern line {line!r}: start it with '+', '-', '!', 'R' or 'P' "
                f"and a space, {_LINE_EXAMPLE}"
            )

    def load_exclude_file(self, lines: Iterable[str]) -> None:
        """An `--exclude-from` file: one exclude per line, `#` comments."""
        for number, line in _clean_lines(lines):
            try:
                self.add_exclude(line)
            except UsageError as e:
                raise UsageError(f"line {number}: {e}") from None

    def load_patterns_file(self, lines: Iterable[str]) -> None:
        """A `--patterns-from` file. Its `P` lines last until the file ends,
        so every file starts with the `sh` default, as borg does."""
        saved, self._line_style = self._line_style, "sh"
        try:
            for number, line in _clean_lines(lines):
                try:
                    self.add_pattern_line(line)
                except UsageError as e:
                    raise UsageError(f"line {number}: {e}") from None
        finally:
            self._line_style = saved

    @property
    def empty(self) -> bool:
        """True if there are no include/exclude patterns (roots don't count)."""
        return self._count == 0

    def _lookup(self, path: str) -> _Pattern | None:
        full = self._full.get(path) if self._full else None
        for pattern in self._patterns:
            if full is not None and pattern.index > full.index:
                break
            if pattern.test(path):
                pattern.hits += 1
                return pattern
        if full is not None:
            full.hits += 1
        return full

    def match(self, path: bytes) -> bool:
        """Whether to include `path` (stored form, e.g. b"home/user/file")."""
        pattern = self._lookup(os.fsdecode(path))
        if pattern is None:
            return self.fallback
        return pattern.action == INCLUDE

    def decide(self, path: bytes, is_dir: bool) -> tuple[bool, bool]:
        """(include, recurse) for a walker. An excluded directory is entered
        only if an include pattern might pick something below it, never after `!`."""
        if not self._count:  # no patterns: every path gets the fallback
            return self.fallback, is_dir and self.fallback
        pattern = self._lookup(os.fsdecode(path))
        if pattern is None:
            include = self.fallback
        else:
            include = pattern.action == INCLUDE
        if not is_dir:
            return include, False
        if include:
            return True, True
        if pattern is not None and pattern.action == EXCLUDE_NORECURSE:
            return False, False
        return False, bool(self._includes)

    def unmatched_includes(self) -> list[str]:
        """Include patterns (as given) that never decided a path, in order."""
        return [p.text for p in self._includes if p.hits == 0]


def _clean_lines(lines: Iterable[str]) -> Iterable[tuple[int, str]]:
    """(line number, text) of the lines that carry a pattern: stripped, with
    blank lines and `#` comments left out."""
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if text and not text.startswith("#"):
            yield number, text
