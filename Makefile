# The two commands of the README. Both set up what they need first; `make setup` is idempotent.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
OUT     ?= out

.PHONY: setup demo lint test bench clean

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV) $(PY)
	touch $(STAMP)

setup: $(STAMP)

# The main job on the shipped sample records: check the specs, show what they mean.
demo: setup
	bash scripts/demo.sh $(BIN) $(OUT)

# Lint (ruff: rules and formatting) and types (mypy); the configuration is in pyproject.toml.
LINTED := ecgspec runtime tests bench scripts docs/gallery docs/mistakes.py docs/report_screenshot.py setup.py
lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

# Lint, then the whole test suite, two workers.
test: setup lint
	$(BIN)/python -m pytest -q -n 2 -p no:cacheprovider

bench: setup
	$(BIN)/python bench/check.py

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache
