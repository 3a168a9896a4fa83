/*
 * scheduler/kpi.h — the KPIs of GET /v1/kpis (docs/observability.md): TEE
 * share, sensitive work in TEEs, attestation pass rate and age, tokens per
 * watt, power headroom, preemptions by cap changes, pending work by reason.
 *
 * History (GPU-hours windows, TEE share over time) comes from the journal's
 * audit rows: tp_kpi_hist_t turns decision / release / preemption rows into
 * running spans, each remembering whether its node had an attested TEE when it
 * was placed (the facts in the row). The history is fed by the service's
 * worker and read by the loop, so it carries its own lock. Everything else is
 * computed from the model passed in, which the caller owns.
 */
#ifndef TP_SCHEDULER_KPI_H
#define TP_SCHEDULER_KPI_H

#include "model/model.h"

#include <jansson.h>
#include <stdint.h>

typedef struct tp_kpi_hist tp_kpi_hist_t;

tp_kpi_hist_t *tp_kpi_hist_new(void);
void tp_kpi_hist_free(tp_kpi_hist_t *h);
/* One audit row (seq, at, body JSON). Rows at or below the last seq seen are
 * ignored, so a row may be offered twice. 0, or TP_ENOMEM. */
int tp_kpi_hist_add(tp_kpi_hist_t *h, int64_t seq, int64_t at, const char *body);
/* The same for a row already parsed (borrowed; may be NULL: ignored). */
int tp_kpi_hist_add_json(tp_kpi_hist_t *h, int64_t seq, int64_t at, json_t *row);
/* Spans held: running work, and work that ended within 8 days of the newest
 * row (older spans are dropped every 4096 rows; no window reaches them). */
int tp_kpi_hist_spans(tp_kpi_hist_t *h);

/* Whether the observed facts of node n make it an attested TEE at now:
 * attestation affirming, unexpired, and its cpu_tee a TEE (not none/unknown). */
bool tp_kpi_node_tee(const tp_state_t *st, int n, int64_t now);

typedef struct {
    const tp_fleet_t *fleet;
    const tp_state_t *state;    /* observed */
    const double *domain_cap_w; /* effective (events applied); NULL: state's */
    const tp_workloads_t *running;
    const json_t *pending;      /* array of pending decisions {workload, reasons{}} */
    const json_t *pending_gpus; /* object workload → gpus, or NULL */
    const json_t *preemptions;  /* array of {workload, node, why, event, at} */
    tp_kpi_hist_t *hist;        /* or NULL */
    int64_t now;
    /* collector figures (0 when none ran) */
    uint64_t collector_requests;
    double collector_latency_sum_s;
} tp_kpi_in_t;

/* The KPI document (new reference; NULL on ENOMEM). */
json_t *tp_kpi_compute(const tp_kpi_in_t *in);

#endif
