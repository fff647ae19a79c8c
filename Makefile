# Cirrus: two commands on a fresh machine — `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FRONT  := viewer-frontend
PYTEST_ARGS ?=
PYTEST_WORKERS ?= 2
BENCH_ARGS ?= --auth-compare

.PHONY: run test install frontend frontend-test migrate postgres system-deps bench lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -U pip
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

install: $(STAMP)

# Frontend: built once per change of its sources (skipped if it does not exist yet).
frontend:
	@if [ -f $(FRONT)/package.json ]; then \
	  cd $(FRONT) && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run build; \
	else echo "no frontend yet"; fi

frontend-test: frontend
	@if [ -f $(FRONT)/package.json ]; then cd $(FRONT) && npm test; fi

migrate: install
	$(BIN)/cirrus migrate

# The embedded default also runs the DIMSE SCP on 127.0.0.1:11112 (CIRRUS_DIMSE_EMBEDDED=false to turn it off).
run: install frontend migrate
	CIRRUS_DIMSE_EMBEDDED=$${CIRRUS_DIMSE_EMBEDDED:-true} $(BIN)/cirrus serve

# Debian packages the tests need (Chromium for browser tests, DCMTK for the DIMSE tests).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { echo "system-deps: installing Debian chromium (browser tests) with apt ..."; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@command -v pdftoppm >/dev/null 2>&1 || { echo "system-deps: installing Debian poppler-utils (PDF report tests) with apt ..."; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils; }
	@command -v storescu >/dev/null 2>&1 || { echo "system-deps: installing Debian dcmtk (DIMSE tests: echoscu, storescu, findscu, getscu, movescu) with apt ..."; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dcmtk; }
	@command -v dciodvfy >/dev/null 2>&1 || { echo "system-deps: installing Debian dicom3tools (dciodvfy: the stored report SR and PDF are validated) with apt ..."; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dicom3tools; }
	@test -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || { echo "system-deps: installing Debian fonts-wqy-microhei (Chinese in reports) with apt ..."; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei; }

postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done; echo "PostgreSQL did not start"; exit 1

# pytest runs on $(PYTEST_WORKERS) xdist workers (files stay whole on one worker: module fixtures
# are built once); then the frontend's `npm test` (vitest, API types, browser e2e) on a quiet machine.
test: install system-deps postgres frontend
	$(BIN)/ruff check dicomweb quant server tests bench
	$(BIN)/mypy dicomweb quant
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	@if [ -f $(FRONT)/package.json ]; then cd $(FRONT) && npm test; fi

# Benchmarks against Orthanc (Debian packages) and an nginx roof; prints a table.
bench: install
	@for t in Orthanc nginx wrk curl; do command -v $$t >/dev/null 2>&1 || PATH="$$PATH:/usr/sbin" command -v $$t >/dev/null 2>&1 || missing=1; done; \
	  [ -z "$$missing" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq orthanc orthanc-dicomweb nginx wrk curl >/dev/null; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check dicomweb quant server tests bench
	$(BIN)/mypy dicomweb quant

clean:
	rm -rf $(VENV) $(FRONT)/node_modules $(FRONT)/dist
