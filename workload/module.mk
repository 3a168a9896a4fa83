# workload/module.mk — the reference inference workload (issue 6).
#
# The CUDA backend (workload/cuda.cu) is built whenever nvcc is found, on PATH or
# in /usr/local/cuda; otherwise workload/cuda_none.c stands in. The sanitizer
# build always uses the stand-in: ASan and the CUDA runtime do not mix.
# cuBLAS is loaded with dlopen when the CUDA backend starts, and the CUDA
# runtime is linked statically, so the binary starts (and its other commands
# run) on machines without any CUDA library.
MODULES += workload
# This file is included before the top-level `all`; keep `all` the default goal.
.DEFAULT_GOAL := all

NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
# Ampere and Hopper binaries, plus PTX for anything newer.
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
             -gencode arch=compute_90,code=compute_90
NVCCFLAGS ?= -O2 -std=c++17 $(CUDA_ARCH) --Werror all-warnings \
             -Xcompiler -Wall,-Wextra,-Werror -I.

EXTRA_LIBS += -ldl

ifneq ($(strip $(NVCC)),)
ifneq ($(SAN),1)
TP_WORKLOAD_CUDA := 1
EXTRA_CFLAGS += -DTP_HAVE_CUDA
EXTRA_OBJS += $(BUILD)/obj/workload/cuda.o
EXTRA_LIBS += -L$(CUDA_HOME)/lib64 -lcudart_static -lrt -lstdc++

$(BUILD)/obj/workload/cuda.o: workload/cuda.cu workload/workload.h workload/workload_internal.h
	@mkdir -p $(@D)
	@$(if $(Q),echo "  NVCC    $<")
	$(Q)$(NVCC) $(NVCCFLAGS) -DTP_HAVE_CUDA -I$(CUDA_HOME)/include -c $< -o $@
endif
endif

# The stub NVML the meter tests load instead of libnvidia-ml.so.1.
TP_NVML_STUB := $(BUILD)/libnvidia-ml-stub.so
EXTRA_TEST_BINS += $(TP_NVML_STUB)
$(TP_NVML_STUB): workload/stub/nvml_stub.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -Werror -fPIC -shared \
	    -o $@ $<
$(BUILD)/unit-tests: | $(TP_NVML_STUB)

BENCH_TARGETS += bench-workload
.PHONY: bench-workload
# The CPU benchmark on the test shape and the 1B shape (a 2.5 GB synthetic
# checkpoint, generated once into $(TP_SHAPES)).
TP_SHAPES ?= $(BUILD)/shapes
bench-workload: $(BUILD)/trustplace
	$(BUILD)/trustplace bench --shape tiny --backend cpu --batch 1,4,16 --prompt 16 \
	    --gen 32 --cache $(TP_SHAPES)
	$(BUILD)/trustplace bench --shape llama-1b --backend cpu --batch 1,4,16 \
	    --prompt 16 --gen 16 --cache $(TP_SHAPES)
