"""The manual pages in docs/man/ are the parser's: regenerated, they are
the same; and man renders them without a warning."""

import argparse
import os
import shutil
import subprocess

import pytest

from hutch.cli.manpage import _flags, all_pages

from ..conftest import ROOT

MAN_DIR = os.path.join(ROOT, "docs", "man")


def test_committed_pages_match_the_parser():
    pages = all_pages()
    committed = sorted(n for n in os.listdir(MAN_DIR) if n.endswith(".1"))
    assert committed == sorted(pages), "pages added or removed: run 'make man'"
    stale = []
    for name, text in pages.items():
        with open(os.path.join(MAN_DIR, name), encoding="utf-8") as f:
            if f.read() != text:
                stale.append(name)
    assert not stale, f"out of date with the parser (run 'make man'): {stale}"


def test_every_command_has_a_page():
    pages = all_pages()
    for name in ("hutch.1", "hutch-serve.1", "hutch-create.1", "hutch-key-export.1"):
        assert name in pages


@pytest.mark.skipif(shutil.which("man") is None, reason="man-db is not installed")
@pytest.mark.parametrize("page", ["hutch-serve.1", "hutch.1", "hutch-prune.1", "hutch-key.1"])
def test_man_renders_the_page(page):
    r = subprocess.run(
        ["man", "--warnings", "-l", os.path.join(MAN_DIR, page)],
        capture_output=True,
        text=True,
        env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "80", "LANG": "C.UTF-8"},
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    title = page.removesuffix(".1").upper()
    assert r.stdout.startswith(title), r.stdout[:200]
    if page == "hutch-serve.1":
        assert "--restrict-to-path PATH" in r.stdout.replace("‐", "-")
        assert "no-delete" in r.stdout


def test_a_positional_with_several_names_is_rendered():
    # A tuple metavar once reached the roff escaping as it was (found by mypy).
    parser = argparse.ArgumentParser()
    action = parser.add_argument("pair", nargs=2, metavar=("OLD", "NEW"))
    assert _flags(action) == "\\fIOLD NEW\\fR"
