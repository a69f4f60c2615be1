"""`hutch mount` after a plain install: mfusepy comes with hutch, and a
system without libfuse gets one clear line, not a traceback."""

from importlib.metadata import requires

from ..conftest import assert_clean_error


def test_mfusepy_is_a_plain_dependency():
    plain = [r for r in requires("hutch") or [] if "extra ==" not in r]
    assert any(r.startswith("mfusepy") for r in plain), plain


def test_a_system_without_libfuse_gets_one_clear_line(hutch, repo, tmp_path):
    hutch("create", f"{repo}::a", tmp_path / "home", check=0)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = hutch("mount", f"{repo}::a", mnt, env={"FUSE_LIBRARY_PATH": str(tmp_path / "nolibfuse.so")})
    assert r.rc == 2
    assert_clean_error(r, "libfuse", "fuse3")
    assert len(r.err.strip().splitlines()) == 1, r.err
