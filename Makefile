# The two commands of README.md. Both create .venv when it is missing and install the package into it at the
# versions of requirements/lock.txt (the set CI proved), so a fresh machine gets what CI saw.
# `make wheel-check` (run by CI after `make test`) checks the built wheel in its own environment instead;
# `make test-latest` / `make test-oldest` run the suite on the newest releases / the oldest transformers that
# pyproject.toml allows (CI reports both without failing on them); `make lock` renews the lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := dev,face,onnx,search,app
# Pinned for CPython 3.11 on Linux x86_64; `make install LOCK=` installs the newest releases instead.
LOCK ?= requirements/lock.txt
DEMO_DIR ?= demo_output
export EXTRAS LOCK PYTHON

.PHONY: install demo test test-latest test-oldest lock wheel-check bench bench-full clean

$(STAMP): pyproject.toml setup.py $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(if $(LOCK),-c $(LOCK)) -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/deepfever demo --output_dir $(DEMO_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=15

# The suite in .venv-latest on the newest releases pyproject.toml allows; prints what differs from the lock.
test-latest:
	.ci/test-against latest

# The suite in .venv-oldest with the lock, but transformers at pyproject.toml's lower bound.
test-oldest:
	.ci/test-against oldest

# Resolve the newest releases in a fresh environment and freeze them into $(LOCK) (run `make test` after it).
lock:
	.ci/test-against latest --lock-only

# The wheel, installed non-editable with its extras into a fresh venv outside the checkout, runs the quick
# demo (card rendered from the packaged templates) and every recipe's --help from outside the checkout.
wheel-check:
	.ci/wheel-check

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --quick

bench-full: $(STAMP)
	$(BIN)/python -m benchmarks.run --full

clean:
	rm -rf $(DEMO_DIR) .pytest_cache build dist src/*.egg-info
