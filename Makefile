# Memlane task runner. `make run` and `make test` set everything up on a fresh Debian/Ubuntu machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := build-essential cmake tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim xvfb xauth x11-utils \
	openbox xdotool libxss1 strace \
	libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 \
	libxcb-image0 libxcb-render-util0 libxcb-xinerama0 libxcb-randr0 libegl1 libgl1 \
	libfontconfig1 libdbus-1-3 \
	pipewire wireplumber gstreamer1.0-pipewire gstreamer1.0-plugins-base gir1.2-gstreamer-1.0 \
	xdg-desktop-portal at-spi2-core gir1.2-atspi-2.0 grim \
	libgirepository1.0-dev libcairo2-dev pkg-config
# What the tests start as real Wayland desktops: GNOME's compositor, shell and portal, sway, a
# terminal.
TEST_APT_PACKAGES := mutter gnome-shell xdg-desktop-portal-gnome sway foot dbus-daemon firefox-esr
# llama.cpp is built from source here, for this machine's CPU: on the 2-core CI VM (AVX-512/VNNI)
# that processes prompts about 1.5x faster than the portable build (benchmarks/llama_build.py).
# The package (`make package`) builds its own portable copy. Without llama.cpp's AMX code: on a
# CPU with AMX (Sapphire Rapids and later) the native build repacked the models for AMX and the
# model process died with SIGSEGV at the first prompt.
export CMAKE_ARGS ?= -DGGML_NATIVE=ON -DCMAKE_C_FLAGS=-mno-amx-int8 -DCMAKE_CXX_FLAGS=-mno-amx-int8

.PHONY: install system-deps run test test-fast lint bench screenshots package package-test clean

install: system-deps $(STAMP)

system-deps:
	@missing=$$(for p in $(APT_PACKAGES) $(if $(filter test test-fast bench,$(MAKECMDGOALS)),$(TEST_APT_PACKAGES)); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q '^install ok installed' || echo $$p; done); \
	if ! $(PYTHON) -c 'import venv, ensurepip' 2>/dev/null; then missing="$$missing python3-venv"; fi; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "Installing system packages:$$missing"; \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
		else \
			echo "Memlane needs these system packages. Run, then re-run make:"; \
			echo "  sudo apt-get install -y$$missing"; exit 1; \
		fi; \
	fi

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,bench]"
	@touch $(STAMP)

run: install
	$(BIN)/memlane

test: install
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

# The loop while editing, on both cores: everything but the real model, the X11 sessions and the
# tests marked slow (processes killed mid-write, the concurrency storm, strace'd sessions).
test-fast: install
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not model and not x11 and not slow"

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python benchmarks/locomo_retrieval.py
	$(BIN)/python benchmarks/search_latency.py
	$(BIN)/python benchmarks/llama_build.py
	$(BIN)/python benchmarks/answer_prompt.py
	$(BIN)/python benchmarks/locomo_qa.py
	$(BIN)/python benchmarks/locomo_qa.py --model large --name locomo_qa_large --base benchmarks/results/locomo_qa.json
	$(BIN)/python benchmarks/screen_qa.py
	$(BIN)/python benchmarks/capture_replay.py
	$(BIN)/python benchmarks/capture_live.py
	QT_QPA_PLATFORM=offscreen $(BIN)/python benchmarks/gui_app.py
	$(BIN)/python benchmarks/archive.py
	$(BIN)/python benchmarks/import_limits.py
	$(BIN)/python benchmarks/encryption.py
	$(BIN)/python benchmarks/consolidation.py
	$(BIN)/python benchmarks/mcp_latency.py

# dist/memlane_<version>_<arch>.deb: a self-contained app under /opt/memlane (packaging/build.sh).
package: install
	$(BIN)/python -m pip install -q -e ".[package]"
	bash packaging/build.sh

# Installs that package on this machine, uses it, removes it (root; takes a few minutes).
package-test: package
	@if [ "$$(id -u)" = 0 ]; then bash packaging/smoke.sh; else sudo bash packaging/smoke.sh; fi

screenshots: install
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m memlane.ui.screenshots docs/screenshots

clean:
	rm -rf $(VENV) build dist src/*.egg-info
