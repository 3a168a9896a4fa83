/*
 * scheduler/metrics.h — the service's Prometheus metrics (docs/observability.md):
 * request, solver and collector-cycle histograms and a few counters, kept here
 * behind a mutex (observed from the loop and the worker), and the text of
 * GET /metrics — Prometheus text format 0.0.4, or OpenMetrics 1.0 — with the
 * KPI gauges taken from a KPI document (scheduler/kpi.h).
 */
#ifndef TP_SCHEDULER_METRICS_H
#define TP_SCHEDULER_METRICS_H

#include "scheduler/leader.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tp_metrics tp_metrics_t;

typedef enum {
    TP_M_SOLVE,         /* histogram: one solve, seconds */
    TP_M_COLLECT,       /* histogram: one collector cycle, seconds */
    TP_M_AUDIT_RECORDS, /* counter */
    /* histograms, per placement request (POST /v1/placements[:batch]): where
     * its time went, seconds — docs/observability.md */
    TP_M_PH_QUEUE,    /* queued until its job started (behind the job in flight) */
    TP_M_PH_SOLVE,    /* its batch's solve */
    TP_M_PH_VALIDATE, /* the validator's re-check of the batch */
    TP_M_PH_COMMIT,   /* answers formatted, the journal transaction (fsync) */
    TP_M_PH_AUDIT,   /* its job's audit rows appended to audit.jsonl, after the answers */
    TP_M_PH_RESPOND, /* job done until its answer was handed to the connection */
    TP_M_PH_TOTAL    /* queued until answered */
} tp_metric_t;
#define TP_M_NPHASES (TP_M_PH_TOTAL - TP_M_PH_QUEUE + 1)

tp_metrics_t *tp_metrics_new(void);
void tp_metrics_free(tp_metrics_t *m);
/* route and method are label values (any text; escaped on output); the set of
 * (route, method, code) series is bounded (further ones count as "other"). */
void tp_metrics_request(tp_metrics_t *m, const char *route, const char *method,
                        int status, double seconds);
void tp_metrics_observe(tp_metrics_t *m, tp_metric_t which, double seconds);
void tp_metrics_count(tp_metrics_t *m, tp_metric_t which, uint64_t n);

/* What the exposition reads besides the histograms (borrowed). */
typedef struct {
    json_t *kpis; /* tp_kpi_compute's document, or NULL */
    uint64_t requests, auth_refused;
    uint64_t tls_refused; /* TLS handshakes refused (scheduler/httpd.h) */
    int connections;
    uint64_t collector_requests, collector_failures;
    int running;
    const tp_leader_metrics_t *ha; /* leader and store counters, or NULL */
} tp_metrics_extra_t;

/* The exposition (malloc'd, *len bytes). openmetrics: OpenMetrics 1.0 text
 * (ends "# EOF"), else Prometheus text format 0.0.4. */
int tp_metrics_render(tp_metrics_t *m, const tp_metrics_extra_t *x, bool openmetrics,
                      char **text, size_t *len);
/* s with \, " and newline escaped as a label value (malloc'd). */
char *tp_metrics_escape(const char *s);

#endif
