"""The project documents itself: every link in README.md and docs/ points
to a file of the repository, and the documents name the modules that
exist."""

import os
import re

from .conftest import ROOT

DOCS = [os.path.join(ROOT, "README.md")] + [
    os.path.join(ROOT, "docs", n)
    for n in os.listdir(os.path.join(ROOT, "docs"))
    if n.endswith(".md")
]
_LINK = re.compile(r"\]\(([^)#]*)(#[^)]*)?\)")
_MODULE = re.compile(r"`((?:cli|archive|repo|crypto|compress|chunker|remote|store)/[\w/]+\.py)")


def test_every_link_points_into_the_repository():
    bad = []
    for doc in DOCS:
        text = open(doc).read()
        for target, _ in _LINK.findall(text):
            if not target:
                continue
            path = os.path.normpath(os.path.join(os.path.dirname(doc), target))
            if "://" in target or not path.startswith(ROOT) or not os.path.exists(path):
                bad.append(f"{os.path.relpath(doc, ROOT)}: {target}")
    assert not bad, bad


def test_the_modules_the_documents_name_exist():
    src = os.path.join(ROOT, "src", "hutch")
    missing = []
    for doc in DOCS:
        for module in _MODULE.findall(open(doc).read()):
            if not os.path.exists(os.path.join(src, module)):
                missing.append(f"{os.path.relpath(doc, ROOT)}: {module}")
    assert not missing, missing


def test_docs_hold_architecture_formats_and_threat_model():
    names = set(os.listdir(os.path.join(ROOT, "docs")))
    assert {"architecture.md", "design-notes.md", "threat-model.md", "man", "systemd"} <= names
    readme = open(os.path.join(ROOT, "README.md")).read()
    assert "docs/architecture.md" in readme and "docs/threat-model.md" in readme
