# Build, example, test and fuzz targets. Everything runs offline once the
# test dependencies (Debian packages) are installed.
GO      ?= go
BIN     := bin/builder
STATE   := build/state
BUSYBOX := build/busybox
FUZZTIME ?= 30s

.PHONY: all build example example-site busybox-base test test-deps test-unit fuzz vet check-portable clean bench compare

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/builder

## example: build examples/hello (FROM scratch + a static binary) into out/hello.tar
example: build examples/hello/hello
	@mkdir -p out
	$(BIN) build --root $(STATE) -t hello:1.0 -o type=oci,dest=out/hello.tar examples/hello
	@echo "wrote out/hello.tar (OCI layout archive; try: skopeo inspect oci-archive:out/hello.tar)"

examples/hello/hello: examples/hello/main.go
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags=-s -o $@ ./examples/hello

## example-site: build examples/static-site on the local busybox base
example-site: build $(BUSYBOX)/index.json
	@mkdir -p out
	$(BIN) build --root $(STATE) --build-context busybox=oci-layout://$(CURDIR)/$(BUSYBOX):latest \
		-t site:latest -o type=oci,dest=out/site.tar examples/static-site

## busybox-base: make the busybox base image (OCI layout) from Debian's busybox-static
busybox-base: $(BUSYBOX)/index.json

$(BUSYBOX)/index.json: scripts/busybox-base.sh | build
	BUILDER_ROOT=$(CURDIR)/$(STATE) scripts/busybox-base.sh $(BUSYBOX) $(BIN)

## test-deps: install what the tests use (as root, from Debian's packages)
test-deps:
	@scripts/test-deps.sh

## test: everything, with the real tools (needs root for overlayfs and chown)
test: test-deps build busybox-base
	BUILDER_TEST_BUSYBOX=$(CURDIR)/$(BUSYBOX) BUILDER_TEST_BINARY=$(CURDIR)/$(BIN) \
		$(GO) test -count=1 -timeout 30m ./...

## bench: time scenario builds against buildah (as root) after the Go
## benchmarks; ROUNDS, BENCH_RUN (a regexp of scenario names) and BENCHTIME
## tune it; BASELINE=path/to/older/builder compares with that binary
## instead of buildah. Results: build/bench/results.md
ROUNDS    ?= 5
BENCH_RUN ?=
BASELINE  ?=
BENCHTIME ?= 1s
DEBIAN    := build/debian

bench: build busybox-base
	@scripts/bench-deps.sh
	scripts/debian-base.sh $(DEBIAN) $(BIN)
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./pkg/...
	$(GO) run ./scripts/bench -rounds $(ROUNDS) -run '$(BENCH_RUN)' -work build/bench \
		-builder $(BIN) -busybox $(BUSYBOX) -debian $(DEBIAN) $(if $(BASELINE),-baseline $(BASELINE))

## compare: build each CONTEXT (default: the examples and scripts/compare/cases/*)
## with this builder and with buildah (as root) and print how the images
## differ; DOCKERFILE names the Dockerfile of a single CONTEXT.
CONTEXT    ?= $(wildcard examples/*/) $(wildcard scripts/compare/cases/*/)
DOCKERFILE ?=

compare: build busybox-base examples/hello/hello
	@scripts/bench-deps.sh
	$(GO) run ./scripts/compare -work build/compare -builder $(BIN) -base busybox=$(BUSYBOX) \
		$(if $(DOCKERFILE),-f $(DOCKERFILE)) $(CONTEXT)

vet: check-portable
	gofmt -l $$($(GO) list -f '{{.Dir}}' ./...) | (! grep .)
	$(GO) vet ./...

## check-portable: the packages a tool on macOS can use to read and write
## images (parser, layer, oci) build there; Linux-only parts sit in
## _linux.go files with _other.go stand-ins
PORTABLE := ./pkg/parser/... ./pkg/layer/... ./pkg/oci/...
check-portable:
	GOOS=darwin $(GO) build $(PORTABLE)

## fuzz: run every fuzz target for FUZZTIME each (fails only on a wrong result)
fuzz:
	@GO=$(GO) scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin build out examples/hello/hello
