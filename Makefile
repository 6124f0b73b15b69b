# Zentinel: `make run` builds and serves the quickstart, `make test` runs
# every test. Both install what the build needs from the system first.

CARGO ?= cargo
SYSTEM_PACKAGES := cmake pkg-config

.PHONY: run test deps fmt lint bench fuzz check-examples

# Installs system packages the build needs, only when missing.
deps:
	@missing=""; \
	for pkg in $(SYSTEM_PACKAGES); do \
		dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

run: deps
	$(CARGO) build --release -p zenc -p zentinel-runtime
	./target/release/zenc test examples/quickstart.zen
	./target/release/zenc build examples/quickstart.zen
	@echo "serving on http://127.0.0.1:8080 (admin on 127.0.0.1:9901); Ctrl-C to stop"
	./target/release/zentinel run examples/quickstart.zbin

test: deps
	vendor/sync.sh --check
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace
	$(CARGO) test -p pingora-http
	$(MAKE) check-examples

check-examples:
	$(CARGO) run -q -p zenc -- check --deny-warnings examples/*.zen examples/multi-file/main.zen
	for f in examples/*.zen examples/multi-file/main.zen; do $(CARGO) run -q -p zenc -- test --min-coverage 100 $$f || exit 1; done
	$(CARGO) run -q -p zenc -- fmt --check stdlib/*.zen examples/*.zen examples/multi-file/*.zen

fmt:
	$(CARGO) fmt --all
	$(CARGO) run -q -p zenc -- fmt stdlib/*.zen examples/*.zen examples/multi-file/*.zen

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench:
	$(CARGO) bench -p zenc --bench front_end
	$(CARGO) bench -p zenc --bench matching

FUZZ_TARGETS := check fmt_round_trip artifact matcher normalize template agent_frame

# Runs every fuzz target for FUZZ_SECONDS (default 60) each, on the stable
# toolchain (RUSTC_BOOTSTRAP lets cargo-fuzz use its nightly flags).
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$target -- -max_total_time=$${FUZZ_SECONDS:-60} || exit 1; \
	done
