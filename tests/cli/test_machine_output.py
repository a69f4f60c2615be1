"""Output for programs: --log-json turns every line on stderr into one
JSON object (log messages, file statuses, progress); --json prints one
document on stdout for the commands a script asks for facts."""

import json
import os

from ..conftest import run_hutch


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # fails on any line that is not JSON


def test_log_json_makes_every_stderr_line_an_object(repo, tree):
    r = run_hutch(
        "create", "--log-json", "--list", "--progress", f"{repo}::a", tree, tree + "/missing"
    )
    assert r.rc == 1  # the missing path is a warning
    docs = json_lines(r.err)
    kinds = {d["type"] for d in docs}
    assert {"file_status", "log_message"} <= kinds, kinds
    statuses = [d for d in docs if d["type"] == "file_status"]
    assert any(d["path"].endswith("dir/file.txt") and d["status"] == "A" for d in statuses)
    warning = next(d for d in docs if d["type"] == "log_message")
    assert warning["levelname"] == "WARNING" and "missing" in warning["message"]
    progress = [d for d in docs if d["type"].startswith("progress")]
    if progress:  # only shown when the backup took long enough
        assert progress[-1]["finished"] is True


def test_check_progress_as_json_and_as_a_line(repo, tree):
    run_hutch("create", f"{repo}::a", tree, check=0)
    r = run_hutch("check", "--progress", "--log-json", repo, check=0)
    docs = json_lines(r.err)
    percent = [d for d in docs if d["type"] == "progress_percent"]
    assert {d["msgid"] for d in percent} == {"checking packs", "checking archives"}
    last = [d for d in percent if d["msgid"] == "checking packs"][-1]
    assert last["current"] == last["total"] > 0
    assert docs[-1] == {**docs[-1], "type": "progress_message", "finished": True}
    r = run_hutch("check", "--progress", repo, check=0)
    assert "checking packs:" in r.err and "\r" in r.err


def test_check_json(repo, tree):
    run_hutch("create", f"{repo}::a", tree, check=0)
    doc = json.loads(run_hutch("check", "--json", repo, check=0).out)
    assert doc["check"]["damage"] == [] and doc["check"]["archives_checked"] == 1
    assert doc["repository"]["location"]


def test_compact_json_and_progress(repo, tree, tmp_path):
    only_a = tmp_path / "only-a"
    only_a.mkdir()
    (only_a / "data").write_bytes(os.urandom(2_000_000))
    run_hutch("create", f"{repo}::a", only_a, check=0)
    run_hutch("create", f"{repo}::b", tree + "/dir", check=0)
    run_hutch("delete", f"{repo}::a", check=0)
    plan = json.loads(run_hutch("compact", "--dry-run", "--json", repo, check=0).out)
    assert plan["compact"]["dry_run"] is True and plan["compact"]["keyless"] is True
    assert plan["compact"]["plan"]["deleted_archives"] == 1
    assert plan["compact"]["plan"]["drop_bytes"] > 0
    r = run_hutch("compact", "--json", "--progress", "--log-json", repo, check=0)
    result = json.loads(r.out)["compact"]["result"]
    assert result["archives_removed"] == 1 and result["bytes_freed"] > 0
    steps = [d.get("message") for d in json_lines(r.err) if d["type"] == "progress_message"]
    assert "reading the packs' id lists" in steps
    # With the key: the archives are read, and the index rewritten.
    r = run_hutch("compact", "--rewrite", "--json", "--progress", "--log-json", repo, check=0)
    doc = json.loads(r.out)["compact"]
    assert doc["keyless"] is False and doc["result"]["segments_written"] >= 1
    steps = [d.get("message") for d in json_lines(r.err) if d["type"] == "progress_message"]
    assert "reading archive b" in steps


def test_prune_list_json(repo, tree):
    for name in ("a", "b", "c"):
        run_hutch("create", f"{repo}::{name}", tree + "/dir", check=0)
    doc = json.loads(run_hutch("prune", "--keep-last", "2", "--list", "--json", repo, check=0).out)
    actions = {a["name"]: (a["action"], a["rule"]) for a in doc["archives"]}
    assert actions == {"c": ("keep", "last #1"), "b": ("keep", "last #2"), "a": ("prune", None)}
    listed = json.loads(run_hutch("list", "--json", repo, check=0).out)["archives"]
    assert [a["name"] for a in listed] == ["b", "c"]


def test_info_and_repo_info_json(repo, tree):
    run_hutch("create", f"{repo}::a", tree, check=0)
    created = json.loads(run_hutch("create", "--json", f"{repo}::b", tree, check=0).out)
    assert created["archive"]["name"] == "b"
    info = json.loads(run_hutch("info", "--json", f"{repo}::b", check=0).out)
    assert info["archives"][0]["id"] == created["archive"]["id"]
    assert json.loads(run_hutch("repo-info", "--json", repo, check=0).out)["archives"] == 2
