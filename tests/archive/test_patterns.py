"""Tests for hutch.archive.patterns: borg-compatible include/exclude patterns."""

import io

import pytest

from hutch.archive.patterns import PatternMatcher
from hutch.errors import HutchError, UsageError


def matches(pattern: str, path: bytes | str) -> bool:
    """Whether `pattern` (with its style prefix) matches `path`, checked both
    as an include (fallback False) and as an exclude (fallback True), which
    must agree."""
    if isinstance(path, str):
        path = path.encode()
    include = PatternMatcher(fallback=False)
    include.add_pattern_line("+ " + pattern)
    exclude = PatternMatcher(fallback=True)
    exclude.add_pattern_line("- " + pattern)
    result = include.match(path)
    assert exclude.match(path) is not result
    return result


def excluded_by(pattern: str, path: bytes | str) -> bool:
    """Whether an `--exclude` value excludes `path`."""
    if isinstance(path, str):
        path = path.encode()
    m = PatternMatcher()
    m.add_exclude(pattern)
    return not m.match(path)


# --- styles --------------------------------------------------------------------------------------

FM_CASES = [
    ("fm:home/*/junk", "home/user/junk", True),
    ("fm:home/*/junk", "home/user/sub/junk", True),  # `*` crosses `/` in fm
    ("fm:home/*/junk", "home/user/junk/file", True),  # and below the match
    ("fm:home/*/junk", "home/user/junkyard", False),
    ("fm:home/*/junk", "home/junk", False),
    ("fm:home/*/junk", "xhome/user/junk", False),  # anchored at the start
    ("fm:*.tmp", "a/b/c.tmp", True),
    ("fm:*.tmp", "c.tmp", True),
    ("fm:*.tmp", "a/b/c.tmpx", False),
    ("fm:home/user", "home/user", True),
    ("fm:home/user", "home/user/x/y", True),
    ("fm:home/user", "home/username", False),
    ("fm:home/user", "home", False),
    ("fm:home/user/", "home/user", False),  # trailing slash: contents only
    ("fm:home/user/", "home/user/x", True),
    ("fm:home/?ser", "home/user", True),
    ("fm:home/?ser", "home/uuser", False),
    ("fm:home/[ab]*", "home/alice", True),
    ("fm:home/[ab]*", "home/carol", False),
    ("fm:home/[!ab]*", "home/alice", False),
    ("fm:home/[!ab]*", "home/carol", True),
    ("fm:file[?]", "file?", True),
    ("fm:file[?]", "filex", False),
    ("fm:a.c", "abc", False),  # `.` is literal
]

SH_CASES = [
    ("sh:home/*/junk", "home/user/junk", True),
    ("sh:home/*/junk", "home/user/sub/junk", False),  # `*` stays in one name
    ("sh:home/*/junk", "home/user/junk/inner", True),
    ("sh:home/**/junk", "home/junk", True),  # `**/` is zero or more directories
    ("sh:home/**/junk", "home/a/junk", True),
    ("sh:home/**/junk", "home/a/b/c/junk", True),
    ("sh:home/**/junk", "home/a/b/junk/inner", True),
    ("sh:home/**/junk", "home/a/b/junkyard", False),
    ("sh:home/**/junk", "home/a/xjunk", False),
    ("sh:**/*.pyc", "a.pyc", True),
    ("sh:**/*.pyc", "src/pkg/a.pyc", True),
    ("sh:**/*.pyc", "src/pkg/a.py", False),
    ("sh:*.pyc", "a.pyc", True),
    ("sh:*.pyc", "src/a.pyc", False),
    ("sh:home/?", "home/a", True),
    ("sh:home/?", "home/ab", False),
    ("sh:a?b", "a/b", False),  # `?` does not match `/`
    ("sh:home/user", "home/user", True),
    ("sh:home/user", "home/user/x/y", True),
    ("sh:home/user", "home/username", False),
    ("sh:home/user/", "home/user", False),  # trailing slash: contents only
    ("sh:home/user/", "home/user/f", True),
    ("sh:home/**", "home/a/b", True),
    ("sh:home/**", "home", False),
    ("sh:home/**", "homer/a", False),
    ("sh:**", "any/thing", True),
    ("sh:x**y", "xaay", True),  # `**` inside a name is just `*`
    ("sh:x**y", "x/y", False),
    ("sh:x**/y", "xa/y", True),
    ("sh:x**/y", "xa/b/y", False),  # not a whole component: no directory spanning
    ("sh:x[!a]y", "xby", True),
    ("sh:x[!a]y", "xay", False),
    ("sh:x[!a]y", "x/y", False),  # a negated set does not match `/`
    ("sh:a[b-d]e", "ace", True),
    ("sh:a[b-d]e", "aee", False),
    ("sh:a[]]b", "a]b", True),
    ("sh:a[^]b", "a^b", True),  # `^` is literal, only `!` negates
    ("sh:a[^]b", "axb", False),
    ("sh:file[?]", "file?", True),
    ("sh:file[?]", "filex", False),
    ("sh:a[", "a[", True),  # an unclosed `[` is literal
    ("sh:a.b", "axb", False),
    ("sh:a+b", "a+b", True),
]

RE_CASES = [
    ("re:^home/[^/]+/junk$", "home/user/junk", True),
    ("re:^home/[^/]+/junk$", "home/user/junk/x", False),
    ("re:^home/[^/]+/junk$", "home/a/b/junk", False),
    ("re:junk", "home/user/junk/x", True),  # searched, not anchored
    ("re:^junk", "home/junk", False),
    ("re:\\.tmp$", "a/b.tmp", True),
    ("re:\\.tmp$", "a/b.tmp/c", False),
    ("re:^/home", "home/x", False),  # a regex is not normalised
    ("re:^home/", "home/x", True),
]

PP_CASES = [
    ("pp:foo", "foo", True),
    ("pp:foo", "foo/bar", True),
    ("pp:foo", "foo/bar/baz", True),
    ("pp:foo", "foobar", False),
    ("pp:/foo", "foobar", False),
    ("pp:/foo", "foo/x", True),
    ("pp:foo", "x/foo", False),
    ("pp:foo/", "foo", True),  # a trailing slash changes nothing for pp
    ("pp:foo*", "foox", False),  # no wildcards
    ("pp:foo*", "foo*/a", True),
    ("pp:a.c", "abc", False),
    ("pp:home/user", "home", False),
]

PF_CASES = [
    ("pf:home/f.txt", "home/f.txt", True),
    ("pf:/home/f.txt", "home/f.txt", True),
    ("pf:./home//f.txt", "home/f.txt", True),
    ("pf:home/f.txt", "home/f.txt/x", False),  # exact path only
    ("pf:home/f.txt", "home/f.txtx", False),
    ("pf:home/f.txt", "home", False),
    ("pf:home/*", "home/a", False),  # no wildcards
    ("pf:home/*", "home/*", True),
]


@pytest.mark.parametrize(
    "pattern, path, expected", FM_CASES + SH_CASES + RE_CASES + PP_CASES + PF_CASES
)
def test_style(pattern, path, expected):
    assert matches(pattern, path) is expected


@pytest.mark.parametrize(
    "pattern, path, expected",
    [
        ("home/*/junk", "home/a/b/junk", True),  # fm: `*` crosses `/`
        ("*.tmp", "deep/dir/x.tmp", True),
        ("home/user", "home/user/file", True),
        ("home/user", "home/username", False),
    ],
)
def test_exclude_default_style_is_fm(pattern, path, expected):
    assert excluded_by(pattern, path) is expected


def test_pattern_line_default_style_is_sh():
    m = PatternMatcher()
    m.add_pattern_line("- home/*/junk")
    assert not m.match(b"home/a/junk")
    assert m.match(b"home/a/b/junk")  # sh: `*` does not cross `/`


def test_explicit_prefix_overrides_default_style():
    m = PatternMatcher()
    m.add_pattern_line("- fm:home/*/junk")
    m.add_exclude("sh:var/*/junk")
    assert not m.match(b"home/a/b/junk")
    assert m.match(b"var/a/b/junk")
    assert not m.match(b"var/a/junk")


# --- normalisation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern", ["home/*/junk", "/home/*/junk", "./home/*/junk", "//home//*/junk", "/./home/*/junk"]
)
def test_leading_slash_and_dot_are_dropped(pattern):
    assert excluded_by(pattern, "home/user/junk")
    assert not excluded_by(pattern, "home/user/other")


@pytest.mark.parametrize("style", ["fm", "sh", "pp", "pf"])
@pytest.mark.parametrize("pattern", ["borgrepo", "/borgrepo", "./borgrepo", "borgrepo/"])
def test_plain_name_matches_stored_path(style, pattern):
    contents_only = pattern.endswith("/") and style in ("fm", "sh")
    assert matches(f"{style}:{pattern}", b"borgrepo") is not contents_only
    assert matches(f"{style}:{pattern}", b"borgrepo/data") is (style != "pf")
    assert not matches(f"{style}:{pattern}", b"borgrepo2")


@pytest.mark.parametrize("style", ["fm", "sh", "pp"])
@pytest.mark.parametrize("root", ["/", ".", "./"])
def test_root_pattern_matches_everything(style, root):
    assert matches(f"{style}:{root}", b"home")
    assert matches(f"{style}:{root}", b"home/user/file")


# --- order and decisions -------------------------------------------------------------------------


def test_first_match_wins():
    m = PatternMatcher()
    m.load_patterns_file(["+ home/susan", "- home/*"])
    assert m.match(b"home/susan")
    assert m.match(b"home/susan/notes.txt")
    assert not m.match(b"home/bob")
    assert not m.match(b"home/bob/notes.txt")
    assert m.match(b"etc/passwd")  # nothing matches: fallback


def test_first_match_wins_reversed_order():
    m = PatternMatcher()
    m.load_patterns_file(["- home/*", "+ home/susan"])
    assert not m.match(b"home/susan/notes.txt")


def test_exclude_and_pattern_lines_share_one_order():
    m = PatternMatcher()
    m.add_exclude("home")
    m.add_pattern_line("+ home/keep")
    assert not m.match(b"home/keep")

    m = PatternMatcher()
    m.add_pattern_line("+ home/keep")
    m.add_exclude("home")
    assert m.match(b"home/keep")
    assert not m.match(b"home/other")


def test_path_full_patterns_keep_their_place_in_the_order():
    later = PatternMatcher()
    later.load_patterns_file(["- home/*", "+ pf:home/special"])
    assert not later.match(b"home/special")

    earlier = PatternMatcher()
    earlier.load_patterns_file(["+ pf:home/special", "- home/*"])
    assert earlier.match(b"home/special")
    assert not earlier.match(b"home/other")

    # The first of two pf patterns for one path decides.
    twice = PatternMatcher()
    twice.load_patterns_file(["- pf:a", "+ pf:a", "+ pf:b", "- pf:b"])
    assert not twice.match(b"a")
    assert twice.match(b"b")


def test_pf_after_non_matching_patterns_still_matches():
    m = PatternMatcher()
    m.load_patterns_file(["- etc", "- var/**", "- pf:home/f"])
    assert not m.match(b"home/f")
    assert m.match(b"home/g")


def test_fallback_false_for_extract():
    m = PatternMatcher(fallback=False)
    m.add_include("home/user/docs")
    assert m.match(b"home/user/docs")
    assert m.match(b"home/user/docs/a/b")
    assert not m.match(b"home/user/docsx")
    assert not m.match(b"home/user")
    assert not m.match(b"etc/passwd")


def test_extract_excludes_before_includes():
    m = PatternMatcher(fallback=False)
    m.add_exclude("*.tmp")
    m.add_include("/home/user")
    assert m.match(b"home/user/a.txt")
    assert not m.match(b"home/user/a.tmp")
    assert not m.match(b"srv/x")


def test_add_include_takes_text_literally():
    m = PatternMatcher(fallback=False)
    m.add_include("re:foo")
    assert m.match(b"re:foo/x")
    assert not m.match(b"foo")


@pytest.mark.parametrize(
    "style, path, expected",
    [("sh", b"home/a/b/x", False), ("fm", b"home/a/b/x", True), ("sh", b"home/a/x", True)],
)
def test_add_include_style(style, path, expected):
    m = PatternMatcher(fallback=False)
    m.add_include("home/*/x", style=style)
    assert m.match(path) is expected


@pytest.mark.parametrize("fallback", [True, False])
def test_empty_matcher_returns_fallback(fallback):
    m = PatternMatcher(fallback=fallback)
    assert m.empty
    assert m.match(b"anything") is fallback
    assert m.decide(b"dir", True) == (fallback, fallback)


def test_empty_property():
    m = PatternMatcher()
    m.load_patterns_file(["R /home", "P fm"])
    assert m.empty  # roots and styles are no patterns
    m.add_exclude("x")
    assert not m.empty
    m = PatternMatcher()
    m.add_pattern_line("+ pf:x")
    assert not m.empty


# --- recursion -----------------------------------------------------------------------------------


def test_exclude_norecurse():
    m = PatternMatcher()
    m.add_pattern_line("! proc")
    assert m.decide(b"proc", True) == (False, False)
    assert m.decide(b"proc/1", False) == (False, False)
    assert m.decide(b"etc", True) == (True, True)


def test_exclude_without_includes_does_not_recurse():
    m = PatternMatcher()
    m.add_exclude("home/*/.cache")
    assert m.decide(b"home/a/.cache", True) == (False, False)
    assert m.decide(b"home/a", True) == (True, True)


def test_exclude_with_includes_recurses():
    m = PatternMatcher()
    m.load_patterns_file(["+ home/*/.cache/keep", "- home/*/.cache"])
    assert m.decide(b"home/a/.cache", True) == (False, True)
    assert m.decide(b"home/a/.cache/keep", False) == (True, False)
    assert m.decide(b"home/a/.cache/keep", True) == (True, True)
    assert m.decide(b"home/a/.cache/other", False) == (False, False)


def test_include_anywhere_makes_excluded_dirs_recursed():
    m = PatternMatcher()
    m.add_exclude("tmp")
    m.add_pattern_line("+ srv")
    assert m.decide(b"tmp", True) == (False, True)
    assert m.decide(b"tmp/x", False) == (False, False)  # still excluded: first match


def test_norecurse_wins_even_with_includes():
    m = PatternMatcher()
    m.load_patterns_file(["+ proc/keep", "! proc"])
    assert m.decide(b"proc", True) == (False, False)


def test_non_directory_never_recurses():
    m = PatternMatcher()
    m.add_pattern_line("+ a")
    assert m.decide(b"a", False) == (True, False)
    assert m.decide(b"b", False) == (True, False)


def test_fallback_false_recurses_only_when_includes_exist():
    m = PatternMatcher(fallback=False)
    m.add_include("home/user/docs")
    assert m.decide(b"home", True) == (False, True)
    assert m.decide(b"home/user/docs", True) == (True, True)
    m = PatternMatcher(fallback=False)
    m.add_exclude("x")
    assert m.decide(b"home", True) == (False, False)


# --- pattern lines and files ---------------------------------------------------------------------


def test_p_lines_switch_the_default_style():
    m = PatternMatcher()
    m.load_patterns_file(
        [
            "- a/*/x",  # sh
            "P fm",
            "- b/*/x",  # fm
            "P re",
            "- ^c/.*/x$",
            "P pp",
            "- d",
            "P pf",
            "- e/f",
            "P sh",
            "- g/*/x",
        ]
    )
    assert m.match(b"a/1/2/x")
    assert not m.match(b"a/1/x")
    assert not m.match(b"b/1/2/x")
    assert not m.match(b"c/1/2/x")
    assert not m.match(b"d/1")
    assert m.match(b"dd")
    assert not m.match(b"e/f")
    assert m.match(b"e/f/g")
    assert m.match(b"g/1/2/x")


def test_p_line_does_not_change_exclude_style():
    m = PatternMatcher()
    m.add_pattern_line("P pf")
    m.add_exclude("a/*")
    assert not m.match(b"a/b/c")  # still fm


def test_p_line_on_command_line_persists():
    m = PatternMatcher()
    m.add_pattern_line("P fm")
    m.add_pattern_line("- a/*/x")
    assert not m.match(b"a/1/2/x")


def test_p_line_in_file_ends_with_the_file():
    m = PatternMatcher()
    m.load_patterns_file(["P fm", "- a/*/x"])
    m.add_pattern_line("- b/*/x")
    assert not m.match(b"a/1/2/x")
    assert m.match(b"b/1/2/x")  # back to sh


def test_each_patterns_file_starts_with_sh():
    m = PatternMatcher()
    m.add_pattern_line("P fm")
    m.load_patterns_file(["- a/*/x"])
    assert m.match(b"a/1/2/x")
    m.add_pattern_line("- b/*/x")
    assert not m.match(b"b/1/2/x")  # the command line's `P fm` is back


def test_p_line_accepts_colon():
    m = PatternMatcher()
    m.add_pattern_line("P fm:")
    m.add_pattern_line("- a/*/x")
    assert not m.match(b"a/1/2/x")


def test_r_lines_collect_roots():
    m = PatternMatcher()
    m.load_patterns_file(["R /home", "- home/*/.cache", "R /etc"])
    m.add_pattern_line("R relative/dir")
    assert m.roots == ["/home", "/etc", "relative/dir"]
    assert not m.match(b"home/a/.cache")


def test_patterns_file_comments_blank_lines_and_whitespace():
    text = "# a comment\n\n   \n  - foo  \n#- bar\n\t+ baz\n- *\n"
    m = PatternMatcher()
    m.load_patterns_file(io.StringIO(text))
    assert not m.match(b"foo")
    assert not m.match(b"bar")  # by `- *`: the comment added nothing
    assert m.match(b"baz/x")
    assert m.unmatched_includes() == []


def test_comment_is_not_a_pattern():
    m = PatternMatcher()
    m.load_patterns_file(["# - foo"])
    assert m.empty
    m.load_exclude_file(["# foo", ""])
    assert m.empty


def test_exclude_file():
    m = PatternMatcher()
    m.load_exclude_file(io.StringIO("# caches\n\n*.tmp\n  /var/cache  \nsh:home/*/x\n"))
    assert not m.match(b"a/b.tmp")
    assert not m.match(b"var/cache/apt")
    assert not m.match(b"home/u/x")
    assert m.match(b"home/u/v/x")
    assert m.match(b"var/lib")


def test_pattern_line_without_space():
    m = PatternMatcher()
    m.add_pattern_line("-foo")
    assert not m.match(b"foo")


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, arg, needles",
    [
        ("add_exclude", "xx:foo", ["'xx:'", "fm:, sh:, re:, pp:, pf:", "'fm:xx:foo'"]),
        ("add_pattern_line", "- zz:foo", ["'zz:'", "'sh:zz:foo'"]),
        ("add_exclude", "re:(", ["invalid regular expression", "'re:('"]),
        ("add_pattern_line", "+ re:[a", ["invalid regular expression"]),
        ("add_exclude", "sh:[z-a]", ["invalid pattern", "[a-z]"]),
        ("add_pattern_line", "x foo", ["invalid pattern line", "'x foo'", "'+', '-', '!'"]),
        ("add_pattern_line", "", ["invalid pattern line"]),
        ("add_pattern_line", "# foo", ["invalid pattern line"]),
        ("add_pattern_line", "-", ["has no pattern", "- home/*/.cache"]),
        ("add_pattern_line", "!  ", ["has no pattern"]),
        ("add_pattern_line", "R", ["has no path", "R /home"]),
        ("add_pattern_line", "P", ["has no style", "P sh"]),
        ("add_pattern_line", "P xx", ["unknown pattern style", "fm, sh, re, pp, pf"]),
        ("add_exclude", "", ["empty pattern"]),
        ("add_exclude", "fm:", ["empty pattern"]),
        ("add_include", "", ["empty pattern"]),
    ],
)
def test_usage_errors(call, arg, needles):
    m = PatternMatcher()
    with pytest.raises(UsageError) as info:
        getattr(m, call)(arg)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message
    assert m.empty  # nothing half-added


def test_usage_error_is_a_hutch_error():
    assert issubclass(UsageError, HutchError)


def test_bad_include_style():
    with pytest.raises(UsageError, match="unknown pattern style"):
        PatternMatcher().add_include("x", style="zz")


def test_file_errors_name_the_line():
    m = PatternMatcher()
    with pytest.raises(UsageError, match=r"^line 3: invalid pattern line 'bogus'"):
        m.load_patterns_file(["# ok", "- a", "bogus"])
    with pytest.raises(UsageError, match=r"^line 2: invalid regular expression"):
        m.load_exclude_file(["a", "re:)"])


def test_failed_patterns_file_restores_default_style():
    m = PatternMatcher()
    with pytest.raises(UsageError):
        m.load_patterns_file(["P fm", "bogus"])
    m.add_pattern_line("- a/*/x")
    assert m.match(b"a/1/2/x")  # sh, not the file's fm


def test_single_letter_before_colon_is_no_style():
    assert excluded_by("c:/x", "c:/x")


# --- paths that are not nice text ----------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    ["fm:home/*/junk", "sh:home/*/junk", "re:^home/.*/junk$", "pp:home", "sh:home/**/junk"],
)
def test_invalid_utf8_paths(pattern):
    assert matches(pattern, b"home/\xff\xfe/junk")
    assert not matches(pattern, b"srv/\xff\xfe/junk")


def test_invalid_utf8_in_pattern():
    # A pattern from argv holds undecodable bytes as surrogate escapes.
    name = b"home/caf\xe9".decode("utf-8", "surrogateescape")
    assert matches("pf:" + name, b"home/caf\xe9")
    assert not matches("pf:" + name, "home/café".encode())
    assert matches("pp:" + name, b"home/caf\xe9/x")
    assert matches("sh:home/caf?", b"home/caf\xe9")


@pytest.mark.parametrize(
    "pattern, path, expected",
    [
        ("sh:home/*/junk", b"home/a\nb/junk", True),
        ("fm:*.tmp", b"a\nb.tmp", True),
        ("fm:*.tmp", b"x.tmp\n", False),
        ("sh:*.tmp", b"x.tmp\n", False),
        ("sh:dir/**", b"dir/a\nb/c", True),
        ("sh:dir", b"dir/a\nb", True),
        ("pp:dir", b"dir/x\ny", True),
        ("pp:dir", b"dir\n", False),
        ("pf:x", b"x\n", False),
        ("pf:a\nb", b"a\nb", True),
        ("sh:a?b", b"a\nb", True),
        ("re:^a.b$", b"a\nb", False),  # a user's regex keeps its own flags
        ("re:(?s)^a.b$", b"a\nb", True),
    ],
)
def test_newlines_in_paths(pattern, path, expected):
    assert matches(pattern, path) is expected


# --- unmatched includes --------------------------------------------------------------------------


def test_unmatched_includes_for_extract():
    m = PatternMatcher(fallback=False)
    m.add_include("home/a")
    m.add_include("/home/b")
    m.add_include("home/c")
    for path in (b"home/a", b"home/a/f", b"home/c/g", b"home/bb"):
        m.match(path)
    assert m.unmatched_includes() == ["/home/b"]


def test_unmatched_includes_before_any_match_lists_all_in_order():
    m = PatternMatcher(fallback=False)
    m.add_include("z")
    m.add_include("a")
    assert m.unmatched_includes() == ["z", "a"]


def test_shadowed_include_counts_as_unmatched():
    m = PatternMatcher()
    m.add_exclude("home")
    m.add_pattern_line("+ home/x")
    m.match(b"home/x")
    assert m.unmatched_includes() == ["home/x"]


def test_unmatched_includes_from_pattern_lines():
    m = PatternMatcher()
    m.load_patterns_file(["+ sh:home/*", "+ pf:etc/x", "+ pf:etc/y", "- etc", "- never"])
    m.decide(b"home/u", True)
    m.match(b"etc/y")
    assert m.unmatched_includes() == ["pf:etc/x"]  # excludes are never reported
