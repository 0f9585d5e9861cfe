# podtap: `make demo` and `make test` set up everything they need on a Debian machine (as root).
VENV ?= .venv
PY := $(VENV)/bin/python
SYSTEM_PACKAGES := iproute2 nftables iptables curl util-linux mount ca-certificates

.PHONY: system venv demo test lint check-leftovers clean

system:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	python3 -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(PY): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(PY)

venv: system $(PY)

demo: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/demo.sh

lint: venv
	$(VENV)/bin/ruff check podtap tests bench
	$(VENV)/bin/ruff format --check podtap tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
