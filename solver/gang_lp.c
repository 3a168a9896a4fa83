/*
 * solver/gang_lp.c — gangs inside the aggregated LP (lp.c) on large inputs.
 *
 * Gang classes: the open gangs (those the greedy pass of gang.c placed or left
 * waiting for room; not those placed by reclaim, not those a tenant limit
 * holds) of one member size, AI model, member count N, `together` kind and
 * member eligibility (the same static facts) share a class G; its gangs are
 * priority buckets, as the single-node classes' are. For each class and each
 * domain r of its kind (the whole fleet without one) where at least N nodes
 * are eligible for a member and fit one alone, a column y[G][r] ≥ 0 counts
 * the gangs placed in r:
 *   Σ_b z[G][b] − Σ_r y[G][r] = 0      every class; z[G][b] ∈ [0, n_b] worth
 *                                      (1 + p_b) g N each
 *   y[G][r] ≤ cap[G][r]                gangs of G that r holds alone: member
 *                                      slots ÷ N, power headroom ÷ N members' draw
 *   Σ_G N g y ≤ GPUs of r, Σ_G N w y ≤ headroom of r     per gang domain r
 *                                      (added when broken)
 * and y's N members take their share of the groups of r's eligible nodes in
 * the single-node rows (GPUs, sizes, watts of each group, every domain row
 * above it) — share: the eligible nodes of the group in r ÷ those of r — so
 * the LP trades gangs against single-node work by priority-weighted GPUs.
 * Columns are priced like the single-node ones (duals of the group and domain
 * rows), rows added when broken; lp.c calls the hooks below.
 *
 * Rounding (before the single-node packing): per class ⌊y⌋ gangs to each
 * domain, the fractions summed and rounded to the domains with the largest
 * ones; classes by value per gang, each gang (priority, then id) placed inside
 * its domain by gang.c's best fit, within its tenant's room; after the plan's
 * repair the gangs still waiting try every domain in id order (the greedy pass).
 * Ruin and recreate (improve.c) then moves the chosen gangs with the
 * single-node work (gang_lp_seat, gang_lp_set: on the domain and the nodes
 * that draw least). The greedy pass's own plan (its gangs, then first fit and
 * the priority greedy) is kept as a safety net: the better total wins.
 *
 * The bound (lp.c's tree bound): every member of a class is a single-node
 * item of g GPUs (togetherness and all-or-nothing dropped: a relaxation), with
 * multiplier the class row's dual ÷ N, or the full value — the smaller bound
 * counts. Eligibility there is per group (any eligible node), watts the least
 * of the group's eligible nodes: both only loosen it.
 */
#include "solver/solver_internal.h"

#include <glpk.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GKADD 4 /* columns added per class per pricing round */
/* With gangs, column generation ends at this pricing round (gang columns
 * are added in the rounds before it): later warm re-solves with hundreds of
 * gang columns took thousands of degenerate simplex iterations each. With
 * gangs seeded and placed where they draw least (mixed benchmark, 2 / 3 / 5
 * rounds / to the end: 17,154 / 17,341 / 17,336 / 17,336 weighted, 0.59 /
 * 0.60 / 0.93 / 0.98 s of CPU at load ~6; the gang-heavy variant 20,874 at
 * 2 rounds, 20,905 at 3). */
#define GANG_PRICE_ROUNDS 3
#define RC_TOL 1e-9
#define VIOL_TOL 1e-6

typedef struct {
    int G, r;    /* class, index of the domain in its kind's list */
    int jcol;    /* GLPK column */
    int off, n;  /* its groups: gl->ej/es/ew [off, off + n) */
    double wsum; /* watts of one member (share-weighted) */
} gcol_t;

struct gang_lp {
    /* Open gangs in the order they are tried: priority, then id. */
    int ng, *it, *cls;
    int **mem; /* chosen members (owned); NULL: waits */
    long *use; /* tenants' use without the open gangs, plus the chosen ones */
    bool reverted;
    /* Classes. */
    int nG, *Gg, *Gmodel, *GN, *Gslot, *Gelig, *Gfit, *Gn, *Gfirst; /* first gang */
    int *b_off, *b_prio, *b_cnt;                                    /* buckets */
    char **elig; /* [e]: eligibility of a member per node */
    int ne;
    char **fit; /* [f]: one member fits alone on the lifted base */
    int nf;
    int **cap;      /* [G][r] */
    double **rwmin; /* [G][r]: the least draw of one member there */
    double **rwall; /* [G][r]: the least of any node there, eligible or not */
    double *Gleast; /* [G]: gang_lp_least_draw, on first use (NAN: not yet) */
    double *islope, *iwatts;
    int *idom, capit;
    double *tw; /* [G * ng + j]: least watts per GPU of an eligible node; INF: none */
    double *ta, *tb;
    /* Gang domains: per slot (kind + 1) and domain index, GPUs and headroom. */
    double **rfree, **rhead;
    int **rrow;
    /* The LP. */
    int *Grow, **ycol; /* class row; [G][r] 1 + column index, 0: none */
    gcol_t *cols;
    int ncols, capcols;
    int *ej;
    double *es, *ew;
    size_t ne_, cape;
    double *y, *mu;
    char *full; /* [G]: no domain seats a gang of G on the load of this pass */
    bool have_mu;
    int prounds;
    int *ind;
    double *val, *dacc;
    int capind;
    /* The safety net. */
    plan_t g0;
    double g0value;
};

/* ---- construction ------------------------------------------------------------ */

static bool same_ints(const int *a, int na, const int *b, int nb)
{
    return na == nb && (na == 0 || !memcmp(a, b, (size_t)na * sizeof *a));
}

bool gang_same_static(const tp_workload_t *a, const tp_workload_t *b)
{
    return a->gpus == b->gpus && a->req.tee_mask == b->req.tee_mask &&
           a->req.gpu_cc == b->req.gpu_cc && a->req.attestation == b->req.attestation &&
           a->req.min_status == b->req.min_status &&
           a->req.max_age_s == b->req.max_age_s && a->req.residency == b->req.residency &&
           a->any_gpu_model == b->any_gpu_model &&
           (a->any_gpu_model ||
            same_ints(a->gpu_models, a->ngpu_models, b->gpu_models, b->ngpu_models)) &&
           same_ints(a->residency, a->nresidency, b->residency, b->nresidency);
}

static const tp_workload_t *gw(const ctx_t *c, int i)
{
    return c->side.w[c->gl->it[i]];
}

typedef struct {
    int prio, it;
    const char *id;
} gord_t;

static int by_gord(const void *a, const void *b)
{
    const gord_t *x = a, *y = b;
    if (x->prio != y->prio)
        return y->prio - x->prio;
    int r = strcmp(x->id, y->id);
    return r ? r : x->it - y->it;
}

static void apply_gang(const ctx_t *c, tp_load_t *l, const tp_workload_t *w,
                       const int *mem, int sign)
{
    for (int j = 0; j < tp_wl_nodes(w); j++)
        tp_load_apply(l, c->f, mem[j], w->gpus,
                      tp_fleet_gpu_watts(c->f, mem[j], w->model), sign);
}

/* Classes, eligibility, fit and capacities on the lifted base. */
static int build(ctx_t *c)
{
    struct gang_lp *gl = c->gl;
    const tp_fleet_t *f = c->f;
    const side_t *sd = &c->side;
    int nn = f->nnodes, ng = gl->ng;
    int *erep = malloc(((size_t)ng + 1) * sizeof *erep);
    int *frep = malloc(((size_t)ng + 1) * sizeof *frep);
    gl->elig = calloc((size_t)ng + 1, sizeof *gl->elig);
    gl->fit = calloc((size_t)ng + 1, sizeof *gl->fit);
    gl->cls = malloc(((size_t)ng + 1) * sizeof *gl->cls);
    int fields = 9;
    int *Gk = malloc(((size_t)ng + 1) * (size_t)fields * sizeof *Gk);
    if (!erep || !frep || !gl->elig || !gl->fit || !gl->cls || !Gk)
        goto fail;
    for (int i = 0; i < ng; i++) {
        const tp_workload_t *w = gw(c, i);
        int e = 0, q = 0;
        while (e < gl->ne && !gang_same_static(gw(c, erep[e]), w))
            e++;
        if (e == gl->ne) {
            if (!(gl->elig[e] = malloc((size_t)nn + 1)))
                goto fail;
            side_static_row(c, w, gl->elig[e]);
            erep[gl->ne++] = i;
        }
        while (q < gl->nf &&
               !(gw(c, frep[q])->gpus == w->gpus && gw(c, frep[q])->model == w->model))
            q++;
        if (q == gl->nf) {
            if (!(gl->fit[q] = malloc((size_t)nn + 1)))
                goto fail;
            for (int n = 0; n < nn; n++)
                gl->fit[q][n] = ctx_fits(c, c->base, w, n);
            frep[gl->nf++] = i;
        }
        int key[9] = {w->gpus, w->model, tp_wl_nodes(w), tp_wl_together(w) + 1, e, q};
        int G = 0;
        while (G < gl->nG && memcmp(Gk + (size_t)G * fields, key, 6 * sizeof *key))
            G++;
        if (G == gl->nG) {
            memcpy(Gk + (size_t)G * fields, key, 6 * sizeof *key);
            gl->nG++;
        }
        gl->cls[i] = G;
    }
    int nG = gl->nG, ngr = c->ng;
    gl->Gg = malloc(((size_t)nG + 1) * sizeof *gl->Gg);
    gl->Gmodel = malloc(((size_t)nG + 1) * sizeof *gl->Gmodel);
    gl->GN = malloc(((size_t)nG + 1) * sizeof *gl->GN);
    gl->Gslot = malloc(((size_t)nG + 1) * sizeof *gl->Gslot);
    gl->Gelig = malloc(((size_t)nG + 1) * sizeof *gl->Gelig);
    gl->Gfit = malloc(((size_t)nG + 1) * sizeof *gl->Gfit);
    gl->Gn = calloc((size_t)nG + 1, sizeof *gl->Gn);
    gl->Gfirst = malloc(((size_t)nG + 1) * sizeof *gl->Gfirst);
    gl->b_off = calloc((size_t)nG + 2, sizeof *gl->b_off);
    gl->b_prio = malloc(((size_t)ng + 1) * sizeof *gl->b_prio);
    gl->b_cnt = calloc((size_t)ng + 1, sizeof *gl->b_cnt);
    gl->cap = calloc((size_t)nG + 1, sizeof *gl->cap);
    gl->rwmin = calloc((size_t)nG + 1, sizeof *gl->rwmin);
    gl->rwall = calloc((size_t)nG + 1, sizeof *gl->rwall);
    gl->ycol = calloc((size_t)nG + 1, sizeof *gl->ycol);
    gl->Grow = calloc((size_t)nG + 1, sizeof *gl->Grow);
    gl->mu = calloc((size_t)nG + 1, sizeof *gl->mu);
    gl->full = calloc((size_t)nG + 1, 1);
    gl->tw = malloc(((size_t)nG * (size_t)ngr + 1) * sizeof *gl->tw);
    gl->ta = malloc(((size_t)nG + 1) * sizeof *gl->ta);
    gl->tb = malloc(((size_t)nG + 1) * sizeof *gl->tb);
    gl->rfree = calloc((size_t)f->nkinds + 2, sizeof *gl->rfree);
    gl->rhead = calloc((size_t)f->nkinds + 2, sizeof *gl->rhead);
    gl->rrow = calloc((size_t)f->nkinds + 2, sizeof *gl->rrow);
    gl->dacc = calloc((size_t)f->ndomains + 1, sizeof *gl->dacc);
    if (!gl->Gg || !gl->Gmodel || !gl->GN || !gl->Gslot || !gl->Gelig || !gl->Gfit ||
        !gl->Gn || !gl->Gfirst || !gl->b_off || !gl->b_prio || !gl->b_cnt || !gl->cap ||
        !gl->rwmin || !gl->rwall || !gl->ycol || !gl->Grow || !gl->mu || !gl->full ||
        !gl->tw || !gl->ta || !gl->tb || !gl->rfree || !gl->rhead || !gl->rrow ||
        !gl->dacc)
        goto fail;
    for (int G = 0; G < nG; G++) {
        const int *k = Gk + (size_t)G * fields;
        gl->Gg[G] = k[0];
        gl->Gmodel[G] = k[1];
        gl->GN[G] = k[2];
        gl->Gslot[G] = k[3];
        gl->Gelig[G] = k[4];
        gl->Gfit[G] = k[5];
        gl->Gfirst[G] = -1;
    }
    /* Buckets: the gangs of a class are in priority order already. */
    for (int i = 0; i < ng; i++)
        gl->b_off[gl->cls[i] + 1]++;
    for (int G = 0; G < nG; G++)
        gl->b_off[G + 1] += gl->b_off[G];
    {
        int *fill = malloc(((size_t)nG + 1) * sizeof *fill);
        if (!fill)
            goto fail;
        memcpy(fill, gl->b_off, (size_t)nG * sizeof *fill);
        for (int i = 0; i < ng; i++) { /* provisional: one slot per gang */
            int G = gl->cls[i];
            if (gl->Gfirst[G] < 0)
                gl->Gfirst[G] = i;
            gl->Gn[G]++;
            int b = fill[G];
            if (b > gl->b_off[G] && gl->b_prio[b - 1] == gw(c, i)->priority) {
                gl->b_cnt[b - 1]++;
                continue;
            }
            gl->b_prio[b] = gw(c, i)->priority;
            gl->b_cnt[b] = 1;
            fill[G]++;
        }
        /* Compact: bucket ranges [b_off[G], fill[G]). */
        int w = 0;
        for (int G = 0; G < nG; G++) {
            int from = gl->b_off[G], to = fill[G];
            gl->b_off[G] = w;
            for (int b = from; b < to; b++, w++) {
                gl->b_prio[w] = gl->b_prio[b];
                gl->b_cnt[w] = gl->b_cnt[b];
            }
        }
        gl->b_off[nG] = w;
        free(fill);
    }
    /* Gang domains: GPUs nodes can run and headroom (itself and above). */
    for (int G = 0; G < nG; G++) {
        int slot = gl->Gslot[G], nd = sd->k_n[slot];
        if (gl->rfree[slot])
            continue;
        gl->rfree[slot] = calloc((size_t)nd + 1, sizeof **gl->rfree);
        gl->rhead[slot] = malloc(((size_t)nd + 1) * sizeof **gl->rhead);
        gl->rrow[slot] = calloc((size_t)nd + 1, sizeof **gl->rrow);
        if (!gl->rfree[slot] || !gl->rhead[slot] || !gl->rrow[slot])
            goto fail;
        for (int r = 0; r < nd; r++) {
            double h = INFINITY;
            for (int d = sd->k_dom[slot][r]; d >= 0; d = f->domains[d].parent)
                h = fmin(h, fmax(0, c->dcap[d] - c->base->domain_w[d]));
            gl->rhead[slot][r] = h;
            for (int i = sd->k_off[slot][r]; i < sd->k_off[slot][r + 1]; i++) {
                int n = sd->k_mem[slot][i], u = c->healthy[n] - c->base->gpus_used[n];
                gl->rfree[slot][r] += u > 0 ? u : 0;
            }
        }
    }
    /* Capacities per (class, domain); the tree bound's watts per group. */
    for (size_t i = 0; i < (size_t)nG * (size_t)ngr; i++)
        gl->tw[i] = INFINITY;
    for (int G = 0; G < nG; G++) {
        int slot = gl->Gslot[G], nd = sd->k_n[slot], N = gl->GN[G], g = gl->Gg[G];
        const char *el = gl->elig[gl->Gelig[G]], *ft = gl->fit[gl->Gfit[G]];
        const tp_workload_t *w = gw(c, gl->Gfirst[G]);
        if (!(gl->cap[G] = calloc((size_t)nd + 1, sizeof **gl->cap)) ||
            !(gl->rwmin[G] = calloc((size_t)nd + 1, sizeof **gl->rwmin)) ||
            !(gl->rwall[G] = calloc((size_t)nd + 1, sizeof **gl->rwall)) ||
            !(gl->ycol[G] = calloc((size_t)nd + 1, sizeof **gl->ycol)))
            goto fail;
        for (int n = 0; n < nn; n++)
            if (el[n]) {
                double *t = &gl->tw[(size_t)G * (size_t)ngr + (size_t)c->node_g[n]];
                *t = fmin(*t, tp_fleet_gpu_watts(f, n, w->model));
            }
        for (int r = 0; r < nd; r++) {
            int cnt = 0;
            double slots = 0, wmin = INFINITY;
            gl->rwall[G][r] = INFINITY;
            for (int i = sd->k_off[slot][r]; i < sd->k_off[slot][r + 1]; i++) {
                int n = sd->k_mem[slot][i];
                gl->rwall[G][r] = fmin(gl->rwall[G][r], tp_policy_work_w(f, n, w));
                if (!el[n] || !ft[n])
                    continue;
                double add = tp_policy_work_w(f, n, w);
                int u = c->healthy[n] - c->base->gpus_used[n];
                double h = c->ncap[n] - c->base->node_w[n];
                cnt++;
                slots += fmin(u / g, add > 0 ? floor(h / add + 1e-9) : u / g);
                wmin = fmin(wmin, add);
            }
            if (cnt < N)
                continue;
            double k = floor(slots / N + 1e-9);
            if (wmin > 0 && isfinite(gl->rhead[slot][r]))
                k = fmin(k, floor(gl->rhead[slot][r] / (N * wmin) + 1e-9));
            gl->cap[G][r] = (int)fmin(k, gl->Gn[G]);
            gl->rwmin[G][r] = wmin;
        }
    }
    free(erep);
    free(frep);
    free(Gk);
    return 0;
fail:
    free(erep);
    free(frep);
    free(Gk);
    return TP_ENOMEM;
}

/* A greedy plan from c->base: the better of first fit and the priority greedy. */
static int greedy_plan(const ctx_t *c, plan_t *best)
{
    int rc;
    if ((rc = plan_init(best, c)) < 0 || (rc = ctx_try_plan(c, best, true)) < 0)
        return rc;
    return ctx_try_plan(c, best, false);
}

int gang_lp_begin(ctx_t *c, plan_t *p)
{
    const side_t *sd = &c->side;
    const tp_fleet_t *f = c->f;
    int n = 0, rc = TP_ENOMEM;
    for (int it = 0; it < sd->n; it++)
        n += tp_wl_nodes(sd->w[it]) > 1 && sd->flag[it] != 2 && !sd->fixed[it];
    if (n == 0)
        return 0;
    struct gang_lp *gl = calloc(1, sizeof *gl);
    gord_t *o = malloc(((size_t)n + 1) * sizeof *o);
    if (!gl || !o) {
        free(gl);
        free(o);
        return TP_ENOMEM;
    }
    c->gl = gl;
    gl->it = malloc(((size_t)n + 1) * sizeof *gl->it);
    gl->mem = calloc((size_t)n + 1, sizeof *gl->mem);
    gl->use = calloc((size_t)f->ntenants + 1, sizeof *gl->use);
    if (!gl->it || !gl->mem || !gl->use)
        goto out;
    for (int it = 0; it < sd->n; it++)
        if (tp_wl_nodes(sd->w[it]) > 1 && sd->flag[it] != 2 && !sd->fixed[it])
            o[gl->ng++] = (gord_t){sd->w[it]->priority, it, sd->w[it]->id};
    qsort(o, (size_t)gl->ng, sizeof *o, by_gord);
    for (int i = 0; i < gl->ng; i++)
        gl->it[i] = o[i].it;
    /* The safety net on the greedy pass's load, before its gangs leave it. */
    if ((rc = greedy_plan(c, &gl->g0)) < 0)
        goto out;
    gl->g0value = plan_objective(c, &gl->g0, NULL) + sd->weighted;
    if (sd->use)
        memcpy(gl->use, sd->use, (size_t)f->ntenants * sizeof *gl->use);
    for (int i = 0; i < gl->ng; i++) {
        int it = gl->it[i];
        const tp_workload_t *w = sd->w[it];
        if (sd->flag[it] != 0)
            continue;
        apply_gang(c, c->base, w, sd->mem[it], -1);
        side_use_add(c, gl->use, tp_wl_tenant(w), -(long)tp_wl_nodes(w) * w->gpus);
    }
    if ((rc = build(c)) < 0)
        goto out;
    plan_fini(p);
    rc = plan_init(p, c);
out:
    free(o);
    return rc < 0 ? rc : 1;
}

/* ---- the LP's hooks ----------------------------------------------------------- */

static int need_ind(struct gang_lp *gl, int n)
{
    if (n <= gl->capind)
        return 0;
    int cap = gl->capind ? gl->capind : 256;
    while (cap < n)
        cap *= 2;
    int *ind = realloc(gl->ind, ((size_t)cap + 1) * sizeof *ind);
    if (!ind)
        return TP_ENOMEM;
    gl->ind = ind;
    double *val = realloc(gl->val, ((size_t)cap + 1) * sizeof *val);
    if (!val)
        return TP_ENOMEM;
    gl->val = val;
    gl->capind = cap;
    return 0;
}

static bool under(const ctx_t *c, int a, int d)
{
    for (; a >= 0; a = c->f->domains[a].parent)
        if (a == d)
            return true;
    return false;
}

/* The coefficient of column i in row q of group entry e's block (q: 0 GPUs,
 * 1..nsz sizes, nsz + 1 watts). */
static double coef(const struct gang_lp *gl, const lp_view_t *v, int i, size_t e, int q)
{
    const gcol_t *col = &gl->cols[i];
    int N = gl->GN[col->G], g = gl->Gg[col->G];
    if (q == 0)
        return N * gl->es[e] * g;
    if (q <= v->nsz)
        return g >= v->sizes[q - 1] ? N * gl->es[e] : 0;
    return N * gl->ew[e];
}

/* Adds column y[G][r]: its groups (share of r's eligible, fitting nodes; member
 * watts) and every row that exists. */
static int add_ycol(const ctx_t *c, const lp_view_t *v, int G, int r)
{
    struct gang_lp *gl = c->gl;
    const tp_fleet_t *f = c->f;
    const side_t *sd = &c->side;
    int slot = gl->Gslot[G], N = gl->GN[G], g = gl->Gg[G], cnt = 0;
    const char *el = gl->elig[gl->Gelig[G]], *ft = gl->fit[gl->Gfit[G]];
    const tp_workload_t *w = gw(c, gl->Gfirst[G]);
    if (gl->ncols == gl->capcols) {
        int cap = gl->capcols ? 2 * gl->capcols : 256;
        gcol_t *cols = realloc(gl->cols, (size_t)cap * sizeof *cols);
        double *y = realloc(gl->y, ((size_t)cap + 1) * sizeof *y);
        if (cols)
            gl->cols = cols;
        if (y)
            gl->y = y;
        if (!cols || !y)
            return TP_ENOMEM;
        gl->capcols = cap;
    }
    int a = sd->k_off[slot][r], b = sd->k_off[slot][r + 1];
    if (gl->ne_ + (size_t)(b - a) > gl->cape) {
        size_t cap = gl->cape ? 2 * gl->cape : 4096;
        while (cap < gl->ne_ + (size_t)(b - a))
            cap *= 2;
        int *ej = realloc(gl->ej, cap * sizeof *ej);
        if (ej)
            gl->ej = ej;
        double *es = realloc(gl->es, cap * sizeof *es);
        if (es)
            gl->es = es;
        double *ew = realloc(gl->ew, cap * sizeof *ew);
        if (ew)
            gl->ew = ew;
        if (!ej || !es || !ew)
            return TP_ENOMEM;
        gl->cape = cap;
    }
    gcol_t *col = &gl->cols[gl->ncols];
    *col = (gcol_t){G, r, 0, (int)gl->ne_, 0, 0};
    for (int i = a; i < b; i++) {
        int n = sd->k_mem[slot][i];
        cnt += el[n] && ft[n];
    }
    for (int i = a; i < b; i++) { /* one entry per group, in node order */
        int n = sd->k_mem[slot][i], j = c->node_g[n], e = 0;
        if (!el[n] || !ft[n])
            continue;
        double add = tp_policy_work_w(f, n, w);
        while (e < col->n && gl->ej[col->off + e] != j)
            e++;
        if (e == col->n) {
            gl->ej[col->off + e] = j;
            gl->es[col->off + e] = gl->ew[col->off + e] = 0;
            col->n++;
        }
        gl->es[col->off + e] += 1.0 / cnt;
        gl->ew[col->off + e] += add / cnt;
        col->wsum += add / cnt;
    }
    gl->ne_ += (size_t)col->n;
    gl->y[gl->ncols] = 0;
    int i = gl->ncols++;
    if (need_ind(gl, 4 + col->n * (v->nsz + 2) + f->ndomains) < 0)
        return TP_ENOMEM;
    int len = 0;
    gl->ind[++len] = gl->Grow[G];
    gl->val[len] = -1;
    for (int e = 0; e < col->n; e++) {
        size_t ee = (size_t)col->off + (size_t)e;
        int j = gl->ej[ee];
        for (int q = 0; v->grow[j] && q < v->nsz + 2; q++) {
            double x = coef(gl, v, i, ee, q);
            if (x != 0) {
                gl->ind[++len] = v->grow[j] + q;
                gl->val[len] = x;
            }
        }
        for (int d = c->g_anchor[j]; d >= 0; d = f->domains[d].parent)
            if (v->drow[d])
                gl->dacc[d] += N * gl->ew[ee];
    }
    for (int k = 0; k < f->ndomains; k++) { /* domain rows by id */
        int d = c->dord[k];
        if (gl->dacc[d] != 0) {
            gl->ind[++len] = v->drow[d];
            gl->val[len] = gl->dacc[d];
            gl->dacc[d] = 0;
        }
    }
    if (gl->rrow[slot][r]) {
        gl->ind[++len] = gl->rrow[slot][r];
        gl->val[len] = (double)N * g;
        gl->ind[++len] = gl->rrow[slot][r] + 1;
        gl->val[len] = N * col->wsum;
    }
    col->jcol = glp_add_cols(v->P, 1);
    glp_set_col_bnds(v->P, col->jcol, gl->cap[G][r] > 0 ? GLP_DB : GLP_FX, 0,
                     gl->cap[G][r]);
    glp_set_obj_coef(v->P, col->jcol, 0);
    glp_set_mat_col(v->P, col->jcol, len, gl->ind, gl->val);
    gl->ycol[G][r] = i + 1;
    return 0;
}

int gang_lp_seed(const ctx_t *c, const lp_view_t *v)
{
    struct gang_lp *gl = c->gl;
    if (!gl)
        return 0;
    gl->ncols = 0;
    gl->ne_ = 0;
    gl->have_mu = false;
    gl->prounds = 0;
    for (int s = 0; s <= c->f->nkinds; s++)
        if (gl->rrow[s])
            memset(gl->rrow[s], 0, ((size_t)c->side.k_n[s] + 1) * sizeof **gl->rrow);
    int added = 0;
    for (int G = 0; G < gl->nG; G++) {
        int slot = gl->Gslot[G], nd = c->side.k_n[slot];
        memset(gl->ycol[G], 0, ((size_t)nd + 1) * sizeof **gl->ycol);
        /* Row: Σ_b z − Σ_r y = 0; z[b] ∈ [0, n_b], worth (1 + p_b) g N each. */
        gl->Grow[G] = glp_add_rows(v->P, 1);
        glp_set_row_bnds(v->P, gl->Grow[G], GLP_FX, 0, 0);
        for (int b = gl->b_off[G]; b < gl->b_off[G + 1]; b++) {
            int j = glp_add_cols(v->P, 1), ind[2] = {0, gl->Grow[G]};
            double val[2] = {0, 1};
            glp_set_col_bnds(v->P, j, GLP_DB, 0, gl->b_cnt[b]);
            glp_set_obj_coef(v->P, j,
                             (1.0 + gl->b_prio[b]) * gl->Gg[G] * (double)gl->GN[G]);
            glp_set_mat_col(v->P, j, 1, ind, val);
        }
        /* Columns for the GKADD domains where a member draws the least, then
         * that hold the most gangs, then id: site power binds on a contended
         * fleet, and the cheapest domains are the ones pricing would add
         * (mixed benchmark: 17,098 -> 17,154 weighted, seeded by most gangs
         * before). */
        for (int k = 0; k < GKADD; k++) {
            int best = -1;
            for (int r = 0; r < nd; r++)
                if (gl->cap[G][r] > 0 && !gl->ycol[G][r] &&
                    (best < 0 || gl->rwmin[G][r] < gl->rwmin[G][best] ||
                     (gl->rwmin[G][r] == gl->rwmin[G][best] &&
                      gl->cap[G][r] > gl->cap[G][best])))
                    best = r;
            if (best < 0)
                break;
            if (add_ycol(c, v, G, best) < 0)
                return TP_ENOMEM;
            added++;
        }
    }
    return added;
}

/* Appends the gang columns' coefficients to row `row` (replacing it whole). */
static int append_row(const ctx_t *c, const lp_view_t *v, int row, int len0)
{
    struct gang_lp *gl = c->gl;
    if (len0 == 0)
        return 0;
    int have = glp_get_mat_row(v->P, row, NULL, NULL), total = have + len0;
    int *ind = malloc(((size_t)total + 1) * sizeof *ind);
    double *val = malloc(((size_t)total + 1) * sizeof *val);
    if (!ind || !val) {
        free(ind);
        free(val);
        return TP_ENOMEM;
    }
    glp_get_mat_row(v->P, row, ind, val);
    memcpy(ind + have + 1, gl->ind + 1, (size_t)len0 * sizeof *ind);
    memcpy(val + have + 1, gl->val + 1, (size_t)len0 * sizeof *val);
    glp_set_mat_row(v->P, row, total, ind, val);
    free(ind);
    free(val);
    return 0;
}

/* Appends (column i, x) to gl->ind/val when x ≠ 0. */
static int push(struct gang_lp *gl, int *len, int i, double x)
{
    if (x == 0)
        return 0;
    if (need_ind(gl, *len + 2) < 0)
        return TP_ENOMEM;
    gl->ind[++*len] = gl->cols[i].jcol;
    gl->val[*len] = x;
    return 0;
}

int gang_lp_group_rows(const ctx_t *c, const lp_view_t *v, int j)
{
    struct gang_lp *gl = c->gl;
    if (!gl)
        return 0;
    for (int q = 0; q < v->nsz + 2; q++) {
        int len = 0;
        for (int i = 0; i < gl->ncols; i++)
            for (int e = 0; e < gl->cols[i].n; e++) {
                size_t ee = (size_t)gl->cols[i].off + (size_t)e;
                if (gl->ej[ee] == j && push(gl, &len, i, coef(gl, v, i, ee, q)) < 0)
                    return TP_ENOMEM;
            }
        if (append_row(c, v, v->grow[j] + q, len) < 0)
            return TP_ENOMEM;
    }
    return 0;
}

int gang_lp_domain_row(const ctx_t *c, const lp_view_t *v, int d)
{
    struct gang_lp *gl = c->gl;
    if (!gl)
        return 0;
    int len = 0;
    for (int i = 0; i < gl->ncols; i++) {
        double x = 0;
        for (int e = 0; e < gl->cols[i].n; e++) {
            size_t ee = (size_t)gl->cols[i].off + (size_t)e;
            if (under(c, c->g_anchor[gl->ej[ee]], d))
                x += gl->GN[gl->cols[i].G] * gl->ew[ee];
        }
        if (push(gl, &len, i, x) < 0)
            return TP_ENOMEM;
    }
    return append_row(c, v, v->drow[d], len);
}

/* Two rows for gang domain r of slot s: GPUs, watts of every gang column in it. */
static int add_domain_rows(const ctx_t *c, const lp_view_t *v, int s, int r)
{
    struct gang_lp *gl = c->gl;
    int row = glp_add_rows(v->P, 2);
    gl->rrow[s][r] = row;
    glp_set_row_bnds(v->P, row, GLP_UP, 0, gl->rfree[s][r]);
    glp_set_row_bnds(v->P, row + 1, GLP_UP, 0, gl->rhead[s][r]);
    for (int q = 0; q < 2; q++) {
        int len = 0;
        for (int i = 0; i < gl->ncols; i++) {
            const gcol_t *col = &gl->cols[i];
            if (gl->Gslot[col->G] != s || col->r != r)
                continue;
            if (need_ind(gl, len + 2) < 0)
                return TP_ENOMEM;
            gl->ind[++len] = col->jcol;
            gl->val[len] = gl->GN[col->G] * (q == 0 ? (double)gl->Gg[col->G] : col->wsum);
        }
        glp_set_mat_row(v->P, row + q, len, gl->ind, gl->val);
    }
    return 0;
}

int gang_lp_separate(const ctx_t *c, const lp_view_t *v)
{
    struct gang_lp *gl = c->gl;
    if (!gl)
        return 0;
    int added = 0;
    for (int i = 0; i < gl->ncols; i++) {
        const gcol_t *col = &gl->cols[i];
        double y = gl->y[i] = glp_get_col_prim(v->P, col->jcol);
        int N = gl->GN[col->G], g = gl->Gg[col->G];
        if (y <= 0)
            continue;
        for (int e = 0; e < col->n; e++) {
            size_t ee = (size_t)col->off + (size_t)e;
            int j = gl->ej[ee];
            v->ug[j] += y * N * gl->es[ee] * g;
            v->uw[j] += y * N * gl->ew[ee];
            for (int s = 0; s < v->nsz; s++)
                if (g >= v->sizes[s])
                    v->us[(size_t)j * (size_t)v->nsz + (size_t)s] += y * N * gl->es[ee];
        }
    }
    /* Gang domains over their GPUs or headroom: rows (columns in id order). */
    for (int i = 0; i < gl->ncols; i++) {
        const gcol_t *col = &gl->cols[i];
        int s = gl->Gslot[col->G];
        if (gl->rrow[s][col->r] || gl->y[i] <= 0)
            continue;
        double gp = 0, wt = 0;
        for (int k = 0; k < gl->ncols; k++)
            if (gl->Gslot[gl->cols[k].G] == s && gl->cols[k].r == col->r) {
                gp += gl->y[k] * gl->GN[gl->cols[k].G] * gl->Gg[gl->cols[k].G];
                wt += gl->y[k] * gl->GN[gl->cols[k].G] * gl->cols[k].wsum;
            }
        if (gp > gl->rfree[s][col->r] + VIOL_TOL ||
            wt > gl->rhead[s][col->r] * (1 + 1e-9) + VIOL_TOL) {
            if (add_domain_rows(c, v, s, col->r) < 0)
                return TP_ENOMEM;
            added++;
        }
    }
    return added;
}

int gang_lp_price(const ctx_t *c, const lp_view_t *v, double *lagr)
{
    struct gang_lp *gl = c->gl;
    const side_t *sd = &c->side;
    if (!gl)
        return 0;
    int added = 0;
    bool more = ++gl->prounds < GANG_PRICE_ROUNDS;
    for (int G = 0; G < gl->nG; G++) {
        int slot = gl->Gslot[G], nd = sd->k_n[slot], N = gl->GN[G], g = gl->Gg[G];
        const char *el = gl->elig[gl->Gelig[G]], *ft = gl->fit[gl->Gfit[G]];
        const tp_workload_t *w = gw(c, gl->Gfirst[G]);
        double pi = glp_get_row_dual(v->P, gl->Grow[G]), best[GKADD], delta = 0;
        int br[GKADD], nb = 0;
        gl->mu[G] = pi;
        for (int r = 0; r < nd; r++) {
            if (gl->cap[G][r] <= 0)
                continue;
            double cost = 0, wsum = 0;
            int cnt = 0;
            for (int i = sd->k_off[slot][r]; i < sd->k_off[slot][r + 1]; i++) {
                int n = sd->k_mem[slot][i], j = c->node_g[n];
                if (!el[n] || !ft[n])
                    continue;
                double add = tp_policy_work_w(c->f, n, w);
                cnt++;
                wsum += add;
                cost += g * v->pg[j] + add * v->pw[j];
                for (int s = 0; s < v->nsz; s++)
                    if (g >= v->sizes[s])
                        cost += v->ps[(size_t)j * (size_t)v->nsz + (size_t)s];
            }
            double rc = pi - N * cost / cnt;
            if (gl->rrow[slot][r])
                rc -= (double)N * g * glp_get_row_dual(v->P, gl->rrow[slot][r]) +
                      N * wsum / cnt * glp_get_row_dual(v->P, gl->rrow[slot][r] + 1);
            if (rc > delta)
                delta = rc;
            if (rc <= RC_TOL || gl->ycol[G][r] || !more)
                continue;
            if (nb < GKADD) {
                best[nb] = rc;
                br[nb++] = r;
            } else if (rc > best[GKADD - 1]) {
                best[GKADD - 1] = rc;
                br[GKADD - 1] = r;
            } else {
                continue;
            }
            for (int q = nb - 1; q > 0 && best[q] > best[q - 1]; q--) {
                double tb = best[q];
                int tr = br[q];
                best[q] = best[q - 1];
                br[q] = br[q - 1];
                best[q - 1] = tb;
                br[q - 1] = tr;
            }
        }
        if (more) /* else the single-node classes alone decide when to stop */
            *lagr += gl->Gn[G] * delta;
        for (int i = 0; i < nb; i++) {
            if (add_ycol(c, v, G, br[i]) < 0)
                return TP_ENOMEM;
            added++;
        }
    }
    gl->have_mu = true;
    if (!more) /* run()'s gap test then ends column generation */
        *lagr = -INFINITY;
    return added;
}

int gang_lp_nclasses(const ctx_t *c)
{
    return c->gl ? c->gl->nG : 0;
}

/* The multiplier of one member of class G: the class row's dual ÷ N (mode 0,
 * when known), or its full value; at most the top bucket's value. */
static double member_mult(const struct gang_lp *gl, int G, int mode)
{
    double top = (1.0 + gl->b_prio[gl->b_off[G]]) * gl->Gg[G];
    if (mode == 1 || !gl->have_mu)
        return top;
    return fmax(0, fmin(top, gl->mu[G] / gl->GN[G]));
}

int gang_lp_points(const ctx_t *c, int j, int mode, const double **b, const double **a)
{
    const struct gang_lp *gl = c->gl;
    int n = 0;
    for (int G = 0; gl && G < gl->nG; G++) {
        double w = gl->tw[(size_t)G * (size_t)c->ng + (size_t)j];
        double m = member_mult(gl, G, mode);
        if (gl->Gslot[G] != 0)
            continue; /* a kind: whole gangs in its domains (gang_lp_items) */
        if (!isfinite(w) || w <= 0 || m <= 0)
            continue;
        gl->tb[n] = w;
        gl->ta[n++] = m / gl->Gg[G];
    }
    *b = gl ? gl->tb : NULL;
    *a = gl ? gl->ta : NULL;
    return n;
}

int gang_lp_items(const ctx_t *c, int mode, const double **slope, const double **watts,
                  const int **dom)
{
    struct gang_lp *gl = c->gl;
    const side_t *sd = &c->side;
    int n = 0;
    for (int G = 0; gl && G < gl->nG; G++) {
        int slot = gl->Gslot[G];
        double m = member_mult(gl, G, mode) * gl->GN[G];
        if (slot == 0 || m <= 0)
            continue;
        for (int r = 0; r < sd->k_n[slot]; r++) {
            if (gl->cap[G][r] <= 0 || !(gl->rwmin[G][r] > 0))
                continue;
            if (n == gl->capit) {
                int cap = gl->capit ? 2 * gl->capit : 1024;
                double *a = realloc(gl->islope, (size_t)cap * sizeof *a);
                if (a)
                    gl->islope = a;
                double *b = realloc(gl->iwatts, (size_t)cap * sizeof *b);
                if (b)
                    gl->iwatts = b;
                int *d = realloc(gl->idom, (size_t)cap * sizeof *d);
                if (d)
                    gl->idom = d;
                if (!a || !b || !d)
                    return TP_ENOMEM;
                gl->capit = cap;
            }
            double w = gl->GN[G] * gl->rwmin[G][r]; /* one gang's least draw */
            gl->islope[n] = m / w;
            gl->iwatts[n] = w * gl->cap[G][r];
            gl->idom[n++] = sd->k_dom[slot][r];
        }
    }
    *slope = gl ? gl->islope : NULL;
    *watts = gl ? gl->iwatts : NULL;
    *dom = gl ? gl->idom : NULL;
    return n;
}

double gang_lp_tree_const(const ctx_t *c, int mode)
{
    const struct gang_lp *gl = c->gl;
    double v = 0;
    for (int G = 0; gl && G < gl->nG; G++) {
        double m = member_mult(gl, G, mode);
        /* Members that draw no watts (gpu_w 0, no profile) are no item of the
         * greedy: each counts at its multiplier, as many as could exist. */
        bool free_w = false;
        for (int j = 0; gl->Gslot[G] == 0 && j < c->ng; j++)
            free_w |= gl->tw[(size_t)G * (size_t)c->ng + (size_t)j] <= 0;
        if (free_w)
            v += (double)gl->Gn[G] * gl->GN[G] * m;
        for (int r = 0; gl->Gslot[G] != 0 && r < c->side.k_n[gl->Gslot[G]]; r++)
            if (gl->cap[G][r] > 0 && !(gl->rwmin[G][r] > 0))
                v += (double)gl->cap[G][r] * gl->GN[G] * m;
        for (int b = gl->b_off[G]; b < gl->b_off[G + 1]; b++)
            v += (double)gl->b_cnt[b] * gl->GN[G] *
                 fmax(0, (1.0 + gl->b_prio[b]) * gl->Gg[G] - m);
    }
    return v;
}

/* ---- rounding, the greedy rest, commit ----------------------------------------- */

/* Places w, of class G, on l in the domain of its kind where gang.c's best
 * fit (cheap: its members on the nodes that draw least) draws the least watts
 * (ties: the first in id order): the sites' power binds on a contended fleet,
 * so a gang on cheaper nodes leaves room for more work. Loads never fall
 * below the lifted base: a domain that seats no gang of G there (cap), or
 * whose least draw (rwmin) cannot beat the best so far, is skipped. */
/* True when domain r of class G's kind, or a domain above it, cannot take
 * even the least draw of one member on any of r's nodes on l: "draw > cap"
 * only turns true as the draw grows, so no node there fits one and
 * side_gang_in_by would say no (l untouched) — without walking r's nodes. */
static bool gang_domain_full(const ctx_t *c, const tp_load_t *l, int G, int r)
{
    const struct gang_lp *gl = c->gl;
    if (gl->GN[G] < 1)
        return false;
    for (int d = c->side.k_dom[gl->Gslot[G]][r]; d >= 0; d = c->f->domains[d].parent)
        if (ctx_over(l->domain_w[d] + gl->rwall[G][r], c->dcap[d]))
            return true;
    return false;
}

static bool place_cheapest(const ctx_t *c, tp_load_t *l, const tp_workload_t *w, int G,
                           const char *el, int *members, bool cheap)
{
    const struct gang_lp *gl = c->gl;
    int slot = tp_wl_together(w) + 1, best = -1;
    double bw = INFINITY;
    for (int r = 0; r < c->side.k_n[slot]; r++) {
        if (gl->cap[G][r] <= 0 || gl->rwmin[G][r] * tp_wl_nodes(w) > bw * (1 + 1e-12) ||
            gang_domain_full(c, l, G, r) ||
            !side_gang_in_by(c, l, w, el, r, members, cheap))
            continue;
        double d = 0;
        for (int j = 0; j < tp_wl_nodes(w); j++)
            d += w->gpus * tp_fleet_gpu_watts(c->f, members[j], w->model);
        apply_gang(c, l, w, members, -1);
        if (d < bw) {
            bw = d;
            best = r;
        }
    }
    return best >= 0 && side_gang_in_by(c, l, w, el, best, members, cheap);
}

/* Places open gang i in domain r of its kind (r < 0: the domain that seats
 * it on the least watts) on l when its tenant has room. A class that found no
 * domain is marked full (gl->full) and not tried again while l only grows. */
static int try_gang(const ctx_t *c, tp_load_t *l, int i, int r, int *members)
{
    struct gang_lp *gl = c->gl;
    const tp_workload_t *w = gw(c, i);
    long gpus = (long)tp_wl_nodes(w) * w->gpus;
    if (gl->mem[i] || (r < 0 && gl->full[gl->cls[i]]) ||
        side_room(c, gl->use, tp_wl_tenant(w)) < gpus)
        return 0;
    const char *el = gl->elig[gl->Gelig[gl->cls[i]]];
    bool ok = r >= 0 ? side_gang_in(c, l, w, el, r, members)
                     : place_cheapest(c, l, w, gl->cls[i], el, members, false);
    if (!ok) {
        if (r < 0)
            gl->full[gl->cls[i]] = 1;
        return 0;
    }
    if (!(gl->mem[i] = malloc((size_t)tp_wl_nodes(w) * sizeof *gl->mem[i])))
        return TP_ENOMEM;
    memcpy(gl->mem[i], members, (size_t)tp_wl_nodes(w) * sizeof *members);
    side_use_add(c, gl->use, tp_wl_tenant(w), gpus);
    return 1;
}

typedef struct {
    double y, v;
    int G, r, n;
} gtake_t;

static int by_gtake(const void *a, const void *b)
{
    const gtake_t *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    if (x->G != y->G)
        return x->G - y->G;
    if (x->y != y->y)
        return x->y > y->y ? -1 : 1;
    return x->r - y->r;
}

static int by_frac(const void *a, const void *b)
{
    const gtake_t *x = a, *y = b;
    double fx = x->y - floor(x->y + 1e-6), fy = y->y - floor(y->y + 1e-6);
    if (fx != fy)
        return fx > fy ? -1 : 1;
    return x->r - y->r;
}

int gang_lp_round(const ctx_t *c, plan_t *p)
{
    struct gang_lp *gl = c->gl;
    if (!gl)
        return 0;
    int rc = TP_ENOMEM, nt = 0;
    gtake_t *t = malloc(((size_t)gl->ncols + 1) * sizeof *t);
    int *members = malloc(((size_t)c->f->nnodes + 1) * sizeof *members);
    int *next = calloc((size_t)gl->nG + 1, sizeof *next);
    int *want = calloc((size_t)gl->nG + 1, sizeof *want);
    if (!t || !members || !next || !want)
        goto out;
    memset(gl->full, 0, (size_t)gl->nG);
    /* Per class: ⌊y⌋ per domain, then the rounded sum of the fractions to the
     * domains with the largest ones. */
    for (int G = 0; G < gl->nG; G++) {
        int from = nt, sum = 0;
        double total = 0;
        for (int i = 0; i < gl->ncols; i++)
            if (gl->cols[i].G == G && gl->y[i] > 1e-6) {
                int k = (int)floor(gl->y[i] + 1e-6);
                t[nt++] = (gtake_t){
                    gl->y[i], (1.0 + gl->b_prio[gl->b_off[G]]) * gl->Gg[G] * gl->GN[G], G,
                    gl->cols[i].r, k};
                sum += k;
                total += gl->y[i];
            }
        int extra = (int)fmin(floor(total + 0.5), gl->Gn[G]) - sum;
        qsort(t + from, (size_t)(nt - from), sizeof *t, by_frac);
        for (int i = from; i < nt && extra > 0; i++)
            if (t[i].y - floor(t[i].y + 1e-6) > 1e-6) {
                t[i].n++;
                extra--;
            }
    }
    qsort(t, (size_t)nt, sizeof *t, by_gtake);
    for (int a = 0; a < nt; a++)
        want[t[a].G] += t[a].n;
    for (int a = 0; a < nt; a++) {
        int G = t[a].G;
        /* The class's gangs, priority then id; a failure ends the domain. */
        for (int q = 0; q < t[a].n; q++) {
            int placed = 0;
            for (int i = next[G]; i < gl->ng && !placed; i++) {
                if (gl->cls[i] != G || gl->mem[i])
                    continue;
                if ((placed = try_gang(c, p->load, i, t[a].r, members)) < 0)
                    goto out;
                if (!placed && side_room(c, gl->use, tp_wl_tenant(gw(c, i))) >=
                                   (long)tp_wl_nodes(gw(c, i)) * gw(c, i)->gpus)
                    break; /* it had room: the domain has none */
            }
            if (!placed)
                break;
            want[G]--;
            while (next[G] < gl->ng && (gl->cls[next[G]] != G || gl->mem[next[G]]))
                next[G]++;
        }
    }
    /* What the LP wanted placed but its domains could not seat (its capacity
     * model is coarser than the nodes): any domain of the kind, in id order,
     * still before the single-node packing — the LP preferred these gangs. */
    for (int a = 0; a < nt; a++) {
        int G = t[a].G;
        for (int i = next[G]; i < gl->ng && want[G] > 0; i++) {
            int placed = gl->cls[i] == G ? try_gang(c, p->load, i, -1, members) : 0;
            if (placed < 0)
                goto out;
            want[G] -= placed;
        }
        want[G] = 0;
    }
    rc = 0;
out:
    free(t);
    free(members);
    free(next);
    free(want);
    return rc;
}

int gang_lp_end(ctx_t *c, plan_t *p)
{
    struct gang_lp *gl = c->gl;
    int *members = malloc(((size_t)c->f->nnodes + 1) * sizeof *members);
    if (!members)
        return TP_ENOMEM;
    /* The rest: the greedy pass's rule, every domain of the kind in id order. */
    memset(gl->full, 0, (size_t)gl->nG);
    for (int i = 0; i < gl->ng; i++)
        if (!gl->mem[i] && try_gang(c, p->load, i, -1, members) < 0) {
            free(members);
            return TP_ENOMEM;
        }
    free(members);
    for (int i = 0; i < gl->ng; i++)
        if (gl->mem[i])
            apply_gang(c, c->base, gw(c, i), gl->mem[i], +1);
    return 0;
}

static double open_value(const ctx_t *c, bool chosen)
{
    const struct gang_lp *gl = c->gl;
    double v = 0;
    for (int i = 0; gl && i < gl->ng; i++) {
        const tp_workload_t *w = gw(c, i);
        if (chosen ? gl->mem[i] != NULL : c->side.flag[gl->it[i]] == 0)
            v += (1.0 + w->priority) * w->gpus * tp_wl_nodes(w);
    }
    return v;
}

int gang_lp_finish(ctx_t *c, plan_t *p)
{
    struct gang_lp *gl = c->gl;
    const side_t *sd = &c->side;
    double now = plan_objective(c, p, NULL) + sd->weighted - open_value(c, false) +
                 open_value(c, true);
    if (gl->g0value > now + 1e-9) { /* the greedy pass's plan was better */
        for (int i = 0; i < gl->ng; i++) {
            if (gl->mem[i])
                apply_gang(c, c->base, gw(c, i), gl->mem[i], -1);
            if (sd->flag[gl->it[i]] == 0)
                apply_gang(c, c->base, gw(c, i), sd->mem[gl->it[i]], +1);
        }
        plan_t t = *p;
        *p = gl->g0;
        gl->g0 = t;
        gl->reverted = true;
        return 0;
    }
    for (int i = 0; i < gl->ng; i++)
        if (side_gang_set(c, gl->it[i], gl->mem[i]) < 0)
            return TP_ENOMEM;
    return 0;
}

/* ---- for ruin and recreate (improve.c) ----------------------------------------- */

int gang_lp_count(const ctx_t *c)
{
    return c->gl ? c->gl->ng : 0;
}

const tp_workload_t *gang_lp_work(const ctx_t *c, int i)
{
    return gw(c, i);
}

const int *gang_lp_members(const ctx_t *c, int i)
{
    return c->gl->mem[i];
}

int gang_lp_class(const ctx_t *c, int i)
{
    return c->gl->cls[i];
}

const long *gang_lp_use(const ctx_t *c)
{
    return c->gl->use;
}

bool gang_lp_seat(const ctx_t *c, tp_load_t *l, long *use, int i, int *members)
{
    const tp_workload_t *w = gw(c, i);
    long gpus = (long)tp_wl_nodes(w) * w->gpus;
    if (side_room(c, use, tp_wl_tenant(w)) < gpus ||
        !place_cheapest(c, l, w, c->gl->cls[i], c->gl->elig[c->gl->Gelig[c->gl->cls[i]]],
                        members, true))
        return false;
    side_use_add(c, use, tp_wl_tenant(w), gpus);
    return true;
}

double gang_lp_domain_draw(const ctx_t *c, int i, int r)
{
    const struct gang_lp *gl = c->gl;
    int G = gl->cls[i];
    return gl->cap[G][r] > 0 ? gl->rwmin[G][r] * gl->GN[G] : INFINITY;
}

double gang_lp_least_draw(const ctx_t *c, int i)
{
    /* cap and rwmin are fixed once built: one scan of the domains per class
     * (ruin and recreate asks per gang and trial). */
    struct gang_lp *gl = c->gl;
    int G = gl->cls[i];
    if (!gl->Gleast && (gl->Gleast = malloc(((size_t)gl->nG + 1) * sizeof *gl->Gleast)))
        for (int k = 0; k < gl->nG; k++)
            gl->Gleast[k] = NAN;
    if (gl->Gleast && !isnan(gl->Gleast[G]))
        return gl->Gleast[G];
    double w = INFINITY;
    for (int r = 0; r < c->side.k_n[gl->Gslot[G]]; r++)
        w = fmin(w, gang_lp_domain_draw(c, i, r));
    if (gl->Gleast)
        gl->Gleast[G] = w;
    return w;
}

bool gang_lp_seat_in(const ctx_t *c, tp_load_t *l, long *use, int i, int r, int *members)
{
    const struct gang_lp *gl = c->gl;
    const tp_workload_t *w = gw(c, i);
    long gpus = (long)tp_wl_nodes(w) * w->gpus;
    if (gl->cap[gl->cls[i]][r] <= 0 || side_room(c, use, tp_wl_tenant(w)) < gpus ||
        gang_domain_full(c, l, gl->cls[i], r) ||
        !side_gang_in_by(c, l, w, gl->elig[gl->Gelig[gl->cls[i]]], r, members, true))
        return false;
    side_use_add(c, use, tp_wl_tenant(w), gpus);
    return true;
}

int gang_lp_set(const ctx_t *c, int i, const int *members)
{
    struct gang_lp *gl = c->gl;
    const tp_workload_t *w = gw(c, i);
    long gpus = (long)tp_wl_nodes(w) * w->gpus;
    int *m = NULL;
    if (members && !(m = malloc((size_t)tp_wl_nodes(w) * sizeof *m)))
        return TP_ENOMEM;
    if (gl->mem[i]) {
        apply_gang(c, c->base, w, gl->mem[i], -1);
        side_use_add(c, gl->use, tp_wl_tenant(w), -gpus);
        free(gl->mem[i]);
    }
    gl->mem[i] = m;
    if (m) {
        memcpy(m, members, (size_t)tp_wl_nodes(w) * sizeof *m);
        apply_gang(c, c->base, w, m, +1);
        side_use_add(c, gl->use, tp_wl_tenant(w), gpus);
    }
    return 0;
}

double gang_lp_value(const ctx_t *c)
{
    const struct gang_lp *gl = c->gl;
    double v = 0;
    for (int G = 0; gl && G < gl->nG; G++) {
        long room = 0;
        for (int r = 0; r < c->side.k_n[gl->Gslot[G]]; r++)
            room += gl->cap[G][r];
        for (int b = gl->b_off[G]; b < gl->b_off[G + 1] && room > 0; b++) {
            long k = room < gl->b_cnt[b] ? room : gl->b_cnt[b];
            v += k * (1.0 + gl->b_prio[b]) * gl->Gg[G] * gl->GN[G];
            room -= k;
        }
    }
    return v;
}

double gang_lp_placed(const ctx_t *c)
{
    return c->gl ? open_value(c, !c->gl->reverted) : 0;
}

void gang_lp_free(ctx_t *c)
{
    struct gang_lp *gl = c->gl;
    if (!gl)
        return;
    for (int i = 0; i < gl->ng; i++)
        free(gl->mem[i]);
    for (int e = 0; e < gl->ne; e++)
        free(gl->elig[e]);
    for (int q = 0; q < gl->nf; q++)
        free(gl->fit[q]);
    for (int G = 0; G < gl->nG; G++) {
        if (gl->cap)
            free(gl->cap[G]);
        if (gl->rwmin)
            free(gl->rwmin[G]);
        if (gl->rwall)
            free(gl->rwall[G]);
        if (gl->ycol)
            free(gl->ycol[G]);
    }
    for (int s = 0; gl->rfree && s <= c->f->nkinds; s++) {
        free(gl->rfree[s]);
        free(gl->rhead[s]);
        free(gl->rrow[s]);
    }
    free(gl->it);
    free(gl->cls);
    free(gl->mem);
    free(gl->use);
    free(gl->Gg);
    free(gl->Gmodel);
    free(gl->GN);
    free(gl->Gslot);
    free(gl->Gelig);
    free(gl->Gfit);
    free(gl->Gn);
    free(gl->Gfirst);
    free(gl->b_off);
    free(gl->b_prio);
    free(gl->b_cnt);
    free(gl->elig);
    free(gl->fit);
    free(gl->cap);
    free(gl->rwmin);
    free(gl->rwall);
    free(gl->Gleast);
    free(gl->islope);
    free(gl->iwatts);
    free(gl->idom);
    free(gl->tw);
    free(gl->ta);
    free(gl->tb);
    free(gl->rfree);
    free(gl->rhead);
    free(gl->rrow);
    free(gl->Grow);
    free(gl->ycol);
    free(gl->cols);
    free(gl->ej);
    free(gl->es);
    free(gl->ew);
    free(gl->y);
    free(gl->mu);
    free(gl->full);
    free(gl->ind);
    free(gl->val);
    free(gl->dacc);
    plan_fini(&gl->g0);
    free(gl);
    c->gl = NULL;
}
