/*
 * sim/traces.h — readers for the public traces the simulator replays:
 *   - Azure LLM inference traces (TIMESTAMP,ContextTokens,GeneratedTokens);
 *   - the Alibaba GPU pod list of cluster-trace-gpu-v2023 ("openb").
 * Both validate every row and report the first bad one as "FILE:LINE: column:
 * what was expected, got …". Loading is all-or-nothing.
 */
#ifndef TP_SIM_TRACES_H
#define TP_SIM_TRACES_H

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

typedef enum { TP_QOS_LS, TP_QOS_BURSTABLE, TP_QOS_BE, TP_QOS_GUARANTEED } tp_qos_t;

typedef struct {
    char name[32];
    int num_gpu;       /* 0..64 */
    int gpu_milli;     /* 0..1000: share of one GPU for GPU-sharing pods */
    char gpu_spec[96]; /* "V100M16|V100M32", "" when unconstrained */
    tp_qos_t qos;
    int64_t creation_s, deletion_s, scheduled_s; /* scheduled_s -1: never */
} tp_pod_t;

typedef struct {
    tp_pod_t *pod;
    size_t n;
} tp_pod_list_t;

int tp_sim_pods_load(const char *path, tp_pod_list_t *out, tp_error_t *err);
int tp_sim_pods_parse(const char *name, const char *text, size_t len, tp_pod_list_t *out,
                      tp_error_t *err);
void tp_sim_pods_fini(tp_pod_list_t *p);

#endif
