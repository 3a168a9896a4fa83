/*
 * tests/fuzz/fuzz_prom.c — libFuzzer harness for the dcgm-exporter
 * (Prometheus text) parser.
 */
#include "collectors/collectors.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tp_dcgm_t d;
    tp_error_t err;
    if (tp_dcgm_parse((const char *)data, size, &d, &err) == 0)
        tp_dcgm_fini(&d);
    return 0;
}
