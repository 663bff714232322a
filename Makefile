# ragmigrate — run 'make help' for the targets.
#
# Everything installs what it needs first (scripts/install.sh is idempotent), so 'make demo' and
# 'make test' work on a fresh machine.

SHELL        := /bin/bash
.SHELLFLAGS  := -eu -o pipefail -c
# bin/ragmigrate is the development build: the build tag 'dev' links the development rig
# (internal/dev: local stack, seeder, test servers) as 'ragmigrate dev ...', which the stack, the
# demo and the tests run. The operator's binary is built without it (build-release).
DEV_TAGS     := -tags dev
BIN          := bin/ragmigrate
RELEASE_BIN  := dist/ragmigrate
STACK_DIR    ?= $(CURDIR)/.stack
export RAGMIGRATE_STACK_DIR := $(STACK_DIR)
export PATH  := /usr/local/go/bin:$(PATH)
GO_FILES     := $(shell find . -name '*.go' -not -path './tools/*' 2>/dev/null) go.mod go.sum
# Tests and the demo read the stack's endpoints from the file 'stack up' writes.
WITH_STACK   := set -a && . $(STACK_DIR)/env && set +a &&
# The demo's copy goes to this database on the target cluster.
DEMO_COPY_DB := ragmigrate_copy
# The seed publishes the old cluster's final snapshot under this name on the stack's RDS contract
# server; the demo restores it and copies it into DEMO_SNAPSHOT_DB.
DEMO_SNAPSHOT    := bedrockchatstack-vectorstore-final-snapshot
DEMO_SNAPSHOT_DB := ragmigrate_snapshot_copy
# The demo's live replication goes to this database on the target cluster.
DEMO_REPLICA_DB  := ragmigrate_replica

.PHONY: help install build build-release image stack-up stack-down stack-status stack-purge seed demo test fuzz lint vet bench bench-copy bench-reembed bench-workers bench-loaders bench-memory bench-replicate

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## install PostgreSQL 15, pgvector, dynalite and Go modules if missing
	@bash scripts/install.sh

$(BIN): $(GO_FILES)
	go build $(DEV_TAGS) -o $(BIN) ./cmd/ragmigrate

build: $(BIN) ## build bin/ragmigrate, the development build (with 'ragmigrate dev ...')

# Static (CGO_ENABLED=0), as the Dockerfile builds it, so it runs on any Linux of its architecture.
build-release: ## build dist/ragmigrate, the operator's binary: static, no development rig, no test doubles
	CGO_ENABLED=0 go build -trimpath -o $(RELEASE_BIN) ./cmd/ragmigrate

# The container image (Dockerfile), built by the first container builder that works here: docker
# with buildx (the Dockerfile cross-compiles with BuildKit's platform arguments), podman or
# buildah. A docker client without a daemon is no builder. The development machines have none;
# cmd/ragmigrate/dockerfile_test.go builds the image's binary with the Dockerfile's own line.
IMAGE        ?= ragmigrate:latest

image: ## build the container image IMAGE (default ragmigrate:latest) with docker buildx, podman or buildah
	@if docker buildx version >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
		set -x; docker buildx build --load -t '$(IMAGE)' .; \
	elif podman info >/dev/null 2>&1; then \
		set -x; podman build -t '$(IMAGE)' .; \
	elif buildah version >/dev/null 2>&1; then \
		set -x; buildah bud -t '$(IMAGE)' .; \
	else \
		echo "make image: no working container builder here (docker with buildx and a daemon, podman or buildah), so no image was built."; \
		echo "  Where one exists, from this directory: docker buildx build -t $(IMAGE) .   (or: podman build -t $(IMAGE) .)"; \
		echo "  For Graviton (arm64) Fargate tasks add --platform linux/arm64. 'make build-release' builds the same static binary for this machine, without a container."; \
	fi

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
	@$(WITH_STACK) $(BIN) dev seed --yes --final-snapshot $(DEMO_SNAPSHOT) $(SEED_FLAGS)
	@# The seed recreated items as the superuser; publishing again gives the published stack's
	@# app role (its DB secret's user) ownership back.
	@$(BIN) dev stack up --log-level warn >/dev/null

demo: seed ## the whole job on the local stack: seed a v0 deployment, plan, re-embed (here, then by workers on ECS), copy, verify; restore the old cluster's snapshot, copy, verify, clean up; replicate while the app writes, cut over
	@echo; echo '$$ ragmigrate --help'; $(BIN) --help
	@echo; echo '$$ ragmigrate dev summary            # the seeded v0 deployment, read back through DynamoDB, S3 and SQL'
	@$(WITH_STACK) $(BIN) dev summary
	@echo; echo '$$ ragmigrate plan --stack BedrockChatStack   # no other flag or env: table, bucket and the DB secret from the stack'"'"'s outputs'
	@$(WITH_STACK) env -u RAGMIGRATE_TABLE -u RAGMIGRATE_BUCKET -u RAGMIGRATE_SOURCE_DB -u RAGMIGRATE_TARGET_DB \
		$(BIN) plan --stack BedrockChatStack 2>&1 | grep -E 'from the stack|from its secret|^(bots|target) '
	@echo; echo '$$ ragmigrate plan --exact            # read-only: cost, time, the bots that will fail, target preflight'
	@$(WITH_STACK) $(BIN) plan --exact
	@echo; echo '$$ ragmigrate reembed --yes --truncate END   # Bedrock = the contract server; some seeded bots are broken on purpose'
	@$(WITH_STACK) $(BIN) reembed --yes --truncate END --report .stack/reembed-report.json \
		|| echo "(exit $$?: the failed bots above list the source that stopped them: a dead link, a scanned, encrypted or truncated PDF)"
	@echo; echo '$$ ragmigrate status --failures'
	@$(WITH_STACK) $(BIN) status --failures
	@echo; echo '$$ ragmigrate verify --table ... --source-db <old cluster> --target-db ...   # the re-embed against v0, by content, and bots vs target'
	@$(WITH_STACK) $(BIN) verify --allow-private-urls || echo "(exit $$?: see the differences above)"
	@echo; echo '$$ ragmigrate reembed --stack BedrockChatStack --runner ecs --ecs-task worker --workers 2 --image ragmigrate:local --fresh --yes   # the same, by two ragmigrate workers on Fargate sharing one budget (here the ECS contract server runs them)'
	@$(WITH_STACK) env -u RAGMIGRATE_TABLE -u RAGMIGRATE_BUCKET -u RAGMIGRATE_TARGET_DB \
		$(BIN) reembed --stack BedrockChatStack --runner ecs --ecs-task worker --workers 2 --image ragmigrate:local --fresh --yes \
		--truncate END --allow-private-urls --report .stack/reembed-workers-report.json \
		|| echo "(exit $$?: the same bots fail as above, for the same sources)"
	@echo; echo '$$ ragmigrate remote --stack BedrockChatStack --image ragmigrate:local -- verify   # the workers'"'"' rows verified, as a Fargate task in the stack'"'"'s VPC (here the ECS contract server runs it)'
	@$(WITH_STACK) env -u RAGMIGRATE_TABLE -u RAGMIGRATE_BUCKET -u RAGMIGRATE_TARGET_DB \
		$(BIN) remote --stack BedrockChatStack --image ragmigrate:local -- verify --allow-private-urls \
		|| echo "(exit $$?: the task's exit code, the same as the verify above)"
	@echo; echo '$$ ragmigrate copy --target-db <target cluster>/$(DEMO_COPY_DB) --yes   # the alternative: copy the old vectors'
	@$(WITH_STACK) psql -qXAt "$$RAGMIGRATE_TARGET_DB" -c "SELECT 1 FROM pg_database WHERE datname = '$(DEMO_COPY_DB)'" | grep -q 1 \
		|| psql -qX "$$RAGMIGRATE_TARGET_DB" -c 'CREATE DATABASE $(DEMO_COPY_DB)'
	@$(WITH_STACK) $(BIN) copy --yes --empty-target --create-missing --target-db "$$(sed -E 's#^([^?]*/)[^/?]*(\?|$$)#\1$(DEMO_COPY_DB)\2#' <<<"$$RAGMIGRATE_TARGET_DB")"
	@echo; echo '$$ ragmigrate verify --source-db <old cluster> --target-db <the copy>   # proves the copy: exit 0'
	@$(WITH_STACK) RAGMIGRATE_TABLE= $(BIN) verify --target-db "$$(sed -E 's#^([^?]*/)[^/?]*(\?|$$)#\1$(DEMO_COPY_DB)\2#' <<<"$$RAGMIGRATE_TARGET_DB")"
	@$(WITH_STACK) BIN=$(BIN) DEMO_SNAPSHOT_DB=$(DEMO_SNAPSHOT_DB) bash scripts/demo-snapshot.sh
	@$(WITH_STACK) BIN=$(BIN) DEMO_REPLICA_DB=$(DEMO_REPLICA_DB) bash scripts/demo-replicate.sh

# third_party holds copies of other projects' code, kept as they wrote it (their own module, so
# ./... leaves it out too).
GO_FILES = $$(git ls-files '*.go' ':!third_party')

vet: ## go vet (operator and development builds) and gofmt
	go vet ./...
	go vet $(DEV_TAGS) ./...
	@test -z "$$(gofmt -l $(GO_FILES))" || { echo "gofmt needed:"; gofmt -l $(GO_FILES); exit 1; }

lint: vet ## static checks

bench-copy: stack-up ## copy benchmark: ragmigrate copy vs raw binary pipe, pg_dump|psql, pgcopydb (BENCH_ROWS, BENCH_RSS_ROWS)
	@bash scripts/install-bench.sh
	@$(WITH_STACK) bash scripts/bench-copy.sh

bench-reembed: stack-up ## re-embed at the quota: latency {50ms,800ms,2s} x budget {120 rpm; 2M tpm}, given and discovered: wall/floor, throttles, texts per request
	@$(WITH_STACK) bash scripts/bench-reembed.sh

bench-workers: stack-up ## where to re-embed at 120 requests/min: local pool vs --ecs-task worker with 1 and 3 workers vs the app's task per bot (computed)
	@$(WITH_STACK) bash scripts/bench-workers.sh

bench-loaders: ## text extraction MB/s per upload type on the seeded corpus
	@go test -run '^$$' -bench 'File' -benchtime 2s ./internal/loader/

bench-memory: ## peak RSS of reading one large upload per type (MEM_TEXT_MB of text, default 8)
	@bash scripts/bench-memory.sh

bench-replicate: stack-up ## replicate start vs a native subscription (copy_data = true) on BENCH_ROWS rows; cut-over pause with a writer running
	@bash scripts/install-bench.sh
	@$(WITH_STACK) bash scripts/bench-replicate.sh

bench: bench-copy bench-reembed bench-loaders bench-memory bench-replicate ## every benchmark

test: stack-up vet ## all tests, with the race detector, against the local stack; then every fuzz target briefly
	@$(WITH_STACK) go test $(DEV_TAGS) -race -count=1 -timeout 30m ./...
	@$(MAKE) --no-print-directory fuzz

fuzz: ## every fuzz target for FUZZTIME each (default 10s), memory-bounded
	@bash scripts/fuzz.sh
