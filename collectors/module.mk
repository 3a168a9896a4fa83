# collectors/module.mk — the collectors (issue 4): Redfish, attestation results,
# GPU telemetry; the test bed they run against (tests/testbed/), the collector
# benchmark and the fuzz harnesses.
MODULES += collectors
.DEFAULT_GOAL := all

# SHA-256 and X.509 chains for attestation results (OpenSSL, under libjose); the
# test bed's HTTPS mode (libssl) for the TLS tests.
EXTRA_LIBS += $(shell pkg-config --libs libssl libcrypto 2>/dev/null || echo -lssl -lcrypto)

# ---- the test bed (tests/testbed/) ----------------------------------------------------
# The farm and token code link into build/unit-tests (in-process fault tests) and
# into build/tp-testbed (the program the CLI tests, the benchmark and demos run).
TB_OBJS := $(BUILD)/obj/tests/testbed/farm.o $(BUILD)/obj/tests/testbed/tokens.o
EXTRA_TEST_BINS += $(BUILD)/tp-testbed
$(BUILD)/tp-testbed: $(BUILD)/obj/tests/testbed/main.o $(TB_OBJS) $(BUILD)/libtrustplace.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(EXTRA_LIBS)
$(BUILD)/unit-tests: $(TB_OBJS)

# ---- fuzzing: `make fuzz` (libFuzzer, clang from Debian) -------------------------------
# Builds the harnesses of tests/fuzz/ with the collectors' readers under
# ASan+UBSan and runs each for FUZZ_SECONDS (default 60) on a corpus seeded
# from ../shared/fixtures (when present). Findings land in $(FUZZ_DIR)/<name>.findings/,
# the output in $(FUZZ_DIR)/<name>.log; a harness that crashes fails `make fuzz`.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR     ?= build/fuzz
FUZZ_CFLAGS   = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -I. \
                -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS)
FUZZ_LIBSRC  := collectors/redfish.c collectors/attest.c collectors/prom.c collectors/country.c \
                model/enums.c util/error.c
FUZZ_TARGETS += $(FUZZ_DIR)/fuzz_redfish $(FUZZ_DIR)/fuzz_token $(FUZZ_DIR)/fuzz_prom
TP_SHARED ?= ../shared

$(FUZZ_DIR)/%: tests/fuzz/%.c $(FUZZ_LIBSRC) collectors/collectors.h | $(DEPS_OK)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LIBSRC) $(PKG_LIBS) $(EXTRA_LIBS)

# tests/fuzz/fuzz_openadr.c: the OpenADR 3 event reader of `serve --openadr`.
FUZZ_ADR_SRC := collectors/openadr.c collectors/post.c collectors/http.c collectors/kubeapi.c \
                util/json_in.c util/error.c util/file.c util/rng.c
FUZZ_TARGETS += $(FUZZ_DIR)/fuzz_openadr
$(FUZZ_DIR)/fuzz_openadr: tests/fuzz/fuzz_openadr.c $(FUZZ_ADR_SRC) collectors/openadr.h | $(DEPS_OK)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_ADR_SRC) $(PKG_LIBS) $(EXTRA_LIBS)

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_TARGETS)
fuzz: fuzz-build
	@for t in fuzz_redfish fuzz_token fuzz_prom fuzz_openadr; do \
	    mkdir -p $(FUZZ_DIR)/$$t.corpus $(FUZZ_DIR)/$$t.findings; \
	done
	@cp tests/fuzz/openadr_seed.json $(FUZZ_DIR)/fuzz_openadr.corpus/
	@if [ -d "$(TP_SHARED)/fixtures" ]; then \
	    i=0; for f in $$(find $(TP_SHARED)/fixtures/redfish -name index.json); do \
	        i=$$((i+1)); cp $$f $(FUZZ_DIR)/fuzz_redfish.corpus/seed$$i.json; done; \
	    cp $(TP_SHARED)/fixtures/attestation/veraison-ear/tokens/*.jwt $(FUZZ_DIR)/fuzz_token.corpus/; \
	    tests/fuzz/token_seeds.sh $(TP_SHARED) $(FUZZ_DIR)/fuzz_token.corpus; \
	    cp $(TP_SHARED)/fixtures/dcgm-exporter/*.txt $(FUZZ_DIR)/fuzz_prom.corpus/; \
	fi
	@for t in fuzz_redfish fuzz_token fuzz_prom fuzz_openadr; do \
	    echo "== $$t ($(FUZZ_SECONDS) s)"; \
	    $(FUZZ_DIR)/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	        -artifact_prefix=$(FUZZ_DIR)/$$t.findings/ $(FUZZ_DIR)/$$t.corpus \
	        >$(FUZZ_DIR)/$$t.log 2>&1; rc=$$?; \
	    grep -E '^#[0-9]+.*(DONE|pulse)|ERROR|SUMMARY' $(FUZZ_DIR)/$$t.log | tail -3; \
	    if [ $$rc -ne 0 ]; then \
	        echo "$$t failed (exit $$rc): $(FUZZ_DIR)/$$t.log, findings in $(FUZZ_DIR)/$$t.findings/"; \
	        exit 1; \
	    fi; \
	done

# ---- the collector benchmark: `make bench-collect` ----------------------------------------
BENCH_TARGETS += bench-collect
.PHONY: bench-collect
bench-collect: $(BUILD)/trustplace $(BUILD)/tp-testbed
	sh tests/testbed/bench-collect.sh $(BUILD)
