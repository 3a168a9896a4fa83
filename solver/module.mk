# solver/module.mk — the placement solver (issue 3) and the trace readers it is
# benchmarked on. The benchmark program is not part of libtrustplace.
MODULES += solver

BENCH_TARGETS += bench-solver
.PHONY: bench-solver
$(BUILD)/bench-solver: $(BUILD)/obj/solver/bench/bench_solver.o $(BUILD)/libtrustplace.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(EXTRA_LIBS)

# Sizes, traces and repeat counts: see docs/solver.md.
BENCH_SOLVER_ARGS ?=
bench-solver: $(BUILD)/bench-solver
	$(BUILD)/bench-solver --shared $(TP_SHARED) $(BENCH_SOLVER_ARGS)

# Exact when small (issue 11): is the optimum proven on 60 x 150 within 1 s?
BENCH_TARGETS += bench-solver-exact
.PHONY: bench-solver-exact
$(BUILD)/bench-solver-exact: $(BUILD)/obj/solver/bench/bench_exact.o $(BUILD)/libtrustplace.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(EXTRA_LIBS)

BENCH_EXACT_ARGS ?=
bench-solver-exact: $(BUILD)/bench-solver-exact
	$(BUILD)/bench-solver-exact $(BENCH_EXACT_ARGS)
