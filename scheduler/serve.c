/*
 * scheduler/serve.c — the service's life: load the fleet, recover the journal,
 * listen, run the collectors, reconcile, reload on SIGHUP, drain on SIGTERM.
 */
#include "scheduler/leader.h"
#include "scheduler/metrics.h"
#include "scheduler/serve_internal.h"
#include "scheduler/share.h"
#include "util/file.h"
#include "util/json_in.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Reachable after tp_serve_run returns: H2O's per-connection state hangs off
 * the loop and the server until the process exits (see tp_httpd_free). */
static uv_loop_t g_loop;
tp_httpd_t *tp_serve_httpd_;

/* ---- collectors ---- */

typedef struct retired {
    tp_fleet_t *fleet;
    tp_collect_cfg_t *cfg;
} retired_t;

static void collector_closed(void *arg)
{
    retired_t *r = arg;
    tp_fleet_free(r->fleet);
    tp_collect_config_free(r->cfg);
    free(r);
}

void svc_retire_fleet(svc_t *s, tp_fleet_t *f)
{
    if (!s->collector) {
        tp_fleet_free(f);
        tp_collect_config_free(s->ccfg);
        s->ccfg = NULL;
        return;
    }
    retired_t *r = calloc(1, sizeof *r);
    tp_collector_t *c = s->collector;
    s->collector = NULL;
    if (!r) { /* leak rather than free under a live collector */
        tp_collector_close(c, NULL, NULL);
        return;
    }
    r->fleet = f;
    r->cfg = s->ccfg;
    s->ccfg = NULL;
    tp_collector_close(c, collector_closed, r);
}

static void log_fn(void *arg, tp_log_level_t level, const char *msg)
{
    svc_t *s = arg;
    if (level >= TP_LOG_WARN)
        svc_log(s, "collect: %s", msg);
}

static void enqueue_simple(svc_t *s, op_kind_t kind)
{
    op_t *op = calloc(1, sizeof *op);
    if (op) {
        op->kind = kind;
        op_enqueue(s, op);
    }
}

static void cycle_done(tp_collector_t *c, void *arg)
{
    svc_t *s = arg;
    if (s->share) { /* shared collection: the state comes back through etcd */
        s->last_cycle_end = (int64_t)time(NULL);
        obs_time(s, 1, tp_collector_stats(c)->wall_s); /* TP_M_COLLECT */
        tp_share_cycle_done(s->share);
        return;
    }
    const tp_state_t *st = tp_collector_state(c);
    tp_state_t *copy = st ? state_copy(s->fleet, st) : NULL;
    if (copy && !copy->observed_at)
        copy->observed_at = (int64_t)time(NULL);
    s->last_cycle_end = (int64_t)time(NULL);
    obs_time(s, TP_M_COLLECT, tp_collector_stats(c)->wall_s);
    if (copy) {
        tp_state_free(s->next_state);
        s->next_state = copy;
    }
    if (!s->busy)
        svc_after_job(s);
}

void svc_collect_now(svc_t *s)
{
    if (s->collector && !s->draining)
        tp_collector_cycle(s->collector, cycle_done, s); /* EINVAL: one still runs */
}

static void on_cycle_timer(uv_timer_t *t)
{
    svc_collect_now(t->data);
}

static int collectors_start(svc_t *s, tp_error_t *err)
{
    if (!s->has_collectors || s->collector || s->draining)
        return 0;
    if (!s->ccfg && tp_collect_config_load(s->fleet, &s->ccfg, err) < 0)
        return err->code;
    if (!(s->collector = tp_collector_new(s->loop, s->fleet, s->ccfg, err)))
        return err->code;
    tp_collector_set_log(s->collector, log_fn, s);
    tp_share_collector(s->share); /* shared: only the owned nodes (none until known) */
    uv_timer_start(&s->cycle_timer, on_cycle_timer, 0,
                   (uint64_t)(s->ccfg->interval_s > 0 ? s->ccfg->interval_s : 60) * 1000);
    return 0;
}

/* ---- between jobs ---- */

static void check_drained(svc_t *s);
static void arm_events(svc_t *s);

void svc_after_job(svc_t *s)
{
    arm_events(s);             /* a job may have added, started or ended an event */
    tp_leader_kick(s->leader); /* the follower feed's changes waited for the job */
    if (s->next_state && !s->busy) {
        tp_state_free(s->state);
        s->state = s->next_state;
        s->next_state = NULL;
        svc_invalidate(s);
        if (s->running->n && tp_leader_may_write(s)) /* does running work still fit? */
            enqueue_simple(s, OP_RECONCILE);
    }
    if (!s->collector && s->has_collectors && !s->draining) {
        tp_error_t err = {0};
        if (collectors_start(s, &err) < 0)
            svc_log(s, "collectors not started: %s", err.text);
    }
    if (s->draining)
        check_drained(s);
}

/* ---- timers: power events, periodic reconciliation ---- */

/* Queues the start or end of every power event that is due at now. */
static void due_events(svc_t *s, int64_t now)
{
    for (int i = 0; i < s->nevents; i++) {
        pevent_t *e = &s->events[i];
        if (e->queued || e->ended)
            continue;
        op_kind_t kind;
        if (!e->started && e->start <= now && (!e->end || e->end > now))
            kind = OP_POWER;
        else if (e->end && e->end <= now)
            kind = OP_POWER_END; /* the cap is restored */
        else
            continue;
        op_t *op = calloc(1, sizeof *op);
        if (!op)
            continue;
        op->kind = kind;
        op->event_id = e->id;
        op->ev = *e;
        if (!(op->ev.domain_id = strdup(e->domain_id))) {
            free(op);
            continue;
        }
        e->queued = true;
        op_enqueue(s, op);
    }
}

static void on_event_timer(uv_timer_t *t);

/* Arms event_timer for the next start or end of a power event still ahead,
 * to the millisecond of its second: a plan is computed when its event starts,
 * not up to a second later. What is already due (a start that failed, say) is
 * the 1 s tick's to retry, so a failing start is not retried in a busy loop. */
static void arm_events(svc_t *s)
{
    int64_t due = INT64_MAX, now_ms;
    if (s->draining || !tp_leader_may_write(s) || !s->event_timer.data)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    for (int i = 0; i < s->nevents; i++) {
        const pevent_t *e = &s->events[i];
        if (e->queued || e->ended)
            continue;
        int64_t at = !e->started ? e->start : e->end ? e->end : INT64_MAX;
        if (at != INT64_MAX && at * 1000 > now_ms && at < due)
            due = at;
    }
    uv_timer_stop(&s->event_timer);
    if (due != INT64_MAX)
        uv_timer_start(&s->event_timer, on_event_timer,
                       (uint64_t)(due * 1000 - now_ms) + 1, 0);
}

static void on_event_timer(uv_timer_t *t)
{
    svc_t *s = t->data;
    if (s->draining || !tp_leader_may_write(s))
        return;
    due_events(s, (int64_t)time(NULL));
    arm_events(s);
}

static void on_tick(uv_timer_t *t)
{
    svc_t *s = t->data;
    static int ticks;
    int64_t now = (int64_t)time(NULL);
    if (s->draining || !tp_leader_may_write(s)) /* a follower leaves it to the leader */
        return;
    due_events(s, now);
    arm_events(s);
    int every = s->o.reconcile_s > 0 ? s->o.reconcile_s : 5;
    if (++ticks % every == 0 && s->running->n)
        enqueue_simple(s, OP_RECONCILE);
    if (prune_due(s))
        enqueue_simple(s, OP_PRUNE);
}

/* ---- signals and drain ---- */

static void stop_now(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static void check_drained(svc_t *s)
{
    if (s->busy || s->qhead || s->inflight_requests || obs_syncing(s))
        return;
    static bool stopping;
    if (stopping)
        return;
    stopping = true;
    svc_log(s, "drained: every accepted request was answered; stopping");
    tp_leader_stop(s->leader); /* hands the lease back: a follower takes over now */
    tp_share_stop(s->share);   /* and the nodes this replica collected */
    /* let the last answers reach their sockets */
    uv_timer_stop(&s->tick_timer);
    uv_timer_start(&s->tick_timer, stop_now, 200, 0);
}

static void on_signal(uv_signal_t *h, int sig)
{
    svc_t *s = h->data;
    if (sig == SIGHUP) {
        svc_log(s, "SIGHUP: reloading %s", s->o.config);
        enqueue_simple(s, OP_RELOAD);
        return;
    }
    if (s->draining)
        return;
    s->draining = true;
    svc_log(s, "%s: draining %d request(s) in flight",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", s->inflight_requests);
    tp_httpd_stop_accepting(s->http);
    uv_timer_stop(&s->cycle_timer);
    uv_timer_stop(&s->tick_timer);
    adr_stop(s);
    uv_timer_stop(&s->event_timer);
    uv_signal_stop(&s->sighup);
    if (s->collector) {
        tp_collector_t *c = s->collector;
        s->collector = NULL;
        tp_collector_close(c, NULL, NULL);
    }
    check_drained(s);
}

/* ---- recovery ---- */

static int rec_placement(void *arg, const char *workload, const char *state,
                         const char *node, int gpus, const char *spec,
                         const char *decision)
{
    svc_t *s = arg;
    int st = rec_state_parse(state);
    rec_t *r = rec_upsert(s, workload);
    if (st < 0 || !r)
        return st < 0 ? TP_EPARSE : TP_ENOMEM;
    json_t *sp = json_loads(spec, 0, NULL);
    const char *tenant = json_string_value(json_object_get(sp, "tenant"));
    int rc = rec_set(r, tenant, (rec_state_t)st, st == REC_RUNNING ? node : NULL, gpus,
                     spec, decision);
    json_decref(sp);
    return rc;
}

static int rec_idem(void *arg, const char *key, const char *hash, int status,
                    const char *response)
{
    svc_t *s = arg;
    idem_t *e = idem_add(s, key, hash);
    if (!e || !(e->response = strdup(response)))
        return TP_ENOMEM;
    e->status = status;
    return 0;
}

static int rec_event(void *arg, int64_t id, const char *body, int64_t start, int64_t end,
                     const char *state, const char *plan)
{
    svc_t *s = arg;
    (void)plan;
    json_t *b = json_loads(body, 0, NULL);
    const char *domain = json_string_value(json_object_get(b, "domain"));
    double cap = json_number_value(json_object_get(b, "cap_w"));
    int rc = domain ? (int)pevent_add(s, id, domain, cap, start, end) : TP_EPARSE;
    const char *src = json_string_value(json_object_get(b, "source"));
    if (rc > 0 && src) /* an order from the OpenADR VTN: never ordered twice */
        json_object_set_new(s->adr_orders, src, json_integer(id));
    if (rc > 0) {
        s->events[s->nevents - 1].started = strcmp(state, "scheduled") != 0;
        s->events[s->nevents - 1].ended = !strcmp(state, "ended");
        rc = 0;
    }
    json_decref(b);
    return rc;
}

static int rec_preemption(void *arg, const char *workload, const char *node,
                          const char *why, int64_t event, int64_t at)
{
    svc_t *s = arg;
    return json_array_append_new(s->preemptions,
                                 json_pack("{s:s,s:s,s:s,s:I,s:I}", "workload", workload,
                                           "node", node, "why", why, "event",
                                           (json_int_t)event, "at", (json_int_t)at));
}

static int rec_profiles(void *arg, const char *body)
{
    svc_t *s = arg;
    json_t *a = json_loads(body, 0, NULL);
    size_t i;
    json_t *e;
    if (!json_is_array(a)) {
        json_decref(a);
        return TP_EPARSE;
    }
    json_array_foreach (a, i, e)
        json_array_append(s->profiles, e);
    json_decref(a);
    return 0;
}

/* Work the journal says runs but the fleet no longer holds is reported, never
 * silently kept. */
static int evict_misfits(svc_t *s, json_t *misfits, tp_error_t *err)
{
    size_t i;
    json_t *e;
    int64_t now = (int64_t)time(NULL);
    if (!json_array_size(misfits))
        return 0;
    if (tp_store_begin(s->journal, err) < 0)
        return err->code;
    json_array_foreach (misfits, i, e) {
        rec_t *r = rec_find(s, json_string_value(e));
        if (tp_store_set_state(s->journal, r->id, "preempted", now, err) < 0 ||
            tp_store_add_preemption(s->journal, r->id, r->node ? r->node : "?",
                                    "eviction:no_longer_in_fleet", 0, now, err) < 0) {
            tp_store_rollback(s->journal);
            return err->code;
        }
        rec_preemption(s, r->id, r->node ? r->node : "?", "eviction:no_longer_in_fleet",
                       0, now);
        rec_set(r, r->tenant, REC_PREEMPTED, NULL, 0, NULL, NULL);
    }
    return tp_store_commit(s->journal, err);
}

void svc_load_callbacks(svc_t *s, tp_store_load_t *cb)
{
    *cb = (tp_store_load_t){s,         rec_placement,  rec_idem,
                            rec_event, rec_preemption, rec_profiles};
}

static int recover(svc_t *s, tp_error_t *err)
{
    tp_store_load_t cb;
    svc_load_callbacks(s, &cb);
    tp_store_opts_t so = {.spec = s->o.store,
                          .data_dir = s->o.data_dir,
                          .prefix = s->o.store_prefix,
                          .replica = s->o.replica_name};
    char *text = NULL;
    size_t len;
    jr_t r = {s->o.config, err};
    int rc;
    if ((rc = tp_store_open(&so, &s->journal, err)) < 0)
        return rc;
    if ((rc = obs_audit_on(s, err)) < 0) /* recovery's evictions are audited too */
        return rc;
    if ((rc = tp_store_load(s->journal, &cb, err)) < 0)
        return rc;
    if ((rc = tp_file_read(s->o.config, 64 << 20, &text, &len, err)) < 0)
        return rc;
    s->fleet_doc = jr_parse_buffer(&r, text, len);
    free(text);
    if (!s->fleet_doc)
        return err->code;
    if ((rc = fleet_build(s, s->fleet_doc, s->profiles, &s->fleet, err)) < 0)
        return rc;
    if (s->o.state_path) {
        tp_state_t *st = NULL;
        if ((rc = tp_state_load(s->o.state_path, s->fleet, &st, err)) < 0)
            return rc;
        s->state = st;
    } else if (!(s->state = tp_state_new_empty(s->fleet))) {
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    json_t *misfits = json_array();
    rc = running_build_tolerant(s, s->fleet, &s->running, misfits, err);
    if (!rc && !tp_store_shared(s->journal)) /* shared: only a leader may write */
        rc = evict_misfits(s, misfits, err);
    json_decref(misfits);
    if (rc < 0)
        return rc;
    for (int n = 0; n < s->fleet->nnodes && !s->has_collectors; n++)
        s->has_collectors = s->fleet->nodes[n].bmc_url || s->fleet->nodes[n].verifier;
    int running = 0, pending = 0;
    for (int i = 0; i < s->nrecs; i++) {
        running += s->recs[i].state == REC_RUNNING;
        pending += s->recs[i].state == REC_PENDING;
    }
    svc_log(s,
            "recovered %d running and %d pending workload(s), %d power event(s), %zu "
            "profile(s) from %s",
            running, pending, s->nevents, json_array_size(s->profiles),
            s->o.store ? s->o.store : s->o.data_dir);
    return 0;
}

static int split_listen(const char *listen, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(listen, ':');
    char *end;
    if (!colon || colon == listen || (size_t)(colon - listen) >= cap)
        return -1;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535)
        return -1;
    const char *h = listen;
    size_t n = (size_t)(colon - listen);
    if (h[0] == '[' && h[n - 1] == ']') { /* [::1]:8750 */
        h++;
        n -= 2;
    }
    memcpy(host, h, n);
    host[n] = '\0';
    *port = (int)p;
    return 0;
}

/* The API server /k8s/bind creates Bindings in (collectors/kubeapi.h); says
 * which, never the token. */
static int kube_start(svc_t *s, tp_error_t *err)
{
    int rc = tp_kubeapi_new(&s->o.kube, &s->kube, err);
    if (rc < 0)
        return rc;
    if (!s->kube) {
        svc_log(s, "no Kubernetes API server (--kube-api, or in a cluster): /k8s/bind "
                   "journals placements but binds no pod");
        return 0;
    }
    if (s->o.kube.allow_http && !strncmp(tp_kubeapi_server(s->kube), "http:", 5))
        svc_log(s,
                "WARNING: --kube-insecure-http: the API server token travels in clear "
                "text to %s; for tests only, never in a cluster",
                tp_kubeapi_server(s->kube));
    svc_log(s, "binding pods through the Kubernetes API server %s%s (token read from %s)",
            tp_kubeapi_server(s->kube),
            tp_kubeapi_in_cluster(s->kube) ? ", in-cluster" : "",
            tp_kubeapi_token_file(s->kube));
    return 0;
}

static void svc_free(svc_t *s)
{
    for (op_t *op = s->qhead, *next; op; op = next) {
        next = op->next;
        op_free(op);
    }
    obs_free(s);
    adr_free(s);
    json_decref(s->adr_orders);
    tp_store_close(s->journal);
    tp_tokens_free(s->tokens);
    tp_tokens_free(s->clients);
    tp_k8s_free(s->k8s);
    tp_kubeapi_free(s->kube);
    json_decref(s->fleet_doc);
    json_decref(s->profiles);
    json_decref(s->preemptions);
    tp_collect_config_free(s->ccfg);
    tp_fleet_free(s->fleet);
    tp_state_free(s->state);
    tp_state_free(s->next_state);
    tp_workloads_free(s->running);
    svc_invalidate(s);
    for (int i = 0; i < s->nviews; i++)
        free(s->views[i].json);
    free(s->views);
    for (int i = 0; i < s->nrecs; i++)
        rec_free(&s->recs[i]);
    free(s->recs);
    tp_strmap_free(s->rec_ix);
    for (int i = 0; i < s->nidem; i++) {
        free(s->idem[i].key);
        free(s->idem[i].hash);
        free(s->idem[i].response);
    }
    free(s->idem);
    tp_strmap_free(s->idem_ix);
    for (int i = 0; i < s->nevents; i++)
        free(s->events[i].domain_id);
    free(s->events);
    free(s);
}

static int serve(svc_t *s, const tp_serve_opts_t *o, tp_error_t *err);

/* With a shared store: campaign, and follow the leader meanwhile. */
static int start_leader(svc_t *s, const char *host, tp_error_t *err)
{
    char url[300];
    bool v6 = strchr(host, ':') != NULL;
    snprintf(url, sizeof url, "%s://%s%s%s:%d", s->o.tls_cert ? "https" : "http",
             v6 ? "[" : "", host, v6 ? "]" : "", tp_httpd_port(s->http));
    tp_leader_opts_t lo = {.urls = s->o.store + 5,
                           .prefix = s->o.store_prefix,
                           .name = s->o.replica_name,
                           .advertise = s->o.advertise ? s->o.advertise : url,
                           .ttl_s = s->o.lease_ttl_s,
                           .keepalive_ms = s->o.keepalive_ms,
                           .poll_ms = s->o.poll_ms};
    if (!tp_leader_start(s, &lo, err))
        return err->code;
    if (!s->has_collectors)
        return 0;
    tp_share_opts_t so = {.urls = lo.urls,
                          .prefix = lo.prefix,
                          .name = lo.name,
                          .ttl_s = lo.ttl_s,
                          .keepalive_ms = lo.keepalive_ms};
    return tp_share_start(s, &so, err) ? 0 : err->code;
}

int tp_serve_run(const tp_serve_opts_t *o, tp_error_t *err)
{
    svc_t *s = calloc(1, sizeof *s);
    if (!s)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    int rc = serve(s, o, err);
    svc_free(s);
    return rc;
}

static int serve(svc_t *s, const tp_serve_opts_t *o, tp_error_t *err)
{
    char host[128];
    int port, rc;
    s->o = *o;
    /* --store sqlite:DIR is --data DIR: the audit log lives beside the journal. */
    if (s->o.store && !strncmp(s->o.store, "sqlite:", 7) && s->o.store[7])
        s->o.data_dir = s->o.store + 7;
    s->data_given = s->o.data_dir != NULL;
    if (!s->o.data_dir)
        s->o.data_dir = "./trustplace-data";
    if (!s->o.listen)
        s->o.listen = "127.0.0.1:8750";
    if (split_listen(s->o.listen, host, sizeof host, &port) < 0)
        return tp_error_set(err, TP_EUSAGE, "--listen: expected HOST:PORT, got \"%s\"",
                            s->o.listen);
    s->profiles = json_array();
    s->preemptions = json_array();
    s->rec_ix = tp_strmap_new(1024);
    s->idem_ix = tp_strmap_new(1024);
    s->adr_orders = json_object();
    if (!s->profiles || !s->preemptions || !s->rec_ix || !s->idem_ix || !s->adr_orders)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    if (!o->ceiling && (rc = recover(s, err)) < 0)
        return rc;
    if (!o->ceiling && (rc = obs_start(s, err)) < 0)
        return rc;
    if (!o->ceiling && tp_store_shared(s->journal) && !s->o.batch_max)
        s->o.batch_max = s->data_given ? 30 : 40; /* one etcd txn per batch, within
            etcd's --max-txn-ops 128 (with the audit log: 3 puts per decision) */
    if (o->tokens && (rc = tp_tokens_load(o->tokens, &s->tokens, err)) < 0)
        return rc;
    if (o->tls_clients && !o->tls_client_ca)
        return tp_error_set(err, TP_EUSAGE, "--tls-clients needs --tls-client-ca");
    if (o->tls_clients && (rc = tp_clients_load(o->tls_clients, &s->clients, err)) < 0)
        return rc;
    if (!(s->k8s = tp_k8s_new(NULL)))
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    if (!o->ceiling && (rc = kube_start(s, err)) < 0)
        return rc;
    if (!o->tokens && !o->tls_clients && !o->ceiling)
        svc_log(s, "warning: no --tokens%s: every request is accepted without a token",
                o->tls_client_ca ? " or --tls-clients (a certificate the client CA "
                                   "issued is enough)"
                                 : "");

    signal(SIGPIPE, SIG_IGN); /* a client that hangs up is not fatal */
    uv_loop_init(&g_loop);
    s->loop = &g_loop;
    /* Recovered work on nodes that lost their attestation meanwhile is evicted
     * before the first request can see it running (the loop only runs this). */
    if (!o->ceiling && !s->has_collectors && s->running->n &&
        !tp_store_shared(s->journal)) {
        enqueue_simple(s, OP_RECONCILE);
        uv_run(s->loop, UV_RUN_DEFAULT);
    }
    tp_httpd_opts_t ho = {.host = host,
                          .port = port,
                          .max_connections = o->max_connections,
                          .max_body = o->max_body ? o->max_body : 4u << 20,
                          .request_timeout_ms = o->request_timeout_ms,
                          .tls_cert = o->tls_cert,
                          .tls_key = o->tls_key,
                          .tls_client_ca = o->tls_client_ca,
                          .handler = o->ceiling ? api_ceiling : api_handle,
                          .arg = s,
                          .observe = o->ceiling ? NULL : obs_request};
    if (!(s->http = tp_httpd_new(s->loop, &ho, err)))
        return err->code;
    tp_serve_httpd_ = s->http;
    uv_timer_init(s->loop, &s->cycle_timer);
    uv_timer_init(s->loop, &s->tick_timer);
    uv_timer_init(s->loop, &s->event_timer);
    s->cycle_timer.data = s->tick_timer.data = s->event_timer.data = s;
    uv_signal_init(s->loop, &s->sighup);
    uv_signal_init(s->loop, &s->sigterm);
    uv_signal_init(s->loop, &s->sigint);
    s->sighup.data = s->sigterm.data = s->sigint.data = s;
    uv_signal_start(&s->sighup, on_signal, SIGHUP);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    if (!o->ceiling) {
        uv_timer_start(&s->tick_timer, on_tick, 1000, 1000);
        if (tp_leader_may_write(s)) /* recovered events due now: at once */
            due_events(s, (int64_t)time(NULL));
        arm_events(s); /* and those that start or end later */
        if ((rc = collectors_start(s, err)) < 0 || (rc = adr_start(s, err)) < 0)
            return rc;
        if (!s->has_collectors && s->running->n && tp_store_shared(s->journal))
            enqueue_simple(s, OP_RECONCILE); /* against the seed state */
    }
    if (o->port_file) {
        FILE *pf = fopen(o->port_file, "w");
        if (pf) {
            fprintf(pf, "%d\n", tp_httpd_port(s->http));
            fclose(pf);
        }
    }
    if (!o->ceiling && tp_store_shared(s->journal) &&
        (rc = start_leader(s, host, err)) < 0)
        return rc;
    svc_log(s, "listening on %s://%s:%d%s%s", o->tls_cert ? "https" : "http", host,
            tp_httpd_port(s->http),
            o->tls_client_ca ? " (client certificates required)" : "",
            o->ceiling ? " (ceiling: every request answered {})" : "");
    uv_run(s->loop, UV_RUN_DEFAULT);
    return 0;
}
