# The README's two commands: `make demo` and `make test`.
# Packaging (docs/packaging.md): `make release`, `make install`, `make deb`, `make test-portable`.
.PHONY: demo test deps build bench bench-install fuzz lint release man completions install uninstall deb \
	test-portable

deps:
	@bash scripts/install-deps.sh

build: deps
	swift build

demo: deps
	bash scripts/demo.sh

# Style first (swift-format, configured in .swift-format, ships with the toolchain): seconds.
test: deps lint
	bash scripts/test-services.sh start
	swift build --build-tests
	swift test

# For auditors: docs/conformance.md, the matrix from the IQ draft's clauses and the release rules to
# the features and the tests that prove them, generated from the tests' .clause(...) traits and
# Conformance/clauses.tsv. `make test` fails when it is stale or a clause the code cites has no test.
.PHONY: conformance
conformance:
	python3 scripts/conformance.py

lint:
	swift format lint --strict --recursive --parallel Sources Tests Benchmarks/LicenseLoad Benchmarks/CipherSpeed Benchmarks/ChunkerSpeed Fuzz/Sources

bench: deps
	bash Benchmarks/bench.sh
	bash Benchmarks/install.sh

# Only the install rows: install against tar -xf && sync and rauc extract, and rollback.
bench-install: deps
	bash Benchmarks/install.sh

# Fuzzing (docs/fuzzing.md): every target for FUZZ_SECONDS (default 600) each, or only FUZZ_TARGETS.
fuzz: deps
	bash Fuzz/run.sh $(FUZZ_TARGETS)

# --- Packaging (docs/packaging.md) ------------------------------------------------------------
# `make install PREFIX=/usr/local DESTDIR=` (the defaults) installs what `make release` built.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
DATADIR = $(PREFIX)/share
RELEASE_SCRATCH ?= .build-release
DIST ?= dist
export RELEASE_SCRATCH DIST

# A binary that runs without the Swift toolchain (static Swift runtime, stripped): dist/bin/ivpack.
# Always builds (incrementally): the commit and build time are stamped in.
release: deps
	bash scripts/build-release.sh

$(DIST)/bin/ivpack:
	bash scripts/build-release.sh

# Man pages from the binary's own help, by swift-argument-parser's generate-manual tool (the tool
# behind its `generate-manual` plugin, built from the same checkout; the plugin itself would
# first build every product of the package in release mode, benchmarks included).
man: $(DIST)/man/ivpack.1
$(DIST)/man/ivpack.1: $(DIST)/bin/ivpack
	swift build -c release --static-swift-stdlib --scratch-path $(RELEASE_SCRATCH) --product generate-manual
	rm -rf $(DIST)/man && mkdir -p $(DIST)/man
	$(RELEASE_SCRATCH)/release/generate-manual $(DIST)/bin/ivpack --multi-page \
		--date "$$(git log -1 --format=%cs 2>/dev/null || date -u +%F)" --output-directory $(DIST)/man
	touch $@

completions: $(DIST)/completions/ivpack.bash
$(DIST)/completions/ivpack.bash: $(DIST)/bin/ivpack
	mkdir -p $(DIST)/completions
	$(DIST)/bin/ivpack --generate-completion-script zsh >$(DIST)/completions/_ivpack
	$(DIST)/bin/ivpack --generate-completion-script fish >$(DIST)/completions/ivpack.fish
	$(DIST)/bin/ivpack --generate-completion-script bash >$@

install: $(DIST)/bin/ivpack man completions
	install -D -m 0755 $(DIST)/bin/ivpack $(DESTDIR)$(BINDIR)/ivpack
	install -d -m 0755 $(DESTDIR)$(MANDIR)/man1
	install -m 0644 $(DIST)/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -D -m 0644 $(DIST)/completions/ivpack.bash $(DESTDIR)$(DATADIR)/bash-completion/completions/ivpack
	install -D -m 0644 $(DIST)/completions/_ivpack $(DESTDIR)$(DATADIR)/zsh/vendor-completions/_ivpack
	install -D -m 0644 $(DIST)/completions/ivpack.fish $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/ivpack.fish
	install -d -m 0755 $(DESTDIR)$(DATADIR)/ivpack/schemas
	install -m 0644 Schemas/* $(DESTDIR)$(DATADIR)/ivpack/schemas/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ivpack $(DESTDIR)$(MANDIR)/man1/ivpack.1 $(DESTDIR)$(MANDIR)/man1/ivpack.*.1
	rm -f $(DESTDIR)$(DATADIR)/bash-completion/completions/ivpack $(DESTDIR)$(DATADIR)/zsh/vendor-completions/_ivpack
	rm -f $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/ivpack.fish
	rm -rf $(DESTDIR)$(DATADIR)/ivpack/schemas

# dist/ivpack_VERSION_ARCH.deb: binary, man pages, completions, schemas, the licence server's
# systemd unit; Depends computed by dpkg-shlibdeps from the binary.
deb: $(DIST)/bin/ivpack man completions
	bash scripts/build-deb.sh

# The installed binary and the .deb with the Swift toolchain hidden (needs root: a mount namespace).
test-portable: deb
	bash scripts/test-portable.sh
