/*
 * sim/policies.c — the placement policies the simulator compares, behind the
 * tp_sim_policy_t interface of sim/sim.h:
 *
 *   trustplace         the real solver (sim/policy_trustplace.c);
 *   capacity-first     the anti-pattern from the field: first fit on compliant
 *                      nodes, but when no compliant node has room, sensitive work
 *                      is spilled onto any node with free GPUs and power — the
 *                      engine counts every such security violation;
 *   first-fit          arrival order, the first eligible node;
 *   efficiency-greedy  arrival order, the eligible node with the most tokens per
 *                      joule for the workload's model.
 *
 * All of them respect GPU capacity, GPU model, health and power caps (policy.c's
 * capacity predicates), answer cap drops with the same simple preemption rule,
 * and give every pending workload its reasons (tp_policy_count). The baselines
 * place a gang on the first domain of its `together` kind (by index) where every
 * member finds an eligible node, all members or none (never spilled), stop a
 * running gang whole, and hold back work of a tenant at its limit
 * (`tenant_limit`); they do not reclaim borrowed capacity.
 */
#include "sim/sim_internal.h"

#include <stdlib.h>
#include <string.h>

const char *const tp_sim_policy_names[] = {"trustplace", "capacity-first", "first-fit",
                                           "efficiency-greedy", NULL};

/* A key for "identical" workloads: same requirements, size, model and lists. */
static void shape_key(const tp_workload_t *w, char *buf, size_t n)
{
    int k = snprintf(buf, n, "%d/%d/%d/%u/%d/%d/%d/%lld/%d/%d/%d/%d:", w->cls, w->gpus,
                     w->model, w->req.tee_mask, w->req.gpu_cc, w->req.attestation,
                     w->req.min_status, (long long)w->req.max_age_s, w->req.residency,
                     w->any_gpu_model, tp_wl_nodes(w), w->together);
    for (int i = 0; i < w->ngpu_models && k < (int)n - 8; i++)
        k += snprintf(buf + k, n - (size_t)k, "g%d", w->gpu_models[i]);
    for (int i = 0; i < w->nresidency && k < (int)n - 8; i++)
        k += snprintf(buf + k, n - (size_t)k, "r%d", w->residency[i]);
}

/* A per-call memo: shape key → int. */
typedef struct {
    tp_strmap_t *map;
    char **keys;
    int n, cap;
} memo_t;

static int memo_get(memo_t *m, const tp_workload_t *w, char *key, size_t n)
{
    shape_key(w, key, n);
    return tp_strmap_get(m->map, key);
}

static int memo_put(memo_t *m, const char *key, int value)
{
    if (!m->map && !(m->map = tp_strmap_new(64)))
        return TP_ENOMEM;
    if (m->n == m->cap) {
        int c = m->cap ? 2 * m->cap : 32;
        char **g = realloc(m->keys, (size_t)c * sizeof *g);
        if (!g)
            return TP_ENOMEM;
        m->keys = g;
        m->cap = c;
    }
    if (!(m->keys[m->n] = strdup(key)))
        return TP_ENOMEM;
    if (tp_strmap_put(m->map, m->keys[m->n], value) < 0) {
        free(m->keys[m->n]);
        return TP_ENOMEM;
    }
    m->n++;
    return 0;
}

static void memo_fini(memo_t *m)
{
    for (int i = 0; i < m->n; i++)
        free(m->keys[i]);
    free(m->keys);
    tp_strmap_free(m->map);
}

/* placed[i]: 0 waits, 1 placed, 2 held back by its tenant's limit. A gang that
 * waits while nodes pass for its members says gang_topology (those nodes). */
int sim_policy_pending_reasons(const tp_sim_view_t *v, const tp_load_t *l,
                               const char *placed, tp_result_t *r)
{
    typedef struct {
        int why[TP_PRED_COUNT], eligible;
    } verdict_t;
    memo_t memo = {0};
    verdict_t *cache = NULL;
    int ncache = 0, rc = 0;
    char key[512];
    for (int i = 0; i < v->pending->n && rc == 0; i++) {
        if (placed[i] == 1)
            continue;
        const tp_workload_t *w = &v->pending->w[i];
        int c = memo_get(&memo, w, key, sizeof key);
        if (c < 0) {
            verdict_t *g = realloc(cache, (size_t)(ncache + 1) * sizeof *g);
            if (!g) {
                rc = TP_ENOMEM;
                break;
            }
            cache = g;
            cache[ncache].eligible =
                tp_policy_count(v->fleet, v->state, l, w, v->now, cache[ncache].why);
            c = ncache++;
            if ((rc = memo_put(&memo, key, c)) < 0)
                break;
        }
        int why[TP_PRED_COUNT];
        memcpy(why, cache[c].why, sizeof why);
        if (placed[i] == 2)
            why[TP_PRED_TENANT_LIMIT] = v->fleet->nnodes;
        else if (tp_wl_nodes(w) > 1 && cache[c].eligible > 0)
            why[TP_PRED_GANG_TOPOLOGY] = cache[c].eligible;
        rc = tp_result_add_pending(r, i, why);
    }
    free(cache);
    memo_fini(&memo);
    return rc;
}

/* Is domain d at or above node n? */
static bool under(const tp_fleet_t *f, int n, int d)
{
    for (int x = f->nodes[n].domain; x >= 0; x = f->domains[x].parent)
        if (x == d)
            return true;
    return false;
}

/* The lowest-priority preemptible running workload on node `node` (≥ 0) or under
 * domain `dom`, not yet chosen; the later-listed one on ties. -1: none. */
static int victim(const tp_sim_view_t *v, const char *gone, int node, int dom)
{
    int best = -1;
    for (int i = 0; i < v->running->n; i++) {
        const tp_workload_t *w = &v->running->w[i];
        if (gone[i] || !w->preemptible || w->node < 0)
            continue;
        if (node >= 0 ? w->node != node : !under(v->fleet, w->node, dom))
            continue;
        if (best < 0 || w->priority <= v->running->w[best].priority)
            best = i;
    }
    return best;
}

/* Stops running entry k, and every other member of its gang with it. */
static int stop_whole(const tp_sim_view_t *v, tp_load_t *l, tp_result_t *r, char *gone,
                      int k, const char *why)
{
    const tp_fleet_t *f = v->fleet;
    int g = v->running->w[k].gang, lo = k, hi = k + 1, rc = 0;
    if (g > 0) { /* members are consecutive from entry g − 1 */
        lo = g - 1;
        hi = lo + tp_wl_nodes(&v->running->w[lo]);
    }
    for (int x = lo; x < hi && x < v->running->n && rc == 0; x++) {
        const tp_workload_t *w = &v->running->w[x];
        if (gone[x])
            continue;
        gone[x] = 1;
        tp_load_apply(l, f, w->node, w->gpus, tp_fleet_gpu_watts(f, w->node, w->model),
                      -1);
        rc = tp_result_add_preemption(r, x, w->node, why);
    }
    return rc;
}

int sim_policy_preempt_over_cap(const tp_sim_view_t *v, tp_load_t *l, tp_result_t *r)
{
    const tp_fleet_t *f = v->fleet;
    char *gone = calloc((size_t)v->running->n + 1, 1);
    int rc = 0;
    if (!gone)
        return TP_ENOMEM;
    for (int n = 0; n < f->nnodes && rc == 0; n++) {
        double cap = tp_policy_node_cap(f, v->state, n);
        while (l->node_w[n] > cap * (1 + 1e-9)) {
            int k = victim(v, gone, n, -1);
            if (k < 0)
                break;
            char why[96];
            snprintf(why, sizeof why, "power_node:%.80s", f->nodes[n].id);
            if ((rc = stop_whole(v, l, r, gone, k, why)) < 0)
                break;
        }
    }
    /* Deepest domains first: relieving a rack also relieves its row and site. */
    int maxdepth = 0;
    for (int d = 0; d < f->ndomains; d++)
        if (f->domains[d].depth > maxdepth)
            maxdepth = f->domains[d].depth;
    for (int depth = maxdepth; depth >= 0 && rc == 0; depth--)
        for (int d = 0; d < f->ndomains && rc == 0; d++) {
            if (f->domains[d].depth != depth)
                continue;
            double cap = tp_policy_domain_cap(f, v->state, d);
            while (l->domain_w[d] > cap * (1 + 1e-9)) {
                int k = victim(v, gone, -1, d);
                if (k < 0)
                    break;
                char why[96];
                snprintf(why, sizeof why, "power_domain:%.80s", f->domains[d].id);
                if ((rc = stop_whole(v, l, r, gone, k, why)) < 0)
                    break;
            }
        }
    free(gone);
    return rc;
}

/* ---- the greedy family ----------------------------------------------------------------
 */

typedef struct {
    bool efficient; /* most tokens per joule (else lowest node index) */
    bool spill;     /* capacity-first: ignore security when nothing compliant fits */
    /* Nodes in descending tokens-per-joule order for each model, cached per fleet. */
    const tp_fleet_t *for_fleet;
    int for_nnodes;
    const char *for_first, *for_last;
    int **order; /* [model + 1] (index 0: no model) */
    int norder;
} greedy_t;

static void greedy_order_free(greedy_t *g)
{
    for (int i = 0; i < g->norder; i++)
        free(g->order[i]);
    free(g->order);
    g->order = NULL;
    g->norder = 0;
}

static double eff(const tp_fleet_t *f, int model, int n)
{
    const tp_profile_t *p = tp_fleet_profile(f, model, f->nodes[n].gpu_model);
    return p && p->watts > 0 ? p->tokens_per_s / p->watts : 0;
}

/* Merge sort of node indices by efficiency (descending), then index. */
static void sort_nodes(int *ix, int n, int *tmp, const tp_fleet_t *f, int model)
{
    if (n < 2)
        return;
    int h = n / 2, a = 0, b = h, k = 0;
    sort_nodes(ix, h, tmp, f, model);
    sort_nodes(ix + h, n - h, tmp, f, model);
    while (a < h && b < n) {
        double ea = eff(f, model, ix[a]), eb = eff(f, model, ix[b]);
        tmp[k++] = ea > eb || (ea == eb && ix[a] < ix[b]) ? ix[a++] : ix[b++];
    }
    while (a < h)
        tmp[k++] = ix[a++];
    while (b < n)
        tmp[k++] = ix[b++];
    memcpy(ix, tmp, (size_t)n * sizeof *ix);
}

static int greedy_order(greedy_t *g, const tp_fleet_t *f)
{
    if (g->order && g->for_fleet == f && g->for_nnodes == f->nnodes &&
        g->for_first == f->nodes[0].id && g->for_last == f->nodes[f->nnodes - 1].id)
        return 0;
    greedy_order_free(g);
    g->order = calloc((size_t)f->nmodels + 1, sizeof *g->order);
    int *tmp = malloc((size_t)f->nnodes * sizeof *tmp);
    if (!g->order || !tmp) {
        free(tmp);
        return TP_ENOMEM;
    }
    g->norder = f->nmodels + 1;
    for (int m = 0; m <= f->nmodels; m++) {
        if (!(g->order[m] = malloc((size_t)f->nnodes * sizeof **g->order))) {
            free(tmp);
            return TP_ENOMEM;
        }
        for (int n = 0; n < f->nnodes; n++)
            g->order[m][n] = n;
        if (m > 0)
            sort_nodes(g->order[m], f->nnodes, tmp, f, m - 1);
    }
    free(tmp);
    g->for_fleet = f;
    g->for_nnodes = f->nnodes;
    g->for_first = f->nodes[0].id;
    g->for_last = f->nodes[f->nnodes - 1].id;
    return 0;
}

/* GPUs in use per tenant (a group counts its sub-tenants), of running work that
 * no preemption of r stops; NULL when the fleet has no tenants (or ENOMEM: *oom). */
static long *tenant_use(const tp_sim_view_t *v, const tp_result_t *r, bool *oom)
{
    const tp_fleet_t *f = v->fleet;
    *oom = false;
    if (f->ntenants <= 0)
        return NULL;
    long *use = calloc((size_t)f->ntenants, sizeof *use);
    char *gone = calloc((size_t)v->running->n + 1, 1);
    if (!use || !gone) {
        free(use);
        free(gone);
        *oom = true;
        return NULL;
    }
    for (int i = 0; i < r->npreemptions; i++)
        if (r->preemptions[i].workload >= 0 && r->preemptions[i].workload < v->running->n)
            gone[r->preemptions[i].workload] = 1;
    for (int i = 0; i < v->running->n; i++)
        for (int t = tp_wl_tenant(&v->running->w[i]); t >= 0 && !gone[i];
             t = f->tenants[t].parent)
            use[t] += v->running->w[i].gpus;
    free(gone);
    return use;
}

/* May tenant t (and every group above it) take gpus more? Charges them if so. */
static bool tenant_admit(const tp_fleet_t *f, long *use, int t, long gpus)
{
    if (!use)
        return true;
    for (int x = t; x >= 0; x = f->tenants[x].parent)
        if (f->tenants[x].limit_gpus >= 0 && use[x] + gpus > f->tenants[x].limit_gpus)
            return false;
    for (int x = t; x >= 0; x = f->tenants[x].parent)
        use[x] += gpus;
    return true;
}

/* Gang w: the first domain of its kind (the fleet without one), in index order,
 * where `nodes` distinct nodes of `order` pass every predicate with the members
 * placed before them; the members go into l and nodes[]. false: none (l as before). */
static bool gang_fit(const tp_sim_view_t *v, tp_load_t *l, const int *order,
                     const tp_workload_t *w, int *nodes)
{
    const tp_fleet_t *f = v->fleet;
    int kind = tp_wl_together(w), want = tp_wl_nodes(w);
    for (int d = kind >= 0 ? 0 : -1; d < f->ndomains; d++) {
        if (kind >= 0 && f->domains[d].kind != kind)
            continue;
        int got = 0;
        for (int q = 0; q < f->nnodes && got < want; q++) {
            int n = order[q];
            if (kind >= 0 && tp_fleet_node_domain_of_kind(f, n, kind) != d)
                continue;
            if (tp_policy_capacity(f, v->state, l, n, w) ||
                tp_policy_static(f, v->state, n, w, v->now))
                continue;
            tp_load_apply(l, f, n, w->gpus, tp_fleet_gpu_watts(f, n, w->model), +1);
            nodes[got++] = n;
        }
        if (got == want)
            return true;
        while (got > 0) {
            int n = nodes[--got];
            tp_load_apply(l, f, n, w->gpus, tp_fleet_gpu_watts(f, n, w->model), -1);
        }
        if (kind < 0)
            break;
    }
    return false;
}

static int greedy_run(greedy_t *g, const tp_sim_view_t *v, tp_result_t **out,
                      tp_error_t *err)
{
    const tp_fleet_t *f = v->fleet;
    const tp_state_t *s = v->state;
    int np = v->pending->n, rc = 0;
    tp_result_t *r = tp_result_new();
    tp_load_t *l = tp_load_new(f, s, v->running);
    int *ix = malloc(((size_t)np + 1) * sizeof *ix);
    char *placed = calloc((size_t)np + 1, 1);
    memo_t failed = {0};
    char key[512];
    long *use = NULL;
    int *gnodes = malloc(((size_t)f->nnodes + 1) * sizeof *gnodes);
    bool oom_use = false;
    *out = NULL;
    if (!r || !l || !ix || !placed || !gnodes || greedy_order(g, f) < 0) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = sim_policy_preempt_over_cap(v, l, r)) < 0)
        goto oom;
    use = tenant_use(v, r, &oom_use);
    if (oom_use)
        goto oom;
    for (int i = 0; i < np; i++)
        ix[i] = i;
    for (int k = 0; k < np; k++) {
        const tp_workload_t *w = &v->pending->w[ix[k]];
        if (memo_get(&failed, w, key, sizeof key) >= 0)
            continue; /* load only grows within a decision: it still fits nowhere */
        const int *order = g->order[g->efficient && w->model >= 0 ? w->model + 1 : 0];
        if (tp_wl_tenant(w) >= 0 &&
            !tenant_admit(f, use, tp_wl_tenant(w), (long)w->gpus * tp_wl_nodes(w))) {
            placed[ix[k]] = 2; /* held back: its tenant is at its limit */
            continue;
        }
        if (tp_wl_nodes(w) > 1) {
            if (!gang_fit(v, l, order, w, gnodes)) {
                if ((rc = memo_put(&failed, key, 1)) < 0)
                    goto oom;
                tenant_admit(f, use, tp_wl_tenant(w), -(long)w->gpus * tp_wl_nodes(w));
                continue;
            }
            for (int m = 0; m < tp_wl_nodes(w) && rc == 0; m++)
                rc = tp_result_add_placement(r, ix[k], gnodes[m], w->gpus);
            if (rc < 0)
                goto oom;
            placed[ix[k]] = 1;
            continue;
        }
        int best = -1;
        for (int q = 0; q < f->nnodes && best < 0; q++) {
            int n = order[q];
            if (!tp_policy_capacity(f, s, l, n, w) &&
                !tp_policy_static(f, s, n, w, v->now))
                best = n;
        }
        for (int q = 0; g->spill && best < 0 && q < f->nnodes; q++) {
            int n = order[q];
            if (!tp_policy_capacity(f, s, l, n, w) &&
                !(tp_policy_static(f, s, n, w, v->now) & ~SIM_PREDS_SECURITY))
                best = n;
        }
        if (best < 0) {
            if ((rc = memo_put(&failed, key, 1)) < 0)
                goto oom;
            tenant_admit(f, use, tp_wl_tenant(w), -(long)w->gpus);
            continue;
        }
        if ((rc = tp_result_add_placement(r, ix[k], best, w->gpus)) < 0)
            goto oom;
        tp_load_apply(l, f, best, w->gpus, tp_fleet_gpu_watts(f, best, w->model), +1);
        placed[ix[k]] = 1;
    }
    if ((rc = sim_policy_pending_reasons(v, l, placed, r)) < 0)
        goto oom;
    *out = r;
    r = NULL;
    goto done;
oom:
    rc = tp_error_set(err, TP_ENOMEM, "out of memory");
done:
    tp_result_free(r);
    tp_load_free(l);
    free(ix);
    free(placed);
    free(use);
    free(gnodes);
    memo_fini(&failed);
    return rc;
}

static int greedy_decide(tp_sim_policy_t *p, const tp_sim_view_t *v, tp_result_t **out,
                         tp_error_t *err)
{
    return greedy_run(p->ctx, v, out, err);
}

static void greedy_fini(tp_sim_policy_t *p)
{
    greedy_t *g = p->ctx;
    if (g)
        greedy_order_free(g);
    free(g);
}

int sim_greedy_init(tp_sim_policy_t *p, bool efficient, bool spill, tp_error_t *err)
{
    greedy_t *g = calloc(1, sizeof *g);
    if (!g)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    g->efficient = efficient;
    g->spill = spill;
    p->ctx = g;
    p->decide = greedy_decide;
    p->fini = greedy_fini;
    return 0;
}

int tp_sim_policy_new(const char *name, const tp_sim_policy_opts_t *o,
                      tp_sim_policy_t **out, tp_error_t *err)
{
    tp_sim_policy_t *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    for (int i = 0; tp_sim_policy_names[i]; i++)
        if (!strcmp(name, tp_sim_policy_names[i]))
            p->name = tp_sim_policy_names[i];
    if (!p->name) {
        free(p);
        return tp_error_set(
            err, TP_EINVAL,
            "unknown policy \"%s\" (trustplace, capacity-first, first-fit, "
            "efficiency-greedy)",
            name);
    }
    if (!strcmp(name, "trustplace")) {
        int rc = sim_trustplace_new(p, o, err);
        if (rc < 0) {
            free(p);
            return rc;
        }
        *out = p;
        return 0;
    }
    int rc = sim_greedy_init(p, !strcmp(name, "efficiency-greedy"),
                             !strcmp(name, "capacity-first"), err);
    if (rc < 0) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void tp_sim_policy_free(tp_sim_policy_t *p)
{
    if (!p)
        return;
    if (p->fini)
        p->fini(p);
    free(p);
}
