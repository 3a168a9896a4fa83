/*
 * solver/bound_root.c — root_knapsack(): the Lagrangian bound over the root
 * domains' watts, with each gang's least draw in a domain of its `together`
 * kind, those domains priced where the gangs compete for them, then every
 * capped domain priced for all the work by subgradient steps and then by
 * cutting planes (column generation on R(ν)'s LP, GLPK) from their columns,
 * continued with the together gangs' columns on their member nodes
 * (docs/solver.md, The bound). solver.c assembles it with the other
 * bounds.
 */
#include "solver/solver_internal.h"

#include <glpk.h>
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
 * steps, rk_cuts by an LP on their columns. INFINITY where a node has no
 * domain. */
typedef struct {
    int cnt, span; /* how many alike; span: a gang that may cross roots */
    int q;         /* a together gang's domains (rk_pairs), -1: none */
    double *v, *w; /* [root]; w INFINITY: not placeable under that root */
    /* A class of single-node work: its draws by node (rk_fits) and its LP
     * groups [sp, sp + nsp) of the rk_grp_t list; fw NULL: a gang. */
    const double *fw;
    int sp, nsp;
    int side; /* a gang's side item (gang_round.c); -1: a class */
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

/* rk_in_domain's caps: kcap[e] = k_e for every domain e between a node of
 * d[0..m) (sorted by draw) and dom (cnt all zero on entry and exit). */
static void rk_caps(const ctx_t *c, int dom, const rk_draw_t *d, int m, int *kcap,
                    int *cnt, double *sumw)
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
    rk_caps(c, dom, d, m, kcap, cnt, sumw);
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

/* R(ν) of rk_subgrad and rk_cuts: ν_d ≥ 0 on "the work's draw under domain d
 * ≤ H_d" for every domain d with a finite cap (a root's ν is its λ):
 *   R(ν) = Σ_d ν_d H_d + Σ_i cnt_i max(0, best reduced value of i),
 * a class reduced by the least (Σ ν over the node's path) × draw over the
 * nodes of an LP group where one fits, a together gang by (Σ ν over the path
 * of its domain r) × W_gr, other gangs by their root's ν. Every term pays at
 * most what its work's draw pays under the domains it lies in, so any ν ≥ 0
 * bounds every plan (weak duality), as R(λ, ν) does. */
typedef struct {
    int dom;     /* the domain under which the column draws (-1: none) */
    double v, w; /* its value and draw */
} rk_col_t;

typedef struct {
    const ctx_t *c;
    const rk_item_t *it;
    const rk_pair_t *pr;
    const int *poff, *pcnt;
    const rk_grp_t *gp;
    int ni, nr, nk;
    double *hd;    /* headroom */
    double *pd;    /* Σ ν over the path */
    double *ld;    /* the best terms' draw */
    double *pnode; /* pd by node */
    const double **fk;
    int *ik;      /* item → fk */
    int *rd;      /* root → domain */
    double *cmin; /* [fk][group] */
    int *carg;
    rk_col_t *bc; /* [ni]: each item's best column at the last ν (dom -1: none) */
    double *bv;   /* [ni]: its reduced value (0: none) */
} rk_nu_t;

static void rk_nu_free(rk_nu_t *s)
{
    free(s->hd);
    free(s->pd);
    free(s->ld);
    free(s->pnode);
    free(s->fk);
    free(s->ik);
    free(s->rd);
    free(s->cmin);
    free(s->carg);
    free(s->bc);
    free(s->bv);
}

static int rk_nu_init(rk_nu_t *s)
{
    const tp_fleet_t *f = s->c->f;
    int nd = f->ndomains, nn = f->nnodes, ni = s->ni;
    s->hd = malloc(((size_t)nd + 1) * sizeof *s->hd);
    s->pd = malloc(((size_t)nd + 1) * sizeof *s->pd);
    s->ld = malloc(((size_t)nd + 1) * sizeof *s->ld);
    s->pnode = malloc(((size_t)nn + 1) * sizeof *s->pnode);
    s->fk = malloc(((size_t)ni + 1) * sizeof *s->fk);
    s->ik = malloc(((size_t)ni + 1) * sizeof *s->ik);
    s->rd = malloc(((size_t)s->nr + 1) * sizeof *s->rd);
    s->bc = malloc(((size_t)ni + 1) * sizeof *s->bc);
    s->bv = malloc(((size_t)ni + 1) * sizeof *s->bv);
    if (!s->hd || !s->pd || !s->ld || !s->pnode || !s->fk || !s->ik || !s->rd || !s->bc ||
        !s->bv)
        return -1;
    s->nk = 0;
    for (int i = 0; i < ni; i++) {
        s->ik[i] = 0;
        while (s->it[i].fw && s->ik[i] < s->nk && s->fk[s->ik[i]] != s->it[i].fw)
            s->ik[i]++;
        if (s->it[i].fw && s->ik[i] == s->nk)
            s->fk[s->nk++] = s->it[i].fw;
    }
    size_t nq = (size_t)s->nk * (size_t)s->c->ng + 1;
    s->cmin = malloc(nq * sizeof *s->cmin);
    s->carg = malloc(nq * sizeof *s->carg);
    if (!s->cmin || !s->carg)
        return -1;
    for (int d = 0; d < nd; d++)
        s->hd[d] = fmax(0, s->c->dcap[d] - s->c->base->domain_w[d]);
    for (int r = 0, k = 0; r < nd; r++) /* the roots by id, as root_knapsack */
        if (f->domains[s->c->dord[r]].parent < 0)
            s->rd[k++] = s->c->dord[r];
    return 0;
}

/* R(ν) (ν 0 where the headroom is infinite); fills ld and bc. */
static double rk_nu_eval(rk_nu_t *s, const double *nu)
{
    const ctx_t *c = s->c;
    const tp_fleet_t *f = c->f;
    const rk_item_t *it = s->it;
    int nd = f->ndomains, ng = c->ng;
    double r = 0;
    for (int o = 0; o < nd; o++) {
        int d = c->dord[o]; /* r by id: the same sum whatever the input order */
        s->pd[d] = s->ld[d] = 0;
        for (int e = d; e >= 0; e = f->domains[e].parent)
            s->pd[d] += nu[e];
        r += isfinite(s->hd[d]) ? nu[d] * s->hd[d] : 0;
    }
    for (int n = 0; n < f->nnodes; n++)
        s->pnode[n] = s->pd[f->nodes[n].domain];
    for (int k = 0; k < s->nk; k++)
        for (int j = 0; j < ng; j++) {
            size_t q = (size_t)k * (size_t)ng + (size_t)j;
            s->cmin[q] = INFINITY;
            s->carg[q] = -1;
            for (int x = c->g_off[j]; x < c->g_off[j + 1]; x++) {
                int n = c->g_mem[x];
                if (isfinite(s->fk[k][n]) && s->fk[k][n] * s->pnode[n] < s->cmin[q])
                    s->cmin[q] = s->fk[k][n] * s->pnode[n], s->carg[q] = n;
            }
        }
    for (int i = 0; i < s->ni; i++) {
        double bv = 0;
        rk_col_t b = {-1, 0, 0}; /* the best term's column */
        if (it[i].fw) {
            for (int x = it[i].sp; x < it[i].sp + it[i].nsp; x++) {
                size_t q = (size_t)s->ik[i] * (size_t)ng + (size_t)s->gp[x].j;
                if (s->gp[x].v - s->cmin[q] > bv)
                    bv = s->gp[x].v - s->cmin[q],
                    b = (rk_col_t){f->nodes[s->carg[q]].domain, s->gp[x].v,
                                   it[i].fw[s->carg[q]]};
            }
        } else if (it[i].q >= 0) {
            const rk_pair_t *pr = s->pr;
            for (int k = s->poff[it[i].q]; k < s->poff[it[i].q] + s->pcnt[it[i].q]; k++)
                if (it[i].v[0] - s->pd[pr[k].d] * pr[k].w > bv)
                    bv = it[i].v[0] - s->pd[pr[k].d] * pr[k].w,
                    b = (rk_col_t){pr[k].d, it[i].v[0], pr[k].w};
        } else {
            for (int k = 0; k < s->nr; k++) {
                double v = it[i].v[it[i].span ? 0 : k] - nu[s->rd[k]] * it[i].w[k];
                if (isfinite(it[i].w[k]) && v > bv)
                    bv = v,
                    b = (rk_col_t){s->rd[k], it[i].v[it[i].span ? 0 : k], it[i].w[k]};
            }
        }
        r += it[i].cnt * bv;
        s->bc[i] = b;
        s->bv[i] = bv;
        for (int d = b.dom; d >= 0; d = f->domains[d].parent)
            s->ld[d] += it[i].cnt * b.w;
    }
    return r;
}

/* The columns rk_subgrad's steps found best (each item's at each ν, alike
 * ones once): rk_cuts' first LP. */
typedef struct {
    rk_col_t *col;
    int *item, *next, *head; /* head [ni]: an item's columns, linked by next */
    int n, cap;
} rk_pool_t;

/* Adds column b of item i unless the pool has it: 1 added, 0 had, -1 out
 * of memory. */
static int rk_pool_add(rk_pool_t *p, int i, rk_col_t b)
{
    for (int k = p->head[i]; k >= 0; k = p->next[k])
        if (p->col[k].dom == b.dom && p->col[k].v == b.v && p->col[k].w == b.w)
            return 0;
    if (p->n == p->cap) {
        int cap = 2 * p->cap + 64;
        rk_col_t *nc = realloc(p->col, (size_t)cap * sizeof *nc);
        if (nc)
            p->col = nc;
        int *ni = realloc(p->item, (size_t)cap * sizeof *ni);
        if (ni)
            p->item = ni;
        int *nx = realloc(p->next, (size_t)cap * sizeof *nx);
        if (nx)
            p->next = nx;
        if (!nc || !ni || !nx)
            return -1;
        p->cap = cap;
    }
    p->col[p->n] = b;
    p->item[p->n] = i;
    p->next[p->n] = p->head[i];
    p->head[i] = p->n++;
    return 1;
}

/* Subgradient descent on R(ν) from nu0. The step is Polyak's towards
 * RK_SG_TARGET × the best R so far, halved after RK_SG_PATIENCE steps
 * without a new best. Returns the least R seen (INFINITY when out of
 * memory); each step's best columns go to pool (when not NULL). */
#define RK_SG_ITERS 60
#define RK_SG_TARGET 0.95
#define RK_SG_PATIENCE 5
static double rk_subgrad(rk_nu_t *s, const double *nu0, rk_pool_t *pool)
{
    const tp_fleet_t *f = s->c->f;
    int nd = f->ndomains, since = 0;
    double out = INFINITY, theta = 1;
    double *nu = malloc(((size_t)nd + 1) * sizeof *nu);
    if (!nu)
        return INFINITY;
    for (int d = 0; d < nd; d++)
        nu[d] = isfinite(s->hd[d]) ? nu0[d] : 0;
    for (int step = 0; step < RK_SG_ITERS; step++) {
        double r = rk_nu_eval(s, nu), g2 = 0;
        for (int i = 0; pool && i < s->ni; i++)
            if (s->bc[i].dom >= 0 && rk_pool_add(pool, i, s->bc[i]) < 0)
                pool = NULL; /* out of memory: no more columns */
        if (r < out * (1 - 1e-6))
            since = 0;
        else if (++since >= RK_SG_PATIENCE)
            theta /= 2, since = 0;
        out = fmin(out, r);
        for (int o = 0; o < nd; o++) {
            int d = s->c->dord[o];
            if (isfinite(s->hd[d]) && (nu[d] > 0 || s->ld[d] > s->hd[d]))
                g2 += (s->hd[d] - s->ld[d]) * (s->hd[d] - s->ld[d]);
        }
        if (g2 <= 0)
            break;
        double t = theta * (r - RK_SG_TARGET * out) / g2;
        for (int d = 0; d < nd; d++)
            if (isfinite(s->hd[d]))
                nu[d] = fmax(0, nu[d] - t * (s->hd[d] - s->ld[d]));
    }
    free(nu);
    return out;
}

/* Kelley's cutting planes on R(ν), warm from rk_subgrad: R(ν) is the dual
 * of the LP
 *   max Σ v_c x_c   Σ_(c of i) x_c ≤ cnt_i,   Σ_(c under d) w_c x_c ≤ H_d,   x ≥ 0
 * over every column c (an item at a node of one of its groups, a together
 * gang in a domain that seats it, another gang under a root). Solved on the
 * pool's columns, its row duals on the domains are a ν ≥ 0; R at that ν,
 * computed over every column by rk_nu_eval, bounds every plan whatever the
 * LP's columns, status or accuracy (rk_subgrad's argument: any ν ≥ 0). Each
 * item's best column there that prices out positive joins the LP, which is
 * solved again, warm: column generation, RK_CUT_ROUNDS rounds and
 * RK_CUT_ITERS simplex iterations at most (budgets, never the clock). */
double *tp_solver_rk_probe, *tp_solver_rk_node_probe;

#define RK_CUT_ROUNDS 8
#define RK_CUT_ITERS 2000

/* The together gangs' keys (root_knapsack's tkey: static key, need, kind
 * slot), one gang of each (side index) and its member draws by node. */
typedef struct {
    int ntg;
    const int *tkey, *tgi;
    const double *const *tfw;
} rk_gkeys_t;

typedef struct {
    rk_nu_t *s;
    rk_pool_t *pool;
    int *drow; /* [domain]: its row (0: none, the headroom is infinite) */
    int *ind;
    double *val, *nu;
    double out;           /* the least R(ν) seen */
    const rk_gkeys_t *gk; /* rk_node_run's gangs (NULL: none) */
    double node_out;      /* the least L(ν) seen (rk_node_run) */
} rk_cut_t;

static void rk_cut_col(glp_prob *P, const rk_cut_t *a, int i, rk_col_t b)
{
    const tp_fleet_t *f = a->s->c->f;
    int len = 0, j = glp_add_cols(P, 1);
    a->ind[++len] = i + 1, a->val[len] = 1;
    for (int e = b.dom; e >= 0; e = f->domains[e].parent)
        if (a->drow[e] && b.w != 0)
            a->ind[++len] = a->drow[e], a->val[len] = b.w;
    glp_set_col_bnds(P, j, GLP_LO, 0, 0);
    glp_set_obj_coef(P, j, b.v);
    glp_set_mat_col(P, j, len, a->ind, a->val);
}

/* P's columns (the pool's, in its order) to gang_round_take. */
static void rk_round(const rk_nu_t *s, const rk_pool_t *pool, glp_prob *P)
{
    int n = pool->n;
    int *a = malloc(((size_t)n + (size_t)s->ni + 1) * sizeof *a);
    if (!a)
        return;
    for (int k = 0; k < n; k++)
        a[k] = pool->col[k].dom;
    for (int i = 0; i < s->ni; i++)
        a[n + i] = s->it[i].side;
    gang_round_take(s->c, P, &(gang_round_lp_t){n, pool->item, a, a + n});
    free(a);
}

/* One simplex of rk_cuts' rounds, its iterations counted in *used and
 * cut at budget, then the domain rows' duals into a->nu; false on a GLPK
 * error. */
static bool rk_cut_solve(glp_prob *P, rk_cut_t *a, int budget, int *used)
{
    int nd = a->s->c->f->ndomains;
    glp_smcp sm;
    glp_init_smcp(&sm);
    sm.msg_lev = GLP_MSG_OFF;
    sm.presolve = GLP_OFF;
    sm.it_lim = budget - *used;
    int before = glp_get_it_cnt(P);
    int rc = glp_simplex(P, &sm);
    *used += glp_get_it_cnt(P) - before;
    if (rc != 0 && rc != GLP_EITLIM)
        return false;
    for (int d = 0; d < nd; d++) {
        a->nu[d] = a->drow[d] ? fmax(0, glp_get_row_dual(P, a->drow[d])) : 0;
        if (!isfinite(a->nu[d]))
            a->nu[d] = 0;
    }
    return true;
}

/* Item i's best column at the last ν (s->bc) joins the pool and P when it
 * prices out against its row's dual u: 1 added, 0 not, -1 out of memory. */
static int rk_cut_price(glp_prob *P, rk_cut_t *a, int i, double u)
{
    rk_col_t b = a->s->bc[i];
    if (b.dom < 0 || !(b.v - a->s->pd[b.dom] * b.w > u + 1e-9 * (1 + fabs(b.v))))
        return 0;
    int got = rk_pool_add(a->pool, i, b);
    if (got > 0)
        rk_cut_col(P, a, i, b);
    return got;
}

/* Node-level continuation of rk_cuts (docs/solver.md, The bound). R's LP
 * gives a together gang in domain r one column drawing W_gr under r and
 * above it, none under r: it lets a gang's members take the least-draw
 * racks of r whatever the single-node work wants there. Here a together
 * gang's column is (gang, domain r, member nodes S): N distinct eligible
 * nodes of r that fit a member alone, at most k_e under every domain e
 * below r (rk_in_domain's caps), drawing Σ_(n ∈ S under d) w_n under every
 * domain d. Every plan's gang is one of these columns (they are more: S
 * need not fit r's headroom here), so for any ν ≥ 0
 *   L(ν) = Σ_d ν_d H_d + Σ_i cnt_i max(0, best reduced value of i),
 * a together gang reduced by min over its domains r and sets S of
 * Σ_(n ∈ S) (Σ ν over n's path) w_n, the other items as in R(ν), bounds
 * every plan (weak duality, as R). The least S of r is the greedy one,
 * cheapest node first within the caps (laminar caps: a matroid), exact.
 * L(ν) ≤ R(ν): a node's path holds r's, and S draws at least W_gr. The LP that L is the
 * dual of is R's with the node-level gang columns instead of R's; rk_node_run solves it
 * warm from R's last basis, generating columns, and reports L at its duals, never the
 * LP's value. */

typedef struct {
    double cost;
    int rank, n;
} rk_ncost_t;

/* The pairs' nodes by cell: a cell is a (gang key, kind, domain) that the
 * pairs of every tkey of that key and kind (root_knapsack's static key e
 * and slot: the same eligible nodes, draws and caps, only the need
 * differs) share, so the greedy runs once per cell, as far as the key's
 * largest need, and each tkey takes its prefix. */
typedef struct {
    rk_nu_t *s;
    const rk_gkeys_t *gk;
    int ncell;
    int *cellk;          /* [pair]: its cell */
    int *cb, *ce, *node; /* cell c's nodes: node[cb[c] .. ce[c]) */
    int *cgrp, *cso;     /* its group (key and kind); seq/pre offset */
    int *cdom, *cq;      /* its domain; a tkey of its group */
    int *ctook;          /* how many its greedy took at the last ν */
    int *seq;            /* [cso[c] ..]: the nodes it took, in order */
    double *pre;         /* [cso[c] + j - 1]: their first j's cost */
    int *grp, *gmx;      /* [q]: its group; [group]: the largest need */
    int *kc;             /* [group × nd + e]: k_e below its cells' domains */
    int *cnt;            /* [nd], zero between uses */
    rk_ncost_t *buf;     /* [nn] */
    double *gc;          /* [q]: its least cost (INFINITY: no pair seats it) */
    int *gcell;          /* [q]: that cost's cell */
    double *acc;         /* [nd]: a column's draw by domain, zero between uses */
    char *mk;            /* [nd]: acc's domains, zero between uses */
    int *touch;          /* [nd] */
} rk_node_t;

static void rk_node_free(rk_node_t *t)
{
    free(t->cellk);
    free(t->cb);
    free(t->ce);
    free(t->node);
    free(t->cgrp);
    free(t->cso);
    free(t->cdom);
    free(t->cq);
    free(t->ctook);
    free(t->seq);
    free(t->pre);
    free(t->grp);
    free(t->gmx);
    free(t->kc);
    free(t->cnt);
    free(t->buf);
    free(t->gc);
    free(t->gcell);
    free(t->acc);
    free(t->mk);
    free(t->touch);
}

/* The cells: their nodes, as rk_together took them, and caps. */
static int rk_node_init(rk_node_t *t)
{
    const ctx_t *c = t->s->c;
    const tp_fleet_t *f = c->f;
    const side_t *sd = &c->side;
    const rk_gkeys_t *g = t->gk;
    const rk_pair_t *pr = t->s->pr;
    const int *poff = t->s->poff, *pcnt = t->s->pcnt, *tk = g->tkey;
    int nd = f->ndomains, nn = f->nnodes, ntg = g->ntg, np = 0, ng = 0;
    for (int q = 0; q < ntg; q++)
        np = poff[q] + pcnt[q] > np ? poff[q] + pcnt[q] : np;
    t->grp = malloc(((size_t)ntg + 1) * sizeof *t->grp);
    t->gmx = malloc(((size_t)ntg + 1) * sizeof *t->gmx);
    t->cellk = malloc(((size_t)np + 1) * sizeof *t->cellk);
    int *dcell = malloc(((size_t)nd + 1) * sizeof *dcell);
    if (!t->grp || !t->gmx || !t->cellk || !dcell) {
        free(dcell);
        return -1;
    }
    for (int q = 0; q < ntg; q++) {
        int p = 0;
        while (p < q && !(tk[3 * p] == tk[3 * q] && tk[3 * p + 2] == tk[3 * q + 2]))
            p++;
        t->grp[q] = p < q ? t->grp[p] : ng++;
        t->gmx[t->grp[q]] = p < q && t->gmx[t->grp[q]] > tk[3 * q + 1] ? t->gmx[t->grp[q]]
                                                                       : tk[3 * q + 1];
    }
    /* Cells by group, then by first pair: their domains and sizes. */
    int ncell = 0, tot = 0, sq = 0;
    for (int d = 0; d < nd; d++)
        dcell[d] = -1;
    for (int gi = 0; gi < ng; gi++) {
        for (int q = 0; q < ntg; q++)
            for (int k = poff[q]; t->grp[q] == gi && k < poff[q] + pcnt[q]; k++)
                if (dcell[pr[k].d] < 0)
                    dcell[pr[k].d] = ncell++;
        for (int q = 0; q < ntg; q++)
            for (int k = poff[q]; t->grp[q] == gi && k < poff[q] + pcnt[q]; k++)
                t->cellk[k] = dcell[pr[k].d];
        for (int q = 0; q < ntg; q++)
            for (int k = poff[q]; t->grp[q] == gi && k < poff[q] + pcnt[q]; k++)
                dcell[pr[k].d] = -1;
    }
    free(dcell);
    t->ncell = ncell;
    t->cb = malloc(((size_t)ncell + 1) * sizeof *t->cb);
    t->ce = calloc((size_t)ncell + 1, sizeof *t->ce); /* 0: not yet built */
    t->cgrp = malloc(((size_t)ncell + 1) * sizeof *t->cgrp);
    t->cso = malloc(((size_t)ncell + 1) * sizeof *t->cso);
    t->cdom = malloc(((size_t)ncell + 1) * sizeof *t->cdom);
    t->cq = malloc(((size_t)ncell + 1) * sizeof *t->cq);
    t->ctook = malloc(((size_t)ncell + 1) * sizeof *t->ctook);
    t->kc = malloc(((size_t)ng * (size_t)nd + 1) * sizeof *t->kc);
    t->cnt = calloc((size_t)nd + 1, sizeof *t->cnt);
    t->buf = malloc(((size_t)nn + 1) * sizeof *t->buf);
    t->gc = malloc(((size_t)ntg + 1) * sizeof *t->gc);
    t->gcell = malloc(((size_t)ntg + 1) * sizeof *t->gcell);
    t->acc = calloc((size_t)nd + 1, sizeof *t->acc);
    t->touch = malloc(((size_t)nd + 1) * sizeof *t->touch);
    t->mk = calloc((size_t)nd + 1, 1);
    char *elig = malloc((size_t)nn + 1), *done = calloc((size_t)ncell + 1, 1);
    rk_draw_t *d = malloc(((size_t)nn + 1) * sizeof *d);
    int *kcap = malloc(((size_t)nd + 1) * sizeof *kcap);
    double *sumw = malloc(((size_t)nd + 1) * sizeof *sumw);
    int ok = t->cb && t->ce && t->cgrp && t->cso && t->cdom && t->cq && t->ctook &&
             t->kc && t->cnt && t->buf && t->gc && t->gcell && t->acc && t->touch &&
             t->mk && elig && done && d && kcap && sumw;
    for (int q = 0; ok && q < ntg; q++) /* the cells' sizes */
        for (int r = 0, k = poff[q], slot = tk[3 * q + 2]; r < sd->k_n[slot]; r++)
            if (k < poff[q] + pcnt[q] && pr[k].d == sd->k_dom[slot][r]) {
                int x = t->cellk[k++];
                if (!done[x]) {
                    done[x] = 1;
                    tot += sd->k_off[slot][r + 1] - sd->k_off[slot][r];
                    t->cgrp[x] = t->grp[q];
                    t->cdom[x] = sd->k_dom[slot][r];
                    t->cq[x] = q;
                    t->cso[x] = sq;
                    sq += t->gmx[t->grp[q]];
                }
            }
    t->node = ok ? malloc(((size_t)tot + 1) * sizeof *t->node) : NULL;
    t->seq = ok ? malloc(((size_t)sq + 1) * sizeof *t->seq) : NULL;
    t->pre = ok ? malloc(((size_t)sq + 1) * sizeof *t->pre) : NULL;
    ok = ok && t->node && t->seq && t->pre;
    for (int q = 0, at = 0; ok && q < ntg; q++) {
        int slot = tk[3 * q + 2];
        const double *fw = g->tfw[q];
        bool any = false;
        for (int k = poff[q]; k < poff[q] + pcnt[q]; k++)
            any |= t->ce[t->cellk[k]] == 0;
        if (!any)
            continue;
        side_static_row(c, sd->w[g->tgi[q]], elig);
        for (int r = 0, k = poff[q]; r < sd->k_n[slot]; r++) {
            if (!(k < poff[q] + pcnt[q] && pr[k].d == sd->k_dom[slot][r]))
                continue;
            int x = t->cellk[k], dom = pr[k++].d, m = 0;
            if (t->ce[x])
                continue;
            t->cb[x] = at;
            for (int y = sd->k_off[slot][r]; y < sd->k_off[slot][r + 1]; y++) {
                int n = sd->k_mem[slot][y];
                if (elig[n] && isfinite(fw[n]))
                    t->node[at++] = n, d[m++] = (rk_draw_t){fw[n], n};
            }
            t->ce[x] = at;
            qsort(d, (size_t)m, sizeof *d, by_draw);
            rk_caps(c, dom, d, m, kcap, t->cnt, sumw);
            for (int y = 0; y < m; y++)
                for (int e = f->nodes[d[y].n].domain; e >= 0 && e != dom;
                     e = f->domains[e].parent)
                    t->kc[(size_t)t->grp[q] * (size_t)nd + (size_t)e] = kcap[e];
        }
    }
    free(elig);
    free(done);
    free(d);
    free(kcap);
    free(sumw);
    return ok ? 0 : -1;
}

static bool ncost_less(const rk_ncost_t *x, const rk_ncost_t *y)
{
    return x->cost < y->cost || (x->cost == y->cost && x->rank < y->rank);
}

/* Restores the min-heap h[0..m) below position i. */
static void ncost_sift(rk_ncost_t *h, int m, int i)
{
    for (;;) {
        int l = 2 * i + 1, b = i;
        if (l < m && ncost_less(&h[l], &h[b]))
            b = l;
        if (l + 1 < m && ncost_less(&h[l + 1], &h[b]))
            b = l + 1;
        if (b == i)
            return;
        rk_ncost_t x = h[i];
        h[i] = h[b], h[b] = x, i = b;
    }
}

/* Cell x's greedy at s->pnode: its nodes off a heap, cheapest (Σ ν over
 * the path) × draw first, then by rank, each taken within the caps, as
 * far as its group's largest need; the least set of j members is the
 * first j taken (a matroid's greedy), of cost pre[cso + j - 1]. */
static void rk_node_cell(rk_node_t *t, int x)
{
    const ctx_t *c = t->s->c;
    const tp_fleet_t *f = c->f;
    const double *fw = t->gk->tfw[t->cq[x]];
    const int *kc = t->kc + (size_t)t->cgrp[x] * (size_t)f->ndomains;
    int want = t->gmx[t->cgrp[x]], m = 0, took = 0, *out = t->seq + t->cso[x];
    int dom = t->cdom[x];
    double sum = 0, *pre = t->pre + t->cso[x];
    rk_ncost_t *h = t->buf;
    for (int y = t->cb[x]; y < t->ce[x]; y++) {
        int n = t->node[y];
        h[m++] = (rk_ncost_t){fw[n] * t->s->pnode[n], c->nrank[n], n};
    }
    for (int y = m / 2 - 1; y >= 0; y--)
        ncost_sift(h, m, y);
    while (m > 0 && took < want) {
        rk_ncost_t b = h[0];
        h[0] = h[--m];
        ncost_sift(h, m, 0);
        bool ok = true;
        for (int e = f->nodes[b.n].domain; e >= 0 && e != dom && ok;
             e = f->domains[e].parent)
            ok = t->cnt[e] < kc[e];
        if (!ok)
            continue;
        for (int e = f->nodes[b.n].domain; e >= 0 && e != dom; e = f->domains[e].parent)
            t->cnt[e]++;
        sum += b.cost;
        pre[took] = sum;
        out[took++] = b.n;
    }
    for (int y = 0; y < took; y++)
        for (int e = f->nodes[out[y]].domain; e >= 0 && e != dom;
             e = f->domains[e].parent)
            t->cnt[e] = 0;
    t->ctook[x] = took;
}

/* L(ν) (ν 0 where the headroom is infinite): rk_nu_eval for the other
 * items' terms; every cell's greedy, each tkey's least cost and cell. */
static double rk_node_eval(rk_node_t *t, const double *nu)
{
    rk_nu_t *s = t->s;
    const ctx_t *c = s->c;
    int nd = c->f->ndomains;
    double r = 0;
    rk_nu_eval(s, nu);
    for (int x = 0; x < t->ncell; x++)
        rk_node_cell(t, x);
    for (int q = 0; q < t->gk->ntg; q++) {
        int need = t->gk->tkey[3 * q + 1];
        t->gc[q] = INFINITY;
        t->gcell[q] = -1;
        for (int k = s->poff[q]; k < s->poff[q] + s->pcnt[q]; k++) {
            int x = t->cellk[k];
            if (t->ctook[x] >= need && t->pre[t->cso[x] + need - 1] < t->gc[q])
                t->gc[q] = t->pre[t->cso[x] + need - 1], t->gcell[q] = x;
        }
    }
    for (int o = 0; o < nd; o++) { /* as rk_nu_eval: by id */
        int d = c->dord[o];
        r += isfinite(s->hd[d]) ? s->hd[d] * nu[d] : 0;
    }
    for (int i = 0; i < s->ni; i++) {
        double bv = s->bv[i];
        if (!s->it[i].fw && s->it[i].q >= 0)
            bv = fmax(0, s->it[i].v[0] - t->gc[s->it[i].q]);
        r += s->it[i].cnt * bv;
    }
    return r;
}

/* Adds gang item i's column on the first `need` nodes cell x took: its
 * draw under every domain with a row, the rows in order. */
static void rk_node_col(glp_prob *P, rk_node_t *t, const int *drow, int *ind, double *val,
                        int i, int x)
{
    const tp_fleet_t *f = t->s->c->f;
    const double *fw = t->gk->tfw[t->s->it[i].q];
    const int *set = t->seq + t->cso[x];
    int nt = 0, len = 0, need = t->gk->tkey[3 * t->s->it[i].q + 1];
    for (int y = 0; y < need; y++)
        for (int e = f->nodes[set[y]].domain; e >= 0; e = f->domains[e].parent) {
            if (!drow[e])
                continue;
            if (!t->mk[e]) {
                int z = nt++; /* insertion by row */
                while (z > 0 && drow[t->touch[z - 1]] > drow[e])
                    t->touch[z] = t->touch[z - 1], z--;
                t->touch[z] = e;
                t->mk[e] = 1;
            }
            t->acc[e] += fw[set[y]];
        }
    ind[++len] = i + 1, val[len] = 1;
    for (int z = 0; z < nt; z++) {
        int e = t->touch[z];
        if (t->acc[e] != 0)
            ind[++len] = drow[e], val[len] = t->acc[e];
        t->acc[e] = 0, t->mk[e] = 0;
    }
    int j = glp_add_cols(P, 1);
    glp_set_col_bnds(P, j, GLP_LO, 0, 0);
    glp_set_obj_coef(P, j, t->s->it[i].v[0]);
    glp_set_mat_col(P, j, len, ind, val);
}

#define RK_NODE_ROUNDS 8
#define RK_NODE_ITERS 2000

/* rk_cuts' second part, on its LP P at R's last basis: R's together-gang
 * columns fixed at 0, node-level ones generated as rk_cut_run does R's;
 * the least L(ν) at the duals (R's last ones first) into a->node_out.
 * RK_NODE_ROUNDS rounds and RK_NODE_ITERS simplex iterations at most. */
static void rk_node_run(glp_prob *P, rk_cut_t *a)
{
    rk_nu_t *s = a->s;
    rk_node_t t = {.s = s, .gk = a->gk};
    int ni = s->ni, used = 0, ncol = glp_get_num_cols(P);
    if (!a->gk || a->gk->ntg == 0 || ncol > a->pool->n || rk_node_init(&t) < 0) {
        rk_node_free(&t);
        return;
    }
    a->node_out = rk_node_eval(&t, a->nu); /* at R's last duals */
    for (int j = 1; j <= ncol; j++) {      /* column j: the pool's j - 1 */
        int i = a->pool->item[j - 1], q = s->it[i].q;
        if (s->it[i].fw || q < 0)
            continue;
        if (glp_get_col_prim(P, j) > 1e-9) /* its domain's least set at R's ν */
            for (int k = s->poff[q]; k < s->poff[q] + s->pcnt[q]; k++)
                if (s->pr[k].d == a->pool->col[j - 1].dom &&
                    t.ctook[t.cellk[k]] >= a->gk->tkey[3 * q + 1])
                    rk_node_col(P, &t, a->drow, a->ind, a->val, i, t.cellk[k]);
        glp_set_col_bnds(P, j, GLP_FX, 0, 0);
    }
    for (int i = 0; i < ni; i++) /* every gang's least set at R's ν */
        if (!s->it[i].fw && s->it[i].q >= 0 && t.gcell[s->it[i].q] >= 0)
            rk_node_col(P, &t, a->drow, a->ind, a->val, i, t.gcell[s->it[i].q]);
    for (int round = 0; round < RK_NODE_ROUNDS && used < RK_NODE_ITERS; round++) {
        if (!rk_cut_solve(P, a, RK_NODE_ITERS, &used))
            break;
        a->node_out = fmin(a->node_out, rk_node_eval(&t, a->nu));
        int added = 0;
        for (int i = 0; i < ni; i++) {
            const rk_item_t *it = &s->it[i];
            double u = fmax(0, glp_get_row_dual(P, i + 1)); /* > u: prices out */
            if (!it->fw && it->q >= 0) {
                if (it->v[0] - t.gc[it->q] > u + 1e-9 * (1 + fabs(it->v[0])))
                    rk_node_col(P, &t, a->drow, a->ind, a->val, i, t.gcell[it->q]),
                        added++;
                continue;
            }
            int got = rk_cut_price(P, a, i, u);
            if (got < 0)
                break;
            added += got;
        }
        if (!added)
            break;
    }
    rk_node_free(&t);
}

/* Runs inside glpk_guarded(). */
static int rk_cut_run(void *arg)
{
    rk_cut_t *a = arg;
    rk_nu_t *s = a->s;
    rk_pool_t *pool = a->pool;
    int nd = s->c->f->ndomains, ni = s->ni, nrow = ni, used = 0;
    glp_prob *P = glp_create_prob();
    glp_set_obj_dir(P, GLP_MAX);
    for (int d = 0; d < nd; d++)
        nrow += isfinite(s->hd[d]);
    glp_add_rows(P, nrow);
    nrow = ni;
    for (int i = 0; i < ni; i++)
        glp_set_row_bnds(P, i + 1, GLP_UP, 0, s->it[i].cnt);
    for (int o = 0; o < nd; o++) { /* by id: the same LP whatever the input order */
        int d = s->c->dord[o];
        a->drow[d] = isfinite(s->hd[d]) ? ++nrow : 0;
        if (a->drow[d])
            glp_set_row_bnds(P, nrow, GLP_UP, 0, s->hd[d]);
    }
    for (int k = 0; k < pool->n; k++)
        rk_cut_col(P, a, pool->item[k], pool->col[k]);
    for (int round = 0; round < RK_CUT_ROUNDS && used < RK_CUT_ITERS; round++) {
        if (!rk_cut_solve(P, a, RK_CUT_ITERS, &used))
            break;
        a->out = fmin(a->out, rk_nu_eval(s, a->nu));
        int added = 0;
        for (int i = 0; i < ni; i++) {
            int got = rk_cut_price(P, a, i, fmax(0, glp_get_row_dual(P, i + 1)));
            if (got < 0)
                break;
            added += got;
        }
        if (!added)
            break;
    }
    if (s->c->gr)
        rk_round(s, pool, P);
    if (isfinite(a->out))
        rk_node_run(P, a);
    glp_delete_prob(P);
    return 0;
}

/* The least R(ν) over rk_cut_run's rounds and L(ν) over rk_node_run's
 * (gk: the together gangs' keys); INFINITY when out of memory, on a GLPK
 * error or without columns. */
static double rk_cuts(rk_nu_t *s, rk_pool_t *pool, const rk_gkeys_t *gk)
{
    int nd = s->c->f->ndomains;
    rk_cut_t a = {s,
                  pool,
                  calloc((size_t)nd + 1, sizeof *a.drow),
                  malloc(((size_t)nd + 2) * sizeof *a.ind),
                  malloc(((size_t)nd + 2) * sizeof *a.val),
                  malloc(((size_t)nd + 1) * sizeof *a.nu),
                  INFINITY,
                  gk,
                  INFINITY};
    char msg[128];
    if (a.drow && a.ind && a.val && a.nu && pool->n > 0 &&
        glpk_guarded(rk_cut_run, &a, msg, sizeof msg) < 0)
        a.out = a.node_out = INFINITY;
    if (tp_solver_rk_node_probe)
        *tp_solver_rk_node_probe = fmin(*tp_solver_rk_node_probe, a.node_out);
    free(a.drow);
    free(a.ind);
    free(a.val);
    free(a.nu);
    return fmin(a.out, a.node_out);
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
    int *tgi = malloc(((size_t)sd->n + 1) * sizeof *tgi); /* a gang of each tkey */
    const double **tfw = malloc(((size_t)sd->n + 1) * sizeof *tfw); /* its draws */
    rk_pair_t *pairs = NULL; /* each tkey's domains: [poff, poff + pcnt) */
    rk_grp_t *gp = NULL;     /* the classes' groups (rk_item_t.sp) */
    int ngp = 0, gcap = 0;
    int *poff = malloc(((size_t)sd->n + 1) * sizeof *poff), npair = 0, pcap = 0;
    int *pcnt = malloc(((size_t)sd->n + 1) * sizeof *pcnt);
    if (!keys || !root || !rix || !key || !it || !elig || !dbuf || !sumw || !kcap ||
        !dcnt || !poff || !pcnt || !tgi || !tfw)
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
        t->side = -1;
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
        t->side = i;
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
                    tgi[q] = i;
                    tfw[q] = fw;
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
    {
        rk_nu_t s = {c, it, pairs, poff, pcnt, gp, ni, nr}; /* the rest: rk_nu_init */
        rk_pool_t pool = {0};
        pool.head = malloc(((size_t)ni + 1) * sizeof *pool.head);
        if (rk_nu_init(&s) == 0 && pool.head) {
            for (int i = 0; i < ni; i++)
                pool.head[i] = -1;
            rk_gkeys_t gk = {ntg, tkey, tgi, tfw};
            double sg = rk_subgrad(&s, pnu, &pool), cut = rk_cuts(&s, &pool, &gk);
            if (tp_solver_rk_probe) {
                tp_solver_rk_probe[0] = fmin(tp_solver_rk_probe[0], cut);
                tp_solver_rk_probe[1] = fmin(tp_solver_rk_probe[1], sg);
            }
            b = fmin(b, fmin(sg, cut));
        }
        rk_nu_free(&s);
        free(pool.head);
        free(pool.col);
        free(pool.item);
        free(pool.next);
    }
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
    free(tgi);
    free(tfw);
    return b;
}
