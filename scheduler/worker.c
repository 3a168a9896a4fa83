/*
 * scheduler/worker.c — the operations queue and the one job in flight.
 *
 * Hand-off: the loop queues operations (op_enqueue) and, when no job runs,
 * takes the head of the queue — the placement requests and releases queued one
 * after another (up to batch_max workloads: one solve, one commit; a batch
 * decides its placements first, then its releases), or one other operation —
 * into a job for the libuv thread pool (uv_queue_work). The job decides
 * (solver, then the independent validator on the whole result), commits the
 * outcome to the journal in one transaction, and formats the answers; it only
 * reads the service's model. Back on the loop, after_job applies the committed
 * outcome to the model and answers the requests. Nothing is answered before
 * its commit.
 */
#include "scheduler/serve_internal.h"
#include "model/result_json.h"
#include "policy/validator.h"
#include "scheduler/metrics.h"
#include "solver/solver.h"
#include "util/file.h"
#include "util/json_in.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A change to running work the loop applies by workload id. */
typedef struct {
    char *id;
    rec_state_t st;
    int node; /* fleet index when running */
    int gpus;
    int pending_ix; /* new work: index into job->pending; -1 for running work */
    char *decision;
    int *members; /* a gang placed: its nodes (fleet indices), nodes[0] == node */
    int nmembers;
} change_t;

typedef struct {
    uv_work_t w;
    svc_t *s;
    op_t *ops; /* linked by next */
    op_kind_t kind;
    int64_t now;
    tp_workloads_t *pending; /* OP_PLACE: the batch's workloads */
    change_t *ch;
    int nch, capch;
    bool commit_ok;
    /* OP_PROFILES / OP_RELOAD: the new world */
    tp_fleet_t *nf;
    json_t *ndoc, *nprofiles;
    tp_workloads_t *nrun;
    tp_state_t *nstate;
    json_t *preempted; /* [{workload, node, why, event, at}] journaled */
    /* uv_hrtime() at the job's start, after its solve, after the validator,
     * after its commit, at its end: the placement phase metrics (scheduler/metrics.h) */
    uint64_t t_start, t_solved, t_valid, t_committed, t_end;
    const tp_load_t *load; /* s->load as the job began (borrowed), or NULL */
    bool audit_appended;   /* audit.jsonl gained rows: fdatasync it */
    bool audit_after;      /* the rows go to audit.jsonl after the answers */
    int nanswered;         /* placement requests answered after their commit */
    uint64_t t_audit;      /* audit_after: the append's duration */
} job_t;

void op_free(op_t *op)
{
    if (!op)
        return;
    for (int i = 0; op->specs && op->wl && i < op->wl->n; i++)
        free(op->specs[i]);
    free(op->specs);
    tp_workloads_free(op->wl);
    free(op->workload);
    free(op->body);
    free(op->kpath);
    free(op->ev.domain_id);
    json_decref(op->doc);
    free(op->answer);
    free(op->extra_hdr);
    free(op->extra_val);
    free(op);
}

void op_enqueue(svc_t *s, op_t *op)
{
    op->next = NULL;
    op->t_enq = uv_hrtime();
    if (s->qtail)
        s->qtail->next = op;
    else
        s->qhead = op;
    s->qtail = op;
    if (op->req)
        s->inflight_requests++;
    worker_kick(s);
}

static void op_answer(op_t *op, int status, json_t *doc)
{
    op->status = status;
    free(op->answer);
    op->answer = json_text(doc);
}

static void op_error(op_t *op, int status, const char *code, const char *path,
                     const char *msg)
{
    op_answer(op, status,
              json_pack("{s:{s:s,s:s,s:s?}}", "error", "code", code, "message", msg,
                        "path", path));
}

static int add_change(job_t *j, const char *id, rec_state_t st, int node, int gpus,
                      int pix, json_t *decision)
{
    if (j->nch == j->capch) {
        int cap = j->capch ? 2 * j->capch : 64;
        change_t *n = realloc(j->ch, (size_t)cap * sizeof *n);
        if (!n) {
            json_decref(decision);
            return TP_ENOMEM;
        }
        j->ch = n;
        j->capch = cap;
    }
    change_t *c = &j->ch[j->nch++];
    c->id = strdup(id);
    c->st = st;
    c->node = node;
    c->gpus = gpus;
    c->pending_ix = pix;
    c->decision = decision ? json_text(decision) : NULL;
    c->members = NULL;
    c->nmembers = 0;
    return c->id ? 0 : TP_ENOMEM;
}

/* The job's change of workload id, or NULL. */
static const change_t *change_of(const job_t *j, const char *id)
{
    for (int k = 0; k < j->nch; k++)
        if (!strcmp(j->ch[k].id, id))
            return &j->ch[k];
    return NULL;
}

static json_t *reasons_json(const int *reasons)
{
    json_t *r = json_object();
    for (int p = 0; p < TP_PRED_COUNT; p++)
        if (reasons[p])
            json_object_set_new(r, tp_pred_name((tp_pred_t)p), json_integer(reasons[p]));
    return r;
}

/* Preemptions and moves of running work in a result become changes; the
 * preemptions also go into j->preempted (journaled with event). */
static int running_changes(job_t *j, const tp_result_t *r, const tp_workloads_t *pending,
                           int64_t event)
{
    const svc_t *s = j->s;
    const tp_fleet_t *f = s->fleet;
    int base = pending ? pending->n : 0, rc = TP_ENOMEM;
    /* the job's changes by workload id (ids live in j->ch[k].id) */
    tp_strmap_t *ix = tp_strmap_new((size_t)(j->nch + r->npreemptions) + 1);
    if (!ix)
        return TP_ENOMEM;
    for (int k = 0; k < j->nch; k++)
        if (tp_strmap_put(ix, j->ch[k].id, k) == TP_ENOMEM)
            goto out;
    for (int i = 0; i < r->npreemptions; i++) {
        const tp_preemption_t *p = &r->preemptions[i];
        const tp_workload_t *w = &s->running->w[p->workload];
        json_array_append_new(
            j->preempted, json_pack("{s:s,s:s,s:s,s:I,s:I}", "workload", w->id, "node",
                                    f->nodes[p->node].id, "why", p->why, "event",
                                    (json_int_t)event, "at", (json_int_t)j->now));
        /* a gang is preempted once per member: one change stops it whole */
        if (tp_strmap_get(ix, w->id) >= 0)
            continue;
        if (add_change(j, w->id, REC_PREEMPTED, -1, 0, -1, NULL) < 0 ||
            tp_strmap_put(ix, j->ch[j->nch - 1].id, j->nch - 1) == TP_ENOMEM)
            goto out;
    }
    for (int i = 0; i < r->nplacements; i++) {
        const tp_placement_t *p = &r->placements[i];
        if (p->workload < base)
            continue;
        const tp_workload_t *w = &s->running->w[p->workload - base];
        if (w->gang) { /* a gang stops whole and is never moved: refuse the plan */
            rc = TP_EVIOLATION;
            goto out;
        }
        /* a move: it was preempted above; it now runs on p->node */
        int k = tp_strmap_get(ix, w->id);
        if (k >= 0) {
            j->ch[k].st = REC_RUNNING;
            j->ch[k].node = p->node;
            j->ch[k].gpus = p->gpus;
        }
    }
    rc = 0;
out:
    tp_strmap_free(ix);
    return rc;
}

/* Writes the running-work changes and preemption rows. */
static int journal_running(job_t *j, tp_error_t *err)
{
    svc_t *s = j->s;
    size_t i;
    json_t *e;
    for (int k = 0; k < j->nch; k++) {
        change_t *c = &j->ch[k];
        if (c->pending_ix >= 0)
            continue;
        rec_t *r = rec_find(s, c->id);
        int rc;
        if (c->st == REC_RUNNING) {
            json_t *d =
                json_pack("{s:s,s:s,s:s,s:i}", "workload", c->id, "state", "placed",
                          "node", s->fleet->nodes[c->node].id, "gpus", c->gpus);
            c->decision = json_text(d);
            rc = tp_store_put_placement(s->journal, c->id, r ? r->tenant : NULL,
                                        "running", s->fleet->nodes[c->node].id, c->gpus,
                                        r ? r->spec : "{}", c->decision, j->now, err);
        } else {
            rc =
                tp_store_set_state(s->journal, c->id, rec_state_name(c->st), j->now, err);
        }
        if (rc < 0)
            return rc;
    }
    json_array_foreach (j->preempted, i, e) {
        int rc = tp_store_add_preemption(
            s->journal, json_string_value(json_object_get(e, "workload")),
            json_string_value(json_object_get(e, "node")),
            json_string_value(json_object_get(e, "why")),
            json_integer_value(json_object_get(e, "event")), j->now, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A validator's count (or TP_E* code) as the job's error. */
static int verdict(int n, const tp_violations_t *v, tp_error_t *err)
{
    if (n > 0)
        return tp_error_set(err, TP_EVIOLATION, "the validator refused the decision: %s",
                            v->n ? v->msgs[0] : "?");
    if (n < 0)
        return tp_error_set(err, n, "validator: %s", tp_strerror(n));
    return 0;
}

/* The independent re-check of a whole result (policy/validator.h). Moved
 * running work (result index pending->n + running index) is shown to the
 * validator as extra candidates after the pending work, as the solver does. */
static int validate(job_t *j, const tp_state_t *eff, const tp_workloads_t *pending,
                    const tp_result_t *r, tp_error_t *err)
{
    const tp_workloads_t *run = j->s->running;
    int np = pending->n, nc = np, rc = TP_ENOMEM, n = 0;
    tp_workload_t *w = malloc(
        ((size_t)np + (size_t)r->nplacements + (size_t)r->npending + 1) * sizeof *w);
    int *cand = malloc(((size_t)run->n + 1) * sizeof *cand); /* running → candidate */
    tp_result_t *vr = tp_result_new();
    tp_violations_t v;
    tp_violations_init(&v);
    if (!w || !cand || !vr)
        goto out;
    for (int i = 0; i < np; i++)
        w[i] = pending->w[i];
    for (int i = 0; i < run->n; i++)
        cand[i] = -1;
#define CAND(ix)                                                                         \
    ((ix) < np ? (ix)                                                                    \
               : (cand[(ix)-np] < 0 ? (w[nc] = run->w[(ix)-np], cand[(ix)-np] = nc++)    \
                                    : cand[(ix)-np]))
    for (int i = 0; i < r->nplacements; i++)
        if (tp_result_add_placement(vr, CAND(r->placements[i].workload),
                                    r->placements[i].node, r->placements[i].gpus) < 0)
            goto out;
    for (int i = 0; i < r->npending; i++)
        if (tp_result_add_pending(vr, CAND(r->pending[i].workload),
                                  r->pending[i].reasons) < 0)
            goto out;
#undef CAND
    for (int i = 0; i < r->npreemptions; i++)
        if (tp_result_add_preemption(vr, r->preemptions[i].workload,
                                     r->preemptions[i].node, r->preemptions[i].why) < 0)
            goto out;
    tp_workloads_t ext = {.w = w, .n = nc};
    n = tp_validate(j->s->fleet, eff, &ext, run, vr, j->now, &v);
    rc = verdict(n, &v, err);
out:
    tp_violations_fini(&v);
    tp_result_free(vr);
    free(w);
    free(cand);
    return rc;
}

/* The validator's tally of the running work, built on first use (serve_internal.h). */
static const tp_vtally_t *tally(svc_t *s)
{
    if (!s->vtally)
        s->vtally = tp_vtally_new(s->fleet, s->state, s->running);
    return s->vtally;
}

/* The solver's cache for this fleet with the current tally and the job's kept
 * load; NULL (solve without one) when out of memory. */
static const tp_solver_cache_t *solver_cache(const job_t *j)
{
    svc_t *s = j->s;
    if (!s->solver_cache)
        s->solver_cache = tp_solver_cache_new(s->fleet);
    if (s->solver_cache) {
        s->solver_cache->tally = tally(s);
        s->solver_cache->load = j->load;
    }
    return s->solver_cache;
}

/* The same re-check for a result that only places or pends the batch's new
 * work: against s->vtally (built here, on first use, from the running set). */
static int validate_new(job_t *j, const tp_state_t *eff, const tp_result_t *r,
                        tp_error_t *err)
{
    svc_t *s = j->s;
    tp_violations_t v;
    if (!tally(s))
        return tp_error_set(err, TP_ENOMEM, "validator: out of memory");
    tp_violations_init(&v);
    int rc = verdict(tp_validate_new(s->fleet, eff, s->vtally, j->pending, r, j->now, &v),
                     &v, err);
    tp_violations_fini(&v);
    return rc;
}

/* ---- placement batches ---- */

#define SERVE_EXACT_PAIRS 1000

static void fail_all(job_t *j, int status, const char *code, const char *msg)
{
    for (op_t *op = j->ops; op; op = op->next)
        op_error(op, status, code, NULL, msg);
}

/* The batch's placement requests fail (its releases still go ahead). */
static void fail_places(job_t *j, int status, const char *code, const char *msg)
{
    for (op_t *op = j->ops; op; op = op->next)
        if (op->kind == OP_PLACE)
            op_error(op, status, code, NULL, msg);
}

/* The journal refused the batch: every request that would have changed
 * something fails (a release already answered 404 or 409 keeps its answer). */
static void fail_journal(job_t *j, const char *msg)
{
    for (op_t *op = j->ops; op; op = op->next)
        if (op->kind != OP_RELEASE || op->status == 200)
            op_error(op, 503, "journal_unavailable", NULL, msg);
}

static void drop_changes(job_t *j)
{
    for (int k = 0; k < j->nch; k++) {
        free(j->ch[k].id);
        free(j->ch[k].decision);
        free(j->ch[k].members);
    }
    j->nch = 0;
    json_array_clear(j->preempted);
}

/* The job's releases become changes, answered once they commit (before that,
 * 404 or 409 where there is nothing to release). A batch decides its
 * placements first, then its releases (its requests were all in flight
 * together; worker_kick keeps each workload to one request of a batch): work
 * the batch's solve preempted is no longer running, work it moved is released
 * from its new node. */
static int release_changes(job_t *j)
{
    for (op_t *op = j->ops; op; op = op->next) {
        if (op->kind != OP_RELEASE)
            continue;
        rec_t *r = rec_find(j->s, op->workload);
        const change_t *c = change_of(j, op->workload);
        if (!r || r->state != REC_RUNNING || (c && c->st != REC_RUNNING)) {
            op_error(op, r ? 409 : 404, r ? "conflict" : "not_found", NULL,
                     r ? "the workload is not running" : "no such workload");
            continue;
        }
        if (add_change(j, op->workload, REC_RELEASED, -1, 0, -1, NULL) < 0)
            return TP_ENOMEM;
        op_answer(op, 200,
                  json_pack("{s:s,s:s}", "workload", op->workload, "state", "released"));
    }
    return 0;
}

static void do_release(job_t *j);

/* A batch: placement requests (one solve) and releases, in one transaction. */
static void do_place(job_t *j)
{
    svc_t *s = j->s;
    tp_error_t err = {0};
    tp_solution_t *sol = NULL;
    tp_state_t *eff = state_effective(s, j->now);
    json_t **dec = NULL; /* per pending index */
    bool failed_tx = false;
    int *status = NULL;
    j->pending = tp_workloads_new_empty();
    int total = 0;
    for (op_t *op = j->ops; op; op = op->next)
        total += op->kind == OP_PLACE ? op->wl->n : 0;
    dec = calloc((size_t)total + 1, sizeof *dec);
    status = calloc((size_t)total + 1, sizeof *status);
    int *where =
        calloc((size_t)total + 1, sizeof *where); /* item → pending index or -1 */
    if (!eff || !j->pending || !dec || !status || !where) {
        fail_places(j, 503, "unavailable", "out of memory");
        goto out;
    }
    /* conflicts: work already running, or twice in this batch */
    int item = 0;
    for (op_t *op = j->ops; op; op = op->next)
        for (int i = 0; op->kind == OP_PLACE && i < op->wl->n; i++, item++) {
            const tp_workload_t *w = &op->wl->w[i];
            rec_t *r = rec_find(s, w->id);
            where[item] = -1;
            if ((r && r->state == REC_RUNNING) ||
                tp_workloads_find(j->pending, w->id) >= 0) {
                char msg[300];
                snprintf(
                    msg, sizeof msg,
                    "workload \"%s\" is already %s; DELETE it first to place it again",
                    w->id, r && r->state == REC_RUNNING ? "running" : "in this batch");
                dec[item] = json_pack("{s:s,s:{s:s,s:s}}", "workload", w->id, "error",
                                      "code", "conflict", "message", msg);
                status[item] = 409;
                continue;
            }
            if (wl_append(j->pending, w, -1) < 0) {
                fail_places(j, 503, "unavailable", "out of memory");
                goto out;
            }
            where[item] = j->pending->n - 1;
        }
    /* The per-pair MILP only where it is small: a lone 1-GPU request on a
     * 10,000-node fleet has thousands of eligible pairs, and for one workload
     * (or a few) the aggregated LP over node groups, then best fit, already
     * finds the best-valued node that fits (docs/serve.md, Benchmark). */
    tp_solver_opts_t so = {.now = j->now,
                           .time_limit_ms = 2000,
                           .exact_max_pairs = SERVE_EXACT_PAIRS,
                           .no_bound = true};
    uint64_t t0 = uv_hrtime();
    int solved = tp_solve_cached(s->fleet, eff, j->pending, s->running, solver_cache(j),
                                 &so, &sol, &err);
    j->t_solved = uv_hrtime();
    obs_time(s, TP_M_SOLVE, (double)(j->t_solved - t0) / 1e9);
    if (solved < 0) {
        fail_places(j, 503, "solver_failed", err.text);
        goto out;
    }
    /* The independent re-check of everything the result decides: the new
     * decisions against the validator's kept tally of the running work, or,
     * when the result also stops or moves running work (or holds a gang, or the
     * fleet has tenant quotas), the whole result. */
    if ((tp_validate_new_applies(s->fleet, j->pending, sol->result)
             ? validate_new(j, eff, sol->result, &err)
             : validate(j, eff, j->pending, sol->result, &err)) < 0) {
        fail_places(j, 500, "validator_refused", err.text);
        goto out;
    }
    j->t_valid = uv_hrtime();
    const tp_result_t *r = sol->result;
    int *placed_at = malloc(((size_t)j->pending->n + 1) * sizeof *placed_at);
    if (!placed_at) {
        fail_places(j, 503, "unavailable", "out of memory");
        goto out;
    }
    for (int k = 0; k < j->pending->n; k++)
        placed_at[k] = -1;
    for (int i = 0; i < r->nplacements; i++)
        if (r->placements[i].workload < j->pending->n)
            placed_at[r->placements[i].workload] = i;
    for (int k = 0; k < j->pending->n; k++) {
        const tp_workload_t *w = &j->pending->w[k];
        json_t *d;
        if (placed_at[k] >= 0 && tp_wl_nodes(w) > 1) {
            /* a gang: every member in this one decision (the validator checked
             * all or none), listed in result order, the first as "node" */
            int *mem = malloc((size_t)tp_wl_nodes(w) * sizeof *mem), nm = 0;
            json_t *ids = json_array();
            for (int i = 0; mem && i < r->nplacements; i++)
                if (r->placements[i].workload == k && nm < tp_wl_nodes(w)) {
                    mem[nm++] = r->placements[i].node;
                    json_array_append_new(
                        ids, json_string(s->fleet->nodes[r->placements[i].node].id));
                }
            if (!mem || nm != tp_wl_nodes(w)) {
                free(mem);
                json_decref(ids);
                free(placed_at);
                fail_places(j, mem ? 500 : 503, mem ? "validator_refused" : "unavailable",
                            mem ? "a gang placed in part" : "out of memory");
                goto out;
            }
            d = json_pack("{s:s,s:s,s:s,s:i,s:o}", "workload", w->id, "state", "placed",
                          "node", s->fleet->nodes[mem[0]].id, "gpus", w->gpus, "members",
                          ids);
            add_change(j, w->id, REC_RUNNING, mem[0], w->gpus, k, json_incref(d));
            j->ch[j->nch - 1].members = mem;
            j->ch[j->nch - 1].nmembers = nm;
        } else if (placed_at[k] >= 0) {
            const tp_placement_t *p = &r->placements[placed_at[k]];
            d = json_pack("{s:s,s:s,s:s,s:i}", "workload", w->id, "state", "placed",
                          "node", s->fleet->nodes[p->node].id, "gpus", p->gpus);
            add_change(j, w->id, REC_RUNNING, p->node, p->gpus, k, json_incref(d));
        } else {
            const int *reasons = NULL;
            for (int i = 0; i < r->npending; i++)
                if (r->pending[i].workload == k)
                    reasons = r->pending[i].reasons;
            int zero[TP_PRED_COUNT] = {0};
            d = json_pack("{s:s,s:s,s:o}", "workload", w->id, "state", "pending",
                          "reasons", reasons_json(reasons ? reasons : zero));
            add_change(j, w->id, REC_PENDING, -1, 0, k, json_incref(d));
        }
        for (int it = 0; it < total; it++)
            if (where[it] == k) {
                dec[it] = d;
                status[it] = placed_at[k] >= 0 ? 201 : 200;
            }
    }
    free(placed_at);
    int rcc = running_changes(j, r, j->pending, 0);
    if (rcc < 0) {
        fail_places(j, rcc == TP_EVIOLATION ? 500 : 503,
                    rcc == TP_EVIOLATION ? "validator_refused" : "unavailable",
                    rcc == TP_EVIOLATION ? "the plan moves a running gang"
                                         : "out of memory");
        goto out;
    }
    /* answers */
    if (release_changes(j) < 0) {
        fail_all(j, 503, "unavailable", "out of memory");
        failed_tx = true;
        goto out;
    }
    item = 0;
    for (op_t *op = j->ops; op; op = op->next) {
        if (op->kind != OP_PLACE)
            continue;
        if (op->batch) {
            json_t *arr = json_array();
            for (int i = 0; i < op->wl->n; i++)
                json_array_append(arr, dec[item + i]);
            op_answer(op, 200, json_pack("{s:o}", "decisions", arr));
        } else {
            op_answer(op, status[item], json_incref(dec[item]));
        }
        item += op->wl->n;
    }
    /* one transaction: decisions, running-work changes, idempotency keys */
    if (tp_store_begin(s->journal, &err) < 0)
        goto jfail;
    item = 0;
    for (op_t *op = j->ops; op; op = op->next) {
        for (int i = 0; op->kind == OP_PLACE && i < op->wl->n; i++, item++) {
            int k = where[item];
            if (k < 0)
                continue;
            const tp_workload_t *w = &j->pending->w[k];
            char *dtext = json_text(json_incref(dec[item]));
            int pl = status[item] == 201;
            int rc = tp_store_put_placement(
                s->journal, w->id, w->tenant, pl ? "running" : "pending",
                pl ? json_string_value(json_object_get(dec[item], "node")) : NULL,
                pl ? (int)json_integer_value(json_object_get(dec[item], "gpus")) : 0,
                op->specs[i], dtext ? dtext : "{}", j->now, &err);
            free(dtext);
            if (rc < 0)
                goto jfail_tx;
        }
        if (op->idem &&
            tp_store_put_idempotency(s->journal, op->idem->key, op->idem->hash,
                                     op->status, op->answer, &err) < 0)
            goto jfail_tx;
    }
    if (journal_running(j, &err) < 0 || tp_store_commit(s->journal, &err) < 0)
        goto jfail_tx;
    j->commit_ok = true;
    goto out;
jfail_tx:
    tp_store_rollback(s->journal);
jfail:
    fail_journal(j, err.text);
    failed_tx = true;
out:
    if (!j->commit_ok && !failed_tx) { /* no placements: the releases alone */
        drop_changes(j);
        do_release(j);
    }
    for (int i = 0; dec && i < total; i++)
        json_decref(dec[i]);
    free(dec);
    free(status);
    free(where);
    tp_solution_free(sol);
    state_effective_free(eff);
}

/* ---- power events ---- */

static json_t *plan_json(job_t *j, const tp_solution_t *sol)
{
    json_t *pre = json_deep_copy(j->preempted), *moves = json_array(),
           *unmet = json_array();
    for (int k = 0; k < j->nch; k++)
        if (j->ch[k].st == REC_RUNNING)
            json_array_append_new(moves,
                                  json_pack("{s:s,s:s,s:i}", "workload", j->ch[k].id,
                                            "node", j->s->fleet->nodes[j->ch[k].node].id,
                                            "gpus", j->ch[k].gpus));
    for (int i = 0; sol && i < sol->ncaps_unmet; i++)
        json_array_append_new(unmet, json_string(sol->caps_unmet[i]));
    return json_pack("{s:o,s:o,s:o}", "preemptions", pre, "moves", moves, "caps_unmet",
                     unmet);
}

static void do_power(job_t *j)
{
    svc_t *s = j->s;
    op_t *op = j->ops;
    tp_error_t err = {0};
    tp_solution_t *sol = NULL;
    tp_state_t *eff = NULL;
    json_t *plan = NULL;
    bool now_starts = op->ev.start <= j->now;
    if (tp_store_begin(s->journal, &err) < 0)
        goto jfail;
    if (!op->event_id && tp_store_add_power_event(s->journal, op->body, op->ev.start,
                                                  op->ev.end, &op->event_id, &err) < 0)
        goto jfail_tx;
    op->ev.id = op->event_id;
    if (now_starts) {
        eff = state_effective(s, j->now);
        int d = eff ? tp_strmap_get(s->fleet->domain_ix, op->ev.domain_id) : -1;
        if (d < 0) {
            tp_store_rollback(s->journal);
            op_error(op, 422, "invalid_event", "$.domain", "no such power domain");
            goto out;
        }
        if (isnan(eff->domain_cap_w[d]) || op->ev.cap_w < eff->domain_cap_w[d])
            eff->domain_cap_w[d] = op->ev.cap_w;
        tp_workloads_t *none = tp_workloads_new_empty();
        tp_solver_opts_t so = {.now = j->now, .time_limit_ms = 800, .no_bound = true};
        int rc = none ? tp_solve_cached(s->fleet, eff, none, s->running, solver_cache(j),
                                        &so, &sol, &err)
                      : TP_ENOMEM;
        if (!rc)
            rc = validate(j, eff, none, sol->result, &err);
        if (!rc)
            rc = running_changes(j, sol->result, none, op->event_id);
        tp_workloads_free(none);
        if (rc < 0) {
            tp_store_rollback(s->journal);
            op_error(op, rc == TP_EVIOLATION ? 500 : 503, "plan_failed", NULL, err.text);
            goto out;
        }
        plan = plan_json(j, sol);
        char *ptext = json_text(json_incref(plan));
        rc = tp_store_set_power_event(s->journal, op->event_id, "active", ptext, &err);
        free(ptext);
        if (rc < 0 || journal_running(j, &err) < 0)
            goto jfail_tx;
    }
    if (tp_store_commit(s->journal, &err) < 0)
        goto jfail_tx;
    j->commit_ok = true;
    op->ev.started = now_starts;
    op_answer(op, now_starts ? 201 : 202,
              json_pack("{s:I,s:s,s:f,s:I,s:I,s:s,s:o*}", "event",
                        (json_int_t)op->event_id, "domain", op->ev.domain_id, "cap_w",
                        op->ev.cap_w, "start", (json_int_t)op->ev.start, "end",
                        (json_int_t)op->ev.end, "state",
                        now_starts ? "active" : "scheduled", "plan", plan));
    plan = NULL;
    goto out;
jfail_tx:
    tp_store_rollback(s->journal);
jfail:
    op_error(op, 503, "journal_unavailable", NULL, err.text);
out:
    json_decref(plan);
    tp_solution_free(sol);
    state_effective_free(eff);
}

static void do_power_end(job_t *j)
{
    tp_error_t err = {0};
    op_t *op = j->ops;
    if (tp_store_set_power_event(j->s->journal, op->event_id, "ended", NULL, &err) < 0)
        op_error(op, 503, "journal_unavailable", NULL, err.text);
    else
        j->commit_ok = true;
}

/* ---- Kubernetes bind: the node is kube-scheduler's choice, re-checked ---- */

static void do_bind(job_t *j)
{
    svc_t *s = j->s;
    op_t *op = j->ops;
    const tp_workload_t *w = &op->wl->w[0];
    tp_error_t err = {0};
    tp_state_t *eff = state_effective(s, j->now);
    tp_load_t *load = eff ? tp_load_new(s->fleet, eff, s->running) : NULL;
    tp_result_t *r = tp_result_new();
    rec_t *rec = rec_find(s, w->id);
    char msg[512];
    op->status = 200;
    if (!eff || !load || !r) {
        op_answer(op, 500, tp_k8s_bind_result("out of memory"));
        goto out;
    }
    if (rec && rec->state == REC_RUNNING) {
        snprintf(msg, sizeof msg, "workload %s already runs on %s", w->id, rec->node);
        op_answer(op, 200, tp_k8s_bind_result(msg));
        goto out;
    }
    tp_predset_t p = tp_policy_check(s->fleet, eff, load, op->node, w, j->now);
    if (p) {
        size_t o = (size_t)snprintf(msg, sizeof msg, "node %s may not run %s:",
                                    s->fleet->nodes[op->node].id, w->id);
        for (int i = 0; i < TP_PRED_COUNT && o < sizeof msg; i++)
            if (p & TP_PRED_BIT(i))
                o += (size_t)snprintf(msg + o, sizeof msg - o, " %s",
                                      tp_pred_name((tp_pred_t)i));
        op_answer(op, 200, tp_k8s_bind_result(msg));
        goto out;
    }
    j->pending = tp_workloads_new_empty();
    if (!j->pending || wl_append(j->pending, w, -1) < 0 ||
        tp_result_add_placement(r, 0, op->node, w->gpus) < 0) {
        op_answer(op, 500, tp_k8s_bind_result("out of memory"));
        goto out;
    }
    if (validate(j, eff, j->pending, r, &err) < 0) {
        op_answer(op, 500, tp_k8s_bind_result(err.text));
        goto out;
    }
    /* the pod is bound before its placement is journaled (scheduler/kubebind.c) */
    if (op->kpath &&
        kube_bind(s, op, s->fleet->nodes[op->node].id, msg, sizeof msg) < 0) {
        op_answer(op, 200, tp_k8s_bind_result(msg));
        goto out;
    }
    json_t *d = json_pack("{s:s,s:s,s:s,s:i}", "workload", w->id, "state", "placed",
                          "node", s->fleet->nodes[op->node].id, "gpus", w->gpus);
    char *dtext = json_text(json_incref(d));
    int rc = tp_store_put_placement(s->journal, w->id, w->tenant, "running",
                                    s->fleet->nodes[op->node].id, w->gpus, op->specs[0],
                                    dtext ? dtext : "{}", j->now, &err);
    free(dtext);
    if (rc < 0) {
        json_decref(d);
        if (op->kpath) /* bound already: say so, it runs untracked (docs/k8s.md) */
            svc_log(s, "pod of %s is bound to %s but not journaled: %s", w->id,
                    s->fleet->nodes[op->node].id, err.text);
        op_answer(op, 503, tp_k8s_bind_result(err.text));
        goto out;
    }
    add_change(j, w->id, REC_RUNNING, op->node, w->gpus, 0, d);
    j->commit_ok = true;
    op_answer(op, 200, tp_k8s_bind_result(NULL));
out:
    tp_result_free(r);
    tp_load_free(load);
    state_effective_free(eff);
}

/* ---- release ---- */

/* Releases alone (also a batch whose placements failed before its commit). */
static void do_release(job_t *j)
{
    svc_t *s = j->s;
    tp_error_t err = {0};
    if (release_changes(j) < 0) {
        drop_changes(j);
        for (op_t *op = j->ops; op; op = op->next)
            if (op->kind == OP_RELEASE)
                op_error(op, 503, "unavailable", NULL, "out of memory");
        return;
    }
    if (!j->nch)
        return;
    if (tp_store_begin(s->journal, &err) < 0)
        goto fail;
    if (journal_running(j, &err) < 0 || tp_store_commit(s->journal, &err) < 0) {
        tp_store_rollback(s->journal);
        goto fail;
    }
    j->commit_ok = true;
    return;
fail:
    drop_changes(j);
    for (op_t *op = j->ops; op; op = op->next)
        if (op->kind == OP_RELEASE && op->status == 200)
            op_error(op, 503, "journal_unavailable", NULL, err.text);
}

/* ---- reconciliation: running work a node may no longer hold ---- */

#define EVICT_PREDS                                                                      \
    (TP_PRED_BIT(TP_PRED_CPU_TEE) | TP_PRED_BIT(TP_PRED_GPU_CC) | TP_PREDS_ATTESTATION | \
     TP_PRED_BIT(TP_PRED_RESIDENCY) | TP_PRED_BIT(TP_PRED_RESIDENCY_MISMATCH) |          \
     TP_PRED_BIT(TP_PRED_RESIDENCY_UNVERIFIED))

static void do_reconcile(job_t *j)
{
    svc_t *s = j->s;
    tp_error_t err = {0};
    for (int i = 0; i < s->running->n; i++) {
        const tp_workload_t *w = &s->running->w[i];
        tp_predset_t p =
            tp_policy_static(s->fleet, s->state, w->node, w, j->now) & EVICT_PREDS;
        if (!p)
            continue;
        char why[96];
        int first = 0;
        while (!(p & (1u << first)))
            first++;
        snprintf(why, sizeof why, "eviction:%s", tp_pred_name((tp_pred_t)first));
        if (change_of(j, w->id))
            continue;
        /* a gang member: the gang stops whole, one row per member */
        int g0, ng = wl_entries(s->running, w->id, &g0);
        for (int m = g0; m < g0 + ng; m++)
            json_array_append_new(
                j->preempted,
                json_pack("{s:s,s:s,s:s,s:I,s:I}", "workload", w->id, "node",
                          s->fleet->nodes[s->running->w[m].node].id, "why", why, "event",
                          0, "at", (json_int_t)j->now));
        add_change(j, w->id, REC_PREEMPTED, -1, 0, -1, NULL);
    }
    if (!j->nch)
        return;
    if (tp_store_begin(s->journal, &err) < 0)
        return;
    if (journal_running(j, &err) < 0 || tp_store_commit(s->journal, &err) < 0) {
        tp_store_rollback(s->journal);
        svc_log(s, "reconcile: %s (will retry)", err.text);
        return;
    }
    j->commit_ok = true;
}

/* ---- profiles and fleet reloads: a new world built off the loop ---- */

static int rebuild(job_t *j, const json_t *doc, json_t *profiles, tp_error_t *err)
{
    svc_t *s = j->s;
    if (fleet_build(s, doc, profiles, &j->nf, err) < 0)
        return err->code;
    if (running_build(s, j->nf, &j->nrun, err) < 0)
        return err->code;
    if (!(j->nstate = state_remap(s->fleet, s->state, j->nf)))
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    return 0;
}

static void do_profiles(job_t *j)
{
    svc_t *s = j->s;
    op_t *op = j->ops;
    tp_error_t err = {0};
    j->nprofiles = json_deep_copy(s->profiles);
    size_t i;
    json_t *e;
    json_array_foreach (op->doc, i, e)
        json_array_append(j->nprofiles, e);
    if (rebuild(j, s->fleet_doc, j->nprofiles, &err) < 0) {
        op_error(op, 422, "invalid_profiles", "$", err.text);
        return;
    }
    if (tp_store_add_profiles(s->journal, op->body, j->now, &err) < 0) {
        op_error(op, 503, "journal_unavailable", NULL, err.text);
        return;
    }
    j->commit_ok = true;
    op_answer(op, 200,
              json_pack("{s:i,s:i}", "accepted", (int)json_array_size(op->doc),
                        "profiles", j->nf->nprofiles));
}

static void do_reload(job_t *j)
{
    svc_t *s = j->s;
    tp_error_t err = {0};
    char *text = NULL;
    size_t len;
    jr_t r = {s->o.config, &err};
    if (tp_file_read(s->o.config, 64 << 20, &text, &len, &err) == 0) {
        j->ndoc = jr_parse_buffer(&r, text, len);
        if (j->ndoc)
            rebuild(j, j->ndoc, s->profiles, &err);
    }
    free(text);
    if (err.code) {
        svc_log(s, "SIGHUP: %s is not usable; keeping the fleet loaded before: %s",
                s->o.config, err.text);
        j->commit_ok = false;
        return;
    }
    if (obs_note(s, j->now, "policy_change", "fleet_reload", &err) < 0)
        svc_log(s, "audit: %s", err.text);
    j->commit_ok = true;
}

/* ---- the job ---- */

static void run_job(uv_work_t *w)
{
    job_t *j = w->data;
    j->now = (int64_t)time(NULL);
    j->t_start = uv_hrtime();
    j->preempted = json_array();
    switch (j->kind) {
    case OP_PLACE:
        do_place(j);
        break;
    case OP_RELEASE:
        do_release(j);
        break;
    case OP_POWER:
        do_power(j);
        break;
    case OP_POWER_END:
        do_power_end(j);
        break;
    case OP_PROFILES:
        do_profiles(j);
        break;
    case OP_RELOAD:
        do_reload(j);
        break;
    case OP_RECONCILE:
        do_reconcile(j);
        break;
    case OP_BIND:
        do_bind(j);
        break;
    case OP_PRUNE:
        prune_run(j->s, j->ops, j->now);
        j->commit_ok = true; /* prune_apply also ends a failed prune */
        break;
    }
    j->t_committed = uv_hrtime();
    /* this job's audit rows → audit.jsonl right after its answers (audit_after:
     * a follow-up pool task; the worker stays busy until they are in, so the
     * next job starts after them, and a drain waits for them). The journal,
     * committed before the answers, holds every row (and a start appends what
     * the file lacks). The file's fdatasync runs beside the next job
     * (obs_sync_start). Meanwhile the answered clients' next requests queue
     * and join the next batch. */
    j->audit_after = true;
    j->t_end = uv_hrtime();
}

/* Where an answered placement request's time went (scheduler/metrics.h). */
static void observe_phases(svc_t *s, const job_t *j, const op_t *op, uint64_t answered)
{
    if (!j->t_valid) /* refused before its commit: not a decision */
        return;
    uint64_t t[] = {op->t_enq,      j->t_start, j->t_solved, j->t_valid,
                    j->t_committed, j->t_end,   answered};
    for (int i = 0; i < TP_M_PH_TOTAL - TP_M_PH_QUEUE; i++)
        if (TP_M_PH_QUEUE + i != TP_M_PH_AUDIT || !j->audit_after) /* audit_done's */
            obs_time(s, TP_M_PH_QUEUE + i,
                     t[i + 1] > t[i] ? (double)(t[i + 1] - t[i]) / 1e9 : 0);
    obs_time(s, TP_M_PH_TOTAL, (double)(answered - op->t_enq) / 1e9);
}

static void swap_world(svc_t *s, job_t *j)
{
    for (int i = 0; i < s->nviews; i++)
        free(s->views[i].json);
    free(s->views);
    s->views = NULL;
    s->nviews = 0;
    /* the old fleet may still be borrowed by a closing collector: serve.c
     * retires it */
    svc_retire_fleet(s, s->fleet);
    tp_state_free(s->state);
    tp_workloads_free(s->running);
    svc_invalidate(s);
    s->fleet = j->nf;
    s->state = j->nstate;
    s->running = j->nrun;
    j->nf = NULL;
    j->nstate = NULL;
    j->nrun = NULL;
    if (j->ndoc) {
        json_decref(s->fleet_doc);
        s->fleet_doc = j->ndoc;
        j->ndoc = NULL;
    }
    if (j->nprofiles) {
        json_decref(s->profiles);
        s->profiles = j->nprofiles;
        j->nprofiles = NULL;
    }
    if (s->next_state) { /* a cycle of the old collector: map it over */
        tp_state_free(s->next_state);
        s->next_state = NULL;
    }
}

/* The submitted spec of new work id in this job. */
static const char *spec_of(const job_t *j, const char *id)
{
    const char *spec = NULL;
    for (op_t *op = j->ops; op; op = op->next)
        for (int i = 0; op->kind == OP_PLACE && i < op->wl->n; i++)
            if (!spec && !strcmp(op->wl->w[i].id, id))
                spec = op->specs[i];
    return spec;
}

/* TP_SERVE_SELF_CHECK set (the serve tests): after every applied job, the
 * running set's id index must name each workload's first entry and nothing
 * else, and the kept load and node list must be what a fresh tp_load_new says,
 * bit for bit; a difference is a bug in the delta bookkeeping and stops the
 * service. */
static void self_check(svc_t *s)
{
    static int on = -1;
    if (on < 0)
        on = getenv("TP_SERVE_SELF_CHECK") != NULL;
    if (!on)
        return;
    /* the running set's id index, kept entry by entry by wl_remove_marked: each
     * workload's first entry, and nothing else */
    int firsts = 0;
    for (int i = 0; i < s->running->n; i++) {
        const tp_workload_t *w = &s->running->w[i];
        if (w->gang && w->gang != i + 1)
            continue;
        firsts++;
        if (tp_strmap_get(s->running->ix, w->id) != i) {
            svc_log(s, "self-check: the running index has \"%s\" at %d, not %d", w->id,
                    tp_strmap_get(s->running->ix, w->id), i);
            abort();
        }
    }
    if (tp_strmap_count(s->running->ix) != (size_t)firsts) {
        svc_log(s, "self-check: the running index holds %zu ids for %d workloads",
                tp_strmap_count(s->running->ix), firsts);
        abort();
    }
    if (!s->load)
        return;
    tp_load_t *fresh = tp_load_new(s->fleet, s->state, s->running);
    const tp_load_t *l = s->load;
    if (!fresh)
        return;
    int bad = -1;
    for (int n = 0; n < l->nnodes && bad < 0; n++)
        if (l->gpus_used[n] != fresh->gpus_used[n] ||
            memcmp(&l->node_w[n], &fresh->node_w[n], sizeof l->node_w[n]))
            bad = n;
    for (int d = 0; d < l->ndomains && bad < 0; d++)
        if (memcmp(&l->domain_w[d], &fresh->domain_w[d], sizeof l->domain_w[d]))
            bad = l->nnodes + d;
    for (int i = 0; s->run_node && i < s->running->n && bad < 0; i++)
        if (s->run_node[i] != s->running->w[i].node)
            bad = l->nnodes + l->ndomains + i;
    tp_load_free(fresh);
    if (bad >= 0) {
        svc_log(s, "self-check: the kept load differs from tp_load_new (entry %d)", bad);
        abort();
    }
}

/* s->run_node follows an append to s->running: entry i (appended, so
 * i < s->running->n) runs on node (false: out of memory). */
static bool run_node_push(svc_t *s, int i, int node)
{
    if (!s->run_node)
        return true; /* no kept load: nothing to follow */
    if (s->running->n > s->caprun_node) {
        int cap = 2 * s->running->n;
        int *n = realloc(s->run_node, (size_t)cap * sizeof *n);
        if (!n)
            return false;
        s->run_node = n;
        s->caprun_node = cap;
    }
    s->run_node[i] = node;
    return true;
}

/* Appends running index i to *list (false: out of memory). */
static bool mark_gone(int **list, int *n, int *cap, int i)
{
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 64;
        int *l = realloc(*list, (size_t)c * sizeof *l);
        if (!l)
            return false;
        *list = l;
        *cap = c;
    }
    (*list)[(*n)++] = i;
    return true;
}

/* Applies a committed job to the model (loop thread). */
static void apply(svc_t *s, job_t *j)
{
    if (j->kind == OP_PROFILES || j->kind == OP_RELOAD) {
        swap_world(s, j);
        return;
    }
    if (j->kind == OP_PRUNE) {
        prune_apply(s, j->ops);
        return;
    }
    int n0 = s->running->n;
    bool *gone = calloc((size_t)n0 + 1, sizeof *gone);
    /* the nodes whose running work changes: their load is summed again */
    bool *changed = calloc((size_t)s->fleet->nnodes + 1, sizeof *changed);
    bool changed_ok = changed != NULL; /* else the load is dropped, rebuilt on use */
    tp_vtally_t *t = s->vtally;        /* follows every start, stop and move below */
    bool tally_ok = gone != NULL;
    /* the indices marked in gone, for wl_remove_marked */
    int *glist = NULL, ngone = 0, capgone = 0;
    bool list_ok = true; /* else wl_remove_marked takes its order-keeping pass */
    for (int k = 0; k < j->nch; k++) {
        change_t *c = &j->ch[k];
        rec_t *r = rec_upsert(s, c->id);
        if (!r)
            continue;
        bool was_running = r->state == REC_RUNNING;
        const char *node = c->st == REC_RUNNING ? s->fleet->nodes[c->node].id : NULL;
        if (c->pending_ix >= 0) {
            const tp_workload_t *w = &j->pending->w[c->pending_ix];
            rec_set(r, w->tenant, c->st, node, c->gpus, spec_of(j, c->id), c->decision);
            if (c->st == REC_RUNNING) {
                int n1 = s->running->n;
                if ((c->members ? wl_append_gang(s->running, w, c->members)
                                : wl_append(s->running, w, c->node)) < 0)
                    tally_ok = false;
                else
                    for (int m = n1; m < s->running->n; m++) { /* a gang: each member */
                        int nd = s->running->w[m].node;
                        if (t)
                            tp_vtally_move(t, s->fleet, nd, &s->running->w[m], 1);
                        if (changed)
                            changed[nd] = true;
                        if (!run_node_push(s, m, nd))
                            changed_ok = false;
                    }
            }
            continue;
        }
        rec_set(r, r->tenant, c->st, node, c->gpus, NULL, c->decision);
        int i = -1, ng = was_running ? wl_entries(s->running, c->id, &i) : 0;
        tp_workload_t *rw = ng > 0 ? &s->running->w[i] : NULL;
        for (int m = i; rw && changed && m < i + ng; m++)
            changed[s->running->w[m].node] = true;
        if (rw && changed && c->st == REC_RUNNING)
            changed[c->node] = true;
        if (rw && ng > 1) { /* a gang stops whole */
            for (int m = i; m < i + ng && m < n0 && gone; m++) {
                if (t && !gone[m])
                    tp_vtally_move(t, s->fleet, s->running->w[m].node, &s->running->w[m],
                                   -1);
                if (!gone[m] && !mark_gone(&glist, &ngone, &capgone, m))
                    list_ok = false;
                gone[m] = true;
            }
        } else if (rw && c->st == REC_RUNNING) { /* moved by a cap */
            if (t) {
                tp_vtally_move(t, s->fleet, rw->node, rw, -1);
                tp_vtally_move(t, s->fleet, c->node, rw, 1);
            }
            rw->node = c->node;
            if (s->run_node)
                s->run_node[i] = c->node;
        } else if (rw && i < n0 && gone) {
            if (t && !gone[i])
                tp_vtally_move(t, s->fleet, rw->node, rw, -1);
            if (!gone[i] && !mark_gone(&glist, &ngone, &capgone, i))
                list_ok = false;
            gone[i] = true;
        }
    }
    if (gone && wl_remove_marked(s->running, gone, list_ok ? glist : NULL,
                                 list_ok ? ngone : n0, n0, s->run_node, changed) < 0)
        tally_ok = false;
    free(gone);
    free(glist);
    size_t i;
    json_t *e;
    json_array_foreach (j->preempted, i, e)
        json_array_append(s->preemptions, e);
    if (j->nch) {
        if (tally_ok)
            svc_running_changed(s, changed_ok ? changed : NULL);
        else
            svc_invalidate(s);
    }
    free(changed);
    self_check(s);
    if (j->kind == OP_POWER || j->kind == OP_POWER_END)
        s->version++; /* caps changed: eligibility did */
    if (j->kind == OP_POWER) {
        op_t *op = j->ops;
        pevent_t *ev = NULL;
        for (int k = 0; k < s->nevents; k++)
            if (s->events[k].id == op->ev.id)
                ev = &s->events[k];
        if (!ev && pevent_add(s, op->ev.id, op->ev.domain_id, op->ev.cap_w, op->ev.start,
                              op->ev.end) > 0)
            ev = &s->events[s->nevents - 1];
        if (ev)
            ev->started = op->ev.started;
        adr_note(s, op); /* an order from the VTN: its source is now journaled */
    } else if (j->kind == OP_POWER_END) {
        for (int k = 0; k < s->nevents; k++)
            if (s->events[k].id == j->ops->event_id)
                s->events[k].ended = true;
    }
}

/* The end of a job: the audit file's sync, then the next job. */
static void job_done(svc_t *s, job_t *j)
{
    bool sync = j->audit_appended;
    free(j);
    if (sync) /* the answers are out: audit.jsonl's fdatasync beside the next job */
        obs_sync_start(s);
    s->busy = false;
    svc_after_job(s);
    worker_kick(s);
}

/* A power event's audit rows, after its answer (run_job's audit_after). */
static void audit_work(uv_work_t *w)
{
    job_t *j = w->data;
    uint64_t t0 = uv_hrtime();
    j->audit_appended = obs_append(j->s);
    j->t_audit = uv_hrtime() - t0;
}

static void audit_done(uv_work_t *w, int status)
{
    job_t *j = w->data;
    (void)status;
    /* the audit phase of the placement requests it answered: after their answers */
    for (int i = 0; i < j->nanswered; i++)
        obs_time(j->s, TP_M_PH_AUDIT, (double)j->t_audit / 1e9);
    job_done(j->s, j);
}

static void after_job(uv_work_t *w, int status)
{
    job_t *j = w->data;
    svc_t *s = j->s;
    (void)status;
    if (j->commit_ok)
        apply(s, j);
    for (op_t *op = j->ops, *next; op; op = next) {
        next = op->next;
        if (op->kind == OP_POWER ||
            op->kind == OP_POWER_END) /* done or failed: next tick */
            for (int k = 0; k < s->nevents; k++)
                if (s->events[k].id == op->event_id)
                    s->events[k].queued = false;
        if (op->idem) {
            if (op->answer && op->status < 500 && j->commit_ok) {
                op->idem->status = op->status;
                op->idem->response = strdup(op->answer);
            }
            op->idem->inflight = NULL;
        }
        if (op->req) {
            if (op->answer)
                tp_httpd_respond(op->req, op->status, op->answer, strlen(op->answer));
            else
                tp_httpd_error(op->req, 500, "internal", NULL, "no answer");
            s->inflight_requests--;
            if (op->kind == OP_PLACE && j->commit_ok && j->t_valid) {
                observe_phases(s, j, op, uv_hrtime());
                j->nanswered++;
            }
        }
        op_free(op);
    }
    for (int k = 0; k < j->nch; k++) {
        free(j->ch[k].id);
        free(j->ch[k].decision);
        free(j->ch[k].members);
    }
    free(j->ch);
    tp_workloads_free(j->pending);
    tp_fleet_free(j->nf);
    tp_workloads_free(j->nrun);
    tp_state_free(j->nstate);
    json_decref(j->ndoc);
    json_decref(j->nprofiles);
    json_decref(j->preempted);
    if (j->audit_after && uv_queue_work(s->loop, &j->w, audit_work, audit_done) == 0)
        return; /* the worker stays busy until the rows are in audit.jsonl */
    if (j->audit_after)
        audit_work(&j->w); /* cannot happen with a live loop */
    job_done(s, j);
}

/* Whether op may join a batch whose placed and released ids are in pl and rel
 * (then it is added): a release shares its workload with no other request of
 * its batch, since the batch decides its placements before its releases. */
static bool joins(tp_strmap_t *pl, tp_strmap_t *rel, const op_t *op)
{
    if (op->kind == OP_RELEASE) {
        if (tp_strmap_get(pl, op->workload) >= 0 || tp_strmap_get(rel, op->workload) >= 0)
            return false;
        return tp_strmap_put(rel, op->workload, 0) == 0;
    }
    for (int i = 0; i < op->wl->n; i++)
        if (tp_strmap_get(rel, op->wl->w[i].id) >= 0)
            return false;
    for (int i = 0; i < op->wl->n; i++)
        if (tp_strmap_put(pl, op->wl->w[i].id, 0) == TP_ENOMEM)
            return false;
    return true;
}

/* The last operation of the job that starts at the head of the queue: the
 * placement requests (up to batch_max workloads) and releases queued one after
 * another, or the head alone. */
static op_t *batch_tail(svc_t *s)
{
    op_t *tail = s->qhead;
    if (tail->kind != OP_PLACE && tail->kind != OP_RELEASE)
        return tail;
    int max = s->o.batch_max > 0 ? s->o.batch_max : 512;
    tp_strmap_t *pl = tp_strmap_new(64), *rel = tp_strmap_new(64);
    int n = 0;
    for (op_t *op = tail; op && (op->kind == OP_PLACE || op->kind == OP_RELEASE);
         op = op->next) {
        int add = op->kind == OP_PLACE ? op->wl->n : 1;
        if (op != s->qhead && n + add > max)
            break;
        if (!pl || !rel || !joins(pl, rel, op)) {
            if (op == s->qhead) /* out of memory: the head alone */
                tail = op;
            break;
        }
        n += add;
        tail = op;
    }
    tp_strmap_free(pl);
    tp_strmap_free(rel);
    return tail;
}

void worker_kick(svc_t *s)
{
    if (s->busy || !s->qhead)
        return;
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->s = s;
    j->kind = s->qhead->kind;
    j->w.data = j;
    /* take the head; the placement requests and releases queued after it
     * share one solve and one commit */
    op_t *tail = batch_tail(s);
    for (op_t *op = s->qhead; op != tail->next; op = op->next)
        if (op->kind == OP_PLACE) /* else releases alone, or another kind alone */
            j->kind = OP_PLACE;
    if (j->kind == OP_PLACE || j->kind == OP_POWER)
        j->load = svc_load(s); /* built here, on the loop; the job only reads it */
    j->ops = s->qhead;
    s->qhead = tail->next;
    if (!s->qhead)
        s->qtail = NULL;
    tail->next = NULL;
    s->busy = true;
    if (uv_queue_work(s->loop, &j->w, run_job, after_job) != 0) {
        run_job(&j->w); /* cannot happen with a live loop; never drop work */
        after_job(&j->w, 0);
    }
}
