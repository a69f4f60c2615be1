"""The maintenance commands against every permission mode of a server:
a client that may not delete is refused with one clear line before
anything in the repository changes."""

import os

import pytest

from ..conftest import assert_clean_error

ALLOWED = {
    # operation: modes that allow it
    "compact": {"all"},
    "prune": {"all"},
    "undelete": {"all"},
    "check --repair": {"all"},
    "repo-delete": {"all"},
    "recreate": {"all"},
    "check": {"all", "no-delete", "read-only"},
}


def _contents(path) -> dict[str, int]:
    """Every file of the repository but locks: name -> size."""
    result = {}
    for folder, _, names in os.walk(path):
        if os.path.basename(folder) == "locks":
            continue
        for name in names:
            full = os.path.join(folder, name)
            result[os.path.relpath(full, path)] = os.path.getsize(full)
    return result


def _run(hutch, op, url):
    if op == "compact":
        return hutch("compact", url)
    if op == "prune":
        return hutch("prune", "--keep-last", "1", url)
    if op == "undelete":
        return hutch("undelete", f"{url}::b")
    if op == "repo-delete":
        return hutch("repo-delete", "--force", url)
    if op == "recreate":
        return hutch("recreate", "-C", "zstd", "--exclude", "dir/sub", f"{url}::a")
    return hutch(*op.split(), url)


@pytest.mark.parametrize("mode", ["all", "no-delete", "write-only", "read-only"])
@pytest.mark.parametrize("op", list(ALLOWED))
def test_maintenance_permission_matrix(hutch, pipe_serve, tmp_path, tree, mode, op):
    path = tmp_path / "repo"
    hutch("init", "-e", "repokey", path, check=0)
    hutch("create", f"{path}::a", "dir", cwd=tree, check=0)
    hutch("create", f"{path}::b", "dir/file.txt", cwd=tree, check=0)
    hutch("create", f"{path}::c", "dir/file.txt", cwd=tree, check=0)
    hutch("delete", f"{path}::b", check=0)  # work for compact and undelete
    before = _contents(path)
    pipe_serve(f"HUTCH_REPO_PERMISSIONS={mode}")
    result = _run(hutch, op, f"ssh://host{path}")
    pipe_serve()
    if mode in ALLOWED[op]:
        assert result.rc == 0, result.err
        if op == "repo-delete":
            assert not os.path.exists(path / "config" / "config")
        elif op in ("compact", "prune", "undelete", "recreate"):
            assert _contents(path) != before
    else:
        assert result.rc == 2, result.err
        assert_clean_error(result, "permission denied")
        assert _contents(path) == before


def test_restricted_prune_is_refused_before_its_rules_are_looked_at(hutch, pipe_serve, tmp_path):
    path = tmp_path / "repo"
    hutch("init", "-e", "repokey", path, check=0)
    pipe_serve("HUTCH_REPO_PERMISSIONS=no-delete")
    r = hutch("prune", "--keep-last", "0", f"ssh://host{path}", check=2)
    assert_clean_error(r, "permission denied")
    r = hutch("prune", "--dry-run", "--keep-last", "0", f"ssh://host{path}", check=2)
    assert_clean_error(r, "at least one rule")
