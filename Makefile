# `make run` and `make test` set everything up from nothing but Python and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FLASK  := $(BIN)/flask --app app
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test bench setup translations migrate seed lint format extract-messages update-messages clean

run: setup migrate seed
	$(FLASK) serve --host $(HOST) --port $(PORT)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The benchmark of issue 15: SQLite, and PostgreSQL when BENCH_POSTGRES_URL is set.
# make bench BENCH_ARGS="--quick --only desk" (see bench/run.py --help)
bench: setup
	$(BIN)/python bench/run.py $(BENCH_ARGS)

setup: $(STAMP) translations

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# The catalogs are compiled here, never committed as binaries; each only when its .po
# changed, so that test runs started side by side never rewrite a catalog in use.
CATALOGS := $(wildcard translations/*/LC_MESSAGES/messages.po)
translations: $(CATALOGS:.po=.mo)
	@test -f translations/fi/LC_MESSAGES/messages.mo

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -l $* -i $< -o $@.tmp 2>&1 | grep -v '^compiling' || true
	mv $@.tmp $@

migrate: $(STAMP)
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) seed-demo --quiet

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Collect the strings of the code and templates, then merge them into every catalog.
extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o translations/messages.pot --no-location --sort-output .

update-messages: extract-messages
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find translations -name '*.mo' -delete
