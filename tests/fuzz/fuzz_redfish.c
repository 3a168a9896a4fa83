/*
 * tests/fuzz/fuzz_redfish.c — libFuzzer harness for the Redfish reader: the
 * input is split at NUL bytes into response bodies, fed in turn to whatever
 * the walk asks for (the first to /redfish/v1), with an HTTP status taken from
 * the body's first byte. Then the facts of every system are read; the finished
 * walk, used as a map, is polled with the bodies that are left (the steady
 * state of the collector), and the poll's facts are read too.
 */
#include "collectors/collectors.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds the walk from the input (advances *p); 404 once the input is spent. */
static void drive(tp_rf_walk_t *w, const char **p, const char *end)
{
    const char *path;
    int id, guard = 0;
    while (!tp_rf_walk_done(w) && guard++ < 4 * TP_RF_MAX_REQUESTS) {
        if ((id = tp_rf_walk_next(w, &path)) < 0)
            break;
        if (*p < end) {
            const char *nul = memchr(*p, '\0', (size_t)(end - *p));
            size_t len = nul ? (size_t)(nul - *p) : (size_t)(end - *p);
            int status = len && (*p)[0] == '!' ? 500 : 200;
            tp_rf_walk_feed(w, id, status, *p, len);
            *p += len + (nul ? 1 : 0);
        } else {
            tp_rf_walk_feed(w, id, 404, "", 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tp_rf_walk_t *w = tp_rf_walk_new(), *poll;
    const char *p = (const char *)data, *end = p + size;
    tp_rf_facts_t f;
    tp_error_t err;
    if (!w)
        return 0;
    drive(w, &p, end);
    tp_rf_walk_facts(w, NULL, &f, &err);
    tp_rf_walk_facts(w, "S1", &f, &err);
    if ((poll = tp_rf_poll_new(w))) {
        drive(poll, &p, end);
        (void)tp_rf_poll_ok(poll);
        tp_rf_walk_facts(poll, NULL, &f, &err);
        tp_rf_walk_free(poll);
    }
    tp_rf_walk_free(w);
    return 0;
}
