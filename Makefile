# The README's two commands: `make demo` and `make test`.
.PHONY: demo test deps build bench

deps:
	@bash scripts/install-deps.sh

build: deps
	swift build

demo: deps
	bash scripts/demo.sh

test: deps
	swift build --build-tests
	swift test
