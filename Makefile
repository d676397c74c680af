# The README's two commands: `make demo` and `make test`.
.PHONY: demo test deps build bench fuzz

deps:
	@bash scripts/install-deps.sh

build: deps
	swift build

demo: deps
	bash scripts/demo.sh

test: deps
	swift build --build-tests
	swift test

bench: deps
	bash Benchmarks/bench.sh
	bash Benchmarks/install.sh

# Fuzzing (docs/fuzzing.md): every target for FUZZ_SECONDS (default 600) each, or only FUZZ_TARGETS.
fuzz: deps
	bash Fuzz/run.sh $(FUZZ_TARGETS)
