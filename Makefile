.PHONY: run test check bench lint

run:  ## install and start Signpost (embedded mode, demo data) on http://127.0.0.1:8000; PORT=, DATA_DIR=, ARGS=
	bash scripts/run.sh $(ARGS)

test:  ## install, lint, type-check and run every test (starts real Kafka and PostgreSQL)
	bash scripts/test.sh

check:  ## ruff, mypy and the fast tests (no Kafka, no PostgreSQL, no processes): about a minute
	bash scripts/bootstrap.sh
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy .
	.venv/bin/pytest -q -p no:cacheprovider --fast

lint:
	bash scripts/bootstrap.sh
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy .

bench:  ## benchmark scripts (not tests): intake ratio, end-to-end throughput, the simulator
	bash scripts/bootstrap.sh
	.venv/bin/python bench/intake.py
	.venv/bin/python bench/e2e.py
	.venv/bin/python bench/simulate.py
