GO ?= /usr/local/go/bin/go
export PATH := /usr/local/go/bin:$(PATH)
# strata is a static binary: chroot mode's launcher drops capabilities in
# every thread (syscall.AllThreadsSyscall), which cgo rules out (see
# docs/security.md). Tests that run RUN steps need the same.
export CGO_ENABLED := 0

.PHONY: all build test test-examples test-unprivileged bench demo setup fuzz conformance

all: build

# The version and commit `strata version` reports, linked in.
VERSION ?= $(shell git describe --tags --match 'v*' 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
CLIPKG := github.com/strata-build/strata/internal/cli
build:
	$(GO) build -ldflags "-X $(CLIPKG).linkVersion=$(VERSION) -X $(CLIPKG).linkCommit=$(COMMIT)" -o bin/strata ./cmd/strata

setup:
	./scripts/setup.sh

test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

# Benchmarks (never timed tests): parse+plan, layer write, store import, RUN steps.
# The examples end to end: builds the Go example both ways and the advanced
# example's two targets on locally made bases, runs them, checks endpoints;
# the Go example for two platforms; every example with --sbom, checking
# what its SBOM lists.
# Then strata's own image: built by strata, run under Docker with default
# security (deploy/image_test.go, scripts/image-check.sh). One package at a
# time: both run scripts/bases.sh.
test-examples:
	STRATA_EXAMPLES=1 $(GO) test -p 1 -count=1 -timeout 30m ./internal/examples/ ./deploy/

# strata's own image (the Dockerfile at the root), built by strata from the
# local bases and this machine's module cache, offline; prints its size.
# Env: TAG (strata:dev), STRATA_ROOT.
.PHONY: image
image: build
	./scripts/image.sh

# strata as root in a container with Docker's default security (no
# namespaces: chroot mode), end to end, and the same image digest as on the
# host; as uid 1000 there, what needs no root works and a build is refused.
# Needs dockerd (make conformance starts it); fails rather than skips.
test-unprivileged:
	STRATA_REQUIRE_DOCKER=1 $(GO) test -count=1 -run '^Test(ChrootInDocker|OneDigestInDocker|LoadIntoDocker|BuildLoad|BuildIntoDockerLoad)$$' ./internal/cli/

# Go benchmarks (the 100,000-file context included: its cold build first,
# about 20 s), then issue 16's big-image figures against docker 20.10's
# BuildKit and BuildKit v0.34.2 (scripts/bench-big.sh) and the cache
# export/import figures (scripts/bench-cache.sh); results under
# /var/tmp/strata-bench/<timestamp>/.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -timeout 45m ./internal/...
	./scripts/bench-big.sh
	$(MAKE) bench-cache

# The CLI reference (docs/cli: markdown and man pages) from the commands;
# TestCLIDocs fails when it is not current.
.PHONY: docs
docs:
	$(GO) test -count=1 -run '^TestCLIDocs$$' ./internal/cli/ -update

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./internal/dockerfile/
	$(GO) test -run '^$$' -fuzz FuzzExtract -fuzztime 60s ./internal/layer/

demo: build
	./scripts/demo.sh

# Conformance: every case of test/conformance built by strata and by the
# reference, BuildKit v0.34.2 through buildctl (scripts/buildkit.sh builds it
# once per machine, about 6 minutes), must give the same files and config
# (scripts/conformance.sh). REFERENCE=docker compares with Docker 20.10.
.PHONY: conformance
conformance:
	./scripts/conformance.sh

# strata against docker 20.10 BuildKit and buildah on the same Dockerfiles and
# local bases (needs /work/shared/peers/setup.sh); env PEERS, FILES, RUNS.
.PHONY: bench-peers
bench-peers: build
	./scripts/bench.sh
.PHONY: bench-big bench-cache
bench-big: build ; ./scripts/bench-big.sh # 900 MB layer gzip/zstd, 100k-file context no-op/edit, Java peak RSS; strata vs docker BuildKit and BuildKit v0.34.2; env CASES, BUILDERS, RUNS, LAYER_MB, FILES, MB, KEEP
bench-cache: build ; @if [ -x scripts/bench-cache.sh ]; then ./scripts/bench-cache.sh; else echo "bench-cache: scripts/bench-cache.sh is not there yet: skipped"; fi
bench-rootless: build ; ./scripts/bench-rootless.sh # RUN cost and no-op rebuild: root vs ordinary user vs default container; env RUNS
bench-size: build ; ./scripts/bench-size.sh # strata size vs dive, 1 GB / 100k files; env RUNS, BENCH_DIR
bench-lint: build ; GO=$(GO) ./scripts/bench-lint.sh # lint 2,000 lines and 500 files; env COUNT, MAX_LOAD
.PHONY: bench-platforms
bench-platforms: build ; ./scripts/bench-platforms.sh # examples/go for 1 vs 2 platforms (cold, edit, warm), emulated vs native RUN, strata vs BuildKit v0.34.2; env RUNS, BUILDERS, CASES
.PHONY: bench-sbom
bench-sbom: build ; ./scripts/bench-sbom.sh # SBOM of examples/go traditional and multi-stage, cold and warm, against a cold build; syft for reference; env RUNS, SBOM_RUNS, SYFT, BENCH_DIR
