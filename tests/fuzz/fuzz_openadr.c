/*
 * tests/fuzz/fuzz_openadr.c — libFuzzer harness for the OpenADR 3 event
 * reader (collectors/openadr.c tp_adr_orders): any bytes a VTN might answer
 * GET /events with, parsed as JSON and turned into orders.
 */
#include "collectors/openadr.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tp_adr_t *config(void)
{
    static tp_adr_t *a;
    char path[] = "/tmp/tp-fuzz-adr-XXXXXX";
    int fd;
    FILE *f;
    tp_error_t err;
    if (a || (fd = mkstemp(path)) < 0 || !(f = fdopen(fd, "w")))
        return a;
    fputs("{\"vtn\": \"https://vtn.example\", \"token_file\": \"t\", \"program_id\": "
          "\"44\", \"domains\": {\"group-1\": \"row-1\"}, \"default_domain\": \"site\"}",
          f);
    fclose(f);
    tp_adr_load(path, &a, &err);
    unlink(path);
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tp_adr_t *a = config();
    json_error_t je;
    tp_error_t err;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    json_t *orders = json_array();
    if (a && doc && orders)
        tp_adr_orders(a, "fuzz", doc, 1675988000, orders, &err);
    json_decref(orders);
    json_decref(doc);
    return 0;
}
