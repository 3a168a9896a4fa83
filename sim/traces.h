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

/* A request trace of any layout: CSV with a header (extra columns ignored) or
 * JSON Lines (one object per line, extra keys ignored), three mapped columns,
 * times in s, ms, us (numbers ≥ 0) or "datetime" (the Azure form below), sorted.
 * Errors name the file, the line and the column mapping that failed. */
typedef enum { TP_TRACE_CSV, TP_TRACE_JSONL } tp_trace_format_t;
typedef enum { TP_TU_S, TP_TU_MS, TP_TU_US, TP_TU_DATETIME } tp_time_unit_t;
typedef struct {
    tp_trace_format_t format;
    const char *time, *context, *generated; /* column names / keys; borrowed */
    tp_time_unit_t unit;
} tp_req_trace_spec_t;

/* The Azure LLM inference trace: CSV TIMESTAMP,ContextTokens,GeneratedTokens. */
extern const tp_req_trace_spec_t tp_azure_preset;

int tp_sim_request_trace_load(const char *path, const tp_req_trace_spec_t *spec,
                              tp_azure_trace_t *out, tp_error_t *err);
int tp_sim_request_trace_parse(const char *name, const char *text, size_t len,
                               const tp_req_trace_spec_t *spec, tp_azure_trace_t *out,
                               tp_error_t *err);

/* A job trace the same way: submit time, GPUs (1..64) and duration required;
 * sensitivity, tenant and model optional (NULL: not mapped; a row without the
 * key or column then has ""). Durations in duration_unit (s, ms, us). */
typedef struct {
    tp_trace_format_t format;
    const char *submit, *gpus, *duration;     /* required */
    const char *sensitivity, *tenant, *model; /* optional (NULL) */
    tp_time_unit_t unit, duration_unit;
} tp_job_trace_spec_t;

typedef struct {
    int64_t t_us, dur_us; /* submit time since the first row's; duration */
    int gpus, line;       /* line: in the file, for messages */
    char sensitivity[64], tenant[64], model[64]; /* "" when absent */
} tp_trace_job_t;

typedef struct {
    tp_trace_job_t *job;
    size_t n;
    int64_t epoch_us;
} tp_job_trace_t;

int tp_sim_job_trace_load(const char *path, const tp_job_trace_spec_t *spec,
                          tp_job_trace_t *out, tp_error_t *err);
int tp_sim_job_trace_parse(const char *name, const char *text, size_t len,
                           const tp_job_trace_spec_t *spec, tp_job_trace_t *out,
                           tp_error_t *err);
void tp_sim_job_trace_fini(tp_job_trace_t *t);

/* The Azure preset. Timestamps "YYYY-MM-DD HH:MM:SS[.f{1,9}][+00:00|Z]". */
int tp_sim_azure_load(const char *path, tp_azure_trace_t *out, tp_error_t *err);
int tp_sim_azure_parse(const char *name, const char *text, size_t len,
                       tp_azure_trace_t *out, tp_error_t *err);
void tp_sim_azure_fini(tp_azure_trace_t *t);

#endif
