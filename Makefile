# The two commands of README.md. Both create .venv when it is missing and install the package into it.
# `make wheel-check` (run by CI after `make test`) checks the built wheel in its own environment instead.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= demo_output

.PHONY: install demo test wheel-check bench bench-full clean

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,face,onnx,search,app]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/deepfever demo --output_dir $(DEMO_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The wheel, installed non-editable with its extras into a fresh venv outside the checkout, runs the quick
# demo (card rendered from the packaged templates) and every recipe's --help from outside the checkout.
wheel-check:
	PYTHON=$(PYTHON) .ci/wheel-check

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --quick

bench-full: $(STAMP)
	$(BIN)/python -m benchmarks.run --full

clean:
	rm -rf $(DEMO_DIR) .pytest_cache build dist src/*.egg-info
