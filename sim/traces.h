/*
 * sim/traces.h — readers for the public traces the simulator replays:
 *   - Azure LLM inference traces (TIMESTAMP,ContextTokens,GeneratedTokens);
 *   - the Alibaba GPU pod list of cluster-trace-gpu-v2023 ("openb"), through
 *     traces/alibaba.h (the one pod-list parser of the tree).
 * Both validate every row and report the first bad one as "FILE:LINE: column:
 * what was expected, got …". Loading is all-or-nothing.
 */
#ifndef TP_SIM_TRACES_H
#define TP_SIM_TRACES_H

#include "traces/alibaba.h"
#include "util/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t t_us; /* since the first row's timestamp */
    int32_t context_tokens, generated_tokens;
} tp_azure_req_t;

typedef struct {
    tp_azure_req_t *req;
    size_t n;
    int64_t epoch_us; /* the first row's timestamp, µs since 1970 (UTC assumed) */
} tp_azure_trace_t;

/* Timestamps "YYYY-MM-DD HH:MM:SS[.f{1,9}][+00:00|Z]", non-decreasing. */
int tp_sim_azure_load(const char *path, tp_azure_trace_t *out, tp_error_t *err);
int tp_sim_azure_parse(const char *name, const char *text, size_t len,
                       tp_azure_trace_t *out, tp_error_t *err);
void tp_sim_azure_fini(tp_azure_trace_t *t);

#endif
