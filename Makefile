# motcua — two commands: `make run` (the platform on http://127.0.0.1:$PORT) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
FLASK  := $(BIN)/flask --app wsgi

.PHONY: run test install lint clean-db bench

$(VENV)/.installed: requirements.txt requirements-dev.txt scripts/system-deps.sh
	scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

## Python packages (stamp), front-end assets from npm, compiled translations: cheap when up to date.
install: $(VENV)/.installed
	scripts/assets.sh
	$(BIN)/pybabel -q compile --use-fuzzy -d ui/translations

## Migrate, deploy bpmn/, create demo users, then serve web (gunicorn) + worker.
run: install
	$(FLASK) db upgrade
	$(FLASK) bpmn deploy --note "make run"
	$(FLASK) demo seed
	PORT=$(PORT) scripts/serve.sh

## The whole test suite (TEST_DATABASE_URL=postgresql+psycopg://... runs it on PostgreSQL).
test: install
	WITH_BROWSER=1 scripts/system-deps.sh
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .

## Benchmarks at full size on PostgreSQL (bench/README.md); the 1M-dossier fill is kept for the next run.
bench: install
	bench/run_all.sh
