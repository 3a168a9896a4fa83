/*
 * scheduler/leader.c — leader election, fencing and the follower feed
 * (scheduler/leader.h).
 *
 * Threads. The election thread owns its etcd connection and writes only the
 * fields under `mu` (the published view); the loop thread reads them in
 * step() and owns everything else (role, the feed, the store's fence). The
 * feed's read runs on libuv's thread pool with the store's own read
 * connection; its result is applied on the loop when no worker job is in
 * flight, so the in-memory copy has a single writer at a time.
 */
#include "scheduler/leader.h"
#include "scheduler/share.h"
#include "scheduler/etcd.h"
#include "scheduler/serve_internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef enum { ROLE_FOLLOWER, ROLE_CATCHING_UP, ROLE_LEADER } role_t;

struct tp_leader {
    svc_t *s;
    char *urls, *name, *advertise, *key, *value;
    int ttl_s, keepalive_ms, poll_ms;

    pthread_t th;
    bool started;
    pthread_mutex_t mu; /* the published view, below, and stop */
    pthread_cond_t cv;
    bool stop;
    int64_t won_term; /* 0: not the leader */
    char leader_name[128], leader_url[256];
    bool store_ok;
    char store_err[TP_ERROR_TEXT];
    uint64_t elections_won, lease_losses, campaigns;

    /* loop thread */
    uv_timer_t timer;
    uv_async_t async;
    int open_handles;
    bool closing;
    role_t role;
    int64_t term;
    int64_t rev; /* the store revision the copy reflects */
    bool profiles_changed;
    uv_work_t work;
    bool poll_busy;
    int64_t poll_term; /* the term won when the poll in flight started */
    tp_store_changes_t *got, *pending;
    int64_t pending_term;
    bool pending_read; /* pending came from a read of P j/ (else the watch) */
    int poll_rc;
    char poll_err[TP_ERROR_TEXT];
    uint64_t polls, poll_usec, applied, poll_failures;
    uint64_t next_read_ms; /* with the watch on: the next safety re-read */
    bool feed_bad;         /* a change failed to apply: read (poll) until a read
                              at or after discarded_to succeeds */
    int64_t discarded_to;  /* watched changes dropped meanwhile reach this */

    /* the watch of P j/: its own thread and etcd client; wmu guards what follows */
    tp_etcd_t *we;
    char *jpre, *jend;
    pthread_t wth;
    bool watching; /* the thread runs */
    pthread_mutex_t wmu;
    bool wstop;
    int64_t wfrom;          /* watch after this revision (0: wait for a read) */
    bool wlive;             /* a stream is open (etcd answered "created") */
    bool wbroke;            /* a stream ended: the loop reads at once */
    tp_store_changes_t *wq; /* changes waiting for the loop (NULL: none) */
    int64_t wmax;           /* the highest mod_revision this stream delivered */
    int64_t wqmax;          /* … and of the changes in wq */
    uint64_t wbreaks, wevents;
};

static uint64_t now_ms(void)
{
    return tp_etcd_now_us() / 1000u;
}

/* With the watch on, P j/ is still read in full this often: a stream that
 * stalled without breaking is caught there (share.c does the same). */
#define RESYNC_MS 30000u
/* A stream that broke resumes after a read; that read is tried this often
 * (etcd may be down a while) — or every --poll-ms if that is shorter. */
#define RESUME_MS 500u

/* ---- the election thread ---- */

static void publish(tp_leader_t *l, int64_t term, const tp_etcd_kv_t *holder, bool ok,
                    const char *why)
{
    bool changed;
    pthread_mutex_lock(&l->mu);
    changed = l->won_term != term || l->store_ok != ok;
    l->won_term = term;
    l->store_ok = ok;
    snprintf(l->store_err, sizeof l->store_err, "%s", ok ? "" : why);
    if (term) {
        snprintf(l->leader_name, sizeof l->leader_name, "%s", l->name);
        snprintf(l->leader_url, sizeof l->leader_url, "%s", l->advertise);
    } else if (holder) {
        json_t *v = json_loads(holder->value, 0, NULL);
        const char *n = json_string_value(json_object_get(v, "name"));
        const char *u = json_string_value(json_object_get(v, "url"));
        changed |= strcmp(l->leader_name, n ? n : "") != 0;
        snprintf(l->leader_name, sizeof l->leader_name, "%s", n ? n : "");
        snprintf(l->leader_url, sizeof l->leader_url, "%s", u ? u : "");
        json_decref(v);
    } else if (ok) {
        changed |= l->leader_name[0] != '\0';
        l->leader_name[0] = l->leader_url[0] = '\0';
    }
    pthread_mutex_unlock(&l->mu);
    if (changed)
        uv_async_send(&l->async);
}

/* One campaign: the leader key, created iff absent, bound to lease. Returns
 * the term won (the key's create_revision), 0 when someone else holds it
 * (*holder gets the key), < 0 on a store error. */
static int64_t campaign(tp_leader_t *l, tp_etcd_t *e, int64_t lease,
                        tp_etcd_range_t *holder, tp_error_t *err)
{
    tp_etcd_txn_t *t = tp_etcd_txn_new();
    bool ok = false;
    int64_t rev = 0;
    tp_etcd_range_t *gets = NULL;
    int ngets = 0;
    memset(holder, 0, sizeof *holder);
    if (!t ||
        tp_etcd_txn_compare(t, l->key, TP_ETCD_CREATE, TP_ETCD_EQUAL, 0, NULL) < 0 ||
        tp_etcd_txn_put(t, true, l->key, l->value, strlen(l->value), lease) < 0 ||
        tp_etcd_txn_get(t, false, l->key) < 0) {
        tp_etcd_txn_free(t);
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    int rc = tp_etcd_txn_commit(e, t, &ok, &rev, &gets, &ngets, err);
    tp_etcd_txn_free(t);
    if (rc < 0)
        return rc;
    if (ngets == 1)
        *holder = gets[0];
    free(gets);
    return ok ? rev : 0;
}

static void *election(void *arg)
{
    tp_leader_t *l = arg;
    tp_error_t err = {0};
    int timeout = l->keepalive_ms < 2000 ? l->keepalive_ms : 2000;
    tp_etcd_t *e = tp_etcd_new(l->urls, timeout, &err);
    int64_t lease = 0, term = 0;
    uint64_t last_ok = now_ms(), next_keepalive = 0;
    pthread_mutex_lock(&l->mu);
    while (e && !l->stop) {
        pthread_mutex_unlock(&l->mu);
        uint64_t now = now_ms();
        bool ok = true;
        tp_error_clear(&err);
        if (!lease) {
            int64_t granted;
            if (tp_etcd_lease_grant(e, l->ttl_s, &lease, &granted, &err) < 0) {
                lease = 0;
                ok = false;
            } else {
                last_ok = now;
                next_keepalive = now + (uint64_t)l->keepalive_ms;
            }
        } else if (now >= next_keepalive) {
            int64_t ttl = 0;
            if (tp_etcd_lease_keepalive(e, lease, &ttl, &err) < 0) {
                ok = false;
                if (now - last_ok >= (uint64_t)l->ttl_s * 1000u)
                    lease = 0; /* a whole TTL without a keep-alive: assume it gone */
            } else if (ttl <= 0) {
                lease = 0; /* etcd says it expired */
                snprintf(err.text, sizeof err.text, "the lease expired");
            } else {
                last_ok = now;
            }
            next_keepalive = now + (uint64_t)l->keepalive_ms;
        }
        if (!lease && term) {
            term = 0;
            pthread_mutex_lock(&l->mu);
            l->lease_losses++;
            pthread_mutex_unlock(&l->mu);
        }
        tp_etcd_range_t holder = {0};
        if (lease && !term) {
            pthread_mutex_lock(&l->mu);
            l->campaigns++;
            pthread_mutex_unlock(&l->mu);
            int64_t won = campaign(l, e, lease, &holder, &err);
            if (won < 0) {
                ok = false;
            } else if (won > 0) {
                term = won;
                pthread_mutex_lock(&l->mu);
                l->elections_won++;
                pthread_mutex_unlock(&l->mu);
            } else if (holder.n == 1 && holder.kvs[0].lease == lease) {
                term = holder.kvs[0].create_revision; /* ours already (a lost answer) */
            }
        }
        publish(l, term, holder.n == 1 ? &holder.kvs[0] : NULL, ok, err.text);
        tp_etcd_range_free(&holder);
        /* a follower looks again every poll period; a leader only keeps alive */
        uint64_t wait = term ? (uint64_t)l->keepalive_ms
                             : (uint64_t)(l->poll_ms < l->keepalive_ms ? l->poll_ms
                                                                       : l->keepalive_ms);
        if (lease && next_keepalive > now_ms() && next_keepalive - now_ms() < wait)
            wait = next_keepalive - now_ms();
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)(wait / 1000);
        until.tv_nsec += (long)(wait % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&l->mu);
        if (!l->stop)
            pthread_cond_timedwait(&l->cv, &l->mu, &until);
    }
    pthread_mutex_unlock(&l->mu);
    if (e && lease) /* a clean hand-over: the key goes now, not after a TTL */
        tp_etcd_lease_revoke(e, lease, &err);
    tp_etcd_free(e);
    return NULL;
}

/* ---- the watch thread: P j/ as it changes ---- */

static int w_event(void *arg, const tp_etcd_kv_t *kv, bool deleted)
{
    tp_leader_t *l = arg;
    int rc = 0;
    if (deleted) /* journal rows are never deleted by a replica (an operator's
                    delete: the copy keeps the row, as a read would) */
        return 0;
    pthread_mutex_lock(&l->wmu);
    if (!l->wq)
        l->wq = tp_store_changes_new();
    rc = l->wq ? tp_store_changes_add(l->wq, kv->key, kv->value ? kv->value : "",
                                      kv->value ? kv->value_len : 0, kv->mod_revision)
               : TP_ENOMEM;
    if (rc == 0) {
        l->wevents++;
        if (kv->mod_revision > l->wmax)
            l->wmax = kv->mod_revision;
        if (kv->mod_revision > l->wqmax)
            l->wqmax = kv->mod_revision;
    }
    pthread_mutex_unlock(&l->wmu);
    return rc; /* ENOMEM ends the stream: the loop reads again, then it resumes */
}

/* After each message's events. The header revision is NOT how far the events
 * reach: a stream catching up on history is answered "created", and sends its
 * events in batches, with the store's current revision in every header. What
 * the stream has delivered is complete up to the highest mod_revision of its
 * events (a revision's events come in one message), so that is where the copy
 * and a resumed stream stand. */
static void w_progress(void *arg, int64_t rev)
{
    tp_leader_t *l = arg;
    (void)rev;
    pthread_mutex_lock(&l->wmu);
    l->wlive = true;
    if (l->wfrom && l->wmax > l->wfrom) {
        l->wfrom = l->wmax;
        if (!l->wq)
            l->wq = tp_store_changes_new();
        if (l->wq)
            tp_store_changes_reach(l->wq, l->wmax);
    }
    bool wake = l->wq && tp_store_changes_count(l->wq);
    pthread_mutex_unlock(&l->wmu);
    if (wake)
        uv_async_send(&l->async);
}

static bool w_stop(void *arg)
{
    tp_leader_t *l = arg;
    pthread_mutex_lock(&l->wmu);
    bool stop = l->wstop;
    pthread_mutex_unlock(&l->wmu);
    return stop;
}

static void *watch_main(void *arg)
{
    tp_leader_t *l = arg;
    tp_etcd_watch_cb_t cb = {w_event, w_progress, w_stop, l};
    while (!w_stop(l)) {
        pthread_mutex_lock(&l->wmu);
        int64_t from = l->wfrom;
        pthread_mutex_unlock(&l->wmu);
        if (!from) { /* waiting for the loop's read (the first, or after a break) */
            usleep(20000);
            continue;
        }
        tp_error_t err = {0};
        int64_t compacted = 0;
        pthread_mutex_lock(&l->wmu);
        l->wmax = from; /* this stream delivers from + 1 on */
        pthread_mutex_unlock(&l->wmu);
        int rc = tp_etcd_watch(l->we, l->jpre, l->jend, from + 1, &cb, &compacted, &err);
        if (rc == 0)
            break; /* stopped */
        /* broken, ended or compacted away: the loop reads P j/ again from the
         * revision its copy reflects (a range read: compaction cannot stop it),
         * and the next stream starts after that read */
        pthread_mutex_lock(&l->wmu);
        l->wbreaks++;
        l->wlive = false;
        l->wfrom = 0;
        l->wbroke = true;
        pthread_mutex_unlock(&l->wmu);
        uv_async_send(&l->async);
        for (int i = 0; i < 5 && !w_stop(l); i++) /* 0.5 s before the next stream */
            usleep(100000);
    }
    pthread_mutex_lock(&l->wmu);
    l->wlive = false;
    pthread_mutex_unlock(&l->wmu);
    return NULL;
}

/* ---- the loop side: applying the feed ---- */

static int cb_placement(void *arg, const char *workload, const char *state,
                        const char *node, int gpus, const char *spec,
                        const char *decision)
{
    svc_t *s = arg;
    tp_store_load_t base;
    svc_load_callbacks(s, &base);
    return base.placement(s, workload, state, node, gpus, spec, decision);
}

static int cb_idem(void *arg, const char *key, const char *hash, int status,
                   const char *response)
{
    svc_t *s = arg;
    if (idem_find(s, key)) /* a key keeps its first answer */
        return 0;
    tp_store_load_t base;
    svc_load_callbacks(s, &base);
    return base.idempotency(s, key, hash, status, response);
}

static int cb_event(void *arg, int64_t id, const char *body, int64_t start, int64_t end,
                    const char *state, const char *plan)
{
    svc_t *s = arg;
    for (int i = 0; i < s->nevents; i++)
        if (s->events[i].id == id) { /* a known event changed state */
            s->events[i].started = strcmp(state, "scheduled") != 0;
            s->events[i].ended = !strcmp(state, "ended");
            return 0;
        }
    tp_store_load_t base;
    svc_load_callbacks(s, &base);
    return base.power_event(s, id, body, start, end, state, plan);
}

static int cb_preemption(void *arg, const char *workload, const char *node,
                         const char *why, int64_t event, int64_t at)
{
    svc_t *s = arg;
    tp_store_load_t base;
    svc_load_callbacks(s, &base);
    return base.preemption(s, workload, node, why, event, at);
}

static int cb_profiles(void *arg, const char *body)
{
    svc_t *s = arg;
    s->leader->profiles_changed = true;
    tp_store_load_t base;
    svc_load_callbacks(s, &base);
    return base.profiles(s, body);
}

static void become_leader(tp_leader_t *l)
{
    svc_t *s = l->s;
    tp_store_set_fence(s->journal, l->key, l->term);
    l->role = ROLE_LEADER;
    svc_log(s, "leader (term %" PRId64 "): caught up to revision %" PRId64 "; writing",
            l->term, l->rev);
    if (l->profiles_changed) { /* profiles that came through the feed: rebuild */
        l->profiles_changed = false;
        op_t *op = calloc(1, sizeof *op);
        if (op) {
            op->kind = OP_RELOAD;
            op_enqueue(s, op);
        }
    }
}

static void apply_pending(tp_leader_t *l)
{
    svc_t *s = l->s;
    tp_store_changes_t *c = l->pending;
    tp_error_t err = {0};
    tp_store_load_t cb = {s, cb_placement, cb_idem, cb_event, cb_preemption, cb_profiles};
    l->pending = NULL;
    tp_store_changes_skip(c, l->rev); /* the copy has these, or newer */
    int n = tp_store_changes_count(c);
    int rc = tp_store_poll_apply(s->journal, c, &cb, &err);
    if (rc < 0 &&
        l->poll_failures++ % 50 == 0) /* retried every poll: say it now and then */
        svc_log(s, "follower feed: %s", err.text);
    if (n) {
        tp_workloads_t *nr = NULL;
        json_t *misfits = json_array();
        if (running_build_tolerant(s, s->fleet, &nr, misfits, &err) == 0) {
            tp_workloads_free(s->running);
            s->running = nr;
            svc_invalidate(s);
        }
        json_decref(misfits);
    }
    l->applied += (uint64_t)n;
    int64_t reached = tp_store_changes_revision(c);
    if (rc == 0 && reached > l->rev)
        l->rev = reached;
    tp_store_changes_free(c);
    if (rc < 0) { /* retried by reads from l->rev (not advanced), every poll
                     period; the first at once when the watch's batch failed */
        if (!l->pending_read)
            l->next_read_ms = 0;
        l->feed_bad = true;
    } else if (l->pending_read && l->feed_bad) {
        /* a read that started before the last dropped change: once more */
        l->feed_bad = reached < l->discarded_to;
        if (l->feed_bad)
            l->next_read_ms = 0;
    }
    if (rc == 0 && l->pending_read) {
        pthread_mutex_lock(&l->wmu);
        if (l->watching && !l->wfrom) /* the watch (re)starts after this read */
            l->wfrom = l->rev;
        pthread_mutex_unlock(&l->wmu);
    }
    /* A new leader writes only once it has read at or after its own term: the
     * read's header revision says how far it reached, whether or not anything
     * under P j/ changed since (a watch could not tell that). */
    if (rc == 0 && l->role == ROLE_CATCHING_UP && l->pending_term == l->term && l->term &&
        reached >= l->term)
        become_leader(l);
}

static void poll_work(uv_work_t *w)
{
    tp_leader_t *l = w->data;
    tp_error_t err = {0};
    uint64_t t0 = now_ms();
    l->poll_rc = tp_store_poll(l->s->journal, l->rev, &l->got, &err);
    l->poll_usec += (now_ms() - t0) * 1000u;
    snprintf(l->poll_err, sizeof l->poll_err, "%s", err.text);
}

static void step(tp_leader_t *l);
static void leader_free(tp_leader_t *l);

static void poll_done(uv_work_t *w, int status)
{
    tp_leader_t *l = w->data;
    l->poll_busy = false;
    l->polls++;
    if (status == 0 && l->poll_rc == 0) {
        l->pending = l->got;
        l->pending_term = l->poll_term;
        l->pending_read = true;
    } else if (l->poll_failures++ % 50 == 0) {
        svc_log(l->s, "follower feed: %s", l->poll_err);
    }
    l->got = NULL;
    if (l->closing) {
        if (l->open_handles == 0)
            leader_free(l);
        return;
    }
    step(l);
}

/* The changes the watch queued become the pending batch (on a follower). */
static void take_watched(tp_leader_t *l)
{
    pthread_mutex_lock(&l->wmu);
    if (l->wq && !l->pending && !l->poll_busy) {
        if (l->feed_bad) { /* a read after these replaces them */
            int64_t r = tp_store_changes_revision(l->wq);
            r = r > l->wqmax ? r : l->wqmax;
            l->discarded_to = r > l->discarded_to ? r : l->discarded_to;
            tp_store_changes_free(l->wq);
        } else if (l->role == ROLE_LEADER) { /* the leader's copy is the source:
                                                its own commits come back here */
            tp_store_changes_free(l->wq);
        } else {
            l->pending = l->wq;
            l->pending_term = 0;
            l->pending_read = false;
        }
        l->wq = NULL;
        l->wqmax = 0;
    }
    pthread_mutex_unlock(&l->wmu);
}

static void step(tp_leader_t *l)
{
    svc_t *s = l->s;
    if (l->closing)
        return;
    pthread_mutex_lock(&l->mu);
    int64_t won = l->won_term;
    pthread_mutex_unlock(&l->mu);
    if (!won && l->role != ROLE_FOLLOWER) {
        tp_store_set_fence(s->journal, NULL, 0); /* commits fail from now on */
        svc_log(s, "lost the leader lease (term %" PRId64 "): follower", l->term);
        l->role = ROLE_FOLLOWER;
        l->term = 0;
        l->next_read_ms = 0; /* read what the next leader wrote at once */
    }
    if (won && (l->role == ROLE_FOLLOWER || l->term != won)) {
        if (l->role == ROLE_LEADER)
            tp_store_set_fence(s->journal, NULL, 0);
        l->role = ROLE_CATCHING_UP;
        l->term = won;
        svc_log(s, "won the election (term %" PRId64 "); catching up", won);
    }
    /* twice: changes the watch queued while a read's were waiting come next */
    for (int pass = 0; pass < 2; pass++) {
        take_watched(l);
        if (l->pending && !s->busy)
            apply_pending(l);
    }
    pthread_mutex_lock(&l->wmu);
    /* a stream runs (or resumes at once) and its changes apply */
    bool live = l->watching && l->wfrom && !l->feed_bad;
    bool resuming = l->watching && !l->wfrom; /* the stream waits for a read */
    if (l->wbroke)
        l->next_read_ms = 0;
    l->wbroke = false;
    pthread_mutex_unlock(&l->wmu);
    /* A read of P j/: on winning an election (the catch-up read), at once when
     * a stream broke or a change failed to apply, then every poll period while
     * no watch runs and every RESYNC_MS while one does */
    uint64_t now = now_ms();
    if (!l->poll_busy && !l->pending && l->role != ROLE_LEADER &&
        (l->role == ROLE_CATCHING_UP || now >= l->next_read_ms)) {
        uint64_t period = live ? RESYNC_MS : (uint64_t)l->poll_ms;
        if (resuming && period > RESUME_MS)
            period = RESUME_MS;
        l->next_read_ms = now + period;
        l->poll_busy = true;
        l->poll_term = l->role == ROLE_CATCHING_UP ? l->term : 0;
        l->work.data = l;
        if (uv_queue_work(s->loop, &l->work, poll_work, poll_done) != 0)
            l->poll_busy = false;
    }
}

static void on_timer(uv_timer_t *t)
{
    step(t->data);
}

static void on_async(uv_async_t *a)
{
    step(a->data);
}

/* ---- life ---- */

static void leader_free(tp_leader_t *l)
{
    tp_store_changes_free(l->wq);
    tp_etcd_free(l->we);
    free(l->jpre);
    free(l->jend);
    pthread_mutex_destroy(&l->wmu);
    tp_store_changes_free(l->pending);
    tp_store_changes_free(l->got);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->urls);
    free(l->name);
    free(l->advertise);
    free(l->key);
    free(l->value);
    free(l);
}

tp_leader_t *tp_leader_start(svc_t *s, const tp_leader_opts_t *o, tp_error_t *err)
{
    tp_leader_t *l = calloc(1, sizeof *l);
    if (!l) {
        tp_error_set(err, TP_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->wmu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->s = s;
    l->ttl_s = o->ttl_s > 0 ? o->ttl_s : 10;
    l->keepalive_ms = o->keepalive_ms > 0 ? o->keepalive_ms : l->ttl_s * 1000 / 3;
    l->poll_ms = o->poll_ms > 0 ? o->poll_ms : 200;
    l->store_ok = true;
    const char *prefix = o->prefix ? o->prefix : "/trustplace/";
    size_t kn = strlen(prefix) + 8;
    json_t *v = json_pack("{s:s,s:s}", "name", o->name, "url", o->advertise);
    l->urls = strdup(o->urls);
    l->name = strdup(o->name);
    l->advertise = strdup(o->advertise);
    l->key = malloc(kn);
    l->jpre = malloc(kn);
    l->value = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!l->urls || !l->name || !l->advertise || !l->key || !l->value || !l->jpre) {
        leader_free(l);
        tp_error_set(err, TP_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf(l->key, kn, "%sleader", prefix);
    snprintf(l->jpre, kn, "%sj/", prefix);
    if (l->keepalive_ms >= l->ttl_s * 1000) {
        tp_error_set(err, TP_EUSAGE,
                     "--keepalive-ms %d must be shorter than the lease TTL (%d s)",
                     l->keepalive_ms, l->ttl_s);
        leader_free(l);
        return NULL;
    }
    l->rev = tp_store_revision(s->journal);
    s->leader = l;
    uv_timer_init(s->loop, &l->timer);
    uv_async_init(s->loop, &l->async, on_async);
    l->timer.data = l->async.data = l;
    l->open_handles = 2;
    /* the loop looks at the feed every poll period, or every RESUME_MS if that
     * is shorter (a read that lets a broken stream resume) */
    uint64_t tick = (uint64_t)l->poll_ms < RESUME_MS ? (uint64_t)l->poll_ms : RESUME_MS;
    uv_timer_start(&l->timer, on_timer, tick, tick);
    if (pthread_create(&l->th, NULL, election, l) != 0) {
        tp_error_set(err, TP_ENOMEM, "cannot start the election thread");
        s->leader = NULL;
        l->closing = true;
        return NULL; /* the handles stay with the loop; the process exits */
    }
    l->started = true;
    /* The feed's watch: its own client (a stream holds it), from the revision
     * the start's load read. Without it the feed reads every poll period. */
    tp_error_t werr = {0};
    l->jend = tp_etcd_prefix_end(l->jpre);
    l->we = l->jend ? tp_etcd_new(l->urls, 2000, &werr) : NULL;
    l->wfrom = l->rev;
    l->watching = l->we && pthread_create(&l->wth, NULL, watch_main, l) == 0;
    if (!l->watching)
        svc_log(s, "follower feed: no watch of %s (%s); reading it every %d ms", l->jpre,
                werr.text[0] ? werr.text : "out of memory", l->poll_ms);
    return l;
}

static void handle_closed(uv_handle_t *h)
{
    tp_leader_t *l = h->data;
    if (--l->open_handles == 0 && !l->poll_busy)
        leader_free(l);
}

void tp_leader_stop(tp_leader_t *l)
{
    if (!l || l->closing)
        return;
    l->closing = true;
    tp_store_set_fence(l->s->journal, NULL, 0);
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (l->started)
        pthread_join(l->th, NULL);
    if (l->watching) { /* libcurl polls the stop flag about once a second */
        pthread_mutex_lock(&l->wmu);
        l->wstop = true;
        pthread_mutex_unlock(&l->wmu);
        pthread_join(l->wth, NULL);
        l->watching = false;
    }
    l->s->leader = NULL;
    uv_timer_stop(&l->timer);
    uv_close((uv_handle_t *)&l->timer, handle_closed);
    uv_close((uv_handle_t *)&l->async, handle_closed);
}

/* ---- what the rest of the service asks ---- */

void tp_leader_kick(tp_leader_t *l)
{
    if (l && !l->closing && l->pending)
        uv_async_send(&l->async);
}

bool tp_leader_may_write(const svc_t *s)
{
    if (!tp_store_shared(s->journal))
        return true;
    return s->leader && s->leader->role == ROLE_LEADER;
}

static bool is_write(const char *path)
{
    return strcmp(path, "/v1/explain") != 0 && strcmp(path, "/k8s/filter") != 0 &&
           strcmp(path, "/k8s/prioritize") != 0; /* answered from the local copy */
}

bool tp_leader_redirect(svc_t *s, struct tp_httpd_req *req, const char *path,
                        const char *query)
{
    if (tp_leader_may_write(s) || !is_write(path))
        return false;
    tp_leader_t *l = s->leader;
    char name[128] = "", url[256] = "";
    if (l) {
        pthread_mutex_lock(&l->mu);
        snprintf(name, sizeof name, "%s", l->leader_name);
        snprintf(url, sizeof url, "%s", l->leader_url);
        pthread_mutex_unlock(&l->mu);
    }
    if (!l || !url[0] || l->role == ROLE_CATCHING_UP || !strcmp(name, l->name)) {
        static const char busy[] =
            "{\"error\":{\"code\":\"no_leader\",\"message\":\"no leader is writing yet "
            "(an election or a catch-up is under way); retry\"}}";
        tp_httpd_respond_hdr(req, 503, busy, sizeof busy - 1, "Retry-After", "1");
        return true;
    }
    char loc[2048];
    snprintf(loc, sizeof loc, "%s%s%s%s", url, path, query ? "?" : "",
             query ? query : "");
    json_t *doc =
        json_pack("{s:{s:s,s:s,s:s,s:s}}", "error", "code", "not_leader", "message",
                  "this replica is a follower: send writes to the leader", "leader", name,
                  "location", loc);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    tp_httpd_respond_hdr(req, 307, text ? text : "{}", text ? strlen(text) : 2,
                         "Location", loc);
    free(text);
    return true;
}

json_t *tp_leader_status(const svc_t *s, bool *healthy)
{
    tp_leader_t *l = s->leader;
    *healthy = true;
    if (!l)
        return json_pack("{s:s,s:{s:s,s:b}}", "role", "single", "store", "kind",
                         tp_store_kind(s->journal), "healthy", 1);
    tp_leader_metrics_t m;
    tp_leader_metrics(s, &m);
    pthread_mutex_lock(&l->mu);
    bool ok = l->store_ok;
    json_t *st = json_pack(
        "{s:s,s:b,s:s?,s:I,s:I,s:I,s:f}", "kind", "etcd", "healthy", ok, "error",
        ok ? NULL : l->store_err, "commits", (json_int_t)m.store.commits, "failed",
        (json_int_t)m.store.failed, "fenced", (json_int_t)m.store.fenced, "commit_ms_avg",
        m.store.commits + m.store.failed
            ? (double)m.store.usec / 1000.0 / (double)(m.store.commits + m.store.failed)
            : 0.0);
    json_t *doc =
        json_pack("{s:s,s:s,s:s?,s:s?,s:I,s:I,s:o}", "role",
                  l->role == ROLE_LEADER        ? "leader"
                  : l->role == ROLE_CATCHING_UP ? "catching_up"
                                                : "follower",
                  "replica", l->name, "leader", l->leader_name[0] ? l->leader_name : NULL,
                  "leader_url", l->leader_url[0] ? l->leader_url : NULL, "term",
                  (json_int_t)l->term, "revision", (json_int_t)l->rev, "store", st);
    json_object_set_new(doc, "elections_won", json_integer((json_int_t)l->elections_won));
    json_object_set_new(doc, "lease_losses", json_integer((json_int_t)l->lease_losses));
    pthread_mutex_unlock(&l->mu);
    json_object_set_new(doc, "feed",
                        json_string(m.feed_watching ? "watching" : "polling"));
    json_object_set_new(doc, "feed_watch_breaks",
                        json_integer((json_int_t)m.feed_watch_breaks));
    if (s->share)
        json_object_set_new(doc, "collection", tp_share_status(s->share));
    *healthy = ok;
    return doc;
}

void tp_leader_metrics(const svc_t *s, tp_leader_metrics_t *m)
{
    memset(m, 0, sizeof *m);
    tp_store_stats(s->journal, &m->store);
    tp_leader_t *l = s->leader;
    m->leader = !l;
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    m->elections_won = l->elections_won;
    m->lease_losses = l->lease_losses;
    m->campaigns = l->campaigns;
    pthread_mutex_unlock(&l->mu);
    m->polls = l->polls;
    m->poll_usec = l->poll_usec;
    m->poll_failures = l->poll_failures;
    m->changes_applied = l->applied;
    pthread_mutex_lock((pthread_mutex_t *)&l->wmu);
    m->feed_watching = l->watching && l->wlive && !l->feed_bad;
    m->feed_watch_events = l->wevents;
    m->feed_watch_breaks = l->wbreaks;
    pthread_mutex_unlock((pthread_mutex_t *)&l->wmu);
    m->term = l->term;
    m->leader = l->role == ROLE_LEADER;
}
