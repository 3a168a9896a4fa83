# trustplace — one Makefile for the whole tree.
#
#   make            build build/trustplace (installs missing Debian packages when root)
#   make run        build, then run the main job on the embedded demo
#   make test       build and run every test, plain and under ASan+UBSan
#   make bench      benchmarks (not run by CI)
#   make format     apply .clang-format;  make format-check  verify it
#
# Modules are top-level folders; every .c in them goes into libtrustplace.a except
# cli/main.c. A module that needs extra flags or rules adds a <module>/module.mk.

BUILD    ?= build
SAN      ?= 0
CC       ?= cc
MODULES  := util model policy gen cli
# The real data (DMTF mockups, tokens, traces) tests and benchmarks read in place.
TP_SHARED ?= ../shared
export TP_SHARED
# Modules added later list themselves here through their module.mk (MODULES += ...).
MODULE_MKS ?= $(wildcard */module.mk)
-include $(MODULE_MKS)

# pkg-config names; GLPK ships no .pc file, so it is linked by name.
PKGS     := jansson libuv libcurl sqlite3 jose
# Recursively expanded on purpose: evaluated when a recipe runs, after tools/deps.sh.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lglpk -lm -lpthread

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-missing-field-initializers
CSTD     := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
OPT      ?= -O2 -g
ifeq ($(SAN),1)
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDSAN    := -fsanitize=address,undefined
endif
CFLAGS_ALL = $(CSTD) $(OPT) $(WARN) -I. $(PKG_CFLAGS) $(EXTRA_CFLAGS) -MMD -MP
LDFLAGS_ALL = $(LDSAN) $(EXTRA_LDFLAGS)

# `make V=1` shows the full commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRCS := $(filter-out cli/main.c,$(wildcard $(addsuffix /*.c,$(MODULES))))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(EXTRA_OBJS)
TEST_SRCS := $(wildcard tests/unit/*.c)
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/obj/%.o)
DEPS_OK  := $(BUILD)/.deps-ok

.PHONY: all run test tests check-deps bench soak format format-check clean mutants
all: $(BUILD)/trustplace

$(DEPS_OK): tools/deps.sh
	@sh tools/deps.sh
	@mkdir -p $(@D) && touch $@

check-deps: $(DEPS_OK)

$(BUILD)/obj/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libtrustplace.a: $(LIB_OBJS)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/trustplace: $(BUILD)/obj/cli/main.o $(BUILD)/libtrustplace.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(EXTRA_LIBS)

$(BUILD)/unit-tests: $(TEST_OBJS) $(BUILD)/libtrustplace.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(EXTRA_LIBS)

tests: $(BUILD)/trustplace $(BUILD)/unit-tests $(EXTRA_TEST_BINS)

# The main job: the placement service against the test bed's emulated fleet
# (config/demo-fleet.json) on loopback; Ctrl-C stops both (tools/serve-demo.sh).
run: all $(BUILD)/tp-testbed
	@sh tools/serve-demo.sh $(BUILD)

# The plain build, then the sanitizer build, then every suite against both.
# Each build compiles with one job per core (TEST_JOBS) unless make was given -j.
TEST_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
TEST_J = $(if $(findstring -j,$(MAKEFLAGS)),,-j$(TEST_JOBS))
test:
	@$(MAKE) --no-print-directory $(TEST_J) tests
	@$(MAKE) --no-print-directory $(TEST_J) BUILD=$(BUILD)/asan SAN=1 tests
	@sh tests/run.sh $(BUILD) $(BUILD)/asan

bench: all $(BENCH_TARGETS)

# Deliberate bugs, one at a time in a scratch copy, that the suite must catch
# (tests/mutants/); long (run it with nice), not part of `make test`.
mutants:
	sh tests/mutants/run.sh

# The property tests with 50× the random instances (fresh seeds); not run by CI.
SOAK ?= 50
soak: $(BUILD)/unit-tests
	TP_SOAK=$(SOAK) $(BUILD)/unit-tests

FORMAT_SRCS = $(shell git ls-files '*.c' '*.h' '*.cu' 2>/dev/null)
format:
	clang-format -i $(FORMAT_SRCS)
format-check:
	clang-format --dry-run --Werror $(FORMAT_SRCS)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
