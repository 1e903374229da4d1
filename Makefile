# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What the test suite drives for real: the ffmpeg/ffprobe CLIs (independent checks and the
# benchmark reference), GStreamer's RTSP server (a real camera with Basic auth) and Mosquitto
# (an MQTT broker with passwords and TLS).
# Qt's libraries for the window (xcb) and for tests drawing offscreen; Xvfb for screenshots.
QT_PACKAGES := libegl1 libgl1 libfontconfig1 libfreetype6 libdbus-1-3 libglib2.0-0 \
	libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 \
	libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxcb-xinerama0
# PyInstaller reads binaries with binutils; the bundle's tests validate its desktop entry.
BUNDLE_PACKAGES := binutils $(QT_PACKAGES)
TEST_PACKAGES := ffmpeg mosquitto python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad \
	xvfb xauth xdotool imagemagick desktop-file-utils $(BUNDLE_PACKAGES)
RUN_PACKAGES := $(QT_PACKAGES)

# The bundle is built in its own environment holding the runtime dependencies only, so nothing
# from the development tools can leak into it.
BUNDLE_VENV := .bundle-venv
BUNDLE := dist/vms_desktop/vms-desktop
BUNDLE_INPUTS := vms_desktop.spec pyproject.toml .env.example LICENSE THIRD_PARTY_NOTICES.md \
	$(shell find vms_desktop resources -type f -not -name '*.pyc' -not -path '*/__pycache__/*')

.PHONY: run headless test lint check bench screenshots clean system-test-packages \
	system-run-packages system-bundle-packages bundle bundle-self-test

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

system-bundle-packages:
	@scripts/install-system-packages.sh $(BUNDLE_PACKAGES)

$(BUNDLE_VENV)/.deps: pyproject.toml
	rm -rf $(BUNDLE_VENV)
	$(PYTHON) -m venv $(BUNDLE_VENV)
	$(BUNDLE_VENV)/bin/python -m pip install --quiet --upgrade pip
	# Installing the project resolves its runtime dependencies; it is then removed again, so
	# PyInstaller analyses the source tree.
	$(BUNDLE_VENV)/bin/python -m pip install --quiet . "pyinstaller>=6.10,<7"
	$(BUNDLE_VENV)/bin/python -m pip uninstall --quiet --yes vms_desktop
	rm -rf build/lib build/bdist.*
	touch $@

$(BUNDLE): $(BUNDLE_VENV)/.deps $(BUNDLE_INPUTS)
	$(BUNDLE_VENV)/bin/python scripts/check_notices.py
	$(BUNDLE_VENV)/bin/pyinstaller --noconfirm --clean --log-level WARN \
		--distpath dist --workpath build/pyinstaller vms_desktop.spec
	$(BUNDLE_VENV)/bin/python scripts/check_notices.py --bundle $(dir $@)
	touch $@

bundle: system-bundle-packages $(BUNDLE)
	@du -sh $(dir $(BUNDLE))

bundle-self-test: bundle
	cd / && $(abspath $(BUNDLE)) --self-test

run: system-run-packages $(BIN)/.runtime
	$(BIN)/python -m vms_desktop

headless: system-run-packages $(BIN)/.runtime
	$(BIN)/python -m vms_desktop --headless

lint: $(BIN)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: system-test-packages $(BIN)/.dev lint
	$(BIN)/python -m pytest

bench: system-test-packages $(BIN)/.dev bundle
	PYTHONPATH=. $(BIN)/python bench/clip_build.py
	PYTHONPATH=. $(BIN)/python bench/api.py
	PYTHONPATH=. $(BIN)/python bench/gui_lag.py
	PYTHONPATH=. $(BIN)/python bench/bundle.py

screenshots: system-test-packages $(BIN)/.dev
	xvfb-run -a -s "-screen 0 1600x1000x24" $(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) $(BUNDLE_VENV) build dist .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
