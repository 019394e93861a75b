# mdmsim: simulated Apple devices for testing MDM servers.
GO ?= go
PKGS ?= ./...
TEST_TIMEOUT ?= 10m
FUZZTIME ?= 20s

.PHONY: help run test test-loaded lint vet fmt bench bench-scenarios fuzz build conformance conformance-selftest

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

run: ## enroll the default fleet in the embedded reference stack and send it a command
	$(GO) run ./cmd/mdmsim run

test: vet ## run every test with the race detector
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

test-loaded: ## make test with a CPU hog of twice the core count running beside it
	@n=$$(( 2 * $$(nproc) )); pids=""; \
	for i in $$(seq $$n); do sh -c 'while :; do :; done' & pids="$$pids $$!"; done; \
	echo "test-loaded: $$n CPU hogs running"; \
	trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	$(MAKE) test

lint: vet ## gofmt and go vet
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

fmt: ## format the code
	gofmt -w .

build: ## build bin/mdmsim
	$(GO) build -o bin/mdmsim ./cmd/mdmsim

conformance: ## the conformance suite against TARGET (default embedded), with a JUnit report in conformance.xml
	$(GO) run ./cmd/mdmsim conformance --target $(or $(TARGET),embedded) --junit conformance.xml $(if $(LABELS),--label-filter '$(LABELS)')

conformance-selftest: ## the suite against the embedded reference and every mutant of it: each mutant must be caught
	$(GO) run ./cmd/mdmsim conformance --selftest

bench: ## run the benchmarks (long; prints their figures)
	$(GO) test -run '^$$' -bench . -skip Scenario -benchmem -timeout 60m $(PKGS)

bench-scenarios: ## the 14-day ddm-deadline and the legacy-update week on BENCH_DEVICES devices (default 10000)
	$(GO) test -run '^$$' -bench Scenario -benchtime 1x -timeout 60m ./cmd/mdmsim

fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do \
		dir=$$(dirname "$$f"); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' "$$f" | cut -d' ' -f2); do \
			echo "== $$dir $$t"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) "$$dir"; \
		done; \
	done

.PHONY: bench-fleet
bench-fleet: ## fleet-scale benchmarks (long): enrollment storms against the null and embedded targets, check-ins at a rate, a rollout
	$(GO) run ./cmd/mdmsim bench --workload enroll --target null --devices 100000
	$(GO) run ./cmd/mdmsim bench --workload enroll --target embedded --devices 10000
	$(GO) run ./cmd/mdmsim bench --workload checkin --target null --devices 10000 --rate 5000 --ramp 2s --duration 60s
	$(GO) run ./cmd/mdmsim bench --workload push --target null --devices 10000 --batch 1000
	$(GO) run ./cmd/mdmsim bench --workload commands --target null --devices 10000
	$(GO) run ./cmd/mdmsim bench --workload rollout --scenario ddm-deadline --target embedded --devices 10000

.PHONY: bench-million
bench-million: ## a million idle devices enrolled against the null target (about 3 minutes and 3 GiB), report in enroll-1m.html
	$(GO) run ./cmd/mdmsim bench --workload enroll --target null --devices 1000000 --html enroll-1m.html

.PHONY: bench-cpusplit
bench-cpusplit: ## CPU per idle check-in, simulator vs the stock NanoMDM in its own process, RSA-2048 and ECDSA identities (CPUSPLIT_FLAGS)
	$(GO) run ./cmd/cpusplit $(CPUSPLIT_FLAGS)

.PHONY: soak
soak: ## 30 virtual days of 10 000 devices in the embedded stack (check-ins, daily DDM status reports): heap and RSS each day, goal flat within 5% after day 1
	$(GO) run ./cmd/mdmsim bench soak --devices $(or $(SOAK_DEVICES),10000) --days $(or $(SOAK_DAYS),30)
