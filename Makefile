# The two quickstart commands:  `make demo`  and  `make test`.
# Both create the virtual environment .venv on first use and install what they need.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ENGINE ?= auto
HOST ?= 127.0.0.1
PORT ?= 7860
PYTEST_ARGS ?=
TEST_WORKERS ?= auto

ORT_WEB := sam_compose/app/static/ort
ORT_WEB_FILES := ort.wasm.min.js ort-wasm-simd-threaded.wasm ort-wasm-simd-threaded.mjs

.PHONY: demo test lint install install-test install-lint browser sample clean vendor-ort

# Everything a user of the demo may want: SAM models, CLIP text prompts, agents, ONNX, Ray, gaze devices.
# (`pip install sam-compose` alone is the light core: the weight-free engine, graphs and the CLI.)
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[all]"
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -e ".[test,lint]"
	touch $@

install: $(VENV)/.installed vendor-ort

install-test: $(VENV)/.installed-test vendor-ort

# onnxruntime-web for the demo's in-browser click decoding, from the npm registry at the version
# pinned in web/package-lock.json, copied into the package (served by the demo itself, no CDN).
# Without npm the demo still works; only its Browser tab says how to enable this.
vendor-ort: $(ORT_WEB)/ort.wasm.min.js

$(ORT_WEB)/ort.wasm.min.js: web/package.json web/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix web --ignore-scripts --no-audit --no-fund --silent && mkdir -p $(ORT_WEB) && \
		for f in $(ORT_WEB_FILES); do cp web/node_modules/onnxruntime-web/dist/$$f $(ORT_WEB)/ || exit 1; done && \
		cp web/node_modules/onnxruntime-web/README.md $(ORT_WEB)/README.md && \
		echo "vendored onnxruntime-web $$(node -p "require('./web/node_modules/onnxruntime-web/package.json').version" 2>/dev/null) into $(ORT_WEB)"; \
	elif [ -n "$${CI:-}" ]; then echo "npm not found: CI needs it to vendor onnxruntime-web for the browser test" >&2; exit 1; \
	else echo "npm not found: the demo's in-browser decoding stays off (install Node.js and run make vendor-ort)"; fi

# mypy reads the types of every optional package, so lint runs in the full test environment
install-lint: install-test

# Debian's Chromium for the browser tests of the demo (Playwright drives it; nothing is downloaded).
browser:
	@if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "browser tests need Debian's chromium: sudo apt-get install chromium"; fi

# The main job: the Gradio demo, on the weight-free engine unless a SAM checkpoint is present.
demo: install
	HF_HUB_OFFLINE=$${HF_HUB_OFFLINE:-1} $(BIN)/sam-compose demo --engine $(ENGINE) --host $(HOST) --port $(PORT)

# Segment a sample photograph from the command line and write out/overlay.png.
sample: install
	HF_HUB_OFFLINE=1 $(BIN)/sam-compose segment sample:astronaut --engine opencv --box 140,20,340,250 --out out

test: install-test browser
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# ruff (lint and format) and mypy, as CI runs them.
lint: install-test
	$(BIN)/ruff check sam_compose tests benchmarks demos
	$(BIN)/ruff format --check sam_compose tests benchmarks demos
	$(BIN)/mypy

clean:
	rm -rf $(VENV) out .pytest_cache web/node_modules $(ORT_WEB)
