"""End to end: what a user gets for input that cannot work. Every case is
an error message naming the problem, the documented exit code, and never a
Python traceback."""

import os

from ..conftest import assert_clean_error


def _archives(hutch, repo) -> list[str]:
    return hutch("list", "--short", repo, check=0).out.split()


def test_wrong_passphrase_is_one_line_exit_2(hutch, repo, tree):
    hutch("create", f"{repo}::a", tree, check=0)
    for args in (("list", repo), ("extract", "-n", f"{repo}::a"), ("create", f"{repo}::b", tree)):
        r = hutch(*args, env={"HUTCH_PASSPHRASE": "not the passphrase"}, check=2)
        assert_clean_error(r, "passphrase")
        assert len(r.err.strip().splitlines()) == 1, r.err
    assert _archives(hutch, repo) == ["a"]


def test_no_passphrase_and_no_terminal(hutch, repo):
    r = hutch("list", repo, env={"HUTCH_PASSPHRASE": None}, new_session=True, check=2)
    assert_clean_error(r, "HUTCH_PASSPHRASE", "terminal")


def test_missing_repository(hutch, tmp_path, tree):
    missing = tmp_path / "nothing-here"
    for args in (
        ("list", missing),
        ("repo-info", missing),
        ("create", f"{missing}::a", tree),
        ("extract", f"{missing}::a"),
    ):
        r = hutch(*args, check=2)
        assert_clean_error(r, "no repository", str(missing))
    assert not missing.exists(), "a failed command created the repository folder"


def test_init_refuses_an_existing_repository(hutch, repo, tree):
    hutch("create", f"{repo}::a", tree, check=0)
    r = hutch("repo-create", "-e", "repokey", repo, check=2)
    assert_clean_error(r, "already exists")
    r = hutch("init", "-e", "keyfile", repo, check=2)
    assert_clean_error(r, "already exists")
    assert _archives(hutch, repo) == ["a"]


def test_init_refuses_a_non_empty_folder(hutch, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    r = hutch("init", "-e", "repokey", folder, check=2)
    assert_clean_error(r, "not empty", str(folder))
    assert os.listdir(folder) == ["precious.txt"]
    assert (folder / "precious.txt").read_text() == "keep me"
    hutch("list", folder, check=2)


def test_init_refuses_a_file(hutch, tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    assert_clean_error(hutch("init", "-e", "none", path, check=2), str(path))
    assert path.read_text() == "x"


def test_init_refuses_an_unknown_encryption_mode(hutch, tmp_path):
    r = hutch("init", "-e", "rot13", tmp_path / "r", check=2)
    assert_clean_error(r, "rot13")
    assert not (tmp_path / "r").exists()


def test_unknown_archive(hutch, repo, tree, tmp_path):
    hutch("create", f"{repo}::a", tree, check=0)
    for args in (
        ("list", f"{repo}::nope"),
        ("info", f"{repo}::nope"),
        ("extract", f"{repo}::nope"),
        ("rename", f"{repo}::nope", "other"),
        ("delete", f"{repo}::nope"),
    ):
        r = hutch(*args, cwd=tmp_path, check=2)
        assert_clean_error(r, "'nope'", "does not exist")
    assert _archives(hutch, repo) == ["a"]


def test_duplicate_archive_name_is_refused(hutch, repo, tree, tmp_path):
    hutch("create", f"{repo}::a", tree, check=0)
    other = tmp_path / "other"
    other.mkdir()
    (other / "f").write_text("other")
    r = hutch("create", f"{repo}::a", other, check=2)
    assert_clean_error(r, "'a'", "already exists")
    assert _archives(hutch, repo) == ["a"]
    paths = hutch("list", "--short", f"{repo}::a", check=0).out
    assert "other" not in paths and "dir/file.txt" in paths
    r = hutch("create", f"{repo}::b", other, check=0)
    assert_clean_error(hutch("rename", f"{repo}::b", "a", check=2), "already exists")
    assert sorted(_archives(hutch, repo)) == ["a", "b"]


INVALID_OPTIONS = [
    ("--compression", "snappy", ["snappy", "lz4"]),
    ("--compression", "zstd,99", ["zstd", "between"]),
    ("--compression", "zlib,fast", ["zlib"]),
    ("--compression", "auto", ["auto"]),
    ("--compression", "lz4,3", ["lz4"]),
    ("--chunker-params", "rabin,1,2", ["rabin"]),
    ("--chunker-params", "fastcdc,30,31,32", ["out of range"]),
    ("--chunker-params", "fastcdc,22,18,20", ["out of range"]),
    ("--chunker-params", "fixed,1", ["fixed"]),
    ("--chunker-params", "fixed,lots", ["fixed"]),
    ("--files-cache", "sometimes", ["files cache", "sometimes"]),
    ("--files-cache", "ctime,size,colour", ["files cache", "colour"]),
    ("--files-cache", "inode", ["files cache"]),
    ("--pattern", "x home", ["pattern", "x home"]),
    ("--pattern", "+", ["pattern"]),
    ("--pattern", "- xx:home", ["xx:"]),
    ("--pattern", "P nonsense", ["nonsense"]),
    ("--exclude", "re:[unclosed", ["regular expression"]),
    ("--timestamp", "yesterday-ish", ["timestamp"]),
]


def test_invalid_option_values(hutch, repo, tree):
    for option, value, words in INVALID_OPTIONS:
        r = hutch("create", option, value, f"{repo}::a", tree)
        assert r.rc == 2, (option, value, r.err)
        assert_clean_error(r, *words)
    assert _archives(hutch, repo) == []


def test_invalid_pattern_files(hutch, repo, tree, tmp_path):
    missing = tmp_path / "no-such-patterns"
    r = hutch("create", "--patterns-from", missing, f"{repo}::a", tree, check=2)
    assert_clean_error(r, str(missing))
    r = hutch("create", "--exclude-from", missing, f"{repo}::a", tree, check=2)
    assert_clean_error(r, str(missing))
    bad = tmp_path / "patterns"
    bad.write_text("# comment\n+ home\n? what\n")
    r = hutch("create", "--patterns-from", bad, f"{repo}::a", tree, check=2)
    assert_clean_error(r, "line 3", "? what")
    assert _archives(hutch, repo) == []


def test_invalid_list_format(hutch, repo, tree):
    hutch("create", f"{repo}::a", tree, check=0)
    for target in (repo, f"{repo}::a"):
        r = hutch("list", "--format", "{nosuchkey}{NL}", target, check=2)
        assert_clean_error(r, "nosuchkey", "{path}" if "::" in str(target) else "{archive}")
        r = hutch("list", "--format", "{path:%}", target, check=2)
        assert_clean_error(r, "format")


def test_invalid_placeholder(hutch, repo, tree):
    r = hutch("create", f"{repo}::backup-{{nosuchthing}}", tree, check=2)
    assert_clean_error(r, "placeholder", "nosuchthing")
    assert _archives(hutch, repo) == []


def test_missing_archive_or_path_arguments(hutch, repo, tree):
    assert_clean_error(hutch("create", repo, tree, check=2), "archive")
    assert_clean_error(hutch("create", f"{repo}::a", check=2), "PATH")
    assert_clean_error(hutch("list", check=2), "HUTCH_REPO")
    assert_clean_error(hutch("create", "--no-such-option", f"{repo}::a", tree, check=2))


def test_a_missing_path_is_a_warning_and_the_rest_is_backed_up(hutch, repo, tree, tmp_path):
    missing = tmp_path / "gone"
    r = hutch("create", f"{repo}::a", missing, tree, check=1)
    assert_clean_error(r, str(missing), "no such file")
    paths = hutch("list", "--short", f"{repo}::a", check=0).out.splitlines()
    stored = str(tree).lstrip("/")
    assert f"{stored}/dir/sub/random.bin" in paths
    assert not any("gone" in p for p in paths)
    out = tmp_path / "out"
    out.mkdir()
    hutch("extract", f"{repo}::a", f"{stored}/dir/sub", cwd=out, check=0)
    with open(os.path.join(tree, "dir/sub/random.bin"), "rb") as f:
        assert (out / stored / "dir/sub/random.bin").read_bytes() == f.read()


def test_garbage_in_locks_names_the_lock_and_break_lock(hutch, repo, tree):
    hutch("create", f"{repo}::a", tree, check=0)
    (repo / "locks" / ("0" * 32)).write_bytes(b"garbage, not a lock")
    r = hutch("list", "--lock-wait", "0.2", repo, check=2)
    assert_clean_error(r, f"locks/{'0' * 32}", "break-lock")
    assert "None" not in r.err and "1970" not in r.err
    hutch("break-lock", repo, check=0)
    assert _archives(hutch, repo) == ["a"]


def test_a_folder_without_the_marker_is_no_repository(hutch, repo, tree):
    hutch("create", f"{repo}::a", tree, check=0)
    (repo / "hutch-store").unlink()
    for args in (("list", repo), ("create", f"{repo}::b", tree), ("check", repo)):
        r = hutch(*args, check=2)
        assert_clean_error(r, "no repository", str(repo), "hutch-store")
    assert len(os.listdir(repo / "archives")) == 1  # nothing was written


BAD_NAMES = ["a::b", "x/y", "line\nbreak", "tab\there", "bell\x07", "del\x7f", "c1\x85", "aid:00"]


def test_archive_names_that_cannot_be_told_apart_are_refused(hutch, repo, tree, tmp_path):
    hutch("create", f"{repo}::good", tree, check=0)
    tar = tmp_path / "t.tar"
    hutch("export-tar", f"{repo}::good", tar, check=0)
    runs = [("create", f"{repo}::{name}", tree) for name in BAD_NAMES]
    for name in BAD_NAMES[:3]:
        runs += [
            ("create", "--dry-run", f"{repo}::{name}", tree),
            ("import-tar", f"{repo}::{name}", tar),
            ("rename", f"{repo}::good", name),
        ]
    for args in runs:
        r = hutch(*args, check=2)
        assert_clean_error(r, "archive name")
    assert hutch("list", "--short", repo, check=0).out == "good\n"
