# ragmigrate — run 'make help' for the targets.
#
# Everything installs what it needs first (scripts/install.sh is idempotent), so 'make demo' and
# 'make test' work on a fresh machine.

SHELL        := /bin/bash
.SHELLFLAGS  := -eu -o pipefail -c
BIN          := bin/ragmigrate
STACK_DIR    ?= $(CURDIR)/.stack
export RAGMIGRATE_STACK_DIR := $(STACK_DIR)
export PATH  := /usr/local/go/bin:$(PATH)
GO_FILES     := $(shell find . -name '*.go' -not -path './tools/*' 2>/dev/null) go.mod go.sum
# Tests and the demo read the stack's endpoints from the file 'stack up' writes.
WITH_STACK   := set -a && . $(STACK_DIR)/env && set +a &&

.PHONY: help install build stack-up stack-down stack-status stack-purge seed demo test lint vet bench bench-copy

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## install PostgreSQL 15, pgvector, dynalite and Go modules if missing
	@bash scripts/install.sh

$(BIN): $(GO_FILES)
	go build -o $(BIN) ./cmd/ragmigrate

build: $(BIN) ## build bin/ragmigrate

stack-up: install build ## start the local stack (idempotent) and write .stack/env
	@$(BIN) dev stack up >/dev/null
	@$(BIN) dev stack status

stack-down: ## stop the local stack, keep its data
	@if [ -x $(BIN) ]; then $(BIN) dev stack down; fi

stack-purge: ## stop the local stack and delete its data
	@if [ -x $(BIN) ]; then $(BIN) dev stack down --purge; fi

stack-status: build ## show the local stack's services
	@$(BIN) dev stack status

seed: stack-up ## replace the stack's deployment with a seeded v0 deployment (SEED_FLAGS=...)
	@$(WITH_STACK) $(BIN) dev seed --yes $(SEED_FLAGS)

demo: seed ## stack up, seed a v0 deployment, show the tool and what it sees
	@echo; echo '$$ ragmigrate --help'; $(BIN) --help
	@echo; echo '$$ ragmigrate dev summary'
	@$(WITH_STACK) $(BIN) dev summary

vet: ## go vet and gofmt
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

lint: vet ## static checks

bench-copy: stack-up ## copy benchmark: ragmigrate copy vs raw binary pipe, pg_dump|psql, pgcopydb (BENCH_ROWS, BENCH_RSS_ROWS)
	@bash scripts/install-bench.sh
	@$(WITH_STACK) bash scripts/bench-copy.sh

test: stack-up vet ## all tests, with the race detector, against the local stack
	@$(WITH_STACK) go test -race -count=1 -timeout 30m ./...
