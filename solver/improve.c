/*
 * solver/improve.c — ruin and recreate by value per watt: a local improvement
 * of a finished plan (after the aggregated LP's packing and repair), gangs
 * included where the gang LP (gang_lp.c) decides them.
 *
 * On a contended fleet power binds (at 10,000 × 30,000 the three sites are
 * within 15 W of their caps; in the mixed gang benchmark within 307 W), so the
 * best plans fill it with the work that earns the most per watt. The LP gives
 * each group a share of a shared rack or row in proportion to node headroom,
 * not by value, repair places by weight, not per watt, and a gang's best fit
 * takes the fullest nodes of its domain, not the cheapest: the plan keeps work
 * that earns little per watt while work that earns more waits.
 * plan_improve() removes the placed items (single-node candidates and the
 * gang LP's open gangs, whole) that earn least per watt — the cheapest
 * fraction f of the plan's watts — and recreates greedily by value per watt
 * on the current load: a max-heap of the unplaced items, each keyed by an
 * upper bound of what it earns per watt (a class of candidates: on the next
 * group of its demand's order, least watts first, where the demand has not
 * yet found a group full; a gang: its least draw on the lifted base), loads
 * only growing. The top class places its next member by best fit in that
 * group or moves to its next group, rekeyed; the top gang is seated on the
 * domain of its kind where its members, on the nodes that draw least there,
 * draw least in all (gang_lp_seat: all members or none, each member's
 * predicates, its tenant's room) and kept if its real value per watt still
 * leads, else it goes back at that value. Then repair by weight. It tries f
 * up a ladder (RUIN_LADDER), each rung from the same plan, keeps the best
 * plan, and stops at the first rung after the second that improves on
 * nothing — or before any rung once the best plan is within IMPROVE_GAP_STOP
 * of the caller's valid bound (plan_improve_done): what the ladder could still
 * win is then below that. A plan replaces p (and its gangs: gang_lp_set, which
 * moves c->base) only when its objective, gangs included, is higher, so the
 * result is never worse than p. With the gang LP's gangs and `exchanges`
 * (the caller's: not where AUTO's exact model follows), exchanges follow
 * (exchange()): a gang with a kind that could draw less — placed in a
 * dearer domain than one it could have alone, or waiting while cheaper work
 * runs — is seated in one of its least-drawing domains after the work that
 * earns less per watt there (and above, for the watts) leaves; the rest is
 * recreated and repaired, the plan kept when better. Chain exchanges follow
 * (chain_exchange()): where a gang's cheap domain holds gangs that earn more
 * per watt, a small depth-first search on the gangs alone (single-node work
 * priced per watt at its site) moves them on to their own cheap domains, an
 * ejection chain; the best chains by that price are tried on the plan the
 * same way, kept when better, and a kept one polished by one ladder rung
 * (the cheapest CHAIN_POLISH of the watts), kept when better again. Last
 * (round_seat()), where the caller's aggregate had rk_cuts round R(ν)'s LP
 * (gang_round.c): the LP's gangs, each in its domain there, are seated on a
 * plan emptied of every movable item, the rest recreated and repaired, the
 * plan kept when better.
 *
 * Deterministic and order-independent: every order here is by value, then
 * canonical index; no clock is read; the ladder is fixed, and so is the bound
 * it stops on (the caller's, from work budgets).
 */
#include "solver/solver_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Fractions of the plan's watts to ruin, tried in this order. */
static const double RUIN_LADDER[] = {0.02, 0.04, 0.07, 0.12, 0.2, 0.3, 0.45, 0.65, 1.0};

/* The ladder stops once its best plan is within this fraction of the bound:
 * under half the 1% gap target at 10,000 × 30,000; there and at 50,000 ×
 * 150,000 the rungs it then skips gained 0.12% / 0.06% of the objective for
 * 63% of the ladder's time (docs/solver.md). */
#define IMPROVE_GAP_STOP 4e-3

bool plan_improve_done(double objective, double bound)
{
    return isfinite(bound) && bound > 0 && objective >= (1 - IMPROVE_GAP_STOP) * bound;
}

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

/* The open gangs of the gang LP (gang_lp.c) as one trial sees them: in the
 * ruin order item nc + i is gang i, in recreate's heap item nk + i. */
typedef struct {
    int *mem;  /* flat, [goff[i], goff[i + 1]): gang i's members */
    char *on;  /* [i]: placed */
    long *use; /* tenants' use */
} gst_t;

typedef struct {
    int *gorder;  /* [c->dg_off[d] + b]: the groups demand d may use, least watts first */
    double *gwat; /* [c->dg_off[d] + b]: the least watts it draws there */
    int nit;      /* items: nc candidates, then nga gangs */
    int nga, *goff, nG, ntn;
    int *members; /* scratch for gang_lp_seat */
    char *gfull;  /* [class]: no domain seated a gang of it in this recreate */
} rec_t;

static void rec_fini(rec_t *R)
{
    free(R->gorder);
    free(R->gwat);
    free(R->goff);
    free(R->members);
    free(R->gfull);
}

/* How many groups class k's demand is statically eligible on (c->dg). */
static int dem_groups(const ctx_t *c, int k)
{
    return c->dg_off[c->k_dem[k] + 1] - c->dg_off[c->k_dem[k]];
}

/* Class k's value per watt on the b-th group of its demand's order. */
static double class_key(const ctx_t *c, const rec_t *R, int k, int b)
{
    size_t at = (size_t)c->dg_off[c->k_dem[k]] + (size_t)b;
    int j = R->gorder[at];
    return R->gwat[at] > 0
               ? ctx_value(c, c->k_mem[c->k_off[k]], c->g_mem[c->g_off[j]]) / R->gwat[at]
               : INFINITY;
}

static double gang_value(const tp_workload_t *w)
{
    return (1.0 + w->priority) * w->gpus * tp_wl_nodes(w);
}

static double gang_draw(const ctx_t *c, const tp_workload_t *w, const int *mem)
{
    double d = 0;
    for (int j = 0; j < tp_wl_nodes(w); j++)
        d += w->gpus * tp_fleet_gpu_watts(c->f, mem[j], w->model);
    return d;
}

static int rec_init(const ctx_t *c, rec_t *R)
{
    R->nga = gang_lp_count(c);
    R->nG = gang_lp_nclasses(c);
    R->ntn = R->nga > 0 ? c->f->ntenants : 0; /* use: only for gangs */
    R->nit = c->nc + R->nga;
    gw_t *gw = malloc(((size_t)c->ng + 1) * sizeof *gw);
    char *done = calloc((size_t)c->ndem + 1, 1);
    R->gorder = malloc(((size_t)c->dg_off[c->ndem] + 1) * sizeof *R->gorder);
    R->gwat = malloc(((size_t)c->dg_off[c->ndem] + 1) * sizeof *R->gwat);
    R->goff = calloc((size_t)R->nga + 1, sizeof *R->goff);
    R->members = malloc(((size_t)c->f->nnodes + 1) * sizeof *R->members);
    R->gfull = calloc((size_t)R->nG + 1, 1);
    int rc = TP_ENOMEM;
    if (!gw || !done || !R->gorder || !R->gwat || !R->goff || !R->members || !R->gfull)
        goto out;
    for (int k = 0; k < c->nk; k++) {
        int ci = c->k_mem[c->k_off[k]], d = c->k_dem[k], m = 0;
        if (done[d])
            continue;
        done[d] = 1;
        for (int b = c->dg_off[d]; b < c->dg_off[d + 1]; b++) /* eligible, in order */
            gw[m++] = (gw_t){plan_least_watts(c, ci, c->dg[b]), b, c->dg[b]};
        if (m > 32) {
            qsort(gw, (size_t)m, sizeof *gw, by_gw);
        } else { /* insertion: the same total order, without qsort's overhead */
            for (int a = 1; a < m; a++)
                for (int b = a; b > 0 && by_gw(&gw[b], &gw[b - 1]) < 0; b--) {
                    gw_t t = gw[b];
                    gw[b] = gw[b - 1];
                    gw[b - 1] = t;
                }
        }
        for (int b = 0; b < m; b++) {
            R->gorder[(size_t)c->dg_off[d] + (size_t)b] = gw[b].g;
            R->gwat[(size_t)c->dg_off[d] + (size_t)b] = gw[b].w;
        }
    }
    for (int i = 0; i < R->nga; i++)
        R->goff[i + 1] = R->goff[i] + tp_wl_nodes(gang_lp_work(c, i));
    rc = 0;
out:
    free(gw);
    free(done);
    return rc;
}

static void gst_fini(gst_t *g)
{
    free(g->mem);
    free(g->on);
    free(g->use);
    *g = (gst_t){0};
}

/* dst = src, or (src NULL) the gang LP's gangs as they stand. */
static int gst_copy(const ctx_t *c, const rec_t *R, gst_t *dst, const gst_t *src)
{
    if (!dst->mem) {
        dst->mem = malloc(((size_t)R->goff[R->nga] + 1) * sizeof *dst->mem);
        dst->on = calloc((size_t)R->nga + 1, 1);
        dst->use = calloc((size_t)R->ntn + 1, sizeof *dst->use);
        if (!dst->mem || !dst->on || !dst->use)
            return TP_ENOMEM;
    }
    if (src) {
        memcpy(dst->mem, src->mem, (size_t)R->goff[R->nga] * sizeof *dst->mem);
        memcpy(dst->on, src->on, (size_t)R->nga);
        memcpy(dst->use, src->use, (size_t)R->ntn * sizeof *dst->use);
        return 0;
    }
    for (int i = 0; i < R->nga; i++) {
        const int *m = gang_lp_members(c, i);
        dst->on[i] = m != NULL;
        if (m)
            memcpy(dst->mem + R->goff[i], m,
                   (size_t)tp_wl_nodes(gang_lp_work(c, i)) * sizeof *m);
    }
    if (R->ntn > 0)
        memcpy(dst->use, gang_lp_use(c), (size_t)R->ntn * sizeof *dst->use);
    return 0;
}

static double gst_value(const ctx_t *c, const rec_t *R, const gst_t *g)
{
    double v = 0;
    for (int i = 0; i < R->nga; i++)
        if (g->on[i])
            v += gang_value(gang_lp_work(c, i));
    return v;
}

/* A max-heap of items by value per watt (by_vw's order): a class k of
 * single-node candidates (id k) or an open gang (id nk + i). */
typedef struct {
    vw_t *h;
    int n;
} heap_t;

static void heap_push(heap_t *H, vw_t e)
{
    int i = H->n++;
    while (i > 0 && by_vw(&e, &H->h[(i - 1) / 2]) < 0) {
        H->h[i] = H->h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    H->h[i] = e;
}

static vw_t heap_pop(heap_t *H)
{
    vw_t top = H->h[0], e = H->h[--H->n];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, m = l;
        if (l >= H->n)
            break;
        if (l + 1 < H->n && by_vw(&H->h[l + 1], &H->h[l]) < 0)
            m = l + 1;
        if (by_vw(&H->h[m], &e) >= 0)
            break;
        H->h[i] = H->h[m];
        i = m;
    }
    if (H->n > 0)
        H->h[i] = e;
    return top;
}

/* Places p's unplaced items (and gs's waiting gangs) by value per watt on
 * the current load, lazily (see the top). */
static int recreate(const ctx_t *c, rec_t *R, plan_t *p, gst_t *gs)
{
    int *cursor = calloc((size_t)c->nk + 1, sizeof *cursor);
    int *nxt = malloc(((size_t)c->nk + 1) * sizeof *nxt);
    int *dcur = calloc((size_t)c->nk + 1, sizeof *dcur); /* [demand]: groups full */
    heap_t H = {malloc(((size_t)c->nk + (size_t)R->nga + 1) * sizeof *H.h), 0};
    if (!cursor || !nxt || !dcur || !H.h) {
        free(cursor);
        free(dcur);
        free(nxt);
        free(H.h);
        return TP_ENOMEM;
    }
    memset(R->gfull, 0, (size_t)R->nG);
    for (int k = 0; k < c->nk; k++) {
        int a = c->k_off[k];
        while (a < c->k_off[k + 1] && p->cnode[c->k_mem[a]] >= 0)
            a++;
        nxt[k] = a;
        if (a < c->k_off[k + 1] && dem_groups(c, k) > 0) {
            int ci = c->k_mem[a];
            heap_push(&H, (vw_t){class_key(c, R, k, 0),
                                 (1.0 + c->cw[ci]->priority) * c->cw[ci]->gpus, k});
        }
    }
    for (int i = 0; i < R->nga; i++) {
        double d = gang_lp_least_draw(c, i);
        const tp_workload_t *w = gang_lp_work(c, i);
        if (!gs->on[i] && isfinite(d))
            heap_push(&H, (vw_t){d > 0 ? gang_value(w) / d : INFINITY, gang_value(w),
                                 c->nk + i});
    }
    while (H.n > 0) {
        vw_t e = heap_pop(&H);
        if (e.ci >= c->nk) {
            int i = e.ci - c->nk, G = gang_lp_class(c, i);
            const tp_workload_t *w = gang_lp_work(c, i);
            int *m = gs->mem + R->goff[i];
            if (R->gfull[G])
                continue;
            if (!gang_lp_seat(c, p->load, gs->use, i, m)) {
                if (side_room(c, gs->use, tp_wl_tenant(w)) >=
                    (long)tp_wl_nodes(w) * w->gpus)
                    R->gfull[G] = 1; /* it had room: no domain has */
                continue;
            }
            double d = gang_draw(c, w, m);
            vw_t now = {d > 0 ? gang_value(w) / d : INFINITY, e.weight, e.ci};
            if (H.n == 0 || by_vw(&now, &H.h[0]) <= 0) {
                gs->on[i] = 1;
                continue;
            }
            for (int j = 0; j < tp_wl_nodes(w); j++) /* not yet: back, at its price */
                tp_load_apply(p->load, c->f, m[j], w->gpus,
                              tp_fleet_gpu_watts(c->f, m[j], w->model), -1);
            side_use_add(c, gs->use, tp_wl_tenant(w), -(long)tp_wl_nodes(w) * w->gpus);
            heap_push(&H, now);
            continue;
        }
        /* Members of one class ask the same of every node and loads only
         * grow: where one found no room the next will not either. The class
         * goes on without the heap while it still leads. */
        for (int k = e.ci, *dc = &dcur[c->k_dem[k]];;) {
            int ci = c->k_mem[nxt[k]], node = -1;
            if (cursor[k] >= *dc) /* else its demand found that group full */
                node = plan_best_fit(
                    c, p, ci,
                    R->gorder[(size_t)c->dg_off[c->k_dem[k]] + (size_t)cursor[k]]);
            if (node < 0 && *dc <= cursor[k])
                *dc = cursor[k] + 1;
            if (node >= 0) { /* the next member, at the same key */
                plan_place(c, p, ci, node);
                int a = nxt[k] + 1;
                while (a < c->k_off[k + 1] && p->cnode[c->k_mem[a]] >= 0)
                    a++;
                if ((nxt[k] = a) == c->k_off[k + 1])
                    break;
            } else if ((cursor[k] = *dc) < dem_groups(c, k)) {
                e.key = class_key(c, R, k, cursor[k]);
            } else {
                break;
            }
            if (H.n > 0 && by_vw(&e, &H.h[0]) > 0) {
                heap_push(&H, e);
                break;
            }
        }
    }
    free(cursor);
    free(nxt);
    free(dcur);
    free(H.h);
    return 0;
}

static double work_w(const ctx_t *c, int ci, int n)
{
    return c->cw[ci]->gpus * tp_fleet_gpu_watts(c->f, n, c->cw[ci]->model);
}

/* Takes placed item it (a candidate below nc, else open gang it - nc) off q
 * and gs. */
static void evict(const ctx_t *c, const rec_t *R, plan_t *q, gst_t *gs, int it)
{
    if (it >= c->nc) {
        int i = it - c->nc;
        const tp_workload_t *w = gang_lp_work(c, i);
        const int *m = gs->mem + R->goff[i];
        for (int j = 0; j < tp_wl_nodes(w); j++)
            tp_load_apply(q->load, c->f, m[j], w->gpus,
                          tp_fleet_gpu_watts(c->f, m[j], w->model), -1);
        side_use_add(c, gs->use, tp_wl_tenant(w), -(long)tp_wl_nodes(w) * w->gpus);
        gs->on[i] = 0;
        return;
    }
    int n = q->cnode[it];
    q->cnode[it] = -1;
    tp_load_apply(q->load, c->f, n, c->cw[it]->gpus,
                  tp_fleet_gpu_watts(c->f, n, c->cw[it]->model), -1);
}

/* Recreates q's unplaced items (and gs's waiting gangs), then repairs. */
static int rebuild(const ctx_t *c, rec_t *R, plan_t *q, gst_t *gs)
{
    int nl, *list, rc;
    if ((rc = recreate(c, R, q, gs)) < 0)
        return rc;
    if (!(list = plan_unplaced_by_weight(c, q, &nl)))
        return TP_ENOMEM;
    rc = plan_repair(c, q, list, nl);
    free(list);
    return rc;
}

/* q = orig less its placed items pl[from..np) (the cheapest per watt), then
 * recreated and repaired; gs: the gangs of q. */
static int ruin_one(const ctx_t *c, rec_t *R, const plan_t *orig, const gst_t *gorig,
                    const vw_t *pl, int from, int np, plan_t *q, gst_t *gs)
{
    int rc;
    if ((rc = plan_copy(q, orig, c)) < 0 || (rc = gst_copy(c, R, gs, gorig)) < 0)
        return rc;
    for (int a = from; a < np; a++)
        evict(c, R, q, gs, pl[a].ci);
    return rebuild(c, R, q, gs);
}

/* When q (gangs gq) is better than *best, it swaps with p (gangs g), and
 * *best becomes its objective. */
static bool keep_better(const ctx_t *c, const rec_t *R, plan_t *p, gst_t *g, plan_t *q,
                        gst_t *gq, double *best)
{
    double v = plan_objective(c, q, NULL) + gst_value(c, R, gq);
    if (!(v > *best + 1e-9))
        return false;
    plan_t tp = *p;
    *p = *q;
    *q = tp;
    gst_t gt = *g;
    *g = *gq;
    *gq = gt;
    *best = v;
    return true;
}

/* The gang LP's gangs (and with them c->base) as in g. */
static int gst_commit(const ctx_t *c, const rec_t *R, const gst_t *g)
{
    int rc = 0;
    for (int i = 0; i < R->nga && rc == 0; i++) {
        const int *m = gang_lp_members(c, i);
        size_t k = (size_t)(R->goff[i + 1] - R->goff[i]);
        if (!m != !g->on[i] || (m && memcmp(m, g->mem + R->goff[i], k * sizeof *m)))
            rc = gang_lp_set(c, i, g->on[i] ? g->mem + R->goff[i] : NULL);
    }
    return rc;
}

/* p's placed items and g's placed gangs into pl, the most per watt first
 * (by_vw); *total: their watts. Returns how many. */
static int placed_items(const ctx_t *c, const rec_t *R, const plan_t *p, const gst_t *g,
                        vw_t *pl, double *total)
{
    int np = 0;
    *total = 0;
    for (int ci = 0; ci < c->nc; ci++)
        if (p->cnode[ci] >= 0) {
            double ws = work_w(c, ci, p->cnode[ci]);
            pl[np++] =
                (vw_t){ws > 0 ? ctx_value(c, ci, p->cnode[ci]) / ws : INFINITY, ws, ci};
            *total += ws;
        }
    for (int i = 0; i < R->nga; i++)
        if (g->on[i]) {
            const tp_workload_t *w = gang_lp_work(c, i);
            double ws = gang_draw(c, w, g->mem + R->goff[i]);
            pl[np++] = (vw_t){ws > 0 ? gang_value(w) / ws : INFINITY, ws, c->nc + i};
            *total += ws;
        }
    qsort(pl, (size_t)np, sizeof *pl, by_vw);
    return np;
}

/* One climb of the ladder from p (and the gang LP's gangs as they stand),
 * bound: a valid bound on its objective (INFINITY: none); *better: p (and the gangs,
 * committed) were replaced by a better plan. */
static int ladder(const ctx_t *c, rec_t *R, plan_t *p, double bound, int *tries,
                  bool *better)
{
    plan_t orig = {0};
    gst_t gorig = {0}, gbest = {0};
    vw_t *pl = malloc(((size_t)R->nit + 1) * sizeof *pl);
    int rc = TP_ENOMEM, np = 0;
    double total = 0, best;
    *better = false;
    if (!pl || plan_copy(&orig, p, c) < 0 || gst_copy(c, R, &gorig, NULL) < 0 ||
        gst_copy(c, R, &gbest, &gorig) < 0)
        goto out;
    best = plan_objective(c, p, NULL) + gst_value(c, R, &gorig);
    np = placed_items(c, R, p, &gorig, pl, &total);
    int from = np;
    double gone = 0;
    for (size_t t = 0; t < sizeof RUIN_LADDER / sizeof *RUIN_LADDER && from > 0 &&
                       !plan_improve_done(best, bound);
         t++) {
        /* The cheapest per watt until RUIN_LADDER[t] of the watts are gone. */
        while (from > 0 && gone < RUIN_LADDER[t] * total)
            gone += pl[--from].weight;
        plan_t q = {0};
        gst_t gq = {0};
        if ((rc = ruin_one(c, R, &orig, &gorig, pl, from, np, &q, &gq)) < 0) {
            plan_fini(&q);
            gst_fini(&gq);
            goto out;
        }
        bool up = keep_better(c, R, p, &gbest, &q, &gq, &best);
        (*tries)++;
        *better |= up;
        plan_fini(&q);
        gst_fini(&gq);
        if (!up && t > 0)
            break; /* past the best rung */
    }
    rc = *better ? gst_commit(c, R, &gbest) : 0;
out:
    plan_fini(&orig);
    gst_fini(&gorig);
    gst_fini(&gbest);
    free(pl);
    return rc;
}

/* Exchanges (exchange()): at most this many seated trials, each gang on at
 * most EXCHANGE_DOMAINS domains of its kind, least draw first. */
#define EXCHANGE_TRIALS 30
#define EXCHANGE_DOMAINS 3

static bool node_under(const tp_fleet_t *f, int n, int d)
{
    for (int e = f->nodes[n].domain; e >= 0; e = f->domains[e].parent)
        if (e == d)
            return true;
    return false;
}

/* Does gang i of gs have a member under domain d? */
static bool gang_under(const ctx_t *c, const rec_t *R, const gst_t *gs, int i, int d)
{
    for (int j = R->goff[i]; j < R->goff[i + 1]; j++)
        if (node_under(c->f, gs->mem[j], d))
            return true;
    return false;
}

/* Does placed item it of q (a gang of gs: any member) lie under domain d? */
static bool item_under(const ctx_t *c, const rec_t *R, const plan_t *q, const gst_t *gs,
                       int it, int d)
{
    return it < c->nc ? node_under(c->f, q->cnode[it], d)
                      : gang_under(c, R, gs, it - c->nc, d);
}

/* Takes off q, gq (gone: pl's items already off) the single-node items under
 * domain D and the gangs there that earn less per watt than key, then, at D
 * and every domain above it, the items under it that earn least per watt
 * (below key) until the headroom there covers need. */
static void clear_for(const ctx_t *c, const rec_t *R, plan_t *q, gst_t *gq,
                      const vw_t *pl, int np, char *gone, int D, double key, double need)
{
    for (int a = 0; a < np; a++)
        if (!gone[a] && (gone[a] = (pl[a].ci < c->nc || pl[a].key < key) &&
                                   item_under(c, R, q, gq, pl[a].ci, D)))
            evict(c, R, q, gq, pl[a].ci);
    for (int d = D; d >= 0; d = c->f->domains[d].parent)
        for (int a = np - 1; a >= 0 && c->dcap[d] - q->load->domain_w[d] < need; a--)
            if (!gone[a] && pl[a].key < key && item_under(c, R, q, gq, pl[a].ci, d)) {
                gone[a] = 1;
                evict(c, R, q, gq, pl[a].ci);
            }
}

/* Chain exchanges (chain_exchange()): each gang's CHAIN_DOMAINS
 * least-drawing domains; per round at most CHAIN_STARTS gangs start a search,
 * each within CHAIN_SEATS seatings (the work budget, no clock), chains of at
 * most CHAIN_DEPTH moves, at most CHAIN_EVICT gangs leave a domain for one;
 * CHAIN_TRIALS chains tried on the plan in all, CHAIN_ROUND_TRIALS a round.
 * Tuned on the mixed and gang-heavy benchmarks (docs/solver.md). */
#define CHAIN_DOMAINS 12
#define CHAIN_DEPTH 8
#define CHAIN_SEATS 150
#define CHAIN_TRIALS 4
#define CHAIN_ROUND_TRIALS 2
#define CHAIN_STARTS 6
#define CHAIN_EVICT 2
/* The price of a site's watts: what its cheapest placed single-node work
 * earns per watt over this many watts. */
#define CHAIN_PRICE_W 50000.0
/* After a kept chain: the cheapest this fraction of the plan's watts (per
 * watt) ruined, recreated and repaired (ladder()'s third rung). */
#define CHAIN_POLISH 0.07

typedef struct {
    int g, r; /* gang g into slot r of its kind (-1: waits) */
    double w; /* its draw there */
} mv_t;

typedef struct {
    mv_t mv[CHAIN_DEPTH + CHAIN_EVICT];
    int n;
    double gain;
} chain_t;

/* q, gq = p, g with the moves of ch (an exchange: one) applied: its gangs
 * leave, then each move seats its gang (placed or waiting) in its domain D,
 * where it draws w, on D's least-drawing nodes (gang_lp_seat_in) after
 * clear_for made room for it there; the rest is recreated and repaired.
 * *seated: every move found its nodes (else q is no plan). */
static int chain_apply(const ctx_t *c, rec_t *R, const plan_t *p, const gst_t *g,
                       const vw_t *pl, int np, const chain_t *ch, plan_t *q, gst_t *gq,
                       bool *seated)
{
    int rc;
    char *gone;
    *seated = false;
    if ((rc = plan_copy(q, p, c)) < 0 || (rc = gst_copy(c, R, gq, g)) < 0)
        return rc;
    if (!(gone = calloc((size_t)np + 1, 1)))
        return TP_ENOMEM;
    for (int a = 0; a < np; a++)
        for (int t = 0; t < ch->n; t++)
            if (pl[a].ci == c->nc + ch->mv[t].g) {
                gone[a] = 1;
                evict(c, R, q, gq, pl[a].ci);
            }
    for (int t = 0; t < ch->n; t++) {
        int i = ch->mv[t].g, r = ch->mv[t].r;
        if (r < 0)
            continue;
        const tp_workload_t *w = gang_lp_work(c, i);
        int D = c->side.k_dom[tp_wl_together(w) + 1][r];
        double need = ch->mv[t].w;
        clear_for(c, R, q, gq, pl, np, gone, D,
                  need > 0 ? gang_value(w) / need : INFINITY, need);
        if (!gang_lp_seat_in(c, q->load, gq->use, i, r, gq->mem + R->goff[i])) {
            free(gone);
            return 0;
        }
        gq->on[i] = 1;
    }
    free(gone);
    *seated = true;
    return rebuild(c, R, q, gq);
}

typedef struct {
    double w;
    int r;
} dw_t;

/* dr[0..nt): the domains of gang i's kind where it
 * draws least seated alone (gang_lp_seat_in) on l, a load without any item
 * ruin and recreate may move, with the tenants' use use0 (scratch: use); r
 * -1 past the last. l is left as it was. */
static void gang_domains(const ctx_t *c, const rec_t *R, tp_load_t *l, const long *use0,
                         long *use, int i, int *mem, dw_t *dr, int nt)
{
    const tp_workload_t *w = gang_lp_work(c, i);
    int nd = c->side.k_n[tp_wl_together(w) + 1];
    for (int t = 0; t < nt; t++)
        dr[t] = (dw_t){INFINITY, -1};
    for (int r = 0; r < nd; r++) {
        if (!(gang_lp_domain_draw(c, i, r) < dr[nt - 1].w))
            continue; /* cannot seat it, or no cheaper than those kept */
        memcpy(use, use0, (size_t)R->ntn * sizeof *use);
        if (!gang_lp_seat_in(c, l, use, i, r, mem))
            continue;
        dw_t e = {gang_draw(c, w, mem), r};
        for (int j = 0; j < tp_wl_nodes(w); j++)
            tp_load_apply(l, c->f, mem[j], w->gpus,
                          tp_fleet_gpu_watts(c->f, mem[j], w->model), -1);
        for (int t = 0; t < nt; t++)
            if (e.w < dr[t].w) { /* insert, keeping the least */
                dw_t x = dr[t];
                dr[t] = e;
                e = x;
            }
    }
}

/* Exchanges, after the ladder: ruin and recreate seats a gang where its
 * members draw least on the load it finds, so a gang may run in a domain that
 * draws far more than its best, or wait while cheaper work runs. From p (and
 * the gang LP's gangs as they stand), the gangs with a kind that could draw
 * less — placed ones seated alone somewhere for fewer watts than they draw,
 * waiting ones that would earn more per watt than the cheapest placed item —
 * the most value per watt first (seated alone with nothing movable placed),
 * each tried (chain_apply, one move) in its EXCHANGE_DOMAINS least-drawing domains
 * (a placed gang: only those cheaper than where it runs); a better plan
 * replaces p and the gangs (committed) at once. Stops after EXCHANGE_TRIALS
 * seated trials or on the bound. */
static int exchange(const ctx_t *c, rec_t *R, plan_t *p, double bound, int *tries)
{
    gst_t g = {0}, g0 = {0};
    plan_t q0 = {0};
    vw_t *pl = malloc(((size_t)R->nit + 1) * sizeof *pl);
    vw_t *wt = malloc(((size_t)R->nga + 1) * sizeof *wt);
    dw_t *dr = malloc(((size_t)R->nga * EXCHANGE_DOMAINS + 1) * sizeof *dr);
    long *use = malloc(((size_t)R->ntn + 1) * sizeof *use);
    int rc = TP_ENOMEM, nw = 0, np, trials = 0;
    double best, total;
    bool changed = false;
    if (!pl || !wt || !dr || !use || gst_copy(c, R, &g, NULL) < 0 ||
        gst_copy(c, R, &g0, &g) < 0 || plan_copy(&q0, p, c) < 0)
        goto out;
    best = plan_objective(c, p, NULL) + gst_value(c, R, &g);
    np = placed_items(c, R, p, &g, pl, &total);
    for (int a = 0; a < np; a++) /* q0, g0: nothing movable placed */
        evict(c, R, &q0, &g0, pl[a].ci);
    for (int i = 0; i < R->nga; i++) {
        const tp_workload_t *w = gang_lp_work(c, i);
        dw_t *d = dr + (size_t)i * EXCHANGE_DOMAINS;
        double cur = g.on[i] ? gang_draw(c, w, g.mem + R->goff[i]) : INFINITY;
        double least = gang_lp_least_draw(c, i);
        if (tp_wl_together(w) < 0 || !(least < cur - 1e-9) ||
            (!g.on[i] && !(np > 0 && gang_value(w) > pl[np - 1].key * least)))
            continue; /* already at its least draw, or no gain per watt */
        gang_domains(c, R, q0.load, g0.use, use, i, g0.mem + R->goff[i], d,
                     EXCHANGE_DOMAINS);
        if (d[0].r >= 0 && d[0].w > 0 && d[0].w < cur - 1e-9)
            wt[nw++] = (vw_t){gang_value(w) / d[0].w, gang_value(w), i};
    }
    qsort(wt, (size_t)nw, sizeof *wt, by_vw);
    rc = 0;
    for (int a = 0; a < nw && trials < EXCHANGE_TRIALS && !plan_improve_done(best, bound);
         a++) {
        int i = wt[a].ci;
        const dw_t *d = dr + (size_t)i * EXCHANGE_DOMAINS;
        double cur =
            g.on[i] ? gang_draw(c, gang_lp_work(c, i), g.mem + R->goff[i]) : INFINITY;
        if (!g.on[i] && (np == 0 || wt[a].key <= pl[np - 1].key))
            continue; /* nothing placed earns less per watt */
        for (int t = 0; t < EXCHANGE_DOMAINS && d[t].r >= 0 && d[t].w < cur - 1e-9 &&
                        trials < EXCHANGE_TRIALS;
             t++) {
            plan_t q = {0};
            gst_t gq = {0};
            bool seated, up = false;
            chain_t one = {{{i, d[t].r, d[t].w}}, 1, 0};
            rc = chain_apply(c, R, p, &g, pl, np, &one, &q, &gq, &seated);
            if (rc == 0 && seated) {
                trials++;
                (*tries)++;
                if ((up = keep_better(c, R, p, &g, &q, &gq, &best))) {
                    changed = true;
                    np = placed_items(c, R, p, &g, pl, &total);
                }
            }
            plan_fini(&q);
            gst_fini(&gq);
            if (rc < 0)
                goto out;
            if (up)
                break;
        }
    }
    rc = changed ? gst_commit(c, R, &g) : 0;
out:
    gst_fini(&g);
    gst_fini(&g0);
    plan_fini(&q0);
    free(pl);
    free(wt);
    free(dr);
    free(use);
    return rc;
}

/* ---- chain exchanges ------------------------------------------------------------- */

typedef struct {
    const ctx_t *c;
    const rec_t *R;
    tp_load_t *L;       /* the gangs alone on the plan without movable items */
    gst_t *s;           /* the gangs during the search */
    const gst_t *o;     /* at its start */
    const dw_t *dr;     /* [gang * CHAIN_DOMAINS + t] */
    const double *lam;  /* [node]: its site's price per watt */
    const int *cur;     /* [gang]: slot of its domain at the start, -1 */
    const int *left;    /* [gang]: the slot a kept chain took it from, -1 */
    char *inpath;       /* [gang] */
    chain_t path, *top; /* top: the best CHAIN_TRIALS chains, best first */
    int ntop;
    long seats, lim;
    tp_load_t *l0;    /* nothing movable placed: where gang_domains looks */
    const long *use0; /* the tenants' use there */
    long *use;        /* scratch */
    int *mem;         /* scratch: goff-indexed */
    char *dk;         /* [gang]: its domains are in dr */
} cs_t;

/* Gang i's CHAIN_DOMAINS least-drawing domains into dr, once. */
static void chain_domains(cs_t *S, int i)
{
    if (S->dk[i])
        return;
    S->dk[i] = 1;
    gang_domains(S->c, S->R, S->l0, S->use0, S->use, i, S->mem + S->R->goff[i],
                 (dw_t *)S->dr + (size_t)i * CHAIN_DOMAINS, CHAIN_DOMAINS);
}

/* Gang i's term in the chain's price: its value less its watts at its
 * site's price, 0 while it waits. */
static double chain_term(const cs_t *S, const gst_t *g, int i)
{
    if (!g->on[i])
        return 0;
    const tp_workload_t *w = gang_lp_work(S->c, i);
    const int *m = g->mem + S->R->goff[i];
    return gang_value(w) - S->lam[m[0]] * gang_draw(S->c, w, m);
}

static void chain_record(cs_t *S)
{
    chain_t *p = &S->path;
    p->gain = 0;
    for (int a = 0; a < p->n; a++)
        p->gain += chain_term(S, S->s, p->mv[a].g) - chain_term(S, S->o, p->mv[a].g);
    if (!(p->gain > 1e-6))
        return;
    int at = S->ntop;
    for (int t = 0; t < S->ntop; t++) {
        bool same = S->top[t].n == p->n;
        for (int a = 0; same && a < p->n; a++)
            same = S->top[t].mv[a].g == p->mv[a].g && S->top[t].mv[a].r == p->mv[a].r;
        if (same)
            return;
        if (at == S->ntop && p->gain > S->top[t].gain)
            at = t;
    }
    if (at >= CHAIN_TRIALS)
        return;
    if (S->ntop < CHAIN_TRIALS)
        S->ntop++;
    memmove(S->top + at + 1, S->top + at, (size_t)(S->ntop - 1 - at) * sizeof *S->top);
    S->top[at] = *p;
}

static void chain_off(cs_t *S, int i)
{
    const tp_workload_t *w = gang_lp_work(S->c, i);
    const int *m = S->s->mem + S->R->goff[i];
    for (int j = 0; j < tp_wl_nodes(w); j++)
        tp_load_apply(S->L, S->c->f, m[j], w->gpus,
                      tp_fleet_gpu_watts(S->c->f, m[j], w->model), -1);
    side_use_add(S->c, S->s->use, tp_wl_tenant(w), -(long)tp_wl_nodes(w) * w->gpus);
    S->s->on[i] = 0;
}

/* Gang i back on its nodes at the start. */
static void chain_back(cs_t *S, int i)
{
    const tp_workload_t *w = gang_lp_work(S->c, i);
    int *m = S->s->mem + S->R->goff[i];
    memcpy(m, S->o->mem + S->R->goff[i], (size_t)tp_wl_nodes(w) * sizeof *m);
    for (int j = 0; j < tp_wl_nodes(w); j++)
        tp_load_apply(S->L, S->c->f, m[j], w->gpus,
                      tp_fleet_gpu_watts(S->c->f, m[j], w->model), +1);
    side_use_add(S->c, S->s->use, tp_wl_tenant(w), (long)tp_wl_nodes(w) * w->gpus);
    S->s->on[i] = 1;
}

/* Gang i (off, in the path) into slot r of its kind: seated there after the
 * gangs under it that earn least per watt leave (at most CHAIN_EVICT); a
 * chain ends there (recorded) or goes on with the one gang that left. */
static void chain_step(cs_t *S, int i, int r, int depth)
{
    const ctx_t *c = S->c;
    const rec_t *R = S->R;
    const tp_workload_t *w = gang_lp_work(c, i);
    int D = c->side.k_dom[tp_wl_together(w) + 1][r], ev[CHAIN_EVICT], ne = 0;
    int *m = S->s->mem + R->goff[i];
    if (S->seats >= S->lim)
        return;
    S->seats++;
    bool ok = gang_lp_seat_in(c, S->L, S->s->use, i, r, m);
    while (!ok && ne < CHAIN_EVICT && S->seats < S->lim) {
        int jb = -1;
        double kb = INFINITY;
        for (int j = 0; j < R->nga; j++)
            if (S->s->on[j] && !S->inpath[j] && gang_under(c, R, S->s, j, D)) {
                const tp_workload_t *x = gang_lp_work(c, j);
                double d = gang_draw(c, x, S->s->mem + R->goff[j]);
                double k = d > 0 ? gang_value(x) / d : INFINITY;
                if (k < kb)
                    kb = k, jb = j;
            }
        if (jb < 0)
            break;
        chain_off(S, jb);
        S->inpath[jb] = 1;
        ev[ne++] = jb;
        S->seats++;
        ok = gang_lp_seat_in(c, S->L, S->s->use, i, r, m);
    }
    if (ok) {
        int n0 = S->path.n;
        S->s->on[i] = 1;
        S->path.mv[S->path.n++] = (mv_t){i, r, gang_draw(c, w, m)};
        for (int a = 0; a < ne; a++)
            S->path.mv[S->path.n++] = (mv_t){ev[a], -1, 0};
        chain_record(S);
        if (ne == 1 && depth < CHAIN_DEPTH) {
            int j = ev[0];
            S->path.n--; /* j moves on instead of waiting */
            chain_domains(S, j);
            for (int t = 0; t < CHAIN_DOMAINS; t++) {
                int rt = S->dr[(size_t)j * CHAIN_DOMAINS + t].r;
                if (rt < 0)
                    break;
                if (rt != S->cur[j] && rt != S->left[j])
                    chain_step(S, j, rt, depth + 1);
            }
        }
        S->path.n = n0;
        chain_off(S, i);
    }
    for (int a = ne - 1; a >= 0; a--) {
        chain_back(S, ev[a]);
        S->inpath[ev[a]] = 0;
    }
}

/* p, g less the cheapest frac of their watts per watt, recreated and
 * repaired (a ladder rung), replace themselves when better; *best: their
 * objective. A chain's trial recreates only what it evicted: a kept chain
 * leaves the rest as it was packed around the gangs' old domains. */
static int polish(const ctx_t *c, rec_t *R, plan_t *p, gst_t *g, double frac,
                  double *best)
{
    vw_t *pl = malloc(((size_t)R->nit + 1) * sizeof *pl);
    plan_t q = {0};
    gst_t gq = {0};
    double total, gone = 0;
    int rc = TP_ENOMEM;
    if (pl) {
        int np = placed_items(c, R, p, g, pl, &total), from = np;
        while (from > 0 && gone < frac * total)
            gone += pl[--from].weight;
        if ((rc = ruin_one(c, R, p, g, pl, from, np, &q, &gq)) == 0)
            keep_better(c, R, p, g, &q, &gq, best);
    }
    plan_fini(&q);
    gst_fini(&gq);
    free(pl);
    return rc;
}

/* Chain exchanges, after exchange(): a gang that could draw less takes one
 * of its least-drawing domains, the gang that earns least per watt there
 * moves to one of its own, and so on (an ejection chain), each chain priced
 * by the gangs' values less their watts at their sites' prices (what the
 * cheapest CHAIN_PRICE_W of single-node work there earns per watt). The
 * search runs on the gangs alone (single-node work out), depth first from
 * the CHAIN_STARTS gangs with the most value per least draw that could draw
 * less; the best chains by that price are tried on the plan (chain_apply),
 * and the first better plan is kept and polished (polish()), then searched
 * again (a gang is not moved back to the domain a kept chain took it from).
 * Stops on the trials, a round without a better plan, or the bound. */
static int chain_exchange(const ctx_t *c, rec_t *R, plan_t *p, double bound, int *tries)
{
    const tp_fleet_t *f = c->f;
    gst_t g = {0}, g0 = {0}, s = {0};
    plan_t q0 = {0};
    vw_t *pl = malloc(((size_t)R->nit + 1) * sizeof *pl);
    vw_t *wt = malloc(((size_t)R->nga + 1) * sizeof *wt);
    dw_t *dr = malloc(((size_t)R->nga * CHAIN_DOMAINS + 1) * sizeof *dr);
    long *use = malloc(((size_t)R->ntn + 1) * sizeof *use);
    double *lam = malloc(((size_t)f->nnodes + 1) * sizeof *lam);
    double *dl = calloc((size_t)f->ndomains + 1, sizeof *dl); /* [root]: value */
    double *dw = calloc((size_t)f->ndomains + 1, sizeof *dw); /* [root]: watts */
    int *root = malloc(((size_t)f->nnodes + 1) * sizeof *root);
    int *slot = malloc(((size_t)f->ndomains + 1) * sizeof *slot);
    int *cur = malloc(((size_t)R->nga + 1) * sizeof *cur);
    int *left = malloc(((size_t)R->nga + 1) * sizeof *left);
    char *inpath = calloc((size_t)R->nga + 1, 1), *dk = calloc((size_t)R->nga + 1, 1);
    chain_t *top = malloc(CHAIN_TRIALS * sizeof *top);
    tp_load_t *L = NULL;
    int rc = TP_ENOMEM, np, trials = 0;
    double best, total;
    bool changed = false;
    if (!pl || !wt || !dr || !use || !lam || !dl || !dw || !root || !slot || !cur ||
        !left || !inpath || !dk || !top || gst_copy(c, R, &g, NULL) < 0 ||
        plan_copy(&q0, p, c) < 0 || gst_copy(c, R, &g0, &g) < 0 ||
        gst_copy(c, R, &s, &g) < 0)
        goto out;
    for (int n = 0; n < f->nnodes; n++) {
        int d = f->nodes[n].domain;
        while (d >= 0 && f->domains[d].parent >= 0)
            d = f->domains[d].parent;
        root[n] = d;
    }
    for (int k = 1; k <= f->nkinds; k++) /* slot 0 (no kind): the whole fleet, -1 */
        for (int r = 0; c->side.k_dom[k] && r < c->side.k_n[k]; r++)
            slot[c->side.k_dom[k][r]] = r;
    for (int i = 0; i < R->nga; i++)
        left[i] = -1;
    best = plan_objective(c, p, NULL) + gst_value(c, R, &g);
    np = placed_items(c, R, p, &g, pl, &total);
    for (int a = 0; a < np; a++) /* q0, g0: nothing movable placed (every round) */
        evict(c, R, &q0, &g0, pl[a].ci);
    for (int round = 0; trials < CHAIN_TRIALS && !plan_improve_done(best, bound);
         round++) {
        if (round > 0)
            np = placed_items(c, R, p, &g, pl, &total);
        if ((rc = gst_copy(c, R, &s, &g)) < 0)
            goto out;
        rc = TP_ENOMEM;
        /* Prices: the cheapest single-node work of each site, CHAIN_PRICE_W of it. */
        memset(dl, 0, (size_t)f->ndomains * sizeof *dl);
        memset(dw, 0, (size_t)f->ndomains * sizeof *dw);
        for (int a = np - 1; a >= 0; a--)
            if (pl[a].ci < c->nc) {
                int rt = root[p->cnode[pl[a].ci]];
                if (rt >= 0 && dw[rt] < CHAIN_PRICE_W) {
                    dl[rt] += pl[a].key * pl[a].weight;
                    dw[rt] += pl[a].weight;
                }
            }
        for (int n = 0; n < f->nnodes; n++)
            lam[n] = root[n] >= 0 && dw[root[n]] > 0 && isfinite(c->dcap[root[n]])
                         ? dl[root[n]] / dw[root[n]]
                         : 0;
        int nw = 0;
        for (int i = 0; i < R->nga; i++) {
            const tp_workload_t *w = gang_lp_work(c, i);
            cur[i] = -1;
            if (tp_wl_together(w) < 0)
                continue;
            if (g.on[i])
                cur[i] = slot[tp_fleet_node_domain_of_kind(f, g.mem[R->goff[i]],
                                                           tp_wl_together(w))];
            double now = g.on[i] ? gang_draw(c, w, g.mem + R->goff[i]) : INFINITY;
            double least = gang_lp_least_draw(c, i);
            if (least > 0 && least < now - 1e-9)
                wt[nw++] = (vw_t){gang_value(w) / least, gang_value(w), i};
        }
        qsort(wt, (size_t)nw, sizeof *wt, by_vw);
        if (!(L = tp_load_copy(q0.load)))
            goto out;
        for (int i = 0; i < R->nga; i++)
            if (g.on[i]) {
                const tp_workload_t *w = gang_lp_work(c, i);
                for (int j = R->goff[i]; j < R->goff[i + 1]; j++)
                    tp_load_apply(L, f, g.mem[j], w->gpus,
                                  tp_fleet_gpu_watts(f, g.mem[j], w->model), +1);
            }
        cs_t S = {
            c,   R, L, &s, &g,      dr,     lam, cur,    left, inpath, {{{0}}, 0, 0},
            top, 0, 0, 0,  q0.load, g0.use, use, g0.mem, dk};
        for (int a = 0; a < nw && a < CHAIN_STARTS; a++) {
            int i = wt[a].ci;
            bool was = s.on[i];
            double now =
                was ? gang_draw(c, gang_lp_work(c, i), g.mem + R->goff[i]) : INFINITY;
            S.lim = S.seats + CHAIN_SEATS;
            chain_domains(&S, i);
            if (was)
                chain_off(&S, i);
            inpath[i] = 1;
            for (int t = 0; t < CHAIN_DOMAINS; t++) {
                const dw_t *d = dr + (size_t)i * CHAIN_DOMAINS + t;
                if (d->r < 0 || !(d->w < now - 1e-9))
                    break;
                if (d->r != left[i])
                    chain_step(&S, i, d->r, 1);
            }
            inpath[i] = 0;
            if (was)
                chain_back(&S, i);
        }
        tp_load_free(L);
        L = NULL;
        bool up = false;
        for (int t = 0;
             t < S.ntop && t < CHAIN_ROUND_TRIALS && trials < CHAIN_TRIALS && !up; t++) {
            plan_t q = {0};
            gst_t gq = {0};
            bool seated;
            rc = chain_apply(c, R, p, &g, pl, np, &top[t], &q, &gq, &seated);
            if (rc == 0 && seated) {
                trials++;
                (*tries)++;
                if ((up = keep_better(c, R, p, &g, &q, &gq, &best))) {
                    changed = true;
                    (*tries)++;
                    rc = polish(c, R, p, &g, CHAIN_POLISH, &best);
                    for (int a = 0; a < top[t].n; a++)
                        left[top[t].mv[a].g] = cur[top[t].mv[a].g];
                }
            }
            plan_fini(&q);
            gst_fini(&gq);
            if (rc < 0)
                goto out;
        }
        if (!up)
            break;
    }
    rc = changed ? gst_commit(c, R, &g) : 0;
out:
    tp_load_free(L);
    gst_fini(&g);
    gst_fini(&g0);
    gst_fini(&s);
    plan_fini(&q0);
    free(pl);
    free(wt);
    free(dr);
    free(use);
    free(lam);
    free(dl);
    free(dw);
    free(root);
    free(slot);
    free(cur);
    free(left);
    free(inpath);
    free(dk);
    free(top);
    return rc;
}

/* The slot of gang i's kind that rounding R's LP (gang_round.c) gave it;
 * -1: none (it waits there, or a gang without a kind). */
static int round_slot(const ctx_t *c, int i)
{
    const side_t *sd = &c->side;
    int D = gang_round_domain(c->gr, i), k = tp_wl_together(gang_lp_work(c, i)) + 1;
    for (int r = 0; D >= 0 && k > 0 && sd->k_dom && sd->k_dom[k] && r < sd->k_n[k]; r++)
        if (sd->k_dom[k][r] == D)
            return r;
    return -1;
}

/* R's LP's gangs on p emptied of every item ruin and recreate may move: each
 * gang the rounding gave a domain, the most value per watt there first, in
 * that domain on its least-drawing nodes (gang_lp_seat_in; one that does not
 * fit is left to recreate), then the rest recreated and repaired; kept when
 * better. */
static int round_seat(const ctx_t *c, rec_t *R, plan_t *p, int *tries)
{
    gst_t g = {0}, gq = {0};
    plan_t q = {0};
    vw_t *pl = malloc(((size_t)R->nit + 1) * sizeof *pl);
    vw_t *seat = malloc(((size_t)R->nga + 1) * sizeof *seat);
    int rc = TP_ENOMEM, ns = 0, np;
    double total, best;
    if (!pl || !seat || gst_copy(c, R, &g, NULL) < 0 || plan_copy(&q, p, c) < 0 ||
        gst_copy(c, R, &gq, &g) < 0)
        goto out;
    best = plan_objective(c, p, NULL) + gst_value(c, R, &g);
    np = placed_items(c, R, p, &g, pl, &total);
    for (int a = 0; a < np; a++)
        evict(c, R, &q, &gq, pl[a].ci);
    for (int i = 0; i < R->nga; i++) {
        int r = round_slot(c, i);
        double w = r >= 0 ? gang_lp_domain_draw(c, i, r) : INFINITY;
        if (isfinite(w))
            seat[ns++] =
                (vw_t){w > 0 ? gang_value(gang_lp_work(c, i)) / w : INFINITY, w, i};
    }
    qsort(seat, (size_t)ns, sizeof *seat, by_vw);
    for (int a = 0; a < ns; a++) {
        int i = seat[a].ci;
        gq.on[i] =
            gang_lp_seat_in(c, q.load, gq.use, i, round_slot(c, i), gq.mem + R->goff[i]);
    }
    (*tries)++;
    if ((rc = rebuild(c, R, &q, &gq)) == 0 && keep_better(c, R, p, &g, &q, &gq, &best))
        rc = gst_commit(c, R, &g);
out:
    plan_fini(&q);
    gst_fini(&gq);
    gst_fini(&g);
    free(pl);
    free(seat);
    return rc;
}

int plan_improve(const ctx_t *c, plan_t *p, double bound, bool exchanges, int *tries)
{
    rec_t R = {0};
    bool better;
    *tries = 0;
    int rc = rec_init(c, &R) < 0 ? TP_ENOMEM : 0;
    if (rc == 0)
        rc = ladder(c, &R, p, bound, tries, &better);
    if (rc == 0 && exchanges && R.nga > 0)
        rc = exchange(c, &R, p, bound, tries);
    if (rc == 0 && exchanges && gang_lp_count(c) > 0)
        rc = chain_exchange(c, &R, p, bound, tries);
    if (rc == 0 && exchanges && c->gr && R.nga > 0)
        rc = round_seat(c, &R, p, tries);
    rec_fini(&R);
    return rc;
}
