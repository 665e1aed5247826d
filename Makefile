# The whole set-up: `make run` opens the app, `make test` runs the suite. Both create .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch first and pinned, from the build this machine needs: installer/torch_choice.py is the
# one rule (shared with installer/linux/install.sh): an NVIDIA GPU -> the CUDA build, macOS -> the
# default, otherwise PyTorch's CPU-only index. Override: PHOTOCLIP_TORCH=cpu|cuda|default, or
# TORCH_INDEX_URL=URL (empty: your pip configuration alone).
TORCH_SPEC ?= torch==2.13.0

.PHONY: run test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml setup.py
	$(BIN)/python -c 'import torch' 2>/dev/null || \
	  $(BIN)/pip install -q "$(TORCH_SPEC)" $$($(BIN)/python installer/torch_choice.py)
	$(BIN)/pip install -q -e ".[ocr,raw,fast]"
	# With CUDA, torchvision too (the `gpu` extra: JPEGs decoded on the GPU); optional, so a
	# failure says so and the app runs with Pillow decoding.
	$(BIN)/python -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null && \
	  { $(BIN)/pip install -q -e ".[gpu]" $$($(BIN)/python installer/torch_choice.py) || \
	    echo "GPU JPEG decoding not installed (torchvision failed): JPEGs decode on the CPU."; } \
	  || true
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml setup.py
	$(BIN)/pip install -q -e ".[test]"
	# Only its BPE vocabulary file is used (the real CLIP tokenizer for the test model);
	# --no-deps keeps torchvision out.
	$(BIN)/pip install -q --no-deps "open_clip_torch>=2.20"
	# The same for Chinese-CLIP: its BERT vocabulary for the tiny Chinese-CLIP test model (its own
	# requirements pin lmdb and pull torchvision and timm, none of which we use).
	$(BIN)/pip install -q --no-deps "cn_clip>=1.5"
	touch $@

run: $(VENV)/.installed
	$(BIN)/python -m photoclip gui

test: $(VENV)/.installed-test
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check photoclip tests
	$(BIN)/mypy photoclip
	$(BIN)/lint-imports --no-cache  # the layering contracts in pyproject.toml

# One prepared GPU run (issue 23): CUDA-only tests, bench on the GPU, GPU JPEG decode, training
# steps/s -> one JSON (GPU_CHECK_OUT). Installs nothing: it uses the venv `make test` built, or
# $(PYTHON) when there is none. Without CUDA it says so and fails (exit 2).
GPU_CHECK_OUT ?= gpu-check.json
.PHONY: gpu-check
gpu-check:
	$(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) installer/gpu_check.py --out $(GPU_CHECK_OUT)

clean:
	rm -rf $(VENV) build *.egg-info
