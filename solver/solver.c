/*
 * solver/solver.c — tp_solve(): the phases, in order.
 *
 *   1. load of the running work; preemption while any cap is exceeded;
 *   2. candidates = pending work + preempted work (to restart elsewhere);
 *   3. aggregation (classes.c): static classes, classes, groups;
 *   4. the placement: the aggregated LP with rounding and packing (lp.c), then
 *      repair (heur.c), then ruin and recreate by value per watt (improve.c,
 *      the gang LP's gangs too);
 *      AUTO on small inputs then runs the exact model (exact.c) from that
 *      plan and, with open gangs, from the plan with the gangs in the LP
 *      (gang_lp.c), keeping the best; the greedy baselines are kept as a
 *      safety net — the better plan wins;
 *   5. reasons for everything left pending, against the final load;
 *   6. the validator; a violation refuses the whole result.
 * The bound is assembled here: the model's own (tree bound, exact model),
 * the candidate, domain and root knapsack bounds, and lifted_bound where a
 * model took the greedy pass's gangs as given (and, where the exact model
 * decided them, as a cap on its bound); `optimal` only where the sum
 * over the whole problem meets the objective (docs/solver.md, The bound).
 */
#include "solver/solver_internal.h"

#include "policy/validator.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double tp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Sorting indices by the ids they name (qsort has no context argument).
 * pre: the id's first 8 bytes, big-endian and zero-padded, so that comparing
 * it orders as strcmp does on them; strcmp only reads past it on a tie. */
typedef struct {
    const char *id;
    uint64_t pre;
    int moved, idx;
} idord_t;

static idord_t idord(const char *id, int moved, int idx)
{
    idord_t o = {id ? id : "", 0, moved, idx};
    bool ended = false;
    for (int i = 0; i < 8; i++) {
        unsigned char ch = ended ? 0 : (unsigned char)o.id[i];
        ended = ch == 0;
        o.pre = o.pre << 8 | ch;
    }
    return o;
}

static int by_id(const void *a, const void *b)
{
    const idord_t *x = a, *y = b;
    if (x->moved != y->moved)
        return x->moved - y->moved;
    if (x->pre != y->pre)
        return x->pre < y->pre ? -1 : 1;
    int r = (x->pre & 0xff) ? strcmp(x->id + 8, y->id + 8) : 0; /* else both ended */
    return r ? r : (x->idx > y->idx) - (x->idx < y->idx);
}

/* qsort(o, n, by_id) for o in ascending idx: a stable radix sort by (moved,
 * pre) keeps idx order among equals, then only runs of equal prefixes that
 * go on past it are sorted by the whole comparator. */
static void sort_idord(idord_t *o, int n)
{
    idord_t *tmp = malloc(((size_t)n + 1) * sizeof *tmp), *a = o, *b = tmp;
    size_t cnt[256];
    if (!tmp) {
        qsort(o, (size_t)n, sizeof *o, by_id);
        return;
    }
    for (int pass = 0; pass <= 8; pass++) { /* byte 7 (last) of pre first; moved last */
        memset(cnt, 0, sizeof cnt);
        for (int i = 0; i < n; i++)
            cnt[pass < 8 ? a[i].pre >> (8 * pass) & 0xff : (unsigned)(a[i].moved != 0)]++;
        size_t at = 0;
        bool trivial = false;
        for (int v = 0; v < 256; v++) {
            size_t m = cnt[v];
            trivial |= m == (size_t)n;
            cnt[v] = at;
            at += m;
        }
        if (trivial)
            continue; /* one bucket: this pass would not move anything */
        for (int i = 0; i < n; i++)
            b[cnt[pass < 8 ? a[i].pre >> (8 * pass) & 0xff
                           : (unsigned)(a[i].moved != 0)]++] = a[i];
        idord_t *t = a;
        a = b;
        b = t;
    }
    if (a != o)
        memcpy(o, a, (size_t)n * sizeof *o);
    free(tmp);
    for (int i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && o[j].moved == o[i].moved && o[j].pre == o[i].pre; j++)
            ;
        if (j - i > 1 && (o[i].pre & 0xff))
            qsort(o + i, (size_t)(j - i), sizeof *o, by_id);
    }
}

int *ctx_order_by_id(int n, const char *(*id)(const void *, int), const void *arg)
{
    idord_t *o = malloc(((size_t)n + 1) * sizeof *o);
    int *out = malloc(((size_t)n + 1) * sizeof *out);
    if (!o || !out) {
        free(o);
        free(out);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        o[i] = idord(id(arg, i), 0, i);
    sort_idord(o, n);
    for (int i = 0; i < n; i++)
        out[i] = o[i].idx;
    free(o);
    return out;
}

static const char *node_id(const void *f, int i)
{
    return ((const tp_fleet_t *)f)->nodes[i].id;
}

static const char *domain_id(const void *f, int i)
{
    return ((const tp_fleet_t *)f)->domains[i].id;
}

/* trust(n), docs/solver.md: what scarce security a node offers. */
static int node_trust(const tp_fleet_t *f, const tp_state_t *s, int n)
{
    const tp_node_t *nd = &f->nodes[n];
    const tp_node_obs_t *o = s && s->nodes[n].known ? &s->nodes[n] : NULL;
    bool att = o && o->att.present;
    int t = 0;
    t += nd->cpu_tee > TP_TEE_NONE || (att && o->att.cpu_tee > TP_TEE_NONE);
    t += nd->gpu_cc || (att && o->att.gpu_cc == 1);
    t += att && o->att.status == TP_ATT_AFFIRMING;
    t += o && o->country[0] && tp_region_has_country(&f->regions[nd->region], o->country);
    return t;
}

static int ctx_init(ctx_t *c)
{
    const tp_fleet_t *f = c->f;
    c->ncap = malloc(((size_t)f->nnodes + 1) * sizeof *c->ncap);
    c->dcap = malloc(((size_t)f->ndomains + 1) * sizeof *c->dcap);
    c->healthy = malloc(((size_t)f->nnodes + 1) * sizeof *c->healthy);
    c->trust = malloc(((size_t)f->nnodes + 1) * sizeof *c->trust);
    c->nrank = malloc(((size_t)f->nnodes + 1) * sizeof *c->nrank);
    if (c->cache) { /* the orders made once for this fleet */
        c->nord = malloc(((size_t)f->nnodes + 1) * sizeof *c->nord);
        c->dord = malloc(((size_t)f->ndomains + 1) * sizeof *c->dord);
        if (c->nord && c->dord) {
            memcpy(c->nord, c->cache->nord, (size_t)f->nnodes * sizeof *c->nord);
            memcpy(c->dord, c->cache->dord, (size_t)f->ndomains * sizeof *c->dord);
        }
    } else {
        c->nord = ctx_order_by_id(f->nnodes, node_id, f);
        c->dord = ctx_order_by_id(f->ndomains, domain_id, f);
    }
    if (!c->ncap || !c->dcap || !c->healthy || !c->trust || !c->nrank || !c->nord ||
        !c->dord || ctx_static_memo_new(c) < 0)
        return TP_ENOMEM;
    for (int r = 0; r < f->nnodes; r++)
        c->nrank[c->nord[r]] = r;
    for (int n = 0; n < f->nnodes; n++) {
        c->ncap[n] = tp_policy_node_cap(f, c->s, n);
        c->healthy[n] = tp_policy_gpus_healthy(f, c->s, n);
        c->trust[n] = node_trust(f, c->s, n);
    }
    for (int d = 0; d < f->ndomains; d++)
        c->dcap[d] = tp_policy_domain_cap(f, c->s, d);
    const tp_load_t *kept = c->cache ? c->cache->load : NULL;
    c->base = kept && kept->nnodes == f->nnodes && kept->ndomains == f->ndomains
                  ? tp_load_copy(kept)
                  : tp_load_new(f, c->s, c->running);
    if (!c->base)
        return TP_ENOMEM;
    /* The domain sums again, in canonical order: floating-point addition is not
     * associative, and a last-bit difference in a headroom could tip a tie. */
    for (int d = 0; d < f->ndomains; d++)
        c->base->domain_w[d] = 0;
    for (int r = 0; r < f->nnodes; r++)
        for (int d = f->nodes[c->nord[r]].domain; d >= 0; d = f->domains[d].parent)
            c->base->domain_w[d] += c->base->node_w[c->nord[r]];
    return 0;
}

static void ctx_fini(ctx_t *c)
{
    ctx_free_classes(c);
    ctx_static_memo_free(c);
    gang_lp_free(c);
    side_fini(c);
    free(c->ncap);
    free(c->dcap);
    free(c->healthy);
    free(c->trust);
    free(c->nord);
    free(c->nrank);
    free(c->dord);
    free(c->dn_off);
    free(c->dn);
    tp_load_free(c->base);
    free(c->preempted);
    free(c->cw);
    free(c->cres);
    free(c->corigin);
}

/* Candidates in canonical order: pending work by id, then preempted running
 * work by id (input position only breaks ties between equal ids). */
static int make_candidates(ctx_t *c)
{
    int nr = c->running ? c->running->n : 0, np = c->pending->n, k = 0;
    c->cw = malloc(((size_t)np + (size_t)nr + 1) * sizeof *c->cw);
    c->cres = malloc(((size_t)np + (size_t)nr + 1) * sizeof *c->cres);
    c->corigin = malloc(((size_t)np + (size_t)nr + 1) * sizeof *c->corigin);
    idord_t *o = malloc(((size_t)np + (size_t)nr + 1) * sizeof *o);
    if (!c->cw || !c->cres || !c->corigin || !o) {
        free(o);
        return TP_ENOMEM;
    }
    for (int i = 0; i < np; i++)
        if (!c->side.skip[i])
            o[k++] = idord(c->pending->w[i].id, 0, i);
    for (int i = 0; i < nr; i++)
        if (c->preempted[i] && !c->side.skip[np + i])
            o[k++] = idord(c->running->w[i].id, 1, np + i);
    sort_idord(o, k);
    double gpus = 0;
    for (int i = 0; i < k; i++) {
        int r = o[i].idx;
        const tp_workload_t *w = r < np ? &c->pending->w[r] : &c->running->w[r - np];
        c->cw[i] = w;
        c->cres[i] = r;
        c->corigin[i] = r < np ? -1 : w->node;
        gpus += w->gpus;
    }
    free(o);
    c->nc = k;
    c->eps_s = 1.0 / (1.0 + TP_TRUST_MAX * gpus);
    c->eps_e = c->eps_s / (1.0 + gpus);
    c->emax = 0;
    for (int i = 0; i < c->f->nprofiles; i++) {
        const tp_profile_t *p = &c->f->profiles[i];
        if (p->watts > 0 && p->tokens_per_s / p->watts > c->emax)
            c->emax = p->tokens_per_s / p->watts;
    }
    return 0;
}

/* Could a model move side item it: a gang the greedy pass placed or left
 * waiting for room (not reclaim's, not one a tenant limit holds)? */
static bool open_gang(const ctx_t *c, int it)
{
    const side_t *sd = &c->side;
    return tp_wl_nodes(sd->w[it]) > 1 && !(sd->fixed && sd->fixed[it]) &&
           sd->flag[it] != 2;
}

/* open_gang, or work a tenant limit held back: the exact model may seat it
 * (exact.c, full rows), so AUTO's runs save and restore it too. */
static bool movable_item(const ctx_t *c, int it)
{
    return open_gang(c, it) || c->side.held[it];
}

/* Whether the exact model could still move or seat a gang the greedy pass
 * decided (placed or waiting, not placed by reclaim): then a full fleet for
 * single-node work is no proof that nothing better exists. */
static bool open_gangs(const ctx_t *c)
{
    for (int i = 0; i < c->side.n; i++)
        if (open_gang(c, i))
            return true;
    return false;
}

/* Could some unplaced candidate of the plan be placed alone on the base load?
 * If not, term (1) is already the most any plan can reach. The first unplaced
 * candidate of each class is tried; whether one fits anywhere depends only on
 * its static class, GPUs and AI model, so each such key is scanned once. */
static bool improvable(const ctx_t *c, const plan_t *p)
{
    char *seen = calloc((size_t)c->nk + 1, 1);
    keytab_t tried;
    bool any = false;
    if (!seen || keytab_init(&tried, 64) < 0) {
        free(seen);
        return true;
    }
    for (int ci = 0; ci < c->nc && !any; ci++) {
        int k = c->cand_k[ci];
        if (p->cnode[ci] >= 0 || seen[k])
            continue;
        seen[k] = 1;
        int key[3] = {c->cand_wsc[ci], c->cw[ci]->gpus, c->cw[ci]->model}, n0 = tried.n;
        int id = keytab_intern(&tried, key, 3);
        if (id < 0) {
            any = true; /* out of memory: assume it could */
            break;
        }
        if (id < n0)
            continue; /* scanned already, fit nowhere */
        for (int n = 0; n < c->f->nnodes && !any; n++)
            any = ctx_static_ok(c, ci, n) && ctx_fits(c, c->base, c->cw[ci], n);
    }
    keytab_fini(&tried);
    free(seen);
    return any;
}

/* Σ over candidates of the best value any eligible node could give it alone:
 * a bound on every plan (the LP's can exceed it where it double-counts).
 * Whether some node of a group fits a candidate on the base load depends only
 * on its GPUs and AI model: answered once per (GPUs, model, group). */
static double candidate_bound(const ctx_t *c)
{
    double b = 0;
    keytab_t keys;
    char *fits = NULL; /* [key * ng + group]: 0 unknown, 1 fits, 2 does not */
    if (keytab_init(&keys, 16) < 0)
        return INFINITY;
    for (int k = 0; k < c->nk; k++) {
        int ci = c->k_mem[c->k_off[k]];
        int key[2] = {c->cw[ci]->gpus, c->cw[ci]->model}, n0 = keys.n;
        int id = keytab_intern(&keys, key, 2);
        if (id < 0) {
            b = INFINITY;
            break;
        }
        if (id == n0) {
            char *m = realloc(fits, ((size_t)keys.n * (size_t)c->ng + 1));
            if (!m) {
                b = INFINITY;
                break;
            }
            fits = m;
            memset(fits + (size_t)id * (size_t)c->ng, 0, (size_t)c->ng);
        }
        char *memo = fits + (size_t)id * (size_t)c->ng;
        double best = 0;
        int d = c->k_dem[k];
        for (int e = c->dg_off[d]; e < c->dg_off[d + 1]; e++) { /* the eligible ones */
            int j = c->dg[e], n = c->g_mem[c->g_off[j]];
            double v = ctx_value(c, ci, n);
            if (v <= best)
                continue;
            if (!memo[j]) {
                memo[j] = 2;
                for (int i = c->g_off[j]; i < c->g_off[j + 1]; i++)
                    if (ctx_fits(c, c->base, c->cw[ci], c->g_mem[i])) {
                        memo[j] = 1;
                        break;
                    }
            }
            if (memo[j] == 1)
                best = v;
        }
        b += best * (c->k_off[k + 1] - c->k_off[k]);
    }
    free(fits);
    keytab_fini(&keys);
    return b;
}

/* A bound on every plan (from the same preemption and reclaim) for when the
 * class model's own bound took the greedy pass's gangs as given: the
 * candidate and domain bounds on the base load without those gangs, plus
 * term (1) of every side item — held back by a limit, placed by reclaim (its
 * load stays) and every other gang, whole. Call it before any model moves
 * a gang (it lifts the members the greedy pass chose). */
static double lifted_bound(ctx_t *c);

typedef struct {
    double w;    /* (1 + priority): value per GPU of term (1) */
    double gpus; /* of the whole class */
    int k, wsc;  /* class, its candidates' static class */
} kw_t;

static int by_kw(const void *a, const void *b)
{
    const kw_t *x = a, *y = b;
    if (x->w != y->w)
        return x->w > y->w ? -1 : 1;
    return (x->k > y->k) - (x->k < y->k);
}

/* Per-domain knapsack bound: the domains at one depth partition the nodes, and
 * the best plan places in each at most what a fractional knapsack puts there —
 * the classes eligible on some node beneath it, most valuable per GPU first,
 * into the GPUs its nodes can run within their own and every domain's power
 * headroom at the lowest per-GPU draw there. Σ over the domains bounds every
 * plan without counting a shared rack or row twice. The
 * smallest over the depths; INFINITY when no depth covers every node. */
double *tp_solver_domain_bound_probe;
static double domain_bound(const ctx_t *c)
{
    const tp_fleet_t *f = c->f;
    const tp_load_t *l = c->base;
    int maxd = 0, nd = f->ndomains;
    double best = INFINITY;
    for (int d = 0; d < nd; d++)
        maxd = f->domains[d].depth > maxd ? f->domains[d].depth : maxd;
    double *pmin = malloc(((size_t)f->ngpu_models + 1) * sizeof *pmin);
    double *head = malloc(((size_t)nd + 1) * sizeof *head);
    double *gpus = malloc(((size_t)nd + 1) * sizeof *gpus);
    double *wmin = malloc(((size_t)nd + 1) * sizeof *wmin);
    int *unit = malloc(((size_t)f->nnodes + 1) * sizeof *unit);
    int *stamp = calloc((size_t)c->nnsc + 1, sizeof *stamp);
    char *elig = malloc(((size_t)c->nwsc + 1) * ((size_t)nd + 1));
    /* CSR: the candidate static classes eligible on each node static class. */
    int *ok_off = calloc((size_t)c->nnsc + 2, sizeof *ok_off), *ok = NULL;
    kw_t *kw = malloc(((size_t)c->nk + 1) * sizeof *kw);
    if (!pmin || !head || !gpus || !wmin || !unit || !stamp || !elig || !ok_off || !kw)
        goto out;
    for (int w = 0; w < c->nwsc; w++)
        for (int n = 0; n < c->nnsc; n++)
            ok_off[n + 1] += c->stat[(size_t)w * (size_t)c->nnsc + (size_t)n] == 0;
    for (int n = 0; n < c->nnsc; n++)
        ok_off[n + 1] += ok_off[n];
    if (!(ok = malloc(((size_t)ok_off[c->nnsc] + 1) * sizeof *ok)))
        goto out;
    for (int w = 0; w < c->nwsc; w++) /* ok_off[n] walks to n + 1's start ... */
        for (int n = 0; n < c->nnsc; n++)
            if (c->stat[(size_t)w * (size_t)c->nnsc + (size_t)n] == 0)
                ok[ok_off[n]++] = w;
    for (int n = c->nnsc; n > 0; n--) /* ... and back */
        ok_off[n] = ok_off[n - 1];
    ok_off[0] = 0;
    for (int g = 0; g < f->ngpu_models; g++)
        pmin[g] = INFINITY;
    for (int i = 0; i < f->nprofiles; i++)
        if (f->profiles[i].watts < pmin[f->profiles[i].gpu_model])
            pmin[f->profiles[i].gpu_model] = f->profiles[i].watts;
    for (int k = 0; k < c->nk; k++) {
        int ci = c->k_mem[c->k_off[k]];
        kw[k] = (kw_t){1.0 + c->cw[ci]->priority,
                       (double)c->cw[ci]->gpus * (c->k_off[k + 1] - c->k_off[k]), k,
                       c->cand_wsc[ci]};
    }
    qsort(kw, (size_t)c->nk, sizeof *kw, by_kw);
    for (int level = 0; level <= maxd; level++) {
        bool covered = true;
        for (int d = 0; d < nd; d++) {
            head[d] = INFINITY;
            for (int a = d; a >= 0; a = f->domains[a].parent)
                head[d] = fmin(head[d], fmax(0, c->dcap[a] - l->domain_w[a]));
            gpus[d] = 0;
            wmin[d] = INFINITY;
        }
        memset(elig, 0, ((size_t)c->nwsc + 1) * ((size_t)nd + 1));
        for (int n = 0; n < f->nnodes && covered; n++) {
            int d = f->nodes[n].domain;
            while (d >= 0 && f->domains[d].depth > level)
                d = f->domains[d].parent;
            covered = d >= 0 && f->domains[d].depth == level;
            unit[n] = d;
        }
        if (!covered)
            continue;
        for (int n = 0; n < f->nnodes; n++) {
            int d = unit[n];
            int fr = c->healthy[n] - l->gpus_used[n];
            double h = fmax(0, c->ncap[n] - l->node_w[n]);
            double wn = fmin(f->nodes[n].gpu_w, pmin[f->nodes[n].gpu_model]);
            fr = fr > 0 ? fr : 0;
            gpus[d] += wn > 0 ? fmin(fr, floor(h / wn * (1 + 1e-9) + 1e-9)) : fr;
            wmin[d] = fmin(wmin[d], wn);
            /* Which candidate static classes some node of d can take. */
            int nsc = c->node_sc[n];
            if (stamp[nsc] == (level + 1) * (nd + 1) + d + 1)
                continue;
            stamp[nsc] = (level + 1) * (nd + 1) + d + 1;
            char *e = elig + (size_t)d * (size_t)c->nwsc;
            for (int i = ok_off[nsc]; i < ok_off[nsc + 1]; i++)
                e[ok[i]] = 1;
        }
        double total = 0, per_gpu_eps = TP_TRUST_MAX * c->eps_s + c->eps_e;
        for (int r = 0; r < nd; r++) { /* summed by id: fixed rounding */
            int d = c->dord[r];
            if (f->domains[d].depth != level)
                continue;
            double cap = gpus[d];
            if (wmin[d] > 0 && isfinite(wmin[d]))
                cap = fmin(cap, floor(head[d] / wmin[d] * (1 + 1e-9) + 1e-9));
            const char *el = elig + (size_t)d * (size_t)c->nwsc;
            for (int a = 0; a < c->nk && cap > 0; a++) { /* one flat array: hot */
                if (!el[kw[a].wsc])
                    continue;
                double take = fmin(cap, kw[a].gpus);
                total += take * (kw[a].w + per_gpu_eps);
                cap -= take;
            }
        }
        best = fmin(best, total);
    }
    if (tp_solver_domain_bound_probe)
        *tp_solver_domain_bound_probe = best;
out:
    free(pmin);
    free(head);
    free(gpus);
    free(wmin);
    free(unit);
    free(stamp);
    free(elig);
    free(ok_off);
    free(ok);
    free(kw);
    return best;
}

/* Replaces *best with the plan `fresh` would produce when that is better. */
int ctx_try_plan(const ctx_t *c, plan_t *best, bool first_fit)
{
    plan_t q;
    int rc = plan_init(&q, c);
    if (rc < 0)
        return rc;
    if (first_fit) {
        rc = plan_first_fit(c, &q);
    } else {
        int n, *list = plan_unplaced_by_weight(c, &q, &n);
        rc = list ? plan_repair(c, &q, list, n) : TP_ENOMEM;
        free(list);
    }
    if (rc == 0 && plan_objective(c, &q, NULL) > plan_objective(c, best, NULL) + 1e-9) {
        plan_t t = *best;
        *best = q;
        q = t;
    }
    plan_fini(&q);
    return rc;
}

static int repair_all(const ctx_t *c, plan_t *p)
{
    int n, *list = plan_unplaced_by_weight(c, p, &n);
    int rc = list ? plan_repair(c, p, list, n) : TP_ENOMEM;
    free(list);
    return rc;
}

/* Reasons of every unplaced candidate against the plan's final load: the static
 * predicates from the class table, the capacity ones from tp_policy_capacity —
 * together exactly tp_policy_check — computed once per identical candidate. */
#define HIST_VALS 16 /* distinct capacity bit sets a histogram keeps apart */

/* Nodes by (static class, capacity bits) for one capacity key: counting the
 * reasons of a candidate class then visits these cells, not every node. */
typedef struct {
    tp_predset_t val[HIST_VALS];
    int nv;
    int *cnt; /* [nsc * HIST_VALS + v]; NULL: too many distinct bit sets */
    /* A node fails predicate q when its capacity bits or its static class's
     * do: all[q] nodes by their capacity bits, and off[nsc * TP_PRED_COUNT + q]
     * of class nsc's nodes only when the class fails q statically. */
    int all[TP_PRED_COUNT], *off;
} hist_t;

static int hist_build(const ctx_t *c, const tp_predset_t *bits, hist_t *h)
{
    h->nv = 0;
    h->off = NULL;
    h->cnt = calloc((size_t)c->nnsc * HIST_VALS + 1, sizeof *h->cnt);
    if (!h->cnt)
        return TP_ENOMEM;
    for (int n = 0; n < c->f->nnodes; n++) {
        int v = 0;
        while (v < h->nv && h->val[v] != bits[n])
            v++;
        if (v == h->nv) {
            if (h->nv == HIST_VALS) {
                free(h->cnt);
                h->cnt = NULL;
                return 0;
            }
            h->val[h->nv++] = bits[n];
        }
        h->cnt[(size_t)c->node_sc[n] * HIST_VALS + (size_t)v]++;
    }
    memset(h->all, 0, sizeof h->all);
    if (!(h->off = calloc((size_t)c->nnsc * TP_PRED_COUNT + 1, sizeof *h->off)))
        return TP_ENOMEM;
    for (int nsc = 0; nsc < c->nnsc; nsc++)
        for (int v = 0; v < h->nv; v++) {
            int m = h->cnt[(size_t)nsc * HIST_VALS + (size_t)v];
            for (int q = 0; q < TP_PRED_COUNT && m; q++)
                if (h->val[v] >> q & 1)
                    h->all[q] += m;
                else
                    h->off[(size_t)nsc * TP_PRED_COUNT + (size_t)q] += m;
        }
    return 0;
}

static int add_pending(const ctx_t *c, const plan_t *p, tp_result_t *r)
{
    const tp_fleet_t *f = c->f;
    keytab_t rk, ck;
    int rc = TP_ENOMEM, ncnt = 0, ncap = 0;
    int(*counts)[TP_PRED_COUNT] = NULL;
    tp_predset_t **capbits = NULL;
    hist_t *hist = NULL;
    if (keytab_init(&rk, 64) < 0)
        return TP_ENOMEM;
    if (keytab_init(&ck, 64) < 0) {
        keytab_fini(&rk);
        return TP_ENOMEM;
    }
    for (int ci = 0; ci < c->nc; ci++) {
        if (p->cnode[ci] >= 0)
            continue;
        const tp_workload_t *w = c->cw[ci];
        int key[2] = {c->cand_wsc[ci], w->model}, ckey[2] = {w->gpus, w->model};
        int id = keytab_intern(&rk, key, 2);
        if (id < 0)
            goto out;
        if (id == ncnt) {
            int cid = keytab_intern(&ck, ckey, 2);
            if (cid < 0)
                goto out;
            if (cid == ncap) {
                tp_predset_t **cb = realloc(capbits, ((size_t)ncap + 1) * sizeof *cb);
                if (!cb)
                    goto out;
                capbits = cb;
                hist_t *hb = realloc(hist, ((size_t)ncap + 1) * sizeof *hb);
                if (!hb)
                    goto out;
                hist = hb;
                hist[ncap].cnt = NULL;
                hist[ncap].off = NULL;
                if (!(capbits[ncap] = malloc(((size_t)f->nnodes + 1) * sizeof **cb)))
                    goto out;
                ncap++;
                for (int n = 0; n < f->nnodes; n++)
                    capbits[cid][n] = tp_policy_capacity(f, c->s, p->load, n, w);
                if (hist_build(c, capbits[cid], &hist[cid]) < 0)
                    goto out;
            }
            int(*cn)[TP_PRED_COUNT] = realloc(counts, ((size_t)ncnt + 1) * sizeof *cn);
            if (!cn)
                goto out;
            counts = cn;
            memset(counts[ncnt], 0, sizeof counts[ncnt]);
            const tp_predset_t *st = c->stat + (size_t)c->cand_wsc[ci] * (size_t)c->nnsc;
            const hist_t *h = &hist[cid];
            if (h->cnt) {
                memcpy(counts[ncnt], h->all, sizeof h->all);
                for (int nsc = 0; nsc < c->nnsc; nsc++) /* most pass statically */
                    for (tp_predset_t bits = st[nsc]; bits; bits &= bits - 1) {
                        int q = __builtin_ctz(bits);
                        counts[ncnt][q] +=
                            h->off[(size_t)nsc * TP_PRED_COUNT + (size_t)q];
                    }
            } else {
                for (int n = 0; n < f->nnodes; n++) {
                    tp_predset_t bits = st[c->node_sc[n]] | capbits[cid][n];
                    for (int q = 0; bits; q++, bits >>= 1)
                        counts[ncnt][q] += bits & 1;
                }
            }
            ncnt++;
        }
        int row[TP_PRED_COUNT];
        memcpy(row, counts[id], sizeof row);
        /* With the exact model's full tenant rows a candidate may wait for
         * its tenant's room (admission reserved none): tenant_limit. */
        if (c->tn_rows && tp_wl_tenant(w) >= 0 &&
            side_room(c, c->side.use, tp_wl_tenant(w)) < w->gpus)
            row[TP_PRED_TENANT_LIMIT] = f->nnodes;
        if (tp_result_add_pending(r, c->cres[ci], row) < 0)
            goto out;
    }
    rc = 0;
out:
    for (int i = 0; i < ncap; i++) {
        free(capbits[i]);
        free(hist[i].cnt);
        free(hist[i].off);
    }
    free(capbits);
    free(hist);
    free(counts);
    keytab_fini(&rk);
    keytab_fini(&ck);
    return rc;
}

/* The validator sees candidates as the pending list: pending work, then the
 * preempted running work, so candidate index = validator index. */
static int validate(const ctx_t *c, const plan_t *p, const tp_result_t *r,
                    const tp_workloads_t *running, tp_error_t *err)
{
    int next = c->nc + c->side.n;
    tp_workload_t *w = malloc(((size_t)next + 1) * sizeof *w);
    tp_result_t *vr = tp_result_new();
    tp_violations_t v;
    int rc = TP_ENOMEM;
    tp_violations_init(&v);
    if (!w || !vr)
        goto out;
    for (int i = 0; i < c->nc; i++)
        w[i] = *c->cw[i];
    for (int i = 0; i < c->side.n; i++)
        w[c->nc + i] = *c->side.w[i];
    for (int i = 0; i < r->nplacements; i++)
        if (tp_result_add_placement(vr, r->placements[i].workload, r->placements[i].node,
                                    r->placements[i].gpus) < 0)
            goto out;
    for (int i = 0; i < r->npending; i++)
        if (tp_result_add_pending(vr, r->pending[i].workload, r->pending[i].reasons) < 0)
            goto out;
    for (int i = 0; i < r->npreemptions; i++)
        if (tp_result_add_preemption(vr, r->preemptions[i].workload,
                                     r->preemptions[i].node, r->preemptions[i].why) < 0)
            goto out;
    /* Result indices → candidate indices (candidates are in canonical order). */
    {
        int nres = c->pending->n + (running ? running->n : 0);
        int *ci_of = malloc(((size_t)nres + 1) * sizeof *ci_of);
        if (!ci_of)
            goto out;
        for (int i = 0; i < nres; i++)
            ci_of[i] = -1;
        for (int ci = 0; ci < c->nc; ci++)
            ci_of[c->cres[ci]] = ci;
        for (int i = 0; i < c->side.n; i++)
            ci_of[c->side.res[i]] = c->nc + i;
        for (int i = 0; i < vr->nplacements; i++)
            vr->placements[i].workload = ci_of[vr->placements[i].workload];
        for (int i = 0; i < vr->npending; i++)
            vr->pending[i].workload = ci_of[vr->pending[i].workload];
        free(ci_of);
    }
    tp_workloads_t ext = {.w = w, .n = next};
    const struct tp_vtally *t = c->cache ? c->cache->tally : NULL;
    int nv = t && tp_validate_new_applies(c->f, &ext, vr)
                 ? tp_validate_new(c->f, c->s, t, &ext, vr, c->now, &v)
                 : tp_validate(c->f, c->s, &ext, running, vr, c->now, &v);
    if (nv < 0)
        rc = nv;
    else if (nv > 0)
        rc = tp_error_set(err, TP_EVIOLATION,
                          "placement refused by the validator (%d violation%s): %s", nv,
                          nv == 1 ? "" : "s", v.n ? v.msgs[0] : "?");
    else
        rc = 0;
    (void)p;
out:
    tp_violations_fini(&v);
    tp_result_free(vr);
    free(w);
    return rc;
}

static void sums(const ctx_t *c, const plan_t *p, tp_solution_t *sol)
{
    double tok = 0, watts = 0;
    sol->placed_gpus = sol->weighted_gpus = 0;
    for (int ci = 0; ci < c->nc; ci++) {
        int n = p->cnode[ci];
        if (n < 0)
            continue;
        const tp_workload_t *w = c->cw[ci];
        const tp_profile_t *pr =
            w->model >= 0 ? tp_fleet_profile(c->f, w->model, c->f->nodes[n].gpu_model)
                          : NULL;
        sol->placed_gpus += w->gpus;
        sol->weighted_gpus += (1.0 + w->priority) * w->gpus;
        tok += pr ? w->gpus * pr->tokens_per_s : 0;
        watts += w->gpus * tp_fleet_gpu_watts(c->f, n, w->model);
    }
    sol->placed_gpus += c->side.placed_gpus;
    sol->weighted_gpus += c->side.weighted;
    sol->tokens_per_j = watts > 0 ? tok / watts : 0;
}

static double lifted_bound(ctx_t *c)
{
    const side_t *sd = &c->side;
    tp_load_t *base = c->base, *l = tp_load_copy(base);
    side_sums_t ss;
    if (!l)
        return INFINITY;
    for (int it = 0; it < sd->n; it++) {
        const tp_workload_t *w = sd->w[it];
        for (int j = 0; tp_wl_nodes(w) > 1 && sd->flag[it] == 0 && !sd->fixed[it] &&
                        j < tp_wl_nodes(w);
             j++)
            tp_load_apply(l, c->f, sd->mem[it][j], w->gpus,
                          tp_fleet_gpu_watts(c->f, sd->mem[it][j], w->model), -1);
    }
    c->base = l;
    side_sums(c, &ss);
    double b =
        fmin(fmin(candidate_bound(c), domain_bound(c)) + ss.free_gangs, root_knapsack(c));
    c->base = base;
    tp_load_free(l);
    return b + ss.held + ss.fixed;
}

/* Is the problem small (AUTO's exact model takes it: at most the opts' limit
 * of eligible pairs)? */
static bool is_small(const ctx_t *c, const plan_t *p, const tp_solver_opts_t *o)
{
    long limit =
        o->exact_max_pairs > 0 ? o->exact_max_pairs : TP_SOLVER_DEFAULT_EXACT_PAIRS;
    return milp_count_pairs(c, p, limit) <= limit;
}

/* The aggregated path on p, a plan on c->base: with `gangs`, the open gangs
 * as gang classes inside the LP (gang_lp_begin sets c->gl where there are
 * any; the caller frees it); then the LP with rounding and packing, repair,
 * ruin and recreate by value per watt (stopping near the LP's bound, except
 * where the exact model starts from p: `exact_next`; its exchanges only when
 * not `small`, where AUTO's exact model, which may not keep them, must not
 * end below AGGREGATE) and the greedy safety
 * nets; with c->gl, gang_lp_finish keeps the better of that and the greedy
 * pass's plan and commits its gangs (side items and c->base). *gcb (gcb not
 * NULL, c->gl set): the candidate, domain and root knapsack bounds on the
 * load without the open gangs plus their value. AUTO and AGGREGATE share it. */
static int aggregate(ctx_t *c, plan_t *p, bool gangs, bool exact_next, bool small,
                     double *gcb, lp_out_t *lo, char *msg, size_t msglen)
{
    int rc;
    if (gangs && (rc = gang_lp_begin(c, p)) < 0)
        return rc;
    if (c->gl && gcb) {
        /* With the exchanges, the root knapsack's LP rounds the gangs for
         * plan_improve (gang_round.c; NULL, out of memory: it does not). */
        c->gr = small ? NULL : gang_round_new();
        *gcb = fmin(fmin(candidate_bound(c), domain_bound(c)) + gang_lp_value(c),
                    root_knapsack(c));
    }
    if ((rc = lp_aggregate(c, p, lo, msg, msglen)) < 0 || (rc = repair_all(c, p)) < 0 ||
        (c->gl && (rc = gang_lp_end(c, p)) < 0))
        goto out;
    double stop = exact_next ? INFINITY : lo->stop; /* the ladder's (improve.c) */
    lo->ruin_tries = 0;
    if ((improvable(c, p) || gang_lp_count(c) > 0) && /* a gang may move */
        ((rc = plan_improve(c, p, stop, !small, &lo->ruin_tries)) < 0 ||
         (rc = ctx_try_plan(c, p, true)) < 0 || (rc = ctx_try_plan(c, p, false)) < 0))
        goto out;
    rc = c->gl ? gang_lp_finish(c, p) : 0;
out:
    gang_round_free(c->gr);
    c->gr = NULL;
    return rc;
}

/* The open gangs' members (NULL: waits) and c->base, kept to be put back:
 * gang_lp_begin/finish and milp_exact move both. */
typedef struct {
    int **mem;
    tp_load_t *base;
} gang_state_t;

static void gang_state_free(const ctx_t *c, gang_state_t *g)
{
    for (int it = 0; g->mem && it < c->side.n; it++)
        free(g->mem[it]);
    free(g->mem);
    tp_load_free(g->base);
    *g = (gang_state_t){0};
}

static int gang_state_save(const ctx_t *c, gang_state_t *g)
{
    const side_t *sd = &c->side;
    gang_state_free(c, g);
    g->mem = calloc((size_t)sd->n + 1, sizeof *g->mem);
    g->base = tp_load_copy(c->base);
    if (!g->mem || !g->base)
        return TP_ENOMEM;
    for (int it = 0; it < sd->n; it++) {
        size_t k = (size_t)tp_wl_nodes(sd->w[it]);
        if (!movable_item(c, it) || sd->flag[it] != 0)
            continue;
        if (!(g->mem[it] = malloc(k * sizeof **g->mem)))
            return TP_ENOMEM;
        memcpy(g->mem[it], sd->mem[it], k * sizeof **g->mem);
    }
    return 0;
}

static int gang_state_put(ctx_t *c, const gang_state_t *g)
{
    tp_load_t *l = tp_load_copy(g->base);
    int rc = l ? 0 : TP_ENOMEM;
    for (int it = 0; rc == 0 && it < c->side.n; it++)
        if (movable_item(c, it))
            rc = side_gang_set(c, it, g->mem[it]);
    if (rc < 0) {
        tp_load_free(l);
        return rc;
    }
    tp_load_free(c->base);
    c->base = l;
    return 0;
}

/* Whether two saved states seat the same gangs on the same nodes. */
static bool gang_state_same(const ctx_t *c, const gang_state_t *a, const gang_state_t *b)
{
    for (int it = 0; it < c->side.n; it++)
        if (!a->mem[it] != !b->mem[it] ||
            (a->mem[it] &&
             memcmp(a->mem[it], b->mem[it],
                    (size_t)tp_wl_nodes(c->side.w[it]) * sizeof *a->mem[it])))
            return false;
    return true;
}

/* One run of the exact model (exact.c) from start, a complete plan on
 * c->base with the side items' gangs: *out (any plan; made again here) gets
 * its answer, or start where that is better and the model left the gangs
 * as they were (then *method is "lp+pack" and mo->optimal false). */
static int exact_run(ctx_t *c, const plan_t *start, plan_t *out, milp_out_t *mo,
                     const char **method, char *msg, size_t msglen)
{
    int rc;
    plan_fini(out);
    if ((rc = plan_init(out, c)) < 0 ||
        (rc = milp_exact(c, out, start, mo, msg, msglen)) < 0)
        return rc;
    if (c->tn_rows) { /* admission's reserve no longer holds: repair counts use */
        const side_t *sd = &c->side;
        if (!(c->tn_use = malloc(((size_t)c->f->ntenants + 1) * sizeof *c->tn_use)))
            return TP_ENOMEM;
        memcpy(c->tn_use, sd->use, (size_t)c->f->ntenants * sizeof *c->tn_use);
        for (int ci = 0; ci < c->nc; ci++) /* admission charged every candidate */
            if (out->cnode[ci] < 0)
                side_use_add(c, c->tn_use, tp_wl_tenant(c->cw[ci]), -c->cw[ci]->gpus);
    }
    rc = repair_all(c, out);
    free(c->tn_use);
    c->tn_use = NULL;
    if (rc < 0)
        return rc;
    *method = "milp";
    if (mo->gangs == 0 &&
        plan_objective(c, start, NULL) > plan_objective(c, out, NULL) + 1e-12) {
        plan_fini(out);
        if ((rc = plan_copy(out, start, c)) < 0)
            return rc;
        *method = "lp+pack";
        mo->optimal = false;
    }
    return 0;
}

/* The total that tp_solve reports for exact_run's bound mo on the side
 * items as they stand: mo's bound on the model's part plus the side items'
 * term (1), and every held-back item's unless the model held them in. */
static double exact_total(const ctx_t *c, const milp_out_t *mo)
{
    side_sums_t ss;
    side_sums(c, &ss);
    return mo->bound + c->side.weighted + (mo->held_in ? 0 : ss.held);
}

/* AUTO on small inputs, after the aggregated path (*agg, with the greedy
 * pass's gangs): the exact model from it into *best. With open gangs the
 * aggregated path runs once more with them inside the LP (as AGGREGATE; the
 * gang LP's plan, *stopped when its budget cut it short), and the exact
 * model runs from each plan, gangs included, the better one first: its
 * answer depends on its start (RINS searches around it), and a better start
 * did not always end better (docs/solver.md, phase 4). The best answer, gangs
 * included, is kept (ties: the first), with its mo; the side items and
 * c->base follow it. A second run from the same plan and gangs is skipped. */
static int auto_exact(ctx_t *c, const plan_t *agg, plan_t *best, milp_out_t *mo,
                      const char **method, bool *stopped, char *msg, size_t msglen)
{
    side_sums_t ss;
    side_sums(c, &ss);
    if (ss.nfree == 0)
        return exact_run(c, agg, best, mo, method, msg, msglen);
    gang_state_t g[3] = {{0}};
    plan_t alt = {0}, other = {0};
    const plan_t *start[2] = {agg, &alt};
    milp_out_t mo2;
    const char *m2 = NULL;
    lp_out_t lo;
    int rc;
    double v[2] = {plan_objective(c, agg, NULL) + c->side.weighted, 0};
    if ((rc = gang_state_save(c, &g[0])) < 0 || (rc = plan_init(&alt, c)) < 0 ||
        (rc = aggregate(c, &alt, true, true, true, NULL, &lo, msg, msglen)) < 0)
        goto out;
    gang_lp_free(c); /* the exact model decides the gangs from here */
    *stopped = lo.stopped;
    v[1] = plan_objective(c, &alt, NULL) + c->side.weighted;
    int a = v[1] > v[0] + 1e-9; /* the better start; ties: the greedy pass's gangs */
    if ((rc = gang_state_save(c, &g[1])) < 0 || (rc = gang_state_put(c, &g[a])) < 0 ||
        (rc = exact_run(c, start[a], best, mo, method, msg, msglen)) < 0)
        goto out;
    if (gang_state_same(c, &g[0], &g[1]) &&
        !memcmp(agg->cnode, alt.cnode, (size_t)c->nc * sizeof *agg->cnode))
        goto out;
    double va = plan_objective(c, best, NULL) + c->side.weighted, ta = exact_total(c, mo);
    if ((rc = gang_state_save(c, &g[2])) < 0 || (rc = gang_state_put(c, &g[!a])) < 0 ||
        (rc = exact_run(c, start[!a], &other, &mo2, &m2, msg, msglen)) < 0)
        goto out;
    bool tl = mo->time_limited || mo2.time_limited;
    bool both = mo->gangs > 0 && !mo->gang_limited && mo2.gangs > 0 && !mo2.gang_limited;
    double tb = exact_total(c, &mo2);
    if (plan_objective(c, &other, NULL) + c->side.weighted > va + 1e-9) {
        plan_t t = *best;
        *best = other;
        other = t;
        *mo = mo2;
        *method = m2;
    } else if ((rc = gang_state_put(c, &g[2])) < 0) {
        goto out;
    }
    /* Each run's total bounds every plan when it decided every free gang
     * (solver.c's `joint`): the least of the two holds, whichever plan won,
     * as the bound of the same total that tp_solve adds back. Both runs'
     * flags, read before *mo takes the winner's. */
    if (both)
        mo->bound += fmin(ta, tb) - exact_total(c, mo);
    mo->time_limited = tl;
out:
    plan_fini(&alt);
    plan_fini(&other);
    for (int i = 0; i < 3; i++)
        gang_state_free(c, &g[i]);
    return rc;
}

void tp_solution_free(tp_solution_t *sol)
{
    if (!sol)
        return;
    tp_result_free(sol->result);
    for (int i = 0; i < sol->ncaps_unmet; i++)
        free(sol->caps_unmet[i]);
    free(sol->caps_unmet);
    free(sol);
}

void tp_solution_meta(const tp_solution_t *sol, const tp_fleet_t *f,
                      const tp_workloads_t *pending, const tp_workloads_t *running,
                      tp_result_meta_t *m)
{
    memset(m, 0, sizeof *m);
    m->nodes = f->nnodes;
    m->workloads = pending ? pending->n : 0;
    m->running = running ? running->n : 0;
    m->method = sol->method;
    m->placed_gpus = sol->placed_gpus;
    m->weighted_gpus = sol->weighted_gpus;
    m->tokens_per_j = sol->tokens_per_j;
    m->caps_unmet = (const char *const *)sol->caps_unmet;
    m->ncaps_unmet = sol->ncaps_unmet;
}

tp_solver_cache_t *tp_solver_cache_new(const tp_fleet_t *f)
{
    tp_solver_cache_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->f = f;
    c->nord = ctx_order_by_id(f->nnodes, node_id, f);
    c->dord = ctx_order_by_id(f->ndomains, domain_id, f);
    if (!c->nord || !c->dord) {
        tp_solver_cache_free(c);
        return NULL;
    }
    return c;
}

void tp_solver_cache_free(tp_solver_cache_t *c)
{
    if (!c)
        return;
    free(c->nord);
    free(c->dord);
    free(c);
}

int tp_solve(const tp_fleet_t *f, const tp_state_t *s, const tp_workloads_t *pending,
             const tp_workloads_t *running, const tp_solver_opts_t *o,
             tp_solution_t **out, tp_error_t *err)
{
    return tp_solve_cached(f, s, pending, running, NULL, o, out, err);
}

int tp_solve_cached(const tp_fleet_t *f, const tp_state_t *s,
                    const tp_workloads_t *pending, const tp_workloads_t *running,
                    const tp_solver_cache_t *cache, const tp_solver_opts_t *o,
                    tp_solution_t **out, tp_error_t *err)
{
    static const tp_workloads_t none = {0};
    ctx_t c = {0};
    plan_t best = {0};
    tp_solution_t *sol = NULL;
    char msg[256] = "";
    double bound = NAN;
    double gcb = INFINITY; /* with gangs in the LP: candidate bound + their value */
    double lb = INFINITY;  /* lifted_bound, where a model left the gangs out */
    bool decided = false;  /* the exact model decided gangs too */
    bool joint = false;    /* ... and no tenant row restricted them */
    bool held_in = false;  /* ... and the work a limit held back (exact.c) */
    side_sums_t ss;
    int rc;
    tp_error_clear(err);
    *out = NULL;
    if (!f || !pending || !o || f->nnodes < 1)
        return tp_error_set(err, TP_EINVAL,
                            "tp_solve: missing fleet, workloads or options");
    if (cache && cache->f != f)
        return tp_error_set(err, TP_EINVAL, "tp_solve: the cache is for another fleet");
    running = running ? running : &none;
    c.cache = cache;
    c.f = f;
    c.s = s;
    c.pending = pending;
    c.running = running;
    c.now = o->now;
    c.t0 = tp_now_ms();
    c.no_bound = o->no_bound;
    {
        double lim = o->time_limit_ms > 0 ? o->time_limit_ms : TP_SOLVER_DEFAULT_LIMIT_MS;
        c.limit_ms = lim;
        /* Work budgets from the time limit: they, not the clock, decide where a
         * solve stops, so a cut-short solve is still reproducible. */
        c.it_budget = (long)fmax(TP_SOLVER_MIN_ITERS, lim * TP_SOLVER_ITERS_PER_MS);
    }
    rc = TP_ENOMEM;
    if (!(sol = calloc(1, sizeof *sol)) || !(sol->result = tp_result_new()) ||
        ctx_init(&c) < 0)
        goto fail;
    if ((rc = preempt_run(&c, sol->result, &sol->caps_unmet, &sol->ncaps_unmet)) < 0 ||
        (rc = side_before(&c, sol->result)) < 0 || (rc = make_candidates(&c)) < 0 ||
        (rc = ctx_build_static(&c)) < 0 || (rc = ctx_build_classes(&c)) < 0 ||
        (rc = plan_init(&best, &c)) < 0)
        goto fail;
    sol->node_groups = c.ng;
    sol->workload_classes = c.nk;
    side_sums(&c, &ss); /* before any model re-decides a gang */

    tp_solver_method_t method = o->method;
    if (method == TP_SOLVER_AUTO && !open_gangs(&c) && !improvable(&c, &best)) {
        /* No candidate fits anywhere alone on the base load (a full fleet): no
         * plan places any, and the per-pair MILP over its zero eligible pairs is
         * trivially optimal — AUTO's answer, without building either model. */
        sol->method = "milp";
        sol->optimal = true;
        bound = 0;
    } else if (method == TP_SOLVER_AUTO) {
        /* The aggregated path first (milliseconds, never worse than the greedy
         * orders); then, when small, the per-pair MILP starting from that plan as
         * its incumbent — so AUTO is never worse than AGGREGATE — and stopping once
         * term (1) is proven optimal (milp.c). */
        bool small = is_small(&c, &best, o);
        plan_t agg = {0};
        lp_out_t lo;
        milp_out_t mo = {0};
        bool stopped = false;
        if (small && ss.nfree > 0 && !o->no_bound) /* if the exact model leaves them */
            lb = lifted_bound(&c);
        if ((rc = plan_copy(&agg, &best, &c)) < 0 ||
            (rc = aggregate(&c, &agg, !small, small, small, o->no_bound ? NULL : &gcb,
                            &lo, msg, sizeof msg)) < 0 ||
            (small && (rc = auto_exact(&c, &agg, &best, &mo, &sol->method, &stopped, msg,
                                       sizeof msg)) < 0)) {
            plan_fini(&agg);
            goto fail;
        }
        sol->lp_rounds = lo.rounds;
        sol->ruin_tries = lo.ruin_tries;
        bound = lo.bound;
        sol->time_limited = lo.stopped || stopped;
        /* With gangs inside (mo.gangs), only the exact model's bound covers
         * them; the others assume the greedy pass's gangs. */
        decided = small && mo.gangs > 0;
        joint = decided && !mo.gang_limited;
        held_in = decided && mo.held_in;
        if (small) {
            if (mo.bound < bound || decided)
                bound = mo.bound;
            sol->optimal = mo.optimal;
            sol->time_limited |= mo.time_limited;
        } else {
            plan_t t = best;
            best = agg;
            agg = t;
            sol->method = "lp+pack";
        }
        plan_fini(&agg);
    }
    if (method == TP_SOLVER_GREEDY) {
        sol->method = "greedy";
        if ((rc = plan_first_fit(&c, &best)) < 0)
            goto fail;
    } else if (method == TP_SOLVER_EXACT) { /* the naive baseline: no help */
        milp_out_t mo;
        sol->method = "milp-naive";
        if (ss.nfree > 0 && !o->no_bound)
            lb = lifted_bound(&c);
        if ((rc = milp_pairs(&c, &best, o->mip_gap, &mo, msg, sizeof msg)) < 0)
            goto fail;
        if (!mo.found) {
            rc = tp_error_set(err, TP_ESOLVER,
                              "GLPK found no integer solution within the time limit "
                              "(%d binaries)",
                              mo.pairs);
            goto fail;
        }
        /* A time-limited incumbent may leave placeable work out; it is completed
         * greedily so that every pending workload has a reason. */
        if (mo.time_limited && (rc = repair_all(&c, &best)) < 0)
            goto fail;
        bound = mo.bound;
        sol->optimal = mo.optimal;
        sol->time_limited = mo.time_limited;
    } else if (method == TP_SOLVER_AGGREGATE) {
        lp_out_t lo;
        sol->method = "lp+pack";
        if ((rc = aggregate(&c, &best, true, false, is_small(&c, &best, o),
                            o->no_bound ? NULL : &gcb, &lo, msg, sizeof msg)) < 0)
            goto fail;
        bound = lo.bound;
        sol->lp_rounds = lo.rounds;
        sol->ruin_tries = lo.ruin_tries;
        sol->time_limited = lo.stopped;
    }

    for (int ci = 0; ci < c.nc; ci++)
        if (best.cnode[ci] >= 0 &&
            (rc = tp_result_add_placement(sol->result, c.cres[ci], best.cnode[ci],
                                          c.cw[ci]->gpus)) < 0)
            goto fail;
    ctx_static_audit(&c); /* tests only */
    if ((rc = side_after(&c, &best, sol->result)) < 0 ||
        (rc = add_pending(&c, &best, sol->result)) < 0)
        goto fail;
    sums(&c, &best, sol);
    tp_result_t *r = sol->result;
    /* The class model's objective and bound cover its candidates; the side
     * work (gangs, reclaim, held-back work) adds its term (1) to both — but
     * with gangs in the LP (c.gl) its bound covers the open gangs already.
     * That sum bounds every plan only when the model decided every free gang
     * (gangs in the LP, in the exact model without a binding tenant row, or
     * none) — else lifted_bound stands — and it adds the term (1) of every
     * item a limit held back, placed or not (another plan may take its room).
     * `optimal` only where that sum meets the objective: the model proved
     * its part and every held-back item was placed. */
    side_sums_t end;
    side_sums(&c, &end);
    bool covered = ss.nfree == 0 || c.gl || joint;
    r->objective = plan_objective(&c, &best, NULL);
    sol->optimal = sol->optimal && covered && (end.held == 0 || held_in);
    if (sol->optimal)
        bound = r->objective;
    if (o->no_bound) {
        bound = NAN;
    } else if (method != TP_SOLVER_GREEDY && !decided) {
        double cb = c.gl ? gcb : fmin(candidate_bound(&c), domain_bound(&c));
        bound = isnan(bound) || cb < bound ? cb : bound;
    }
    r->objective += c.side.weighted;
    bound += c.side.weighted - gang_lp_placed(&c) + (held_in ? 0 : end.held);
    /* lifted_bound holds for every plan wherever it was computed: where the
     * exact model decided the gangs too, the tree bound on its gang
     * binaries can be far looser (48 x 500, 25% gangs: 1,843.6 against
     * 1,564.0), and the lesser stands. */
    if (!covered)
        bound = lb;
    else if (!sol->optimal && !isnan(bound))
        bound = fmin(bound, lb);
    if (!isnan(bound) && isfinite(bound)) {
        /* Only rounding may leave a proven bound under the objective. */
        r->bound =
            bound < r->objective && bound > r->objective - 1e-6 * (1 + r->objective)
                ? r->objective
                : bound;
        r->gap = r->bound > 0 ? (r->bound - r->objective) / r->bound : 0;
    } else {
        r->bound = r->gap = NAN;
    }
    if ((rc = validate(&c, &best, r, running, err)) < 0)
        goto fail;
    r->solve_ms = tp_now_ms() - c.t0;
    plan_fini(&best);
    ctx_fini(&c);
    *out = sol;
    return 0;
fail:
    if (err && err->code)
        ; /* the detail is already there */
    else if (rc == TP_ESOLVER)
        tp_error_set(err, rc, "GLPK failed: %s", msg[0] ? msg : "unknown error");
    else if (rc == TP_ENOMEM)
        tp_error_set(err, rc, "out of memory");
    else if (!err || !err->code)
        tp_error_set(err, rc, "%s", tp_strerror(rc));
    plan_fini(&best);
    ctx_fini(&c);
    tp_solution_free(sol);
    return rc;
}
