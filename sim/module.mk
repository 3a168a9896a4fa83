# sim/module.mk — `trustplace sim`, the what-if simulator (issue 5).
MODULES += sim
# This file is included before the top-level `all`; keep `all` the default goal.
.DEFAULT_GOAL := all

BENCH_TARGETS += bench-sim
.PHONY: bench-sim
# 1) the Azure conv trace replayed 10x faster on a 1,000-node fleet;
# 2) one simulated week, 1,000,000 requests, 10,000 nodes, trustplace policy.
bench-sim: $(BUILD)/trustplace
	sh sim/bench.sh $(BUILD)/trustplace
