/*
 * scheduler/share.c — shared collection over etcd (see share.h, docs/ha.md):
 * membership keys on a lease, node ownership by rendezvous hashing, the owned
 * nodes' facts written as P o/<node> rows, every replica's observed state
 * rebuilt from the rows.
 */
#include "scheduler/share.h"
#include "model/state_json.h"
#include "scheduler/etcd.h"
#include "scheduler/ring.h"
#include "scheduler/serve_internal.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TXN_PUTS 100 /* under etcd's default --max-txn-ops 128 */
#define PAGE 1000
#define RESYNC 30 /* with the watch running, P o/ is also read every 30 ticks */

typedef struct {
    char *id;
    bool have; /* a valid row is held */
    tp_node_obs_t obs;
    tp_fact_times_t t;
    int64_t at;
    int64_t mod; /* the etcd mod_revision taken: older copies are ignored */
    char by[64];
} row_t;

typedef struct {
    char *key, *value;
} put_t;

struct tp_share {
    svc_t *s;
    char *urls, *name, *mkey, *rpre, *opre;
    int ttl_s, keepalive_ms, period_ms;
    tp_etcd_t *e; /* the job's (one job at a time) */

    /* job thread while busy */
    int64_t lease;
    bool registered;
    uint64_t last_ok_ms, next_keepalive_ms;
    put_t *in;
    int nin;
    bool write_failed;
    char **got_members;
    int ngot_members;
    bool members_read;
    tp_etcd_kv_t *got;
    int ngot;
    int64_t got_rev;
    int rc;
    char err[TP_ERROR_TEXT + 64];

    /* loop thread */
    uv_timer_t timer;
    uv_work_t work;
    bool busy, closing, timer_open;
    int64_t rev; /* o/ rows read up to this revision */
    char **members;
    int nmembers;
    bool *mask; /* [fleet node] owned */
    int mask_n;
    const tp_fleet_t *mask_fleet;
    row_t *rows;
    int nrows, caprows;
    tp_strmap_t *ix; /* node id → rows index (keys: rows[i].id) */
    json_t *last;    /* node id → [text, at] last written */
    put_t *queue;    /* rows waiting for the next job */
    int nqueue, capqueue;
    tp_strmap_t *qix;    /* key → queue index (keys: queue[i].key) */
    bool dirty;          /* rows changed since the state was built */
    int64_t next_expiry; /* a fact turns stale then: rebuild */
    uint64_t written, write_failures, bad_rows, ownership_changes, rows_read;
    bool scan_rows; /* the job reads P o/ (a full read, or the periodic check) */
    bool scan_full; /* … all of it (then the watch starts after its revision) */
    int since_scan; /* ticks since the last read of P o/ */

    /* the watch of P o/: its own thread and client; wmu guards what follows */
    tp_etcd_t *we;
    pthread_t wth;
    bool watching;
    pthread_mutex_t wmu;
    bool wstop, wfull; /* stop / the watch was compacted away: read everything */
    int64_t wfrom;     /* watch after this revision (0: not before a full read) */
    tp_etcd_kv_t *wq;  /* changes waiting for the loop */
    int nwq, capwq;
    uint64_t wbreaks;
    int owned;
};

static tp_share_t *g_share; /* reachable until the loop closes its handles */

static uint64_t now_ms(void)
{
    return tp_etcd_now_us() / 1000u;
}

/* ---- the job (thread pool) ---- */

static void keep_lease(tp_share_t *sh, tp_error_t *err)
{
    uint64_t now = now_ms();
    if (sh->lease && now >= sh->next_keepalive_ms) {
        int64_t ttl = 0;
        if (tp_etcd_lease_keepalive(sh->e, sh->lease, &ttl, err) < 0) {
            if (now - sh->last_ok_ms >= (uint64_t)sh->ttl_s * 1000u)
                sh->lease = 0; /* a whole TTL without a keep-alive: gone */
        } else if (ttl <= 0) {
            sh->lease = 0; /* expired: the others own our nodes now */
        } else {
            sh->last_ok_ms = now;
        }
        sh->next_keepalive_ms = now + (uint64_t)sh->keepalive_ms;
        if (!sh->lease)
            sh->registered = false;
    }
    if (!sh->lease) {
        int64_t granted = 0;
        if (tp_etcd_lease_grant(sh->e, sh->ttl_s, &sh->lease, &granted, err) < 0) {
            sh->lease = 0;
            return;
        }
        sh->last_ok_ms = now;
        sh->next_keepalive_ms = now + (uint64_t)sh->keepalive_ms;
    }
    if (!sh->registered) {
        json_t *v = json_pack("{s:s}", "name", sh->name);
        char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
        json_decref(v);
        if (text &&
            tp_etcd_put(sh->e, sh->mkey, text, strlen(text), sh->lease, NULL, err) == 0)
            sh->registered = true;
        free(text);
    }
}

static int write_rows(tp_share_t *sh, tp_error_t *err)
{
    for (int i = 0; i < sh->nin; i += TXN_PUTS) {
        tp_etcd_txn_t *t = tp_etcd_txn_new();
        bool ok = false;
        int rc = t ? 0 : TP_ENOMEM;
        for (int k = i; !rc && k < sh->nin && k < i + TXN_PUTS; k++)
            rc = tp_etcd_txn_put(t, true, sh->in[k].key, sh->in[k].value,
                                 strlen(sh->in[k].value), 0);
        if (!rc)
            rc = tp_etcd_txn_commit(sh->e, t, &ok, NULL, NULL, NULL, err);
        else
            tp_error_set(err, TP_ENOMEM, "out of memory");
        tp_etcd_txn_free(t);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void kvs_free(tp_etcd_kv_t *k, int n)
{
    for (int i = 0; i < n; i++) {
        free(k[i].key);
        free(k[i].value);
    }
    free(k);
}

static void job(uv_work_t *w)
{
    tp_share_t *sh = w->data;
    tp_error_t err = {0};
    tp_etcd_kv_t *m = NULL;
    int nm = 0;
    int64_t mrev = 0;
    sh->rc = 0;
    sh->err[0] = '\0';
    keep_lease(sh, &err);
    if (err.text[0])
        snprintf(sh->err, sizeof sh->err, "lease: %s", err.text);
    tp_error_clear(&err);
    sh->write_failed = sh->nin && write_rows(sh, &err) < 0;
    if (sh->write_failed)
        snprintf(sh->err, sizeof sh->err, "writing facts: %s", err.text);
    tp_error_clear(&err);
    sh->members_read = tp_etcd_scan(sh->e, sh->rpre, 0, PAGE, &m, &nm, &mrev, &err) == 0;
    if (sh->members_read) {
        sh->got_members = calloc((size_t)nm + 1, sizeof *sh->got_members);
        sh->members_read = sh->got_members != NULL;
        for (int i = 0; sh->got_members && i < nm; i++) /* key order: sorted names */
            sh->got_members[sh->ngot_members++] = strdup(m[i].key + strlen(sh->rpre));
    } else {
        snprintf(sh->err, sizeof sh->err, "reading members: %s", err.text);
    }
    kvs_free(m, nm);
    tp_error_clear(&err);
    sh->rc = !sh->scan_rows ? 0
                            : tp_etcd_scan(sh->e, sh->opre, sh->rev ? sh->rev + 1 : 0,
                                           PAGE, &sh->got, &sh->ngot, &sh->got_rev, &err);
    if (sh->rc < 0)
        snprintf(sh->err, sizeof sh->err, "reading facts: %s", err.text);
}

static int grow(void **arr, int *cap, int n, size_t sz);

/* ---- the watch thread ---- */

static int w_event(void *arg, const tp_etcd_kv_t *kv, bool deleted)
{
    tp_share_t *sh = arg;
    int rc = 0;
    pthread_mutex_lock(&sh->wmu);
    /* How far the copy has got: the newest event delivered, never a message
     * header's revision — a stream catching up on history carries etcd's
     * current revision in every header while its events arrive in later
     * messages, and resuming after that header would skip them. */
    if (sh->wfrom && kv->mod_revision > sh->wfrom)
        sh->wfrom = kv->mod_revision;
    if (deleted) { /* rows are overwritten, never deleted (an operator's delete:
                      the facts age as they are) */
        pthread_mutex_unlock(&sh->wmu);
        return 0;
    }
    if (grow((void **)&sh->wq, &sh->capwq, sh->nwq, sizeof *sh->wq) < 0) {
        rc = TP_ENOMEM;
    } else {
        tp_etcd_kv_t *c = &sh->wq[sh->nwq];
        *c = *kv;
        c->key = strdup(kv->key);
        c->value = strdup(kv->value ? kv->value : "");
        if (c->key && c->value)
            sh->nwq++;
        else {
            free(c->key);
            free(c->value);
            rc = TP_ENOMEM;
        }
    }
    pthread_mutex_unlock(&sh->wmu);
    return rc; /* ENOMEM ends the stream: it resumes from the last revision */
}

static bool w_stop(void *arg)
{
    tp_share_t *sh = arg;
    pthread_mutex_lock(&sh->wmu);
    bool stop = sh->wstop;
    pthread_mutex_unlock(&sh->wmu);
    return stop;
}

static void *watch_main(void *arg)
{
    tp_share_t *sh = arg;
    /* no progress hook: a header's revision says nothing about which events
     * have arrived (see w_event); the position moves with the events alone */
    tp_etcd_watch_cb_t cb = {w_event, NULL, w_stop, sh};
    char *end = tp_etcd_prefix_end(sh->opre);
    while (end && !w_stop(sh)) {
        pthread_mutex_lock(&sh->wmu);
        int64_t from = sh->wfull ? 0 : sh->wfrom;
        pthread_mutex_unlock(&sh->wmu);
        if (!from) { /* waiting for a full read */
            usleep(100000);
            continue;
        }
        tp_error_t err = {0};
        int64_t compacted = 0;
        int rc = tp_etcd_watch(sh->we, sh->opre, end, from + 1, &cb, &compacted, &err);
        if (rc == 0)
            break; /* stopped */
        pthread_mutex_lock(&sh->wmu);
        sh->wbreaks++;
        if (compacted)
            sh->wfull = true;
        pthread_mutex_unlock(&sh->wmu);
        for (int i = 0; i < 5 && !w_stop(sh); i++) /* 0.5 s before the next stream */
            usleep(100000);
    }
    free(end);
    return NULL;
}

/* ---- the loop side ---- */

static void share_free(tp_share_t *sh)
{
    for (int i = 0; i < sh->nrows; i++) {
        free(sh->rows[i].id);
        free(sh->rows[i].obs.att.verifier);
        free(sh->rows[i].obs.att.evidence);
    }
    free(sh->rows);
    tp_strmap_free(sh->ix);
    for (int i = 0; i < sh->nqueue; i++) {
        free(sh->queue[i].key);
        free(sh->queue[i].value);
    }
    free(sh->queue);
    tp_strmap_free(sh->qix);
    for (int i = 0; i < sh->nmembers; i++)
        free(sh->members[i]);
    free(sh->members);
    free(sh->mask);
    json_decref(sh->last);
    tp_etcd_free(sh->e);
    tp_etcd_free(sh->we);
    kvs_free(sh->wq, sh->nwq);
    free(sh->urls);
    free(sh->name);
    free(sh->mkey);
    free(sh->rpre);
    free(sh->opre);
    if (g_share == sh)
        g_share = NULL;
    free(sh);
}

static void logf_(tp_share_t *sh, const char *msg)
{
    static uint64_t n;
    if (n++ % 20 == 0) /* retried every period: say it now and then */
        svc_log(sh->s, "shared collection: %s", msg);
}

/* The ownership mask for the current fleet and members; kicks a cycle when this
 * replica gained nodes. */
static void recompute(tp_share_t *sh)
{
    svc_t *s = sh->s;
    const tp_fleet_t *f = s->fleet;
    bool self = false, gained = false;
    int owned = 0;
    for (int i = 0; i < sh->nmembers; i++)
        self |= !strcmp(sh->members[i], sh->name);
    if (sh->mask_n != f->nnodes || sh->mask_fleet != f) {
        bool *m = calloc((size_t)f->nnodes + 1, 1);
        if (!m) {
            svc_log(s, "shared collection: out of memory for the ownership mask");
            return;
        }
        free(sh->mask);
        sh->mask = m;
        sh->mask_n = f->nnodes;
        sh->mask_fleet = f;
        gained = true;
    }
    for (int n = 0; n < f->nnodes; n++) {
        bool mine =
            self && !strcmp(sh->members[tp_ring_owner((const char *const *)sh->members,
                                                      sh->nmembers, f->nodes[n].id)],
                            sh->name);
        gained |= mine && !sh->mask[n];
        sh->mask[n] = mine;
        owned += mine;
    }
    if (owned != sh->owned || gained)
        svc_log(s, "shared collection: %d live replica(s); this one owns %d of %d nodes",
                sh->nmembers, owned, f->nnodes);
    sh->owned = owned;
    if (s->collector && tp_collector_set_owned(s->collector, sh->mask) < 0)
        svc_log(s, "shared collection: out of memory setting the ownership mask");
    if (gained && owned && s->collector && !s->draining)
        svc_collect_now(s);
}

static void take_members(tp_share_t *sh)
{
    bool same = sh->ngot_members == sh->nmembers;
    for (int i = 0; same && i < sh->nmembers; i++)
        same = sh->got_members[i] && !strcmp(sh->got_members[i], sh->members[i]);
    for (int i = 0; i < sh->ngot_members; i++)
        if (!sh->got_members[i]) /* ENOMEM in the job: keep the old set */
            same = true;
    if (same) {
        for (int i = 0; i < sh->ngot_members; i++)
            free(sh->got_members[i]);
        free(sh->got_members);
    } else {
        for (int i = 0; i < sh->nmembers; i++)
            free(sh->members[i]);
        free(sh->members);
        sh->members = sh->got_members;
        sh->nmembers = sh->ngot_members;
        sh->ownership_changes++;
        recompute(sh);
    }
    sh->got_members = NULL;
    sh->ngot_members = 0;
}

/* Room for element n of *arr (capacity *cap, elements of size sz). */
static int grow(void **arr, int *cap, int n, size_t sz)
{
    if (n < *cap)
        return 0;
    int nc = *cap ? *cap * 2 : 256;
    void *p = realloc(*arr, (size_t)nc * sz);
    if (!p)
        return TP_ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

static row_t *row_for(tp_share_t *sh, const char *id)
{
    int i = tp_strmap_get(sh->ix, id);
    if (i >= 0)
        return &sh->rows[i];
    /* the map borrows the ids, which stay put: only the array moves */
    if (grow((void **)&sh->rows, &sh->caprows, sh->nrows, sizeof *sh->rows) < 0)
        return NULL;
    row_t *r = &sh->rows[sh->nrows];
    memset(r, 0, sizeof *r);
    if (!(r->id = strdup(id)) || tp_strmap_put(sh->ix, r->id, sh->nrows) < 0) {
        free(r->id);
        return NULL;
    }
    sh->nrows++;
    return r;
}

#define SKEW_S 60 /* a replica's clock may be this far ahead */

/* A read time of the row: absent 0 (never read); not after now + SKEW_S (a
 * clock far ahead would keep facts fresh too long). */
static int64_t opt_time(const json_t *t, const char *k, int64_t now, bool *ok)
{
    const json_t *v = json_object_get(t, k);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > now + SKEW_S) {
        *ok = false;
        return 0;
    }
    return json_integer_value(v);
}

/* One o/ row into the merged view. A row that does not validate drops what
 * was known of the node (fail closed). */
static void take_row(tp_share_t *sh, const tp_etcd_kv_t *kv)
{
    svc_t *s = sh->s;
    const char *id = kv->key + strlen(sh->opre);
    char msg[TP_ERROR_TEXT + 1200];
    tp_error_t err = {0};
    int64_t now = (int64_t)time(NULL);
    int n = tp_fleet_node(s->fleet, id);
    if (n < 0) { /* nothing held for it: forged keys cannot grow the rows */
        snprintf(msg, sizeof msg, "%s: no node \"%s\" in the fleet", kv->key, id);
        sh->bad_rows++;
        logf_(sh, msg);
        return;
    }
    row_t *r = row_for(sh, id);
    if (!r) {
        logf_(sh, "out of memory");
        return;
    }
    if (kv->mod_revision && kv->mod_revision <= r->mod)
        return; /* the watch and a read can deliver a change twice, in any order */
    r->mod = kv->mod_revision;
    free(r->obs.att.verifier);
    free(r->obs.att.evidence);
    r->obs.att.verifier = r->obs.att.evidence = NULL;
    r->have = false;
    sh->dirty = true;
    sh->rows_read++;
    json_error_t je;
    json_t *v = json_loadb(kv->value, kv->value_len, JSON_REJECT_DUPLICATES, &je);
    const json_t *t = json_object_get(v, "t"), *obs = json_object_get(v, "obs");
    const char *by = json_string_value(json_object_get(v, "by"));
    const json_t *at = json_object_get(v, "at");
    bool ok = true;
    if (!v) {
        snprintf(msg, sizeof msg, "%s: not JSON: %s (line %d, column %d)", kv->key,
                 je.text, je.line, je.column);
    } else if (!json_is_object(v) || !json_is_object(t) || !json_is_object(obs) || !by ||
               !json_is_integer(at) || json_integer_value(at) <= 0 ||
               json_integer_value(at) > now + SKEW_S) {
        snprintf(msg, sizeof msg,
                 "%s: $: expected {\"by\": string, \"at\": Unix seconds not in the "
                 "future, \"t\": object, \"obs\": object}",
                 kv->key);
    } else {
        r->t.cap = opt_time(t, "cap", now, &ok);
        r->t.draw = opt_time(t, "draw", now, &ok);
        r->t.gpus = opt_time(t, "gpus", now, &ok);
        r->t.country = opt_time(t, "country", now, &ok);
        if (!ok)
            snprintf(msg, sizeof msg,
                     "%s: $.t: expected Unix seconds, none more than %d s in the future",
                     kv->key, SKEW_S);
        else if (tp_state_node_from_json(s->fleet, n, obs, kv->key, "$.obs", &r->obs,
                                         &err) < 0)
            snprintf(msg, sizeof msg, "%s", err.text);
        else {
            r->have = true;
            r->at = json_integer_value(at);
            snprintf(r->by, sizeof r->by, "%s", by);
        }
    }
    json_decref(v);
    if (!r->have) {
        sh->bad_rows++;
        logf_(sh, msg);
    }
}

static bool fresh(int64_t at, int64_t now, int stale)
{
    return at > 0 && now - at <= stale;
}

/* The observed state from the rows, as of now, for the worker to take. */
static void rebuild(tp_share_t *sh, int64_t now)
{
    svc_t *s = sh->s;
    const tp_fleet_t *f = s->fleet;
    int stale = s->ccfg ? s->ccfg->stale_after_s : 300;
    tp_state_t *st = tp_state_new_empty(f);
    int64_t oldest = 0, next = 0;
    if (!st) {
        logf_(sh, "out of memory building the state");
        return;
    }
    for (int n = 0; n < f->nnodes; n++) {
        int i = tp_strmap_get(sh->ix, f->nodes[n].id);
        if (i < 0 || !sh->rows[i].have)
            continue;
        const row_t *r = &sh->rows[i];
        tp_node_obs_t *o = &st->nodes[n];
        *o = r->obs;
        o->att.verifier = r->obs.att.verifier ? strdup(r->obs.att.verifier) : NULL;
        o->att.evidence = r->obs.att.evidence ? strdup(r->obs.att.evidence) : NULL;
        tp_obs_age(f, n, o, &r->t, now, stale);
        if (!oldest || r->at < oldest)
            oldest = r->at;
        /* when the next fact here turns stale */
        const int64_t ts[] = {r->t.cap, r->t.draw, r->t.country};
        for (int k = 0; k < 3; k++)
            if (fresh(ts[k], now, stale) && (!next || ts[k] + stale + 1 < next))
                next = ts[k] + stale + 1;
    }
    st->observed_at = oldest;
    sh->next_expiry = next;
    sh->dirty = false;
    tp_state_free(s->next_state);
    s->next_state = st;
    if (!s->busy)
        svc_after_job(s);
}

static void tick(tp_share_t *sh);

/* The changes the watch queued, into the merged view. */
static void take_watched(tp_share_t *sh)
{
    pthread_mutex_lock(&sh->wmu);
    tp_etcd_kv_t *q = sh->wq;
    int n = sh->nwq;
    int64_t at = sh->wfrom;
    sh->wq = NULL;
    sh->nwq = sh->capwq = 0;
    pthread_mutex_unlock(&sh->wmu);
    for (int i = 0; i < n; i++)
        take_row(sh, &q[i]);
    kvs_free(q, n);
    if (at > sh->rev)
        sh->rev = at;
}

static void job_done(uv_work_t *w, int status)
{
    tp_share_t *sh = w->data;
    sh->busy = false;
    if (sh->write_failed || status != 0) { /* written again after the next cycle */
        sh->write_failures++;
        for (int i = 0; i < sh->nin; i++)
            json_object_del(sh->last, sh->in[i].key + strlen(sh->opre));
    } else {
        sh->written += (uint64_t)sh->nin;
    }
    for (int i = 0; i < sh->nin; i++) {
        free(sh->in[i].key);
        free(sh->in[i].value);
    }
    free(sh->in);
    sh->in = NULL;
    sh->nin = 0;
    if (sh->err[0])
        logf_(sh, sh->err);
    if (sh->closing) {
        for (int i = 0; i < sh->ngot_members; i++)
            free(sh->got_members[i]);
        free(sh->got_members);
        kvs_free(sh->got, sh->ngot);
        tp_error_t err = {0};
        if (sh->lease) /* a clean hand-over: our nodes move at the others' next read */
            tp_etcd_lease_revoke(sh->e, sh->lease, &err);
        if (!sh->timer_open)
            share_free(sh);
        return;
    }
    if (status == 0 && sh->members_read)
        take_members(sh);
    else if (sh->got_members) {
        for (int i = 0; i < sh->ngot_members; i++)
            free(sh->got_members[i]);
        free(sh->got_members);
        sh->got_members = NULL;
        sh->ngot_members = 0;
    }
    if (status == 0 && sh->rc == 0 && sh->scan_rows) {
        for (int i = 0; i < sh->ngot; i++)
            take_row(sh, &sh->got[i]);
        if (sh->got_rev > sh->rev)
            sh->rev = sh->got_rev;
        sh->since_scan = 0;
        if (sh->scan_full) { /* the first read, or one after a compaction: watch on */
            pthread_mutex_lock(&sh->wmu);
            sh->wfrom = sh->got_rev;
            sh->wfull = false;
            pthread_mutex_unlock(&sh->wmu);
        }
    }
    take_watched(sh);
    kvs_free(sh->got, sh->ngot);
    sh->got = NULL;
    sh->ngot = 0;
    int64_t now = (int64_t)time(NULL);
    if (sh->dirty || (sh->next_expiry && now >= sh->next_expiry))
        rebuild(sh, now);
}

static void tick(tp_share_t *sh)
{
    if (sh->busy || sh->closing)
        return;
    /* P o/ is read in full at first and after the watch lost its history; with
     * the watch running only every RESYNC ticks (a stalled stream that never
     * broke is caught there); without it every tick */
    pthread_mutex_lock(&sh->wmu);
    bool full = sh->wfull || !sh->wfrom;
    pthread_mutex_unlock(&sh->wmu);
    if (full && sh->rev) {
        sh->rev = 0;
        for (int i = 0; i < sh->nrows; i++)
            sh->rows[i].mod = 0; /* the full read's copies are taken as they are */
    }
    sh->scan_rows = !sh->watching || full || ++sh->since_scan >= RESYNC;
    sh->scan_full = full;
    sh->in = sh->queue;
    sh->nin = sh->nqueue;
    sh->queue = NULL;
    sh->nqueue = sh->capqueue = 0;
    tp_strmap_free(sh->qix);
    sh->qix = NULL;
    sh->busy = true;
    sh->work.data = sh;
    if (uv_queue_work(sh->s->loop, &sh->work, job, job_done) != 0) {
        sh->busy = false;
        logf_(sh, "cannot queue the etcd job");
    }
}

static void on_timer(uv_timer_t *t)
{
    tick(t->data);
}

static int queue_row(tp_share_t *sh, const char *id, const char *value)
{
    if (grow((void **)&sh->queue, &sh->capqueue, sh->nqueue, sizeof *sh->queue) < 0)
        return TP_ENOMEM;
    size_t kl = strlen(sh->opre) + strlen(id) + 1;
    char *key = malloc(kl), *val = strdup(value);
    if (!key || !val) {
        free(key);
        free(val);
        return TP_ENOMEM;
    }
    snprintf(key, kl, "%s%s", sh->opre, id);
    /* a row already queued for this node is replaced: etcd refuses a txn that
     * puts one key twice */
    int i = tp_strmap_get(sh->qix, key);
    if (i >= 0) {
        free(key);
        free(sh->queue[i].value);
        sh->queue[i].value = val;
        return 0;
    }
    if ((!sh->qix && !(sh->qix = tp_strmap_new(1024))) ||
        tp_strmap_put(sh->qix, key, sh->nqueue) < 0) {
        free(key);
        free(val);
        return TP_ENOMEM;
    }
    sh->queue[sh->nqueue++] = (put_t){key, val};
    return 0;
}

/* Facts that only narrow eligibility outlive staleness (collectors.h), and
 * also a change of owner: what the row in etcd holds of them (the previous
 * owner's reading) is kept until this replica has read the fact itself. */
static void carry_narrowing(tp_share_t *sh, int n, json_t *obs, tp_fact_times_t *t)
{
    const tp_fleet_t *f = sh->s->fleet;
    int i = tp_strmap_get(sh->ix, f->nodes[n].id);
    if (i < 0 || !sh->rows[i].have)
        return;
    const row_t *r = &sh->rows[i];
    if (!t->cap && !isnan(r->obs.cap_w) &&
        !json_object_set_new(obs, "cap_w", json_real(r->obs.cap_w)))
        t->cap = r->t.cap;
    if (!t->gpus && r->obs.gpus_healthy >= 0 &&
        !json_object_set_new(obs, "gpus_healthy", json_integer(r->obs.gpus_healthy)))
        t->gpus = r->t.gpus;
    if (!t->country && r->obs.country[0] &&
        !tp_region_has_country(&f->regions[f->nodes[n].region], r->obs.country) &&
        !json_object_set_new(obs, "country", json_string(r->obs.country)))
        t->country = r->t.country;
}

/* Whether a row whose facts did not change is written anyway: last is
 * [facts, written at, attestation expiry, read times of cap, draw, gpus,
 * country] as written; t the read times now. Every refresh period; sooner
 * when the written result would expire within two periods, or when a fact was
 * read again while the written reading is a period old (so a row's read times
 * lag the owner's by at most about one period). */
static bool due(const json_t *last, const tp_fact_times_t *t, int64_t now,
                int64_t refresh)
{
    json_int_t at = json_integer_value(json_array_get(last, 1));
    json_int_t last_expires = json_integer_value(json_array_get(last, 2));
    const int64_t cur[4] = {t->cap, t->draw, t->gpus, t->country};
    if (now - at >= refresh || (last_expires && last_expires - now <= 2 * refresh))
        return true;
    for (int k = 0; k < 4; k++) {
        json_int_t w = json_integer_value(json_array_get(last, (size_t)k + 3));
        if (cur[k] > w && now - w >= refresh)
            return true;
    }
    return false;
}

/* What a row is compared by: the node's facts without the attestation's times
 * and evidence digest, which every fetch renews. A renewed result is written
 * at the next refresh (stale_after_s / 3), or at once when the written one
 * would expire before two refreshes have passed. Malloc'd; NULL on ENOMEM. */
static char *significant(const json_t *obs)
{
    json_t *c = json_deep_copy(obs);
    json_t *att = json_object_get(c, "attestation");
    json_object_del(att, "issued_at");
    json_object_del(att, "expires_at");
    json_object_del(att, "evidence");
    char *text = c ? json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(c);
    return text;
}

void tp_share_cycle_done(tp_share_t *sh)
{
    if (!sh || sh->closing)
        return;
    svc_t *s = sh->s;
    if (!s->collector || !sh->mask || sh->mask_fleet != s->fleet)
        return;
    const tp_state_t *st = tp_collector_state(s->collector);
    if (!st)
        return;
    json_t *doc = tp_state_to_json(s->fleet, st);
    json_t *nodes = json_object_get(doc, "nodes");
    int64_t now = (int64_t)time(NULL);
    int stale = s->ccfg ? s->ccfg->stale_after_s : 300;
    int64_t refresh = stale / 3 > 0 ? stale / 3 : 1;
    int queued = 0;
    if (!doc) {
        logf_(sh, "out of memory writing facts");
        return;
    }
    for (int n = 0; n < s->fleet->nnodes; n++) {
        if (!sh->mask[n])
            continue;
        const char *id = s->fleet->nodes[n].id;
        json_t *obs = json_object_get(nodes, id), *empty = obs ? NULL : json_object();
        if (!obs)
            obs = empty; /* nothing known: the row says so */
        tp_fact_times_t t;
        tp_collector_fact_times(s->collector, n, &t);
        if (obs)
            carry_narrowing(sh, n, obs, &t);
        char *text = obs ? significant(obs) : NULL;
        json_t *last = json_object_get(sh->last, id);
        json_int_t expires = json_integer_value(
            json_object_get(json_object_get(obs, "attestation"), "expires_at"));
        if (text && last && !strcmp(json_string_value(json_array_get(last, 0)), text) &&
            !due(last, &t, now, refresh)) {
            free(text); /* unchanged and recently written */
            json_decref(empty);
            continue;
        }
        json_t *row =
            text ? json_pack("{s:s,s:I,s:{s:I,s:I,s:I,s:I},s:O}", "by", sh->name, "at",
                             (json_int_t)now, "t", "cap", (json_int_t)t.cap, "draw",
                             (json_int_t)t.draw, "gpus", (json_int_t)t.gpus, "country",
                             (json_int_t)t.country, "obs", obs)
                 : NULL;
        char *value = row ? json_dumps(row, JSON_COMPACT) : NULL;
        if (!value || queue_row(sh, id, value) < 0 ||
            json_object_set_new(sh->last, id,
                                json_pack("[s,I,I,I,I,I,I]", text, (json_int_t)now,
                                          expires, (json_int_t)t.cap, (json_int_t)t.draw,
                                          (json_int_t)t.gpus, (json_int_t)t.country)) < 0)
            logf_(sh, "out of memory queueing facts");
        else
            queued++;
        json_decref(row);
        json_decref(empty);
        free(value);
        free(text);
    }
    json_decref(doc);
    if (queued)
        tick(sh); /* now rather than at the next period */
}

void tp_share_collector(tp_share_t *sh)
{
    if (!sh || sh->closing)
        return;
    recompute(sh);
}

tp_share_t *tp_share_start(svc_t *s, const tp_share_opts_t *o, tp_error_t *err)
{
    tp_share_t *sh = calloc(1, sizeof *sh);
    if (!sh) {
        tp_error_set(err, TP_ENOMEM, "out of memory");
        return NULL;
    }
    const char *prefix = o->prefix ? o->prefix : "/trustplace/";
    size_t pl = strlen(prefix) + strlen(o->name) + 8;
    sh->s = s;
    sh->ttl_s = o->ttl_s > 0 ? o->ttl_s : 10;
    sh->keepalive_ms = o->keepalive_ms > 0 ? o->keepalive_ms : sh->ttl_s * 1000 / 3;
    sh->period_ms = o->period_ms > 0 ? o->period_ms : 1000;
    sh->urls = strdup(o->urls);
    sh->name = strdup(o->name);
    sh->mkey = malloc(pl);
    sh->rpre = malloc(pl);
    sh->opre = malloc(pl);
    sh->ix = tp_strmap_new(1024);
    sh->last = json_object();
    if (!sh->urls || !sh->name || !sh->mkey || !sh->rpre || !sh->opre || !sh->ix ||
        !sh->last) {
        share_free(sh);
        tp_error_set(err, TP_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf(sh->mkey, pl, "%sr/%s", prefix, o->name);
    snprintf(sh->rpre, pl, "%sr/", prefix);
    snprintf(sh->opre, pl, "%so/", prefix);
    int timeout = sh->keepalive_ms < 2000 ? sh->keepalive_ms : 2000;
    if (!(sh->e = tp_etcd_new(sh->urls, timeout, err))) {
        share_free(sh);
        return NULL;
    }
    pthread_mutex_init(&sh->wmu, NULL);
    sh->we = tp_etcd_new(sh->urls, timeout, err);
    sh->watching = sh->we && pthread_create(&sh->wth, NULL, watch_main, sh) == 0;
    if (!sh->watching)
        svc_log(s, "shared collection: no watch of %s; reading it every period",
                sh->opre);
    s->share = g_share = sh;
    uv_timer_init(s->loop, &sh->timer);
    sh->timer.data = sh;
    sh->timer_open = true;
    uv_timer_start(&sh->timer, on_timer, 0, (uint64_t)sh->period_ms);
    recompute(sh); /* no members known yet: owns nothing */
    return sh;
}

static void timer_closed(uv_handle_t *h)
{
    tp_share_t *sh = h->data;
    sh->timer_open = false;
    if (!sh->busy)
        share_free(sh);
}

void tp_share_stop(tp_share_t *sh)
{
    if (!sh || sh->closing)
        return;
    sh->closing = true;
    sh->s->share = NULL;
    if (sh->watching) { /* libcurl polls the stop flag about once a second */
        pthread_mutex_lock(&sh->wmu);
        sh->wstop = true;
        pthread_mutex_unlock(&sh->wmu);
        pthread_join(sh->wth, NULL);
        sh->watching = false;
    }
    if (!sh->busy && sh->lease) {
        tp_error_t err = {0};
        tp_etcd_lease_revoke(sh->e, sh->lease, &err);
        sh->lease = 0;
    }
    uv_timer_stop(&sh->timer);
    uv_close((uv_handle_t *)&sh->timer, timer_closed);
}

json_t *tp_share_status(const tp_share_t *sh)
{
    json_t *m = json_array();
    for (int i = 0; sh && i < sh->nmembers; i++)
        json_array_append_new(m, json_string(sh->members[i]));
    if (!sh)
        return m;
    int have = 0;
    for (int i = 0; i < sh->nrows; i++)
        have += sh->rows[i].have;
    pthread_mutex_lock((pthread_mutex_t *)&sh->wmu);
    json_int_t breaks = (json_int_t)sh->wbreaks;
    pthread_mutex_unlock((pthread_mutex_t *)&sh->wmu);
    return json_pack("{s:o,s:i,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:b,s:I}", "members", m,
                     "owned", sh->owned, "rows", have, "rows_held", sh->nrows, "written",
                     (json_int_t)sh->written, "write_failures",
                     (json_int_t)sh->write_failures, "bad_rows", (json_int_t)sh->bad_rows,
                     "ownership_changes", (json_int_t)sh->ownership_changes, "revision",
                     (json_int_t)sh->rev, "watch", sh->watching, "watch_breaks", breaks);
}
