/*
 * solver/heur.c — plans and the exact per-node step: does a candidate fit a node
 * (GPUs, node cap, every ancestor domain cap), best-fit packing within a group,
 * the repair pass that places what rounding left over, and the first-fit
 * baseline. Everything here walks candidates, groups and nodes in canonical
 * order (ctx_t: by id), so the same input in any order gives the same plan.
 */
#include "solver/solver_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int plan_init(plan_t *p, const ctx_t *c)
{
    p->cnode = malloc(((size_t)c->nc + 1) * sizeof *p->cnode);
    p->load = tp_load_copy(c->base);
    if (!p->cnode || !p->load) {
        plan_fini(p);
        return TP_ENOMEM;
    }
    for (int i = 0; i < c->nc; i++)
        p->cnode[i] = -1;
    return 0;
}

void plan_fini(plan_t *p)
{
    free(p->cnode);
    tp_load_free(p->load);
    p->cnode = NULL;
    p->load = NULL;
}

int plan_copy(plan_t *dst, const plan_t *src, const ctx_t *c)
{
    dst->cnode = malloc(((size_t)c->nc + 1) * sizeof *dst->cnode);
    dst->load = tp_load_copy(src->load);
    if (!dst->cnode || !dst->load) {
        plan_fini(dst);
        return TP_ENOMEM;
    }
    memcpy(dst->cnode, src->cnode, (size_t)c->nc * sizeof *dst->cnode);
    return 0;
}

/* Node n and every domain above it can take `add` more watts. */
static bool power_fits(const ctx_t *c, const tp_load_t *l, int n, double add)
{
    if (ctx_over(l->node_w[n] + add, c->ncap[n]))
        return false;
    for (int d = c->f->nodes[n].domain; d >= 0; d = c->f->domains[d].parent)
        if (ctx_over(l->domain_w[d] + add, c->dcap[d]))
            return false;
    return true;
}

bool ctx_fits(const ctx_t *c, const tp_load_t *l, const tp_workload_t *w, int n)
{
    if (c->healthy[n] - l->gpus_used[n] < w->gpus)
        return false;
    return power_fits(c, l, n, tp_policy_work_w(c->f, n, w));
}

bool plan_fits(const ctx_t *c, const plan_t *p, int ci, int n)
{
    return ctx_fits(c, p->load, c->cw[ci], n);
}

void plan_place(const ctx_t *c, plan_t *p, int ci, int n)
{
    const tp_workload_t *w = c->cw[ci];
    p->cnode[ci] = n;
    tp_load_apply(p->load, c->f, n, w->gpus, tp_fleet_gpu_watts(c->f, n, w->model), +1);
}

double plan_least_watts(const ctx_t *c, int ci, int g)
{
    const tp_workload_t *w = c->cw[ci];
    const tp_profile_t *pr =
        w->model >= 0 ? tp_fleet_profile(c->f, w->model,
                                         c->f->nodes[c->g_mem[c->g_off[g]]].gpu_model)
                      : NULL;
    return w->gpus * (pr ? pr->watts : c->g_minw[g]);
}

bool plan_group_full(const ctx_t *c, const plan_t *p, int ci, int g)
{
    /* Every node of g lies beneath g's anchor: when the anchor or a domain
     * above it cannot take ci at the group's lowest draw, no node can. */
    double add = plan_least_watts(c, ci, g);
    for (int d = c->g_anchor[g]; d >= 0; d = c->f->domains[d].parent)
        if (ctx_over(p->load->domain_w[d] + add, c->dcap[d]))
            return true;
    return false;
}

int plan_best_fit(const ctx_t *c, const plan_t *p, int ci, int g)
{
    /* A group's nodes share one GPU model, so one profile gives every node's
     * draw (tp_policy_work_w's, without a lookup per node). */
    const tp_workload_t *w = c->cw[ci];
    const tp_node_t *nodes = c->f->nodes;
    int best = -1, best_left = 0;
    if (!ctx_static_ok(c, ci, c->g_mem[c->g_off[g]]) || plan_group_full(c, p, ci, g))
        return -1;
    const tp_profile_t *pr =
        tp_fleet_profile(c->f, w->model, nodes[c->g_mem[c->g_off[g]]].gpu_model);
    for (int i = c->g_off[g]; i < c->g_off[g + 1]; i++) {
        int n = c->g_mem[i];
        int left = c->healthy[n] - p->load->gpus_used[n] - w->gpus;
        if (left < 0 || (best >= 0 && left >= best_left))
            continue;
        if (power_fits(c, p->load, n, w->gpus * (pr ? pr->watts : nodes[n].gpu_w))) {
            best = n;
            best_left = left;
            if (left == 0)
                break; /* no node can leave fewer */
        }
    }
    return best;
}

int plan_repair(const ctx_t *c, plan_t *p, const int *list, int n)
{
    /* Identical demands (c->k_dem) and loads that only grow: where one
     * candidate found no room the next will not either, so each demand keeps
     * a cursor into its eligible groups (c->dg) and gives up once it fails. */
    int *cursor = calloc((size_t)c->ndem + 1, sizeof *cursor);
    if (!cursor)
        return TP_ENOMEM;
    for (int i = 0; i < n; i++) {
        int ci = list[i], k = c->k_dem[c->cand_k[ci]];
        const int *groups = c->dg + c->dg_off[k];
        int ng = c->dg_off[k + 1] - c->dg_off[k];
        int t = tp_wl_tenant(c->cw[ci]);
        if (p->cnode[ci] >= 0 || cursor[k] < 0 ||
            (c->tn_use && t >= 0 && side_room(c, c->tn_use, t) < c->cw[ci]->gpus))
            continue;
        int j = cursor[k];
        for (; j < ng; j++) {
            int node = plan_best_fit(c, p, ci, groups[j]);
            if (node >= 0) {
                plan_place(c, p, ci, node);
                if (c->tn_use && t >= 0)
                    side_use_add(c, c->tn_use, t, c->cw[ci]->gpus);
                break;
            }
        }
        cursor[k] = j < ng ? j : -1;
    }
    free(cursor);
    return 0;
}

typedef struct {
    double weight;
    int moved, idx;
} order_t;

static int by_weight(const void *a, const void *b)
{
    const order_t *x = a, *y = b;
    if (x->weight != y->weight)
        return x->weight > y->weight ? -1 : 1;
    if (x->moved != y->moved)
        return x->moved > y->moved ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

int *plan_weight_order(const ctx_t *c)
{
    /* Few distinct (weight, moved) keys: sorted once, then a counting sort
     * keeps the candidates of one key in index order (by_weight's last key). */
    keytab_t t;
    int *key_of = malloc(((size_t)c->nc + 1) * sizeof *key_of);
    int *list = malloc(((size_t)c->nc + 1) * sizeof *list);
    order_t *o = NULL;
    int *start = NULL;
    if (!key_of || !list || keytab_init(&t, 64) < 0) {
        free(key_of);
        free(list);
        return NULL;
    }
    for (int i = 0; i < c->nc; i++) {
        long long w = (1LL + c->cw[i]->priority) * c->cw[i]->gpus;
        int key[3] = {(int)(w >> 31), (int)(w & 0x7fffffff), c->corigin[i] >= 0};
        if ((key_of[i] = keytab_intern(&t, key, 3)) < 0)
            goto fail;
    }
    o = malloc(((size_t)t.n + 1) * sizeof *o);
    start = calloc((size_t)t.n + 1, sizeof *start);
    if (!o || !start)
        goto fail;
    for (int i = c->nc - 1; i >= 0; i--) /* each key's first candidate */
        o[key_of[i]] = (order_t){(1.0 + c->cw[i]->priority) * c->cw[i]->gpus,
                                 c->corigin[i] >= 0, key_of[i]};
    qsort(o, (size_t)t.n, sizeof *o, by_weight);
    for (int i = 0; i < c->nc; i++)
        start[key_of[i]]++;
    for (int a = 0, at = 0; a < t.n; a++) { /* counts → starts, in key order */
        int n = start[o[a].idx];
        start[o[a].idx] = at;
        at += n;
    }
    for (int i = 0; i < c->nc; i++)
        list[start[key_of[i]]++] = i;
    free(o);
    free(start);
    free(key_of);
    keytab_fini(&t);
    return list;
fail:
    free(o);
    free(start);
    free(key_of);
    free(list);
    keytab_fini(&t);
    return NULL;
}

int *plan_unplaced_by_weight(const ctx_t *c, const plan_t *p, int *n)
{
    /* The order is a total one (index last): filtering the sorted whole is
     * sorting the unplaced ones, without a sort per call. */
    int *list = malloc(((size_t)c->nc + 1) * sizeof *list), k = 0;
    if (!list)
        return NULL;
    for (int i = 0; i < c->nc; i++)
        if (p->cnode[c->by_weight[i]] < 0)
            list[k++] = c->by_weight[i];
    *n = k;
    return list;
}

/* The least any candidate adds to node n: the fewest GPUs any asks for at the
 * lowest per-GPU draw of any AI model among them on n. [n]; NULL on ENOMEM. */
static double *least_adds(const ctx_t *c)
{
    const tp_fleet_t *f = c->f;
    int ming = 0, nm = 0;
    int *models = malloc(((size_t)c->nk + 1) * sizeof *models);
    double *add = malloc(((size_t)f->nnodes + 1) * sizeof *add);
    if (!models || !add) {
        free(models);
        free(add);
        return NULL;
    }
    for (int k = 0; k < c->nk; k++) {
        const tp_workload_t *w = c->cw[c->k_mem[c->k_off[k]]];
        int m = 0;
        ming = k == 0 || w->gpus < ming ? w->gpus : ming;
        while (m < nm && models[m] != w->model)
            m++;
        if (m == nm)
            models[nm++] = w->model;
    }
    for (int n = 0; n < f->nnodes; n++) {
        double least = INFINITY;
        for (int m = 0; m < nm; m++) {
            double watts = tp_fleet_gpu_watts(f, n, models[m]);
            least = watts < least ? watts : least;
        }
        add[n] = nm > 0 ? ming * least : 0;
    }
    free(models);
    return add;
}

/* Can node n take no candidate at all, now or later (loads only grow)? */
static bool dead(const ctx_t *c, const plan_t *p, const double *least, int n)
{
    if (c->healthy[n] - p->load->gpus_used[n] <= 0 ||
        ctx_over(p->load->node_w[n] + least[n], c->ncap[n]))
        return true;
    for (int d = c->f->nodes[n].domain; d >= 0; d = c->f->domains[d].parent)
        if (ctx_over(p->load->domain_w[d] + least[n], c->dcap[d]))
            return true;
    return false;
}

/* Bitsets by rank, one per candidate static class: [wsc * words + r / 64]
 * has bit r % 64 where the node of rank r is statically eligible, and bit
 * nn (a sentinel) always; *words per class. NULL where they would take more
 * than tp_solver_elig_max_words (ELIG_MAX_WORDS; the scan then tests each
 * node) or on ENOMEM. */
#define ELIG_MAX_WORDS ((size_t)1 << 22)
size_t tp_solver_elig_max_words = ELIG_MAX_WORDS;
static uint64_t *elig_bits(const ctx_t *c, size_t *words)
{
    int nn = c->f->nnodes;
    size_t W = (size_t)nn / 64 + 1;
    if (W * (size_t)c->nwsc > tp_solver_elig_max_words)
        return NULL;
    uint64_t *bits = calloc(W * (size_t)c->nwsc + 1, sizeof *bits);
    int *off = calloc((size_t)c->nnsc + 2, sizeof *off); /* ranks by node class */
    int *fill = malloc(((size_t)c->nnsc + 1) * sizeof *fill);
    int *rk = malloc(((size_t)nn + 1) * sizeof *rk);
    if (!bits || !off || !fill || !rk) {
        free(bits);
        free(off);
        free(fill);
        free(rk);
        return NULL;
    }
    for (int r = 0; r < nn; r++)
        off[c->node_sc[c->nord[r]] + 1]++;
    for (int a = 0; a < c->nnsc; a++)
        off[a + 1] += off[a];
    memcpy(fill, off, (size_t)c->nnsc * sizeof *fill);
    for (int r = 0; r < nn; r++)
        rk[fill[c->node_sc[c->nord[r]]]++] = r;
    for (int w = 0; w < c->nwsc; w++) {
        uint64_t *b = bits + (size_t)w * W;
        const tp_predset_t *st = c->stat + (size_t)w * (size_t)c->nnsc;
        for (int a = 0; a < c->nnsc; a++) {
            if (st[a])
                continue;
            for (int i = off[a]; i < off[a + 1]; i++)
                b[rk[i] / 64] |= (uint64_t)1 << (rk[i] % 64);
        }
        b[nn / 64] |= (uint64_t)1 << (nn % 64);
    }
    free(off);
    free(fill);
    free(rk);
    *words = W;
    return bits;
}

/* The first rank ≥ r whose bit is set (the sentinel stops it). */
static int next_bit(const uint64_t *b, int r)
{
    size_t w = (size_t)r / 64;
    uint64_t x = b[w] & (~(uint64_t)0 << (r % 64));
    while (!x)
        x = b[++w];
    return (int)(w * 64 + (size_t)__builtin_ctzll(x));
}

int plan_first_fit(const ctx_t *c, plan_t *p)
{
    /* The cursor only skips nodes that an identical demand already found full,
     * and skip[] the ranks of nodes that can take no candidate any more (no
     * free GPU, or no power for the least any candidate adds, at the node or
     * a domain above; loads only grow), found when an eligible candidate's
     * scan meets them, and the eligibility bitsets the ranks its static class
     * may not use: the outcome is exactly first fit in input order. */
    int nn = c->f->nnodes, *cursor = calloc((size_t)c->ndem + 1, sizeof *cursor),
        *skip = malloc(((size_t)nn + 1) * sizeof *skip);
    double *least = least_adds(c);
    size_t W = 0;
    uint64_t *bits = elig_bits(c, &W);
    if (!cursor || !skip || !least) {
        free(cursor);
        free(skip);
        free(least);
        free(bits);
        return TP_ENOMEM;
    }
    for (int r = 0; r <= nn; r++)
        skip[r] = r < nn && c->healthy[c->nord[r]] - p->load->gpus_used[c->nord[r]] <= 0
                      ? r + 1
                      : r;
    for (int ci = 0; ci < c->nc; ci++) {
        int k = c->k_dem[c->cand_k[ci]], n = cursor[k];
        const uint64_t *b = bits ? bits + (size_t)c->cand_wsc[ci] * W : NULL;
        if (p->cnode[ci] >= 0 || n < 0)
            continue;
        for (n = plan_next_open(skip, n); n < nn; n = plan_next_open(skip, n + 1)) {
            int node = c->nord[n];
            if (b) {
                int e = next_bit(b, n);
                if (e != n) { /* not eligible: on from the next that is */
                    n = e - 1;
                    continue;
                }
            } else if (!ctx_static_ok(c, ci, node)) {
                continue;
            }
            bool fits = plan_fits(c, p, ci, node);
            if (fits)
                plan_place(c, p, ci, node);
            if (dead(c, p, least, node))
                skip[n] = n + 1;
            if (fits)
                break;
        }
        cursor[k] = n < nn ? n : -1;
    }
    free(cursor);
    free(skip);
    free(least);
    free(bits);
    return 0;
}

double plan_objective(const ctx_t *c, const plan_t *p, double *weighted)
{
    double v = 0, w = 0;
    for (int i = 0; i < c->nc; i++)
        if (p->cnode[i] >= 0) {
            v += ctx_value(c, i, p->cnode[i]);
            w += (1.0 + c->cw[i]->priority) * c->cw[i]->gpus;
        }
    if (weighted)
        *weighted = w;
    return v;
}
