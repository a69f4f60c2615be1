"""The C allocator's settings (cli/allocator.py): made by the commands that
need them, left alone where the environment sets them."""

import os

import pytest

import hutch.cli.allocator as allocator
import hutch.cli.main as hutch_main


@pytest.fixture
def mallopt_calls(monkeypatch) -> list[tuple[int, int]]:
    """The mallopt calls made from now on, recorded instead of made."""
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(allocator, "_mallopt", lambda: lambda *call: calls.append(call))
    return calls


@pytest.fixture
def archived(hutch, repo, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "file").write_bytes(os.urandom(100_000))
    os.chdir(source)
    hutch("create", f"{repo}::a", ".", check=0)
    os.chdir(tmp_path)
    return repo


KEEP_FREED = (allocator._M_TRIM_THRESHOLD, allocator.RESTORE_KEEP_FREED)


@pytest.mark.parametrize(
    "command",
    [["extract", "{archive}"], ["export-tar", "{archive}", "out.tar"]],
    ids=["extract", "export-tar"],
)
def test_commands_that_restore_keep_freed_memory(archived, tmp_path, mallopt_calls, command):
    (tmp_path / "out").mkdir()
    os.chdir(tmp_path / "out")
    assert hutch_main.run([word.format(archive=f"{archived}::a") for word in command]) == 0
    assert mallopt_calls == [KEEP_FREED]


def test_a_backup_keeps_the_default(archived, tmp_path, mallopt_calls):
    os.chdir(tmp_path / "source")
    assert hutch_main.run(["create", f"{archived}::b", "."]) == 0
    assert KEEP_FREED not in mallopt_calls


def test_the_environment_wins(archived, tmp_path, mallopt_calls, monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    allocator.tune()
    (tmp_path / "out").mkdir()
    os.chdir(tmp_path / "out")
    assert hutch_main.run(["extract", f"{archived}::a"]) == 0
    assert mallopt_calls == []


def test_tune_sets_one_arena_and_a_fixed_mmap_threshold(mallopt_calls):
    allocator.tune()
    assert sorted(mallopt_calls) == sorted(
        [
            (allocator._M_ARENA_MAX, allocator.ARENAS),
            (allocator._M_MMAP_THRESHOLD, allocator.MMAP_THRESHOLD),
        ]
    )
