# The README's two commands: `make demo` and `make test`.
.PHONY: demo test deps build bench bench-install fuzz lint

deps:
	@bash scripts/install-deps.sh

build: deps
	swift build

demo: deps
	bash scripts/demo.sh

# Style first (swift-format, configured in .swift-format, ships with the toolchain): seconds.
test: deps lint
	swift build --build-tests
	swift test

lint:
	swift format lint --strict --recursive --parallel Sources Tests Benchmarks/LicenseLoad Benchmarks/CipherSpeed Fuzz/Sources

bench: deps
	bash Benchmarks/bench.sh
	bash Benchmarks/install.sh

# Only the install rows: install against tar -xf && sync and rauc extract, and rollback.
bench-install: deps
	bash Benchmarks/install.sh

# Fuzzing (docs/fuzzing.md): every target for FUZZ_SECONDS (default 600) each, or only FUZZ_TARGETS.
fuzz: deps
	bash Fuzz/run.sh $(FUZZ_TARGETS)
