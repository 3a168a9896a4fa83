/*
 * collectors/collect.c — one collection cycle over the fleet, on one libuv loop:
 * a Redfish walk per BMC (nodes sharing a BMC URL share the walk; each picks its
 * System), the latest attestation result per node from its verifier, and an
 * optional dcgm-exporter scrape per node. Facts carry the time they were last
 * read; a fact older than stale_after_s is written as unknown, except facts that
 * only narrow eligibility (a lowered cap, fewer healthy GPUs, a country that
 * contradicts the declared region), which are kept until a fresh read replaces
 * them: a collector failure never widens eligibility. An attestation
 * result carries its own expiry; a verifier that cannot be reached leaves the
 * last accepted result in place (it expires on its own), a result that fails
 * verification removes it.
 *
 * Steady state: a BMC's first walk discovers its tree; a clean walk (every
 * request answered) is kept as the BMC's map, and later cycles poll only the
 * documents its changing facts (power limit, draw, GPU health) were decided
 * by (tp_rf_poll_new). A poll that fails or finds the tree changed
 * (tp_rf_poll_ok) is thrown away and the BMC is walked again in the same
 * cycle, so its facts are exactly what a walk gives; the whole tree is walked
 * again anyway every bmc.rediscover_s. Each BMC's walk (and poll) in a cycle
 * has a budget, bmc.walk_timeout_ms: past it the walk is abandoned (late
 * responses are dropped), its facts age, and the cycle goes on.
 */
#include "collectors/collectors.h"
#include "collectors/http.h"

#include <curl/curl.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_WAITING 64

typedef enum { LOGIN_NONE, LOGIN_RUNNING, LOGIN_OK, LOGIN_FAILED } login_t;

typedef struct {
    int id;
    const char *path; /* borrowed from the walk */
} waiting_t;

typedef struct bmc {
    tp_collector_t *c;
    char *origin, *hostport;
    tp_http_host_t *host;
    int *nodes;
    int nnodes;
    const tp_credential_t *cred;
    tp_rf_walk_t *walk;
    char *token, *session_uri;
    unsigned token_gen; /* bumped by every login, so a 401 to an older token is told
                           from a 401 to the current one */
    login_t login;
    bool relogged, finished, pumping, repump;
    bool insecure;         /* bmc.insecure of the node that introduced it */
    char first_error[192]; /* of this walk, for the log: "GET /path: reason" */
    waiting_t waiting[MAX_WAITING];
    int nwaiting;
    tp_rf_walk_t *map;    /* the last clean discovery: what polls fetch */
    uint64_t map_ms;      /* loop time of that discovery */
    int64_t map_at;       /* and its wall-clock time: when the location was read */
    uint64_t deadline_ms; /* loop time when this cycle's walk budget ends */
    unsigned walk_gen;    /* bumped when a walk is abandoned: late answers dropped */
    bool polling;         /* b->walk polls b->map */
    int slots;            /* of the cycle's walk slots, what this walk holds */
    int inflight;         /* GETs of this walk in flight */
} bmc_t;

typedef struct {
    bmc_t *b;
    int id;
    const char *path;
    unsigned gen;      /* b->token_gen when queued */
    unsigned walk_gen; /* b->walk_gen when queued */
} get_t;

typedef struct {
    tp_collector_t *c;
    int node;
    char nonce[33]; /* attestation requests: the nonce sent, "" when none */
} node_rq_t;

typedef struct {
    char *body;
    size_t len;
    int node;
    char nonce[33];
} stash_t;

typedef struct {
    tp_collector_t *c;
    const tp_verifier_cfg_t *cfg;
    tp_http_host_t *host;
    json_t *jwks;        /* owned: the file's (incref) or the fetched one */
    uint64_t fetched_ms; /* loop time of the last fetch's start (monotonic) */
    bool fetched, fetching;
    int *waiting; /* nodes waiting for the JWKS */
    int nwaiting, cap_waiting;
    stash_t *stash; /* bodies waiting for a refresh on an unknown kid */
    int nstash, cap_stash;
} vstate_t;

typedef struct {
    tp_rf_cap_state_t cap_state;
    double cap_w, draw_w;
    int gpus_healthy;
    char country[3];
    int64_t cap_at, draw_at, gpus_at, country_at; /* 0: never read */
    uint64_t draw_cycle;                          /* the cycle that read draw_w */
    tp_attestation_t att;
    tp_dcgm_t tel;
    bool has_tel;
} facts_t;

struct tp_collector {
    uv_loop_t *loop;
    const tp_fleet_t *f;
    const tp_collect_cfg_t *cfg;
    tp_http_t *http;
    bmc_t *bmcs;
    int nbmcs;
    int *node_bmc; /* [node] → bmc index or -1 */
    vstate_t *vs;
    tp_http_host_t *tel_host;
    facts_t *facts;
    tp_state_t *state;
    tp_collect_stats_t stats;
    uv_timer_t defer;
    uv_timer_t sweep; /* cuts off walks past bmc.walk_timeout_ms */
    int units;
    /* BMC walks run at most max_walks at a time (polls, which hold one
     * connection each, bmc.concurrency times as many), so that each walk keeps
     * its connections alive from request to request instead of all 10,000 BMCs
     * advancing together and evicting each other's connections. */
    int next_walk, active_walks, max_walks;
    /* Odd cycles take the BMCs in order, even ones in reverse: a cycle starts
     * with the BMCs the last one ended with, whose connections the client's
     * cache (most recently used kept) still holds. */
    bool reverse;
    /* A walk holds bmc.concurrency slots of max_walks * bmc.concurrency, a poll
     * one (its requests go one after the other, on one connection). */
    int used_slots;
    int only_bmc; /* tp_collector_restrict: walk this BMC only; -1 all */
    /* tp_collector_set_owned: the mask the next cycle takes (NULL: every node),
     * and the running cycle's copy (NULL: every node); bmc_owned[b]: whether
     * this cycle walks BMC b (one of its nodes is owned) */
    bool *owned_next, *owned, *bmc_owned;
    bool has_owned, cycle_owned; /* a mask is set / the running cycle has one */
    uint64_t cycle_no;
    bool running, closing;
    uint64_t cycle_start;
    tp_collect_done_fn done;
    void *done_arg;
    int logouts;
    void (*close_done)(void *);
    void *close_arg;
    tp_log_fn log;
    void *log_arg;
};

static void cllog(tp_collector_t *c, tp_log_level_t lv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cllog(tp_collector_t *c, tp_log_level_t lv, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (!c->log)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->log(c->log_arg, lv, msg);
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* "https://host:port/anything" → origin "https://host:port" and "host:port". */
static int split_origin(const char *url, char **origin, char **hostport)
{
    const char *p = strstr(url, "://"), *e;
    if (!p)
        return -1;
    p += 3;
    e = p + strcspn(p, "/?#");
    if (e == p)
        return -1;
    *origin = strndup(url, (size_t)(e - url));
    *hostport = strndup(p, (size_t)(e - p));
    if (!*origin || !*hostport) {
        free(*origin);
        free(*hostport);
        return -1;
    }
    return 0;
}

/* Expands {node} (URL-escaped) and {bmc_host} in a template; caller frees. */
static char *expand(const char *tpl, const char *node, const char *bmc_host)
{
    char *esc = curl_easy_escape(NULL, node, 0), *out;
    size_t cap = strlen(tpl) + 1, o = 0;
    const char *p;
    if (!esc)
        return NULL;
    for (p = tpl; *p; p++)
        if (*p == '{')
            cap += strlen(esc) + (bmc_host ? strlen(bmc_host) : 0);
    out = malloc(cap);
    if (!out) {
        curl_free(esc);
        return NULL;
    }
    for (p = tpl; *p;) {
        if (!strncmp(p, "{node}", 6)) {
            o += (size_t)sprintf(out + o, "%s", esc);
            p += 6;
        } else if (!strncmp(p, "{bmc_host}", 10) && bmc_host) {
            o += (size_t)sprintf(out + o, "%s", bmc_host);
            p += 10;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    curl_free(esc);
    return out;
}

static void facts_init(facts_t *nf)
{
    memset(nf, 0, sizeof *nf);
    nf->cap_w = nf->draw_w = NAN;
    nf->gpus_healthy = -1;
    nf->att.cpu_tee = TP_TEE_UNKNOWN;
    nf->att.gpu_cc = -1;
}

static void att_clear(tp_attestation_t *a)
{
    free(a->verifier);
    free(a->evidence);
    memset(a, 0, sizeof *a);
    a->cpu_tee = TP_TEE_UNKNOWN;
    a->gpu_cc = -1;
}

/* ---- cycle bookkeeping
 * -------------------------------------------------------------------- */

static bool fresh(int64_t at, int64_t now, int stale)
{
    return at > 0 && now - at <= stale;
}

static void build_state(tp_collector_t *c)
{
    const tp_fleet_t *f = c->f;
    tp_state_t *s = tp_state_new_empty(f);
    int64_t now = now_s();
    int stale = c->cfg->stale_after_s;
    if (!s) {
        cllog(c, TP_LOG_ERROR,
              "out of memory building the state; keeping the previous one");
        return;
    }
    s->observed_at = now;
    for (int n = 0; n < f->nnodes; n++) {
        facts_t *nf = &c->facts[n];
        tp_node_obs_t *o = &s->nodes[n];
        /* Facts that can only narrow what a node may take (a lowered cap, fewer
         * healthy GPUs, a country that contradicts the declared region) outlive
         * staleness: losing a BMC must never widen eligibility. Facts that widen
         * it (a country that verifies the region) and the draw expire. */
        if (nf->cap_at > 0 &&
            (fresh(nf->cap_at, now, stale) || nf->cap_state == TP_RF_CAP_SET)) {
            o->known = true;
            if (nf->cap_state == TP_RF_CAP_SET)
                o->cap_w = nf->cap_w;
        }
        if (fresh(nf->draw_at, now, stale)) {
            o->known = true;
            o->draw_w = nf->draw_w;
        }
        if (nf->gpus_at > 0) {
            o->known = true;
            o->gpus_healthy = nf->gpus_healthy;
            if (o->gpus_healthy > f->nodes[n].gpus) {
                cllog(c, TP_LOG_WARN,
                      "node %s: the BMC reports %d healthy GPUs, the fleet declares %d; "
                      "counting %d",
                      f->nodes[n].id, o->gpus_healthy, f->nodes[n].gpus,
                      f->nodes[n].gpus);
                o->gpus_healthy = f->nodes[n].gpus;
            }
        }
        if (fresh(nf->country_at, now, stale) ||
            (nf->country_at > 0 && nf->country[0] &&
             !tp_region_has_country(&f->regions[f->nodes[n].region], nf->country))) {
            o->known = true;
            memcpy(o->country, nf->country, 3);
        }
        if (nf->att.present) {
            o->known = true;
            o->att = nf->att;
            o->att.verifier = nf->att.verifier ? strdup(nf->att.verifier) : NULL;
            o->att.evidence = nf->att.evidence ? strdup(nf->att.evidence) : NULL;
        }
    }
    tp_state_free(c->state);
    c->state = s;
}

static void on_defer(uv_timer_t *t)
{
    tp_collector_t *c = t->data;
    const tp_http_stats_t *hs;
    build_state(c);
    hs = tp_http_stats(c->http);
    c->stats.wall_s = (double)(uv_hrtime() - c->cycle_start) / 1e9;
    c->stats.requests = hs->requests;
    c->stats.failures = hs->failures;
    c->stats.retries = hs->retries;
    c->stats.bytes = hs->bytes;
    c->stats.latency_sum_s = hs->latency_sum_s;
    c->stats.max_inflight = hs->max_inflight;
    c->stats.connects = hs->connects;
    c->running = false;
    uv_timer_stop(&c->sweep);
    if (c->done)
        c->done(c, c->done_arg);
}

static void unit_done(tp_collector_t *c)
{
    if (--c->units == 0 && !c->closing)
        uv_timer_start(&c->defer, on_defer, 0, 0);
}

/* ---- Redfish
 * ---------------------------------------------------------------------------------- */

static void pump(bmc_t *b);

static int on_get(void *arg, const tp_http_resp_t *r);

static void issue_get(bmc_t *b, int id, const char *path)
{
    get_t *q = malloc(sizeof *q);
    if (!q || tp_http_request(b->host, TP_HTTP_GET, path, NULL, on_get, q) < 0) {
        free(q);
        tp_rf_walk_feed_doc(b->walk, id, 0, NULL);
        return;
    }
    *q = (get_t){b, id, path, b->token_gen, b->walk_gen};
    b->inflight++;
}

static void start_walks(tp_collector_t *c);

/* Whether b's next walk polls its map: there is one, younger than
 * rediscover_s, and young enough that the location it holds (read by that
 * walk, not by polls) cannot go stale before this cycle's walk budget ends. */
static bool will_poll(const bmc_t *b)
{
    const tp_collector_t *c = b->c;
    int64_t limit = (int64_t)c->cfg->rediscover_s * 1000;
    int64_t fresh = (int64_t)c->cfg->stale_after_s * 1000 - c->cfg->walk_timeout_ms;
    if (fresh < limit)
        limit = fresh;
    return b->map && uv_now(c->loop) - b->map_ms < (uint64_t)(limit > 0 ? limit : 0);
}

/* A walk for b: a poll of its map (will_poll), else a discovery. False on
 * ENOMEM. */
static bool new_walk(bmc_t *b)
{
    b->polling = false;
    if (will_poll(b))
        b->walk = tp_rf_poll_new(b->map);
    if (b->walk)
        b->polling = true;
    else
        b->walk = tp_rf_walk_new();
    return b->walk != NULL;
}

/* The end of b's part of the cycle (after its facts are taken, or not). */
static void bmc_done(bmc_t *b)
{
    tp_collector_t *c = b->c;
    b->finished = true;
    c->active_walks--;
    c->used_slots -= b->slots;
    c->stats.bmcs++;
    start_walks(c);
    unit_done(c);
}

static void finish_bmc(bmc_t *b)
{
    tp_collector_t *c = b->c;
    int64_t now = now_s();
    if (b->polling && !tp_rf_poll_ok(b->walk)) {
        /* A poll request failed or the tree changed: its answers are not used;
         * the BMC is walked again now, within the same budget. */
        cllog(c, TP_LOG_INFO, "BMC %s: poll: %s; walking its tree again", b->origin,
              b->first_error[0] ? b->first_error : "its sources changed");
        c->stats.rediscoveries++;
        tp_rf_walk_free(b->walk);
        b->walk = NULL;
        tp_rf_walk_free(b->map);
        b->map = NULL;
        b->polling = false;
        c->used_slots += c->cfg->bmc_concurrency - b->slots;
        b->slots = c->cfg->bmc_concurrency;
        b->first_error[0] = '\0';
        if (!(b->walk = tp_rf_walk_new())) {
            cllog(c, TP_LOG_ERROR, "out of memory");
            bmc_done(b);
            return;
        }
        pump(b);
        return;
    }
    b->finished = true;
    if (tp_rf_walk_root_ok(b->walk))
        c->stats.bmcs_ok++;
    else
        cllog(c, TP_LOG_WARN,
              "BMC %s: the service root did not answer (%s); its facts age", b->origin,
              b->first_error[0] ? b->first_error : "no response");
    for (int k = 0; k < b->nnodes; k++) {
        int n = b->nodes[k];
        facts_t *nf = &c->facts[n];
        tp_rf_facts_t rf;
        tp_error_t err = {0};
        if (!tp_rf_walk_root_ok(b->walk))
            continue;
        if (tp_rf_walk_facts(b->walk, c->cfg->node_system[n], &rf, &err) < 0) {
            cllog(c, TP_LOG_WARN, "node %s (BMC %s): %s%s%s", c->f->nodes[n].id,
                  b->origin, err.text, b->first_error[0] ? "; first failure: " : "",
                  b->first_error);
            continue;
        }
        if (rf.cap_state != TP_RF_CAP_UNKNOWN) {
            nf->cap_state = rf.cap_state;
            nf->cap_w = rf.cap_w;
            nf->cap_at = now;
        }
        if (!isnan(rf.draw_w)) {
            nf->draw_w = rf.draw_w;
            nf->draw_at = now;
            nf->draw_cycle = c->cycle_no;
        }
        if (rf.gpus_healthy >= 0) {
            nf->gpus_healthy = rf.gpus_healthy;
            nf->gpus_at = now;
            if (rf.gpus_partial)
                cllog(c, TP_LOG_WARN,
                      "node %s: a processor could not be read; %d healthy GPUs is a "
                      "lower bound",
                      c->f->nodes[n].id, rf.gpus_healthy);
        }
        memcpy(nf->country, rf.country, 3);
        /* The location comes from the map when polling: as old as the map. */
        nf->country_at = b->polling ? b->map_at : now;
    }
    if (tp_rf_walk_failures(b->walk))
        cllog(c, TP_LOG_DEBUG, "BMC %s: %d of %d requests failed", b->origin,
              tp_rf_walk_failures(b->walk), tp_rf_walk_requests(b->walk));
    if (b->polling) {
        c->stats.bmcs_polled++;
        tp_rf_walk_free(b->walk);
    } else {
        /* A clean discovery becomes the map; any other drops the old one. */
        tp_rf_walk_free(b->map);
        b->map = NULL;
        if (c->cfg->rediscover_s > 0 && tp_rf_walk_root_ok(b->walk) &&
            tp_rf_walk_failures(b->walk) == 0) {
            b->map = b->walk;
            b->map_ms = uv_now(c->loop);
            b->map_at = now;
        } else {
            tp_rf_walk_free(b->walk);
        }
    }
    b->walk = NULL;
    bmc_done(b);
}

/* b's walk ran past bmc.walk_timeout_ms: abandoned, its facts age. */
static void abort_walk(bmc_t *b)
{
    tp_collector_t *c = b->c;
    cllog(c, TP_LOG_WARN,
          "BMC %s: %s longer than bmc.walk_timeout_ms (%d ms); stopped, its facts "
          "age%s%s",
          b->origin, b->polling ? "polling took" : "the walk took",
          c->cfg->walk_timeout_ms, b->first_error[0] ? "; first failure: " : "",
          b->first_error);
    b->walk_gen++;
    tp_rf_walk_free(b->walk);
    b->walk = NULL;
    b->nwaiting = 0;
    if (!b->polling) { /* a discovery cut short: discover again next time */
        tp_rf_walk_free(b->map);
        b->map = NULL;
    }
    b->polling = false;
    c->stats.walks_timed_out++;
    bmc_done(b);
}

static void on_sweep(uv_timer_t *t)
{
    tp_collector_t *c = t->data;
    uint64_t now = uv_now(c->loop);
    for (int i = 0; i < c->nbmcs && !c->closing; i++) {
        bmc_t *b = &c->bmcs[i];
        if (b->walk && !b->finished && now >= b->deadline_ms)
            abort_walk(b);
    }
}

static int on_login(void *arg, const tp_http_resp_t *r)
{
    bmc_t *b = arg;
    tp_collector_t *c = b->c;
    if (r->cancelled || c->closing)
        return TP_HTTP_DONE;
    if ((r->status == 200 || r->status == 201) && r->auth_token) {
        b->login = LOGIN_OK;
        free(b->token);
        b->token = strdup(r->auth_token);
        b->token_gen++;
        tp_http_host_set_token(b->host, b->token);
        free(b->session_uri);
        b->session_uri = NULL;
        /* The session is deleted at logout, with the token: only on this origin. */
        if (r->location && ((r->location[0] == '/' && r->location[1] != '/') ||
                            tp_http_same_origin(r->location, b->origin)))
            b->session_uri = strdup(r->location);
        else if (r->location)
            cllog(c, TP_LOG_WARN,
                  "BMC %s: session Location is on another origin; it gets no token "
                  "(no logout)",
                  b->origin);
    } else {
        char why[32];
        b->login = LOGIN_FAILED;
        cllog(c, TP_LOG_ERROR, "BMC %s: session login failed (%s); its facts age",
              b->origin, tp_http_why(r, why, sizeof why));
    }
    while (b->nwaiting > 0) {
        waiting_t w = b->waiting[--b->nwaiting];
        if (b->login == LOGIN_OK)
            issue_get(b, w.id, w.path);
        else
            tp_rf_walk_feed_doc(b->walk, w.id, 401, NULL);
    }
    pump(b);
    return TP_HTTP_DONE;
}

static void start_login(bmc_t *b)
{
    const char *sessions = tp_rf_walk_sessions(b->walk);
    json_t *req;
    char *body;
    b->login = LOGIN_RUNNING;
    if (!sessions) {
        b->login = LOGIN_FAILED;
        cllog(b->c, TP_LOG_ERROR,
              "BMC %s: no Links.Sessions in the service root; cannot log in", b->origin);
        return;
    }
    req = json_pack("{s:s,s:s}", "UserName", b->cred->username, "Password",
                    b->cred->password);
    body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body || tp_http_request(b->host, TP_HTTP_POST, sessions, body, on_login, b) < 0)
        b->login = LOGIN_FAILED;
    if (body) {
        memset(body, 0, strlen(body));
        free(body);
    }
}

static void pump_once(bmc_t *b)
{
    tp_collector_t *c = b->c;
    for (;;) {
        const char *path;
        int id;
        if (c->cfg->auth == TP_BMC_AUTH_SESSION && b->cred &&
            tp_rf_walk_root_ok(b->walk) && b->login != LOGIN_OK &&
            b->login != LOGIN_FAILED) {
            if (b->login == LOGIN_NONE)
                start_login(b);
            if (b->login == LOGIN_RUNNING)
                return;
        }
        /* A poll's few requests go one after the other: one connection. */
        if (b->polling && b->inflight > 0)
            return;
        id = tp_rf_walk_next(b->walk, &path);
        if (id < 0)
            return;
        issue_get(b, id, path);
    }
}

static void pump(bmc_t *b)
{
    if (!b->walk || b->finished) /* abandoned (walk_timeout_ms), or over */
        return;
    if (b->pumping) {
        b->repump = true;
        return;
    }
    b->pumping = true;
    do {
        b->repump = false;
        pump_once(b);
    } while (b->repump);
    b->pumping = false;
    if (!b->finished && b->walk && tp_rf_walk_done(b->walk) && b->login != LOGIN_RUNNING)
        finish_bmc(b);
}

static int on_get(void *arg, const tp_http_resp_t *r)
{
    get_t *q = arg;
    bmc_t *b = q->b;
    tp_collector_t *c = b->c;
    json_t *doc = NULL;
    if (r->cancelled || c->closing || q->walk_gen != b->walk_gen || !b->walk) {
        free(q); /* the walk it was for was abandoned */
        return TP_HTTP_DONE;
    }
    b->inflight--;
    if (r->status == 401 && c->cfg->auth == TP_BMC_AUTH_SESSION && b->cred &&
        b->login == LOGIN_OK && q->gen != b->token_gen) {
        /* Sent with the token a re-login has since replaced: send it again (once:
         * the copy carries the current generation). */
        int id = q->id;
        const char *path = q->path;
        free(q);
        issue_get(b, id, path);
        return TP_HTTP_DONE;
    }
    if (r->status == 401 && c->cfg->auth == TP_BMC_AUTH_SESSION && b->cred &&
        b->nwaiting < MAX_WAITING && (!b->relogged || b->login == LOGIN_RUNNING)) {
        /* The session timed out: log in again once per walk, then repeat the
         * request. A BMC that answers 401 to the new token too gets no third
         * login: its requests fail and its facts become unknown. */
        if (!b->relogged) {
            b->relogged = true;
            cllog(c, TP_LOG_INFO, "BMC %s: session rejected (401); logging in again",
                  b->origin);
            if (b->login != LOGIN_RUNNING) {
                b->login = LOGIN_NONE;
                tp_http_host_set_token(b->host, NULL);
                start_login(b);
            }
        }
        if (b->login == LOGIN_RUNNING) {
            b->waiting[b->nwaiting++] = (waiting_t){q->id, q->path};
            free(q);
            return TP_HTTP_DONE;
        }
    }
    if (r->status >= 200 && r->status < 300) {
        doc = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, NULL);
        if (!doc && !r->last) /* truncated or garbled: ask again */
            return TP_HTTP_RETRY;
    }
    if (!doc) {
        char why[32];
        cllog(c, TP_LOG_DEBUG, "BMC %s: GET %s: %s", b->origin, q->path,
              tp_http_why(r, why, sizeof why));
        if (!b->first_error[0]) {
            if (r->error)
                snprintf(b->first_error, sizeof b->first_error, "GET %s: %s", q->path,
                         r->error);
            else
                snprintf(b->first_error, sizeof b->first_error, "GET %s: HTTP %d%s",
                         q->path, r->status,
                         r->status >= 200 && r->status < 300 ? " (unparsable body)" : "");
        }
    }
    tp_rf_walk_feed_doc(b->walk, q->id, r->status, doc);
    json_decref(doc);
    free(q);
    pump(b);
    return TP_HTTP_DONE;
}

static void start_bmc(bmc_t *b)
{
    b->finished = b->relogged = false;
    b->nwaiting = 0;
    b->first_error[0] = '\0';
    if (b->login == LOGIN_FAILED || b->login == LOGIN_RUNNING)
        b->login = b->token ? LOGIN_OK : LOGIN_NONE;
    b->c->active_walks++;
    b->inflight = 0;
    b->slots = 0;
    b->deadline_ms = uv_now(b->c->loop) + (uint64_t)b->c->cfg->walk_timeout_ms;
    if (!new_walk(b)) {
        cllog(b->c, TP_LOG_ERROR, "out of memory");
        bmc_done(b);
        return;
    }
    b->slots = b->polling ? 1 : b->c->cfg->bmc_concurrency;
    b->c->used_slots += b->slots;
    pump(b);
}

/* Starts walks while there is room; each BMC is one unit of the cycle from the
 * cycle's start, so the cycle cannot end with walks still waiting. */
static void start_walks(tp_collector_t *c)
{
    int cap = c->max_walks * c->cfg->bmc_concurrency;
    while (!c->closing && c->next_walk < c->nbmcs) {
        int bi = c->reverse ? c->nbmcs - 1 - c->next_walk : c->next_walk;
        bmc_t *b = &c->bmcs[bi];
        if (c->cycle_owned && !c->bmc_owned[bi]) { /* another replica's */
            c->next_walk++;
            c->units--; /* its unit, held since the cycle's start */
            continue;
        }
        int cost = will_poll(b) ? 1 : c->cfg->bmc_concurrency;
        if (c->used_slots > 0 && c->used_slots + cost > cap)
            break;
        c->next_walk++;
        start_bmc(b);
    }
}

/* ---- attestation
 * ------------------------------------------------------------------------------ */

static void issue_att(tp_collector_t *c, int n);

static void verify_body(tp_collector_t *c, int n, const char *body, size_t len,
                        const char *nonce, bool may_refresh);

static void fetch_jwks(tp_collector_t *c, vstate_t *vs);

static void att_fail(tp_collector_t *c, int n)
{
    (void)n;
    unit_done(c);
}

static int stash_push(vstate_t *vs, int n, const char *body, size_t len,
                      const char *nonce)
{
    if (vs->nstash == vs->cap_stash) {
        int cap = vs->cap_stash ? 2 * vs->cap_stash : 8;
        stash_t *p = realloc(vs->stash, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        vs->stash = p;
        vs->cap_stash = cap;
    }
    vs->stash[vs->nstash].body = malloc(len + 1);
    if (!vs->stash[vs->nstash].body)
        return -1;
    memcpy(vs->stash[vs->nstash].body, body, len);
    vs->stash[vs->nstash].body[len] = '\0';
    vs->stash[vs->nstash].len = len;
    vs->stash[vs->nstash].node = n;
    snprintf(vs->stash[vs->nstash].nonce, sizeof vs->stash[vs->nstash].nonce, "%s",
             nonce ? nonce : "");
    vs->nstash++;
    return 0;
}

static void verify_body(tp_collector_t *c, int n, const char *body, size_t len,
                        const char *nonce, bool may_refresh)
{
    const tp_node_t *nd = &c->f->nodes[n];
    vstate_t *vs = &c->vs[c->cfg->node_verifier[n]];
    const tp_verifier_cfg_t *v = vs->cfg;
    facts_t *nf = &c->facts[n];
    const json_t *ids = json_object_get(v->identities, nd->id);
    const char *idv[64];
    tp_att_opts_t o;
    tp_att_result_t res;
    int rc;
    tp_att_opts_init(&o);
    /* The result must name this node (docs/collectors.md, binding). */
    o.format = v->format;
    o.bind = v->bind;
    o.node_claim = v->node_claim;
    o.node_id = nd->id;
    for (size_t i = 0; i < json_array_size(ids) && i < 64; i++)
        idv[o.n_node_ids++] = json_string_value(json_array_get(ids, i));
    o.node_ids = o.n_node_ids ? idv : NULL;
    o.nonce = v->nonce ? nonce : NULL;
    o.verifier_developer = v->verifier_developer;
    o.verifier_build = v->verifier_build;
    o.algs = v->algs;
    o.jwks = vs->jwks;
    o.roots = v->roots;
    o.issuer = v->issuer;
    o.verifier = v->name;
    o.max_age_s = v->max_age_s;
    o.require = v->require;
    o.deny_test_keys = !v->allow_test_keys;
    rc = tp_att_verify(body, len, &o, &res);
    if (rc == 1 && res.reason == TP_ATT_R_KID_UNKNOWN && may_refresh && v->jwks_url &&
        (vs->fetching || !vs->fetched ||
         uv_now(c->loop) - vs->fetched_ms >= (uint64_t)v->jwks_refresh_s * 1000)) {
        /* A key we have not seen (the verifier rotated its key?): wait for the
         * fetch in flight, or refetch the JWKS if the last fetch is older than
         * jwks_refresh_s, then decide once with what came back. Within the
         * interval an unknown kid is rejected without a request, so a stream of
         * them costs one fetch per interval at most. */
        if (stash_push(vs, n, body, len, nonce) == 0) {
            if (!vs->fetching) {
                cllog(c, TP_LOG_INFO, "verifier %s: unknown kid \"%s\"; refetching %s",
                      v->name, res.kid, v->jwks_url);
                fetch_jwks(c, vs);
            }
            tp_att_result_fini(&res);
            return;
        }
        tp_att_result_fini(&res);
        rc = tp_att_verify(body, len, &o, &res);
    }
    if (rc == 0) {
        if (!nf->att.present || res.att.issued_at >= nf->att.issued_at) {
            att_clear(&nf->att);
            nf->att = res.att;
            res.att.verifier = res.att.evidence = NULL;
        } else {
            cllog(c, TP_LOG_WARN,
                  "node %s: verifier %s returned an older result; kept the newer", nd->id,
                  v->name);
        }
        c->stats.nodes_attested++;
        if (res.unbound)
            cllog(c, TP_LOG_WARN,
                  "node %s: the result from %s does not name its node; taken as status "
                  "none",
                  nd->id, v->name);
        if (res.test_key)
            cllog(c, TP_LOG_WARN, "node %s: result signed with a published TEST key",
                  nd->id);
    } else {
        cllog(c, TP_LOG_WARN, "node %s: attestation result from %s rejected: %s: %s",
              nd->id, v->name, rc == 1 ? tp_att_reason_name(res.reason) : "unusable",
              res.detail);
        att_clear(&nf->att);
        c->stats.nodes_rejected++;
    }
    tp_att_result_fini(&res);
    unit_done(c);
}

static int on_att(void *arg, const tp_http_resp_t *r)
{
    node_rq_t *q = arg;
    tp_collector_t *c = q->c;
    int n = q->node;
    char nonce[33];
    memcpy(nonce, q->nonce, sizeof nonce);
    free(q);
    if (r->cancelled || c->closing)
        return TP_HTTP_DONE;
    if (r->status != 200) {
        char why[32];
        cllog(c, TP_LOG_WARN,
              "node %s: verifier unreachable (%s); the last result stands until "
              "it expires",
              c->f->nodes[n].id, tp_http_why(r, why, sizeof why));
        att_fail(c, n);
        return TP_HTTP_DONE;
    }
    verify_body(c, n, r->body, r->len, nonce, true);
    return TP_HTTP_DONE;
}

static void issue_att(tp_collector_t *c, int n)
{
    vstate_t *vs = &c->vs[c->cfg->node_verifier[n]];
    node_rq_t *q = calloc(1, sizeof *q);
    char *url = expand(vs->cfg->url, c->f->nodes[n].id, NULL), *np;
    /* A fresh relying-party nonce per request ({nonce}: 32 hex characters). */
    if (q && url && vs->cfg->nonce && tp_att_nonce_new(q->nonce) == 0 &&
        (np = strstr(url, "{nonce}")) != NULL) {
        char *u2 = malloc(strlen(url) + 32);
        if (u2) {
            sprintf(u2, "%.*s%s%s", (int)(np - url), url, q->nonce, np + 7);
            free(url);
            url = u2;
        }
    }
    if (!q || !url || (vs->cfg->nonce && strstr(url, "{nonce}")) ||
        tp_http_request(vs->host, TP_HTTP_GET, url, NULL, on_att, q) < 0) {
        free(q);
        free(url);
        att_fail(c, n);
        return;
    }
    q->c = c;
    q->node = n;
    free(url);
}

static int on_jwks(void *arg, const tp_http_resp_t *r)
{
    vstate_t *vs = arg;
    tp_collector_t *c = vs->c;
    tp_error_t err = {0};
    json_t *jwks = NULL;
    if (r->cancelled || c->closing)
        return TP_HTTP_DONE;
    vs->fetching = false;
    if (r->status == 200)
        jwks = tp_jwks_parse(r->body, r->len, vs->cfg->jwks_url, &err);
    if (jwks) {
        json_decref(vs->jwks);
        vs->jwks = jwks;
    } else {
        cllog(c, TP_LOG_ERROR, "verifier %s: JWKS %s unusable (%s)", vs->cfg->name,
              vs->cfg->jwks_url,
              r->status == 200 ? err.text : (r->error ? r->error : "HTTP error"));
    }
    /* Nodes that waited for keys, then bodies that waited for a refresh. */
    while (vs->nwaiting > 0) {
        int n = vs->waiting[--vs->nwaiting];
        if (vs->jwks)
            issue_att(c, n);
        else
            att_fail(c, n);
    }
    while (vs->nstash > 0) {
        stash_t st = vs->stash[--vs->nstash];
        verify_body(c, st.node, st.body, st.len, st.nonce, false);
        free(st.body);
    }
    return TP_HTTP_DONE;
}

static void fetch_jwks(tp_collector_t *c, vstate_t *vs)
{
    vs->fetching = true;
    vs->fetched = true;
    vs->fetched_ms = uv_now(c->loop);
    c->stats.jwks_fetches++;
    if (tp_http_request(vs->host, TP_HTTP_GET, vs->cfg->jwks_url, NULL, on_jwks, vs) <
        0) {
        tp_http_resp_t r = {
            0, "cannot queue the JWKS request", "", 0, NULL, NULL, 0, true, false};
        (void)c;
        on_jwks(vs, &r);
    }
}

static void start_att(tp_collector_t *c, int n)
{
    vstate_t *vs = &c->vs[c->cfg->node_verifier[n]];
    c->units++;
    if (!vs->jwks) {
        if (vs->nwaiting == vs->cap_waiting) {
            int cap = vs->cap_waiting ? 2 * vs->cap_waiting : 64;
            int *p = realloc(vs->waiting, (size_t)cap * sizeof *p);
            if (!p) {
                att_fail(c, n);
                return;
            }
            vs->waiting = p;
            vs->cap_waiting = cap;
        }
        vs->waiting[vs->nwaiting++] = n;
        if (!vs->fetching)
            fetch_jwks(c, vs);
        return;
    }
    issue_att(c, n);
}

/* ---- telemetry
 * -------------------------------------------------------------------------------- */

static int on_tel(void *arg, const tp_http_resp_t *r)
{
    node_rq_t *q = arg;
    tp_collector_t *c = q->c;
    int n = q->node;
    facts_t *nf;
    tp_dcgm_t d;
    tp_error_t err = {0};
    free(q);
    if (r->cancelled || c->closing)
        return TP_HTTP_DONE;
    nf = &c->facts[n];
    if (r->status == 200 && tp_dcgm_parse(r->body, r->len, &d, &err) == 0) {
        tp_dcgm_fini(&nf->tel);
        nf->tel = d;
        nf->has_tel = true;
    } else {
        cllog(c, TP_LOG_DEBUG, "node %s: dcgm-exporter: %s", c->f->nodes[n].id,
              r->status == 200 ? err.text : (r->error ? r->error : "HTTP error"));
        tp_dcgm_fini(&nf->tel);
        nf->has_tel = false;
    }
    unit_done(c);
    return TP_HTTP_DONE;
}

static void start_tel(tp_collector_t *c, int n)
{
    int bi = c->node_bmc[n];
    node_rq_t *q = malloc(sizeof *q);
    char *url =
        expand(c->cfg->telemetry, c->f->nodes[n].id, bi >= 0 ? c->bmcs[bi].hostport : "");
    c->units++;
    if (!q || !url ||
        tp_http_request(c->tel_host, TP_HTTP_GET, url, NULL, on_tel, q) < 0) {
        free(q);
        free(url);
        unit_done(c);
        return;
    }
    q->c = c;
    q->node = n;
    free(url);
}

/* ---- life cycle
 * --------------------------------------------------------------------------------- */

static int find_bmc(const tp_collector_t *c, const char *origin)
{
    for (int i = 0; i < c->nbmcs; i++)
        if (!strcmp(c->bmcs[i].origin, origin))
            return i;
    return -1;
}

static void free_all(tp_collector_t *c)
{
    for (int i = 0; i < c->nbmcs; i++) {
        bmc_t *b = &c->bmcs[i];
        free(b->origin);
        free(b->hostport);
        free(b->nodes);
        tp_rf_walk_free(b->walk); /* a poll borrows from the map: freed first */
        tp_rf_walk_free(b->map);
        free(b->token);
        free(b->session_uri);
    }
    free(c->bmcs);
    for (int i = 0; c->vs && i < c->cfg->nverifiers; i++) {
        vstate_t *vs = &c->vs[i];
        json_decref(vs->jwks);
        free(vs->waiting);
        for (int k = 0; k < vs->nstash; k++)
            free(vs->stash[k].body);
        free(vs->stash);
    }
    free(c->vs);
    for (int n = 0; c->facts && n < c->f->nnodes; n++) {
        att_clear(&c->facts[n].att);
        tp_dcgm_fini(&c->facts[n].tel);
    }
    free(c->facts);
    free(c->owned_next);
    free(c->owned);
    free(c->bmc_owned);
    free(c->node_bmc);
    tp_state_free(c->state);
    free(c);
}

tp_collector_t *tp_collector_new(uv_loop_t *loop, const tp_fleet_t *f,
                                 const tp_collect_cfg_t *cfg, tp_error_t *err)
{
    tp_collector_t *c = calloc(1, sizeof *c);
    tp_error_clear(err);
    if (!c) {
        tp_error_set(err, TP_ENOMEM, "out of memory");
        return NULL;
    }
    c->loop = loop;
    c->f = f;
    c->cfg = cfg;
    c->facts = calloc((size_t)f->nnodes + 1, sizeof *c->facts);
    c->node_bmc = malloc(((size_t)f->nnodes + 1) * sizeof *c->node_bmc);
    c->bmcs = calloc((size_t)f->nnodes + 1, sizeof *c->bmcs);
    c->vs = calloc((size_t)cfg->nverifiers + 1, sizeof *c->vs);
    c->state = tp_state_new_empty(f);
    if (!c->facts || !c->node_bmc || !c->bmcs || !c->vs || !c->state)
        goto nomem;
    c->http = tp_http_new(loop, cfg->global_concurrency, cfg->backoff_ms,
                          cfg->backoff_max_ms, cfg->max_body, cfg->seed, err);
    if (!c->http)
        goto fail;
    if (tp_http_set_proxy(c->http, cfg->proxy) < 0)
        goto nomem;
    for (int n = 0; n < f->nnodes; n++) {
        const tp_node_t *nd = &f->nodes[n];
        char *origin = NULL, *hostport = NULL;
        int bi;
        facts_init(&c->facts[n]);
        c->node_bmc[n] = -1;
        if (!nd->bmc_url)
            continue;
        if (split_origin(nd->bmc_url, &origin, &hostport) < 0) {
            tp_error_set(err, TP_EINVAL, "node %s: bmc.url \"%s\" has no host", nd->id,
                         nd->bmc_url);
            goto fail;
        }
        bi = find_bmc(c, origin);
        if (bi < 0) {
            bmc_t *b = &c->bmcs[c->nbmcs];
            const tp_credential_t *cred =
                cfg->node_cred[n] >= 0 ? &cfg->creds[cfg->node_cred[n]] : NULL;
            tp_http_host_opts_t o = {cfg->bmc_concurrency,
                                     cfg->timeout_ms,
                                     cfg->connect_timeout_ms,
                                     cfg->retries,
                                     cfg->ca_file,
                                     nd->bmc_insecure,
                                     NULL,
                                     NULL};
            if (cfg->auth == TP_BMC_AUTH_BASIC && cred) {
                o.user = cred->username;
                o.password = cred->password;
            }
            b->c = c;
            b->origin = origin;
            b->hostport = hostport;
            b->cred = cfg->auth == TP_BMC_AUTH_NONE ? NULL : cred;
            b->nodes = malloc(sizeof *b->nodes);
            b->host = tp_http_host_new(c->http, origin, &o);
            if (!b->nodes || !b->host)
                goto nomem;
            b->insecure = nd->bmc_insecure;
            bi = c->nbmcs++;
        } else {
            int *p = realloc(c->bmcs[bi].nodes, (size_t)(c->bmcs[bi].nnodes + 1) *
                                                    sizeof *c->bmcs[bi].nodes);
            free(origin);
            free(hostport);
            if (!p)
                goto nomem;
            c->bmcs[bi].nodes = p;
        }
        c->bmcs[bi].nodes[c->bmcs[bi].nnodes++] = n;
        c->node_bmc[n] = bi;
    }
    for (int i = 0; i < cfg->nverifiers; i++) {
        const tp_verifier_cfg_t *v = &cfg->verifiers[i];
        tp_http_host_opts_t o = {v->concurrency,
                                 cfg->timeout_ms,
                                 cfg->connect_timeout_ms,
                                 cfg->retries,
                                 v->ca_file ? v->ca_file : cfg->ca_file,
                                 v->insecure,
                                 NULL,
                                 NULL};
        c->vs[i].c = c;
        c->vs[i].cfg = v;
        c->vs[i].jwks = json_incref(v->jwks);
        c->vs[i].host = tp_http_host_new(c->http, "", &o);
        if (!c->vs[i].host)
            goto nomem;
    }
    if (cfg->telemetry) {
        tp_http_host_opts_t o = {
            256, cfg->timeout_ms, cfg->connect_timeout_ms, 0, cfg->ca_file, false, NULL,
            NULL};
        if (!(c->tel_host = tp_http_host_new(c->http, "", &o)))
            goto nomem;
    }
    c->only_bmc = -1;
    c->max_walks = cfg->global_concurrency / cfg->bmc_concurrency;
    if (c->max_walks < 1)
        c->max_walks = 1;
    uv_timer_init(loop, &c->defer);
    c->defer.data = c;
    uv_timer_init(loop, &c->sweep);
    c->sweep.data = c;
    return c;
nomem:
    tp_error_set(err, TP_ENOMEM, "out of memory");
fail:
    if (c->http) {
        /* Nothing was started: the client closes without callbacks into c. */
        tp_http_close(c->http, NULL, NULL);
        c->http = NULL;
    }
    free_all(c);
    return NULL;
}

/* Said at the start of the first cycle (tp_collector_new runs before the caller
 * can set the log), so that every run says it. */
static void warn_insecure(tp_collector_t *c)
{
    for (int i = 0; i < c->nbmcs; i++) {
        const bmc_t *b = &c->bmcs[i];
        if (b->insecure && (c->only_bmc < 0 || c->only_bmc == i))
            cllog(c, TP_LOG_WARN,
                  "TLS VERIFICATION IS OFF for BMC %s (node %s sets bmc.insecure): "
                  "anyone on the path can forge its facts",
                  b->origin, c->f->nodes[b->nodes[0]].id);
        if (b->cred && !strncmp(b->origin, "http://", 7) &&
            (c->only_bmc < 0 || c->only_bmc == i))
            cllog(c, TP_LOG_WARN,
                  "CREDENTIALS GO IN CLEAR TEXT to BMC %s (node %s: bmc.url is "
                  "http://): anyone on the path can read and reuse them",
                  b->origin, c->f->nodes[b->nodes[0]].id);
    }
    for (int i = 0; c->only_bmc < 0 && i < c->cfg->nverifiers; i++) {
        const tp_verifier_cfg_t *v = &c->cfg->verifiers[i];
        if (v->insecure)
            cllog(c, TP_LOG_WARN,
                  "TLS VERIFICATION IS OFF for verifier %s (insecure): anyone on the "
                  "path can forge its results",
                  v->name);
        if (v->allow_http)
            cllog(c, TP_LOG_WARN,
                  "PLAIN HTTP ALLOWED for verifier %s (allow_http): its results and keys "
                  "can be replaced by anyone on the path",
                  v->name);
        if (v->bind == TP_ATT_BIND_NONE)
            cllog(c, TP_LOG_WARN,
                  "RESULTS NOT BOUND TO NODES for verifier %s (bind \"none\"): a result "
                  "issued for one node is accepted for another",
                  v->name);
    }
}

void tp_collector_set_log(tp_collector_t *c, tp_log_fn fn, void *arg)
{
    c->log = fn;
    c->log_arg = arg;
}

static void take_owned(tp_collector_t *c);

int tp_collector_cycle(tp_collector_t *c, tp_collect_done_fn done, void *arg)
{
    if (c->running || c->closing)
        return TP_EINVAL;
    c->running = true;
    c->done = done;
    c->done_arg = arg;
    memset(&c->stats, 0, sizeof c->stats);
    tp_http_stats_reset(c->http);
    c->cycle_start = uv_hrtime();
    /* The loop's clock is cached: a caller that has not run the loop for a
     * while would otherwise start every walk's budget in the past. */
    uv_update_time(c->loop);
    if (++c->cycle_no == 1)
        warn_insecure(c);
    c->active_walks = c->used_slots = 0;
    {
        /* Checks the walks' budgets ten times per budget (10 ms .. 0.5 s). */
        uint64_t every = (uint64_t)c->cfg->walk_timeout_ms / 10;
        every = every < 10 ? 10 : every > 500 ? 500 : every;
        uv_timer_start(&c->sweep, on_sweep, every, every);
    }
    if (c->only_bmc >= 0) { /* one BMC's walk, nothing else */
        c->units = 2;
        c->next_walk = c->nbmcs;
        start_bmc(&c->bmcs[c->only_bmc]);
        unit_done(c);
        return 0;
    }
    c->units = 1 + c->nbmcs; /* one held until everything is started */
    c->next_walk = 0;
    c->reverse = c->cycle_no % 2 == 0;
    take_owned(c);
    start_walks(c);
    for (int n = 0; n < c->f->nnodes; n++) {
        if (c->cycle_owned && !c->owned[n])
            continue;
        if (c->cfg->node_verifier[n] >= 0)
            start_att(c, n);
        if (c->tel_host && c->node_bmc[n] >= 0)
            start_tel(c, n);
    }
    unit_done(c);
    return 0;
}

/* The cycle starting now takes the mask last set. */
static void take_owned(tp_collector_t *c)
{
    c->cycle_owned = c->has_owned;
    if (!c->has_owned)
        return;
    memcpy(c->owned, c->owned_next, (size_t)c->f->nnodes);
    memset(c->bmc_owned, 0, (size_t)c->nbmcs + 1);
    for (int n = 0; n < c->f->nnodes; n++)
        if (c->owned[n] && c->node_bmc[n] >= 0)
            c->bmc_owned[c->node_bmc[n]] = true;
}

int tp_collector_set_owned(tp_collector_t *c, const bool *owned)
{
    if (!owned) {
        c->has_owned = false;
        return 0;
    }
    size_t n = (size_t)c->f->nnodes + 1;
    if ((!c->owned_next && !(c->owned_next = calloc(n, 1))) ||
        (!c->owned && !(c->owned = calloc(n, 1))) ||
        (!c->bmc_owned && !(c->bmc_owned = calloc((size_t)c->nbmcs + 1, 1))))
        return TP_ENOMEM;
    memcpy(c->owned_next, owned, n - 1);
    c->has_owned = true;
    return 0;
}

void tp_collector_fact_times(const tp_collector_t *c, int node, tp_fact_times_t *out)
{
    memset(out, 0, sizeof *out);
    if (node < 0 || node >= c->f->nnodes)
        return;
    const facts_t *nf = &c->facts[node];
    out->cap = nf->cap_at;
    out->draw = nf->draw_at;
    out->gpus = nf->gpus_at;
    out->country = nf->country_at;
}

void tp_obs_age(const tp_fleet_t *f, int node, tp_node_obs_t *o, const tp_fact_times_t *t,
                int64_t now, int stale_after_s)
{
    /* build_state's rule, on facts that were read elsewhere: what only narrows
     * eligibility (a set cap, the healthy-GPU count, a country that contradicts
     * the region) is kept; the draw and a country that verifies the region
     * expire; an attestation keeps its own expiry. */
    bool left = false;
    if (!fresh(t->draw, now, stale_after_s))
        o->draw_w = NAN;
    if (o->country[0] && !fresh(t->country, now, stale_after_s) &&
        tp_region_has_country(&f->regions[f->nodes[node].region], o->country))
        o->country[0] = '\0';
    if (o->gpus_healthy > f->nodes[node].gpus)
        o->gpus_healthy = f->nodes[node].gpus;
    left = !isnan(o->cap_w) || !isnan(o->draw_w) || o->gpus_healthy >= 0 ||
           o->country[0] || o->att.present || fresh(t->cap, now, stale_after_s);
    o->known = o->known && left;
}

int tp_collector_restrict(tp_collector_t *c, int node)
{
    if (c->running || node < -1 || node >= c->f->nnodes ||
        (node >= 0 && c->node_bmc[node] < 0))
        return TP_EINVAL;
    c->only_bmc = node >= 0 ? c->node_bmc[node] : -1;
    return 0;
}

double tp_collector_draw_now(const tp_collector_t *c, int node)
{
    const facts_t *nf;
    if (node < 0 || node >= c->f->nnodes)
        return NAN;
    nf = &c->facts[node];
    return nf->draw_cycle == c->cycle_no && !c->running ? nf->draw_w : NAN;
}

const tp_state_t *tp_collector_state(const tp_collector_t *c)
{
    return c->state;
}

const tp_collect_stats_t *tp_collector_stats(const tp_collector_t *c)
{
    return &c->stats;
}

const tp_dcgm_t *tp_collector_telemetry(const tp_collector_t *c, int node)
{
    if (node < 0 || node >= c->f->nnodes || !c->facts[node].has_tel)
        return NULL;
    return &c->facts[node].tel;
}

static void defer_closed(uv_handle_t *h)
{
    tp_collector_t *c = h->data;
    void (*done)(void *) = c->close_done;
    void *arg = c->close_arg;
    free_all(c);
    if (done)
        done(arg);
}

static void sweep_closed(uv_handle_t *h)
{
    tp_collector_t *c = h->data;
    uv_close((uv_handle_t *)&c->defer, defer_closed);
}

static void http_closed(void *arg)
{
    tp_collector_t *c = arg;
    uv_close((uv_handle_t *)&c->sweep, sweep_closed);
}

static void logout_done(tp_collector_t *c)
{
    if (--c->logouts == 0)
        tp_http_close(c->http, http_closed, c);
}

static int on_logout(void *arg, const tp_http_resp_t *r)
{
    bmc_t *b = arg;
    char why[32];
    if (!r->cancelled && r->status != 200 && r->status != 204)
        cllog(b->c, TP_LOG_WARN, "BMC %s: session logout failed (%s)", b->origin,
              tp_http_why(r, why, sizeof why));
    logout_done(b->c);
    return TP_HTTP_DONE;
}

void tp_collector_close(tp_collector_t *c, void (*done)(void *arg), void *arg)
{
    c->closing = true;
    c->close_done = done;
    c->close_arg = arg;
    uv_timer_stop(&c->defer);
    uv_timer_stop(&c->sweep);
    c->logouts = 1;
    for (int i = 0; i < c->nbmcs; i++) {
        bmc_t *b = &c->bmcs[i];
        if (b->token && b->session_uri) {
            c->logouts++;
            if (tp_http_request(b->host, TP_HTTP_DELETE, b->session_uri, NULL, on_logout,
                                b) < 0)
                c->logouts--;
        }
    }
    logout_done(c);
}
