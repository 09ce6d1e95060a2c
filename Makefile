# usersync — see README.md and docs/development.md. Every target works on a fresh Debian machine
# with Go: tools are installed or built under bin/ (git-ignored).

SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN := $(CURDIR)/bin

# The local PostgreSQL (trust auth) unless told otherwise; tests create and
# drop their own databases on it.
export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
# kube-apiserver and etcd for the Kubernetes integration tests, linked here
# by hack/kube-assets.sh (make setup); pkg/kube/kubetest reads KUBE_ASSETS.
export KUBE_ASSETS ?= $(BIN)/kube
FUZZTIME ?= 10s
# Extra flags for hack/bench, e.g. -before old/usersync -cpu-only.
BENCH_SYNC_FLAGS ?=
# Extra flags for hack/apibench, e.g. -phases get -rounds 9 -baseline old/usersapi.
BENCH_API_FLAGS ?=
STATICCHECK_VERSION ?= v0.8.2
ACTIONLINT_VERSION ?= v1.7.12

.PHONY: all build test unit fuzz bench bench-go bench-sync bench-api lint demo setup clean

all: build

## build: the two binaries, in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/usersync ./cmd/usersapi

## setup: install what tests need (Pushgateway, promtool, wrk) and start PostgreSQL
setup:
	hack/setup-test-env.sh

## test: everything CI runs — vet, race-enabled tests against real components, fuzzing
test: setup lint unit fuzz

# Test artifacts (the browser test's screenshots of /docs) land in out/.
unit:
	mkdir -p out
	$(GO) test -race -count=1 -timeout 20m -artifacts -outputdir=$(CURDIR)/out ./...

fuzz:
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh

## lint: gofmt, go vet, staticcheck, actionlint (the GitHub workflows)
lint: $(BIN)/staticcheck $(BIN)/actionlint
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...
	$(BIN)/actionlint

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(BIN)/actionlint:
	GOBIN=$(BIN) $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

## bench: Go benchmarks plus whole-process runs on large simulated data
bench: setup bench-go bench-sync bench-api

bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./pkg/...

bench-sync: build
	$(GO) run ./hack/bench -usersync $(BIN)/usersync $(BENCH_SYNC_FLAGS)

bench-api: build
	hack/bench-api.sh $(BENCH_API_FLAGS)

## demo: a throwaway database, the Snipe-IT simulator, a full sync, then the API (more flags in DEMO_FLAGS)
# Built, not `go run`: go run exits 1 when interrupted, whatever the demo does.
demo: build
	$(GO) build -o $(BIN)/demo ./hack/demo
	$(BIN)/demo -bin $(BIN) $(DEMO_FLAGS)

clean:
	rm -rf $(BIN) out
