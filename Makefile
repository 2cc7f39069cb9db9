# The README's two commands: `make demo` and `make test`. Both set everything up
# through `make install`, which is idempotent and keeps one virtualenv in .venv/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ARGS ?=
PYTEST_ARGS ?=

CHROMIUM := /usr/bin/chromium
# The messenger in «Чаты»: matrix-js-sdk from the npm registry, bundled by esbuild.
JS := web_client/js
BUNDLE := web_client/static/messenger.js
JS_DEPS := $(JS)/node_modules/.package-lock.json

.PHONY: install demo test lint typecheck unit bench bench-district clean browser turn fonts wheel messenger

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(JS_DEPS): $(JS)/package.json $(JS)/package-lock.json
	cd $(JS) && npm ci --no-audit --no-fund --loglevel=error
	touch $(JS_DEPS)

$(BUNDLE): $(JS_DEPS) $(wildcard $(JS)/src/*.js)
	cd $(JS) && npm run --silent build

messenger: $(BUNDLE)

demo: install messenger fonts
	$(BIN)/parta demo $(DEMO_ARGS)

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/yamllint -s ansible .yamllint
	cd ansible && PATH=$(CURDIR)/$(BIN):$$PATH ./../$(BIN)/ansible-lint -q
	cd ansible && for inventory in inventories/*/hosts.yml; do \
		../$(BIN)/ansible-playbook --syntax-check -i $$inventory site.yml || exit 1; done

# The wheel the Ansible roles install on a school's host (dist/).
wheel: install messenger
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir dist .
	rm -rf build

typecheck: install
	$(BIN)/mypy .

# The browser tests drive Debian's Chromium through Playwright (never `playwright install`).
browser:
	test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# Access letters are printed in DejaVu Sans (Cyrillic): Debian's fonts-dejavu-core; the tests
# render them with poppler's pdftoppm, as a PDF viewer would.
DEJAVU := /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
fonts:
	test -f $(DEJAVU) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core; }
	command -v pdftoppm > /dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils; }

# The call tests relay media through a real coturn (Debian's package; its service is not started).
turn:
	command -v turnserver > /dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq coturn; }

test: lint typecheck browser turn fonts messenger
	cd $(JS) && npm test --silent
	$(BIN)/pytest $(PYTEST_ARGS)

unit: install
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

bench: install
	$(BIN)/parta bench sync --students 1000 --json

bench-district: install
	$(BIN)/parta bench sync --schools 30 --students 350 --json

clean:
	rm -rf var .mypy_cache .ruff_cache .pytest_cache build dist $(JS)/node_modules $(BUNDLE) $(BUNDLE).map
