/*
 * scheduler/store.c — scheduler/store.h: picks the implementation named by
 * --store and forwards to it (SQLite: scheduler/journal.c; etcd:
 * scheduler/store_etcd.c).
 */
#include "scheduler/store.h"
#include "scheduler/etcd.h"
#include "scheduler/store_etcd.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tp_store {
    tp_journal_t *j; /* exactly one of j, e */
    estore_t *e;
    pthread_mutex_t mu;     /* stats */
    tp_store_stats_t stats; /* SQLite's; etcd keeps its own */
};

const double tp_store_commit_le[TP_STORE_LAT_N] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

void tp_store_stats_note(tp_store_stats_t *acc, uint64_t usec, int rc, bool fenced)
{
    double s = (double)usec / 1e6;
    int b = 0;
    while (b < TP_STORE_LAT_N && s > tp_store_commit_le[b])
        b++;
    acc->lat[b]++;
    acc->usec += usec;
    acc->commits += rc >= 0;
    acc->failed += rc < 0;
    acc->fenced += rc < 0 && fenced;
}

tp_journal_t *tp_store_journal(tp_store_t *st)
{
    return st ? st->j : NULL;
}

int tp_store_open(const tp_store_opts_t *o, tp_store_t **out, tp_error_t *err)
{
    const char *spec = o->spec;
    *out = NULL;
    tp_store_t *st = calloc(1, sizeof *st);
    if (!st)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    pthread_mutex_init(&st->mu, NULL);
    int rc;
    if (!spec || !strncmp(spec, "sqlite:", 7)) {
        const char *dir = spec ? spec + 7 : o->data_dir;
        rc = dir && *dir
                 ? tp_journal_open(dir, &st->j, err)
                 : tp_error_set(err, TP_EUSAGE, "--store sqlite:DIR: no directory");
    } else if (!strncmp(spec, "etcd:", 5)) {
        if (!o->replica || !*o->replica)
            rc = tp_error_set(err, TP_EUSAGE, "--store etcd: needs --replica-name NAME");
        else
            rc = estore_open(spec + 5, o->prefix ? o->prefix : "/trustplace/", o->replica,
                             o->timeout_ms, &st->e, err);
    } else {
        rc = tp_error_set(err, TP_EUSAGE,
                          "--store: expected sqlite:DIR or etcd:URL[,URL...], got \"%s\"",
                          spec);
    }
    if (rc < 0) {
        pthread_mutex_destroy(&st->mu);
        free(st);
        return rc;
    }
    *out = st;
    return 0;
}

void tp_store_close(tp_store_t *st)
{
    if (!st)
        return;
    tp_journal_close(st->j);
    estore_close(st->e);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

const char *tp_store_kind(const tp_store_t *st)
{
    return st->j ? "sqlite" : "etcd";
}

bool tp_store_shared(const tp_store_t *st)
{
    return st->e != NULL;
}

int tp_store_audit_on(tp_store_t *st, tp_journal_facts_fn facts, void *arg,
                      tp_error_t *err)
{
    if (st->j)
        return tp_journal_audit_on(st->j, facts, arg, err);
    estore_audit_on(st->e, facts, arg);
    return 0;
}

int tp_store_add_audit(tp_store_t *st, int64_t at, const char *body, tp_error_t *err)
{
    return st->j ? tp_journal_add_audit(st->j, at, body, err)
                 : estore_add_audit(st->e, at, body, err);
}

int tp_store_audit_since(tp_store_t *st, int64_t after_seq,
                         int (*row)(void *arg, int64_t seq, int64_t at, const char *body),
                         void *arg, tp_error_t *err)
{
    return st->j ? tp_journal_audit_since(st->j, after_seq, row, arg, err)
                 : estore_audit_since(st->e, after_seq, row, arg, err);
}

int tp_store_begin(tp_store_t *st, tp_error_t *err)
{
    return st->j ? tp_journal_begin(st->j, err) : estore_begin(st->e, err);
}

int tp_store_commit(tp_store_t *st, tp_error_t *err)
{
    if (st->e)
        return estore_commit(st->e, err);
    uint64_t t0 = tp_etcd_now_us();
    int rc = tp_journal_commit(st->j, err);
    uint64_t usec = tp_etcd_now_us() - t0;
    pthread_mutex_lock(&st->mu);
    tp_store_stats_note(&st->stats, usec, rc, false);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

void tp_store_rollback(tp_store_t *st)
{
    if (st->j)
        tp_journal_rollback(st->j);
    else
        estore_rollback(st->e);
}

int tp_store_put_placement(tp_store_t *st, const char *workload, const char *tenant,
                           const char *state, const char *node, int gpus,
                           const char *spec, const char *decision, int64_t at,
                           tp_error_t *err)
{
    return st->j ? tp_journal_put_placement(st->j, workload, tenant, state, node, gpus,
                                            spec, decision, at, err)
                 : estore_put_placement(st->e, workload, tenant, state, node, gpus, spec,
                                        decision, at, err);
}

int tp_store_set_state(tp_store_t *st, const char *workload, const char *state,
                       int64_t at, tp_error_t *err)
{
    return st->j ? tp_journal_set_state(st->j, workload, state, at, err)
                 : estore_set_state(st->e, workload, state, at, err);
}

int tp_store_put_idempotency(tp_store_t *st, const char *key, const char *hash,
                             int status, const char *response, tp_error_t *err)
{
    return st->j ? tp_journal_put_idempotency(st->j, key, hash, status, response, err)
                 : estore_put_idempotency(st->e, key, hash, status, response, err);
}

int tp_store_prune(tp_store_t *st, int64_t idem_before, int64_t done_before,
                   tp_journal_pruned_fn cb, void *arg, tp_error_t *err)
{
    return st->j ? tp_journal_prune(st->j, idem_before, done_before, cb, arg, err) : 0;
}

int tp_store_add_power_event(tp_store_t *st, const char *body, int64_t start, int64_t end,
                             int64_t *id, tp_error_t *err)
{
    return st->j ? tp_journal_add_power_event(st->j, body, start, end, id, err)
                 : estore_add_power_event(st->e, body, start, end, id, err);
}

int tp_store_set_power_event(tp_store_t *st, int64_t id, const char *state,
                             const char *plan, tp_error_t *err)
{
    return st->j ? tp_journal_set_power_event(st->j, id, state, plan, err)
                 : estore_set_power_event(st->e, id, state, plan, err);
}

int tp_store_add_preemption(tp_store_t *st, const char *workload, const char *node,
                            const char *why, int64_t event, int64_t at, tp_error_t *err)
{
    return st->j ? tp_journal_add_preemption(st->j, workload, node, why, event, at, err)
                 : estore_add_preemption(st->e, workload, node, why, event, at, err);
}

int tp_store_add_profiles(tp_store_t *st, const char *body, int64_t at, tp_error_t *err)
{
    return st->j ? tp_journal_add_profiles(st->j, body, at, err)
                 : estore_add_profiles(st->e, body, at, err);
}

int tp_store_load(tp_store_t *st, const tp_store_load_t *cb, tp_error_t *err)
{
    return st->j ? tp_journal_load(st->j, cb, err) : estore_load(st->e, cb, err);
}

int64_t tp_store_revision(const tp_store_t *st)
{
    return st->e ? estore_revision(st->e) : 0;
}

void tp_store_set_fence(tp_store_t *st, const char *fence_key, int64_t term)
{
    if (st->e)
        estore_set_fence(st->e, fence_key, term);
}

int tp_store_poll(tp_store_t *st, int64_t since, tp_store_changes_t **out,
                  tp_error_t *err)
{
    *out = NULL;
    if (!st->e)
        return tp_error_set(err, TP_EUNSUPPORTED, "the SQLite store is not shared");
    return estore_poll(st->e, since, out, err);
}

int tp_store_poll_apply(tp_store_t *st, tp_store_changes_t *c, const tp_store_load_t *cb,
                        tp_error_t *err)
{
    if (!st->e)
        return tp_error_set(err, TP_EUNSUPPORTED, "the SQLite store is not shared");
    return estore_poll_apply(st->e, c, cb, err);
}

void tp_store_stats(tp_store_t *st, tp_store_stats_t *out)
{
    if (st->e) {
        estore_stats(st->e, out);
        return;
    }
    pthread_mutex_lock(&st->mu);
    *out = st->stats;
    pthread_mutex_unlock(&st->mu);
}
