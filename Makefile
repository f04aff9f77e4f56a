# Paddock — common tasks. `make help` lists them.
CARGO ?= cargo

.PHONY: help build test test-rust run cluster cluster-down fmt lint check bench bench-storage clean

help: ## list targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build every crate (debug)
	$(CARGO) build --workspace

test: ## run the whole test suite (what CI runs): the Python client against a live server, then every Rust test
	bash .ci/python-client
	$(CARGO) test --workspace

test-rust: ## only the Rust tests
	$(CARGO) test --workspace

run: ## run a standalone server: dataDir ./data, gRPC on 7181
	$(CARGO) run --release --bin paddock

cluster: ## run a local 3-server ensemble (deploy/cluster/, data in ./data/cluster, gRPC on 7181-7183)
	scripts/cluster.sh up

cluster-down: ## stop the local ensemble (its data stays; `scripts/cluster.sh down --wipe` deletes it)
	scripts/cluster.sh down

fmt: ## format the code
	$(CARGO) fmt --all

lint: ## formatting check + clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

check: lint test ## everything a change must pass

SOAK_SEEDS ?= 5000
.PHONY: soak
soak: ## seeded fault schedules on 3- and 5-node ensembles, SOAK_SEEDS seeds each (release build)
	PADDOCK_FAULT_SEEDS=$(SOAK_SEEDS) $(CARGO) test --release -p paddock-quorum --test faults -- --nocapture

BENCH_SERVER ?= 127.0.0.1:7181
BENCH_ARGS ?= --sessions 32 --duration 10 --workload mixed --read-pct 90
bench: ## load a running server (start one with `make run`); BENCH_ARGS to change the workload
	$(CARGO) run --release -p paddock-bench -- --server $(BENCH_SERVER) $(BENCH_ARGS)

bench-storage: ## txn-log append+fsync rates (release build)
	$(CARGO) run --release -p paddock-storage --example logbench

clean: ## remove build output
	$(CARGO) clean
