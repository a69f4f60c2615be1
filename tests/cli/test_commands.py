"""End to end: list, info, repo-info, rename and delete."""

import json
import os

from ..conftest import snapshot


def _archives(hutch, repo) -> list[str]:
    return hutch("list", "--short", repo, check=0).out.split()


def test_list_archives_in_every_form(hutch, repo, tree):
    hutch("create", "--comment", "first one", f"{repo}::a", "dir", cwd=tree, check=0)
    hutch("create", f"{repo}::b", "dir", cwd=tree, check=0)
    plain = hutch("list", repo, check=0).out.splitlines()
    assert [line.split()[0] for line in plain] == ["a", "b"]
    assert _archives(hutch, repo) == ["a", "b"]
    doc = json.loads(hutch("list", "--json", repo, check=0).out)
    assert [a["name"] for a in doc["archives"]] == ["a", "b"]
    assert doc["archives"][0]["comment"] == "first one"
    assert all(len(a["id"]) == 64 for a in doc["archives"])
    formatted = hutch("list", "--format", "{name}:{comment}{NL}", repo, check=0).out
    assert formatted == "a:first one\nb:\n"


def test_list_files_in_every_form(hutch, repo, tree):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    short = hutch("list", "--short", f"{repo}::a", check=0).out.splitlines()
    assert {"dir", "dir/file.txt", "dir/sub/random.bin", "link", "fifo", "sparse"} <= set(short)
    long = hutch("list", f"{repo}::a", check=0).out.splitlines()
    (link_line,) = [line for line in long if line.endswith("link -> dir/file.txt")]
    assert link_line.startswith("l")
    (file_line,) = [x for x in long if x.endswith(" dir/file.txt") and "->" not in x]
    assert file_line.startswith("-rw") and " 12000 " in file_line
    lines = [
        json.loads(line)
        for line in hutch("list", "--json-lines", f"{repo}::a").out.split("\n")
        if line
    ]
    by_path = {entry["path"]: entry for entry in lines}
    assert by_path["dir/file.txt"]["size"] == 12000
    assert by_path["dir/file.txt"]["type"] == "-"
    assert by_path["link"]["linktarget"] == "dir/file.txt"
    assert by_path["dir"]["type"] == "d"
    assert by_path["fifo"]["type"] == "p"
    fmt = hutch("list", "--format", "{type} {size} {path}{NL}", f"{repo}::a", "dir/sub", check=0)
    assert fmt.out == f"d 0 dir/sub\n- {3 * 1024 * 1024 + 17} dir/sub/random.bin\n"


def test_info_and_repo_info(hutch, repo, tree):
    hutch("create", "--comment", "c1", f"{repo}::a", ".", cwd=tree, check=0)
    hutch("create", f"{repo}::b", ".", cwd=tree, check=0)
    text = hutch("info", f"{repo}::a", check=0).out
    assert "Archive name: a" in text and "Comment: c1" in text and "Number of files:" in text
    doc = json.loads(hutch("info", "--json", f"{repo}::a", check=0).out)
    (archive,) = doc["archives"]
    assert archive["name"] == "a" and archive["comment"] == "c1"
    assert archive["stats"]["original_size"] >= 3 * 1024 * 1024
    every = json.loads(hutch("info", "--json", repo, check=0).out)
    assert [a["name"] for a in every["archives"]] == ["a", "b"]
    repo_doc = json.loads(hutch("repo-info", "--json", repo, check=0).out)
    assert repo_doc["archives"] == 2
    assert repo_doc["encryption"]["mode"] == "repokey"
    assert repo_doc["chunks"] > 0 and repo_doc["packs"] > 0
    assert repo_doc["size"] > 3 * 1024 * 1024
    text = hutch("repo-info", repo, check=0).out
    assert "Encryption mode: repokey" in text and "Archives: 2" in text


def test_rename(hutch, repo, tree, tmp_path):
    hutch("create", f"{repo}::old", ".", cwd=tree, check=0)
    hutch("rename", f"{repo}::old", "new", check=0)
    assert _archives(hutch, repo) == ["new"]
    hutch("list", f"{repo}::old", check=2)
    out = tmp_path / "out"
    out.mkdir()
    hutch("extract", f"{repo}::new", cwd=out, check=0)
    assert snapshot(out) == snapshot(tree)
    hutch("rename", "-r", repo, "new", "newer", check=0)
    assert _archives(hutch, repo) == ["newer"]


def test_delete(hutch, repo, tree, tmp_path):
    for name in ("a", "b", "c", "d"):
        hutch("create", f"{repo}::{name}", ".", cwd=tree, check=0)
    r = hutch("delete", "--dry-run", f"{repo}::a", check=0)
    assert "a" in r.err
    assert _archives(hutch, repo) == ["a", "b", "c", "d"]
    hutch("delete", f"{repo}::a", check=0)
    assert _archives(hutch, repo) == ["b", "c", "d"]
    hutch("delete", f"{repo}::b", "c", check=0)
    assert _archives(hutch, repo) == ["d"]
    assert "a" not in [a["name"] for a in json.loads(hutch("info", "--json", repo).out)["archives"]]
    out = tmp_path / "out"
    out.mkdir()
    hutch("extract", f"{repo}::d", cwd=out, check=0)
    assert snapshot(out) == snapshot(tree)
    # The name is free again.
    hutch("create", f"{repo}::a", "dir", cwd=tree, check=0)
    assert sorted(_archives(hutch, repo)) == ["a", "d"]
    assert os.listdir(repo / "locks") == []
