# Two entry points: `make run` and `make test`; both create the virtual environment first, with every
# dependency exactly as locked (hash-checked) in requirements/. `make lock` refreshes the lock.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
PIP := $(VENV)/bin/pip install --quiet --disable-pip-version-check
LOCK_VENV := .venv-lock
UV_VERSION := 0.13.9
COMPILE := $(LOCK_VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--upgrade --custom-compile-command "make lock"

.PHONY: run test lint bench clean lock

$(STAMP): pyproject.toml requirements/build.txt requirements/test.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) --require-hashes -r requirements/build.txt -r requirements/test.txt
	$(PIP) --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/newsbot run

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

# Resolve the newest versions pyproject.toml allows, for Python 3.11 and later on every platform, with the
# hashes of every file PyPI has for them. uv runs from a throwaway virtual environment.
lock:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(COMPILE) -o requirements/runtime.txt pyproject.toml
	$(COMPILE) --extra test -c requirements/runtime.txt -o requirements/test.txt pyproject.toml
	$(COMPILE) -o requirements/build.txt requirements/build.in
	rm -rf $(LOCK_VENV)

clean:
	rm -rf $(VENV) $(LOCK_VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
