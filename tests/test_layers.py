"""Architecture rules of DESIGN.md and STYLE.md that a test can check."""

import ast
import pathlib

SRC = pathlib.Path(__file__).parent.parent / "src" / "hutch"
# Each layer may import only itself and the layers after it.
LAYERS = ["cli", "archive", "repo", "crypto", "compress", "chunker", "remote", "store"]
ALLOWED = {
    "cli": set(LAYERS),
    "archive": {"archive", "repo", "crypto", "compress", "chunker", "remote", "store"},
    "repo": {"repo", "crypto", "compress", "chunker", "remote", "store"},
    "crypto": {"crypto"},
    "compress": {"compress"},
    "chunker": {"chunker"},
    "remote": {"remote", "store"},
    "store": {"store"},
}


def _modules():
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).parts
        if len(rel) > 1:
            yield rel[0], path


def test_layers_import_only_downwards():
    bad = []
    for layer, path in _modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level >= 2 and node.module:
                target = node.module.split(".")[0]
                if target in LAYERS and target not in ALLOWED[layer]:
                    bad.append(f"{path.relative_to(SRC)} imports {target}")
    assert not bad, bad


def test_core_never_prints():
    offenders = []
    for layer, path in _modules():
        if layer == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(str(path.relative_to(SRC)))
    assert not offenders, offenders


def test_files_stay_small():
    big = [str(p) for p in SRC.rglob("*.py") if len(p.read_text().splitlines()) > 650]
    assert not big, big
