/*
 * scheduler/retention.c — what the service forgets, so that memory and the
 * journal stop growing with every request ever made (docs/serve.md,
 * "Retention"): idempotency keys older than --idempotency-retention, and
 * placements released or preempted longer ago than --released-retention.
 * The worker deletes the rows in one transaction (OP_PRUNE); the loop then
 * drops the same keys from memory. A crash in between loses nothing: the
 * journal is the truth and recovery reads what is left of it.
 */
#include "scheduler/serve_internal.h"

#include <stdlib.h>
#include <time.h>

#define DEFAULT_RETENTION_S 86400

static int64_t retention(int s)
{
    return s > 0 ? s : DEFAULT_RETENTION_S;
}

bool prune_due(svc_t *s)
{
    /* etcd: rows are not pruned yet (tp_store_prune) */
    if (s->prune_queued || tp_store_shared(s->journal))
        return false;
    /* a tenth of the shorter retention, between 1 s and 10 min */
    int64_t r = retention(s->o.idempotency_retention_s);
    if (retention(s->o.released_retention_s) < r)
        r = retention(s->o.released_retention_s);
    int64_t every = r / 10 < 1 ? 1 : r / 10 > 600 ? 600 : r / 10;
    int64_t now = (int64_t)time(NULL);
    if (now - s->last_prune < every)
        return false;
    s->last_prune = now;
    s->prune_queued = true;
    return true;
}

static int collect(void *arg, int table, const char *key)
{
    json_t *a = json_object_get(arg, table ? "placements" : "idempotency");
    /* ids and keys need not be UTF-8 here: only their bytes are used */
    return json_array_append_new(a, json_string_nocheck(key)) < 0 ? TP_ENOMEM : 0;
}

void prune_run(svc_t *s, op_t *op, int64_t now)
{
    tp_error_t err = {0};
    json_t *doc = json_pack("{s:[],s:[]}", "idempotency", "placements");
    if (!doc) {
        svc_log(s, "retention: out of memory");
        return;
    }
    if (tp_store_prune(s->journal, now - retention(s->o.idempotency_retention_s),
                       now - retention(s->o.released_retention_s), collect, doc,
                       &err) < 0) {
        svc_log(s, "retention: nothing pruned: %s", err.text);
        json_decref(doc);
        return;
    }
    op->doc = doc;
}

/* Marks the entries of ix named in keys; returns how many. */
static size_t mark(const tp_strmap_t *ix, const json_t *keys, bool *drop)
{
    size_t i, n = 0;
    const json_t *e;
    json_array_foreach (keys, i, e) {
        int x = tp_strmap_get(ix, json_string_value(e));
        if (x >= 0 && !drop[x]) {
            drop[x] = true;
            n++;
        }
    }
    return n;
}

static void forget_idempotency(svc_t *s, const json_t *keys)
{
    bool *drop = calloc((size_t)s->nidem + 1, sizeof *drop);
    if (!drop || !mark(s->idem_ix, keys, drop)) {
        free(drop);
        return;
    }
    tp_strmap_t *ix = tp_strmap_new((size_t)s->nidem + 1);
    if (!ix) {
        free(drop);
        return;
    }
    int k = 0;
    for (int i = 0; i < s->nidem; i++) {
        idem_t *e = &s->idem[i];
        if (drop[i] && !e->inflight) {
            free(e->key);
            free(e->hash);
            free(e->response);
            continue;
        }
        s->idem[k] = *e;
        if (s->idem[k].inflight) /* a queued request points at its entry */
            s->idem[k].inflight->idem = &s->idem[k];
        tp_strmap_put(ix, s->idem[k].key, k); /* sized for all: cannot grow */
        k++;
    }
    tp_strmap_free(s->idem_ix);
    s->idem_ix = ix;
    s->nidem = k;
    free(drop);
}

static void forget_placements(svc_t *s, const json_t *ids)
{
    bool *drop = calloc((size_t)s->nrecs + 1, sizeof *drop);
    if (!drop || !mark(s->rec_ix, ids, drop)) {
        free(drop);
        return;
    }
    tp_strmap_t *ix = tp_strmap_new((size_t)s->nrecs + 1);
    if (!ix) {
        free(drop);
        return;
    }
    int k = 0;
    for (int i = 0; i < s->nrecs; i++) {
        rec_t *r = &s->recs[i];
        if (drop[i] && (r->state == REC_RELEASED || r->state == REC_PREEMPTED)) {
            free(r->id);
            free(r->tenant);
            free(r->node);
            free(r->spec);
            free(r->decision);
            continue;
        }
        s->recs[k] = *r;
        tp_strmap_put(ix, s->recs[k].id, k);
        k++;
    }
    tp_strmap_free(s->rec_ix);
    s->rec_ix = ix;
    s->nrecs = k;
    free(drop);
}

void prune_apply(svc_t *s, const op_t *op)
{
    s->prune_queued = false;
    if (!op->doc)
        return;
    const json_t *ik = json_object_get(op->doc, "idempotency");
    const json_t *pk = json_object_get(op->doc, "placements");
    int ni = s->nidem, np = s->nrecs;
    forget_idempotency(s, ik);
    forget_placements(s, pk);
    if (ni != s->nidem || np != s->nrecs)
        svc_log(s,
                "retention: forgot %d idempotency key(s) and %d released or preempted "
                "placement(s)",
                ni - s->nidem, np - s->nrecs);
}
