# The project's vocabulary. Everything runs from the venv that `setup` makes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CLASS_ARCHIVE := $(VENV)/share/caravan/spark-classes.jsa
# Whether Spark will find a java (on PATH or in JAVA_HOME), as a shell condition.
# (An empty JAVA_HOME is not one: "$$JAVA_HOME/bin/java" would be /bin/java.)
JAVA_FOUND := { command -v java >/dev/null 2>&1 || { [ -n "$$JAVA_HOME" ] && [ -x "$$JAVA_HOME/bin/java" ]; }; }

.PHONY: setup tools demo test lint lint-sql format up docs quality bench bench-spark bench-chain bench-gates clean check-java

setup: $(STAMP) $(CLASS_ARCHIVE)

# uv (from PyPI, into the venv) installs the pinned set in about a minute, compiling it to
# bytecode: where PYTHONDONTWRITEBYTECODE is set (as on our CI machine) Python cannot cache
# what it compiles, and every process compiled Airflow, GX and dbt again on import (the
# demo's own imports took 18 s instead of 9; bench/README.md).
$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Caravan needs Python 3.11 (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.txt -e .
	touch $(STAMP)

# Spark's classes, loaded, parsed and verified once by a JVM that runs the warm-up job and
# dumps them as it exits; every local Spark JVM after maps the archive (HotSpot's class data
# sharing) and starts on about 40 % less CPU (spark_jobs/common/session.py, bench/README.md).
# Built again with each install and each change of the warm-up; without Java, setup goes on
# without it (check-java says why).
$(CLASS_ARCHIVE): $(STAMP) spark_jobs/common/session.py
	@if $(JAVA_FOUND); then \
	  $(BIN)/python -m spark_jobs.common.session 2>$(VENV)/class-archive.log \
	    || { cat $(VENV)/class-archive.log; exit 1; }; \
	else echo "No Java: Spark's class archive is not built (make check-java)."; fi

# checkov (Terraform's static checks, tests/terraform) pins dependencies that clash with the
# project's, so it lives in a virtual environment of its own (.tools/checkov), installed once
# per pinned version by the project's uv: 4 s from an empty cache on the 2-core machine (pip
# took 23 s), nothing when the stamp is there.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .tools/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

tools: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): | $(STAMP)
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(BIN)/uv pip install --quiet --python $(CHECKOV_VENV)/bin/python checkov==$(CHECKOV_VERSION)
	rm -f $(CHECKOV_VENV)/.installed-*
	touch $(CHECKOV_STAMP)

check-java:
	@$(JAVA_FOUND) || { \
	  echo "Caravan's Spark jobs need Java 17+, and none was found."; \
	  echo "Install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17) or set JAVA_HOME."; \
	  exit 2; }

demo: setup check-java
	$(BIN)/caravan demo

# PYTEST_ARGS adds to pyproject's options, e.g. `make test PYTEST_ARGS=--durations=25`.
test: setup check-java tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Lint needs the venv, not Spark's class archive: `make -j2 setup lint` (CI) runs the two
# side by side.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@$(MAKE) --no-print-directory lint-sql

# sqlfluff over the dbt project's models (.sqlfluff, .sqlfluffignore), about 8 s: its dbt
# templater compiles them on the DuckDB target, here with a warehouse file and dbt's target/
# of their own in a temporary CARAVAN_HOME, so a lint never opens the demo's warehouse.
lint-sql: $(STAMP)
	home=$$(mktemp -d) && trap 'rm -rf "$$home"' EXIT && \
	  CARAVAN_HOME="$$home" DBT_TARGET_PATH="$$home/target" $(BIN)/sqlfluff lint dbt_project

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

up: setup check-java
	$(BIN)/caravan up

# dbt's docs site for the demo's warehouse (after `make demo`): .caravan/dbt_docs/static_index.html
docs: setup
	$(BIN)/caravan docs

# The latest quality gate status per stage, source and entity (exit 1 if one failed).
quality: setup
	$(BIN)/caravan quality

# Benchmarks print Markdown tables; their measured results are in bench/README.md.
bench: setup
	$(BIN)/python bench/ingest.py

# The Spark jobs at SF1 against DuckDB (35 min to generate the data the first time).
bench-spark: setup check-java
	$(BIN)/python bench/spark_jobs.py

# The demo's days through Airflow and as the bare steps: what Airflow adds.
bench-chain: setup check-java
	$(BIN)/python bench/chain.py

# What one quality gate costs, by kind and phase (on the demo's partitions: after `make demo`).
bench-gates: setup
	$(BIN)/python bench/gates.py --repeat 15

lock:
	$(BIN)/uv pip compile --quiet requirements.in --python-version 3.11 -o requirements.txt

clean:
	rm -rf .caravan dbt_project/target dbt_project/logs
