"""The key subcommands as borg has them: export and import on paper (and
as a page to print), and moving the key between the repository and a key
file."""

import os

from ..conftest import assert_clean_error, run_hutch


def _keys_dir(tmp_path):
    return tmp_path / "config" / "keys"


def test_paper_export_and_import_bring_a_lost_key_file_back(tmp_path, tree):
    repo = tmp_path / "repo"
    run_hutch("repo-create", "-e", "keyfile", repo, check=0)
    run_hutch("create", f"{repo}::a", tree, check=0)
    paper = run_hutch("key", "export", "--paper", repo, check=0).out
    lines = paper.splitlines()
    assert lines[0].startswith("hutch key ") and lines[1].startswith("01/")
    for name in os.listdir(_keys_dir(tmp_path)):
        os.unlink(_keys_dir(tmp_path) / name)
    r = run_hutch("list", repo)
    assert r.rc == 2
    assert_clean_error(r, "no key file")
    run_hutch("key", "import", "--paper", repo, input=paper, check=0)
    assert run_hutch("list", "--short", repo, check=0).out.split() == ["a"]


def test_a_typing_mistake_is_named_by_its_line(repo):
    good = run_hutch("key", "export", "--paper", repo, check=0).out.splitlines()
    paper = list(good)
    head, digits = paper[3].split(": ", 1)
    wrong = digits[:5] + ("0" if digits[5] != "0" else "1") + digits[6:]
    paper[3] = f"{head}: {wrong}"
    r = run_hutch("key", "import", "--paper", repo, input="\n".join(paper) + "\n")
    assert r.rc == 2
    assert_clean_error(r, "line 3", "typing mistake")
    r = run_hutch("key", "import", "--paper", repo, input="\n".join(good[:4]) + "\n")
    assert r.rc == 2
    assert_clean_error(r, "ends before line")


def test_qr_html_page_holds_the_code_and_the_lines(repo, tmp_path):
    page = tmp_path / "key.html"
    run_hutch("key", "export", "--qr-html", repo, page, check=0)
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text
    paper = run_hutch("key", "export", "--paper", repo, check=0).out
    assert paper.splitlines()[1] in text


def test_change_location_moves_the_key_both_ways(repo, tmp_path, tree):
    run_hutch("create", f"{repo}::a", tree, check=0)
    run_hutch("key", "change-location", repo, "keyfile", check=0)
    assert not (repo / "keys" / "repokey").exists()
    assert len(os.listdir(_keys_dir(tmp_path))) == 1
    assert run_hutch("list", "--short", repo, check=0).out.split() == ["a"]
    info = run_hutch("repo-info", repo, check=0).out
    assert "Encryption mode: keyfile" in info
    run_hutch("key", "change-location", "--keep", repo, "repokey", check=0)
    assert (repo / "keys" / "repokey").exists() and os.listdir(_keys_dir(tmp_path))
    run_hutch("create", f"{repo}::b", tree, check=0)
    assert run_hutch("list", "--short", repo, check=0).out.split() == ["a", "b"]
    r = run_hutch("key", "change-location", repo, "repokey")
    assert r.rc == 2
    assert_clean_error(r, "already")


def test_another_machine_is_told_the_mode_changed(repo, tmp_path, tree):
    other = {"HUTCH_CONFIG_DIR": str(tmp_path / "other-config")}
    run_hutch("list", repo, env=other, check=0)  # the other machine knows repokey
    run_hutch("key", "change-location", "--keep", repo, "keyfile", check=0)
    r = run_hutch("list", repo, env=other)
    assert r.rc == 2
    assert_clean_error(r, "keyfile", "repokey", "key-mode")


def test_a_mode_without_a_key_file_variant_is_refused(tmp_path):
    repo = tmp_path / "repo"
    run_hutch("repo-create", "-e", "authenticated", repo, check=0)
    r = run_hutch("key", "change-location", repo, "keyfile")
    assert r.rc == 2
    assert_clean_error(r, "no other place")
