# mdmsim: simulated Apple devices for testing MDM servers.
GO ?= go
PKGS ?= ./...
TEST_TIMEOUT ?= 10m
FUZZTIME ?= 20s

.PHONY: help run test lint vet fmt bench fuzz build

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

run: ## enroll the default fleet in the embedded reference stack and send it a command
	$(GO) run ./cmd/mdmsim run

test: vet ## run every test with the race detector
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

lint: vet ## gofmt and go vet
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

fmt: ## format the code
	gofmt -w .

build: ## build bin/mdmsim
	$(GO) build -o bin/mdmsim ./cmd/mdmsim

bench: ## run the benchmarks (long; prints their figures)
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m $(PKGS)

fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do \
		dir=$$(dirname "$$f"); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' "$$f" | cut -d' ' -f2); do \
			echo "== $$dir $$t"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) "$$dir"; \
		done; \
	done
