# Kefu: two commands. `make run` installs, trains the default bot if there is no model,
# and starts everything on embedded defaults; `make test` installs the test tools and runs
# the suite. Everything lives in .venv; nothing is installed by hand.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Root installs Debian packages directly; anyone else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: run test install install-dev chromium train lint clean help

help:
	@echo "make run    install, train the default bot if needed, start Redis + actions + web server"
	@echo "make test   install test tools (incl. Debian's chromium) and run the test suite"
	@echo "make train  retrain the default bot (NLU model + answer decoder) into models/default"
	@echo "make clean  remove .venv, models/ and var/"

run: $(VENV)/.installed
	$(BIN)/kefu run

test: $(VENV)/.installed-dev chromium
	$(BIN)/pytest $(PYTEST_ARGS)

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch is pinned to 2.13.0 in pyproject.toml: the CPU wheel, never a CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(VENV)/.installed

# Browser tests drive Debian's Chromium (Playwright's own browser downloads are not used);
# the scale-out tests put Debian's nginx in front of two servers.
chromium:
	@{ command -v chromium && command -v nginx; } >/dev/null 2>&1 || { \
		echo "installing Debian's chromium and nginx for the browser and scale-out tests"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium nginx; }

# Bitext's customer-support answers (CDLA-Sharing-1.0) teach the default bot's answer
# decoder when the shared datasets sit beside this checkout.
BITEXT_ANSWERS := ../shared/datasets/bitext-customer-support/responses_4514/Bitext_Sample_Customer_Support_Training_Dataset.csv

train: $(VENV)/.installed
	$(BIN)/kefu train --data dialogues --out models/default $(if $(wildcard $(BITEXT_ANSWERS)),--answers-csv $(BITEXT_ANSWERS))

clean:
	rm -rf $(VENV) models var
