"""`hutch diff` as a user runs it: borg's line format, --json-lines,
--sort, paths, --repo, and archives chunked with other parameters."""

import json
import os

from ..conftest import assert_clean_error


def _change_tree(tree) -> None:
    with open(os.path.join(tree, "dir/file.txt"), "ab") as f:
        f.write(b"one more line\n" * 100)
    os.unlink(os.path.join(tree, "empty"))
    with open(os.path.join(tree, "dir/new.bin"), "wb") as f:
        f.write(b"n" * 1234)
    os.chmod(os.path.join(tree, "dir/sub/random.bin"), 0o755)
    os.unlink(os.path.join(tree, "link"))
    os.symlink("dir/script.sh", os.path.join(tree, "link"))


def test_text_lines(hutch, repo, tree):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    _change_tree(tree)
    hutch("create", f"{repo}::b", ".", cwd=tree, check=0)
    lines = hutch("diff", "--sort", f"{repo}::a", "b", check=0).out.splitlines()
    by_path = {line.rsplit(" ", 1)[-1]: line for line in lines if " " in line}
    assert by_path["dir/new.bin"] == "added       1.23 kB dir/new.bin"
    assert by_path["empty"] == "removed         0 B empty"
    assert by_path["dir/sub/random.bin"].startswith("[-rw-r--r-- -> -rwxr-xr-x] ")
    assert by_path["link"].startswith("changed link")
    modified = by_path["dir/file.txt"]
    assert modified.startswith("modified ") and "+" in modified and "[mtime: " in modified
    # hardlink.txt is the same file: it changed with dir/file.txt
    assert "hardlink.txt" in by_path
    paths = [line.rsplit(" ", 1)[-1] for line in lines]
    assert paths == sorted(paths, key=lambda p: p.split("/"))


def test_json_lines_content_only_and_paths(hutch, repo, tree):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    _change_tree(tree)
    hutch("create", f"{repo}::b", ".", cwd=tree, check=0)
    out = hutch("diff", "--json-lines", "--content-only", "--repo", repo, "a", "b", check=0).out
    records = {r["path"]: r["changes"] for r in map(json.loads, out.splitlines())}
    assert records["dir/new.bin"] == [{"type": "added", "size": 1234}]
    assert records["empty"] == [{"type": "removed", "size": 0}]
    assert records["link"] == [{"type": "changed link"}]
    assert records["dir/file.txt"][0]["type"] == "modified"
    assert records["dir/file.txt"][0]["added"] > 0
    assert "dir/sub/random.bin" not in records  # only its mode changed
    out = hutch("diff", "--json-lines", f"{repo}::a", "b", "dir/sub", check=0).out
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in records] == ["dir/sub/random.bin"]
    assert records[0]["changes"] == [
        {"type": "mode", "old_mode": "-rw-r--r--", "new_mode": "-rwxr-xr-x"}
    ]
    out = hutch("diff", f"{repo}::a", "b", "-e", "dir/*", check=0).out
    assert "dir/" not in out and "empty" in out


def test_other_chunker_params_compare_contents(hutch, repo, tree):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    with open(os.path.join(tree, "dir/file.txt"), "r+b") as f:
        f.write(b"J")  # same size, other content
    hutch(
        "create",
        "--chunker-params",
        "fixed,4096",
        "--files-cache",
        "disabled",
        f"{repo}::b",
        ".",
        cwd=tree,
        check=0,
    )
    out = hutch("diff", "--content-only", f"{repo}::a", "b", check=0).out
    changed = sorted(line.rsplit(" ", 1)[-1] for line in out.splitlines())
    assert changed == ["dir/file.txt", "hardlink.txt"]


def test_unknown_archive(hutch, repo, tree):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    assert_clean_error(hutch("diff", f"{repo}::a", "nope", check=2), "nope")
    assert hutch("diff", f"{repo}::a", "a", check=0).out == ""
