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

#define CAP_EPS 1e-9 /* as policy.c: a sum landing exactly on a cap is not over */

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

static bool over(double draw, double cap)
{
    return draw > cap * (1 + CAP_EPS);
}

bool ctx_fits(const ctx_t *c, const tp_load_t *l, const tp_workload_t *w, int n)
{
    if (c->healthy[n] - l->gpus_used[n] < w->gpus)
        return false;
    double add = tp_policy_work_w(c->f, n, w);
    if (over(l->node_w[n] + add, c->ncap[n]))
        return false;
    for (int d = c->f->nodes[n].domain; d >= 0; d = c->f->domains[d].parent)
        if (over(l->domain_w[d] + add, c->dcap[d]))
            return false;
    return true;
}

bool plan_fits(const ctx_t *c, const plan_t *p, int ci, int n)
{
    return ctx_fits(c, p->load, c->cw[ci], n);
}

bool ctx_over(double draw, double cap)
{
    return over(draw, cap);
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
        if (over(p->load->domain_w[d] + add, c->dcap[d]))
            return true;
    return false;
}

int plan_best_fit(const ctx_t *c, const plan_t *p, int ci, int g)
{
    int best = -1, best_left = 0;
    if (!ctx_static_ok(c, ci, c->g_mem[c->g_off[g]]) || plan_group_full(c, p, ci, g))
        return -1;
    for (int i = c->g_off[g]; i < c->g_off[g + 1]; i++) {
        int n = c->g_mem[i];
        int left = c->healthy[n] - p->load->gpus_used[n] - c->cw[ci]->gpus;
        if (left < 0 || (best >= 0 && left >= best_left))
            continue;
        if (plan_fits(c, p, ci, n)) {
            best = n;
            best_left = left;
        }
    }
    return best;
}

int *plan_demands(const ctx_t *c)
{
    keytab_t t;
    int *dem = malloc(((size_t)c->nk + 1) * sizeof *dem);
    if (!dem || keytab_init(&t, 64) < 0) {
        free(dem);
        return NULL;
    }
    for (int k = 0; k < c->nk; k++) {
        int ci = c->k_mem[c->k_off[k]], key[2] = {c->cand_wsc[ci], c->cw[ci]->model};
        if ((dem[k] = keytab_intern(&t, key, 2)) < 0) {
            free(dem);
            dem = NULL;
            break;
        }
    }
    keytab_fini(&t);
    return dem;
}

int plan_repair(const ctx_t *c, plan_t *p, const int *list, int n)
{
    /* Identical demands (plan_demands()) and loads that only grow: where one
     * candidate found no room the next will not either, so each demand keeps
     * a cursor into its group order and gives up once it fails. */
    int *cursor = calloc((size_t)c->nk + 1, sizeof *cursor), *dem = plan_demands(c);
    if (!cursor || !dem) {
        free(cursor);
        free(dem);
        return TP_ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        int ci = list[i], k = dem[c->cand_k[ci]];
        const int *groups = c->g_by_model[c->cw[ci]->model + 1];
        if (p->cnode[ci] >= 0 || cursor[k] < 0)
            continue;
        int j = cursor[k];
        for (; j < c->ng; j++) {
            int node = plan_best_fit(c, p, ci, groups[j]);
            if (node >= 0) {
                plan_place(c, p, ci, node);
                break;
            }
        }
        cursor[k] = j < c->ng ? j : -1;
    }
    free(cursor);
    free(dem);
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
    order_t *o = malloc(((size_t)c->nc + 1) * sizeof *o);
    int *list = malloc(((size_t)c->nc + 1) * sizeof *list);
    if (!o || !list) {
        free(o);
        free(list);
        return NULL;
    }
    for (int i = 0; i < c->nc; i++)
        o[i] =
            (order_t){(1.0 + c->cw[i]->priority) * c->cw[i]->gpus, c->corigin[i] >= 0, i};
    qsort(o, (size_t)c->nc, sizeof *o, by_weight);
    for (int i = 0; i < c->nc; i++)
        list[i] = o[i].idx;
    free(o);
    return list;
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

int plan_next_open(int *skip, int i)
{
    while (skip[i] != i) {
        skip[i] = skip[skip[i]];
        i = skip[i];
    }
    return i;
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
        over(p->load->node_w[n] + least[n], c->ncap[n]))
        return true;
    for (int d = c->f->nodes[n].domain; d >= 0; d = c->f->domains[d].parent)
        if (over(p->load->domain_w[d] + least[n], c->dcap[d]))
            return true;
    return false;
}

int plan_first_fit(const ctx_t *c, plan_t *p)
{
    /* The cursor only skips nodes that an identical demand already found full,
     * and skip[] the ranks of nodes that can take no candidate any more (no
     * free GPU, or no power for the least any candidate adds, at the node or
     * a domain above; loads only grow), found when an eligible candidate's
     * scan meets them: the outcome is exactly first fit in input order. */
    int nn = c->f->nnodes, *cursor = calloc((size_t)c->nk + 1, sizeof *cursor),
        *dem = plan_demands(c), *skip = malloc(((size_t)nn + 1) * sizeof *skip);
    double *least = least_adds(c);
    if (!cursor || !dem || !skip || !least) {
        free(cursor);
        free(dem);
        free(skip);
        free(least);
        return TP_ENOMEM;
    }
    for (int r = 0; r <= nn; r++)
        skip[r] = r < nn && c->healthy[c->nord[r]] - p->load->gpus_used[c->nord[r]] <= 0
                      ? r + 1
                      : r;
    for (int ci = 0; ci < c->nc; ci++) {
        int k = dem[c->cand_k[ci]], n = cursor[k];
        if (p->cnode[ci] >= 0 || n < 0)
            continue;
        for (n = plan_next_open(skip, n); n < nn; n = plan_next_open(skip, n + 1)) {
            int node = c->nord[n];
            if (!ctx_static_ok(c, ci, node))
                continue;
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
    free(dem);
    free(skip);
    free(least);
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
