/*
 * solver/classes.c — aggregation: nodes and candidates that the static
 * predicates cannot tell apart share a static class, so eligibility is
 * computed once per pair of classes (by policy/policy.c itself, on a
 * representative), never once per (node, workload) pair. Then the units of the
 * aggregated LP: classes of identical candidates and groups of nodes of one
 * static class under one leaf power domain. Also the static predicates of side
 * work (gang.c: no candidates), memoised per workload key (ctx_static_preds),
 * and the tests' check of both against tp_policy_static (ctx_static_audit).
 *
 * Why a representative is exact: tp_policy_static reads, of a node, its GPU
 * model, GPU count, healthy GPUs, declared TEE and GPU CC, region, whether the
 * BMC's country is absent / in the region / not, and the attestation (present,
 * status, TEE, GPU CC, and whether it is usable — which depends on the times
 * only through "usable under max_age_s = A" for the few ages A the candidates
 * ask for); of a workload, its GPU count (only for node_unhealthy),
 * requirements, allowed GPU models and residency. The keys below are exactly
 * those facts.
 */
#include "solver/solver_internal.h"

#include <stdlib.h>
#include <string.h>

double ctx_eff(const tp_fleet_t *f, int model, int gpu_model)
{
    const tp_profile_t *p = model >= 0 ? tp_fleet_profile(f, model, gpu_model) : NULL;
    return p && p->watts > 0 ? p->tokens_per_s / p->watts : 0;
}

double ctx_value(const ctx_t *c, int ci, int n)
{
    const tp_workload_t *w = c->cw[ci];
    double v = (1.0 + w->priority) * w->gpus;
    v += c->eps_s * w->gpus * (TP_TRUST_MAX - c->trust[n]);
    if (c->emax > 0) {
        int gm = c->f->nodes[n].gpu_model;
        double e =
            c->eff && gm >= 0 && gm < c->f->ngpu_models && w->model >= -1 &&
                    w->model < c->f->nmodels
                ? c->eff[(size_t)(w->model + 1) * (size_t)c->f->ngpu_models + (size_t)gm]
                : ctx_eff(c->f, w->model, gm);
        v += c->eps_e * w->gpus * e / c->emax;
    }
    return v;
}

static void sort_ints(int *a, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && a[j] < a[j - 1]; j--) {
            int t = a[j];
            a[j] = a[j - 1];
            a[j - 1] = t;
        }
}

/* The distinct attestation ages the candidates' requirements ask for (0: none). */
static int collect_ages(const ctx_t *c, int64_t **out)
{
    int n = 1;
    int64_t *ages = malloc(((size_t)c->nc + 1) * sizeof *ages);
    if (!ages)
        return TP_ENOMEM;
    ages[0] = 0;
    for (int i = 0; i < c->nc; i++) {
        const tp_req_t *q = &c->cw[i]->req;
        int64_t a = q->attestation && q->max_age_s > 0 ? q->max_age_s : 0;
        int k = 0;
        while (k < n && ages[k] != a)
            k++;
        if (k == n)
            ages[n++] = a;
    }
    *out = ages;
    return n;
}

static int node_key(const ctx_t *c, int n, const int64_t *ages, int nages, int *key)
{
    const tp_fleet_t *f = c->f;
    const tp_node_t *nd = &f->nodes[n];
    const tp_node_obs_t *o = c->s ? &c->s->nodes[n] : NULL;
    bool known = o && o->known, present = known && o->att.present;
    int k = 0;
    key[k++] = nd->gpu_model;
    key[k++] = nd->gpus;
    key[k++] = c->healthy[n];
    key[k++] = (int)nd->cpu_tee;
    key[k++] = nd->gpu_cc;
    key[k++] = nd->region;
    key[k++] = !o || !o->country[0]                                         ? 0
               : tp_region_has_country(&f->regions[nd->region], o->country) ? 1
                                                                            : 2;
    key[k++] = known;
    key[k++] = present;
    key[k++] = present ? (int)o->att.status : 0;
    key[k++] = present ? (int)o->att.cpu_tee : 0;
    key[k++] = present ? o->att.gpu_cc : 0;
    for (int a = 0; a < nages; a++) {
        tp_req_t q = {.attestation = ages[a] > 0, .max_age_s = ages[a]};
        key[k++] = o ? tp_policy_attestation_usable(o, &q, c->now) : 0;
    }
    return k;
}

size_t ctx_wl_key_room(const tp_workload_t *w)
{
    return 16 + (size_t)w->ngpu_models + (size_t)w->nresidency;
}

int ctx_wl_key(const tp_workload_t *w, int *key)
{
    int k = 0;
    key[k++] = w->gpus;
    key[k++] = (int)w->req.tee_mask;
    key[k++] = w->req.gpu_cc;
    key[k++] = w->req.attestation;
    key[k++] = (int)w->req.min_status;
    key[k++] = (int)(w->req.max_age_s >> 31);
    key[k++] = (int)(w->req.max_age_s & 0x7fffffff);
    key[k++] = (int)w->req.residency;
    key[k++] = w->any_gpu_model;
    key[k++] = w->any_gpu_model ? 0 : w->ngpu_models;
    if (!w->any_gpu_model) {
        for (int i = 0; i < w->ngpu_models; i++)
            key[k + i] = w->gpu_models[i];
        sort_ints(key + k, w->ngpu_models);
        k += w->ngpu_models;
    }
    key[k++] = w->nresidency;
    for (int i = 0; i < w->nresidency; i++)
        key[k + i] = w->residency[i];
    sort_ints(key + k, w->nresidency);
    k += w->nresidency;
    return k;
}

int ctx_build_static(ctx_t *c)
{
    const tp_fleet_t *f = c->f;
    const tp_predset_t unhealthy = TP_PRED_BIT(TP_PRED_NODE_UNHEALTHY);
    keytab_t nt, wt, rt = {0}, gt = {0};
    int64_t *ages = NULL;
    int *key = NULL, *rest = NULL, rc = TP_ENOMEM, nages, nprobe = 0;
    tp_predset_t *probe = NULL;
    size_t maxkey = 16;
    if (keytab_init(&nt, 64) < 0)
        return TP_ENOMEM;
    if (keytab_init(&wt, 64) < 0) {
        keytab_fini(&nt);
        return TP_ENOMEM;
    }
    if ((nages = collect_ages(c, &ages)) < 0)
        goto out;
    if (maxkey < (size_t)nages + 16)
        maxkey = (size_t)nages + 16;
    for (int i = 0; i < c->nc; i++) {
        size_t need = ctx_wl_key_room(c->cw[i]);
        if (need > maxkey)
            maxkey = need;
    }
    key = malloc(maxkey * sizeof *key);
    c->node_sc = malloc(((size_t)f->nnodes + 1) * sizeof *c->node_sc);
    c->cand_wsc = malloc(((size_t)c->nc + 1) * sizeof *c->cand_wsc);
    c->nsc_rep = malloc(((size_t)f->nnodes + 1) * sizeof *c->nsc_rep);
    c->wsc_rep = malloc(((size_t)c->nc + 1) * sizeof *c->wsc_rep);
    if (!key || !c->node_sc || !c->cand_wsc || !c->nsc_rep || !c->wsc_rep)
        goto out;
    for (int r = 0; r < f->nnodes; r++) {
        int n = c->nord[r];
        int before = nt.n, id = keytab_intern(&nt, key, node_key(c, n, ages, nages, key));
        if (id < 0)
            goto out;
        if (nt.n > before)
            c->nsc_rep[id] = n;
        c->node_sc[n] = id;
    }
    for (int i = 0; i < c->nc; i++) {
        int before = wt.n, id = keytab_intern(&wt, key, ctx_wl_key(c->cw[i], key));
        if (id < 0)
            goto out;
        if (wt.n > before)
            c->wsc_rep[id] = i;
        c->cand_wsc[i] = id;
    }
    c->nnsc = nt.n;
    c->nwsc = wt.n;
    c->stat = malloc(((size_t)c->nnsc * (size_t)c->nwsc + 1) * sizeof *c->stat);
    rest = malloc(((size_t)c->nwsc + 1) * sizeof *rest);
    if (!c->stat || !rest || keytab_init(&rt, 64) < 0 || keytab_init(&gt, 8) < 0)
        goto out;
    /* Of a workload's GPU count, tp_policy_static reads only whether the node
     * is unhealthy for it: static classes alike but for the GPU count (the
     * "rest", key[0] = 0) share their other predicates, computed once on the
     * first of them; node_unhealthy comes from a probe of that count alone
     * (no requirement, any GPU model: no other predicate can fail). About 4x
     * fewer calls at 10,000 × 30,000 (837 classes, a few sizes). */
    for (int w = 0; w < c->nwsc; w++) {
        const tp_workload_t *cw = c->cw[c->wsc_rep[w]];
        int len = ctx_wl_key(cw, key), before = rt.n, g[1] = {cw->gpus};
        key[0] = 0;
        int r = keytab_intern(&rt, key, len), gi = keytab_intern(&gt, g, 1);
        if (r < 0 || gi < 0)
            goto out;
        if (gi >= nprobe) { /* a new count: its probe row */
            tp_predset_t *np =
                realloc(probe, (size_t)gt.n * (size_t)c->nnsc * sizeof *np);
            if (!np)
                goto out;
            probe = np;
            tp_workload_t pw = {.gpus = cw->gpus, .any_gpu_model = true};
            for (int n = 0; n < c->nnsc; n++)
                probe[(size_t)gi * (size_t)c->nnsc + (size_t)n] =
                    tp_policy_static(f, c->s, c->nsc_rep[n], &pw, c->now) & unhealthy;
            nprobe = gt.n;
        }
        tp_predset_t *row = c->stat + (size_t)w * (size_t)c->nnsc;
        if (rt.n > before) { /* the first of its rest: every predicate */
            rest[r] = w;
            for (int n = 0; n < c->nnsc; n++)
                row[n] = tp_policy_static(f, c->s, c->nsc_rep[n], cw, c->now);
            continue;
        }
        const tp_predset_t *r0 = c->stat + (size_t)rest[r] * (size_t)c->nnsc,
                           *pg = probe + (size_t)gi * (size_t)c->nnsc;
        for (int n = 0; n < c->nnsc; n++)
            row[n] = (r0[n] & ~unhealthy) | pg[n];
    }
    rc = 0;
out:
    free(ages);
    free(key);
    free(rest);
    free(probe);
    keytab_fini(&nt);
    keytab_fini(&wt);
    keytab_fini(&rt);
    keytab_fini(&gt);
    return rc;
}

/* Groups of every model's list: least trust first (term (2) of the objective),
 * then by descending efficiency of their GPU model for that AI model (term (3)),
 * then index. */
static int build_by_model(ctx_t *c, const int *g_gm)
{
    const tp_fleet_t *f = c->f;
    int nm = f->nmodels + 1, ngm = f->ngpu_models;
    c->g_by_model = calloc((size_t)nm, sizeof *c->g_by_model);
    double *eff = malloc(((size_t)ngm + 1) * sizeof *eff);
    int *rank = malloc(((size_t)ngm + 1) * sizeof *rank);
    if (!c->g_by_model || !eff || !rank) {
        free(eff);
        free(rank);
        return TP_ENOMEM;
    }
    for (int m = 0; m < nm; m++) {
        int *list = malloc(((size_t)c->ng + 1) * sizeof *list);
        if (!list) {
            free(eff);
            free(rank);
            return TP_ENOMEM;
        }
        c->g_by_model[m] = list;
        for (int g = 0; g < ngm; g++)
            eff[g] = ctx_eff(f, m - 1, g);
        for (int a = 0; a < ngm; a++) {
            rank[a] = 0;
            for (int b = 0; b < ngm; b++)
                rank[a] += eff[b] > eff[a] ||
                           (eff[b] == eff[a] &&
                            strcmp(f->gpu_models[b], f->gpu_models[a]) < 0) ||
                           (eff[b] == eff[a] && b < a &&
                            !strcmp(f->gpu_models[b], f->gpu_models[a]));
        }
        /* Counting sort by (trust, GPU model rank) keeps the index order. */
        int k = 0;
        for (int t = 0; t <= TP_TRUST_MAX; t++)
            for (int r = 0; r < ngm; r++)
                for (int j = 0; j < c->ng; j++)
                    if (rank[g_gm[j]] == r && c->trust[c->g_mem[c->g_off[j]]] == t)
                        list[k++] = j;
    }
    free(eff);
    free(rank);
    return 0;
}

/* Demands (c->k_dem) and the groups each is eligible on, best first (c->dg):
 * the scans of repair, recreate and the candidate bound skip the others. */
static int build_demands(ctx_t *c)
{
    keytab_t t;
    int *first = NULL, *gsc = NULL; /* [demand]: its first class; [group]: node class */
    c->k_dem = malloc(((size_t)c->nk + 1) * sizeof *c->k_dem);
    c->dg_off = calloc((size_t)c->nk + 1, sizeof *c->dg_off);
    if (!c->k_dem || !c->dg_off || keytab_init(&t, 64) < 0)
        return TP_ENOMEM;
    int rc = TP_ENOMEM;
    for (int k = 0; k < c->nk; k++) {
        int ci = c->k_mem[c->k_off[k]], key[2] = {c->cand_wsc[ci], c->cw[ci]->model};
        if ((c->k_dem[k] = keytab_intern(&t, key, 2)) < 0)
            goto out;
    }
    c->ndem = t.n;
    first = malloc(((size_t)c->ndem + 1) * sizeof *first);
    gsc = malloc(((size_t)c->ng + 1) * sizeof *gsc);
    if (!first || !gsc)
        goto out;
    for (int k = c->nk - 1; k >= 0; k--)
        first[c->k_dem[k]] = k;
    for (int j = 0; j < c->ng; j++)
        gsc[j] = c->node_sc[c->g_mem[c->g_off[j]]];
    for (int pass = 0; pass < 2; pass++) {
        size_t m = 0;
        for (int d = 0; d < c->ndem; d++) {
            int ci = c->k_mem[c->k_off[first[d]]];
            const int *groups = c->g_by_model[c->cw[ci]->model + 1];
            const tp_predset_t *st = c->stat + (size_t)c->cand_wsc[ci] * (size_t)c->nnsc;
            for (int b = 0; b < c->ng; b++)
                if (!st[gsc[groups[b]]]) {
                    if (pass)
                        c->dg[m] = groups[b];
                    m++;
                }
            if (!pass)
                c->dg_off[d + 1] = (int)m;
        }
        if (!pass && !(c->dg = malloc((m + 1) * sizeof *c->dg)))
            goto out;
    }
    rc = 0;
out:
    free(first);
    free(gsc);
    keytab_fini(&t);
    return rc;
}

/* The domain at depth `level` above node n (its own domain when shallower). */
static int anchor(const tp_fleet_t *f, int n, int level)
{
    int d = f->nodes[n].domain;
    while (f->domains[d].depth > level)
        d = f->domains[d].parent;
    return d;
}

/* LP node classes: static classes that no candidate of this solve can tell
 * apart — the same eligibility for every candidate static class — and that
 * have the same GPU model and trust (what terms (2) and (3) read) share one.
 * Groups of such nodes are as exact for the LP and packing as groups of one
 * static class, and there are far fewer of them. lsc[nsc] → LP class. */
static int lp_node_classes(const ctx_t *c, int *lsc)
{
    keytab_t t;
    int *key = malloc(((size_t)c->nwsc / 31 + 4) * sizeof *key);
    if (!key || keytab_init(&t, 64) < 0) {
        free(key);
        return TP_ENOMEM;
    }
    int rc = 0;
    for (int n = 0; n < c->nnsc && rc == 0; n++) {
        int rep = c->nsc_rep[n], k = 0;
        key[k++] = c->f->nodes[rep].gpu_model;
        key[k++] = c->trust[rep];
        for (int w = 0; w < c->nwsc; w++) { /* eligibility, 31 bits an int */
            if (w % 31 == 0)
                key[k++] = 0;
            key[k - 1] |= (c->stat[(size_t)w * (size_t)c->nnsc + (size_t)n] == 0)
                          << (w % 31);
        }
        if ((lsc[n] = keytab_intern(&t, key, k)) < 0)
            rc = TP_ENOMEM;
    }
    keytab_fini(&t);
    free(key);
    return rc;
}

/* Groups are (LP node class, domain at depth L): the deepest L that keeps their
 * number at most TP_SOLVER_MAX_GROUPS. Domains at depth ≤ L contain whole
 * groups and get exact rows in the LP; deeper ones bound each group's power
 * (lp.c) and bind exactly in packing. Fills c->node_g and c->ng. */
static int build_groups(ctx_t *c)
{
    const tp_fleet_t *f = c->f;
    int maxdepth = 0;
    for (int d = 0; d < f->ndomains; d++)
        if (f->domains[d].depth > maxdepth)
            maxdepth = f->domains[d].depth;
    int *lsc = malloc(((size_t)c->nnsc + 1) * sizeof *lsc);
    if (!lsc || lp_node_classes(c, lsc) < 0) {
        free(lsc);
        return TP_ENOMEM;
    }
    for (int level = maxdepth; level >= 0; level--) {
        u64map_t m;
        if (u64map_init(&m, 1024) < 0) {
            free(lsc);
            return TP_ENOMEM;
        }
        int n = 0;
        for (; n < f->nnodes && (m.n <= TP_SOLVER_MAX_GROUPS || level == 0); n++) {
            int node = c->nord[n];
            uint64_t key =
                (uint64_t)lsc[c->node_sc[node]] << 32 | (uint32_t)anchor(f, node, level);
            if ((c->node_g[node] = u64map_intern(&m, key)) < 0) {
                u64map_fini(&m);
                free(lsc);
                return TP_ENOMEM;
            }
        }
        int groups = m.n;
        u64map_fini(&m);
        if (n == f->nnodes && (groups <= TP_SOLVER_MAX_GROUPS || level == 0)) {
            c->group_level = level;
            c->ng = groups;
            free(lsc);
            return 0;
        }
    }
    free(lsc);
    return TP_EINVAL; /* not reached: level 0 always succeeds */
}

int ctx_build_classes(ctx_t *c)
{
    const tp_fleet_t *f = c->f;
    keytab_t kt;
    int rc = TP_ENOMEM, *g_gm = NULL;
    if (keytab_init(&kt, 64) < 0)
        return TP_ENOMEM;
    c->eff =
        malloc(((size_t)(f->nmodels + 1) * (size_t)f->ngpu_models + 1) * sizeof *c->eff);
    if (!c->eff)
        goto out;
    for (int m = -1; m < f->nmodels; m++)
        for (int g = 0; g < f->ngpu_models; g++)
            c->eff[(size_t)(m + 1) * (size_t)f->ngpu_models + (size_t)g] =
                ctx_eff(f, m, g);
    c->cand_k = malloc(((size_t)c->nc + 1) * sizeof *c->cand_k);
    c->node_g = malloc(((size_t)f->nnodes + 1) * sizeof *c->node_g);
    if (!c->cand_k || !c->node_g)
        goto out;
    for (int i = 0; i < c->nc; i++) {
        const tp_workload_t *w = c->cw[i];
        int key[4] = {c->cand_wsc[i], w->model, w->priority, c->corigin[i] >= 0};
        if ((c->cand_k[i] = keytab_intern(&kt, key, 4)) < 0)
            goto out;
    }
    if ((rc = build_groups(c)) < 0)
        goto out;
    rc = TP_ENOMEM;
    c->nk = kt.n;
    c->k_off = calloc((size_t)c->nk + 1, sizeof *c->k_off);
    c->k_mem = malloc(((size_t)c->nc + 1) * sizeof *c->k_mem);
    c->g_off = calloc((size_t)c->ng + 1, sizeof *c->g_off);
    c->g_mem = malloc(((size_t)f->nnodes + 1) * sizeof *c->g_mem);
    g_gm = malloc(((size_t)c->ng + 1) * sizeof *g_gm);
    if (!c->k_off || !c->k_mem || !c->g_off || !c->g_mem || !g_gm)
        goto out;
    /* CSR by counting; candidates stay in (canonical) index order, nodes in
     * canonical (id) order. */
    for (int i = 0; i < c->nc; i++)
        c->k_off[c->cand_k[i] + 1]++;
    for (int k = 0; k < c->nk; k++)
        c->k_off[k + 1] += c->k_off[k];
    for (int n = 0; n < f->nnodes; n++)
        c->g_off[c->node_g[n] + 1]++;
    for (int g = 0; g < c->ng; g++)
        c->g_off[g + 1] += c->g_off[g];
    {
        int *fill = malloc(((size_t)(c->nk > c->ng ? c->nk : c->ng) + 1) * sizeof *fill);
        if (!fill)
            goto out;
        memcpy(fill, c->k_off, (size_t)c->nk * sizeof *fill);
        for (int i = 0; i < c->nc; i++)
            c->k_mem[fill[c->cand_k[i]]++] = i;
        memcpy(fill, c->g_off, (size_t)c->ng * sizeof *fill);
        for (int r = 0; r < f->nnodes; r++)
            c->g_mem[fill[c->node_g[c->nord[r]]]++] = c->nord[r];
        free(fill);
    }
    c->g_anchor = malloc(((size_t)c->ng + 1) * sizeof *c->g_anchor);
    c->g_minw = malloc(((size_t)c->ng + 1) * sizeof *c->g_minw);
    if (!c->g_anchor || !c->g_minw)
        goto out;
    for (int g = 0; g < c->ng; g++) {
        g_gm[g] = f->nodes[c->g_mem[c->g_off[g]]].gpu_model;
        c->g_anchor[g] = anchor(f, c->g_mem[c->g_off[g]], c->group_level);
        c->g_minw[g] = f->nodes[c->g_mem[c->g_off[g]]].gpu_w;
        for (int i = c->g_off[g]; i < c->g_off[g + 1]; i++)
            if (f->nodes[c->g_mem[i]].gpu_w < c->g_minw[g])
                c->g_minw[g] = f->nodes[c->g_mem[i]].gpu_w;
    }
    if ((rc = build_by_model(c, g_gm)) == 0 && (rc = build_demands(c)) == 0 &&
        !(c->by_weight = plan_weight_order(c)))
        rc = TP_ENOMEM;
out:
    free(g_gm);
    keytab_fini(&kt);
    return rc;
}

void ctx_free_classes(ctx_t *c)
{
    free(c->node_sc);
    free(c->nsc_rep);
    free(c->cand_wsc);
    free(c->wsc_rep);
    free(c->stat);
    free(c->cand_k);
    free(c->k_off);
    free(c->k_mem);
    free(c->by_weight);
    free(c->node_g);
    free(c->g_off);
    free(c->g_mem);
    free(c->g_anchor);
    free(c->g_minw);
    free(c->eff);
    free(c->k_dem);
    free(c->dg_off);
    free(c->dg);
    if (c->g_by_model)
        for (int m = 0; m <= c->f->nmodels; m++)
            free(c->g_by_model[m]);
    free(c->g_by_model);
}

/* Static predicates of side work (gangs, reclaim, held-back work: workloads
 * that are not candidates, so have no row in c->stat), memoised per workload
 * static key (ctx_wl_key). A row costs one tp_policy_static call per node
 * "base" class (node_key without ages) and "usable under the workload's age":
 * with the base key exactly the facts tp_policy_static reads of a node (the
 * head of this file), so the call on the first node of each is exact for all.
 * Rows are kept up to a memory budget; past it one scratch row is reused. */
struct static_memo {
    bool tried, ready; /* memo_init ran, and succeeded */
    int nbase, *base;  /* [node] → base class */
    keytab_t wt;       /* workload keys → row id */
    int nrows, cap;    /* rows [0, nrows) kept; slot cap: scratch */
    tp_predset_t **ps; /* [row][node] */
    char **elig;       /* [row][node]: ps == 0 */
    int *nelig;        /* [row] */
    int *key;
    size_t keyroom;
    tp_predset_t *pair; /* [2 * nbase]: one row's per (base, usable) predicates */
    char *have;         /* [2 * nbase] */
    char *use;          /* [node]: attestation usable at max age use_age (use_ok) */
    int64_t use_age;
    bool use_ok;
};

#define STATIC_MEMO_BYTES ((size_t)64 << 20)

int tp_solver_static_memo_rows;

int ctx_static_memo_new(ctx_t *c)
{
    c->sm = calloc(1, sizeof *c->sm);
    return c->sm ? 0 : TP_ENOMEM;
}

void ctx_static_memo_free(ctx_t *c)
{
    struct static_memo *m = c->sm;
    if (!m)
        return;
    for (int r = 0; m->ps && r <= m->cap; r++) {
        free(m->ps[r]);
        free(m->elig[r]);
    }
    free(m->ps);
    free(m->elig);
    free(m->nelig);
    free(m->base);
    free(m->key);
    free(m->pair);
    free(m->have);
    free(m->use);
    keytab_fini(&m->wt);
    free(m);
    c->sm = NULL;
}

static int memo_init(const ctx_t *c, struct static_memo *m)
{
    const tp_fleet_t *f = c->f;
    int key[16];
    keytab_t nt;
    size_t row = (size_t)f->nnodes * (sizeof(tp_predset_t) + 1) + 1;
    m->cap = 1;
    while ((size_t)m->cap * 2 * row <= STATIC_MEMO_BYTES && m->cap < (1 << 16))
        m->cap *= 2;
    if (tp_solver_static_memo_rows > 0) /* tests: the scratch row in use */
        m->cap = tp_solver_static_memo_rows;
    m->base = malloc(((size_t)f->nnodes + 1) * sizeof *m->base);
    m->ps = calloc((size_t)m->cap + 1, sizeof *m->ps);
    m->elig = calloc((size_t)m->cap + 1, sizeof *m->elig);
    m->nelig = calloc((size_t)m->cap + 1, sizeof *m->nelig);
    if (!m->base || !m->ps || !m->elig || !m->nelig || keytab_init(&m->wt, 64) < 0)
        return TP_ENOMEM;
    if (keytab_init(&nt, 64) < 0)
        return TP_ENOMEM;
    for (int n = 0; n < f->nnodes; n++) {
        int id = keytab_intern(&nt, key, node_key(c, n, NULL, 0, key));
        if (id < 0) {
            keytab_fini(&nt);
            return TP_ENOMEM;
        }
        m->base[n] = id;
    }
    m->nbase = nt.n;
    keytab_fini(&nt);
    m->pair = malloc((2 * (size_t)m->nbase + 1) * sizeof *m->pair);
    m->have = malloc(2 * (size_t)m->nbase + 1);
    m->use = malloc((size_t)f->nnodes + 1);
    return m->pair && m->have && m->use ? 0 : TP_ENOMEM;
}

const tp_predset_t *ctx_static_preds(const ctx_t *c, const tp_workload_t *w,
                                     const char **elig, int *nelig)
{
    const tp_fleet_t *f = c->f;
    struct static_memo *m = c->sm;
    if (!m || (!m->ready && (m->tried || (m->tried = true, memo_init(c, m) < 0))))
        return NULL;
    m->ready = true;
    size_t room = ctx_wl_key_room(w);
    if (room > m->keyroom) {
        int *k = realloc(m->key, room * sizeof *k);
        if (!k)
            return NULL;
        m->key = k;
        m->keyroom = room;
    }
    /* A new key's slot first: once interned, its row must be computed (a key
     * interned without its row would read an unwritten one next time). */
    int r = m->wt.n < m->cap ? m->wt.n : m->cap;
    if (!m->ps[r])
        m->ps[r] = malloc(((size_t)f->nnodes + 1) * sizeof *m->ps[r]);
    if (!m->elig[r])
        m->elig[r] = malloc((size_t)f->nnodes + 1);
    if (!m->ps[r] || !m->elig[r])
        return NULL;
    int id = keytab_intern(&m->wt, m->key, ctx_wl_key(w, m->key));
    if (id < 0)
        return NULL;
    r = id < m->cap ? id : m->cap;
    if (id >= m->nrows) { /* new, or past the budget: compute into slot r */
        const tp_req_t *q = &w->req;
        int64_t age = q->attestation && q->max_age_s > 0 ? q->max_age_s : 0;
        tp_req_t qa = {.attestation = age > 0, .max_age_s = age};
        int any = 0;
        memset(m->have, 0, 2 * (size_t)m->nbase);
        if (!m->use_ok || m->use_age != age) { /* few ages: the policy classes' */
            for (int n = 0; n < f->nnodes; n++)
                m->use[n] =
                    c->s && tp_policy_attestation_usable(&c->s->nodes[n], &qa, c->now);
            m->use_age = age;
            m->use_ok = true;
        }
        for (int n = 0; n < f->nnodes; n++) {
            size_t b = 2 * (size_t)m->base[n] + (size_t)m->use[n];
            if (!m->have[b]) {
                m->pair[b] = tp_policy_static(f, c->s, n, w, c->now);
                m->have[b] = 1;
            }
            m->ps[r][n] = m->pair[b];
            any += (m->elig[r][n] = m->pair[b] == 0);
        }
        m->nelig[r] = any;
        if (id < m->cap)
            m->nrows = id + 1;
    }
    if (elig)
        *elig = m->elig[r];
    if (nelig)
        *nelig = m->nelig[r];
    return m->ps[r];
}

long *tp_solver_static_probe;

void ctx_static_audit(const ctx_t *c)
{
    const tp_fleet_t *f = c->f;
    long bad = 0;
    if (!tp_solver_static_probe)
        return;
    for (int ci = 0; ci < c->nc; ci++)
        for (int n = 0; n < f->nnodes; n++)
            bad += c->stat[(size_t)c->cand_wsc[ci] * (size_t)c->nnsc +
                           (size_t)c->node_sc[n]] !=
                   tp_policy_static(f, c->s, n, c->cw[ci], c->now);
    for (int it = 0; it < c->side.n; it++) {
        const tp_workload_t *w = c->side.w[it];
        const char *elig = NULL;
        int nelig = -1, any = 0;
        const tp_predset_t *st = ctx_static_preds(c, w, &elig, &nelig);
        for (int n = 0; n < f->nnodes; n++) {
            tp_predset_t want = tp_policy_static(f, c->s, n, w, c->now);
            any += want == 0;
            bad += !st || st[n] != want || elig[n] != (want == 0);
        }
        bad += nelig != any;
    }
    tp_solver_static_probe[0] += bad;
    tp_solver_static_probe[1] += (long)c->side.n * f->nnodes;
}
