/*
 * scheduler/metrics.c — histograms, counters and the exposition text
 * (scheduler/metrics.h).
 */
#include "scheduler/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BUCKETS 16
#define MAX_SERIES 128

typedef struct {
    const double *le;
    int nle;
    uint64_t counts[MAX_BUCKETS + 1]; /* per bucket (not cumulative); last: +Inf */
    double sum;
    uint64_t n;
} hist_t;

typedef struct {
    char route[48], method[8];
    int code;
    hist_t h;
} req_series_t;

static const double REQ_LE[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};
static const double SOLVE_LE[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                  0.25,  0.5,    1,     2,    5,     10};
static const double PHASE_LE[] = {0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015,
                                  0.02,   0.03,  0.05,  0.075, 0.1,   0.25,   1};
static const char *const PHASE_NAME[] = {"queue", "solve",   "validate", "commit",
                                         "audit", "respond", "total"};
_Static_assert(sizeof PHASE_NAME / sizeof PHASE_NAME[0] == TP_M_NPHASES,
               "a name for every placement phase");
static const double CYCLE_LE[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define N(a) ((int)(sizeof a / sizeof a[0]))

struct tp_metrics {
    pthread_mutex_t mu;
    req_series_t req[MAX_SERIES];
    int nreq;
    hist_t solve, cycle, phase[TP_M_NPHASES];
    uint64_t audit_records;
};

tp_metrics_t *tp_metrics_new(void)
{
    tp_metrics_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->solve.le = SOLVE_LE;
    m->solve.nle = N(SOLVE_LE);
    m->cycle.le = CYCLE_LE;
    m->cycle.nle = N(CYCLE_LE);
    for (int i = 0; i < TP_M_NPHASES; i++) {
        m->phase[i].le = PHASE_LE;
        m->phase[i].nle = N(PHASE_LE);
    }
    return m;
}

void tp_metrics_free(tp_metrics_t *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static void hist_add(hist_t *h, double v)
{
    int b = 0;
    while (b < h->nle && v > h->le[b])
        b++;
    h->counts[b]++;
    h->sum += v;
    h->n++;
}

void tp_metrics_request(tp_metrics_t *m, const char *route, const char *method,
                        int status, double seconds)
{
    pthread_mutex_lock(&m->mu);
    req_series_t *s = NULL;
    for (int i = 0; i < m->nreq && !s; i++)
        if (m->req[i].code == status && !strcmp(m->req[i].route, route) &&
            !strcmp(m->req[i].method, method))
            s = &m->req[i];
    if (!s && m->nreq < MAX_SERIES - 1) {
        s = &m->req[m->nreq++];
        snprintf(s->route, sizeof s->route, "%s", route);
        snprintf(s->method, sizeof s->method, "%s", method);
        s->code = status;
    } else if (!s) { /* the last slot gathers what does not fit */
        s = &m->req[MAX_SERIES - 1];
        if (!s->route[0]) {
            strcpy(s->route, "other");
            strcpy(s->method, "other");
            m->nreq = MAX_SERIES;
        }
    }
    s->h.le = REQ_LE;
    s->h.nle = N(REQ_LE);
    hist_add(&s->h, seconds);
    pthread_mutex_unlock(&m->mu);
}

void tp_metrics_observe(tp_metrics_t *m, tp_metric_t which, double seconds)
{
    pthread_mutex_lock(&m->mu);
    if (which >= TP_M_PH_QUEUE && which <= TP_M_PH_TOTAL)
        hist_add(&m->phase[which - TP_M_PH_QUEUE], seconds);
    else if (which == TP_M_SOLVE || which == TP_M_COLLECT)
        hist_add(which == TP_M_SOLVE ? &m->solve : &m->cycle, seconds);
    pthread_mutex_unlock(&m->mu);
}

void tp_metrics_count(tp_metrics_t *m, tp_metric_t which, uint64_t n)
{
    pthread_mutex_lock(&m->mu);
    if (which == TP_M_AUDIT_RECORDS)
        m->audit_records += n;
    pthread_mutex_unlock(&m->mu);
}

char *tp_metrics_escape(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(2 * n + 1), *p = o;
    if (!o)
        return NULL;
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') {
            *p++ = '\\';
            *p++ = *s;
        } else if (*s == '\n') {
            *p++ = '\\';
            *p++ = 'n';
        } else {
            *p++ = *s;
        }
    }
    *p = '\0';
    return o;
}

/* ---- exposition ---- */

typedef struct {
    FILE *f;
    bool om;
} out_t;

/* HELP and TYPE of a family; counters are named without _total in OpenMetrics. */
static void family(out_t *o, const char *name, const char *type, const char *help)
{
    char fam[128];
    snprintf(fam, sizeof fam, "%s", name);
    size_t n = strlen(fam);
    if (o->om && !strcmp(type, "counter") && n > 6 && !strcmp(fam + n - 6, "_total"))
        fam[n - 6] = '\0';
    fprintf(o->f, "# HELP %s %s\n# TYPE %s %s\n", fam, help, fam, type);
}

static void value(out_t *o, double v)
{
    if (isnan(v))
        fputs("NaN", o->f);
    else if (isinf(v))
        fputs(v > 0 ? "+Inf" : "-Inf", o->f);
    else
        fprintf(o->f, "%.17g", v);
}

/* name{k="v",…} value; labels: NULL-terminated key, value pairs. */
static void sample(out_t *o, const char *name, const char *const *labels, double v)
{
    fputs(name, o->f);
    if (labels && labels[0]) {
        fputc('{', o->f);
        for (int i = 0; labels[i]; i += 2) {
            char *e = tp_metrics_escape(labels[i + 1]);
            fprintf(o->f, "%s%s=\"%s\"", i ? "," : "", labels[i], e ? e : "");
            free(e);
        }
        fputc('}', o->f);
    }
    fputc(' ', o->f);
    value(o, v);
    fputc('\n', o->f);
}

static void hist_samples(out_t *o, const char *name, const char *const *labels,
                         const hist_t *h)
{
    char n[160], le[32];
    const char *l[16];
    int k = 0;
    for (; labels && labels[k]; k++)
        l[k] = labels[k];
    uint64_t cum = 0;
    snprintf(n, sizeof n, "%s_bucket", name);
    for (int b = 0; b <= h->nle; b++) {
        cum += h->counts[b];
        if (b < h->nle)
            snprintf(le, sizeof le, "%g", h->le[b]);
        else
            strcpy(le, "+Inf");
        l[k] = "le";
        l[k + 1] = le;
        l[k + 2] = NULL;
        sample(o, n, l, (double)cum);
    }
    l[k] = NULL;
    snprintf(n, sizeof n, "%s_sum", name);
    sample(o, n, l, h->sum);
    snprintf(n, sizeof n, "%s_count", name);
    sample(o, n, l, (double)h->n);
}

static double jnum(json_t *o, const char *path)
{
    /* "a.b.c": a JSON number or NaN */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "."); tok && o; tok = strtok(NULL, "."))
        o = json_object_get(o, tok);
    return json_is_number(o) ? json_number_value(o) : NAN;
}

/* A gauge family with one series per member of an object: label key = member
 * name, value = member's field. */
static void gauge_by(out_t *o, const char *name, const char *help, json_t *obj,
                     const char *label, const char *field)
{
    family(o, name, "gauge", help);
    const char *k;
    json_t *v;
    json_object_foreach (obj, k, v) {
        const char *l[] = {label, k, NULL};
        sample(o, name, l, field ? jnum(v, field) : json_number_value(v));
    }
}

/* A gauge family with one series per KPI window (tee_share.windows.W.field). */
static void per_window(out_t *o, json_t *k, const char *name, const char *help,
                       const char *field, double scale)
{
    static const char *const windows[] = {"1h", "24h", "7d", NULL};
    family(o, name, "gauge", help);
    for (int i = 0; windows[i]; i++) {
        char p[64];
        snprintf(p, sizeof p, "tee_share.windows.%s.%s", windows[i], field);
        const char *l[] = {"window", windows[i], NULL};
        sample(o, name, l, scale * jnum(k, p));
    }
}

/* A gauge family of one unlabelled sample. */
static void gauge1(out_t *o, const char *name, const char *help, double v)
{
    family(o, name, "gauge", help);
    sample(o, name, NULL, v);
}

static void kpi_gauges(out_t *o, json_t *k)
{
    gauge1(o, "trustplace_tee_share_ratio",
           "Running workloads on nodes with an attested TEE over all running workloads.",
           jnum(k, "tee_share.now.share"));
    family(o, "trustplace_sensitive_tee_share_ratio", "gauge",
           "Running workloads of TEE-requiring classes that run on an attested TEE, over "
           "all of them.");
    sample(o, "trustplace_sensitive_tee_share_ratio", NULL,
           jnum(k, "tee_share.now.sensitive.share"));
    json_t *bys = json_object_get(json_object_get(json_object_get(k, "tee_share"), "now"),
                                  "by_sensitivity");
    gauge_by(o, "trustplace_workloads_running_by_sensitivity",
             "Running workloads by sensitivity class.", bys, "sensitivity", "running");
    gauge_by(o, "trustplace_workloads_in_tee_by_sensitivity",
             "Running workloads on an attested TEE by sensitivity class.", bys,
             "sensitivity", "in_tee");
    per_window(
        o, k, "trustplace_tee_gpu_time_share_ratio",
        "GPU time on attested TEEs over all GPU time of running work in a trailing "
        "window.",
        "share", 1);
    per_window(o, k, "trustplace_gpu_busy_seconds",
               "GPU time (GPU-seconds) of running work in a trailing window.",
               "gpu_hours", 3600);
    json_t *att = json_object_get(k, "attestation");
    gauge1(o, "trustplace_attestation_pass_ratio",
           "Affirming attestation results over all results held.",
           jnum(att, "pass_rate"));
    family(o, "trustplace_attestation_results", "gauge",
           "Attestation results held, by status.");
    static const char *const st[] = {"affirming", "warning", "contraindicated", NULL};
    for (int i = 0; st[i]; i++) {
        const char *l[] = {"status", st[i], NULL};
        sample(o, "trustplace_attestation_results", l, jnum(att, st[i]));
    }
    gauge1(o, "trustplace_attestation_expired",
           "Attestation results held that have expired.", jnum(att, "expired"));
    gauge1(o, "trustplace_attestation_age_max_seconds",
           "Age of the oldest attestation result held.", jnum(att, "age.max_s"));
    gauge_by(o, "trustplace_attestation_fresh_nodes",
             "Nodes with an unexpired affirming attestation, by region.",
             json_object_get(att, "by_region"), "region", "fresh");
    json_t *tpw = json_object_get(k, "tokens_per_watt");
    gauge1(o, "trustplace_tokens_per_second",
           "Tokens per second of running work (from profiles).",
           jnum(tpw, "tokens_per_s"));
    gauge1(o, "trustplace_running_power_watts",
           "Power of the nodes running work: observed draw where above the "
           "estimate, else the estimate (idle + profile watts).",
           jnum(tpw, "watts"));
    gauge1(o, "trustplace_tokens_per_joule",
           "Fleet tokens per second over watts (= tokens per joule).",
           jnum(tpw, "tokens_per_watt"));
    gauge_by(o, "trustplace_gpu_model_tokens_per_joule",
             "Tokens per second over watts, by GPU model.",
             json_object_get(tpw, "by_gpu_model"), "gpu_model", "tokens_per_watt");
    gauge_by(o, "trustplace_region_tokens_per_joule",
             "Tokens per second over watts, by region.",
             json_object_get(tpw, "by_region"), "region", "tokens_per_watt");
    json_t *doms = json_object_get(json_object_get(k, "power"), "domains");
    static const struct {
        const char *name, *field, *help;
    } P[] = {{"trustplace_power_domain_draw_watts", "draw_w",
              "Observed draw of a power domain."},
             {"trustplace_power_domain_cap_watts", "cap_w",
              "Effective cap of a power domain (fleet, observed, events)."},
             {"trustplace_power_domain_headroom_watts", "headroom_w",
              "Cap minus draw of a power domain."}};
    for (int p = 0; p < 3; p++) {
        family(o, P[p].name, "gauge", P[p].help);
        size_t i;
        json_t *d;
        json_array_foreach (doms, i, d) {
            const char *l[] = {"domain", json_string_value(json_object_get(d, "domain")),
                               NULL};
            if (l[1])
                sample(o, P[p].name, l, jnum(d, P[p].field));
        }
    }
    json_t *pre = json_object_get(json_object_get(k, "power"), "preemptions");
    family(o, "trustplace_preemptions_total", "counter",
           "Preemptions journaled, by cause (cap_change, eviction, other).");
    double total = jnum(pre, "total"), cap = jnum(pre, "cap_changes"),
           ev = jnum(pre, "evictions");
    const char *l1[] = {"cause", "cap_change", NULL}, *l2[] = {"cause", "eviction", NULL},
               *l3[] = {"cause", "other", NULL};
    sample(o, "trustplace_preemptions_total", l1, cap);
    sample(o, "trustplace_preemptions_total", l2, ev);
    sample(o, "trustplace_preemptions_total", l3, total - cap - ev);
    json_t *pend = json_object_get(k, "pending");
    gauge1(o, "trustplace_workloads_pending", "Pending workloads.",
           jnum(pend, "workloads"));
    gauge_by(o, "trustplace_workloads_pending_by_reason",
             "Pending workloads a predicate ruled out on at least one node.",
             json_object_get(pend, "by_reason"), "reason", "workloads");
}

/* A counter family of one unlabelled sample. */
static void counter1(out_t *o, const char *name, const char *help, double v)
{
    family(o, name, "counter", help);
    sample(o, name, NULL, v);
}

/* Election and store families (docs/ha.md). */
static void ha_families(out_t *o, const tp_leader_metrics_t *h)
{
    gauge1(o, "trustplace_leader",
           "1 when this replica writes (the leader, or a single instance), else 0.",
           h->leader ? 1 : 0);
    gauge1(o, "trustplace_leader_term",
           "The leader term (create revision of the etcd leader key) this replica "
           "holds; 0 on a follower and without etcd.",
           (double)h->term);
    counter1(o, "trustplace_leader_campaigns_total",
             "Campaigns for the leader key this replica made.", (double)h->campaigns);
    counter1(o, "trustplace_leader_elections_total",
             "Elections this replica won (it became the leader).",
             (double)h->elections_won);
    counter1(o, "trustplace_leader_lease_losses_total",
             "Times this replica lost its lease while leader (stepped down).",
             (double)h->lease_losses);
    const tp_store_stats_t *st = &h->store;
    counter1(o, "trustplace_store_commits_total", "Store transactions committed.",
             (double)st->commits);
    counter1(o, "trustplace_store_commit_failures_total",
             "Store transactions that failed (nothing was written).", (double)st->failed);
    counter1(o, "trustplace_store_fenced_commits_total",
             "Failed store transactions that the leader fence refused (etcd: the writer "
             "was no longer the leader).",
             (double)st->fenced);
    family(o, "trustplace_store_commit_duration_seconds", "histogram",
           "Time of one store commit attempt (SQLite commit, or etcd txn to quorum).");
    hist_t hs = {.le = tp_store_commit_le, .nle = TP_STORE_LAT_N, .n = 0};
    for (int b = 0; b <= TP_STORE_LAT_N; b++) {
        hs.counts[b] = st->lat[b];
        hs.n += st->lat[b];
    }
    hs.sum = (double)st->usec / 1e6;
    hist_samples(o, "trustplace_store_commit_duration_seconds", NULL, &hs);
    counter1(o, "trustplace_store_feed_polls_total",
             "Reads of the store's changes (etcd followers and a new leader).",
             (double)h->polls);
    counter1(o, "trustplace_store_feed_poll_failures_total",
             "Reads of the store's changes that failed.", (double)h->poll_failures);
    counter1(o, "trustplace_store_feed_poll_seconds_total",
             "Time spent reading the store's changes.", (double)h->poll_usec / 1e6);
    counter1(o, "trustplace_store_feed_changes_total",
             "Changed keys applied from the store to this replica's copy.",
             (double)h->changes_applied);
    gauge1(o, "trustplace_store_feed_watching",
           "1 while the follower feed's watch of the journal keys is open (changes "
           "arrive within milliseconds), 0 while it reads every --poll-ms.",
           h->feed_watching ? 1 : 0);
    counter1(o, "trustplace_store_feed_watch_events_total",
             "Journal key changes the feed's watch received.",
             (double)h->feed_watch_events);
    counter1(o, "trustplace_store_feed_watch_breaks_total",
             "Watch streams of the journal keys that broke, ended or were compacted "
             "away (each followed by a read of the keys).",
             (double)h->feed_watch_breaks);
}

int tp_metrics_render(tp_metrics_t *m, const tp_metrics_extra_t *x, bool openmetrics,
                      char **text, size_t *len)
{
    out_t o = {.om = openmetrics};
    *text = NULL;
    if (!(o.f = open_memstream(text, len)))
        return -1;
    pthread_mutex_lock(&m->mu);
    family(&o, "trustplace_http_request_duration_seconds", "histogram",
           "Time from a request's arrival to its answer, by route, method and status.");
    for (int i = 0; i < m->nreq; i++) {
        char code[8];
        snprintf(code, sizeof code, "%d", m->req[i].code);
        const char *l[] = {
            "route", m->req[i].route, "method", m->req[i].method, "code", code, NULL};
        hist_samples(&o, "trustplace_http_request_duration_seconds", l, &m->req[i].h);
    }
    family(&o, "trustplace_solver_duration_seconds", "histogram",
           "Time of one placement solve (a batch).");
    hist_samples(&o, "trustplace_solver_duration_seconds", NULL, &m->solve);
    family(&o, "trustplace_collector_cycle_duration_seconds", "histogram",
           "Time of one collector cycle (Redfish walks, attestation, telemetry).");
    hist_samples(&o, "trustplace_collector_cycle_duration_seconds", NULL, &m->cycle);
    family(&o, "trustplace_placement_phase_seconds", "histogram",
           "Where a placement request's time went: queue, solve, validate, commit, "
           "respond, total.");
    for (int i = 0; i < TP_M_NPHASES; i++) {
        const char *l[] = {"phase", PHASE_NAME[i], NULL};
        hist_samples(&o, "trustplace_placement_phase_seconds", l, &m->phase[i]);
    }
    family(&o, "trustplace_audit_records_total", "counter",
           "Audit records appended to audit.jsonl since the service started.");
    sample(&o, "trustplace_audit_records_total", NULL, (double)m->audit_records);
    pthread_mutex_unlock(&m->mu);
    family(&o, "trustplace_http_requests_total", "counter",
           "Requests routed since the service started.");
    sample(&o, "trustplace_http_requests_total", NULL, (double)x->requests);
    family(&o, "trustplace_http_auth_refused_total", "counter",
           "Requests refused with 401 or 403.");
    sample(&o, "trustplace_http_auth_refused_total", NULL, (double)x->auth_refused);
    family(&o, "trustplace_http_tls_refused_total", "counter",
           "TLS handshakes refused (no, unknown or expired client certificate, ...).");
    sample(&o, "trustplace_http_tls_refused_total", NULL, (double)x->tls_refused);
    family(&o, "trustplace_http_connections", "gauge", "Open HTTP connections.");
    sample(&o, "trustplace_http_connections", NULL, x->connections);
    family(&o, "trustplace_collector_requests_total", "counter",
           "HTTP attempts of the collectors (Redfish, verifiers).");
    sample(&o, "trustplace_collector_requests_total", NULL,
           (double)x->collector_requests);
    family(&o, "trustplace_collector_request_failures_total", "counter",
           "Collector HTTP attempts that failed.");
    sample(&o, "trustplace_collector_request_failures_total", NULL,
           (double)x->collector_failures);
    family(&o, "trustplace_workloads_running", "gauge", "Running workloads.");
    sample(&o, "trustplace_workloads_running", NULL, x->running);
    if (x->ha)
        ha_families(&o, x->ha);
    if (x->kpis)
        kpi_gauges(&o, x->kpis);
    if (o.om)
        fputs("# EOF\n", o.f);
    if (fclose(o.f) != 0) {
        free(*text);
        *text = NULL;
        return -1;
    }
    return 0;
}
