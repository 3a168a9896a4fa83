/*
 * solver/bound_root.c — root_knapsack(): the Lagrangian bound over the root
 * domains' watts, with each gang's least draw in a domain of its `together`
 * kind, those domains priced where the gangs compete for them, then every
 * capped domain priced for all the work by subgradient steps
 * (docs/solver.md, The bound). solver.c assembles it with the other
 * bounds.
 */
#include "solver/solver_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double v, w;
} vw_t;

static int by_vw(const void *a, const void *b)
{
    const vw_t *x = a, *y = b;
    double l = x->v * y->w, r = y->v * x->w; /* x before y: higher v / w */
    return (l < r) - (l > r);
}

/* Root knapsack bound. Every node lies under one root domain (a site); the
 * watts a plan adds under root s are at most its headroom H_s, and a placed
 * workload i draws at least w_is, its least draw on a node under s where it
 * is eligible and fits alone on the base load (a gang: N members, each at
 * least that; with a `together` kind all in one root, which must hold N such
 * nodes; without, at least N such nodes anywhere and N × the cheapest
 * root's λ w). A gang together in a kind draws at least, under s, the least
 * over the domains r of its kind under s of the N smallest draws of distinct
 * eligible nodes of r that fit a member alone (its members take N distinct
 * nodes of one r) — not N × the root's least draw, which a rack of mixed
 * GPU models may not offer N times — among the sets r's headroom allows:
 * the N draws fit the headroom of r and of every domain above it, and at
 * most k_e members lie under a domain e below r (rk_in_domain); a domain
 * that allows no such set does not seat the gang. For any λ ≥ 0 the
 * Lagrangian of "watts under s ≤ H_s"
 *   B(λ) = Σ_s λ_s H_s + Σ_i max(0, max_s (v_is − λ_s w_is))
 * bounds every plan's candidates (v_is: the most ctx_value a node of s gives
 * i) and free gangs (side items not fixed nor held; term (1), as the
 * objective counts gangs): each placed i earns v ≤ (v − λ w) + λ w, and the
 * λ w sum to at most Σ λ_s H_s. λ starts at the pooled knapsack's critical
 * value per watt for every root and moves by a pattern search (each λ_s up
 * or down by a factor while B falls); at that λ, rk_priced also prices the
 * domains that the together gangs compete for, and rk_subgrad, from the best
 * of those, prices every capped domain for all the work by subgradient
 * steps. INFINITY where a node has no domain. */
typedef struct {
    int cnt, span; /* how many alike; span: a gang that may cross roots */
    int q;         /* a together gang's domains (rk_pairs), -1: none */
    double *v, *w; /* [root]; w INFINITY: not placeable under that root */
    /* A class of single-node work: its draws by node (rk_fits) and its LP
     * groups [sp, sp + nsp) of the rk_grp_t list; fw NULL: a gang. */
    const double *fw;
    int sp, nsp;
} rk_item_t;

/* An LP group where a single-node class is eligible and one fits alone, and
 * its value there (one ctx_value per group). */
typedef struct {
    int j;
    double v;
} rk_grp_t;

/* A domain that seats a together gang, its root and the gang's least draw
 * there (rk_in_domain). */
typedef struct {
    int d, s;
    double w;
} rk_pair_t;

static double rk_item(const rk_item_t *t, int nr, const double *lam)
{
    double best = 0;
    if (t->span) { /* v is the same everywhere; the cheapest root's λ w */
        double lw = INFINITY;
        for (int s = 0; s < nr; s++)
            if (isfinite(t->w[s]))
                lw = fmin(lw, lam[s] * t->w[s]);
        best = isfinite(lw) ? fmax(0, t->v[0] - lw) : 0;
    } else {
        for (int s = 0; s < nr; s++)
            if (isfinite(t->w[s]))
                best = fmax(best, t->v[s] - lam[s] * t->w[s]);
    }
    return t->cnt * best;
}

static double rk_eval(const rk_item_t *it, int ni, int nr, const double *head,
                      const double *lam)
{
    double b = 0;
    for (int s = 0; s < nr; s++)
        b += lam[s] * head[s];
    for (int i = 0; i < ni; i++)
        b += rk_item(&it[i], nr, lam);
    return b;
}

/* A member draw on a node, sorted by draw, then by node. */
typedef struct {
    double w;
    int n;
} rk_draw_t;

static int by_draw(const void *a, const void *b)
{
    const rk_draw_t *x = a, *y = b;
    return x->w != y->w ? (x->w > y->w) - (x->w < y->w) : x->n - y->n;
}

/* The least draw of `need` members in domain dom of a gang, from its
 * eligible nodes' member draws d[0..m) sorted (INFINITY: no such set). Each
 * member lies under every domain e on its node's path up to dom, and the
 * plan's draw under e stays within e's headroom; so at most k_e members lie
 * under e, k_e the longest prefix of e's sorted draws within that headroom
 * (kcap, indexed by domain; cnt all zero on entry and exit). Those caps are
 * laminar: the least-draw set within them is the greedy one, cheapest
 * first. The set must also fit the headroom of dom and of every domain
 * above it. */
static double rk_in_domain(const ctx_t *c, int dom, int need, const rk_draw_t *d, int m,
                           int *kcap, int *cnt, double *sumw)
{
    const tp_fleet_t *f = c->f;
    const tp_load_t *l = c->base;
    /* k_e: the draws come cheapest first, so e's prefix is its first ones. */
    for (int i = 0; i < m; i++)
        for (int e = f->nodes[d[i].n].domain; e >= 0 && e != dom;
             e = f->domains[e].parent)
            sumw[e] = 0, kcap[e] = 0;
    for (int i = 0; i < m; i++)
        for (int e = f->nodes[d[i].n].domain; e >= 0 && e != dom;
             e = f->domains[e].parent)
            if (kcap[e] == cnt[e] &&
                !ctx_over(l->domain_w[e] + sumw[e] + d[i].w, c->dcap[e]))
                sumw[e] += d[i].w, kcap[e]++, cnt[e]++;
            else
                cnt[e] = -1; /* the prefix ended */
    for (int i = 0; i < m; i++)
        for (int e = f->nodes[d[i].n].domain; e >= 0 && e != dom;
             e = f->domains[e].parent)
            cnt[e] = 0;
    double sum = 0;
    int took = 0;
    for (int i = 0; i < m && took < need; i++) {
        bool ok = true;
        for (int e = f->nodes[d[i].n].domain; e >= 0 && e != dom && ok;
             e = f->domains[e].parent)
            ok = cnt[e] < kcap[e];
        for (int e = f->nodes[d[i].n].domain; e >= 0 && e != dom && ok;
             e = f->domains[e].parent)
            cnt[e]++;
        if (ok)
            sum += d[i].w, took++;
    }
    for (int i = 0; i < m; i++)
        for (int e = f->nodes[d[i].n].domain; e >= 0 && e != dom;
             e = f->domains[e].parent)
            cnt[e] = 0;
    for (int e = dom; e >= 0 && took == need; e = f->domains[e].parent)
        if (ctx_over(l->domain_w[e] + sum, c->dcap[e]))
            took = 0;
    return took == need ? sum : INFINITY;
}

/* The least draw of a gang of `need` members together in a domain of slot's
 * kind, per root (INFINITY: no domain there seats it): rk_in_domain over
 * each domain of the kind. Returns false where the kind's node lists are not
 * built (gang.c builds them when a gang of the kind is tried). */
static bool rk_together(const ctx_t *c, int slot, int need, const char *elig,
                        const double *fw, const int *root, int nr, double *out,
                        rk_draw_t *buf, int *kcap, int *cnt, double *sumw,
                        rk_pair_t *pairs, int *np)
{
    const side_t *sd = &c->side;
    if (!sd->k_off || !sd->k_off[slot])
        return false;
    for (int s = 0; s < nr; s++)
        out[s] = INFINITY;
    for (int r = 0; r < sd->k_n[slot]; r++) {
        int m = 0, s = -1;
        for (int i = sd->k_off[slot][r]; i < sd->k_off[slot][r + 1]; i++) {
            int n = sd->k_mem[slot][i];
            if (elig[n] && isfinite(fw[n])) {
                buf[m++] = (rk_draw_t){fw[n], n};
                s = root[n];
            }
        }
        if (m < need)
            continue;
        qsort(buf, (size_t)m, sizeof *buf, by_draw);
        double w = rk_in_domain(c, sd->k_dom[slot][r], need, buf, m, kcap, cnt, sumw);
        out[s] = fmin(out[s], w);
        if (isfinite(w))
            pairs[(*np)++] = (rk_pair_t){sd->k_dom[slot][r], s, w};
    }
    return true;
}

typedef struct {
    double b;
    int i;
} rk_ord_t;

/* The index among the roots (domains without a parent, by id: c->dord, as
 * root_knapsack numbers them) of root d. */
static int root_ix(const ctx_t *c, int d)
{
    int s = 0;
    for (int r = 0; r < c->f->ndomains && c->dord[r] != d; r++)
        s += c->f->domains[c->dord[r]].parent < 0;
    return s;
}

static int by_ord(const void *a, const void *b)
{
    const rk_ord_t *x = a, *y = b; /* b descending, then i */
    return x->b != y->b ? (x->b < y->b) - (x->b > y->b) : x->i - y->i;
}

/* R(λ) with the together gangs priced by domain: for any ν_d ≥ 0 on "the
 * together gangs' draw under domain d ≤ H_d" (every plan keeps it: all work
 * under d does),
 *   Σ_s λ_s H_s + Σ_d ν_d H_d + Σ_i (the other items' terms of R)
 *   + Σ_g max(0, max_(g seated in r) (v_g − (λ_s + Σ_(d ⊇ r) ν_d) W_gr))
 * bounds every plan, W_gr the gang's least draw in r (rk_pairs). ν comes
 * from a greedy seating of the gangs, best reduced value first, each in its
 * best domain with room left: a gang that got less than it could in r
 * prices the lowest full domain above r at its loss per watt; B is taken
 * at that ν scaled by 1, 1/2 and 1/4. INFINITY when out of memory. */
static double rk_priced(const ctx_t *c, const rk_item_t *it, int ni, int nr,
                        const double *head, const double *lam, const rk_pair_t *pr,
                        const int *poff, const int *pcnt, double *best_b, double *best_nu)
{
    const tp_fleet_t *f = c->f;
    int nd = f->ndomains, ng = 0, npr = 0;
    double out = INFINITY, base = 0;
    for (int i = 0; i < ni; i++)
        if (it[i].q >= 0)
            npr += pcnt[it[i].q];
    rk_ord_t *ord = malloc(((size_t)ni + 1) * sizeof *ord);
    double *ach = calloc((size_t)ni + 1, sizeof *ach);
    double *rem = malloc(((size_t)nd + 1) * sizeof *rem);
    double *hd = malloc(((size_t)nd + 1) * sizeof *hd);
    double *nu = calloc((size_t)nd + 1, sizeof *nu);
    double *pn = malloc(((size_t)npr + 1) * sizeof *pn); /* Σ ν over a pair's path */
    if (!ord || !ach || !rem || !hd || !nu || !pn)
        goto done;
    for (int s = 0; s < nr; s++)
        base += lam[s] * head[s];
    for (int i = 0; i < ni; i++) {
        if (it[i].q < 0) {
            base += rk_item(&it[i], nr, lam);
            continue;
        }
        double best = 0;
        for (int k = poff[it[i].q]; k < poff[it[i].q] + pcnt[it[i].q]; k++)
            best = fmax(best, it[i].v[0] - lam[pr[k].s] * pr[k].w);
        ord[ng++] = (rk_ord_t){best, i};
    }
    qsort(ord, (size_t)ng, sizeof *ord, by_ord);
    for (int d = 0; d < nd; d++)
        rem[d] = hd[d] = fmax(0, c->dcap[d] - c->base->domain_w[d]);
    for (int o = 0; o < ng && ord[o].b > 0; o++) {
        const rk_item_t *t = &it[ord[o].i];
        int bk = -1;
        for (int k = poff[t->q]; k < poff[t->q] + pcnt[t->q]; k++) {
            double red = t->v[0] - lam[pr[k].s] * pr[k].w;
            bool room = red > ach[ord[o].i];
            for (int d = pr[k].d; d >= 0 && room; d = f->domains[d].parent)
                room = rem[d] >= pr[k].w;
            if (room)
                ach[ord[o].i] = red, bk = k;
        }
        for (int d = bk >= 0 ? pr[bk].d : -1; d >= 0; d = f->domains[d].parent)
            rem[d] -= pr[bk].w;
    }
    for (int o = 0; o < ng; o++) {
        const rk_item_t *t = &it[ord[o].i];
        for (int k = poff[t->q]; k < poff[t->q] + pcnt[t->q]; k++) {
            double loss = t->v[0] - lam[pr[k].s] * pr[k].w - ach[ord[o].i];
            int d = pr[k].d;
            while (d >= 0 && rem[d] >= pr[k].w)
                d = f->domains[d].parent;
            if (loss > 1e-9 && d >= 0)
                nu[d] = fmax(nu[d], loss / pr[k].w);
        }
    }
    for (int k = 0; k < npr; k++)
        pn[k] = 0;
    for (int i = 0, k0 = 0; i < ni; i++) /* pn by pair, in the order of the items */
        for (int k = it[i].q >= 0 ? poff[it[i].q] : 0;
             it[i].q >= 0 && k < poff[it[i].q] + pcnt[it[i].q]; k++, k0++)
            for (int d = pr[k].d; d >= 0; d = f->domains[d].parent)
                pn[k0] += nu[d];
    for (double scale = 1; scale > 0.2; scale /= 2) {
        double b = base;
        for (int r = 0; r < nd; r++) /* by id: the same rounding in any order */
            b += scale * nu[c->dord[r]] * hd[c->dord[r]];
        for (int i = 0, k0 = 0; i < ni; i++) {
            double best = 0;
            for (int k = it[i].q >= 0 ? poff[it[i].q] : 0;
                 it[i].q >= 0 && k < poff[it[i].q] + pcnt[it[i].q]; k++, k0++)
                best = fmax(best, it[i].v[0] - (lam[pr[k].s] + scale * pn[k0]) * pr[k].w);
            b += best;
        }
        out = fmin(out, b);
        if (b < *best_b) {
            *best_b = b;
            for (int d = 0; d < nd; d++)
                best_nu[d] =
                    scale * nu[d] + (f->domains[d].parent < 0 ? lam[root_ix(c, d)] : 0);
        }
    }
done:
    free(ord);
    free(ach);
    free(rem);
    free(hd);
    free(nu);
    free(pn);
    return out;
}

/* root_knapsack's draws: per (GPUs, AI model) of a workload, its watts on
 * every node where one fits alone on the base load (INFINITY elsewhere) —
 * ctx_fits reads nothing else of the workload. */
typedef struct {
    keytab_t keys;
    double **w;
    int cap;
} rk_fit_t;

static const double *rk_fits(const ctx_t *c, rk_fit_t *m, const tp_workload_t *w)
{
    int key[2] = {w->gpus, w->model}, n0 = m->keys.n;
    int id = keytab_intern(&m->keys, key, 2);
    if (id < 0)
        return NULL;
    if (id < n0)
        return m->w[id];
    if (id >= m->cap) {
        int cap = m->cap ? 2 * m->cap : 16;
        double **nw = realloc(m->w, (size_t)cap * sizeof *nw);
        if (!nw)
            return NULL;
        for (int i = m->cap; i < cap; i++)
            nw[i] = NULL;
        m->w = nw;
        m->cap = cap;
    }
    double *a = malloc(((size_t)c->f->nnodes + 1) * sizeof *a);
    if (!(m->w[id] = a))
        return NULL;
    for (int n = 0; n < c->f->nnodes; n++)
        a[n] = ctx_fits(c, c->base, w, n)
                   ? w->gpus * tp_fleet_gpu_watts(c->f, n, w->model)
                   : INFINITY;
    return a;
}

/* Subgradient descent on R(ν): ν_d ≥ 0 on "the work's draw under domain d ≤
 * H_d" for every domain d with a finite cap (a root's ν is its λ), from nu0:
 *   R(ν) = Σ_d ν_d H_d + Σ_i cnt_i max(0, best reduced value of i),
 * a class reduced by the least (Σ ν over the node's path) × draw over the
 * nodes of an LP group where one fits, a together gang by (Σ ν over the path
 * of its domain r) × W_gr, other gangs by their root's ν. Every term pays at
 * most what its work's draw pays under the domains it lies in, so any ν ≥ 0
 * bounds every plan (weak duality), as R(λ, ν) does. The step is Polyak's
 * towards RK_SG_TARGET × the best R so far, halved after RK_SG_PATIENCE
 * steps without a new best. Returns the least R seen; INFINITY when out of
 * memory. */
#define RK_SG_ITERS 60
#define RK_SG_TARGET 0.95
#define RK_SG_PATIENCE 5
static double rk_subgrad(const ctx_t *c, const rk_item_t *it, int ni, int nr,
                         const double *nu0, const rk_pair_t *pr, const int *poff,
                         const int *pcnt, const rk_grp_t *gp)
{
    const tp_fleet_t *f = c->f;
    int nd = f->ndomains, nn = f->nnodes, ng = c->ng, nk = 0, since = 0;
    double out = INFINITY, theta = 1;
    double *nu = malloc(((size_t)nd + 1) * sizeof *nu);
    double *hd = malloc(((size_t)nd + 1) * sizeof *hd); /* headroom */
    double *pd = malloc(((size_t)nd + 1) * sizeof *pd); /* Σ ν over the path */
    double *ld = malloc(((size_t)nd + 1) * sizeof *ld); /* the best terms' draw */
    double *pnode = malloc(((size_t)nn + 1) * sizeof *pnode);
    const double **fk = malloc(((size_t)ni + 1) * sizeof *fk); /* the classes' draws */
    int *ik = malloc(((size_t)ni + 1) * sizeof *ik);           /* item → fk */
    int *rd = malloc(((size_t)nr + 1) * sizeof *rd);           /* root → domain */
    double *cmin = NULL;                                       /* [fk][group] */
    int *carg = NULL;
    if (!nu || !hd || !pd || !ld || !pnode || !fk || !ik || !rd)
        goto done;
    for (int i = 0; i < ni; i++) {
        ik[i] = 0;
        while (it[i].fw && ik[i] < nk && fk[ik[i]] != it[i].fw)
            ik[i]++;
        if (it[i].fw && ik[i] == nk)
            fk[nk++] = it[i].fw;
    }
    cmin = malloc(((size_t)nk * (size_t)ng + 1) * sizeof *cmin);
    carg = malloc(((size_t)nk * (size_t)ng + 1) * sizeof *carg);
    if (!cmin || !carg)
        goto done;
    for (int d = 0; d < nd; d++) {
        hd[d] = fmax(0, c->dcap[d] - c->base->domain_w[d]);
        nu[d] = isfinite(hd[d]) ? nu0[d] : 0;
    }
    for (int r = 0, s = 0; r < nd; r++) /* the roots by id, as root_knapsack */
        if (f->domains[c->dord[r]].parent < 0)
            rd[s++] = c->dord[r];
    for (int step = 0; step < RK_SG_ITERS; step++) {
        double r = 0, g2 = 0;
        for (int o = 0; o < nd; o++) {
            int d = c->dord[o]; /* r by id: the same sum whatever the input order */
            pd[d] = ld[d] = 0;
            for (int e = d; e >= 0; e = f->domains[e].parent)
                pd[d] += nu[e];
            r += isfinite(hd[d]) ? nu[d] * hd[d] : 0;
        }
        for (int n = 0; n < nn; n++)
            pnode[n] = pd[f->nodes[n].domain];
        for (int k = 0; k < nk; k++)
            for (int j = 0; j < ng; j++) {
                size_t q = (size_t)k * (size_t)ng + (size_t)j;
                cmin[q] = INFINITY;
                carg[q] = -1;
                for (int x = c->g_off[j]; x < c->g_off[j + 1]; x++) {
                    int n = c->g_mem[x];
                    if (isfinite(fk[k][n]) && fk[k][n] * pnode[n] < cmin[q])
                        cmin[q] = fk[k][n] * pnode[n], carg[q] = n;
                }
            }
        for (int i = 0; i < ni; i++) {
            double bv = 0, bw = 0;
            int bd = -1; /* the domain under which the best term draws bw */
            if (it[i].fw) {
                for (int x = it[i].sp; x < it[i].sp + it[i].nsp; x++) {
                    size_t q = (size_t)ik[i] * (size_t)ng + (size_t)gp[x].j;
                    if (gp[x].v - cmin[q] > bv)
                        bv = gp[x].v - cmin[q], bd = f->nodes[carg[q]].domain,
                        bw = it[i].fw[carg[q]];
                }
            } else if (it[i].q >= 0) {
                for (int k = poff[it[i].q]; k < poff[it[i].q] + pcnt[it[i].q]; k++)
                    if (it[i].v[0] - pd[pr[k].d] * pr[k].w > bv)
                        bv = it[i].v[0] - pd[pr[k].d] * pr[k].w, bd = pr[k].d,
                        bw = pr[k].w;
            } else {
                for (int s = 0; s < nr; s++) {
                    double v = it[i].v[it[i].span ? 0 : s] - nu[rd[s]] * it[i].w[s];
                    if (isfinite(it[i].w[s]) && v > bv)
                        bv = v, bd = rd[s], bw = it[i].w[s];
                }
            }
            r += it[i].cnt * bv;
            for (int d = bd; d >= 0; d = f->domains[d].parent)
                ld[d] += it[i].cnt * bw;
        }
        if (r < out * (1 - 1e-6))
            since = 0;
        else if (++since >= RK_SG_PATIENCE)
            theta /= 2, since = 0;
        out = fmin(out, r);
        for (int o = 0; o < nd; o++) {
            int d = c->dord[o];
            if (isfinite(hd[d]) && (nu[d] > 0 || ld[d] > hd[d]))
                g2 += (hd[d] - ld[d]) * (hd[d] - ld[d]);
        }
        if (g2 <= 0)
            break;
        double t = theta * (r - RK_SG_TARGET * out) / g2;
        for (int d = 0; d < nd; d++)
            if (isfinite(hd[d]))
                nu[d] = fmax(0, nu[d] - t * (hd[d] - ld[d]));
    }
done:
    free(nu);
    free(hd);
    free(pd);
    free(ld);
    free(pnode);
    free(fk);
    free(ik);
    free(rd);
    free(cmin);
    free(carg);
    return out;
}

double root_knapsack(const ctx_t *c)
{
    const tp_fleet_t *f = c->f;
    const side_t *sd = &c->side;
    int nr = 0, ni = 0, nkey = 0;
    double b = INFINITY;
    rk_fit_t fm = {0};
    bool keys = keytab_init(&fm.keys, 16) == 0;
    int *root = malloc(((size_t)f->nnodes + 1) * sizeof *root);
    int *rix = malloc(((size_t)f->ndomains + 1) * sizeof *rix);
    int *key = malloc(((size_t)sd->n + 1) * sizeof *key); /* gangs' static keys */
    rk_item_t *it = calloc((size_t)c->nk + (size_t)sd->n + 1, sizeof *it);
    char *elig = malloc((size_t)f->nnodes + 1);
    double *head = NULL, *lam = NULL, *vw = NULL, *kc = NULL, *kw = NULL;
    double *tg = NULL, *sumw = malloc(((size_t)f->ndomains + 1) * sizeof *sumw);
    rk_draw_t *dbuf = malloc(((size_t)f->nnodes + 1) * sizeof *dbuf);
    int *kcap = malloc(((size_t)f->ndomains + 1) * sizeof *kcap);
    int *dcnt = calloc((size_t)f->ndomains + 1, sizeof *dcnt);
    int *tkey = NULL, ntg = 0; /* together draws per (static key, need, kind) */
    rk_pair_t *pairs = NULL;   /* each tkey's domains: [poff, poff + pcnt) */
    rk_grp_t *gp = NULL;       /* the classes' groups (rk_item_t.sp) */
    int ngp = 0, gcap = 0;
    int *poff = malloc(((size_t)sd->n + 1) * sizeof *poff), npair = 0, pcap = 0;
    int *pcnt = malloc(((size_t)sd->n + 1) * sizeof *pcnt);
    if (!keys || !root || !rix || !key || !it || !elig || !dbuf || !sumw || !kcap ||
        !dcnt || !poff || !pcnt)
        goto out;
    for (int r = 0; r < f->ndomains; r++) { /* roots by id: λ's search walks them */
        int d = c->dord[r];
        rix[d] = f->domains[d].parent < 0 ? nr++ : -1;
    }
    for (int n = 0; n < f->nnodes; n++) {
        int d = f->nodes[n].domain;
        if (d < 0)
            goto out; /* no cap above it */
        while (f->domains[d].parent >= 0)
            d = f->domains[d].parent;
        root[n] = rix[d];
    }
    head = calloc((size_t)nr + 1, sizeof *head);
    lam = calloc(2 * (size_t)nr + 1, sizeof *lam); /* [nr, 2 nr): a λ to try */
    vw = malloc(2 * ((size_t)c->nk + (size_t)sd->n + 1) * (size_t)nr * sizeof *vw);
    kc = malloc(((size_t)sd->n + 1) * ((size_t)nr + 1) * sizeof *kc);
    kw = malloc(((size_t)sd->n + 1) * ((size_t)nr + 1) * sizeof *kw);
    tg = malloc(((size_t)sd->n + 1) * ((size_t)nr + 1) * sizeof *tg);
    tkey = malloc(3 * ((size_t)sd->n + 1) * sizeof *tkey);
    if (!head || !lam || !vw || !kc || !kw || !tg || !tkey)
        goto out;
    for (int d = 0; d < f->ndomains; d++)
        if (rix[d] >= 0)
            head[rix[d]] = fmax(0, c->dcap[d] - c->base->domain_w[d]);
    for (int k = 0; k < c->nk; k++) {
        int ci = c->k_mem[c->k_off[k]];
        const double *fw = rk_fits(c, &fm, c->cw[ci]);
        rk_item_t *t = &it[ni];
        if (!fw)
            goto out;
        t->v = vw + 2 * (size_t)ni * (size_t)nr;
        t->w = t->v + nr;
        t->cnt = c->k_off[k + 1] - c->k_off[k];
        t->q = -1;
        t->fw = fw;
        t->sp = ngp;
        bool any = false;
        if (ngp + c->ng > gcap) {
            int ncap = 2 * (ngp + c->ng) + 16;
            rk_grp_t *ng2 = realloc(gp, (size_t)ncap * sizeof *ng2);
            if (!ng2)
                goto out;
            gp = ng2;
            gcap = ncap;
        }
        for (int s = 0; s < nr; s++)
            t->v[s] = 0, t->w[s] = INFINITY;
        for (int j = 0; j < c->ng; j++) {
            /* One LP node class: the same eligibility, trust and GPU model
             * throughout the group, so one ctx_value. */
            if (!ctx_static_ok(c, ci, c->g_mem[c->g_off[j]]))
                continue;
            double v = -1;
            for (int i = c->g_off[j]; i < c->g_off[j + 1]; i++) {
                int n = c->g_mem[i], s = root[n];
                if (!isfinite(fw[n]))
                    continue;
                if (v < 0)
                    gp[ngp++] = (rk_grp_t){j, v = ctx_value(c, ci, n)};
                t->v[s] = fmax(t->v[s], v);
                t->w[s] = fmin(t->w[s], fw[n]);
                any = true;
            }
        }
        t->nsp = ngp - t->sp;
        ni += any;
    }
    for (int i = 0; i < sd->n; i++) {
        const tp_workload_t *w = sd->w[i];
        int need = tp_wl_nodes(w), e = 0;
        if (need < 2 || sd->flag[i] == 2 || sd->fixed[i])
            continue;
        /* Gangs of one static key and AI model: the same nodes and draws. */
        while (e < nkey &&
               !(gang_same_static(sd->w[key[e]], w) && sd->w[key[e]]->model == w->model))
            e++;
        double *cn = kc + (size_t)e * ((size_t)nr + 1),
               *mw = kw + (size_t)e * ((size_t)nr + 1);
        if (e == nkey) {
            const double *fw = rk_fits(c, &fm, w);
            if (!fw)
                goto out;
            key[nkey++] = i;
            for (int s = 0; s <= nr; s++)
                cn[s] = 0, mw[s] = INFINITY; /* [nr]: all roots */
            /* Not on `need`: another gang of this key may need fewer. */
            if (side_static_row(c, w, elig) > 0)
                for (int n = 0; n < f->nnodes; n++)
                    if (elig[n] && isfinite(fw[n])) {
                        cn[root[n]]++;
                        cn[nr]++;
                        mw[root[n]] = fmin(mw[root[n]], fw[n]);
                    }
        }
        if (cn[nr] < need)
            continue;
        rk_item_t *t = &it[ni];
        t->v = vw + 2 * (size_t)ni * (size_t)nr;
        t->w = t->v + nr;
        t->cnt = 1;
        t->span = tp_wl_together(w) < 0;
        t->q = -1;
        t->fw = NULL;
        const double *tw = NULL; /* together: the least draw of one domain's N */
        if (!t->span) {
            int q = 0, slot = tp_wl_together(w) + 1;
            while (q < ntg && !(tkey[3 * q] == e && tkey[3 * q + 1] == need &&
                                tkey[3 * q + 2] == slot))
                q++;
            tw = tg + (size_t)q * ((size_t)nr + 1);
            if (q == ntg) {
                const double *fw = rk_fits(c, &fm, w);
                if (!fw)
                    goto out;
                side_static_row(c, w, elig);
                int more = sd->k_off && sd->k_off[slot] ? sd->k_n[slot] : 0;
                if (npair + more > pcap) {
                    int ncap = 2 * (npair + more) + 16;
                    rk_pair_t *np = realloc(pairs, (size_t)ncap * sizeof *np);
                    if (!np)
                        goto out;
                    pairs = np;
                    pcap = ncap;
                }
                poff[q] = npair;
                if (rk_together(c, slot, need, elig, fw, root, nr,
                                tg + (size_t)q * ((size_t)nr + 1), dbuf, kcap, dcnt, sumw,
                                pairs, &npair)) {
                    pcnt[q] = npair - poff[q];
                    tkey[3 * q] = e;
                    tkey[3 * q + 1] = need;
                    tkey[3 * q + 2] = slot;
                    ntg++;
                } else {
                    tw = NULL;
                }
            }
        }
        if (tw)
            t->q = (int)((tw - tg) / ((ptrdiff_t)nr + 1));
        bool any = false;
        for (int s = 0; s < nr; s++) {
            t->v[s] = (1.0 + w->priority) * w->gpus * need;
            t->w[s] = t->span || cn[s] >= need ? need * mw[s] : INFINITY;
            if (tw)
                t->w[s] = fmax(t->w[s], tw[s]);
            any |= isfinite(t->w[s]);
        }
        ni += any;
    }
    /* λ: the pooled knapsack's critical value per watt (items at their best
     * value per watt over the roots), then a pattern search. */
    {
        vw_t *q = malloc(((size_t)ni + 1) * sizeof *q);
        double H = 0, crit = 0;
        if (!q)
            goto out;
        for (int s = 0; s < nr; s++)
            H += head[s];
        for (int i = 0; i < ni; i++) {
            double v = 0, wm = INFINITY;
            for (int s = 0; s < nr; s++)
                if (isfinite(it[i].w[s]))
                    v = fmax(v, it[i].v[s]), wm = fmin(wm, it[i].w[s]);
            q[i] = (vw_t){v * it[i].cnt, wm * it[i].cnt};
        }
        qsort(q, (size_t)ni, sizeof *q, by_vw);
        for (int i = 0; i < ni && H > 0; i++) {
            if (q[i].w <= 0)
                continue;
            crit = q[i].v / q[i].w;
            H -= q[i].w;
        }
        free(q);
        for (int s = 0; s < nr; s++)
            lam[s] = H > 0 ? 0 : crit;
    }
    b = rk_eval(it, ni, nr, head, lam);
    for (double step = 0.5; step > 1e-3 && nr > 1 && nr <= 64; step /= 2) {
        bool moved = true;
        for (int sweep = 0; sweep < 20 && moved; sweep++) {
            moved = false;
            for (int s = 0; s < nr; s++)
                for (int dir = -1; dir <= 1; dir += 2) {
                    double keep = lam[s];
                    lam[s] = keep * (1 + dir * step);
                    double nb = rk_eval(it, ni, nr, head, lam);
                    if (nb < b - 1e-9) {
                        b = nb;
                        moved = true;
                    } else {
                        lam[s] = keep;
                    }
                }
        }
    }
    /* Priced, at the knapsack's λ and at it scaled alike for every root
     * (the pricing moves the best λ; any λ is valid). */
    double pb = b, *pnu = calloc((size_t)f->ndomains + 1, sizeof *pnu);
    if (!pnu)
        goto out;
    for (int d = 0; d < f->ndomains; d++)
        pnu[d] = rix[d] >= 0 ? lam[rix[d]] : 0;
    for (int k = 0; k < 5; k++) {
        static const double scale[] = {1, 0.9, 0.95, 1.05, 1.1};
        for (int s = 0; s < nr; s++)
            lam[nr + s] = lam[s] * scale[k];
        b = fmin(b,
                 rk_priced(c, it, ni, nr, head, lam + nr, pairs, poff, pcnt, &pb, pnu));
    }
    b = fmin(b, rk_subgrad(c, it, ni, nr, pnu, pairs, poff, pcnt, gp));
    free(pnu);
out:
    for (int id = 0; keys && id < fm.keys.n && id < fm.cap; id++)
        free(fm.w[id]);
    if (keys)
        keytab_fini(&fm.keys);
    free(fm.w);
    free(root);
    free(rix);
    free(key);
    free(it);
    free(elig);
    free(head);
    free(lam);
    free(vw);
    free(kc);
    free(kw);
    free(tg);
    free(tkey);
    free(dbuf);
    free(sumw);
    free(kcap);
    free(dcnt);
    free(pairs);
    free(gp);
    free(poff);
    free(pcnt);
    return b;
}
