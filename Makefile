# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What the test suite drives for real: the ffmpeg/ffprobe CLIs (independent checks and the
# benchmark reference) and GStreamer's RTSP server (a real camera with Basic auth).
TEST_PACKAGES := ffmpeg python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad
RUN_PACKAGES :=

.PHONY: run headless test lint check bench clean system-test-packages system-run-packages

$(BIN)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(BIN)/.dev: $(BIN)/.runtime pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

system-run-packages:
	@scripts/install-system-packages.sh $(RUN_PACKAGES)

system-test-packages:
	@scripts/install-system-packages.sh $(TEST_PACKAGES)

run: system-run-packages $(BIN)/.runtime
	$(BIN)/python -m vms_desktop

headless: $(BIN)/.runtime
	$(BIN)/python -m vms_desktop --headless

lint: $(BIN)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: system-test-packages $(BIN)/.dev lint
	$(BIN)/python -m pytest

bench: system-test-packages $(BIN)/.dev
	$(BIN)/python bench/clip_build.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
