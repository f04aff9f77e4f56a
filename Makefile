# Paddock — common tasks. `make help` lists them.
CARGO ?= cargo

.PHONY: help build test test-rust zk-clients diff-zk lincheck jepsen fuzz run cluster cluster-down fmt lint check bench bench-ab bench-standalone bench-write-cost bench-zk bench-failover bench-sweep bench-storage bench-snap bench-report bench-render clean

help: ## list targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build every crate (debug)
	$(CARGO) build --workspace

test: ## run the whole test suite (what CI runs): the Python client against a live server, then every Rust test
	bash .ci/python-client
	$(CARGO) test --workspace

test-rust: ## only the Rust tests
	$(CARGO) test --workspace

zk-clients: ## real ZooKeeper clients (kazoo, zkCli.sh, Java client + Curator, cli_mt) against paddock's clientPort; installs them
	bash .ci/zk-clients

DIFF_SEEDS ?= 2000
diff-zk: ## the differential test against Apache ZooKeeper 3.8 with DIFF_SEEDS seeds (apt-get install zookeeper)
	PADDOCK_DIFF_SEEDS=$(DIFF_SEEDS) $(CARGO) test -p paddock-node --test zk_differential -- --nocapture

LIN_SEEDS ?= 20
LIN_SECS ?= 10
lincheck: ## the linearizability test (3 servers, leader SIGKILLed) for LIN_SEEDS seeds of LIN_SECS s each
	@for s in $$(seq 1 $(LIN_SEEDS)); do \
	  PADDOCK_LIN_SEED=$$s PADDOCK_LIN_SECS=$(LIN_SECS) $(CARGO) test -q -p paddock-node --test linearizable -- --nocapture \
	    || { echo "lincheck: seed $$s FAILED"; exit 1; }; \
	done; echo "lincheck: $(LIN_SEEDS) seeds linearizable"

JEPSEN_SEEDS ?= 20
JEPSEN_SECS ?= 12
jepsen: ## network partitions (isolated/muted/deaf leader, bridge, majorities ring, follower away, shifting, with crashes), slow disks (leader, follower, shifting with crashes), full disks (leader, follower), client links cut both and one way, under the lincheck workload, JEPSEN_SEEDS seeds of JEPSEN_SECS s
	@for s in $$(seq 1 $(JEPSEN_SEEDS)); do \
	  PADDOCK_LIN_SEED=$$s PADDOCK_LIN_SECS=$(JEPSEN_SECS) $(CARGO) test -q -p paddock-node --test partitions --test client_partitions -- --nocapture --test-threads 2 \
	    || { echo "jepsen: seed $$s FAILED (replay: PADDOCK_LIN_SEED=$$s PADDOCK_LIN_SECS=$(JEPSEN_SECS) cargo test -p paddock-node --test partitions --test client_partitions)"; exit 1; }; \
	done; echo "jepsen: $(JEPSEN_SEEDS) seeds: linearizable, no acknowledged write lost, one leader per epoch, trees equal"

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

FUZZ_CASES ?= 200000
FUZZ_SEED ?= 24301
FUZZ_CRATES ?= paddock-types paddock-wire paddock-gateway paddock-quorum paddock-election paddock-storage paddock-datatree paddock-zkimport paddock-node
fuzz: ## every decoder fuzz target with FUZZ_CASES cases per property from FUZZ_SEED (optimised with debug assertions and overflow checks; CI runs a few hundred to a few thousand)
	@for c in $(FUZZ_CRATES); do \
	  t=$$( [ $$c = paddock-zkimport ] && echo "--lib decode_fuzz" || echo "--test decode_fuzz" ); \
	  echo "fuzz: $$c"; \
	  PADDOCK_FUZZ_CASES=$(FUZZ_CASES) PADDOCK_FUZZ_SEED=$(FUZZ_SEED) $(CARGO) test -q --profile fuzz -p $$c $$t \
	    || { echo "fuzz: $$c FAILED (replay: PADDOCK_FUZZ_CASES=$(FUZZ_CASES) PADDOCK_FUZZ_SEED=$(FUZZ_SEED) cargo test --profile fuzz -p $$c $$t)"; exit 1; }; \
	done; echo "fuzz: $(FUZZ_CASES) cases per property from seed $(FUZZ_SEED): no panic, no allocation from a length field"

SOAK_SEEDS ?= 5000
SIM_SEEDS ?= 100000
SIM_JOBS ?= $(shell nproc)
.PHONY: soak
soak: ## seeded faults: the quorum peers alone (SOAK_SEEDS seeds), then the whole-server simulator (SIM_SEEDS seeds per size in SIM_JOBS processes; prints seeds/s), 3 and 5 servers, release
	PADDOCK_FAULT_SEEDS=$(SOAK_SEEDS) $(CARGO) test --release -p paddock-quorum --test faults -- --nocapture
	scripts/sim-soak.sh $(SIM_SEEDS) $(SIM_JOBS)

BENCH_SERVER ?= 127.0.0.1:7181
BENCH_ARGS ?= --sessions 32 --duration 10 --workload mixed --read-pct 90
bench: ## load a running server (start one with `make run`); BENCH_ARGS to change the workload
	$(CARGO) run --release -p paddock-bench -- --server $(BENCH_SERVER) $(BENCH_ARGS)

bench-failover: ## kill -9 the leader of a local 3-server ensemble, time to the next acknowledged write (TICK=2000)
	scripts/failover-bench.sh $(or $(TICK),2000) 3

bench-sweep: ## setData while the container sweeper deletes 100,000 emptied containers in a 1,000,000-znode tree (MPM=10000)
	scripts/sweep-bench.sh $(or $(MPM),10000)

bench-ab: ## compare builds on a fresh local ensemble in alternating rounds: make bench-ab AB="/tmp/a /tmp/b"
	scripts/bench-ab.sh $(AB)

bench-standalone: ## one Paddock server beside one ZooKeeper 3.8 server, alternating rounds: set/get/create with 32 sessions and with 1 (apt-get install zookeeper)
	$(CARGO) build --release -p paddock-node -p paddock-bench
	$(CARGO) build --release -p paddock-bench --features zookeeper --bin paddock-bench-zk
	scripts/bench-standalone.sh -u 4 target zookeeper

WRITE_COST ?= target
bench-write-cost: ## per replicated setData and per role (leader/follower): CPU µs, syscalls, context switches, allocations (perf; root): make bench-write-cost WRITE_COST="/tmp/a /tmp/b"
	scripts/write-cost.sh -a $(WRITE_COST)

bench-zk: ## the same rounds against a local ZooKeeper 3.8 ensemble too, and Paddock over ZooKeeper's protocol (apt-get install zookeeper)
	$(CARGO) build --release -p paddock-node -p paddock-cli -p paddock-bench
	$(CARGO) build --release -p paddock-bench --features zookeeper --bin paddock-bench-zk
	scripts/bench-ab.sh -u 8 target wire:target zookeeper

BENCH_VENV ?= .bench-venv
bench-report: ## scale curves beside ZooKeeper 3.8 into docs/benchmarks.md + PNGs (~1 h; BENCH_REPORT_QUICK=1: a smoke test; apt-get install zookeeper)
	$(CARGO) build --release -p paddock-node -p paddock-cli -p paddock-bench
	$(CARGO) build --release -p paddock-bench --features zookeeper --bin paddock-bench-zk
	@[ -d $(BENCH_VENV)/matplotlib ] || python3 -m pip install --quiet --target $(BENCH_VENV) matplotlib
	python3 scripts/bench-report.py measure $(if $(filter 1,$(BENCH_REPORT_QUICK)),--quick)
	PYTHONPATH=$(BENCH_VENV) python3 scripts/bench-report.py render

bench-snap: ## a new follower's SNAP catch-up, timed on repeated starts (SYSTEM=paddock|zookeeper ZNODES=1000000 STARTS=3)
	$(CARGO) build --release -p paddock-node -p paddock-cli -p paddock-bench
	$(CARGO) build --release -p paddock-bench --features zookeeper --bin paddock-bench-zk
	python3 scripts/bench-snap.py --system $(or $(SYSTEM),paddock) --znodes $(or $(ZNODES),1000000) --starts $(or $(STARTS),3)

bench-render: ## rewrite docs/benchmarks.md and its plots from docs/benchmarks/results.json (no measuring)
	@[ -d $(BENCH_VENV)/matplotlib ] || python3 -m pip install --quiet --target $(BENCH_VENV) matplotlib
	PYTHONPATH=$(BENCH_VENV) python3 scripts/bench-report.py render

bench-storage: ## txn-log append+fsync rates (release build; LOGBENCH_ARGS="--payload 10240 --batches 1,32 --no-purge")
	$(CARGO) run --release -p paddock-storage --example logbench -- $(LOGBENCH_ARGS)

clean: ## remove build output
	$(CARGO) clean

# Containers (no registry needed: the image is FROM scratch around static host-built binaries).
.PHONY: image up down up5 down5 logs chaos certs up-tls down-tls tls-check
image: ## build the paddock:local image (static release binaries + deploy/Dockerfile)
	scripts/docker-image.sh

up: ## start the 3-server ensemble in containers (docker-compose.yml; gRPC on 127.0.0.1:7181-7183)
	scripts/docker-cluster.sh up 3

down: ## stop the container ensemble (data volumes stay; `scripts/docker-cluster.sh wipe` deletes them)
	scripts/docker-cluster.sh down 3

up5: ## start the 5-server ensemble + an observer (deploy/docker-compose.5.yml; gRPC on 7181-7186)
	scripts/docker-cluster.sh up 5

down5: ## stop the 5-server container ensemble (data volumes stay)
	scripts/docker-cluster.sh down 5

certs: ## a CA and TLS certificates for the compose ensembles in deploy/certs (lab use: keys readable by the containers)
	cargo run -q -p paddock-certs -- --out deploy/certs --server paddock1 --server paddock2 \
		--server paddock3 --client client --client operator
	@# The containers run as uid 10001: lab keys must be readable by it.
	chmod 0644 deploy/certs/*

up-tls: ## the 3-server ensemble with TLS on every port (deploy/docker-compose.tls.yml; `make certs` first)
	scripts/docker-cluster.sh up 3tls

down-tls: ## stop the TLS container ensemble (data volumes stay)
	scripts/docker-cluster.sh down 3tls

tls-check: ## rebuild the image, start the TLS ensemble, check TLS clients/peers and the health check, stop it
	scripts/tls-compose-check.sh

logs: ## follow the logs of the 3-server container ensemble
	scripts/docker-cluster.sh logs 3

CHAOS_ARGS ?=
chaos: ## rebuild the image, run the container chaos scenarios, each history checked for linearizability (CHAOS_ARGS="--no-image partition ...")
	scripts/chaos.sh $(CHAOS_ARGS)
