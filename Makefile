# Tallystick: `make demo` and `make test` are the whole quickstart; they work on a fresh machine
# with only Python 3.11+ (the virtualenv and every dependency are installed here).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench lint clean chromium catalogue

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Tallystick needs Python 3.11 or newer: set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m tallystick.cli.demo

# The page tests (tests/pages/) drive Debian's Chromium through Playwright; never a downloaded
# browser build. Installed here when missing (root, or through sudo), so a clean CI machine has it.
CHROMIUM := /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if command -v apt-get >/dev/null 2>&1; then \
			SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
			echo "installing Debian's chromium for the page tests (apt-get)"; \
			$$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
		else \
			echo "no $(CHROMIUM) and no apt-get: the page tests (tests/pages/) will be skipped (and fail under CI=true)"; \
		fi; \
	fi

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q -n 3 --dist loadfile --no-loadscope-reorder

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check .

# The wallet's translation catalogue (docs/wallet.md, "Languages"): strings.js extracted into
# wallet.pot, then each language's wallet.po updated from it (a new text untranslated, a changed one
# fuzzy, a removed one obsolete). Translate what it leaves, then run tests/wallet/test_catalogue.py.
# The same for the node's pages (docs/pages.md, "Languages"): the templates and node/pages/*.py into
# node/locale/pages.pot and each pages.po; then tests/pages/test_pages_catalogue.py.
WALLET_LOCALE := node/wallet/locale
PAGES_LOCALE := node/locale
catalogue: $(STAMP)
	$(BIN)/pybabel extract --mapping-file $(WALLET_LOCALE)/babel.cfg --no-location --no-wrap --omit-header \
		--output-file $(WALLET_LOCALE)/wallet.pot node/wallet/static/strings.js
	$(BIN)/pybabel update --input-file $(WALLET_LOCALE)/wallet.pot --output-dir $(WALLET_LOCALE) --domain wallet \
		--no-wrap --ignore-pot-creation-date
	$(BIN)/pybabel extract --mapping-file $(PAGES_LOCALE)/babel.cfg --keywords N_ --no-location --no-wrap --omit-header \
		--output-file $(PAGES_LOCALE)/pages.pot node/pages node/templates
	$(BIN)/pybabel update --input-file $(PAGES_LOCALE)/pages.pot --output-dir $(PAGES_LOCALE) --domain pages \
		--no-wrap --ignore-pot-creation-date
	$(BIN)/pybabel extract --no-location --no-wrap --omit-header -k _ -k ngettext:1,2 \
		--output-file $(PAGES_LOCALE)/mails.pot node/mailer.py
	$(BIN)/pybabel update --input-file $(PAGES_LOCALE)/mails.pot --output-dir $(PAGES_LOCALE) --domain mails \
		--no-wrap --ignore-pot-creation-date

clean:
	rm -rf $(VENV) .demo .pytest_cache .hypothesis
