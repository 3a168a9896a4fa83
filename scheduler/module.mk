# scheduler/module.mk — the scheduler service (issue 14): access tokens
# (scheduler/access.c), the Kubernetes scheduler-extender logic (scheduler/k8s.c)
# and, from the server's branch, the HTTP service and its journal.
MODULES += scheduler

# access.c: SHA-256, CRYPTO_memcmp and RAND_bytes (OpenSSL; libcrypto is already
# linked through collectors/module.mk) and base64url from libjose (in PKGS).

# The HTTP service (scheduler/httpd.c, serve.c, api.c, worker.c, world.c,
# journal.c): H2O from Debian's libh2o-dev, the build on libuv (pkg-config libh2o).
EXTRA_LIBS += $(shell pkg-config --libs libh2o 2>/dev/null || echo -lh2o)

# docs/openapi.yaml is linted in `make test` (tests/cli/openapi.sh) with Redocly
# CLI from npm, installed into build/npm once (not into the system). Without npm
# the suite skips visibly; an npm that cannot install it fails the suite.
REDOCLY_VERSION ?= 2.77.0
REDOCLY := build/npm/node_modules/.bin/redocly
EXTRA_TEST_BINS += $(REDOCLY)
$(REDOCLY):
	@if command -v npm >/dev/null 2>&1; then \
	    echo "  NPM     @redocly/cli@$(REDOCLY_VERSION) into build/npm"; \
	    mkdir -p build/npm && cd build/npm && \
	    npm install --no-audit --no-fund --loglevel=error @redocly/cli@$(REDOCLY_VERSION) >&2 || \
	    echo "trustplace: npm could not install @redocly/cli; the OpenAPI lint will fail" >&2; \
	else echo "trustplace: no npm: the OpenAPI lint is skipped" >&2; fi

# ---- `make bench-serve`: wrk against the service on a 10,000-node fleet ----------------
BENCH_TARGETS += bench-serve
.PHONY: bench-serve
bench-serve: $(BUILD)/trustplace
	sh scheduler/bench/bench-serve.sh $(BUILD)

# The dashboard page (issue 15): scheduler/dashboard.html becomes a C string in
# $(BUILD)/gen/dashboard_html.c (backslashes, quotes and '?' escaped; one
# literal per line), linked into the library.
DASHBOARD_C := $(BUILD)/gen/dashboard_html.c
EXTRA_OBJS += $(BUILD)/obj/$(DASHBOARD_C:.c=.o)
$(DASHBOARD_C): scheduler/dashboard.html scheduler/module.mk
	@mkdir -p $(@D)
	@{ echo '#include "scheduler/dashboard.h"'; echo 'const char tp_dashboard_html[] ='; \
	   sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; \
	   echo ';'; echo 'const size_t tp_dashboard_html_len = sizeof tp_dashboard_html - 1;'; } > $@

# The audit log signs with OpenSSL's EVP (Ed25519, ECDSA); libcrypto is linked
# already. `make test` checks /metrics with promtool (Debian's prometheus) and
# the dashboard in headless Chromium (Debian's chromium); both suites skip
# visibly when the tool is missing.
