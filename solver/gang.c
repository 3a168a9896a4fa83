/*
 * solver/gang.c — the work the class model does not place itself: gangs
 * (multi-node work, all members or none, together under one domain of a kind)
 * and tenant limits (policy.tenants), with reclaim of borrowed capacity.
 *
 * The phases, around the class model's solve (solver.c):
 *   side_before, after preemption and before the candidates are made:
 *     1. GPUs in use per tenant (running work, less what preemption stopped;
 *        a tenant's use counts toward every group above it);
 *     2. reclaim: single-node pending work of a tenant under its quota that
 *        fits nowhere on the free capacity may stop borrowed, preemptible
 *        running work of tenants over their quota — on the one node where that
 *        stops the fewest GPUs, lowest priority first, each victim's tenant
 *        still above its quota before the stop — and is placed there;
 *     3. gangs, most important first (priority, then the tenant furthest below
 *        its quota, then id): on the first domain of the `together` kind (by id;
 *        the whole fleet without one) that has `nodes` distinct eligible nodes
 *        each fitting its member's GPUs and draw with every cap — best fit
 *        inside the domain — all members are placed at once, or none; a gang of
 *        a tenant under its quota that finds none may reclaim, member by member
 *        on the node that stops the fewest borrowed GPUs (gang_reclaim);
 *     4. admission: single-node work (pending, and running work a cap moves)
 *        of tenants with a limit is admitted in the same order while the
 *        tenant and its groups have room; the rest is held back (side.held:
 *        on small inputs the exact model may seat it, exact.c).
 *   side_after, on the class model's final plan:
 *     5. held-back work is placed where it now fits, in the same order, when
 *        the tenant's room allows (admitted work that found no node left it);
 *     6. reasons for every side item left pending, against the final load:
 *        each member predicate as for single-node work; gang_topology counts
 *        the nodes a member could use that no domain of the kind could combine
 *        into a whole gang; tenant_limit counts every node where the tenant
 *        or a group above it lacks the room on the final use.
 *
 * Fairness (docs/solver.md): the share of a tenant is GPUs in use ÷ quota_gpus
 * (GPU share; no quota: infinite); among equal priority the lower share goes
 * first. The class model itself keeps its order by id.
 */
#include "solver/solver_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double share(const ctx_t *c, int t)
{
    if (t < 0)
        return INFINITY;
    const tp_tenant_t *tn = &c->f->tenants[t];
    return tn->quota_gpus > 0 ? (double)c->side.use[t] / tn->quota_gpus : INFINITY;
}

/* GPUs the tenant (and every group above it) may still take; INT_MAX-ish when
 * no limit applies. */
long side_room(const ctx_t *c, const long *use, int t)
{
    long r = 1L << 40;
    for (; t >= 0; t = c->f->tenants[t].parent)
        if (c->f->tenants[t].limit_gpus >= 0 && c->f->tenants[t].limit_gpus - use[t] < r)
            r = c->f->tenants[t].limit_gpus - use[t];
    return r;
}

static long room(const ctx_t *c, int t)
{
    return side_room(c, c->side.use, t);
}

void side_use_add(const ctx_t *c, long *use, int t, long gpus)
{
    for (; t >= 0; t = c->f->tenants[t].parent)
        use[t] += gpus;
}

static void charge(ctx_t *c, int t, long gpus)
{
    side_use_add(c, c->side.use, t, gpus);
}

void side_charge(ctx_t *c, int t, long gpus)
{
    charge(c, t, gpus);
}

int side_gang_set(ctx_t *c, int it, const int *members)
{
    side_t *sd = &c->side;
    const tp_workload_t *w = sd->w[it];
    int need = tp_wl_nodes(w);
    long gpus = (long)need * w->gpus;
    double val = (1.0 + w->priority) * gpus;
    if (sd->flag[it] == 0) {
        charge(c, tp_wl_tenant(w), -gpus);
        sd->placed_gpus -= gpus;
        sd->weighted -= val;
    }
    free(sd->mem[it]);
    sd->mem[it] = NULL;
    sd->flag[it] = sd->held[it] ? 2 : 1; /* waits: held back, or for room */
    if (!members)
        return 0;
    if (!(sd->mem[it] = malloc((size_t)need * sizeof *sd->mem[it])))
        return TP_ENOMEM;
    memcpy(sd->mem[it], members, (size_t)need * sizeof *members);
    sd->flag[it] = 0;
    charge(c, tp_wl_tenant(w), gpus);
    sd->placed_gpus += gpus;
    sd->weighted += val;
    return 0;
}

void side_sums(const ctx_t *c, side_sums_t *out)
{
    const side_t *sd = &c->side;
    memset(out, 0, sizeof *out);
    for (int it = 0; it < sd->n; it++) {
        const tp_workload_t *w = sd->w[it];
        double v = (1.0 + w->priority) * w->gpus * tp_wl_nodes(w);
        if (sd->flag[it] == 2)
            out->held += v;
        else if (sd->fixed[it] || tp_wl_nodes(w) < 2)
            out->fixed += sd->flag[it] == 0 ? v : 0;
        else
            out->free_gangs += v, out->nfree++;
    }
}

/* Side items: workloads of the result the class model does not place. */
static int push_item(ctx_t *c, const tp_workload_t *w, int res, int flag)
{
    side_t *sd = &c->side;
    if (sd->n == sd->cap) {
        int cap = sd->cap ? 2 * sd->cap : 64;
        const tp_workload_t **nw = realloc(sd->w, (size_t)cap * sizeof *nw);
        if (!nw)
            return TP_ENOMEM;
        sd->w = nw;
        int *nr = realloc(sd->res, (size_t)cap * sizeof *nr);
        if (!nr)
            return TP_ENOMEM;
        sd->res = nr;
        int *nf = realloc(sd->flag, (size_t)cap * sizeof *nf);
        if (!nf)
            return TP_ENOMEM;
        sd->flag = nf;
        int **nm = realloc(sd->mem, (size_t)cap * sizeof *nm);
        if (!nm)
            return TP_ENOMEM;
        sd->mem = nm;
        char *nx = realloc(sd->fixed, (size_t)cap);
        if (!nx)
            return TP_ENOMEM;
        sd->fixed = nx;
        char *nh = realloc(sd->held, (size_t)cap);
        if (!nh)
            return TP_ENOMEM;
        sd->held = nh;
        sd->cap = cap;
    }
    sd->w[sd->n] = w;
    sd->res[sd->n] = res;
    sd->flag[sd->n] = flag;
    sd->mem[sd->n] = NULL;
    sd->fixed[sd->n] = 0;
    sd->held[sd->n] = flag == 2;
    return sd->n++;
}

/* Order of work across tenants: priority, then share, then gangs' size, id. */
typedef struct {
    const ctx_t *c;
    const tp_workload_t *w;
    int res;
    double share;
} ord_t;

static int by_order(const void *a, const void *b)
{
    const ord_t *x = a, *y = b;
    if (x->w->priority != y->w->priority)
        return y->w->priority - x->w->priority;
    if (x->share != y->share)
        return x->share < y->share ? -1 : 1;
    int r = strcmp(x->w->id, y->w->id);
    return r ? r : x->res - y->res;
}

/* The nodes under each domain of `kind` (kind < 0: one list, the whole
 * fleet), in canonical order, as CSR over the domains in id order; built once
 * per kind. */
int side_kind_lists(ctx_t *c, int kind)
{
    const tp_fleet_t *f = c->f;
    side_t *sd = &c->side;
    int slot = kind + 1;
    if (!sd->k_off) {
        sd->k_off = calloc((size_t)f->nkinds + 1, sizeof *sd->k_off);
        sd->k_mem = calloc((size_t)f->nkinds + 1, sizeof *sd->k_mem);
        sd->k_dom = calloc((size_t)f->nkinds + 1, sizeof *sd->k_dom);
        sd->k_n = calloc((size_t)f->nkinds + 1, sizeof *sd->k_n);
        if (!sd->k_off || !sd->k_mem || !sd->k_dom || !sd->k_n)
            return TP_ENOMEM;
    }
    if (sd->k_off[slot])
        return 0;
    int nd = 0, *pos = malloc(((size_t)f->ndomains + 1) * sizeof *pos);
    int *off = calloc((size_t)f->ndomains + 2, sizeof *off);
    int *mem = malloc(((size_t)f->nnodes + 1) * sizeof *mem);
    int *dom = malloc(((size_t)f->ndomains + 1) * sizeof *dom);
    if (!pos || !off || !mem || !dom) {
        free(pos);
        free(off);
        free(mem);
        free(dom);
        return TP_ENOMEM;
    }
    for (int i = 0; i < f->ndomains; i++) {
        int d = c->dord[i];
        pos[d] = -1;
        if (kind >= 0 && f->domains[d].kind == kind) {
            pos[d] = nd;
            dom[nd++] = d;
        }
    }
    if (kind < 0)
        dom[nd++] = -1;
    for (int n = 0; n < f->nnodes; n++) {
        int d = kind < 0 ? -1 : tp_fleet_node_domain_of_kind(f, n, kind);
        int g = kind < 0 ? 0 : d >= 0 ? pos[d] : -1;
        if (g >= 0)
            off[g + 1]++;
    }
    for (int g = 0; g < nd; g++)
        off[g + 1] += off[g];
    int *fill = malloc(((size_t)nd + 1) * sizeof *fill);
    if (!fill) {
        free(pos);
        free(off);
        free(mem);
        free(dom);
        return TP_ENOMEM;
    }
    memcpy(fill, off, (size_t)nd * sizeof *fill);
    for (int r = 0; r < f->nnodes; r++) {
        int n = c->nord[r];
        int d = kind < 0 ? -1 : tp_fleet_node_domain_of_kind(f, n, kind);
        int g = kind < 0 ? 0 : d >= 0 ? pos[d] : -1;
        if (g >= 0)
            mem[fill[g]++] = n;
    }
    free(fill);
    free(pos);
    sd->k_off[slot] = off;
    sd->k_mem[slot] = mem;
    sd->k_dom[slot] = dom;
    sd->k_n[slot] = nd;
    return 0;
}

bool side_gang_in(const ctx_t *c, tp_load_t *l, const tp_workload_t *w, const char *elig,
                  int g, int *members)
{
    return side_gang_in_by(c, l, w, elig, g, members, false);
}

/* ctx_fits for a node n beneath domain D (-1: none), the checks at D and
 * above — which every node beneath D shares — asked once per draw while the
 * load stands: "draw > cap" only turns true as the draw grows (rounding is
 * monotone), so a draw at most one that passed there passes and one at least
 * one that failed fails (ok_w, bad_w). The same answers, a fraction of the
 * walks (place_cheapest asks every domain of a kind per gang). */
typedef struct {
    int D;
    double ok_w, bad_w; /* -INFINITY, INFINITY: none yet */
} above_t;

static bool fits_under(const ctx_t *c, const tp_load_t *l, const tp_workload_t *w, int n,
                       above_t *a)
{
    const tp_fleet_t *f = c->f;
    if (c->healthy[n] - l->gpus_used[n] < w->gpus)
        return false;
    double add = tp_policy_work_w(f, n, w);
    if (ctx_over(l->node_w[n] + add, c->ncap[n]))
        return false;
    int d = f->nodes[n].domain;
    for (; d >= 0 && d != a->D; d = f->domains[d].parent)
        if (ctx_over(l->domain_w[d] + add, c->dcap[d]))
            return false;
    if (d < 0 || add <= a->ok_w)
        return true;
    if (add >= a->bad_w)
        return false;
    for (; d >= 0; d = f->domains[d].parent)
        if (ctx_over(l->domain_w[d] + add, c->dcap[d])) {
            if (add < a->bad_w)
                a->bad_w = add;
            return false;
        }
    if (add > a->ok_w)
        a->ok_w = add;
    return true;
}

bool side_gang_in_by(const ctx_t *c, tp_load_t *l, const tp_workload_t *w,
                     const char *elig, int g, int *members, bool cheap)
{
    const tp_fleet_t *f = c->f;
    const side_t *sd = &c->side;
    int need = tp_wl_nodes(w), slot = tp_wl_together(w) + 1, got = 0, ok = 0;
    const int *off = sd->k_off[slot], *mem = sd->k_mem[slot];
    above_t a = {sd->k_dom[slot][g], -INFINITY, INFINITY};
    for (int i = off[g]; i < off[g + 1] && ok < need; i++) /* GPUs first: cheap */
        ok += elig[mem[i]] && c->healthy[mem[i]] - l->gpus_used[mem[i]] >= w->gpus &&
              fits_under(c, l, w, mem[i], &a);
    if (ok < need)
        return false; /* not enough nodes fit one member even alone */
    /* Best fit: repeatedly the fullest eligible node that still fits (cheap:
     * the one that draws least, then the fullest). */
    while (got < need) {
        int best = -1, best_left = 0;
        double best_w = 0;
        a.ok_w = -INFINITY, a.bad_w = INFINITY; /* the load changed */
        for (int i = off[g]; i < off[g + 1]; i++) {
            int n = mem[i];
            if (!elig[n])
                continue;
            int left = c->healthy[n] - l->gpus_used[n] - w->gpus;
            if (left < 0) /* ctx_fits would say no */
                continue;
            double wn = cheap ? tp_fleet_gpu_watts(f, n, w->model) : 0;
            if (best >= 0 && (wn > best_w || (wn == best_w && left >= best_left)))
                continue;
            bool used = false;
            for (int j = 0; j < got && !used; j++)
                used = members[j] == n;
            if (used || !fits_under(c, l, w, n, &a))
                continue;
            best = n;
            best_left = left;
            best_w = wn;
        }
        if (best < 0)
            break;
        members[got++] = best;
        tp_load_apply(l, f, best, w->gpus, tp_fleet_gpu_watts(f, best, w->model), +1);
    }
    if (got == need)
        return true;
    while (got > 0) { /* undo: none of the gang stays */
        int n = members[--got];
        tp_load_apply(l, f, n, w->gpus, tp_fleet_gpu_watts(f, n, w->model), -1);
    }
    return false;
}

bool side_place_gang(const ctx_t *c, tp_load_t *l, const tp_workload_t *w,
                     const char *elig, int *members)
{
    int slot = tp_wl_together(w) + 1;
    /* Candidate domains, by id: each domain of the kind, or the whole fleet. */
    for (int g = 0; g < c->side.k_n[slot]; g++)
        if (side_gang_in(c, l, w, elig, g, members))
            return true;
    return false;
}

/* Borrowed work on node n that stopping, lowest priority first (then fewest
 * GPUs, id), lets w fit on n under load l: stops it on l and su (tenants' use)
 * and returns how many (in list, GPUs in *stopped); -1 (l and su as before)
 * when even that does not make w fit. Victims: running, preemptible, not a gang
 * member, of another tenant whose use is above its quota at each stop. */
static int node_victims(const ctx_t *c, tp_load_t *l, long *su, const tp_workload_t *w,
                        int n, int *cand, int *list, int *stopped)
{
    const tp_fleet_t *f = c->f;
    const tp_workloads_t *run = c->running;
    int nc = 0, nl = 0;
    *stopped = 0;
    if (c->healthy[n] < w->gpus)
        return -1;
    for (int j = c->side.r_off[n]; j < c->side.r_off[n + 1]; j++) {
        int i = c->side.r_mem[j];
        const tp_workload_t *v = &run->w[i];
        if (!c->preempted[i] && v->preemptible && !v->gang && tp_wl_tenant(v) >= 0 &&
            tp_wl_tenant(v) != tp_wl_tenant(w))
            cand[nc++] = i;
    }
    for (int i = 1; i < nc; i++)
        for (int j = i; j > 0; j--) {
            const tp_workload_t *a = &run->w[cand[j - 1]], *b = &run->w[cand[j]];
            int cmp = a->priority != b->priority ? a->priority - b->priority
                      : a->gpus != b->gpus       ? a->gpus - b->gpus
                                                 : strcmp(a->id, b->id);
            if (cmp <= 0)
                break;
            int t = cand[j];
            cand[j] = cand[j - 1];
            cand[j - 1] = t;
        }
    for (int i = 0; i < nc && !ctx_fits(c, l, w, n); i++) {
        const tp_workload_t *v = &run->w[cand[i]];
        int t = tp_wl_tenant(v);
        if (su[t] <= f->tenants[t].quota_gpus)
            continue; /* within its quota: not borrowed */
        for (int u = t; u >= 0; u = f->tenants[u].parent)
            su[u] -= v->gpus;
        tp_load_apply(l, f, n, v->gpus, tp_fleet_gpu_watts(f, n, v->model), -1);
        list[nl++] = cand[i];
        *stopped += v->gpus;
    }
    if (ctx_fits(c, l, w, n))
        return nl;
    for (int i = 0; i < nl; i++) { /* undo */
        const tp_workload_t *v = &run->w[list[i]];
        for (int u = tp_wl_tenant(v); u >= 0; u = f->tenants[u].parent)
            su[u] += v->gpus;
        tp_load_apply(l, f, n, v->gpus, tp_fleet_gpu_watts(f, n, v->model), +1);
    }
    return -1;
}

static void restart_victims(const ctx_t *c, tp_load_t *l, long *su, const int *list,
                            int nl)
{
    for (int i = 0; i < nl; i++) {
        const tp_workload_t *v = &c->running->w[list[i]];
        for (int u = tp_wl_tenant(v); su && u >= 0; u = c->f->tenants[u].parent)
            su[u] += v->gpus;
        tp_load_apply(l, c->f, v->node, v->gpus,
                      tp_fleet_gpu_watts(c->f, v->node, v->model), +1);
    }
}

/* Records the stop of victims (already off c->base): preemptions
 * "reclaim:<tenant of w>", tenants' use. */
static int commit_victims(ctx_t *c, tp_result_t *res, const tp_workload_t *w,
                          const int *list, int nl)
{
    const tp_fleet_t *f = c->f;
    char why[96];
    snprintf(why, sizeof why, "reclaim:%s",
             tp_wl_tenant(w) >= 0 ? f->tenants[tp_wl_tenant(w)].name : "?");
    for (int i = 0; i < nl; i++) {
        const tp_workload_t *v = &c->running->w[list[i]];
        c->preempted[list[i]] = 2; /* stopped by reclaim: waits, not moved */
        charge(c, tp_wl_tenant(v), -v->gpus);
        for (int u = tp_wl_tenant(v); u >= 0; u = f->tenants[u].parent)
            c->side.ruse[u] -= v->gpus;
        if (tp_result_add_preemption(res, list[i], v->node, why) < 0)
            return TP_ENOMEM;
    }
    return 0;
}

/* Reclaim for gang w of a tenant under its quota: in the first domain of its
 * kind (by id) where every member finds a node — each time the node that
 * stops the fewest GPUs (0 where a member fits already), ties to the fuller
 * node then id — the victims stop and the members are placed (members[]).
 * Returns true when placed. */
static int gang_reclaim(ctx_t *c, tp_result_t *res, const tp_workload_t *w,
                        const char *elig, int *members, int *victims)
{
    const tp_fleet_t *f = c->f;
    const side_t *sd = &c->side;
    int need = tp_wl_nodes(w), slot = tp_wl_together(w) + 1, nr = c->running->n;
    int *cand = malloc(((size_t)nr + 1) * sizeof *cand);
    int *list = malloc(((size_t)nr + 1) * sizeof *list);
    long *su = malloc(((size_t)f->ntenants + 1) * sizeof *su);
    int placed = 0;
    if (!cand || !list || !su) {
        placed = TP_ENOMEM;
        goto out;
    }
    memcpy(su, sd->ruse, (size_t)f->ntenants * sizeof *su);
    for (int g = 0; g < sd->k_n[slot] && !placed; g++) {
        const int *off = sd->k_off[slot], *mem = sd->k_mem[slot];
        int got = 0, nv = 0;
        while (got < need) {
            int best = -1, best_cost = 0, best_used = 0;
            for (int i = off[g]; i < off[g + 1]; i++) {
                int n = mem[i], cost = 0, k;
                bool used = !elig[n];
                for (int j = 0; j < got && !used; j++)
                    used = members[j] == n;
                if (used ||
                    (k = node_victims(c, c->base, su, w, n, cand, list, &cost)) < 0)
                    continue;
                restart_victims(c, c->base, su, list, k); /* a trial only */
                if (best < 0 || cost < best_cost ||
                    (cost == best_cost && c->base->gpus_used[n] > best_used)) {
                    best = n;
                    best_cost = cost;
                    best_used = c->base->gpus_used[n];
                }
            }
            if (best < 0)
                break;
            int cost,
                k = node_victims(c, c->base, su, w, best, cand, victims + nv, &cost);
            if (k < 0)
                break;
            nv += k;
            tp_load_apply(c->base, f, best, w->gpus,
                          tp_fleet_gpu_watts(f, best, w->model), +1);
            members[got++] = best;
        }
        if (got == need) {
            placed = commit_victims(c, res, w, victims, nv) < 0 ? TP_ENOMEM : 1;
            continue;
        }
        for (int j = 0; j < got; j++) /* undo the domain: none of the gang stays */
            tp_load_apply(c->base, f, members[j], w->gpus,
                          tp_fleet_gpu_watts(f, members[j], w->model), -1);
        restart_victims(c, c->base, su, victims, nv);
    }
out:
    free(cand);
    free(list);
    free(su);
    return placed;
}

/* Reclaim for single-node work w of a tenant under its quota: the node where
 * stopping borrowed work (node_victims) makes w fit with the fewest GPUs
 * stopped (ties: node id). Stops it and returns the node, or -1. */
static int reclaim(ctx_t *c, tp_result_t *res, const tp_workload_t *w, const char *elig,
                   int *victims)
{
    const tp_fleet_t *f = c->f;
    int nr = c->running->n, best = -1, best_gpus = 0, best_nv = 0;
    long *su = malloc(((size_t)f->ntenants + 1) * sizeof *su);
    int *cand = malloc(((size_t)nr + 1) * sizeof *cand);
    int *list = malloc(((size_t)nr + 1) * sizeof *list);
    if (!su || !cand || !list) {
        best = TP_ENOMEM;
        goto out;
    }
    memcpy(su, c->side.ruse, (size_t)f->ntenants * sizeof *su);
    for (int r = 0; r < f->nnodes; r++) {
        int n = c->nord[r], stopped, nl;
        if (!elig[n] ||
            (nl = node_victims(c, c->base, su, w, n, cand, list, &stopped)) < 0)
            continue;
        restart_victims(c, c->base, su, list, nl); /* a trial only */
        if (nl > 0 && (best < 0 || stopped < best_gpus)) {
            best = n;
            best_gpus = stopped;
            best_nv = nl;
            memcpy(victims, list, (size_t)nl * sizeof *victims);
        }
    }
    if (best >= 0) {
        int stopped, nl = node_victims(c, c->base, su, w, best, cand, list, &stopped);
        if (nl < 0) /* rounding judged differently: nothing is reclaimed */
            best = -1;
        else if (commit_victims(c, res, w, list, nl) < 0)
            best = TP_ENOMEM;
    }
    (void)best_nv;
out:
    free(su);
    free(cand);
    free(list);
    return best;
}

int side_static_row(const ctx_t *c, const tp_workload_t *w, char *elig)
{
    const char *row;
    int any;
    if (!ctx_static_preds(c, w, &row, &any)) { /* out of memory: no shortcut */
        any = 0;
        for (int n = 0; n < c->f->nnodes; n++)
            any += (elig[n] = tp_policy_static(c->f, c->s, n, w, c->now) == 0);
        return any;
    }
    memcpy(elig, row, (size_t)c->f->nnodes);
    return any;
}

/* tp_policy_count with the static predicates from the memo and the capacity
 * ones from cap ([node]: tp_policy_capacity, which reads only w's GPUs and AI
 * model, on the same load). */
static int side_count(const ctx_t *c, const tp_predset_t *cap, const tp_workload_t *w,
                      int counts[TP_PRED_COUNT])
{
    const tp_predset_t *st = ctx_static_preds(c, w, NULL, NULL);
    if (!st)
        return TP_ENOMEM;
    int eligible = 0;
    memset(counts, 0, TP_PRED_COUNT * sizeof counts[0]);
    for (int n = 0; n < c->f->nnodes; n++) {
        tp_predset_t fail = st[n] | cap[n];
        eligible += !fail;
        for (; fail; fail &= fail - 1)
            counts[__builtin_ctz(fail)]++;
    }
    return eligible;
}

int side_before(ctx_t *c, tp_result_t *res)
{
    const tp_fleet_t *f = c->f;
    const tp_workloads_t *pend = c->pending, *run = c->running;
    side_t *sd = &c->side;
    int np = pend->n, nr = run->n, no = 0, rc = TP_ENOMEM;
    sd->use = calloc((size_t)f->ntenants + 1, sizeof *sd->use);
    sd->ruse = calloc((size_t)f->ntenants + 1, sizeof *sd->ruse);
    sd->skip = calloc((size_t)np + (size_t)nr + 1, 1);
    ord_t *o = malloc(((size_t)np + (size_t)nr + 1) * sizeof *o);
    char *elig = malloc((size_t)f->nnodes + 1);
    int *members = malloc(((size_t)f->nnodes + 1) * sizeof *members);
    int *victims = malloc((2 * (size_t)nr + 1) * sizeof *victims);
    sd->r_off = calloc((size_t)f->nnodes + 2, sizeof *sd->r_off);
    sd->r_mem = malloc(((size_t)nr + 1) * sizeof *sd->r_mem);
    if (!sd->use || !sd->ruse || !sd->skip || !o || !elig || !members || !victims ||
        !sd->r_off || !sd->r_mem)
        goto out;
    /* Running work by node (CSR, input order within a node) and the tenants'
     * use, in one pass over the running entries (a large running set: each
     * pass is a walk through memory); their nodes noted in victims, which
     * reclaim only uses later. */
    for (int i = 0; i < nr; i++) {
        const tp_workload_t *w = &run->w[i];
        victims[i] = w->node;
        sd->r_off[w->node + 1]++;
        if (!c->preempted[i]) {
            charge(c, tp_wl_tenant(w), w->gpus);
            for (int u = tp_wl_tenant(w); u >= 0; u = f->tenants[u].parent)
                sd->ruse[u] += w->gpus;
        }
        if (w->gang)
            sd->skip[np + i] = 1; /* a stopped gang waits whole; never moved */
    }
    for (int n = 0; n < f->nnodes; n++)
        sd->r_off[n + 1] += sd->r_off[n];
    memcpy(members, sd->r_off, (size_t)f->nnodes * sizeof *members); /* fill cursors */
    for (int i = 0; i < nr; i++)
        sd->r_mem[members[victims[i]]++] = i;
    /* 2. Reclaim, for work of tenants under their quota (priority order). */
    for (int i = 0; i < np && f->ntenants > 0; i++) {
        const tp_workload_t *w = &pend->w[i];
        int t = tp_wl_tenant(w);
        if (tp_wl_nodes(w) == 1 && t >= 0 &&
            sd->use[t] + w->gpus <= f->tenants[t].quota_gpus)
            o[no++] = (ord_t){c, w, i, share(c, t)};
    }
    qsort(o, (size_t)no, sizeof *o, by_order);
    for (int k = 0; k < no; k++) {
        const tp_workload_t *w = o[k].w;
        int t = tp_wl_tenant(w), fits = 0;
        if (sd->use[t] + w->gpus > f->tenants[t].quota_gpus || room(c, t) < w->gpus ||
            !side_static_row(c, w, elig))
            continue;
        for (int n = 0; n < f->nnodes && !fits; n++)
            fits = elig[n] && ctx_fits(c, c->base, w, n);
        if (fits)
            continue;
        int n = reclaim(c, res, w, elig, victims);
        if (n == TP_ENOMEM)
            goto out;
        if (n < 0)
            continue;
        int it = push_item(c, w, o[k].res, 0);
        if (it < 0 || tp_result_add_placement(res, o[k].res, n, w->gpus) < 0)
            goto out;
        tp_load_apply(c->base, f, n, w->gpus, tp_fleet_gpu_watts(f, n, w->model), +1);
        charge(c, t, w->gpus);
        sd->skip[o[k].res] = 1;
        sd->placed_gpus += w->gpus;
        sd->weighted += (1.0 + w->priority) * w->gpus;
    }
    /* 3. Gangs. */
    no = 0;
    for (int i = 0; i < np; i++)
        if (tp_wl_nodes(&pend->w[i]) > 1)
            o[no++] = (ord_t){c, &pend->w[i], i, share(c, tp_wl_tenant(&pend->w[i]))};
    qsort(o, (size_t)no, sizeof *o, by_order);
    for (int k = 0; k < no; k++) {
        const tp_workload_t *w = o[k].w;
        int need = tp_wl_nodes(w);
        long gpus = (long)need * w->gpus;
        sd->skip[o[k].res] = 1;
        if (side_kind_lists(c, tp_wl_together(w)) < 0)
            goto out;
        int t = tp_wl_tenant(w);
        bool ok = room(c, t) >= gpus && side_static_row(c, w, elig) >= need &&
                  side_place_gang(c, c->base, w, elig, members),
             fixed = false;
        if (!ok && t >= 0 && room(c, t) >= gpus &&
            sd->use[t] + gpus <= f->tenants[t].quota_gpus &&
            side_static_row(c, w, elig) >= need) {
            int rr = gang_reclaim(c, res, w, elig, members, victims);
            if (rr < 0)
                goto out;
            ok = fixed = rr > 0;
        }
        int it = push_item(c, w, o[k].res,
                           ok                                ? 0
                           : room(c, tp_wl_tenant(w)) < gpus ? 2
                                                             : 1);
        if (it < 0)
            goto out;
        if (!ok)
            continue;
        /* Members go into the result in side_after: the exact model may
         * still move or drop the gang (exact.c). */
        if (!(sd->mem[it] = malloc((size_t)need * sizeof *sd->mem[it])))
            goto out;
        memcpy(sd->mem[it], members, (size_t)need * sizeof *members);
        sd->fixed[it] = fixed;
        charge(c, tp_wl_tenant(w), gpus);
        sd->placed_gpus += gpus;
        sd->weighted += (1.0 + w->priority) * gpus;
    }
    for (int i = 0; i < nr; i++) /* reclaimed work waits; it is not moved */
        if (c->preempted[i] == 2)
            sd->skip[np + i] = 1;
    /* 4. Admission of single-node work under tenant limits. */
    no = 0;
    for (int i = 0; i < np + nr && f->ntenants > 0; i++) {
        const tp_workload_t *w = i < np ? &pend->w[i] : &run->w[i - np];
        if (sd->skip[i] || (i >= np && !c->preempted[i - np]) || tp_wl_tenant(w) < 0)
            continue;
        o[no++] = (ord_t){c, w, i, share(c, tp_wl_tenant(w))};
    }
    qsort(o, (size_t)no, sizeof *o, by_order);
    for (int k = 0; k < no; k++) {
        const tp_workload_t *w = o[k].w;
        if (room(c, tp_wl_tenant(w)) >= w->gpus) {
            charge(c, tp_wl_tenant(w), w->gpus); /* released in side_after if unplaced */
            continue;
        }
        sd->skip[o[k].res] = 1;
        if (push_item(c, w, o[k].res, 2) < 0)
            goto out;
    }
    rc = 0;
out:
    free(o);
    free(elig);
    free(members);
    free(victims);
    return rc;
}

/* Reasons of side item `it` from row: tp_policy_count's counts against the
 * final load, then the eligible nodes (row[TP_PRED_COUNT]). */
static int side_reasons(const ctx_t *c, int it, const int *row, tp_result_t *res)
{
    const tp_workload_t *w = c->side.w[it];
    int counts[TP_PRED_COUNT], ok = row[TP_PRED_COUNT], any = 0;
    memcpy(counts, row, sizeof counts);
    for (int q = 0; q < TP_PRED_COUNT; q++)
        any |= counts[q];
    /* tenant_limit where its tenant (or a group) lacks the room on the final
     * use — held back or not: the exact model's full tenant rows judge both
     * — and for held-back work where nothing else keeps it out. */
    bool limited = room(c, tp_wl_tenant(w)) < (long)tp_wl_nodes(w) * w->gpus;
    if (limited || (c->side.flag[it] == 2 && !any && (tp_wl_nodes(w) < 2 || ok == 0)))
        counts[TP_PRED_TENANT_LIMIT] = c->f->nnodes;
    if (tp_wl_nodes(w) > 1 && ok > 0 && (c->side.flag[it] != 2 || !limited))
        counts[TP_PRED_GANG_TOPOLOGY] = ok; /* else every node fails a predicate */
    return tp_result_add_pending(res, c->side.res[it], counts);
}

/* 6. Placed gangs' members; reasons for what waits. The load no longer
 * changes: items of one static class and AI model (all that tp_policy_check
 * reads of a workload) share one count over the fleet. */
static int side_members_and_reasons(const ctx_t *c, const plan_t *p, tp_result_t *res)
{
    const side_t *sd = &c->side;
    size_t maxkey = 1; /* ctx_wl_key's room and the model */
    for (int it = 0; it < sd->n; it++) {
        size_t need = ctx_wl_key_room(sd->w[it]) + 1;
        maxkey = need > maxkey ? need : maxkey;
    }
    keytab_t kt = {0}, ct = {0}; /* ct: (GPUs, AI model) → capacity row */
    int *key = malloc(maxkey * sizeof *key), nn = c->f->nnodes;
    int *memo = malloc(((size_t)sd->n + 1) * (TP_PRED_COUNT + 1) * sizeof *memo);
    tp_predset_t **cap = calloc((size_t)sd->n + 1, sizeof *cap);
    int rc = key && memo && cap && keytab_init(&ct, 64) == 0 ? keytab_init(&kt, 64)
                                                             : TP_ENOMEM;
    for (int it = 0; it < sd->n && rc == 0; it++) {
        const tp_workload_t *w = sd->w[it];
        if (sd->flag[it] == 0) {
            for (int j = 0; sd->mem[it] && j < tp_wl_nodes(w) && rc == 0; j++)
                rc = tp_result_add_placement(res, sd->res[it], sd->mem[it][j], w->gpus);
            continue;
        }
        int len = ctx_wl_key(w, key), n0 = kt.n;
        key[len++] = w->model;
        int id = keytab_intern(&kt, key, len);
        if (id < 0) {
            rc = id;
            break;
        }
        int *row = memo + (size_t)id * (TP_PRED_COUNT + 1);
        if (id == n0) {
            int gm[2] = {w->gpus, w->model}, q = keytab_intern(&ct, gm, 2);
            if (q >= 0 && !cap[q] && (cap[q] = malloc(((size_t)nn + 1) * sizeof **cap)))
                for (int n = 0; n < nn; n++)
                    cap[q][n] = tp_policy_capacity(c->f, c->s, p->load, n, w);
            if (q < 0 || !cap[q] || (rc = side_count(c, cap[q], w, row)) < 0) {
                rc = TP_ENOMEM;
                break;
            }
            row[TP_PRED_COUNT] = rc;
        }
        rc = side_reasons(c, it, row, res);
    }
    for (int q = 0; cap && q < ct.n; q++)
        free(cap[q]);
    free(cap);
    keytab_fini(&ct);
    keytab_fini(&kt);
    free(key);
    free(memo);
    return rc < 0 ? rc : 0;
}

int side_after(ctx_t *c, plan_t *p, tp_result_t *res)
{
    const tp_fleet_t *f = c->f;
    side_t *sd = &c->side;
    /* Release the admission charge of admitted work the plan left unplaced. */
    for (int ci = 0; ci < c->nc && f->ntenants > 0; ci++)
        if (p->cnode[ci] < 0 && tp_wl_tenant(c->cw[ci]) >= 0 && sd->use)
            charge(c, tp_wl_tenant(c->cw[ci]), -c->cw[ci]->gpus);
    /* 5. Held-back single-node work, where it now fits. */
    for (int it = 0; it < sd->n; it++) {
        const tp_workload_t *w = sd->w[it];
        if (sd->flag[it] != 2 || tp_wl_nodes(w) > 1 || room(c, tp_wl_tenant(w)) < w->gpus)
            continue;
        int best = -1, best_left = 0;
        const tp_predset_t *st = ctx_static_preds(c, w, NULL, NULL);
        if (!st)
            return TP_ENOMEM;
        for (int r = 0; r < f->nnodes; r++) {
            int n = c->nord[r];
            if (st[n] != 0 || tp_policy_capacity(f, c->s, p->load, n, w) != 0 ||
                !ctx_fits(c, p->load, w, n))
                continue;
            int left = c->healthy[n] - p->load->gpus_used[n] - w->gpus;
            if (best < 0 || left < best_left) {
                best = n;
                best_left = left;
            }
        }
        if (best < 0)
            continue;
        if (tp_result_add_placement(res, sd->res[it], best, w->gpus) < 0)
            return TP_ENOMEM;
        tp_load_apply(p->load, f, best, w->gpus, tp_fleet_gpu_watts(f, best, w->model),
                      +1);
        charge(c, tp_wl_tenant(w), w->gpus);
        sd->flag[it] = 0;
        sd->placed_gpus += w->gpus;
        sd->weighted += (1.0 + w->priority) * w->gpus;
    }
    return side_members_and_reasons(c, p, res);
}

void side_fini(ctx_t *c)
{
    for (int k = 0; c->side.k_off && k <= c->f->nkinds; k++) {
        free(c->side.k_off[k]);
        free(c->side.k_mem[k]);
        free(c->side.k_dom[k]);
    }
    free(c->side.k_off);
    free(c->side.k_mem);
    free(c->side.k_dom);
    free(c->side.k_n);
    free(c->side.r_off);
    free(c->side.r_mem);
    free(c->side.w);
    free(c->side.res);
    free(c->side.flag);
    for (int it = 0; it < c->side.n; it++)
        free(c->side.mem[it]);
    free(c->side.mem);
    free(c->side.fixed);
    free(c->side.held);
    free(c->side.use);
    free(c->side.ruse);
    free(c->side.skip);
    memset(&c->side, 0, sizeof c->side);
}
