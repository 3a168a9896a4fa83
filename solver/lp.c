/*
 * solver/lp.c — the aggregated model, solved as an LP with GLPK by column and
 * row generation, then rounded and packed onto concrete nodes; and the proven
 * bound, from the LP's duals over the whole power tree.
 *
 * Variables x[K][j] ≥ 0: how many candidates of super-class K go to group j;
 * one per eligible (K, group) pair — ineligible pairs never get a column.
 *   max  Σ (1 + p_k) g z[k] + Σ e[K][j] x[K][j]
 *   Σ_k z[k] − Σ_j x[K][j]    = 0            every super-class  (z[k] ≤ n_k)
 *   Σ_K g_K x[K][j]           ≤ F_j          GPUs of group j    (gpus)
 *   Σ_{K: g_K ≥ s} x[K][j]    ≤ Σ_n ⌊u_n / s⌋      each size s > 1 (whole-node fit)
 *   Σ_K w[K][j] x[K][j]       ≤ H_j          the group's share of its power
 *   Σ_{j under d} Σ_K w x     ≤ cap_d − draw_d     domains at depth ≤ L
 * A rack or row deeper than the group level gives each group beneath it a
 * share of its headroom (measure()), so the LP is a restriction: its plan
 * packs, and its value is no bound. tree_bound() gives the bound instead.
 *
 * Only the columns and rows that matter are ever built: classes start with the
 * groups a greedy reservation would use; rows are added when the LP's solution
 * breaks them (cutting planes; each of a group's rows on its own, except with
 * gangs in the LP) and columns when their reduced cost is positive
 * (pricing over every eligible pair); a bucket's z column when the greedy
 * reservation reaches it or its reduced cost turns positive. Generation stops
 * once the LP's own Lagrangian bound z + Σ_K n_K max(0, max_j rc[K][j]) (plus
 * the buckets not yet in) is within LP_GAP_STOP.
 * Columns priced well below zero are retired between rounds (retire()) and
 * come back when pricing wants them.
 *
 * Rounding takes ⌊x⌋ of each column; packing puts each candidate on a node of
 * its group that fits exactly (GPUs, node cap, every ancestor domain cap),
 * spreading over racks and rows (spread_fit); what is left goes to
 * plan_repair() in the caller.
 *
 * The bound: tree_bound() at the class duals of the last two rounds; where
 * that lies far above the LP, at the duals of the LP re-solved with wider
 * shares as well (reshare(); the LP's values, which rounding reads, stay).
 */
#include "solver/solver_internal.h"

#include <glpk.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIZES 8
#define KADD 4 /* columns added per class per pricing round (at most; price()) */
#define MAX_ROUNDS 400
#define RC_TOL 1e-9
#define VIOL_TOL 1e-6
#define LP_GAP_STOP 5e-3 /* column generation stops at this proven relative gap */

/* A bucket: the candidates of super-class K and one priority; its z column
 * enters the LP when the greedy reservation reaches it or pricing wants it. */
typedef struct zb {
    int K, n;
    double v; /* (1 + p) g per candidate */
    int jcol; /* GLPK column; 0: not in the LP yet */
} zb_t;

typedef struct {
    int k, j;
    double c, w;
    int knext, gnext; /* next column of the same class / group, -1 */
    int jcol;         /* its GLPK column (gang columns interleave, gang_lp.c) */
    bool off;         /* retired: fixed at 0 until pricing wants it again */
} col_t;

typedef struct {
    const ctx_t *c;
    plan_t *p;
    lp_out_t *out;
    glp_prob *P;
    /* super-classes K: candidates of one static class and AI model (so of one
     * size, eligibility and draw per group); ctx's classes k are their
     * priority buckets; one z column per (K, priority) (run()) */
    int nK, *kof;       /* [k] → K */
    int nz;             /* buckets: one z column per (K, priority) once in the LP */
    struct zb *zb;      /* [nz]: K ascending, priority descending within K */
    int *zoff;          /* [nK + 1]: K's buckets zb[zoff[K] .. zoff[K + 1]) */
    int *kres;          /* per K: candidates seed()'s greedy reservation placed */
    int *b_off, *b_mem; /* CSR: the classes k of K, priority descending */
    int *kn, *kg, *kprio, *kmodel, *krep; /* per K: count, GPUs, top priority, model,
                                             representative candidate */
    int *khead;                           /* first x column of K, -1 */
    /* groups */
    int *gfree, *gmaxfree, *gnsc, *ggm, *gcnt; /* gcnt[j * nsz + s] */
    double *ghead, *gmaxhead, *gminw;
    int *grow, *gcol; /* first row of the group's block (0: none); first column */
    int *rq;          /* [j * brow + q]: the GLPK row of group j's row q (row_coef), 0 */
    int nsz, sizes[MAX_SIZES];
    /* domains */
    int *drow;
    double *dhead;
    /* columns */
    col_t *cols;
    int ncols, capcols;
    /* scratch */
    double *ug, *uw, *us, *ud, *pg, *pw, *ps;
    int *mark, *slot, *ind; /* slot[j]: class mark[j] - 1's column in group j */
    double *val;
    size_t capind;
    double *x;       /* primal values of the columns */
    long iters;      /* simplex iterations so far (the work budget) */
    double *tv, *tw; /* pair_table(); NULL: none */
    double *m;       /* the class rows' duals at the last optimum */
    double *mprev;   /* and at the one before (have_prev) */
    bool have_m, have_prev;
    struct kord *ko;
    /* tree_bound: per group (CSR), the classes that may use it, those whose
     * pair draws no watts per GPU first, then by watts per GPU, then class:
     * fixed once measured, so sorted once, not per bound. NULL: not built. */
    int *to_off, *to_k;
    bool crash;   /* round 0 from the crash basis (run()) */
    int gmode;    /* tree_bound: the gang members' multipliers (gang_lp.c) */
    double share; /* measure(): deeper domains' shares × this (0: 1) */
    long it_cap;  /* solve_lp's iteration budget if less than c->it_budget (0) */
} lp_t;

static int brow(const lp_t *L)
{
    return 2 + L->nsz; /* rows in a group's block */
}

/* GLPK column of x column i. */
static int xcol(const lp_t *L, int i)
{
    return L->cols[i].jcol;
}

/* Group j's row q: 0 GPUs, 1 .. nsz the sizes, nsz + 1 watts. */
static int *rq(const lp_t *L, int j, int q)
{
    return &L->rq[(size_t)j * (size_t)brow(L) + (size_t)q];
}

/* The coefficient of a column of class k drawing w watts in its group's row q. */
static double row_coef(const lp_t *L, int k, double w, int q)
{
    return q == 0 ? L->kg[k] : q <= L->nsz ? (L->kg[k] >= L->sizes[q - 1] ? 1 : 0) : w;
}

/* Group j's row q's right-hand side. */
static double row_rhs(const lp_t *L, int j, int q)
{
    return q == 0        ? L->gfree[j]
           : q <= L->nsz ? L->gcnt[(size_t)j * L->nsz + q - 1]
                         : L->ghead[j];
}

/* What gang_lp.c's hooks read and write of the LP. */
static lp_view_t view(lp_t *L)
{
    return (lp_view_t){L->P,  L->grow, L->drow, L->nsz, L->sizes, L->ug,
                       L->uw, L->us,   L->pg,   L->pw,  L->ps};
}

static double pair_watts(const lp_t *L, int k, int j)
{
    const tp_profile_t *pr =
        L->kmodel[k] >= 0 ? tp_fleet_profile(L->c->f, L->kmodel[k], L->ggm[j]) : NULL;
    return L->kg[k] * (pr ? pr->watts : L->gminw[j]);
}

/* The objective of one unit of K on group j beyond (1 + priority) gpus, which
 * the z columns carry: terms (2) and (3), the same for every member. */
static double pair_value(const lp_t *L, int k, int j)
{
    const ctx_t *c = L->c;
    const tp_workload_t *w = c->cw[L->krep[k]];
    return ctx_value(c, L->krep[k], c->g_mem[c->g_off[j]]) -
           (1.0 + w->priority) * w->gpus;
}

/* May class k use group j at all? */
static bool usable(const lp_t *L, int k, int j, double w)
{
    const ctx_t *c = L->c;
    int wsc = c->cand_wsc[L->krep[k]];
    return c->stat[(size_t)wsc * (size_t)c->nnsc + (size_t)L->gnsc[j]] == 0 &&
           L->kg[k] <= L->gmaxfree[j] && w <= L->gmaxhead[j] * (1 + 1e-9);
}

/* Pricing and the bound read every (K, group) pair each round: their value
 * and watts are tabulated once (when the table stays small) after measure(). */
#define PAIR_TABLE_MAX 4000000

static void pair_table(lp_t *L)
{
    size_t n = (size_t)L->nK * (size_t)L->c->ng;
    if (n > PAIR_TABLE_MAX || !(L->tv = malloc((n + 1) * sizeof *L->tv)) ||
        !(L->tw = malloc((n + 1) * sizeof *L->tw))) {
        free(L->tv);
        L->tv = NULL;
        return; /* computed on demand instead */
    }
    for (int k = 0; k < L->nK; k++)
        for (int j = 0; j < L->c->ng; j++) {
            size_t i = (size_t)k * (size_t)L->c->ng + (size_t)j;
            L->tw[i] = pair_watts(L, k, j);
            L->tv[i] = usable(L, k, j, L->tw[i]) ? pair_value(L, k, j) : NAN;
        }
}

static double pair_eval(const lp_t *L, int k, int j, double *w)
{
    *w = pair_watts(L, k, j);
    return usable(L, k, j, *w) ? pair_value(L, k, j) : NAN;
}

/* pair_value of a usable pair, NAN when K may not use group j; *w its watts.
 * Inline: pricing reads the table about 1.5 M times at 10,000 × 30,000. */
static inline double pair_at(const lp_t *L, int k, int j, double *w)
{
    if (L->tv) {
        size_t i = (size_t)k * (size_t)L->c->ng + (size_t)j;
        *w = L->tw[i];
        return L->tv[i];
    }
    return pair_eval(L, k, j, w);
}

static int grow_ind(lp_t *L, size_t need)
{
    if (need <= L->capind)
        return 0;
    size_t cap = L->capind ? L->capind : 64;
    while (cap < need)
        cap *= 2;
    int *ind = realloc(L->ind, cap * sizeof *ind);
    if (!ind)
        return TP_ENOMEM;
    L->ind = ind;
    double *val = realloc(L->val, cap * sizeof *val);
    if (!val)
        return TP_ENOMEM;
    L->val = val;
    L->capind = cap;
    return 0;
}

static bool under(const ctx_t *c, int j, int d)
{
    for (int a = c->g_anchor[j]; a >= 0; a = c->f->domains[a].parent)
        if (a == d)
            return true;
    return false;
}

static int add_col(lp_t *L, int k, int j)
{
    const ctx_t *c = L->c;
    if (L->ncols == L->capcols) {
        int cap = L->capcols ? 2 * L->capcols : 1024;
        col_t *cols = realloc(L->cols, (size_t)cap * sizeof *cols);
        double *x = realloc(L->x, ((size_t)cap + 1) * sizeof *x);
        if (cols)
            L->cols = cols;
        if (x)
            L->x = x;
        if (!cols || !x)
            return TP_ENOMEM;
        L->capcols = cap;
    }
    if (grow_ind(L, 16 + (size_t)c->f->ndomains) < 0)
        return TP_ENOMEM;
    col_t *col = &L->cols[L->ncols];
    col->k = k;
    col->j = j;
    col->off = false;
    col->c = pair_at(L, k, j, &col->w);
    L->x[L->ncols] = 0;
    col->knext = L->khead[k];
    col->gnext = L->gcol[j];
    L->khead[k] = L->ncols;
    L->gcol[j] = L->ncols;
    L->ncols++;
    int len = 0;
    L->ind[++len] = k + 1;
    L->val[len] = -1;
    for (int q = 0; q < brow(L); q++)
        if (*rq(L, j, q) && row_coef(L, k, col->w, q) != 0) {
            L->ind[++len] = *rq(L, j, q);
            L->val[len] = row_coef(L, k, col->w, q);
        }
    for (int d = c->g_anchor[j]; d >= 0; d = c->f->domains[d].parent)
        if (L->drow[d]) {
            L->ind[++len] = L->drow[d];
            L->val[len] = col->w;
        }
    int cj = glp_add_cols(L->P, 1);
    col->jcol = cj;
    glp_set_col_bnds(L->P, cj, GLP_LO, 0, 0);
    glp_set_obj_coef(L->P, cj, col->c);
    glp_set_mat_col(L->P, cj, len, L->ind, L->val);
    return 0;
}

static void add_zcol(lp_t *L, int b)
{
    zb_t *z = &L->zb[b];
    int ind[2] = {0, z->K + 1};
    double val[2] = {0, 1};
    z->jcol = glp_add_cols(L->P, 1);
    glp_set_col_bnds(L->P, z->jcol, GLP_DB, 0, z->n);
    glp_set_obj_coef(L->P, z->jcol, z->v);
    glp_set_mat_col(L->P, z->jcol, 1, ind, val);
}

/* Row q of group j as GLPK row r, over the group's columns. */
static int set_group_row(lp_t *L, int j, int q, int r)
{
    int len = 0;
    *rq(L, j, q) = r;
    glp_set_row_bnds(L->P, r, GLP_UP, 0, row_rhs(L, j, q));
    for (int i = L->gcol[j]; i >= 0; i = L->cols[i].gnext) {
        const col_t *col = &L->cols[i];
        double a = row_coef(L, col->k, col->w, q);
        if (a == 0)
            continue;
        if (grow_ind(L, (size_t)len + 2) < 0)
            return TP_ENOMEM;
        L->ind[++len] = xcol(L, i);
        L->val[len] = a;
    }
    glp_set_mat_row(L->P, r, len, L->ind, L->val);
    return 0;
}

/* Group j's rows: with gangs in the LP its whole block at once (gang_lp.c
 * reads it as one), else only row q — each row enters when the LP breaks it
 * (at 10,000 × 30,000 one of the 837 size rows and 5 of the 279 watt rows
 * bind at the optimum; rows that never bind only slow every pivot). */
static int add_group_row(lp_t *L, int j, int q)
{
    if (*rq(L, j, q))
        return 0;
    if (!L->c->gl)
        return set_group_row(L, j, q, glp_add_rows(L->P, 1));
    if (L->grow[j])
        return 0;
    int r = glp_add_rows(L->P, brow(L));
    L->grow[j] = r;
    for (q = 0; q < brow(L); q++)
        if (set_group_row(L, j, q, r + q) < 0)
            return TP_ENOMEM;
    lp_view_t v = view(L);
    return gang_lp_group_rows(L->c, &v, j);
}

static int add_domain_row(lp_t *L, int d)
{
    int r = glp_add_rows(L->P, 1), len = 0;
    L->drow[d] = r;
    glp_set_row_bnds(L->P, r, GLP_UP, 0, L->dhead[d]);
    for (int i = 0; i < L->ncols; i++)
        if (under(L->c, L->cols[i].j, d)) {
            if (grow_ind(L, (size_t)len + 2) < 0)
                return TP_ENOMEM;
            L->ind[++len] = xcol(L, i);
            L->val[len] = L->cols[i].w;
        }
    glp_set_mat_row(L->P, r, len, L->ind, L->val);
    lp_view_t v = view(L);
    return gang_lp_domain_row(L->c, &v, d);
}

/* Group and domain capacities under the plan's (base) load. A group's power
 * capacity sums, over the leaf domains its nodes hang from, the nodes' own
 * headroom capped bottom up by every domain deeper than the group level —
 * what passes through a domain is at most the group's share of its headroom
 * (and the GPUs that share can run) — and by the tightest domain above. The
 * share of a domain deeper than the group level is in proportion to the node
 * headroom the group has beneath it, so the groups' rows never promise a
 * rack's or row's headroom twice and the LP's plan packs; it is a
 * restriction, not a relaxation — its value is no bound (tree_bound is). */
static int measure(lp_t *L)
{
    const ctx_t *c = L->c;
    const tp_fleet_t *f = c->f;
    const tp_load_t *l = L->p->load;
    size_t nd = (size_t)f->ndomains + 1;
    double *minanc = malloc(nd * sizeof *minanc);
    double *acc = malloc(nd * sizeof *acc);
    double *raw = malloc(nd * sizeof *raw), *all = calloc(nd, sizeof *all);
    int *stamp = calloc(nd, sizeof *stamp);
    int *leaves = malloc(nd * sizeof *leaves);
    int *accg = malloc(nd * sizeof *accg);
    double *wleaf = malloc(nd * sizeof *wleaf);
    double *pmin = malloc(((size_t)f->ngpu_models + 1) * sizeof *pmin);
    int rc = TP_ENOMEM;
    if (!minanc || !acc || !raw || !all || !stamp || !leaves || !accg || !wleaf || !pmin)
        goto out;
    for (int d = 0; d < f->ndomains; d++) {
        double h = c->dcap[d] - l->domain_w[d];
        L->dhead[d] = h > 0 ? h : 0;
    }
    for (int d = 0; d < f->ndomains; d++) {
        minanc[d] = INFINITY;
        for (int a = d; a >= 0; a = f->domains[a].parent)
            if (L->dhead[a] < minanc[d])
                minanc[d] = L->dhead[a];
    }
    /* The node headroom beneath every domain, in canonical node order. */
    for (int r = 0; r < f->nnodes; r++) {
        int n = c->nord[r];
        double h = fmax(0, c->ncap[n] - l->node_w[n]);
        for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
            all[d] += h;
    }

    /* The fewest watts a GPU of each model can draw (any profile, else gpu_w):
     * a node cannot run more GPUs than its power headroom pays for at that. */
    for (int g = 0; g < f->ngpu_models; g++)
        pmin[g] = INFINITY;
    for (int i = 0; i < f->nprofiles; i++)
        if (f->profiles[i].watts < pmin[f->profiles[i].gpu_model])
            pmin[f->profiles[i].gpu_model] = f->profiles[i].watts;
    for (int j = 0; j < c->ng; j++) {
        int first = c->g_mem[c->g_off[j]], nl = 0, maxd = 0;
        L->gnsc[j] = c->node_sc[first];
        L->ggm[j] = f->nodes[first].gpu_model;
        L->gminw[j] = INFINITY;
        for (int i = c->g_off[j]; i < c->g_off[j + 1]; i++) {
            int n = c->g_mem[i], dom = f->nodes[n].domain;
            int fr = c->healthy[n] - l->gpus_used[n];
            double h = c->ncap[n] - l->node_w[n];
            double wn = fmin(f->nodes[n].gpu_w, pmin[f->nodes[n].gpu_model]);
            fr = fr > 0 ? fr : 0;
            h = h > 0 ? h : 0;
            /* GPUs the node can run within its own power headroom. */
            int u = wn > 0 ? (int)fmin(fr, floor(h / wn * (1 + 1e-9) + 1e-9)) : fr;
            /* The leaf and every domain above it down to the group level. */
            for (int d = dom; d >= 0; d = f->domains[d].parent) {
                if (stamp[d] != j + 1) {
                    stamp[d] = j + 1;
                    acc[d] = raw[d] = 0;
                    accg[d] = 0;
                    wleaf[d] = INFINITY;
                    leaves[nl++] = d;
                    if (f->domains[d].depth > maxd)
                        maxd = f->domains[d].depth;
                }
                wleaf[d] = fmin(wleaf[d], wn);
                raw[d] += h;
                if (d != dom && f->domains[d].depth <= c->group_level)
                    break;
            }
            acc[dom] += h;
            accg[dom] += u;
            if (u > L->gmaxfree[j])
                L->gmaxfree[j] = u;
            if (fmin(h, minanc[dom]) > L->gmaxhead[j])
                L->gmaxhead[j] = fmin(h, minanc[dom]);
            if (f->nodes[n].gpu_w < L->gminw[j])
                L->gminw[j] = f->nodes[n].gpu_w;
            for (int s = 0; s < L->nsz; s++)
                L->gcnt[(size_t)j * L->nsz + s] += u / L->sizes[s];
        }
        /* Bottom up: what passes through a domain is at most the group's
         * share of its headroom (all of it at or above the group level, where
         * the LP has exact rows), and the GPUs that can run; the group's
         * capacity is what reaches the group level, capped by the tightest
         * domain above. */
        for (int depth = maxd; depth >= 0; depth--)
            for (int a = 0; a < nl; a++) {
                int d = leaves[a], par = f->domains[d].parent;
                if (f->domains[d].depth != depth)
                    continue;
                double sh = depth > c->group_level && all[d] > 0
                                ? fmin(1, (L->share > 0 ? L->share : 1) * raw[d] / all[d])
                                : 1;
                double h = L->dhead[d] * sh, v = fmin(acc[d], h), g = accg[d];
                if (wleaf[d] > 0 && isfinite(wleaf[d]))
                    g = fmin(g, floor(h / wleaf[d] * (1 + 1e-9) + 1e-9));
                bool top = depth <= c->group_level || par < 0 ||
                           f->domains[par].depth < c->group_level || stamp[par] != j + 1;
                if (!top && depth > c->group_level) {
                    acc[par] += v;
                    accg[par] += (int)g;
                } else {
                    L->ghead[j] += fmin(v, minanc[d]);
                    L->gfree[j] += (int)g;
                }
            }
    }
    rc = 0;
out:
    free(minanc);
    free(acc);
    free(raw);
    free(all);
    free(stamp);
    free(leaves);
    free(accg);
    free(wleaf);
    free(pmin);
    return rc;
}

typedef struct kord {
    double w;
    int k;
} kord_t;

static int by_kord(const void *a, const void *b)
{
    const kord_t *x = a, *y = b;
    if (x->w != y->w)
        return x->w > y->w ? -1 : 1;
    return (x->k > y->k) - (x->k < y->k);
}

/* Initial columns: a greedy reservation, classes by priority, each walking its
 * groups best GPU model first; the GPU row of every group whose GPUs it filled
 * up, the watt row of every group whose power it did, and a row for every
 * domain it brought near its cap. */
static int seed(lp_t *L, const kord_t *ko)
{
    const ctx_t *c = L->c;
    int rc = TP_ENOMEM;
    double *rfree = malloc(((size_t)c->ng + 1) * sizeof *rfree);
    double *rhead = malloc(((size_t)c->ng + 1) * sizeof *rhead);
    double *rdom = calloc((size_t)c->f->ndomains + 1, sizeof *rdom);
    char *full = calloc((size_t)c->ng + 1, 1);
    if (!rfree || !rhead || !rdom || !full)
        goto out;
    for (int j = 0; j < c->ng; j++) {
        rfree[j] = L->gfree[j];
        rhead[j] = L->ghead[j];
    }
    for (int a = 0; a < L->nK; a++) {
        int k = ko[a].k, left = L->kn[k], added = 0;
        const int *groups = c->g_by_model[L->kmodel[k] + 1];
        for (int b = 0; b < c->ng && left > 0; b++) {
            int j = groups[b];
            double w;
            if (isnan(pair_at(L, k, j, &w)))
                continue;
            double avail = floor(fmin(rfree[j] / L->kg[k], w > 0 ? rhead[j] / w : 1e18));
            if (avail < 1 && added)
                continue;
            if (add_col(L, k, j) < 0)
                goto out;
            added++;
            int take = avail < left ? (int)avail : left;
            if (take < 0)
                take = 0;
            rfree[j] -= (double)take * L->kg[k];
            rhead[j] -= take * w;
            for (int d = c->g_anchor[j]; d >= 0; d = c->f->domains[d].parent)
                rdom[d] += take * w;
            left -= take;
            if (rfree[j] < L->kg[k])
                full[j] |= 1;
            if (rhead[j] < w)
                full[j] |= 2;
        }
        L->kres[k] = L->kn[k] - left;
    }
    for (int j = 0; j < c->ng; j++)
        if (L->gcol[j] >= 0 && (((full[j] & 1) && add_group_row(L, j, 0) < 0) ||
                                ((full[j] & 2) && add_group_row(L, j, L->nsz + 1) < 0)))
            goto out;
    for (int r = 0; r < c->f->ndomains; r++) {
        int d = c->dord[r];
        if (rdom[d] > 0.9 * L->dhead[d] && add_domain_row(L, d) < 0)
            goto out;
    }
    rc = 0;
out:
    free(rfree);
    free(rhead);
    free(rdom);
    free(full);
    return rc;
}

/* Adds rows for every constraint the current solution breaks; returns how many. */
static int separate(lp_t *L)
{
    const ctx_t *c = L->c;
    const tp_fleet_t *f = c->f;
    int added = 0;
    memset(L->ug, 0, (size_t)c->ng * sizeof *L->ug);
    memset(L->uw, 0, (size_t)c->ng * sizeof *L->uw);
    memset(L->us, 0, (size_t)c->ng * (size_t)L->nsz * sizeof *L->us);
    memset(L->ud, 0, (size_t)f->ndomains * sizeof *L->ud);
    for (int i = 0; i < L->ncols; i++) {
        const col_t *col = &L->cols[i];
        double x = L->x[i];
        if (x <= 0)
            continue;
        L->ug[col->j] += x * L->kg[col->k];
        L->uw[col->j] += x * col->w;
        for (int s = 0; s < L->nsz; s++)
            if (L->kg[col->k] >= L->sizes[s])
                L->us[(size_t)col->j * L->nsz + s] += x;
    }
    lp_view_t v = view(L);
    if ((added = gang_lp_separate(c, &v)) < 0)
        return added;
    for (int j = 0; j < c->ng; j++) {
        if (L->uw[j] > 0)
            for (int d = c->g_anchor[j]; d >= 0; d = f->domains[d].parent)
                L->ud[d] += L->uw[j];
        if (L->gcol[j] < 0)
            continue;
        for (int q = 0; q < brow(L); q++) {
            double u = q == 0        ? L->ug[j]
                       : q <= L->nsz ? L->us[(size_t)j * L->nsz + q - 1]
                                     : L->uw[j];
            double rhs = row_rhs(L, j, q) * (q > L->nsz ? 1 + 1e-9 : 1);
            if (*rq(L, j, q) || u <= rhs + VIOL_TOL)
                continue;
            if (add_group_row(L, j, q) < 0)
                return TP_ENOMEM;
            added++;
        }
    }
    for (int r = 0; r < f->ndomains; r++) {
        int d = c->dord[r];
        if (!L->drow[d] && L->ud[d] > L->dhead[d] * (1 + 1e-9) + VIOL_TOL) {
            if (add_domain_row(L, d) < 0)
                return TP_ENOMEM;
            added++;
        }
    }
    return added;
}

typedef struct {
    double b, a;
    int k; /* super-class; -1: the origin */
} pt_t;

static int by_pt(const void *x, const void *y)
{
    const pt_t *p = x, *q = y;
    if (p->b != q->b)
        return p->b < q->b ? -1 : 1;
    if (p->a != q->a)
        return p->a > q->a ? -1 : 1;
    return p->k - q->k;
}

typedef struct {
    double slope, db; /* value per watt; watts per GPU along the edge */
    int j, h;         /* group, edge index in its hull */
} edge_t;

static int by_edge(const void *x, const void *y)
{
    const edge_t *p = x, *q = y;
    if (p->slope != q->slope)
        return p->slope > q->slope ? -1 : 1;
    if (p->j != q->j)
        return p->j - q->j;
    return p->h - q->h;
}

/* tree_bound's scratch. */
typedef struct {
    pt_t *pt;  /* [nK + 2]: one group's points, then its hull */
    pt_t *tmp; /* [nK + 2]: the merge of its points */
    edge_t *edge;
    size_t ne, cape;
    double *rem, *nrem;
} tree_t;

static void tree_fini(tree_t *t)
{
    free(t->pt);
    free(t->tmp);
    free(t->edge);
    free(t->rem);
    free(t->nrem);
}

typedef struct {
    double b;
    int k;
} tord_t;

static int by_tord(const void *x, const void *y)
{
    const tord_t *p = x, *q = y;
    if (p->b != q->b)
        return p->b < q->b ? -1 : 1;
    return p->k - q->k;
}

/* L->to_off / to_k (pair_at's table only: without it every pair would be
 * evaluated twice). Out of memory leaves them NULL: tree_bound sorts. */
static void tree_order(lp_t *L)
{
    const ctx_t *c = L->c;
    size_t n = 0;
    if (L->to_off || !L->tv)
        return;
    for (size_t i = 0; i < (size_t)L->nK * (size_t)c->ng; i++)
        n += !isnan(L->tv[i]);
    int *off = malloc(((size_t)c->ng + 1) * sizeof *off);
    int *ks = malloc((n + 1) * sizeof *ks);
    tord_t *o = malloc(((size_t)L->nK + 1) * sizeof *o);
    if (!off || !ks || !o) {
        free(off);
        free(ks);
        free(o);
        return;
    }
    off[0] = 0;
    for (int j = 0, at = 0; j < c->ng; j++) {
        int no = 0;
        for (int k = 0; k < L->nK; k++) {
            double w;
            if (isnan(pair_at(L, k, j, &w)))
                continue;
            double bw = w / L->kg[k];
            if (bw > 0)
                o[no++] = (tord_t){bw, k};
            else
                ks[at++] = k;
        }
        qsort(o, (size_t)no, sizeof *o, by_tord);
        for (int i = 0; i < no; i++)
            ks[at++] = o[i].k;
        off[j + 1] = at;
    }
    free(o);
    L->to_off = off;
    L->to_k = ks;
}

static int tree_init(lp_t *L, tree_t *t)
{
    const ctx_t *c = L->c;
    size_t np = (size_t)L->nK + (size_t)gang_lp_nclasses(c) + 2;
    memset(t, 0, sizeof *t);
    tree_order(L);
    t->pt = malloc(np * sizeof *t->pt);
    t->tmp = malloc(np * sizeof *t->tmp);
    t->rem = malloc(((size_t)c->f->ndomains + 1) * sizeof *t->rem);
    t->nrem = malloc(((size_t)c->f->nnodes + 1) * sizeof *t->nrem);
    return t->pt && t->tmp && t->rem && t->nrem ? 0 : TP_ENOMEM;
}

/* pt[1 .. 1 + np) in by_pt's order, where pt[1 .. 1 + nc) are the class
 * points in L->to_k's order (by b, then class) and the rest gang members':
 * within each run of one b by a descending (insertion, stable: class
 * ascending on ties), the members sorted, the two merged — by_pt is a total
 * order (classes distinct), so this is qsort's answer. */
static void tree_sort(tree_t *t, int nc, int np)
{
    pt_t *pt = t->pt + 1;
    for (int i = 1; i < nc; i++)
        for (int q = i; q > 0 && pt[q].b == pt[q - 1].b && pt[q].a > pt[q - 1].a; q--) {
            pt_t x = pt[q];
            pt[q] = pt[q - 1];
            pt[q - 1] = x;
        }
    if (np == nc)
        return;
    qsort(pt + nc, (size_t)(np - nc), sizeof *pt, by_pt);
    int a = 0, b = nc, o = 0;
    while (a < nc || b < np)
        t->tmp[o++] =
            b >= np || (a < nc && by_pt(&pt[a], &pt[b]) < 0) ? pt[a++] : pt[b++];
    memcpy(pt, t->tmp, (size_t)np * sizeof *pt);
}

/* A proven upper bound over the whole power tree from class multipliers m_K
 * (any values give one). Relax every plan to fractional GPUs per node (the
 * whole-node fit dropped) and move the rows "K places at most n_K" into the
 * objective with m_K:
 *   B(m) = Σ_k n_k max(0, (1 + p_k) g_k − m_K) + max Σ_n f_n(P_n)
 * where P_n are the watts given to node n, under its own headroom and every
 * domain's (each counted once, at every depth), and f_n(P) is the most node n
 * earns with P watts and its u_n free GPUs when a GPU of K earns
 * a_K = (e + m_K) / g_K and draws b_K = w / g_K: u_n times the upper concave
 * hull of the points (b_K, a_K) at P / u_n. A pair that draws no watts (gpu_w
 * 0, no profile) is a point (0, a_K): the hull starts at the best of them, so
 * f_n(0) = u_n max a_K, earned for no watts. Separable concave functions over
 * nested (laminar) capacities: taking hull edges greedily by value per watt,
 * each as far as every capacity above its node allows, is optimal — B(m) is
 * exact for its m. */
static double tree_bound(lp_t *L, tree_t *t, const double *m)
{
    const ctx_t *c = L->c;
    const tp_fleet_t *f = c->f;
    const tp_load_t *l = L->p->load;
    double b = 0;
    for (int k = 0; k < c->nk; k++) {
        const tp_workload_t *w = c->cw[c->k_mem[c->k_off[k]]];
        double v = (1.0 + w->priority) * w->gpus - m[L->kof[k]];
        if (v > 0)
            b += (c->k_off[k + 1] - c->k_off[k]) * v;
    }
    b += gang_lp_tree_const(c, L->gmode);
    t->ne = 0;
    for (int j = 0; j < c->ng; j++) {
        pt_t *pt = t->pt;
        int np = 0, nh = 1;
        double a0 = 0; /* the most a GPU earns here drawing no watts */
        int nx = L->to_off ? L->to_off[j + 1] - L->to_off[j] : L->nK;
        for (int x = 0; x < nx; x++) {
            int k = L->to_off ? L->to_k[L->to_off[j] + x] : x;
            double w, e = pair_at(L, k, j, &w);
            if (isnan(e))
                continue;
            double a = (e + m[k]) / L->kg[k], bw = w / L->kg[k];
            if (a > 0 && bw > 0)
                pt[1 + np++] = (pt_t){bw, a, k};
            else if (a > 0) /* gpu_w 0, no profile: no edge of the greedy */
                a0 = fmax(a0, a);
        }
        if (a0 > 0) /* each free GPU earns a0 for no watts: the hull starts at (0, a0) */
            for (int i = c->g_off[j]; i < c->g_off[j + 1]; i++) {
                int n = c->g_mem[i], u = c->healthy[n] - l->gpus_used[n];
                if (u > 0)
                    b += u * a0;
            }
        const double *gb, *ga; /* gang members (gang_lp.c) */
        int nc = np;
        for (int i = 0, n = gang_lp_points(c, j, L->gmode, &gb, &ga); i < n; i++)
            pt[1 + np++] = (pt_t){gb[i], ga[i], L->nK + i};
        if (L->to_off)
            tree_sort(t, nc, np);
        else
            qsort(pt + 1, (size_t)np, sizeof *pt, by_pt);
        pt[0] = (pt_t){0, a0, -1};
        /* Upper concave hull from the origin, in place. */
        for (int i = 1; i <= np; i++) {
            pt_t q = pt[i];
            if (q.a <= pt[nh - 1].a)
                continue; /* more watts for no more value */
            while (nh >= 2 && (pt[nh - 1].a - pt[nh - 2].a) * (q.b - pt[nh - 2].b) <=
                                  (q.a - pt[nh - 2].a) * (pt[nh - 1].b - pt[nh - 2].b))
                nh--;
            pt[nh++] = q;
        }
        if (t->ne + (size_t)nh > t->cape) {
            size_t cap = t->cape ? 2 * t->cape : 1024;
            while (cap < t->ne + (size_t)nh)
                cap *= 2;
            edge_t *ne = realloc(t->edge, cap * sizeof *ne);
            if (!ne)
                return INFINITY;
            t->edge = ne;
            t->cape = cap;
        }
        for (int h = 1; h < nh; h++)
            t->edge[t->ne++] = (edge_t){(pt[h].a - pt[h - 1].a) / (pt[h].b - pt[h - 1].b),
                                        pt[h].b - pt[h - 1].b, j, h};
    }
    const double *gs, *gw; /* whole gangs of a kind, in their domains (gang_lp.c) */
    const int *gd;
    int ni = gang_lp_items(c, L->gmode, &gs, &gw, &gd);
    if (ni < 0)
        return INFINITY;
    if (t->ne + (size_t)ni > t->cape) {
        edge_t *ne = realloc(t->edge, (t->ne + (size_t)ni) * sizeof *ne);
        if (!ne)
            return INFINITY;
        t->edge = ne;
        t->cape = t->ne + (size_t)ni;
    }
    for (int i = 0; i < ni; i++)
        t->edge[t->ne++] = (edge_t){gs[i], gw[i], -1 - i, 0};
    qsort(t->edge, t->ne, sizeof *t->edge, by_edge);
    for (int d = 0; d < f->ndomains; d++)
        t->rem[d] = L->dhead[d];
    for (int n = 0; n < f->nnodes; n++)
        t->nrem[n] = fmax(0, c->ncap[n] - l->node_w[n]);
    for (size_t e = 0; e < t->ne; e++) {
        int j = t->edge[e].j;
        double db = t->edge[e].db;
        if (j < 0) { /* a gang item: its watts in its domain and above */
            double take = db;
            for (int d = gd[-1 - j]; d >= 0; d = f->domains[d].parent)
                take = fmin(take, t->rem[d]);
            if (take <= 0)
                continue;
            b += take * t->edge[e].slope;
            for (int d = gd[-1 - j]; d >= 0; d = f->domains[d].parent)
                t->rem[d] -= take;
            continue;
        }
        for (int i = c->g_off[j]; i < c->g_off[j + 1]; i++) {
            int n = c->g_mem[i], u = c->healthy[n] - l->gpus_used[n];
            if (u <= 0)
                continue;
            double take = fmin(u * db, t->nrem[n]);
            for (int d = f->nodes[n].domain; d >= 0 && take > 0; d = f->domains[d].parent)
                take = fmin(take, t->rem[d]);
            if (take <= 0)
                continue;
            b += take * t->edge[e].slope;
            t->nrem[n] -= take;
            for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
                t->rem[d] -= take;
        }
    }
    return b;
}

/* tree_bound at the class duals of the LP's last optimum, each at most the
 * value of its super-class's top bucket: above it the first sum of B is 0
 * either way and the nodes' earnings only grow, so the cap never loosens B. */
static double tree_at(lp_t *L, double *m)
{
    tree_t t = {0};
    for (int k = 0; k < L->nK; k++)
        m[k] = fmin(m[k], (1.0 + L->kprio[k]) * L->kg[k]);
    double b = tree_init(L, &t) < 0 ? INFINITY : tree_bound(L, &t, m);
    if (gang_lp_nclasses(L->c) > 0 && isfinite(b)) { /* members at full value too */
        L->gmode = 1;
        b = fmin(b, tree_bound(L, &t, m));
        L->gmode = 0;
    }
    tree_fini(&t);
    return b;
}

/* Prices every eligible pair; adds the best KADD columns of each class with a
 * positive reduced cost, and every bucket (z column) not in the LP yet whose
 * reduced cost is positive. Returns how many were added; *lagr gets the
 * Lagrangian bound. */
static int price(lp_t *L, double z, double *lagr)
{
    const ctx_t *c = L->c;
    const tp_fleet_t *f = c->f;
    int added = 0;
    double bound = z;
    for (int j = 0; j < c->ng; j++) {
        int r = *rq(L, j, 0);
        L->pg[j] = r ? glp_get_row_dual(L->P, r) : 0;
        for (int s = 0; s < L->nsz; s++) {
            r = *rq(L, j, 1 + s);
            L->ps[(size_t)j * L->nsz + s] = r ? glp_get_row_dual(L->P, r) : 0;
        }
        r = *rq(L, j, 1 + L->nsz);
        double pw = r ? glp_get_row_dual(L->P, r) : 0;
        for (int d = c->g_anchor[j]; d >= 0; d = f->domains[d].parent)
            if (L->drow[d])
                pw += glp_get_row_dual(L->P, L->drow[d]);
        L->pw[j] = pw;
    }
    for (int k = 0; k < L->nK; k++) {
        /* Row K reads Σ z − Σ x = 0: x's coefficient is −1. */
        double mu = -glp_get_row_dual(L->P, k + 1), best[KADD], delta = 0;
        /* KADD columns, but no more than K has candidates (at least 2): a
         * class of one or two candidates needs few groups (at 10,000 ×
         * 30,000 a third of the classes have one). Not with gangs in the LP,
         * whose pricing rounds are capped (gang_lp.c). */
        int bj[KADD], nb = 0, kadd = KADD;
        if (!c->gl && L->kn[k] < KADD)
            kadd = L->kn[k] < 2 ? 2 : L->kn[k];
        const int *groups = c->g_by_model[L->kmodel[k] + 1];
        for (int i = L->khead[k]; i >= 0; i = L->cols[i].knext) {
            L->mark[L->cols[i].j] = k + 1;
            L->slot[L->cols[i].j] = i;
        }
        for (int b = 0; b < c->ng; b++) {
            int j = groups[b];
            double w, v = pair_at(L, k, j, &w);
            if (isnan(v))
                continue;
            double rc = v - mu - L->kg[k] * L->pg[j] - w * L->pw[j];
            for (int s = 0; s < L->nsz; s++)
                if (L->kg[k] >= L->sizes[s])
                    rc -= L->ps[(size_t)j * L->nsz + s];
            if (rc > delta)
                delta = rc;
            if (rc > RC_TOL && L->mark[j] == k + 1 && L->cols[L->slot[j]].off) {
                col_t *col = &L->cols[L->slot[j]]; /* retired: back in */
                col->off = false;
                glp_set_col_bnds(L->P, col->jcol, GLP_LO, 0, 0);
                added++;
                continue;
            }
            if (rc <= RC_TOL || L->mark[j] == k + 1)
                continue;
            /* Keep the KADD best, ties to the earlier group in the order. */
            if (nb < kadd) {
                best[nb] = rc;
                bj[nb++] = j;
            } else if (rc > best[kadd - 1]) {
                best[kadd - 1] = rc;
                bj[kadd - 1] = j;
            } else {
                continue;
            }
            for (int q = nb - 1; q > 0 && best[q] > best[q - 1]; q--) {
                double tb = best[q];
                int tj = bj[q];
                best[q] = best[q - 1];
                bj[q] = bj[q - 1];
                best[q - 1] = tb;
                bj[q - 1] = tj;
            }
        }
        bound += L->kn[k] * delta;
        /* Buckets not in the LP yet: z's reduced cost is v − m_K, priority
         * descending, so the first that does not pay ends the walk. */
        for (int b = L->zoff[k]; b < L->zoff[k + 1]; b++) {
            const zb_t *zk = &L->zb[b];
            double rc = zk->v + mu; /* mu is −m_K */
            if (zk->jcol)
                continue;
            if (rc <= RC_TOL)
                break;
            bound += zk->n * rc;
            add_zcol(L, b);
            added++;
        }
        for (int i = 0; i < nb; i++) {
            if (add_col(L, k, bj[i]) < 0)
                return TP_ENOMEM;
            added++;
        }
    }
    lp_view_t v = view(L);
    int ga = gang_lp_price(c, &v, &bound);
    if (ga < 0)
        return ga;
    *lagr = bound;
    return added + ga;
}

/* Retires the x columns at zero that the last optimum does not price above
 * RC_TOL (ties at a zero reduced cost too: the LP is highly dual degenerate):
 * fixed at 0, GLPK leaves them out of the simplex (glp_smcp.excl, on by
 * default), whose every iteration scans all non-basic columns (at 10,000 ×
 * 30,000 about 8,700 of the last round's 10,000); price() brings one back once
 * its reduced cost is above RC_TOL, so the LP's optimum over all columns is
 * unchanged. Only
 * where column generation runs to its own stop: with gangs in the LP their
 * pricing rounds are capped (gang_lp.c) and end it, and a column retired
 * before the last round could not come back. */
static void retire(lp_t *L)
{
    if (L->c->gl)
        return;
    for (int i = 0; i < L->ncols; i++) {
        col_t *col = &L->cols[i];
        if (!col->off && glp_get_col_stat(L->P, col->jcol) == GLP_NL &&
            glp_get_col_dual(L->P, col->jcol) <= RC_TOL) {
            col->off = true;
            glp_set_col_bnds(L->P, col->jcol, GLP_FX, 0, 0);
        }
    }
}

static int solve_lp(lp_t *L, int meth)
{
    glp_smcp parm;
    glp_init_smcp(&parm);
    parm.msg_lev = GLP_MSG_OFF;
    parm.meth = meth;
    parm.presolve = GLP_OFF;
    /* No tm_lim: the iteration budget alone (c->it_budget, from the time limit)
     * decides where the LP stops, so a loaded machine gives the same answer as
     * an idle one (docs/solver.md, Determinism). */
    int ret;
    for (int tries = 0;; tries++) {
        long cap =
            L->it_cap > 0 && L->it_cap < L->c->it_budget ? L->it_cap : L->c->it_budget;
        long budget = cap - L->iters;
        if (budget < 1) {
            L->out->stopped = true;
            return -1;
        }
        parm.it_lim = budget < INT_MAX ? (int)budget : INT_MAX;
        /* With the crash basis (run()), the primal's phase 1 (round 0, rows
         * added by separate()) with the long-step ratio test, which passes
         * breakpoints of the infeasibility sum in one iteration. */
        if (parm.meth == GLP_PRIMAL && L->crash)
            parm.r_test = GLP_RT_FLIP;
        int before = glp_get_it_cnt(L->P);
        ret = glp_simplex(L->P, &parm);
        L->iters += glp_get_it_cnt(L->P) - before;
        if (ret == GLP_EITLIM)
            L->out->stopped = true;
        if (ret == 0 || tries > 0 || parm.meth == GLP_PRIMAL || ret == GLP_EITLIM)
            break;
        parm.meth = GLP_PRIMAL;
    }
    return ret == 0 && glp_get_status(L->P) == GLP_OPT ? 0 : -1;
}

/* A second look at the bound, where the LP's duals bound poorly: the LP is
 * highly degenerate, and where the tree bound at its last duals lies more
 * than RESHARE_GAP above its value (demand response: 88.0k against 76.6k,
 * while every candidate placed is worth 85.5k) the duals sit at a kink of
 * B(m). The group shares of the domains below the group level (measure())
 * are widened by a factor and the LP re-solved warm, with its rows and
 * columns generated as before, for at most RESHARE_ROUNDS optimal rounds,
 * stopping after RESHARE_PATIENCE without a lower tree bound, and
 * RESHARE_ITERS simplex iterations (budgets, never the clock): tree_bound at
 * each round's duals (any m bounds); not when the caller reports no bound
 * (ctx no_bound). run() tries × 1.2, then × 2: demand response 82.2k at
 * × 1.1 to × 1.3, none at × 1.5 or more; rows capped at 40% of a 2,000-node
 * fleet lower only from × 1.3, most at × 2 (docs/solver.md, Limits). Only
 * the bound changes: the columns' values, which rounding reads, and the
 * shares are put back; the added columns stay at 0; the ladder stops on the
 * bound from before (lp_out_t.stop; on this one it stopped 0.27% from it
 * where rows at 70% of that fleet lost 0.22% of the objective), so the plan
 * is the same with or without the pass. */
#define RESHARE_GAP 0.05
#define RESHARE_ROUNDS 8
#define RESHARE_PATIENCE 2
#define RESHARE_ITERS 2000
static int reshare(lp_t *L, double factor)
{
    const ctx_t *c = L->c;
    size_t ng = (size_t)c->ng, nsz = (size_t)(L->nsz ? L->nsz : 1);
    int n0 = L->ncols, rc = TP_ENOMEM;
    double *x0 = malloc(((size_t)n0 + 1) * sizeof *x0);
    double *gh = malloc((ng + 1) * sizeof *gh);
    int *gf = malloc((ng + 1) * sizeof *gf), *gc = malloc((ng * nsz + 1) * sizeof *gc);
    bool stopped = L->out->stopped;
    if (!x0 || !gf || !gc || !gh)
        goto out;
    memcpy(x0, L->x, (size_t)n0 * sizeof *x0);
    memcpy(gf, L->gfree, ng * sizeof *gf);
    memcpy(gc, L->gcnt, ng * nsz * sizeof *gc);
    memcpy(gh, L->ghead, ng * sizeof *gh);
    memset(L->gfree, 0, ng * sizeof *gf);
    memset(L->gcnt, 0, ng * nsz * sizeof *gc);
    memset(L->ghead, 0, ng * sizeof *gh);
    L->share = factor;
    if ((rc = measure(L)) < 0)
        goto put;
    for (int j = 0; j < c->ng; j++)
        for (int q = 0; q < brow(L); q++)
            if (*rq(L, j, q))
                glp_set_row_bnds(L->P, *rq(L, j, q), GLP_UP, 0, row_rhs(L, j, q));
    L->it_cap = L->iters + RESHARE_ITERS;
    for (int opt = 0, since = 0; opt < RESHARE_ROUNDS && since < RESHARE_PATIENCE;) {
        if (solve_lp(L, GLP_PRIMAL) != 0)
            break;
        for (int i = 0; i < L->ncols; i++)
            L->x[i] = glp_get_col_prim(L->P, xcol(L, i));
        int n = separate(L);
        if (n < 0) {
            rc = n;
            goto put;
        }
        if (n > 0)
            continue;
        opt++;
        double z = glp_get_obj_val(L->P), lagr;
        for (int k = 0; k < L->nK; k++)
            L->m[k] = glp_get_row_dual(L->P, k + 1);
        double tb = tree_at(L, L->m); /* widened: its value z is no bound */
        since = tb < L->out->bound ? 0 : since + 1;
        if (tb < L->out->bound)
            L->out->bound = tb;
        if ((n = price(L, z, &lagr)) < 0) {
            rc = n;
            goto put;
        }
        if (n == 0)
            break;
    }
    rc = 0;
put:
    L->it_cap = 0;
    for (int i = 0; i < L->ncols; i++)
        L->x[i] = i < n0 ? x0[i] : 0;
    memcpy(L->gfree, gf, ng * sizeof *gf);
    memcpy(L->gcnt, gc, ng * nsz * sizeof *gc);
    memcpy(L->ghead, gh, ng * sizeof *gh);
    L->share = 0;
    L->out->stopped = stopped;
out:
    free(x0);
    free(gf);
    free(gc);
    free(gh);
    return rc;
}

static int run(void *arg)
{
    lp_t *L = arg;
    const ctx_t *c = L->c;
    kord_t *ko = L->ko;
    int rc = TP_ENOMEM, meth = GLP_PRIMAL;
    double zm = NAN; /* the LP's value at L->m */
    L->P = glp_create_prob();
    glp_set_obj_dir(L->P, GLP_MAX);
    /* Row K: Σ_{k in K} z[k] − Σ_j x[K][j] = 0; z[k] ∈ [0, n_k] worth
     * (1 + p_k) g each — the LP fills the highest priorities first. Buckets of
     * one super-class and priority (they differ in static class or in being
     * moved, which rounding reads, not the LP) are one column: identical
     * columns only slow the simplex (5,543 buckets, 4,369 columns at
     * 10,000 × 30,000). */
    if (L->nK > 0) /* none: only gang classes (gang_lp.c) */
        glp_add_rows(L->P, L->nK);
    for (int k = 0; k < L->nK; k++) {
        glp_set_row_bnds(L->P, k + 1, GLP_FX, 0, 0);
        ko[k] = (kord_t){1.0 + L->kprio[k], k};
    }
    L->nz = 0;
    for (int a = 0; a < c->nk;) {
        int k = L->b_mem[a], K = L->kof[k], n = 0, b = a;
        const tp_workload_t *w = c->cw[c->k_mem[c->k_off[k]]];
        for (; b < c->nk && L->kof[L->b_mem[b]] == K &&
               c->cw[c->k_mem[c->k_off[L->b_mem[b]]]]->priority == w->priority;
             b++)
            n += c->k_off[L->b_mem[b] + 1] - c->k_off[L->b_mem[b]];
        L->zb[L->nz++] = (zb_t){K, n, (1.0 + w->priority) * w->gpus, 0};
        L->zoff[K + 1] = L->nz;
        if (c->gl) /* gang pricing is capped (retire()): every bucket from the start */
            add_zcol(L, L->nz - 1);
        a = b;
    }
    qsort(ko, (size_t)L->nK, sizeof *ko, by_kord);
    if (seed(L, ko) < 0)
        goto out;
    /* The buckets the greedy reservation reaches, at least the top one, those
     * it fills whole at their upper bound; pricing adds the rest when the
     * class's dual wants them (price()). */
    long nres = 0, nall = 0;
    for (int k = 0; k < L->nK && !c->gl; k++) {
        nres += L->kres[k];
        nall += L->kn[k];
        for (int b = L->zoff[k], cum = 0; b < L->zoff[k + 1]; b++) {
            if (b > L->zoff[k] && cum >= L->kres[k])
                break;
            add_zcol(L, b);
            cum += L->zb[b].n;
            if (cum <= L->kres[k])
                glp_set_col_stat(L->P, L->zb[b].jcol, GLP_NU);
        }
    }
    lp_view_t v = view(L);
    int gcols = gang_lp_seed(c, &v);
    if (gcols < 0)
        goto out;
    /* Where the reservation leaves over a tenth of the candidates out, round 0
     * starts from GLPK's crash basis (a triangular basis of structurals) and
     * the primal uses the long-step ratio test (solve_lp()): at 10,000 ×
     * 30,000 (55% reserved) 1,658 simplex iterations there instead of 2,445;
     * at 10,000 × 10,000 (96%) the full buckets' start is near the optimum
     * (1,041 against 3,388). Not with gangs in the LP: their rounds are
     * capped and re-optimise with the dual (left as they were). */
    L->crash = !c->gl && (double)nres < 0.9 * (double)nall;
    if (L->crash)
        glp_adv_basis(L->P, 0);
    /* Column generation stops once the LP is within LP_GAP_STOP of its
     * Lagrangian bound: packing loses more than that anyway. */
    for (L->out->rounds = 0; L->out->rounds < MAX_ROUNDS && L->ncols + gcols > 0;
         L->out->rounds++) {
        if (solve_lp(L, meth) != 0)
            break; /* the last optimal x stands */
        for (int i = 0; i < L->ncols; i++)
            L->x[i] = glp_get_col_prim(L->P, xcol(L, i));
        int n = separate(L);
        if (n < 0)
            goto out;
        if (n > 0) {
            /* Without gangs the primal simplex: GLPK's dual simplex took up to
             * 25,000 iterations to re-optimise after a few rows at 50,000 ×
             * 150,000 (and ran into the iteration budget once). */
            meth = c->gl ? GLP_DUALP : GLP_PRIMAL;
            continue;
        }
        double z = glp_get_obj_val(L->P), lagr;
        retire(L);
        if (L->have_m)
            memcpy(L->mprev, L->m, (size_t)L->nK * sizeof *L->m);
        L->have_prev = L->have_m;
        for (int k = 0; k < L->nK; k++)
            L->m[k] = glp_get_row_dual(L->P, k + 1);
        L->have_m = true;
        zm = z;
        if ((n = price(L, z, &lagr)) < 0)
            goto out;
        if (n == 0) {
            L->out->optimal = true;
            break;
        }
        if (lagr - z <= LP_GAP_STOP * fabs(z)) {
            L->out->gap_stop = true;
            break;
        }
        meth = GLP_PRIMAL;
    }
    if (L->have_m) {
        /* The LP is highly degenerate: of its many optimal duals, the one
         * the last basis picks can bound poorly (50,000 × 150,000: 1,020.5k
         * from the last round's, 1,013.0k from the round before's). Any m
         * bounds, so the better of the last two rounds'. */
        double tb = tree_at(L, L->m);
        if (L->have_prev)
            tb = fmin(tb, tree_at(L, L->mprev));
        if (tb < L->out->bound)
            L->out->bound = tb;
        L->out->stop = L->out->bound;
        bool shared = false; /* some domain lies below the group level */
        for (int d = 0; d < c->f->ndomains && !shared; d++)
            shared = c->f->domains[d].depth > c->group_level;
        for (int i = 0;
             i < 2 && !c->gl && !c->no_bound && shared && tb > zm * (1 + RESHARE_GAP);
             i++)
            if ((rc = reshare(L, i == 0 ? 1.2 : 2.0)) < 0)
                goto out;
    }
    rc = 0;
out:
    glp_delete_prob(L->P);
    L->P = NULL;
    return rc;
}

typedef struct {
    double x;
    double c;
    int j;
} take_t;

static int by_take(const void *a, const void *b)
{
    const take_t *p = a, *q = b;
    if (p->x != q->x)
        return p->x > q->x ? -1 : 1;
    if (p->c != q->c)
        return p->c > q->c ? -1 : 1;
    return (p->j > q->j) - (p->j < q->j);
}

typedef struct {
    int gpus;
    double weight;
    int ci;
} pk_t;

static int by_pack(const void *a, const void *b)
{
    const pk_t *p = a, *q = b;
    if (p->weight != q->weight)
        return p->weight > q->weight ? -1 : 1;
    if (p->gpus != q->gpus)
        return p->gpus > q->gpus ? -1 : 1;
    return (p->ci > q->ci) - (p->ci < q->ci);
}

/* Positions in c->g_mem of the nodes packing may still use: a node with no
 * free GPU is linked to the next position (plan_next_open; nodes only fill up
 * while packing), so a group of thousands of nodes, most of them full, is not
 * scanned whole per candidate. Position nnodes is a sentinel, never closed. */
static void close_if_full(const ctx_t *c, const plan_t *p, int *skip, const int *pos,
                          int n)
{
    if (c->healthy[n] - p->load->gpus_used[n] <= 0)
        skip[pos[n]] = pos[n] + 1;
}

/* The node of group g for candidate ci in packing: the one whose tightest
 * enclosing power domain keeps the largest share of its cap free (the LP
 * counts a shared rack or row per group, so packing spreads the load over the
 * racks and rows of a group instead of filling them in id order — scarce
 * nodes then keep their rack's headroom), the fullest node on ties (best fit
 * among the nodes of one rack), then the first in canonical order. -1: none. */
static int spread_fit(const ctx_t *c, const plan_t *p, int *skip, const int *run_end,
                      const int *pleaf, int ci, int g)
{
    const tp_fleet_t *f = c->f;
    const tp_load_t *l = p->load;
    int best = -1, best_left = 0;
    double best_slack = -1;
    if (!ctx_static_ok(c, ci, c->g_mem[c->g_off[g]]) || plan_group_full(c, p, ci, g))
        return -1;
    int leaf = -1; /* nodes of one rack come together in canonical order */
    double slack = 0, add = plan_least_watts(c, ci, g);
    bool blocked = false;
    for (int i = plan_next_open(skip, c->g_off[g]); i < c->g_off[g + 1];) {
        int n = c->g_mem[i];
        if (pleaf[i] != leaf) {
            leaf = pleaf[i];
            /* A rack (or a domain above it) that cannot take ci at the group's
             * lowest draw cannot on any of its nodes (plan_group_full). */
            blocked = false;
            slack = INFINITY; /* one walk up; unused once blocked */
            for (int d = leaf; d >= 0 && !blocked; d = f->domains[d].parent) {
                blocked = ctx_over(l->domain_w[d] + add, c->dcap[d]);
                double share = c->dcap[d] > 0 ? (c->dcap[d] - l->domain_w[d]) / c->dcap[d]
                                              : INFINITY;
                if (share < slack) /* as fmin: a NaN share never wins */
                    slack = share;
            }
            /* Shares within 1% of each other count as equal: best fit decides. */
            slack = floor(slack * 100);
        }
        /* The whole rack loses: it cannot take ci, or a freer one was found. */
        if (blocked || (best >= 0 && slack < best_slack)) {
            i = plan_next_open(skip, run_end[i]);
            continue;
        }
        int left = c->healthy[n] - l->gpus_used[n] - c->cw[ci]->gpus;
        if (left >= 0 && (best < 0 || slack > best_slack || left < best_left) &&
            plan_fits(c, p, ci, n)) {
            best = n;
            best_left = left;
            best_slack = slack;
        }
        i = plan_next_open(skip, i + 1);
    }
    return best;
}

/* ⌊x⌋ candidates of each class to each group, then packing per group. */
static int round_and_pack(lp_t *L)
{
    const ctx_t *c = L->c;
    int rc = TP_ENOMEM, *tgt = malloc(((size_t)c->nc + 1) * sizeof *tgt);
    int *cnt = calloc((size_t)c->ng + 1, sizeof *cnt);
    take_t *t = malloc(((size_t)L->ncols + 1) * sizeof *t);
    pk_t *pk = malloc(((size_t)c->nc + 1) * sizeof *pk);
    int nn = c->f->nnodes, *skip = malloc(((size_t)nn + 1) * sizeof *skip),
        *pos = malloc(((size_t)nn + 1) * sizeof *pos),
        *run_end = malloc(((size_t)nn + 1) * sizeof *run_end),
        *pleaf = malloc(((size_t)nn + 1) * sizeof *pleaf);
    if (!tgt || !cnt || !t || !pk || !skip || !pos || !run_end || !pleaf ||
        gang_lp_round(c, L->p) < 0) /* gangs first, from the LP's counts */
        goto out;
    for (int i = 0; i < nn; i++)
        pleaf[i] = c->f->nodes[c->g_mem[i]].domain; /* compact: scanned per candidate */
    /* run_end[i]: the first position after i's run — the nodes of one group
     * under one leaf domain, consecutive in canonical order. */
    for (int i = nn - 1; i >= 0; i--) {
        int n = c->g_mem[i], m = i + 1 < nn ? c->g_mem[i + 1] : -1;
        run_end[i] = m >= 0 && c->node_g[m] == c->node_g[n] &&
                             c->f->nodes[m].domain == c->f->nodes[n].domain
                         ? run_end[i + 1]
                         : i + 1;
    }
    for (int i = 0; i <= nn; i++)
        skip[i] = i;
    for (int i = 0; i < nn; i++)
        pos[c->g_mem[i]] = i;
    for (int n = 0; n < nn; n++)
        close_if_full(c, L->p, skip, pos, n);
    for (int i = 0; i < c->nc; i++)
        tgt[i] = -1;
    for (int k = 0; k < L->nK; k++) {
        int nt = 0, b = L->b_off[k], m = 0;
        for (int i = L->khead[k]; i >= 0; i = L->cols[i].knext)
            if (L->x[i] > 1e-6)
                t[nt++] = (take_t){L->x[i], L->cols[i].c, L->cols[i].j};
        qsort(t, (size_t)nt, sizeof *t, by_take);
        /* Members by priority (the buckets are in that order), then index. */
        for (int a = 0; a < nt; a++)
            for (int q = (int)floor(t[a].x + 1e-6); q > 0 && b < L->b_off[k + 1]; q--) {
                int kk = L->b_mem[b];
                tgt[c->k_mem[c->k_off[kk] + m]] = t[a].j;
                if (++m == c->k_off[kk + 1] - c->k_off[kk]) {
                    m = 0;
                    b++;
                }
            }
    }
    /* Pack in one pass over every targeted candidate, most valuable per GPU
     * first, big work first among equals — groups that share a rack or row
     * then give its power to the better work — each on the fullest node of its
     * target group that fits; what does not fit goes to repair. */
    int np = 0;
    for (int i = 0; i < c->nc; i++)
        if (tgt[i] >= 0)
            pk[np++] = (pk_t){c->cw[i]->gpus, 1.0 + c->cw[i]->priority, i};
    qsort(pk, (size_t)np, sizeof *pk, by_pack);
    for (int a = 0; a < np; a++) {
        int n = spread_fit(c, L->p, skip, run_end, pleaf, pk[a].ci, tgt[pk[a].ci]);
        if (n >= 0) {
            plan_place(c, L->p, pk[a].ci, n);
            close_if_full(c, L->p, skip, pos, n);
        }
    }
    rc = 0;
out:
    free(tgt);
    free(cnt);
    free(t);
    free(pk);
    free(skip);
    free(pos);
    free(run_end);
    free(pleaf);
    return rc;
}

static void lp_free(lp_t *L)
{
    free(L->kof);
    free(L->b_off);
    free(L->b_mem);
    free(L->krep);
    free(L->kn);
    free(L->kg);
    free(L->kprio);
    free(L->kmodel);
    free(L->khead);
    free(L->gfree);
    free(L->gmaxfree);
    free(L->gnsc);
    free(L->ggm);
    free(L->gcnt);
    free(L->ghead);
    free(L->gmaxhead);
    free(L->gminw);
    free(L->grow);
    free(L->rq);
    free(L->gcol);
    free(L->drow);
    free(L->dhead);
    free(L->cols);
    free(L->ug);
    free(L->uw);
    free(L->us);
    free(L->ud);
    free(L->pg);
    free(L->pw);
    free(L->ps);
    free(L->mark);
    free(L->slot);
    free(L->ind);
    free(L->val);
    free(L->x);
    free(L->ko);
    free(L->m);
    free(L->mprev);
    free(L->zb);
    free(L->zoff);
    free(L->kres);
    free(L->tv);
    free(L->tw);
    free(L->to_off);
    free(L->to_k);
}

typedef struct {
    int K, prio, moved, k;
} bucket_t;

static int by_bucket(const void *a, const void *b)
{
    const bucket_t *x = a, *y = b;
    if (x->K != y->K)
        return x->K - y->K;
    if (x->prio != y->prio)
        return x->prio > y->prio ? -1 : 1;
    if (x->moved != y->moved)
        return x->moved > y->moved ? -1 : 1;
    return x->k - y->k;
}

/* Candidate static classes the nodes cannot tell apart: the same GPU count and
 * the same eligibility on every node static class. esig[wsc] → its id. */
static int elig_sigs(const ctx_t *c, int *esig)
{
    keytab_t t;
    int rc = 0, *key = malloc(((size_t)c->nnsc + 2) * sizeof *key);
    if (!key || keytab_init(&t, 64) < 0) {
        free(key);
        return TP_ENOMEM;
    }
    for (int w = 0; w < c->nwsc && rc == 0; w++) {
        key[0] = c->cw[c->wsc_rep[w]]->gpus;
        for (int n = 0; n < c->nnsc; n++)
            key[n + 1] = c->stat[(size_t)w * (size_t)c->nnsc + (size_t)n] == 0;
        if ((esig[w] = keytab_intern(&t, key, c->nnsc + 1)) < 0)
            rc = TP_ENOMEM;
    }
    keytab_fini(&t);
    free(key);
    return rc;
}

/* Super-classes: ctx's classes of one AI model whose static classes no node
 * can tell apart (elig_sigs): one size, eligibility and value per group. */
static int super_classes(lp_t *L)
{
    const ctx_t *c = L->c;
    keytab_t t;
    bucket_t *bk = malloc(((size_t)c->nk + 1) * sizeof *bk);
    int *esig = malloc(((size_t)c->nwsc + 1) * sizeof *esig);
    int rc = TP_ENOMEM;
    if (!bk || !esig || elig_sigs(c, esig) < 0) {
        free(bk);
        free(esig);
        return TP_ENOMEM;
    }
    if (keytab_init(&t, 64) < 0) {
        free(bk);
        free(esig);
        return TP_ENOMEM;
    }
    for (int k = 0; k < c->nk; k++) {
        int ci = c->k_mem[c->k_off[k]];
        int key[2] = {esig[c->cand_wsc[ci]], c->cw[ci]->model};
        if ((L->kof[k] = keytab_intern(&t, key, 2)) < 0)
            goto out;
        bk[k] = (bucket_t){L->kof[k], c->cw[ci]->priority, c->corigin[ci] >= 0, k};
    }
    L->nK = t.n;
    qsort(bk, (size_t)c->nk, sizeof *bk, by_bucket);
    for (int k = 0; k < L->nK; k++) {
        L->kn[k] = 0;
        L->khead[k] = -1;
    }
    for (int a = 0; a < c->nk; a++) {
        int K = bk[a].K, k = bk[a].k, ci = c->k_mem[c->k_off[k]];
        L->b_mem[a] = k;
        L->b_off[K + 1]++;
        if (L->kn[K] == 0) { /* the first bucket: the top priority */
            L->krep[K] = ci;
            L->kg[K] = c->cw[ci]->gpus;
            L->kprio[K] = c->cw[ci]->priority;
            L->kmodel[K] = c->cw[ci]->model;
        }
        L->kn[K] += c->k_off[k + 1] - c->k_off[k];
    }
    for (int K = 0; K < L->nK; K++)
        L->b_off[K + 1] += L->b_off[K];
    rc = 0;
out:
    keytab_fini(&t);
    free(esig);
    free(bk);
    return rc;
}

int lp_aggregate(const ctx_t *c, plan_t *p, lp_out_t *out, char *msg, size_t msglen)
{
    lp_t L = {0};
    size_t ng = (size_t)c->ng + 1, nk = (size_t)c->nk + 1,
           nd = (size_t)c->f->ndomains + 1;
    int rc = TP_ENOMEM;
    out->bound = out->stop = INFINITY;
    out->rounds = 0;
    out->optimal = out->stopped = out->gap_stop = false;
    L.c = c;
    L.p = p;
    L.out = out;
    /* Sizes > 1 that some class asks for: the largest MAX_SIZES of them. */
    for (int k = 0; k < c->nk; k++) {
        int g = c->cw[c->k_mem[c->k_off[k]]]->gpus, s = 0;
        if (g <= 1)
            continue;
        while (s < L.nsz && L.sizes[s] != g)
            s++;
        if (s < L.nsz)
            continue;
        if (L.nsz < MAX_SIZES)
            L.sizes[L.nsz++] = g;
        else {
            int lo = 0;
            for (int a = 1; a < L.nsz; a++)
                if (L.sizes[a] < L.sizes[lo])
                    lo = a;
            if (g > L.sizes[lo])
                L.sizes[lo] = g;
        }
    }
    size_t nsz = (size_t)(L.nsz ? L.nsz : 1);
    L.kof = malloc(nk * sizeof *L.kof);
    L.b_off = calloc(nk + 1, sizeof *L.b_off);
    L.b_mem = malloc(nk * sizeof *L.b_mem);
    L.krep = malloc(nk * sizeof *L.krep);
    L.kn = malloc(nk * sizeof *L.kn);
    L.kg = malloc(nk * sizeof *L.kg);
    L.kprio = malloc(nk * sizeof *L.kprio);
    L.kmodel = malloc(nk * sizeof *L.kmodel);
    L.khead = malloc(nk * sizeof *L.khead);
    L.gfree = calloc(ng, sizeof *L.gfree);
    L.gmaxfree = calloc(ng, sizeof *L.gmaxfree);
    L.gnsc = calloc(ng, sizeof *L.gnsc);
    L.ggm = calloc(ng, sizeof *L.ggm);
    L.gcnt = calloc(ng * nsz, sizeof *L.gcnt);
    L.ghead = calloc(ng, sizeof *L.ghead);
    L.gmaxhead = calloc(ng, sizeof *L.gmaxhead);
    L.gminw = calloc(ng, sizeof *L.gminw);
    L.grow = calloc(ng, sizeof *L.grow);
    L.rq = calloc(ng * (nsz + 2), sizeof *L.rq);
    L.gcol = malloc(ng * sizeof *L.gcol);
    L.drow = calloc(nd, sizeof *L.drow);
    L.dhead = calloc(nd, sizeof *L.dhead);
    L.ug = calloc(ng, sizeof *L.ug);
    L.uw = calloc(ng, sizeof *L.uw);
    L.us = calloc(ng * nsz, sizeof *L.us);
    L.ud = calloc(nd, sizeof *L.ud);
    L.pg = calloc(ng, sizeof *L.pg);
    L.pw = calloc(ng, sizeof *L.pw);
    L.ps = calloc(ng * nsz, sizeof *L.ps);
    L.mark = calloc(ng, sizeof *L.mark);
    L.slot = calloc(ng, sizeof *L.slot);
    L.ko = malloc(nk * sizeof *L.ko);
    L.m = malloc(nk * sizeof *L.m);
    L.mprev = malloc(nk * sizeof *L.mprev);
    L.zb = malloc(nk * sizeof *L.zb);
    L.zoff = calloc(nk + 1, sizeof *L.zoff);
    L.kres = calloc(nk, sizeof *L.kres);
    if (!L.m || !L.mprev || !L.zb || !L.zoff || !L.kres || !L.kof || !L.b_off ||
        !L.b_mem || !L.krep || !L.ko || !L.kn || !L.kg || !L.kprio || !L.kmodel ||
        !L.khead || !L.gfree || !L.gmaxfree || !L.gnsc || !L.ggm || !L.gcnt || !L.ghead ||
        !L.gmaxhead || !L.gminw || !L.grow || !L.rq || !L.gcol || !L.drow || !L.dhead ||
        !L.ug || !L.uw || !L.us || !L.ud || !L.pg || !L.pw || !L.ps || !L.mark || !L.slot)
        goto out;
    if (super_classes(&L) < 0)
        goto out;
    for (int j = 0; j < c->ng; j++)
        L.gcol[j] = -1;
    if (measure(&L) < 0)
        goto out;
    pair_table(&L);
    if (c->nk > 0 || gang_lp_nclasses(c) > 0) {
        rc = glpk_guarded(run, &L, msg, msglen);
        if (rc < 0)
            goto out;
    }
    rc = round_and_pack(&L);
out:
    lp_free(&L);
    return rc;
}
