/*
 * solver/improve.c — ruin and recreate by value per watt: a local improvement
 * of a finished plan (after the aggregated LP's packing and repair).
 *
 * On a contended fleet power binds (at 10,000 × 30,000 the three sites are
 * within 15 W of their caps), so the best plans fill it with the work that
 * earns the most per watt. The LP gives each group a share of a shared rack or
 * row in proportion to node headroom, not by value, and repair places by
 * weight, not per watt: the plan keeps work that earns little per watt while
 * work that earns more waits. plan_improve() removes the placed work that
 * earns least per watt — the cheapest fraction f of the plan's watts — and
 * recreates: the unplaced candidates by their best value per watt over the
 * groups they may use, highest first, each on the eligible group where it
 * draws least (then the LP's group order: least trust, best GPU model), best
 * fit, with repair's per-demand cursor; then repair by weight. It tries f up a
 * ladder (RUIN_LADDER), each rung from the same plan, keeps the best plan, and
 * stops at the first rung after the second that improves on nothing (on the
 * contended benchmark the best lies at 4% of the watts at 10,000 × 30,000 and
 * at 30–45% in the demand-response case). A plan replaces p only when its
 * objective is higher, so the result is never worse than p.
 *
 * Deterministic and order-independent: every order here is by value, then
 * canonical index; no clock is read; the ladder is fixed.
 */
#include "solver/solver_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Fractions of the plan's watts to ruin, tried in this order. */
static const double RUIN_LADDER[] = {0.02, 0.04, 0.07, 0.12, 0.2, 0.3, 0.45, 0.65, 1.0};

typedef struct {
    double key, weight;
    int ci;
} vw_t;

/* Highest key first, then the heavier, then index. */
static int by_vw(const void *a, const void *b)
{
    const vw_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key > y->key ? -1 : 1;
    if (x->weight != y->weight)
        return x->weight > y->weight ? -1 : 1;
    return (x->ci > y->ci) - (x->ci < y->ci);
}

typedef struct {
    double w;
    int pos, g;
} gw_t;

static int by_gw(const void *a, const void *b)
{
    const gw_t *x = a, *y = b;
    if (x->w != y->w)
        return x->w < y->w ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

typedef struct {
    size_t ng;
    int *gorder; /* [k * ng + b]: the groups class k may use, least watts first */
    int *gcount; /* [k] */
    double *key; /* [k]: value per watt on the first of them */
    int *order;  /* every candidate in recreate's order (by_vw on key, weight) */
} rec_t;

static void rec_fini(rec_t *R)
{
    free(R->gorder);
    free(R->gcount);
    free(R->key);
    free(R->order);
}

static int rec_init(const ctx_t *c, rec_t *R)
{
    gw_t *gw = malloc(((size_t)c->ng + 1) * sizeof *gw);
    vw_t *o = malloc(((size_t)c->nc + 1) * sizeof *o);
    R->ng = (size_t)c->ng;
    R->order = malloc(((size_t)c->nc + 1) * sizeof *R->order);
    R->gorder = malloc(((size_t)c->nk * R->ng + 1) * sizeof *R->gorder);
    R->gcount = calloc((size_t)c->nk + 1, sizeof *R->gcount);
    R->key = calloc((size_t)c->nk + 1, sizeof *R->key);
    if (!gw || !o || !R->order || !R->gorder || !R->gcount || !R->key) {
        free(gw);
        free(o);
        return TP_ENOMEM;
    }
    for (int k = 0; k < c->nk; k++) {
        int ci = c->k_mem[c->k_off[k]], m = 0;
        const int *groups = c->g_by_model[c->cw[ci]->model + 1];
        for (int b = 0; b < c->ng; b++) {
            int j = groups[b];
            if (ctx_static_ok(c, ci, c->g_mem[c->g_off[j]]))
                gw[m++] = (gw_t){plan_least_watts(c, ci, j), b, j};
        }
        qsort(gw, (size_t)m, sizeof *gw, by_gw);
        for (int b = 0; b < m; b++)
            R->gorder[(size_t)k * R->ng + (size_t)b] = gw[b].g;
        R->gcount[k] = m;
        R->key[k] = m == 0 ? 0
                    : gw[0].w > 0
                        ? ctx_value(c, ci, c->g_mem[c->g_off[gw[0].g]]) / gw[0].w
                        : INFINITY;
    }
    /* The order is total (index last) and the keys fixed: sorted once, each
     * rung filters it. */
    for (int ci = 0; ci < c->nc; ci++)
        o[ci] = (vw_t){R->key[c->cand_k[ci]],
                       (1.0 + c->cw[ci]->priority) * c->cw[ci]->gpus, ci};
    qsort(o, (size_t)c->nc, sizeof *o, by_vw);
    for (int a = 0; a < c->nc; a++)
        R->order[a] = o[a].ci;
    free(gw);
    free(o);
    return 0;
}

/* Places p's unplaced candidates by value per watt (see the top). */
static int recreate(const ctx_t *c, const rec_t *R, plan_t *p)
{
    int *cursor = calloc((size_t)c->nk + 1, sizeof *cursor);
    if (!cursor)
        return TP_ENOMEM;
    /* Members of one class ask the same of every node and loads only grow:
     * where one found no room the next will not either (as in repair). */
    for (int a = 0; a < c->nc; a++) {
        int ci = R->order[a], k = c->cand_k[ci], b = cursor[k];
        if (p->cnode[ci] >= 0 || b < 0)
            continue;
        for (; b < R->gcount[k]; b++) {
            int node = plan_best_fit(c, p, ci, R->gorder[(size_t)k * R->ng + (size_t)b]);
            if (node >= 0) {
                plan_place(c, p, ci, node);
                break;
            }
        }
        cursor[k] = b < R->gcount[k] ? b : -1;
    }
    free(cursor);
    return 0;
}

static double work_w(const ctx_t *c, int ci, int n)
{
    return c->cw[ci]->gpus * tp_fleet_gpu_watts(c->f, n, c->cw[ci]->model);
}

/* q = orig less its placed work pl[from..np) (the cheapest per watt), then
 * recreated and repaired. */
static int ruin_one(const ctx_t *c, const rec_t *R, const plan_t *orig, const vw_t *pl,
                    int from, int np, plan_t *q)
{
    int nl, *list, rc;
    if ((rc = plan_copy(q, orig, c)) < 0)
        return rc;
    for (int a = from; a < np; a++) {
        int ci = pl[a].ci, n = q->cnode[ci];
        q->cnode[ci] = -1;
        tp_load_apply(q->load, c->f, n, c->cw[ci]->gpus,
                      tp_fleet_gpu_watts(c->f, n, c->cw[ci]->model), -1);
    }
    if ((rc = recreate(c, R, q)) < 0)
        return rc;
    if (!(list = plan_unplaced_by_weight(c, q, &nl)))
        return TP_ENOMEM;
    rc = plan_repair(c, q, list, nl);
    free(list);
    return rc;
}

int plan_improve(const ctx_t *c, plan_t *p, int *tries)
{
    rec_t R = {0};
    plan_t orig = {0};
    vw_t *pl = malloc(((size_t)c->nc + 1) * sizeof *pl);
    int rc = TP_ENOMEM, np = 0;
    double total = 0, best = plan_objective(c, p, NULL);
    *tries = 0;
    if (!pl || rec_init(c, &R) < 0 || plan_copy(&orig, p, c) < 0)
        goto out;
    for (int ci = 0; ci < c->nc; ci++)
        if (p->cnode[ci] >= 0) {
            double ws = work_w(c, ci, p->cnode[ci]);
            pl[np++] =
                (vw_t){ws > 0 ? ctx_value(c, ci, p->cnode[ci]) / ws : INFINITY, ws, ci};
            total += ws;
        }
    qsort(pl, (size_t)np, sizeof *pl, by_vw); /* the most per watt first */
    int from = np;
    double gone = 0;
    for (size_t t = 0; t < sizeof RUIN_LADDER / sizeof *RUIN_LADDER && from > 0; t++) {
        /* The cheapest per watt until RUIN_LADDER[t] of the watts are gone. */
        while (from > 0 && gone < RUIN_LADDER[t] * total)
            gone += pl[--from].weight;
        plan_t q = {0};
        if ((rc = ruin_one(c, &R, &orig, pl, from, np, &q)) < 0) {
            plan_fini(&q);
            goto out;
        }
        double v = plan_objective(c, &q, NULL);
        bool better = v > best + 1e-9;
        (*tries)++;
        if (better) {
            plan_t tmp = *p;
            *p = q;
            q = tmp;
            best = v;
        }
        plan_fini(&q);
        if (!better && t > 0)
            break; /* past the best rung */
    }
    rc = 0;
out:
    plan_fini(&orig);
    free(pl);
    rec_fini(&R);
    return rc;
}
