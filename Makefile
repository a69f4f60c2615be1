# The README's two commands: `make demo` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
HUTCH   := $(VENV)/bin/hutch
DEBS    := acl attr libarchive-tools tar
BENCH_DEBS := borgbackup restic

.PHONY: install test lint demo bench debs clean

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

test: install debs lint
	$(VENV)/bin/pytest -n 2 -q tests

demo: install
	bash bench/demo.sh

bench: install
	@missing=""; for p in $(BENCH_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	$(PY) bench/bench.py

clean:
	rm -rf $(VENV) demo bench/work
