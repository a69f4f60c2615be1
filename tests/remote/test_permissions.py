"""Every permission mode against every operation, enforced by the server."""

import pytest

ALLOWED = {
    # operation: modes that allow it
    "create": {"all", "no-delete", "write-only"},
    "extract": {"all", "no-delete", "read-only"},
    "list": {"all", "no-delete", "read-only"},
    "delete": {"all"},
    "rename": {"all"},
    "key-change": {"all"},
}


def _run(hutch, op, url, tree, tmp_path):
    if op == "create":
        return hutch("create", f"{url}::new", ".", cwd=tree)
    if op == "extract":
        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        return hutch("extract", f"{url}::a", cwd=out)
    if op == "list":
        return hutch("list", f"{url}::a")
    if op == "delete":
        return hutch("delete", f"{url}::a")
    if op == "rename":
        return hutch("rename", f"{url}::a", "renamed")
    return hutch("key", "change-passphrase", url, env={"HUTCH_NEW_PASSPHRASE": "new"})


@pytest.mark.parametrize("mode", ["all", "no-delete", "write-only", "read-only"])
@pytest.mark.parametrize("op", list(ALLOWED))
def test_permission_matrix(hutch, pipe_serve, tmp_path, tree, mode, op):
    url = f"ssh://host{tmp_path}/repo"
    hutch("init", "-e", "repokey", url, check=0)
    hutch("create", f"{url}::a", ".", cwd=tree, check=0)
    pipe_serve(f"HUTCH_REPO_PERMISSIONS={mode}")
    result = _run(hutch, op, url, tree, tmp_path)
    pipe_serve()
    changed_key = op == "key-change" and mode in ALLOWED[op]
    env = {"HUTCH_PASSPHRASE": "new"} if changed_key else None
    names = hutch("list", "--short", url, env=env, check=0).out.split()
    if mode in ALLOWED[op]:
        assert result.rc == 0, result.err
    else:
        assert result.rc == 2, result.err
        assert "permission denied" in result.err
        assert "Traceback" not in result.err
        # Refused means nothing changed.
        assert names == ["a"]
        hutch("extract", "--dry-run", f"{url}::a", check=0)
    if op == "key-change" and mode not in ALLOWED[op]:
        hutch("list", url, env={"HUTCH_PASSPHRASE": "new"}, check=2)
