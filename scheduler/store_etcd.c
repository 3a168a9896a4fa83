/*
 * scheduler/store_etcd.c — the journal in etcd (scheduler/store.h).
 *
 * Keys under the prefix P (docs/ha.md):
 *   P j/p/<workload>   placement row {workload, tenant, state, node, gpus, spec,
 *                      decision, at}
 *   P j/i/<key>        idempotency key {key, hash, status, response}
 *   P j/e/<id>         power event {id, body, start, end, state, plan}
 *   P j/x/<seq>        preemption {workload, node, why, event, at}
 *   P j/f/<seq>        profiles {body, at}
 *   P a/<seq>          audit record {seq, at, body} (after estore_audit_on): the
 *                      SQLite journal's audit triggers, here written by hand into
 *                      the txn of the write they record
 *   P aseq             the last audit seq; the txn compares its mod_revision
 *                      with the one this replica read, so seqs stay gapless
 *                      across leaders and a fenced txn writes none
 * ids and seqs are zero-padded decimals, so key order is numeric order. Every
 * row also carries "_by" (the replica) and "_term" (the create_revision of the
 * leader key it was written under): a check can prove no two leaders
 * interleaved commits. Values are compact JSON.
 *
 * Writes between begin and commit collect in one txn whose compare is the
 * fence (create_revision(fence key) == term); etcd applies it atomically or
 * not at all. A write outside begin..commit is a txn of its own.
 */
#include "scheduler/store_etcd.h"
#include "scheduler/etcd.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE 2000

struct estore {
    tp_etcd_t *w; /* the worker's connection */
    tp_etcd_t *r; /* the follower feed's connection (tp_store_poll) */
    char *prefix, *replica;
    size_t plen;

    pthread_mutex_t mu; /* guards fence_key, term */
    char *fence_key;
    int64_t term;

    bool in_tx;      /* between begin and commit */
    json_t *pending; /* key → row written in the open txn (etcd refuses a key
                        twice in one txn: a later write replaces the earlier) */
    int64_t power_id, pre_seq, prof_seq;
    int64_t saved[3]; /* the counters at begin (restored by rollback) */

    tp_store_stats_t stats; /* under mu */
    int64_t loaded_rev;     /* of the last estore_load */

    /* the audit outbox */
    tp_journal_facts_fn facts;
    void *facts_arg;
    bool audit;
    json_t *audit_pending; /* [[at, body], …] of the open txn */
    bool audit_known;      /* audit_seq / audit_mod are P aseq's as read */
    int64_t audit_seq, audit_mod;
};

static void seq_name(char *buf, size_t cap, int64_t n);

struct tp_store_changes {
    tp_etcd_kv_t *kvs;
    int n;
    int64_t revision;
};

int estore_open(const char *urls, const char *prefix, const char *replica, int timeout_ms,
                estore_t **out, tp_error_t *err)
{
    *out = NULL;
    estore_t *e = calloc(1, sizeof *e);
    if (!e)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    pthread_mutex_init(&e->mu, NULL);
    e->prefix = strdup(prefix);
    e->replica = strdup(replica);
    if (!e->prefix || !e->replica || !(e->pending = json_object()) ||
        !(e->audit_pending = json_array())) {
        estore_close(e);
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    e->plen = strlen(prefix);
    if (!(e->w = tp_etcd_new(urls, timeout_ms, err)) ||
        !(e->r = tp_etcd_new(urls, timeout_ms, err))) {
        estore_close(e);
        return err->code;
    }
    *out = e;
    return 0;
}

void estore_close(estore_t *e)
{
    if (!e)
        return;
    tp_etcd_free(e->w);
    tp_etcd_free(e->r);
    json_decref(e->pending);
    json_decref(e->audit_pending);
    free(e->prefix);
    free(e->replica);
    free(e->fence_key);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

void estore_set_fence(estore_t *e, const char *key, int64_t term)
{
    char *k = key ? strdup(key) : NULL;
    pthread_mutex_lock(&e->mu);
    free(e->fence_key);
    e->fence_key = k;
    if (e->term != (k ? term : 0))
        e->audit_known = false; /* another term: P aseq is read again (worker) */
    e->term = k ? term : 0;
    pthread_mutex_unlock(&e->mu);
}

static int64_t fence(estore_t *e, char *key, size_t cap)
{
    pthread_mutex_lock(&e->mu);
    int64_t t = e->term;
    snprintf(key, cap, "%s", e->fence_key ? e->fence_key : "");
    pthread_mutex_unlock(&e->mu);
    return t;
}

void estore_stats(estore_t *e, tp_store_stats_t *out)
{
    pthread_mutex_lock(&e->mu);
    *out = e->stats;
    pthread_mutex_unlock(&e->mu);
}

/* ---- writes ---- */

int estore_begin(estore_t *e, tp_error_t *err)
{
    if (e->in_tx)
        return tp_error_set(err, TP_EINVAL, "etcd store: a transaction is already open");
    e->in_tx = true;
    e->saved[0] = e->power_id;
    e->saved[1] = e->pre_seq;
    e->saved[2] = e->prof_seq;
    return 0;
}

static void end_tx(estore_t *e, bool undo)
{
    e->in_tx = false;
    json_object_clear(e->pending);
    json_array_clear(e->audit_pending);
    if (undo) {
        e->power_id = e->saved[0];
        e->pre_seq = e->saved[1];
        e->prof_seq = e->saved[2];
    }
}

void estore_rollback(estore_t *e)
{
    if (e->in_tx)
        end_tx(e, true);
}

/* P aseq's value and mod_revision, read when not known. */
static int audit_counter(estore_t *e, tp_error_t *err)
{
    char key[1024];
    tp_etcd_range_t r;
    if (e->audit_known)
        return 0;
    snprintf(key, sizeof key, "%saseq", e->prefix);
    if (tp_etcd_range(e->w, key, NULL, NULL, &r, err) < 0)
        return err->code;
    e->audit_seq = e->audit_mod = 0;
    if (r.n == 1) {
        char *end;
        long long v = strtoll(r.kvs[0].value, &end, 10);
        if (*end || v < 0) {
            tp_etcd_range_free(&r);
            return tp_error_set(err, TP_EINVAL,
                                "etcd store: %s is not a count: \"%.40s\"", key,
                                r.kvs[0].value);
        }
        e->audit_seq = v;
        e->audit_mod = r.kvs[0].mod_revision;
    }
    tp_etcd_range_free(&r);
    e->audit_known = true;
    return 0;
}

/* The open txn's audit records as P a/<seq> puts, and P aseq guarded by its
 * mod_revision (0: absent). */
static int audit_ops(estore_t *e, tp_etcd_txn_t *tx, int64_t term)
{
    size_t n = json_array_size(e->audit_pending);
    char key[1024], val[32];
    int rc = 0;
    if (!n)
        return 0;
    snprintf(key, sizeof key, "%saseq", e->prefix);
    rc = tp_etcd_txn_compare(tx, key, TP_ETCD_MOD, TP_ETCD_EQUAL, e->audit_mod, NULL);
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *a = json_array_get(e->audit_pending, i);
        char name[32];
        int64_t seq = e->audit_seq + (int64_t)i + 1;
        seq_name(name, sizeof name, seq);
        snprintf(key, sizeof key, "%sa/%s", e->prefix, name);
        json_t *row = json_pack("{s:I,s:O,s:O,s:s,s:I}", "seq", (json_int_t)seq, "at",
                                json_array_get(a, 0), "body", json_array_get(a, 1), "_by",
                                e->replica, "_term", (json_int_t)term);
        char *text = row ? json_dumps(row, JSON_COMPACT) : NULL;
        rc = text ? tp_etcd_txn_put(tx, true, key, text, strlen(text), 0) : TP_ENOMEM;
        free(text);
        json_decref(row);
    }
    snprintf(key, sizeof key, "%saseq", e->prefix);
    snprintf(val, sizeof val, "%" PRId64, e->audit_seq + (int64_t)n);
    return rc ? rc : tp_etcd_txn_put(tx, true, key, val, strlen(val), 0);
}

/* The txn: the fence compare, then one put per pending row. */
static tp_etcd_txn_t *build_txn(estore_t *e, const char *fence_key, int64_t term)
{
    tp_etcd_txn_t *tx = tp_etcd_txn_new();
    const char *k;
    json_t *row;
    int rc =
        tx ? tp_etcd_txn_compare(tx, fence_key, TP_ETCD_CREATE, TP_ETCD_EQUAL, term, NULL)
           : TP_ENOMEM;
    json_object_foreach (e->pending, k, row) {
        char *text = rc ? NULL : json_dumps(row, JSON_COMPACT);
        rc = text ? tp_etcd_txn_put(tx, true, k, text, strlen(text), 0) : TP_ENOMEM;
        free(text);
    }
    if (!rc)
        rc = audit_ops(e, tx, term);
    if (rc) {
        tp_etcd_txn_free(tx);
        return NULL;
    }
    return tx;
}

int estore_commit(estore_t *e, tp_error_t *err)
{
    if (!e->in_tx)
        return tp_error_set(err, TP_EINVAL, "etcd store: no transaction is open");
    char key[512];
    int64_t term = fence(e, key, sizeof key);
    int rc = 0;
    bool ok = false, fenced = false;
    uint64_t t0 = tp_etcd_now_us();
    tp_etcd_txn_t *tx = NULL;
    int64_t rev = 0;
    size_t naudit = json_array_size(e->audit_pending);
    if (!term)
        rc = tp_error_set(err, TP_EIO,
                          "not the leader: this replica holds no leader lease");
    else if (naudit && (rc = audit_counter(e, err)) < 0)
        ;
    else if (!(tx = build_txn(e, key, term)))
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
    else if ((rc = tp_etcd_txn_commit(e->w, tx, &ok, &rev, NULL, NULL, err)) == 0 &&
             !ok) {
        fenced = true;
        rc = tp_error_set(
            err, TP_EIO,
            "fenced: the leader key %s is no longer this replica's (term %" PRId64
            "); nothing was written",
            key, term);
    }
    if (rc < 0) {
        e->audit_known = false; /* whatever happened, read P aseq again */
    } else if (naudit) {
        e->audit_seq += (int64_t)naudit;
        e->audit_mod = rev;
    }
    uint64_t usec = tp_etcd_now_us() - t0;
    pthread_mutex_lock(&e->mu);
    tp_store_stats_note(&e->stats, usec, rc, fenced);
    pthread_mutex_unlock(&e->mu);
    tp_etcd_txn_free(tx);
    end_tx(e, rc < 0);
    return rc < 0 ? rc : 0;
}

/* Adds row (stolen) under P+kind+name to the open txn, or commits it alone. */
static int put_row(estore_t *e, const char *kind, const char *name, json_t *row,
                   tp_error_t *err)
{
    char key[1024];
    if (!row)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    if ((size_t)snprintf(key, sizeof key, "%s%s%s", e->prefix, kind, name) >=
        sizeof key) {
        json_decref(row);
        return tp_error_set(err, TP_EINVAL, "etcd store: key too long: %s%s", kind, name);
    }
    int64_t term = fence(e, (char[8]){0}, 8);
    json_object_set_new(row, "_by", json_string(e->replica));
    json_object_set_new(row, "_term", json_integer(term));
    bool alone = !e->in_tx;
    if (alone && estore_begin(e, err) < 0) {
        json_decref(row);
        return err->code;
    }
    if (json_object_set_new(e->pending, key, row)) {
        if (alone)
            estore_rollback(e);
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    return alone ? estore_commit(e, err) : 0;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* A JSON text as a value (SQL's json()); null when absent or not JSON. */
static json_t *json_or_null(const char *text)
{
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    return v ? v : json_null();
}

/* The observed facts of node a decision relied on (the service's callback). */
static json_t *facts_of(estore_t *e, const char *node)
{
    char *t = node && e->facts ? e->facts(e->facts_arg, node) : NULL;
    json_t *v = json_or_null(t);
    free(t);
    return v;
}

/* put_row with the audit record rec (stolen; NULL: none) of the write in the same
 * txn; the record's seq is given at commit. */
static int put_audited(estore_t *e, const char *kind, const char *name, json_t *row,
                       int64_t at, json_t *rec, tp_error_t *err)
{
    if (!e->audit) {
        json_decref(rec);
        return put_row(e, kind, name, row, err);
    }
    bool alone = !e->in_tx;
    int rc = 0;
    if (!rec || !row) {
        json_decref(rec);
        json_decref(row);
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    if (alone && estore_begin(e, err) < 0) {
        json_decref(rec);
        json_decref(row);
        return err->code;
    }
    if (json_array_append_new(e->audit_pending,
                              json_pack("[I,o]", (json_int_t)at, rec))) {
        json_decref(row);
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
    } else {
        rc = put_row(e, kind, name, row, err);
    }
    if (alone) {
        if (rc < 0)
            estore_rollback(e);
        else
            rc = estore_commit(e, err);
    }
    return rc;
}

int estore_put_placement(estore_t *e, const char *workload, const char *tenant,
                         const char *state, const char *node, int gpus, const char *spec,
                         const char *decision, int64_t at, tp_error_t *err)
{
    json_t *rec =
        e->audit ? json_pack("{s:s,s:s,s:o,s:s,s:o,s:i,s:o,s:o,s:o}", "kind", "decision",
                             "workload", workload, "tenant", str_or_null(tenant), "state",
                             state, "node", str_or_null(node), "gpus", gpus, "decision",
                             json_or_null(decision), "spec", json_or_null(spec), "facts",
                             facts_of(e, node))
                 : NULL;
    return put_audited(e, "j/p/", workload,
                       json_pack("{s:s,s:o,s:s,s:o,s:i,s:s,s:s,s:I}", "workload",
                                 workload, "tenant", str_or_null(tenant), "state", state,
                                 "node", str_or_null(node), "gpus", gpus, "spec", spec,
                                 "decision", decision, "at", (json_int_t)at),
                       at, rec, err);
}

/* The row at P+kind+name as this txn would leave it (new reference); NULL when
 * there is none (*rc 0) or on error (*rc < 0). */
static json_t *read_row(estore_t *e, const char *kind, const char *name, int *rc,
                        tp_error_t *err)
{
    char key[1024];
    snprintf(key, sizeof key, "%s%s%s", e->prefix, kind, name);
    json_t *row = json_object_get(e->pending, key);
    *rc = 0;
    if (row)
        return json_deep_copy(row);
    tp_etcd_range_t r;
    if ((*rc = tp_etcd_range(e->w, key, NULL, NULL, &r, err)) < 0)
        return NULL;
    if (r.n == 1)
        row = json_loads(r.kvs[0].value, 0, NULL);
    tp_etcd_range_free(&r);
    if (!json_is_object(row)) {
        json_decref(row);
        return NULL; /* like SQL's UPDATE of no row */
    }
    return row;
}

int estore_set_state(estore_t *e, const char *workload, const char *state, int64_t at,
                     tp_error_t *err)
{
    int rc;
    json_t *row = read_row(e, "j/p/", workload, &rc, err);
    if (!row)
        return rc;
    const char *old = json_string_value(json_object_get(row, "state"));
    json_t *rec = NULL;
    if (e->audit && !strcmp(state, "released") && (!old || strcmp(old, "released") != 0))
        rec =
            json_pack("{s:s,s:s,s:O,s:O,s:O}", "kind", "release", "workload", workload,
                      "tenant", json_object_get(row, "tenant"), "node",
                      json_object_get(row, "node"), "gpus", json_object_get(row, "gpus"));
    json_object_set_new(row, "state", json_string(state));
    json_object_set_new(row, "at", json_integer(at));
    return rec ? put_audited(e, "j/p/", workload, row, at, rec, err)
               : put_row(e, "j/p/", workload, row, err);
}

int estore_put_idempotency(estore_t *e, const char *key, const char *hash, int status,
                           const char *response, tp_error_t *err)
{
    return put_row(e, "j/i/", key,
                   json_pack("{s:s,s:s,s:i,s:s}", "key", key, "hash", hash, "status",
                             status, "response", response),
                   err);
}

static void seq_name(char *buf, size_t cap, int64_t n)
{
    snprintf(buf, cap, "%020" PRId64, n);
}

int estore_add_power_event(estore_t *e, const char *body, int64_t start, int64_t end,
                           int64_t *id, tp_error_t *err)
{
    char name[32];
    *id = ++e->power_id;
    seq_name(name, sizeof name, *id);
    json_t *rec = e->audit ? json_pack("{s:s,s:I,s:s,s:I,s:I,s:o}", "kind", "power_event",
                                       "event", (json_int_t)*id, "state", "scheduled",
                                       "start", (json_int_t)start, "end", (json_int_t)end,
                                       "request", json_or_null(body))
                           : NULL;
    return put_audited(e, "j/e/", name,
                       json_pack("{s:I,s:s,s:I,s:I,s:s,s:n}", "id", (json_int_t)*id,
                                 "body", body, "start", (json_int_t)start, "end",
                                 (json_int_t)end, "state", "scheduled", "plan"),
                       (int64_t)time(NULL), rec, err);
}

int estore_set_power_event(estore_t *e, int64_t id, const char *state, const char *plan,
                           tp_error_t *err)
{
    char name[32];
    int rc;
    seq_name(name, sizeof name, id);
    json_t *row = read_row(e, "j/e/", name, &rc, err);
    if (!row)
        return rc;
    const char *old = json_string_value(json_object_get(row, "state"));
    bool changed = !old || strcmp(old, state) != 0;
    json_object_set_new(row, "state", json_string(state));
    if (plan)
        json_object_set_new(row, "plan", json_string(plan));
    json_t *rec =
        e->audit && changed
            ? json_pack("{s:s,s:I,s:s,s:o}", "kind", "power_event", "event",
                        (json_int_t)id, "state", state, "plan",
                        json_or_null(json_string_value(json_object_get(row, "plan"))))
            : NULL;
    return rec ? put_audited(e, "j/e/", name, row, (int64_t)time(NULL), rec, err)
               : put_row(e, "j/e/", name, row, err);
}

int estore_add_preemption(estore_t *e, const char *workload, const char *node,
                          const char *why, int64_t event, int64_t at, tp_error_t *err)
{
    char name[32];
    seq_name(name, sizeof name, ++e->pre_seq);
    json_t *rec = e->audit
                      ? json_pack("{s:s,s:s,s:s,s:s,s:I,s:o}", "kind", "preemption",
                                  "workload", workload, "node", node, "why", why, "event",
                                  (json_int_t)event, "facts", facts_of(e, node))
                      : NULL;
    return put_audited(e, "j/x/", name,
                       json_pack("{s:s,s:s,s:s,s:I,s:I}", "workload", workload, "node",
                                 node, "why", why, "event", (json_int_t)event, "at",
                                 (json_int_t)at),
                       at, rec, err);
}

int estore_add_profiles(estore_t *e, const char *body, int64_t at, tp_error_t *err)
{
    char name[32];
    seq_name(name, sizeof name, ++e->prof_seq);
    json_t *rec = e->audit ? json_pack("{s:s,s:s,s:o}", "kind", "policy_change", "change",
                                       "profiles", "profiles", json_or_null(body))
                           : NULL;
    return put_audited(e, "j/f/", name,
                       json_pack("{s:s,s:I}", "body", body, "at", (json_int_t)at), at,
                       rec, err);
}

/* ---- the audit outbox ---- */

void estore_audit_on(estore_t *e, tp_journal_facts_fn facts, void *arg)
{
    e->facts = facts;
    e->facts_arg = arg;
    e->audit = true;
}

int estore_add_audit(estore_t *e, int64_t at, const char *body, tp_error_t *err)
{
    json_t *rec = json_loads(body, 0, NULL);
    bool alone = !e->in_tx;
    if (!json_is_object(rec)) {
        json_decref(rec);
        return tp_error_set(err, TP_EINVAL,
                            "etcd store: an audit body must be a JSON object");
    }
    if (alone && estore_begin(e, err) < 0) {
        json_decref(rec);
        return err->code;
    }
    if (json_array_append_new(e->audit_pending,
                              json_pack("[I,o]", (json_int_t)at, rec))) {
        if (alone)
            estore_rollback(e);
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    return alone ? estore_commit(e, err) : 0;
}

int estore_audit_since(estore_t *e, int64_t after_seq,
                       int (*row)(void *arg, int64_t seq, int64_t at, const char *body),
                       void *arg, tp_error_t *err)
{
    char pre[1024], from[1100], name[32];
    tp_etcd_kv_t *kv = NULL;
    int n = 0, rc;
    int64_t rev = 0;
    snprintf(pre, sizeof pre, "%sa/", e->prefix);
    seq_name(name, sizeof name, after_seq + 1);
    snprintf(from, sizeof from, "%s%s", pre, name);
    rc = tp_etcd_scan_from(e->w, from, pre, 0, PAGE, &kv, &n, &rev, err);
    for (int i = 0; rc == 0 && i < n; i++) {
        json_t *v = json_loads(kv[i].value, 0, NULL);
        json_t *seq = json_object_get(v, "seq"), *at = json_object_get(v, "at");
        json_t *body = json_object_get(v, "body");
        char want[32];
        seq_name(want, sizeof want, json_integer_value(seq));
        char *text = json_is_object(body) ? json_dumps(body, JSON_COMPACT) : NULL;
        if (!json_is_integer(seq) || !json_is_integer(at) || !text ||
            json_integer_value(seq) <= after_seq || strcmp(kv[i].key + strlen(pre), want))
            rc = tp_error_set(err, TP_EINVAL,
                              "etcd store: %s: expected {\"seq\": the key's number, "
                              "\"at\": integer, \"body\": object}",
                              kv[i].key);
        else if ((rc = row(arg, json_integer_value(seq), json_integer_value(at), text)) <
                     0 &&
                 !err->code)
            tp_error_set(err, rc,
                         "etcd store: an audit record (seq %" PRId64 ") was refused",
                         (int64_t)json_integer_value(seq));
        free(text);
        json_decref(v);
    }
    for (int i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
    return rc;
}

/* ---- reads ---- */

/* Every key under P j/ changed after min_mod (0: all), read page by page at one
 * revision. */
static int scan(estore_t *e, tp_etcd_t *c, int64_t min_mod, tp_store_changes_t *out,
                tp_error_t *err)
{
    char start[1024];
    snprintf(start, sizeof start, "%sj/", e->prefix);
    return tp_etcd_scan(c, start, min_mod, PAGE, &out->kvs, &out->n, &out->revision, err);
}

void tp_store_changes_free(tp_store_changes_t *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++) {
        free(c->kvs[i].key);
        free(c->kvs[i].value);
    }
    free(c->kvs);
    free(c);
}

tp_store_changes_t *tp_store_changes_new(void)
{
    return calloc(1, sizeof(tp_store_changes_t));
}

int tp_store_changes_add(tp_store_changes_t *c, const char *key, const char *value,
                         size_t len, int64_t mod_revision)
{
    tp_etcd_kv_t *kvs = realloc(c->kvs, (size_t)(c->n + 1) * sizeof *kvs);
    if (!kvs)
        return TP_ENOMEM;
    c->kvs = kvs;
    tp_etcd_kv_t *kv = &kvs[c->n];
    memset(kv, 0, sizeof *kv);
    kv->key = strdup(key);
    kv->value = malloc(len + 1);
    if (!kv->key || !kv->value) {
        free(kv->key);
        free(kv->value);
        return TP_ENOMEM;
    }
    memcpy(kv->value, value, len);
    kv->value[len] = '\0';
    kv->value_len = len;
    kv->mod_revision = mod_revision;
    c->n++;
    return 0;
}

void tp_store_changes_reach(tp_store_changes_t *c, int64_t revision)
{
    if (revision > c->revision)
        c->revision = revision;
}

void tp_store_changes_skip(tp_store_changes_t *c, int64_t rev)
{
    int k = 0;
    for (int i = 0; i < c->n; i++) {
        if (c->kvs[i].mod_revision > rev) {
            c->kvs[k++] = c->kvs[i];
            continue;
        }
        free(c->kvs[i].key);
        free(c->kvs[i].value);
    }
    c->n = k;
}

int64_t tp_store_changes_revision(const tp_store_changes_t *c)
{
    return c->revision;
}

int tp_store_changes_count(const tp_store_changes_t *c)
{
    return c->n;
}

static int by_mod(const void *a, const void *b)
{
    const tp_etcd_kv_t *x = a, *y = b;
    if (x->mod_revision != y->mod_revision)
        return x->mod_revision < y->mod_revision ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int by_create(const void *a, const void *b)
{
    const tp_etcd_kv_t *x = a, *y = b;
    if (x->create_revision != y->create_revision)
        return x->create_revision < y->create_revision ? -1 : 1;
    return strcmp(x->key, y->key);
}

static const char *s_of(const json_t *row, const char *name)
{
    return json_string_value(json_object_get(row, name));
}

static int64_t i_of(const json_t *row, const char *name)
{
    return json_integer_value(json_object_get(row, name));
}

/* Delivers one row to cb. Immutable rows (preemptions, profiles) already known
 * (seq at or below the counter) are skipped. kind: 'p', 'i', 'e', 'x', 'f'. */
static int deliver(estore_t *e, const tp_etcd_kv_t *kv, char kind,
                   const tp_store_load_t *cb, tp_error_t *err)
{
    json_error_t je;
    json_t *row = json_loadb(kv->value, kv->value_len, 0, &je);
    int rc = 0;
    const char *name = kv->key + e->plen + 4;
    int64_t seq = kind == 'e' || kind == 'x' || kind == 'f' ? strtoll(name, NULL, 10) : 0;
    if (!json_is_object(row)) {
        json_decref(row);
        return tp_error_set(err, TP_EPARSE, "etcd store: %s: not a JSON object", kv->key);
    }
    switch (kind) {
    case 'p':
        if (!s_of(row, "workload") || !s_of(row, "state") || !s_of(row, "spec") ||
            !s_of(row, "decision"))
            rc = TP_EPARSE;
        else if (cb->placement)
            rc = cb->placement(cb->arg, s_of(row, "workload"), s_of(row, "state"),
                               s_of(row, "node"), (int)i_of(row, "gpus"),
                               s_of(row, "spec"), s_of(row, "decision"));
        break;
    case 'i':
        if (!s_of(row, "key") || !s_of(row, "hash") || !s_of(row, "response"))
            rc = TP_EPARSE;
        else if (cb->idempotency)
            rc = cb->idempotency(cb->arg, s_of(row, "key"), s_of(row, "hash"),
                                 (int)i_of(row, "status"), s_of(row, "response"));
        break;
    case 'e':
        if (seq > e->power_id)
            e->power_id = seq;
        if (!s_of(row, "body") || !s_of(row, "state"))
            rc = TP_EPARSE;
        else if (cb->power_event)
            rc = cb->power_event(cb->arg, seq, s_of(row, "body"), i_of(row, "start"),
                                 i_of(row, "end"), s_of(row, "state"), s_of(row, "plan"));
        break;
    case 'x':
        if (seq <= e->pre_seq)
            break;
        e->pre_seq = seq;
        if (!s_of(row, "workload") || !s_of(row, "node") || !s_of(row, "why"))
            rc = TP_EPARSE;
        else if (cb->preemption)
            rc = cb->preemption(cb->arg, s_of(row, "workload"), s_of(row, "node"),
                                s_of(row, "why"), i_of(row, "event"), i_of(row, "at"));
        break;
    case 'f':
        if (seq <= e->prof_seq)
            break;
        e->prof_seq = seq;
        if (!s_of(row, "body"))
            rc = TP_EPARSE;
        else if (cb->profiles)
            rc = cb->profiles(cb->arg, s_of(row, "body"));
        break;
    }
    json_decref(row);
    if (rc == TP_EPARSE)
        return tp_error_set(err, TP_EPARSE, "etcd store: %s: a field is missing",
                            kv->key);
    if (rc < 0 && !err->code)
        tp_error_set(err, rc, "etcd store: %s: the row was refused", kv->key);
    return rc;
}

static char kind_of(const estore_t *e, const char *key)
{
    const char *k = key + e->plen;
    if (strlen(key) < e->plen + 4 || k[0] != 'j' || k[1] != '/' || k[3] != '/')
        return 0;
    return strchr("piexf", k[2]) ? k[2] : 0;
}

int64_t estore_revision(const estore_t *e)
{
    return e->loaded_rev;
}

int estore_load(estore_t *e, const tp_store_load_t *cb, tp_error_t *err)
{
    tp_store_changes_t c = {0};
    tp_error_clear(err);
    int rc = scan(e, e->w, 0, &c, err);
    e->loaded_rev = c.revision;
    if (!rc) {
        if (c.n)
            qsort(c.kvs, (size_t)c.n, sizeof *c.kvs, by_create);
        /* the SQLite journal's order: profiles, placements, keys, events, preemptions */
        static const char order[] = "fpiex";
        for (int pass = 0; pass < 5 && !rc; pass++)
            for (int i = 0; i < c.n && !rc; i++)
                if (kind_of(e, c.kvs[i].key) == order[pass])
                    rc = deliver(e, &c.kvs[i], order[pass], cb, err);
    }
    for (int i = 0; i < c.n; i++) {
        free(c.kvs[i].key);
        free(c.kvs[i].value);
    }
    free(c.kvs);
    return rc;
}

int estore_poll(estore_t *e, int64_t since, tp_store_changes_t **out, tp_error_t *err)
{
    tp_store_changes_t *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    int rc = scan(e, e->r, since + 1, c, err);
    if (rc < 0) {
        tp_store_changes_free(c);
        return rc;
    }
    if (c->n)
        qsort(c->kvs, (size_t)c->n, sizeof *c->kvs, by_mod);
    *out = c;
    return 0;
}

int estore_poll_apply(estore_t *e, tp_store_changes_t *c, const tp_store_load_t *cb,
                      tp_error_t *err)
{
    tp_error_clear(err);
    for (int i = 0; i < c->n; i++) {
        char k = kind_of(e, c->kvs[i].key);
        int rc = k ? deliver(e, &c->kvs[i], k, cb, err) : 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}
