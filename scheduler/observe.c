/*
 * scheduler/observe.c — the service side of issue 15: the audit log fed from
 * the journal's audit rows, GET /v1/kpis, GET /metrics and the dashboard page
 * GET / (docs/observability.md).
 *
 * Threads: obs_flush and obs_append run wherever journal writes run (the
 * worker's job, or the main thread at start) and are the only users of the
 * audit writer besides obs_sync_start's fdatasync of its file descriptor on the
 * libuv pool (a syscall, safe beside appends); the KPI history and the
 * histograms carry their own locks; the routes run on the loop.
 */
#include "scheduler/serve_internal.h"
#include "scheduler/leader.h"
#include "scheduler/audit.h"
#include "scheduler/dashboard.h"
#include "scheduler/kpi.h"
#include "scheduler/metrics.h"
#include "util/file.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

/* --audit-export: a thread that sends what audit.jsonl gained to the SIEM,
 * woken after each flush (or every 2 s, which also retries after a failure),
 * remembering the last seq sent in DATA/audit.export so a restart resumes. */
typedef struct {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, kick, started;
    char *target, *log, *state;
    int64_t sent_seq;
    svc_t *s;
} exporter_t;

struct tp_obs {
    tp_audit_t *audit;
    tp_kpi_hist_t *hist;
    tp_metrics_t *metrics;
    exporter_t *exp;
    /* obs_sync_start's fdatasync of audit.jsonl on the libuv pool: one at a
     * time; another asked for meanwhile runs when it ends (loop thread) */
    uv_work_t sync_req;
    bool syncing, sync_again;
    svc_t *s;
};

static char *file_sha256(const char *path);

/* ---- audit ---- */

/* The observed facts of node a decision relied on (tp_journal_facts_fn). */
static char *facts(void *arg, const char *node)
{
    svc_t *s = arg;
    int n = s->fleet ? tp_strmap_get(s->fleet->node_ix, node) : -1;
    if (n < 0 || !s->state)
        return NULL;
    const tp_fleet_t *f = s->fleet;
    const tp_node_obs_t *o = &s->state->nodes[n];
    const tp_attestation_t *a = &o->att;
    json_t *att = json_null();
    if (a->present)
        att = json_pack("{s:s,s:s,s:o,s:I,s:I,s:s?,s:s?}", "status",
                        tp_att_status_name(a->status), "cpu_tee", tp_tee_name(a->cpu_tee),
                        "gpu_cc", a->gpu_cc < 0 ? json_null() : json_boolean(a->gpu_cc),
                        "issued_at", (json_int_t)a->issued_at, "expires_at",
                        (json_int_t)a->expires_at, "verifier", a->verifier, "evidence",
                        a->evidence);
    json_t *doc =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:o,s:o,s:o,s:o,s:I}", "node", node, "region",
                  f->regions[f->nodes[n].region].id, "power_domain",
                  f->domains[f->nodes[n].domain].id, "gpu_model",
                  f->gpu_models[f->nodes[n].gpu_model], "declared_cpu_tee",
                  tp_tee_name(f->nodes[n].cpu_tee), "declared_gpu_cc", f->nodes[n].gpu_cc,
                  "attestation", att, "country",
                  o->country[0] ? json_string(o->country) : json_null(), "draw_w",
                  isnan(o->draw_w) ? json_null() : json_real(o->draw_w), "cap_w",
                  isnan(o->cap_w) ? json_null() : json_real(o->cap_w), "observed_at",
                  (json_int_t)s->state->observed_at);
    return json_text(doc);
}

/* SQLite: always (DATA is the journal's directory). etcd: when --data names
 * this replica's own directory for audit.jsonl (replicas sharing a working
 * directory must not share the default one). */
static bool audit_wanted(const svc_t *s)
{
    return tp_store_journal(s->journal) || s->data_given;
}

int obs_audit_on(svc_t *s, tp_error_t *err)
{
    /* The audit rows ride in the store's transactions: SQLite triggers, or
     * P a/<seq> rows in the etcd txn (scheduler/store_etcd.c). */
    return audit_wanted(s) ? tp_store_audit_on(s->journal, facts, s, err) : 0;
}

static int flush_row(void *arg, int64_t seq, int64_t at, const char *body)
{
    svc_t *s = arg;
    tp_error_t err = {0};
    json_error_t je;
    json_t *rec = json_loads(body, 0, &je); /* one parse for the KPIs and the log */
    /* The KPI history first, on the row as the journal holds it (the log adds
     * seq, prev, hash and sig); a row the log then fails to take is offered
     * again by the next flush, which the history ignores (kpi.h). */
    int rc = json_is_object(rec) ? tp_kpi_hist_add_json(s->obs->hist, seq, at, rec) : 0;
    if (rc == 0)
        rc = tp_audit_append_json(s->obs->audit, seq, at, rec, &err);
    json_decref(rec);
    if (rc < 0) {
        if (err.code)
            svc_log(s, "audit: %s", err.text);
        return rc;
    }
    tp_metrics_count(s->obs->metrics, TP_M_AUDIT_RECORDS, 1);
    return 0;
}

bool obs_append(svc_t *s)
{
    tp_error_t err = {0};
    if (!s->obs || !s->obs->audit)
        return false;
    int64_t last = tp_audit_last_seq(s->obs->audit);
    if (tp_store_audit_since(s->journal, last, flush_row, s, &err) < 0)
        svc_log(s, "audit: %s (the journal keeps the rows; retried after the next job)",
                err.text);
    if (tp_audit_last_seq(s->obs->audit) == last)
        return false;
    exporter_t *x = s->obs->exp;
    if (x && tp_audit_last_seq(s->obs->audit) != last) {
        pthread_mutex_lock(&x->mu);
        x->kick = true;
        pthread_cond_signal(&x->cv);
        pthread_mutex_unlock(&x->mu);
    }
    return true;
}

void obs_flush(svc_t *s)
{
    tp_error_t err = {0};
    if (obs_append(s) && tp_audit_sync(s->obs->audit, &err) < 0)
        svc_log(s, "audit: %s", err.text);
}

static void sync_work(uv_work_t *w)
{
    struct tp_obs *o = w->data;
    tp_error_t err = {0};
    if (tp_audit_sync(o->audit, &err) < 0)
        svc_log(o->s, "audit: %s (the journal keeps the rows)", err.text);
}

static void sync_done(uv_work_t *w, int status)
{
    struct tp_obs *o = w->data;
    (void)status;
    o->syncing = false;
    if (o->sync_again) {
        o->sync_again = false;
        obs_sync_start(o->s);
    } else {
        svc_after_job(o->s); /* a drain may wait for it */
    }
}

void obs_sync_start(svc_t *s)
{
    struct tp_obs *o = s->obs;
    if (!o || !o->audit)
        return;
    if (o->syncing) {
        o->sync_again = true;
        return;
    }
    o->s = s;
    o->sync_req.data = o;
    o->syncing = true;
    if (uv_queue_work(s->loop, &o->sync_req, sync_work, sync_done) != 0) {
        sync_work(&o->sync_req); /* cannot happen with a live loop */
        o->syncing = false;
    }
}

bool obs_syncing(const svc_t *s)
{
    return s->obs && s->obs->syncing;
}

/* Best effort: a lost position only re-sends records the sink already has. */
static void save_seq(exporter_t *x)
{
    char *tmp;
    FILE *f = tp_file_replace_open(x->state, &tmp, NULL);
    if (f)
        tp_file_replace_close(f, tmp, x->state,
                              fprintf(f, "%lld\n", (long long)x->sent_seq) > 0, NULL);
}

static void *export_main(void *arg)
{
    exporter_t *x = arg;
    bool failing = false;
    pthread_mutex_lock(&x->mu);
    while (!x->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 2;
        while (!x->kick && !x->stop &&
               pthread_cond_timedwait(&x->cv, &x->mu, &until) == 0)
            ;
        x->kick = false;
        if (x->stop)
            break;
        pthread_mutex_unlock(&x->mu);
        tp_error_t err = {0};
        int sent = 0;
        int64_t last = x->sent_seq;
        int rc =
            tp_audit_export_after(x->log, x->target, 0, x->sent_seq, &sent, &last, &err);
        if (last != x->sent_seq) {
            x->sent_seq = last;
            save_seq(x);
        }
        if (rc < 0 && !failing) /* logged once per outage */
            svc_log(x->s, "audit export to %s: %s (retrying every 2 s)", x->target,
                    err.text);
        else if (rc == 0 && failing)
            svc_log(x->s, "audit export to %s: resumed", x->target);
        failing = rc < 0;
        pthread_mutex_lock(&x->mu);
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

static void exporter_free(exporter_t *x)
{
    if (!x)
        return;
    if (x->started) {
        pthread_mutex_lock(&x->mu);
        x->stop = true;
        pthread_cond_signal(&x->cv);
        pthread_mutex_unlock(&x->mu);
        pthread_join(x->th, NULL);
    }
    pthread_mutex_destroy(&x->mu);
    pthread_cond_destroy(&x->cv);
    free(x->target);
    free(x->log);
    free(x->state);
    free(x);
}

static int exporter_start(svc_t *s, const char *log, tp_error_t *err)
{
    if (!tp_audit_target_valid(s->o.audit_export))
        return tp_error_set(err, TP_EUSAGE,
                            "--audit-export: expected jsonl:PATH, syslog+unix:PATH or "
                            "syslog+tcp:HOST:PORT, got \"%s\"",
                            s->o.audit_export);
    exporter_t *x = calloc(1, sizeof *x);
    if (!x)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    x->s = s;
    x->kick = true; /* what the file holds beyond the saved seq goes at once */
    size_t n = strlen(s->o.data_dir) + 16;
    x->target = strdup(s->o.audit_export);
    x->log = strdup(log);
    x->state = malloc(n);
    s->obs->exp = x;
    if (!x->target || !x->log || !x->state)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    snprintf(x->state, n, "%s/audit.export", s->o.data_dir);
    FILE *f = fopen(x->state, "r");
    long long v = 0;
    if (f && fscanf(f, "%lld", &v) == 1 && v >= 0)
        x->sent_seq = v;
    if (f)
        fclose(f);
    if (pthread_create(&x->th, NULL, export_main, x) != 0)
        return tp_error_set(err, TP_ENOMEM, "--audit-export: cannot start its thread");
    x->started = true;
    return 0;
}

int obs_note(svc_t *s, int64_t at, const char *kind, const char *change, tp_error_t *err)
{
    char *sha = file_sha256(s->o.config);
    json_t *b = json_pack("{s:s,s:s,s:s?,s:s?}", "kind", kind, "change", change, "config",
                          s->o.config, "config_sha256", sha);
    char *t = json_text(b);
    free(sha);
    /* shared store: only the leader writes (a follower's start and reloads are
     * its own, not the service's) */
    bool skip = !audit_wanted(s) ||
                (tp_store_shared(s->journal) && (!s->leader || !tp_leader_may_write(s)));
    int rc = !t     ? tp_error_set(err, TP_ENOMEM, "out of memory")
             : skip ? 0
                    : tp_store_add_audit(s->journal, at, t, err);
    free(t);
    return rc;
}

static char *file_sha256(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    tp_error_t err = {0};
    unsigned char h[32];
    unsigned hl = 0;
    if (tp_file_read(path, 64 << 20, &text, &len, &err) < 0 ||
        !EVP_Digest(text, len, h, &hl, EVP_sha256(), NULL)) {
        free(text);
        return NULL;
    }
    free(text);
    char *out = malloc(65);
    for (int i = 0; out && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
    return out;
}

static int hist_row(void *arg, int64_t seq, int64_t at, const char *body)
{
    return tp_kpi_hist_add(arg, seq, at, body);
}

int obs_start(svc_t *s, tp_error_t *err)
{
    struct tp_obs *o = calloc(1, sizeof *o);
    if (!o || !(o->hist = tp_kpi_hist_new()) || !(o->metrics = tp_metrics_new())) {
        if (o)
            tp_kpi_hist_free(o->hist);
        free(o);
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    s->obs = o;
    if (!audit_wanted(s)) {
        svc_log(s,
                "audit: with --store etcd the audit log and the KPIs' GPU-hour windows "
                "need --data DIR (this replica's own directory for audit.jsonl); they "
                "are off (docs/ha.md)");
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/audit.jsonl", s->o.data_dir);
    /* the SQLite journal made it; with etcd it may be new */
    if (mkdir(s->o.data_dir, 0700) != 0 && errno != EEXIST)
        return tp_error_set(err, TP_EIO, "%s: %s", s->o.data_dir, strerror(errno));
    int rc;
    if ((rc = tp_audit_open(path, s->o.audit_key, &o->audit, err)) < 0 ||
        (rc = tp_store_audit_since(s->journal, 0, hist_row, o->hist, err)) < 0)
        return rc;
    /* rows committed before a crash that never reached the file */
    int64_t before = tp_audit_last_seq(o->audit);
    obs_flush(s);
    if (tp_audit_last_seq(o->audit) > before && before > 0)
        svc_log(s, "audit: recovered %lld record(s) from the journal",
                (long long)(tp_audit_last_seq(o->audit) - before));
    if (s->o.audit_export && (rc = exporter_start(s, path, err)) < 0)
        return rc;
    if ((rc = obs_note(s, (int64_t)time(NULL), "service_start", "start", err)) < 0)
        return rc;
    obs_flush(s);
    return 0;
}

void obs_free(svc_t *s)
{
    if (!s->obs)
        return;
    exporter_free(s->obs->exp); /* first: it reads the log */
    tp_error_t err = {0};
    if (s->obs->audit && tp_audit_sync(s->obs->audit, &err) < 0)
        svc_log(s, "audit: %s", err.text);
    tp_audit_close(s->obs->audit);
    tp_kpi_hist_free(s->obs->hist);
    tp_metrics_free(s->obs->metrics);
    free(s->obs);
    s->obs = NULL;
}

/* ---- KPIs ---- */

json_t *obs_kpis(svc_t *s, int64_t now)
{
    json_t *pending = json_array(), *pgpus = json_object(), *doc = NULL;
    json_error_t je;
    for (int i = 0; i < s->nrecs; i++) {
        const rec_t *r = &s->recs[i];
        if (r->state != REC_PENDING)
            continue;
        json_t *d = r->decision ? json_loads(r->decision, 0, &je) : NULL;
        json_t *sp = r->spec ? json_loads(r->spec, 0, &je) : NULL;
        if (d)
            json_array_append_new(pending, d);
        json_object_set_new(
            pgpus, r->id, json_integer(json_integer_value(json_object_get(sp, "gpus"))));
        json_decref(sp);
    }
    tp_state_t *eff = state_effective(s, now);
    const tp_collect_stats_t *cs = s->collector ? tp_collector_stats(s->collector) : NULL;
    tp_kpi_in_t in = {.fleet = s->fleet,
                      .state = s->state,
                      .domain_cap_w = eff ? eff->domain_cap_w : NULL,
                      .running = s->running,
                      .pending = pending,
                      .pending_gpus = pgpus,
                      .preemptions = s->preemptions,
                      .hist = s->obs ? s->obs->hist : NULL,
                      .now = now,
                      .collector_requests = cs ? cs->requests : 0,
                      .collector_latency_sum_s = cs ? cs->latency_sum_s : 0};
    doc = tp_kpi_compute(&in);
    state_effective_free(eff);
    json_decref(pending);
    json_decref(pgpus);
    return doc;
}

/* ---- metrics hooks ---- */

/* The route of a path, so that ids never become label values. */
static const char *route_of(const char *p)
{
    static const char *const fixed[] = {"/",
                                        "/healthz",
                                        "/readyz",
                                        "/metrics",
                                        "/v1/kpis",
                                        "/v1/placements",
                                        "/v1/placements:batch",
                                        "/v1/nodes",
                                        "/v1/explain",
                                        "/v1/power/events",
                                        "/v1/preemptions",
                                        "/v1/profiles",
                                        "/k8s/filter",
                                        "/k8s/prioritize",
                                        "/k8s/bind",
                                        NULL};
    for (int i = 0; fixed[i]; i++)
        if (!strcmp(p, fixed[i]))
            return fixed[i];
    if (!strncmp(p, "/v1/placements/", 15))
        return "/v1/placements/{id}";
    if (!strncmp(p, "/v1/nodes/", 10))
        return "/v1/nodes/{id}";
    return "other";
}

void obs_request(void *arg, const char *method, const char *path, int status,
                 double seconds)
{
    svc_t *s = arg;
    static const char *const methods[] = {"GET", "POST", "DELETE", "PUT", "HEAD", NULL};
    const char *m = "other";
    for (int i = 0; methods[i]; i++)
        if (!strcmp(method, methods[i]))
            m = methods[i];
    if (s->obs)
        tp_metrics_request(s->obs->metrics, route_of(path), m, status, seconds);
}

void obs_time(svc_t *s, int which, double seconds)
{
    if (s->obs)
        tp_metrics_observe(s->obs->metrics, (tp_metric_t)which, seconds);
}

/* ---- routes ---- */

static void metrics(svc_t *s, tp_httpd_req_t *req, const tp_httpd_view_t *v)
{
    bool om = v->accept && strstr(v->accept, "application/openmetrics-text");
    int64_t now = (int64_t)time(NULL);
    json_t *k = obs_kpis(s, now);
    const tp_collect_stats_t *cs = s->collector ? tp_collector_stats(s->collector) : NULL;
    tp_leader_metrics_t ha;
    tp_leader_metrics(s, &ha);
    tp_metrics_extra_t x = {.kpis = k,
                            .requests = s->requests,
                            .auth_refused = s->auth_refused,
                            .tls_refused = tp_httpd_tls_refused(s->http),
                            .connections = tp_httpd_connections(s->http),
                            .collector_requests = cs ? cs->requests : 0,
                            .collector_failures = cs ? cs->failures : 0,
                            .running = s->running->n,
                            .ha = &ha};
    char *text = NULL;
    size_t len = 0;
    if (!k || tp_metrics_render(s->obs->metrics, &x, om, &text, &len) < 0) {
        json_decref(k);
        tp_httpd_error(req, 500, "internal", NULL, "out of memory");
        return;
    }
    json_decref(k);
    tp_httpd_respond_typed(
        req, 200,
        om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
           : "text/plain; version=0.0.4; charset=utf-8",
        text, len);
    free(text);
}

bool obs_path(const char *p)
{
    return !strcmp(p, "/v1/kpis") || !strcmp(p, "/metrics") || !strcmp(p, "/");
}

void obs_route(svc_t *s, tp_httpd_req_t *req, const tp_httpd_view_t *v)
{
    const char *p = v->path;
    if (!strcmp(p, "/"))
        tp_httpd_respond_typed(req, 200, "text/html; charset=utf-8", tp_dashboard_html,
                               tp_dashboard_html_len);
    else if (!strcmp(p, "/metrics"))
        metrics(s, req, v);
    else
        respond_json(req, 200, obs_kpis(s, (int64_t)time(NULL)));
}
