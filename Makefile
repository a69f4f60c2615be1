# The README's two commands: `make demo` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
HUTCH   := $(VENV)/bin/hutch
DEBS    := acl attr e2fsprogs libarchive-tools tar openssh-server openssh-client socat sshfs fuse3 procps faketime zsh fish man-db groff-base systemd borgbackup
BENCH_DEBS := borgbackup restic time

.PHONY: install test lint demo bench bench-scale bench-debs debs clean standalone man

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Debian packages the tests use, installed only where missing.
debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

# Compiled up front: where PYTHONDONTWRITEBYTECODE is set, every hutch the
# tests start would compile the modules it imports anew.
test: install debs lint
	$(PY) -m compileall -q src >/dev/null
	$(VENV)/bin/pytest -n 2 --dist loadfile -q tests

# The manual pages are generated from the parser; a test fails when the
# committed ones are out of date.
man: install
	$(PY) -m hutch.cli.manpage docs/man

demo: install
	bash bench/demo.sh

bench-debs:
	@missing=""; for p in $(BENCH_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

# hutch, borg and restic on the mixed and the 200,000-small-files corpora (see bench/README.md).
# Restores go to a tmpfs: on disk, creating and deleting 200,000 files takes minutes
# that measure the file system, not the programs.
BENCH_ARGS ?= --restore-dir /dev/shm/hutch-bench
bench: install debs bench-debs
	$(PY) bench/bench.py $(BENCH_ARGS)
	$(PY) bench/s3.py

# Opt-in: hutch on 1,000,000 small files next to 200,000 (about 5 GiB of disk, a long while).
bench-scale: install debs
	$(PY) bench/scale.py

# One file that runs hutch without Python (e.g. inside a chroot), built by
# PyInstaller from the same source as `pip install .`.
standalone: dist/hutch

dist/hutch: install $(shell find src -name '*.py')
	$(PY) -m pip install --quiet 'pyinstaller>=6.0'
	$(VENV)/bin/pyinstaller --onefile --name hutch --distpath dist --workpath build/pyinstaller \
		--specpath build --log-level WARN --collect-submodules hutch --collect-all pyfastcdc src/hutch/__main__.py

clean:
	rm -rf $(VENV) demo bench/work build dist
