/*
 * solver/exact.c — AUTO's exact model on small inputs: the per-pair MILP with
 * identical candidates aggregated, solved lexicographically (milp.c's
 * lex_solve) from the aggregated path's plan as incumbent.
 *
 * Types: unplaced candidates alike in everything the model sees — GPUs, AI
 * model (watts and tokens/J per node), priority and the exact set of nodes
 * each is eligible for and fits alone — are one type t with n_t members.
 * Instead of one binary per (candidate, node) there is one integer per
 * (type, node): how many of the type run there. That removes the symmetry
 * between identical workloads that makes branch and bound enumerate their
 * permutations.
 *
 *   max  term (1), then (2), then (3)         (lexicographic, lex_solve)
 *   0 ≤ y[t][n] ≤ min(n_t, ⌊free_n / g_t⌋, ⌊headroom / watts⌋ of n and
 *                  of every domain above it)
 *   Σ_n y[t][n] ≤ n_t                            every type (where it binds)
 *   Σ_t g_t y[t][n] ≤ free_n                     every node (where it binds)
 *   Σ_t w[t][n] y[t][n] ≤ cap_n − draw_n
 *   Σ_{n under d} Σ_t w y ≤ cap_d − draw_d       every domain (where it binds)
 *   used(a) ≥ used(b)                            identical nodes a < b (by id)
 *
 * Gangs (side items) join as one binary per domain of their kind plus member
 * binaries; tenant limits are rows (pick_items: over the gangs within the
 * room admission left, or, where admission could matter, over everything the
 * model decides with held-back work in it: single-node work as types of its
 * own, split by tenant as the candidates then are, valued by term (1) alone,
 * as the gangs are).
 *
 * Identical nodes — under the same domain, same trust, GPU model and draw per
 * GPU, free GPUs and headroom, the same types with the same bounds — are
 * interchangeable in every stage, so any plan can be permuted to have their
 * GPU use in descending order: the last rows cut nothing but symmetric copies.
 *
 * The incumbent (the aggregated path's plan, or the better answer of
 * LP-guided dives from the root LP, dive()) enters as a cutoff (lex_solve),
 * so GLPK's presolver stays on. Sub-MILPs around it (RINS, rins(): columns
 * where it agrees with the best dive's point — with the aggregated plan when
 * it is that point — fixed, then where it agrees with the root LP, then the
 * same with the agreeing columns of least reduced cost freed as well — or,
 * after a search or with gangs, rack by rack) improve it —
 * before lex_solve when there is no search, after it on its answer when the
 * search left the first stage open. The dives stop on a simplex-iteration
 * budget, the search and the sub-MILPs on node budgets (milp_node_budget,
 * EXACT_RINS_NODES, EXACT_RC_NODES, EXACT_RACK_NODES); all of them together
 * on one budget of simplex iterations from the time limit (milp_iter_budget,
 * time_limited; with held-back work in, one for every run of the solve: ex_budget):
 * deterministic work limits, never the clock. Below EXACT_MIN_NODES there is
 * no search (it never paid at that size). Members of a type go to nodes in
 * canonical order: the answer is the same whatever the order of the input
 * files.
 */
#include "solver/solver_internal.h"

#include <glpk.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Simplex iterations of the dives (all steps of all dives together): a work
 * budget. Without a search one dive of 25 steps gets 3,000: at 60 nodes x
 * 150 workloads it reaches an integral point within 460-2,200, and the
 * 50- and 100-step dives that shared 2,000 with it rarely did and left it
 * short (seed 6: no point). Before a search, three dives share 2,000 (one
 * dive there lost a proof at 20 x 40, seed 9). */
#define EXACT_DIVE_ITERS 2000
#define EXACT_DIVE_ITERS_ONE 3000
/* Below this many branch-and-bound nodes in the budget (milp_node_budget:
 * about 2,000 columns and up under the default limit) the search is skipped:
 * at 60 nodes x 150 workloads its ~115 nodes cost 1-2 s CPU and improved no
 * seed of bench-solver-exact, where the dives did. */
#define EXACT_MIN_NODES 200
/* Branch-and-bound nodes of one RINS sub-MILP (rins()), of each
 * reduced-cost one after (EXACT_RC_FREE: how many agreeing columns each frees
 * as well, in order) and of each rack's. */
#define EXACT_RINS_NODES 600
#define EXACT_RC_NODES 200
#define EXACT_RACK_NODES 30
static const int EXACT_RC_FREE[] = {400, 200};
/* Rounds of GMI cuts on the first stage's root LP before its search
 * (cuts.c, lex_t.cut_rounds); a test may override it (tp_exact_cut_rounds).
 * Not with gangs in the model: there the dense cut rows slowed GLPK's search
 * (30 x 60, 10% gangs: seed 4 3.2 -> 12.1 s CPU) and seed 7 lost a unit of
 * term (1). */
#define EXACT_CUT_ROUNDS 8
int tp_exact_cut_rounds = EXACT_CUT_ROUNDS;
long *tp_exact_cut_stats;
bool tp_exact_cut_force;

typedef struct {
    const ctx_t *c;
    plan_t *p;
    /* Types: members (candidates, canonical order) as CSR. */
    int nt, *t_off, *t_mem;
    /* Columns: (type, node), by type then node rank, then gang members
     * (gang, node) from nsc on, col_t = nt + gang; ub its upper bound. */
    int ncol, nsc, *col_t, *col_n, *t_col; /* t_col: first column of each type */
    double *ub, *w, *gp;                   /* watts and GPUs of one unit */
    /* Gangs the model decides: side items gi[g]; y columns (ncol + k) per
     * domain of the gang's kind that could seat it (CSR g_y over gangs),
     * y_dom[k] its domain (-1: the whole fleet); col_y: a member column's y. */
    int ng, *gi, *g_y, *y_dom, *col_y, ny;
    long *tfix; /* [tenant]: GPUs in use that the model does not decide */
    /* full: the tenant rows count the candidates too (their type keys then
     * hold the tenant and whether held back, kb = 5 leading entries, else 3)
     * and the work admission held back is in the model: single-node work as
     * types (side items hi[h], member c->nc + h of its type), gangs as gangs. */
    bool full;
    int kb, nh, *hi;
    double *obj[3], *x, *start;
    int nstages, nrows;
    mat_t mat;
    lex_t lx;
    int dive_gain; /* 1 + the dive that improved the start last; 0: none */
    long dive_iters;
    double *xlp; /* the root LP's optimum (first stage), when lp_ok */
    double lp_z; /* its value: a bound on the first stage */
    double *dx;  /* the best dive's integral point, when dx_ok */
    double *s0;  /* the start before the dive (the aggregated path's plan) */
    double *rc;  /* |reduced cost| of each column at the root LP, when lp_ok */
    bool dx_ok;
    const double *ref; /* rins() fixes columns where the start agrees with it */
    bool lp_ok;
    int sub_gain; /* RINS sub-MILPs that improved the start */
} ex_t;

/* Type t's workload (its first member's). */
static const tp_workload_t *tw(const ex_t *m, int t)
{
    int v = m->t_mem[m->t_off[t]];
    return v < m->c->nc ? m->c->cw[v] : m->c->side.w[m->hi[v - m->c->nc]];
}

/* Is type t held-back work (side items)? */
static bool t_held(const ex_t *m, int t)
{
    return m->t_mem[m->t_off[t]] >= m->c->nc;
}

/* Units of w that fit headroom h: ⌊h / w⌋ (w > 0). */
static double units(double h, double w)
{
    return w > 0 ? floor(fmax(0, h) / w + 1e-9) : INFINITY;
}

/* Types and columns: members are candidates ci, then held-back items
 * c->nc + h (never in a candidate's type: the key says which). */
static int build_types(ex_t *m, keytab_t *kt)
{
    const ctx_t *c = m->c;
    const tp_fleet_t *f = c->f;
    const tp_load_t *l = m->p->load;
    int nn = f->nnodes, nm = c->nc + m->nh, rc = TP_ENOMEM;
    int *key = malloc(((size_t)nn + 6) * sizeof *key);
    int *tof = malloc(((size_t)nm + 1) * sizeof *tof);
    if (!key || !tof)
        goto out;
    for (int v = 0; v < nm; v++) {
        tof[v] = -1;
        if (v < c->nc && m->p->cnode[v] >= 0)
            continue;
        const tp_workload_t *w = v < c->nc ? c->cw[v] : c->side.w[m->hi[v - c->nc]];
        int len = m->kb;
        key[0] = w->gpus;
        key[1] = w->model;
        key[2] = w->priority;
        key[3] = tp_wl_tenant(w); /* read only when kb is 5 */
        key[4] = v >= c->nc;
        for (int r = 0; r < nn; r++) {
            int n = c->nord[r];
            if (v < c->nc ? ctx_static_ok(c, v, n) && plan_fits(c, m->p, v, n)
                          : tp_policy_static(f, c->s, n, w, c->now) == 0 &&
                                ctx_fits(c, l, w, n))
                key[len++] = n;
        }
        if (len == m->kb)
            continue;
        if ((tof[v] = keytab_intern(kt, key, len)) < 0)
            goto out;
    }
    m->nt = kt->n;
    m->t_off = calloc((size_t)m->nt + 2, sizeof *m->t_off);
    m->t_mem = malloc(((size_t)nm + 1) * sizeof *m->t_mem);
    m->t_col = calloc((size_t)m->nt + 2, sizeof *m->t_col);
    if (!m->t_off || !m->t_mem || !m->t_col)
        goto out;
    for (int v = 0; v < nm; v++)
        if (tof[v] >= 0)
            m->t_off[tof[v] + 1]++;
    for (int t = 0; t < m->nt; t++) {
        m->t_off[t + 1] += m->t_off[t];
        m->t_col[t + 1] = m->t_col[t] + kt->pool[kt->off[t]] - m->kb;
    }
    {
        int *fill = malloc(((size_t)m->nt + 1) * sizeof *fill);
        if (!fill)
            goto out;
        memcpy(fill, m->t_off, (size_t)m->nt * sizeof *fill);
        for (int v = 0; v < nm; v++)
            if (tof[v] >= 0)
                m->t_mem[fill[tof[v]]++] = v;
        free(fill);
    }
    m->ncol = m->nsc = m->t_col[m->nt];
    size_t room = (size_t)m->ncol + (size_t)m->ng * (size_t)nn + 1;
    m->col_t = malloc(room * sizeof *m->col_t);
    m->col_n = malloc(room * sizeof *m->col_n);
    m->col_y = malloc(room * sizeof *m->col_y);
    m->ub = malloc(room * sizeof *m->ub);
    m->w = malloc(room * sizeof *m->w);
    m->gp = malloc(room * sizeof *m->gp);
    if (!m->col_t || !m->col_n || !m->col_y || !m->ub || !m->w || !m->gp)
        goto out;
    for (int t = 0; t < m->nt; t++) {
        const int *k = kt->pool + kt->off[t] + 1;
        const tp_workload_t *w = tw(m, t);
        for (int j = m->t_col[t]; j < m->t_col[t + 1]; j++) {
            int n = k[m->kb + j - m->t_col[t]];
            double ww = tp_policy_work_w(f, n, w);
            double ub = m->t_off[t + 1] - m->t_off[t];
            ub = fmin(ub, floor((c->healthy[n] - l->gpus_used[n]) / (double)w->gpus));
            ub = fmin(ub, units(c->ncap[n] - l->node_w[n], ww));
            for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
                ub = fmin(ub, units(c->dcap[d] - l->domain_w[d], ww));
            m->col_t[j] = t;
            m->col_n[j] = n;
            m->ub[j] = ub > 0 ? ub : 0;
            m->w[j] = ww;
            m->gp[j] = w->gpus;
            m->col_y[j] = -1;
        }
    }
    rc = 0;
out:
    free(key);
    free(tof);
    return rc;
}

/* Gang g's workload. */
static const tp_workload_t *gw(const ex_t *m, int g)
{
    return m->c->side.w[m->gi[g]];
}

/* Member columns and y columns of every gang: per domain of its kind (the
 * whole fleet without one) that has at least `nodes` nodes each eligible for a
 * member and fitting one alone. */
static int build_gangs(ex_t *m)
{
    const ctx_t *c = m->c;
    const tp_fleet_t *f = c->f;
    const tp_load_t *l = m->p->load;
    m->g_y = calloc((size_t)m->ng + 2, sizeof *m->g_y);
    m->y_dom = malloc(((size_t)m->ng * ((size_t)f->ndomains + 1) + 1) * sizeof *m->y_dom);
    char *ok = malloc((size_t)f->nnodes + 1);
    if (!m->g_y || !m->y_dom || !ok) {
        free(ok);
        return TP_ENOMEM;
    }
    for (int g = 0; g < m->ng; g++) {
        const tp_workload_t *w = gw(m, g);
        const side_t *sd = &c->side;
        int slot = tp_wl_together(w) + 1, need = tp_wl_nodes(w);
        for (int n = 0; n < f->nnodes; n++)
            ok[n] = tp_policy_static(f, c->s, n, w, c->now) == 0 && ctx_fits(c, l, w, n);
        for (int dd = 0; sd->k_off && sd->k_off[slot] && dd < sd->k_n[slot]; dd++) {
            const int *off = sd->k_off[slot], *mem = sd->k_mem[slot];
            int cnt = 0;
            for (int i = off[dd]; i < off[dd + 1]; i++)
                cnt += ok[mem[i]];
            if (cnt < need)
                continue;
            int k = m->ny++;
            m->y_dom[k] = slot ? sd->k_dom[slot][dd] : -1;
            for (int i = off[dd]; i < off[dd + 1]; i++) {
                int n = mem[i], j = m->ncol++;
                if (!ok[n]) {
                    m->ncol--;
                    continue;
                }
                m->col_t[j] = m->nt + g;
                m->col_n[j] = n;
                m->col_y[j] = k;
                m->ub[j] = 1;
                m->w[j] = tp_policy_work_w(f, n, w);
                m->gp[j] = w->gpus;
            }
        }
        m->g_y[g + 1] = m->ny;
    }
    free(ok);
    return 0;
}

/* Is tenant u t or beneath it? */
static bool under(const tp_fleet_t *f, int u, int t)
{
    for (; u >= 0; u = f->tenants[u].parent)
        if (u == t)
            return true;
    return false;
}

/* Is a lexicographically better than b in the stages of lx (GLPK's
 * tolerances aside: integral stages by half a unit)? */
static bool lex_better(const lex_t *lx, const double *a, const double *b, int n)
{
    for (int s = 0; s < lx->nstages; s++) {
        double va = 0, vb = 0;
        for (int j = 1; j <= n; j++) {
            va += lx->obj[s][j] * a[j];
            vb += lx->obj[s][j] * b[j];
        }
        double tol = lx->integral[s] ? 0.5 : 1e-9 * (1 + fabs(vb));
        if (va > vb + tol)
            return true;
        if (va < vb - tol)
            return false;
    }
    return false;
}

/* Runs the simplex warm from P's basis; its iterations add to *iters (the
 * dives') and to lx->iters (time_limited when its budget runs out). True
 * when the LP is solved to optimality. */
static bool resolve(glp_prob *P, lex_t *lx, int meth, long *iters)
{
    glp_smcp sp;
    glp_init_smcp(&sp);
    int left = lex_it_left(lx);
    lx->time_limited |= left == 0;
    long most = lx->no_search ? EXACT_DIVE_ITERS_ONE : EXACT_DIVE_ITERS;
    if (*iters >= most || left == 0)
        return false;
    sp.msg_lev = GLP_MSG_OFF;
    sp.meth = meth;
    sp.it_lim = (int)fmin(most - *iters, left);
    int before = glp_get_it_cnt(P), ret = glp_simplex(P, &sp);
    *iters += glp_get_it_cnt(P) - before;
    lx->iters += glp_get_it_cnt(P) - before;
    lx->time_limited |= ret == GLP_EITLIM && lex_it_left(lx) == 0;
    return ret == 0 && glp_get_status(P) == GLP_OPT;
}

static void set_col(glp_prob *P, int j, double lo, double hi)
{
    glp_set_col_bnds(P, j, lo >= hi ? GLP_FX : GLP_DB, lo, lo >= hi ? lo : hi);
}

typedef struct {
    double key;
    int j;
} kcol_t;

static int by_key_desc(const void *a, const void *b)
{
    const kcol_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key > y->key ? -1 : 1;
    return (x->j > y->j) - (x->j < y->j);
}

/* Greedy completion of an integral x of P: columns by their first-stage
 * coefficient, highest first (lowest column on ties), each raised by whole
 * units while every row it is in stays within its bounds. Columns in an
 * equality row (gangs) stay as they are. */
static int fill(glp_prob *P, const lex_t *lx, double *x)
{
    int n = glp_get_num_cols(P), nr = glp_get_num_rows(P), rc = TP_ENOMEM;
    double *act = calloc((size_t)nr + 1, sizeof *act);
    double *val = malloc(((size_t)nr + 1) * sizeof *val);
    int *ind = malloc(((size_t)nr + 1) * sizeof *ind);
    kcol_t *ord = malloc(((size_t)n + 1) * sizeof *ord);
    if (!act || !val || !ind || !ord)
        goto out;
    for (int j = 1; j <= n; j++) {
        ord[j - 1] = (kcol_t){lx->obj[0][j], j};
        int len = glp_get_mat_col(P, j, ind, val);
        for (int k = 1; k <= len; k++)
            act[ind[k]] += val[k] * x[j];
    }
    qsort(ord, (size_t)n, sizeof *ord, by_key_desc);
    for (int o = 0; o < n && ord[o].key > 0; o++) {
        int j = ord[o].j, len = glp_get_mat_col(P, j, ind, val);
        for (bool more = true; more && x[j] + 1 <= glp_get_col_ub(P, j) + 1e-9;) {
            for (int k = 1; k <= len && more; k++) {
                int i = ind[k], t = glp_get_row_type(P, i);
                double a = act[i] + val[k];
                bool up = t == GLP_UP || t == GLP_DB, lo = t == GLP_LO || t == GLP_DB;
                more = t != GLP_FX && (!up || a <= glp_get_row_ub(P, i) + 1e-9) &&
                       (!lo || a >= glp_get_row_lb(P, i) - 1e-9);
            }
            if (!more)
                break;
            x[j]++;
            for (int k = 1; k <= len; k++)
                act[ind[k]] += val[k];
        }
    }
    rc = 0;
out:
    free(act);
    free(val);
    free(ind);
    free(ord);
    return rc;
}

/* One dive from P's LP optimum (the root's), each column's bounds lb/ub:
 * step by step, every column's lower bound is raised to the integer part of
 * its LP value and the fractional column with the largest fraction (the lowest
 * on ties) is rounded up — down when up leaves the LP infeasible — and the LP
 * re-solved warm (dual simplex). The LP moves work between columns as it
 * goes, so after `steps` steps every column is capped at its integer part,
 * lower bounds back at lb (raised ones can clash with the symmetry rows),
 * and the LP re-solved, capped again until integral. The integral
 * answer, completed by fill(), goes into x; false when none was reached. */
static bool dive_once(glp_prob *P, ex_t *m, int steps, const double *lb, const double *ub,
                      double *x, long *iters)
{
    lex_t *lx = &m->lx;
    int n = glp_get_num_cols(P);
    bool solved = true, ok = false;
    for (int step = 0; solved; step++) {
        int pick = 0;
        double most = 1e-6;
        for (int j = 1; j <= n; j++) {
            double v = glp_get_col_prim(P, j);
            x[j] = floor(v + 1e-6);
            if (v - x[j] > most) {
                most = v - x[j];
                pick = j;
            }
        }
        if (!pick) {
            ok = true;
            break;
        }
        if (step >= steps) { /* the rest capped at its integer part */
            for (int j = 1; j <= n; j++)
                set_col(P, j, lb[j], x[j]);
            solved = resolve(P, lx, GLP_DUALP, iters);
            continue; /* integral now, capped again, or not feasible */
        }
        for (int j = 1; j <= n; j++)
            if (x[j] > glp_get_col_lb(P, j))
                set_col(P, j, x[j], glp_get_col_ub(P, j));
        set_col(P, pick, x[pick] + 1, glp_get_col_ub(P, pick));
        if (!(solved = resolve(P, lx, GLP_DUALP, iters)) &&
            glp_get_status(P) == GLP_NOFEAS) {
            set_col(P, pick, x[pick], x[pick]);
            solved = resolve(P, lx, GLP_DUALP, iters);
        }
    }
    for (int j = 1; j <= n; j++)
        set_col(P, j, lb[j], ub[j]);
    return ok && fill(P, lx, x) == 0;
}

/* LP-guided dives for a better start than the aggregated path's plan (kept
 * in m->s0): the first stage's LP relaxation (its optimum and reduced costs
 * kept for RINS), then one dive per entry of dive_steps from its optimal
 * basis — the first alone without a search — within EXACT_DIVE_ITERS
 * (EXACT_DIVE_ITERS_ONE) simplex iterations (a work budget: deterministic).
 * The best integral answer goes into m->dx (crossover RINS, polish()) and,
 * when lexicographically better than the start, replaces it. P's bounds and
 * objective are as lex_solve() expects them after. */
static void dive(glp_prob *P, ex_t *m)
{
    static const int dive_steps[] = {25, 50, 100};
    lex_t *lx = &m->lx;
    int n = glp_get_num_cols(P), nr = glp_get_num_rows(P);
    int ndives = lx->no_search ? 1 : (int)(sizeof dive_steps / sizeof *dive_steps);
    long iters = 0;
    double *lb = malloc(((size_t)n + 1) * sizeof *lb);
    double *ub = malloc(((size_t)n + 1) * sizeof *ub);
    double *x = calloc((size_t)n + 1, sizeof *x);
    int *cst = malloc(((size_t)n + 1) * sizeof *cst);
    int *rst = malloc(((size_t)nr + 1) * sizeof *rst);
    if (!lb || !ub || !x || !cst || !rst)
        goto out;
    memcpy(m->s0, m->start, ((size_t)n + 1) * sizeof *m->s0);
    for (int j = 1; j <= n; j++) {
        lb[j] = glp_get_col_lb(P, j);
        ub[j] = glp_get_col_ub(P, j);
        glp_set_obj_coef(P, j, lx->obj[0][j]);
    }
    if (!resolve(P, lx, GLP_PRIMAL, &iters))
        goto out;
    for (int j = 1; j <= n; j++) {
        cst[j] = glp_get_col_stat(P, j);
        m->xlp[j] = glp_get_col_prim(P, j);
        m->rc[j] = fabs(glp_get_col_dual(P, j));
    }
    m->lp_ok = true;
    m->lp_z = glp_get_obj_val(P);
    for (int i = 1; i <= nr; i++)
        rst[i] = glp_get_row_stat(P, i);
    for (int k = 0; k < ndives; k++) {
        for (int j = 1; j <= n; j++)
            glp_set_col_stat(P, j, cst[j]);
        for (int i = 1; i <= nr; i++)
            glp_set_row_stat(P, i, rst[i]);
        if (!resolve(P, lx, GLP_PRIMAL, &iters))
            break;
        bool got = dive_once(P, m, dive_steps[k], lb, ub, x, &iters);
        if (got && (!m->dx_ok || lex_better(lx, x, m->dx, n))) {
            memcpy(m->dx, x, ((size_t)n + 1) * sizeof *x);
            m->dx_ok = true;
        }
        if (got && lex_better(lx, x, m->start, n)) {
            memcpy(m->start, x, ((size_t)n + 1) * sizeof *x);
            m->dive_gain = k + 1;
        }
    }
out:
    m->dive_iters = iters;
    free(lb);
    free(ub);
    free(x);
    free(cst);
    free(rst);
}

typedef struct {
    glp_iocp *ip;
    lex_t *lx;
    int it0; /* P's iteration count when the search began */
    long budget, nodes;
} subcb_t;

static void sub_callback(glp_tree *T, void *info)
{
    subcb_t *cb = info;
    if (ios_cuts_would_fail(T))
        cb->ip->mir_cuts = cb->ip->cov_cuts = cb->ip->clq_cuts = GLP_OFF;
    int active, current, total;
    glp_ios_tree_size(T, &active, &current, &total);
    cb->nodes = total;
    if (total >= cb->budget || lex_it_over(T, cb->lx, cb->it0))
        glp_ios_terminate(T);
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A sub-MILP around the start (RINS: relaxation-induced neighbourhood
 * search): every column where the start agrees with m->ref (the root LP's
 * optimum, or another integral point for a crossover) is fixed there —
 * except, with kfree > 0, the kfree such columns (not fixed by P's own
 * bounds) of least reduced cost at the root LP (m->rc; more on ties), and
 * with dom ≥ 0 the columns of nodes directly under domain dom —
 * the rest is free within its bounds, and GLPK's branch and cut (presolver
 * and cuts on) looks for a point better than the start in the first stage —
 * a cutoff row, as in lex_solve — for at most `budget` nodes and what is
 * left of lx's iteration budget (work limits). A better point becomes the
 * start; true then.
 * P's bounds and rows are restored after. */
static bool rins(glp_prob *P, ex_t *m, long budget, int kfree, int dom)
{
    const tp_fleet_t *f = m->c->f;
    lex_t *lx = &m->lx;
    int n = glp_get_num_cols(P), nfree = 0;
    double v = 0;
    bool better = false;
    int *ind = malloc(((size_t)n + 1) * sizeof *ind);
    double *val = malloc(((size_t)n + 1) * sizeof *val);
    double *lb = malloc(((size_t)n + 1) * sizeof *lb);
    double *ub = malloc(((size_t)n + 1) * sizeof *ub);
    if (!ind || !val || !lb || !ub)
        goto out;
    int len = 0, na = 0;
    double thr = -1; /* agreeing columns with m->rc ≤ thr stay free */
    for (int j = 1; j <= n && kfree > 0; j++)
        if (fabs(m->ref[j] - m->start[j]) < 1e-6 &&
            glp_get_col_lb(P, j) < glp_get_col_ub(P, j))
            val[na++] = m->rc[j];
    if (na > 0) {
        qsort(val, (size_t)na, sizeof *val, by_double);
        thr = val[(na < kfree ? na : kfree) - 1];
    }
    for (int j = 1; j <= n; j++) {
        lb[j] = glp_get_col_lb(P, j);
        ub[j] = glp_get_col_ub(P, j);
        v += lx->obj[0][j] * m->start[j];
        if (lx->obj[0][j] != 0) {
            ind[++len] = j;
            val[len] = lx->obj[0][j];
        }
        bool in = dom >= 0 && j <= m->ncol && f->nodes[m->col_n[j - 1]].domain == dom;
        if (!in && fabs(m->ref[j] - m->start[j]) < 1e-6 && m->rc[j] > thr)
            set_col(P, j, m->start[j], m->start[j]);
        else
            nfree++;
    }
    if (nfree == 0 || lex_it_left(lx) == 0)
        goto restore;
    int r = glp_add_rows(P, 1);
    glp_set_mat_row(P, r, len, ind, val);
    glp_set_row_bnds(P, r, GLP_LO, v + 0.5, 0);
    glp_iocp ip;
    glp_init_iocp(&ip);
    subcb_t cb = {&ip, lx, glp_get_it_cnt(P), budget, 0};
    ip.msg_lev = GLP_MSG_OFF;
    ip.presolve = GLP_ON;
    ip.mir_cuts = ip.cov_cuts = ip.clq_cuts = GLP_ON;
    ip.cb_func = sub_callback;
    ip.cb_info = &cb;
    int ret = glp_intopt(P, &ip), st = glp_mip_status(P);
    lx->iters += glp_get_it_cnt(P) - cb.it0;
    if ((ret == 0 || ret == GLP_ESTOP) && (st == GLP_OPT || st == GLP_FEAS)) {
        for (int j = 1; j <= n; j++)
            val[j] = floor(glp_mip_col_val(P, j) + 0.5);
        if (lex_better(lx, val, m->start, n)) {
            memcpy(m->start, val, ((size_t)n + 1) * sizeof *val);
            better = true;
            m->sub_gain++;
        }
    }
    ind[1] = r;
    glp_del_rows(P, 1, ind);
restore:
    for (int j = 1; j <= n; j++)
        set_col(P, j, lb[j], ub[j]);
out:
    free(ind);
    free(val);
    free(lb);
    free(ub);
    return better;
}

/* After dive(): a crossover — fixed where the start agrees with the best
 * dive's point, or with the aggregated path's plan when the start is that
 * point — then one RINS round against the root LP; then, after a search or
 * with gangs in the model, one sub-MILP per rack — every domain that holds
 * nodes directly, in canonical order — with that rack's columns freed as
 * well (20 x 40 seed 8: one unit of term (1); 60 x 150 with 10% gangs: 27
 * over seeds 1-10), else one round per entry of EXACT_RC_FREE with that many
 * agreeing columns of least reduced cost freed as well (the racks took 60%
 * of the CPU at 60 x 150 without gangs and gained no term (1); these gain
 * 8, and added to the racks cost 20-55% more CPU with gangs for 4). */
static void polish(glp_prob *P, ex_t *m)
{
    const tp_fleet_t *f = m->c->f;
    int n = glp_get_num_cols(P);
    if (!m->lp_ok)
        return;
    bool at_dx = m->dx_ok;
    for (int j = 1; j <= n && at_dx; j++)
        at_dx = fabs(m->start[j] - m->dx[j]) < 1e-6;
    m->ref = m->dx_ok && !at_dx ? m->dx : m->s0;
    rins(P, m, EXACT_RINS_NODES, 0, -1);
    m->ref = m->xlp;
    rins(P, m, EXACT_RINS_NODES, 0, -1);
    bool racks = !m->lx.no_search || m->ng > 0;
    for (size_t k = 0; k < sizeof EXACT_RC_FREE / sizeof *EXACT_RC_FREE && !racks; k++)
        rins(P, m, EXACT_RC_NODES, EXACT_RC_FREE[k], -1);
    for (int r = 0; r < f->ndomains && racks; r++) {
        int d = m->c->dord[r];
        bool rack = false;
        for (int j = 0; j < m->ncol && !rack; j++)
            rack = f->nodes[m->col_n[j]].domain == d;
        if (rack)
            rins(P, m, EXACT_RACK_NODES, 0, d);
    }
}

/* After a search that stopped short of proving the first stage: P back as it
 * was before lex_solve (its nr0 rows, column bounds lb/ub; lex_solve's cutoff
 * row and reduced-cost fixings go), then RINS rounds from lex_solve's answer;
 * a better point replaces that answer and its stage values. Every stage's
 * bound stands: RINS only finds points. */
static int polish_answer(glp_prob *P, ex_t *m, int nr0, const double *lb,
                         const double *ub)
{
    lex_t *lx = &m->lx;
    int n = glp_get_num_cols(P), nr = glp_get_num_rows(P);
    int *del = malloc(((size_t)nr + 1) * sizeof *del);
    if (!del)
        return TP_ENOMEM;
    for (int i = nr0 + 1; i <= nr; i++)
        del[i - nr0] = i;
    if (nr > nr0)
        glp_del_rows(P, nr - nr0, del);
    free(del);
    for (int j = 1; j <= n; j++) {
        set_col(P, j, lb[j], ub[j]);
        glp_set_obj_coef(P, j, lx->obj[0][j]);
    }
    memcpy(m->start, lx->x, ((size_t)n + 1) * sizeof *m->start);
    int gain = m->sub_gain;
    polish(P, m);
    if (m->sub_gain == gain)
        return 0;
    memcpy(lx->x, m->start, ((size_t)n + 1) * sizeof *m->start);
    for (int s = 0; s < lx->nstages; s++) {
        lx->value[s] = 0;
        for (int j = 1; j <= n; j++)
            lx->value[s] += lx->obj[s][j] * lx->x[j];
    }
    return 0;
}

/* Debugging (TP_EXACT_DUMP=file): the model as GLPK's solver sees it,
 * term (1) as the objective, in CPLEX LP format, for glpsol or CBC. */
static void dump(glp_prob *P, const ex_t *m, const char *file)
{
    for (int j = 1; j <= glp_get_num_cols(P); j++)
        glp_set_obj_coef(P, j, m->obj[0][j]);
    glp_write_lp(P, NULL, file);
}

/* Rows and matrix; runs inside glpk_guarded(). */
static int run(void *arg)
{
    ex_t *m = arg;
    const ctx_t *c = m->c;
    const tp_fleet_t *f = c->f;
    const tp_load_t *l = m->p->load;
    int nn = f->nnodes, nd = f->ndomains, rows = 0, rc = TP_ENOMEM;
    int *trow = calloc((size_t)m->nt + 1, sizeof *trow);
    int *grow = calloc((size_t)nn + 1, sizeof *grow);
    int *wrow = calloc((size_t)nn + 1, sizeof *wrow);
    int *drow = calloc((size_t)nd + 1, sizeof *drow);
    double *gsum = calloc((size_t)nn + 1, sizeof *gsum);
    double *wsum = calloc((size_t)nn + 1, sizeof *wsum);
    double *dsum = calloc((size_t)nd + 1, sizeof *dsum);
    /* Power folded into GPU counts: Σ g y ≤ ⌊headroom / least watts per GPU⌋. */
    double *gcap = malloc(((size_t)nn + 1) * sizeof *gcap);
    double *nwmin = malloc(((size_t)nn + 1) * sizeof *nwmin);
    double *dwmin = malloc(((size_t)nd + 1) * sizeof *dwmin);
    double *dgsum = calloc((size_t)nd + 1, sizeof *dgsum);
    int *dgrow = calloc((size_t)nd + 1, sizeof *dgrow);
    int *n_off = calloc((size_t)nn + 2, sizeof *n_off);
    int *n_col = malloc(((size_t)m->ncol + 1) * sizeof *n_col);
    int *key = malloc(((size_t)4 * m->ncol + 16) * sizeof *key);
    int *last = malloc(((size_t)m->ncol + nn + 1) * sizeof *last);
    int ntn = f->ntenants, *tnrow = calloc((size_t)ntn + 1, sizeof *tnrow);
    double *tnsum = calloc((size_t)ntn + 1, sizeof *tnsum);
    /* Column bounds before lex_solve, for polish_answer(). */
    size_t nv = (size_t)m->ncol + (size_t)m->ny + 1;
    double *lb0 = malloc(nv * sizeof *lb0), *ub0 = malloc(nv * sizeof *ub0);
    keytab_t nk = {0};
    bool nk_ok = false;
    glp_prob *P = glp_create_prob();
    if (!trow || !grow || !wrow || !drow || !gsum || !wsum || !dsum || !nwmin || !dwmin ||
        !gcap || !dgsum || !dgrow || !n_off || !n_col || !key || !last || !tnrow ||
        !tnsum || !lb0 || !ub0 || keytab_init(&nk, 64) < 0)
        goto out;
    nk_ok = true;
    glp_set_obj_dir(P, GLP_MAX);
    for (int n = 0; n < nn; n++)
        nwmin[n] = INFINITY;
    for (int d = 0; d < nd; d++)
        dwmin[d] = INFINITY;
    for (int j = 0; j < m->ncol; j++) {
        int n = m->col_n[j];
        double g = m->gp[j];
        gsum[n] += g * m->ub[j];
        wsum[n] += m->w[j] * m->ub[j];
        nwmin[n] = fmin(nwmin[n], m->w[j] / g);
        for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent) {
            dsum[d] += m->w[j] * m->ub[j];
            dgsum[d] += g * m->ub[j];
            dwmin[d] = fmin(dwmin[d], m->w[j] / g);
        }
        n_off[n + 1]++;
    }
    for (int n = 0; n < nn; n++)
        gcap[n] = fmin(fmax(0, c->healthy[n] - l->gpus_used[n]),
                       units(c->ncap[n] - l->node_w[n], nwmin[n]));
    for (int t = 0; t < m->nt; t++) {
        double s = 0;
        for (int j = m->t_col[t]; j < m->t_col[t + 1]; j++)
            s += m->ub[j];
        if (s > m->t_off[t + 1] - m->t_off[t])
            trow[t] = ++rows;
    }
    /* Gangs: Σ members − nodes·y = 0 per domain, Σ y ≤ 1 per gang. */
    int yrow0 = rows, grow0 = rows + m->ny;
    rows += m->ny + m->ng;
    /* Tenant limits over what the model decides. */
    for (int t = 0; t < ntn; t++) {
        if (f->tenants[t].limit_gpus < 0)
            continue;
        for (int g = 0; g < m->ng; g++)
            if (under(f, tp_wl_tenant(gw(m, g)), t))
                tnsum[t] += (double)tp_wl_nodes(gw(m, g)) * gw(m, g)->gpus;
        for (int k = 0; m->full && k < m->nt; k++) {
            const tp_workload_t *w = tw(m, k);
            if (under(f, tp_wl_tenant(w), t))
                tnsum[t] += (double)w->gpus * (m->t_off[k + 1] - m->t_off[k]);
        }
        if (tnsum[t] > f->tenants[t].limit_gpus - m->tfix[t])
            tnrow[t] = ++rows;
    }
    for (int r = 0; r < nn; r++) {
        int n = c->nord[r];
        if (gsum[n] > gcap[n])
            grow[n] = ++rows;
        if (wsum[n] > c->ncap[n] - l->node_w[n])
            wrow[n] = ++rows;
    }
    for (int r = 0; r < nd; r++) {
        int d = c->dord[r];
        if (dsum[d] > c->dcap[d] - l->domain_w[d])
            drow[d] = ++rows;
        if (dgsum[d] > units(c->dcap[d] - l->domain_w[d], dwmin[d]))
            dgrow[d] = ++rows;
    }
    /* Columns by node (CSR), in column order. */
    for (int n = 0; n < nn; n++)
        n_off[n + 1] += n_off[n];
    {
        int *fill = last; /* scratch */
        memcpy(fill, n_off, (size_t)nn * sizeof *fill);
        for (int j = 0; j < m->ncol; j++)
            n_col[fill[m->col_n[j]]++] = j;
    }
    glp_add_cols(P, m->ncol + m->ny);
    for (int k = 0; k < m->ny; k++) {
        int col = m->ncol + k + 1, g = 0;
        while (m->g_y[g + 1] <= k)
            g++;
        glp_set_col_kind(P, col, GLP_BV);
        double gpus = (double)tp_wl_nodes(gw(m, g)) * gw(m, g)->gpus;
        if (mat_push(&m->mat, yrow0 + k + 1, col, -tp_wl_nodes(gw(m, g))) < 0 ||
            mat_push(&m->mat, grow0 + g + 1, col, 1) < 0)
            goto out;
        for (int t = 0; t < ntn; t++)
            if (tnrow[t] && under(f, tp_wl_tenant(gw(m, g)), t) &&
                mat_push(&m->mat, tnrow[t], col, gpus) < 0)
                goto out;
    }
    for (int j = 0; j < m->ncol; j++) {
        int t = m->col_t[j], n = m->col_n[j];
        double g = m->gp[j];
        if (m->col_y[j] >= 0 && mat_push(&m->mat, yrow0 + m->col_y[j] + 1, j + 1, 1) < 0)
            goto out;
        if (m->ub[j] == 1) {
            glp_set_col_kind(P, j + 1, GLP_BV);
        } else {
            glp_set_col_kind(P, j + 1, GLP_IV);
            glp_set_col_bnds(P, j + 1, m->ub[j] > 0 ? GLP_DB : GLP_FX, 0, m->ub[j]);
        }
        if ((t < m->nt && trow[t] && mat_push(&m->mat, trow[t], j + 1, 1) < 0) ||
            (grow[n] && mat_push(&m->mat, grow[n], j + 1, g) < 0) ||
            (wrow[n] && mat_push(&m->mat, wrow[n], j + 1, m->w[j]) < 0))
            goto out;
        for (int u = 0; m->full && t < m->nt && u < ntn; u++)
            if (tnrow[u] && under(f, tp_wl_tenant(tw(m, t)), u) &&
                mat_push(&m->mat, tnrow[u], j + 1, g) < 0)
                goto out;
        for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
            if ((drow[d] && mat_push(&m->mat, drow[d], j + 1, m->w[j]) < 0) ||
                (dgrow[d] && mat_push(&m->mat, dgrow[d], j + 1, g) < 0))
                goto out;
    }
    /* Symmetry: identical nodes in canonical order, GPU use descending. */
    for (int i = 0; i < m->ncol + nn; i++)
        last[i] = -1;
    for (int r = 0; r < nn; r++) {
        int n = c->nord[r], len = 0;
        if (n_off[n] == n_off[n + 1])
            continue;
        double head = c->ncap[n] - l->node_w[n];
        int64_t hb;
        memcpy(&hb, &head, sizeof hb);
        key[len++] = f->nodes[n].domain;
        key[len++] = c->trust[n];
        key[len++] = f->nodes[n].gpu_model;
        key[len++] = c->healthy[n] - l->gpus_used[n];
        key[len++] = (int)(hb >> 32);
        key[len++] = (int)(hb & 0xffffffff);
        for (int i = n_off[n]; i < n_off[n + 1]; i++) {
            int j = n_col[i];
            double wr = m->w[j];
            int64_t wb;
            memcpy(&wb, &wr, sizeof wb);
            key[len++] = m->col_t[j];
            key[len++] = (int)m->ub[j];
            key[len++] = (int)(wb >> 32);
            key[len++] = (int)(wb & 0xffffffff);
        }
        int id = keytab_intern(&nk, key, len);
        if (id < 0)
            goto out;
        int prev = last[id];
        last[id] = n;
        if (prev < 0)
            continue;
        int row = ++rows; /* used(prev) − used(n) ≥ 0 */
        for (int i = n_off[prev]; i < n_off[prev + 1]; i++)
            if (mat_push(&m->mat, row, n_col[i] + 1, m->gp[n_col[i]]) < 0)
                goto out;
        for (int i = n_off[n]; i < n_off[n + 1]; i++)
            if (mat_push(&m->mat, row, n_col[i] + 1, -m->gp[n_col[i]]) < 0)
                goto out;
    }
    if (rows)
        glp_add_rows(P, rows);
    for (int i = 1; i <= rows; i++)
        glp_set_row_bnds(P, i, GLP_LO, 0, 0); /* symmetry rows; the rest below */
    for (int t = 0; t < m->nt; t++)
        if (trow[t])
            glp_set_row_bnds(P, trow[t], GLP_UP, 0, m->t_off[t + 1] - m->t_off[t]);
    for (int k = 0; k < m->ny; k++)
        glp_set_row_bnds(P, yrow0 + k + 1, GLP_FX, 0, 0);
    for (int g = 0; g < m->ng; g++)
        glp_set_row_bnds(P, grow0 + g + 1, GLP_UP, 0, 1);
    for (int t = 0; t < ntn; t++)
        if (tnrow[t])
            glp_set_row_bnds(P, tnrow[t], GLP_UP, 0,
                             fmax(0, (double)f->tenants[t].limit_gpus - m->tfix[t]));
    for (int n = 0; n < nn; n++) {
        if (grow[n])
            glp_set_row_bnds(P, grow[n], GLP_UP, 0, gcap[n]);
        if (wrow[n])
            glp_set_row_bnds(P, wrow[n], GLP_UP, 0, fmax(0, c->ncap[n] - l->node_w[n]));
    }
    for (int d = 0; d < nd; d++) {
        if (drow[d])
            glp_set_row_bnds(P, drow[d], GLP_UP, 0, fmax(0, c->dcap[d] - l->domain_w[d]));
        if (dgrow[d])
            glp_set_row_bnds(P, dgrow[d], GLP_UP, 0,
                             units(c->dcap[d] - l->domain_w[d], dwmin[d]));
    }
    m->nrows = rows;
    glp_load_matrix(P, (int)m->mat.nnz, m->mat.ia, m->mat.ja, m->mat.ar);
    if (getenv("TP_EXACT_DUMP")) /* debugging: docs/solver.md */
        dump(P, m, getenv("TP_EXACT_DUMP"));
    dive(P, m);
    /* RINS: on the dives' start when there is no search, else on the
     * search's answer when it did not close the first stage. */
    if (m->lx.no_search)
        polish(P, m);
    int nr0 = glp_get_num_rows(P), nc = glp_get_num_cols(P);
    for (int j = 1; j <= nc; j++) {
        lb0[j] = glp_get_col_lb(P, j);
        ub0[j] = glp_get_col_ub(P, j);
    }
    rc = lex_solve(P, &m->lx);
    /* Its LP ran out of budget (the dives' and RINS's iterations count): the
     * dives' root LP is the same relaxation. */
    if (rc == 0 && m->lp_ok && !isfinite(m->lx.bound[0]))
        m->lx.bound[0] =
            fmax(m->lx.value[0], m->lx.integral[0] ? floor(m->lp_z + 1e-6) : m->lp_z);
    if (rc == 0 && !m->lx.no_search && m->lx.solved == 0)
        rc = polish_answer(P, m, nr0, lb0, ub0);
out:
    glp_delete_prob(P);
    if (nk_ok)
        keytab_fini(&nk);
    free(trow);
    free(grow);
    free(wrow);
    free(drow);
    free(gsum);
    free(wsum);
    free(dsum);
    free(nwmin);
    free(dwmin);
    free(dgsum);
    free(dgrow);
    free(gcap);
    free(n_off);
    free(n_col);
    free(key);
    free(last);
    free(tnrow);
    free(tnsum);
    free(lb0);
    free(ub0);
    return rc;
}

/* The iteration budget of a run: with tenant rows (full), what the earlier
 * such runs of this solve left of one budget (auto_exact's second start gets
 * the rest of it; both are the same model). */
static long ex_budget(const ctx_t *c, bool full)
{
    long b = milp_iter_budget(c) - (full ? c->ex_iters : 0);
    return b > TP_SOLVER_MIN_ITERS ? b : TP_SOLVER_MIN_ITERS;
}

/* Term (1) of the side items gi[0..ng) that are placed now. */
static double gangs_weighted(const ctx_t *c, const int *gi, int ng)
{
    double v = 0;
    for (int g = 0; g < ng; g++) {
        const tp_workload_t *w = c->side.w[gi[g]];
        if (c->side.flag[gi[g]] == 0)
            v += (1.0 + w->priority) * w->gpus * tp_wl_nodes(w);
    }
    return v;
}

/* Could the model decide side item it? Gangs the greedy pass placed or left
 * waiting for room (not reclaim's); with `full`, work held back by a limit
 * too (single-node work as types, build_types). */
static bool model_item(const side_t *sd, int it, bool full)
{
    if (full && sd->held[it])
        return true;
    return tp_wl_nodes(sd->w[it]) > 1 && sd->flag[it] != 2 && !sd->fixed[it];
}

/* The side items the model decides (m->gi; their load leaves m->p while it
 * does) and the tenant rows' fixed use (m->tfix). Where admission could
 * matter — some tenant's candidates and items together exceed its room —
 * the rows count everything the model decides against the use of what it
 * does not (running work, reclaims), and held-back work joins (m->full):
 * the model then finds the optimum under the limits. Else (or with too many
 * items: gangs × nodes ≤ TP_SOLVER_DEFAULT_EXACT_PAIRS) the rows cover the
 * gangs within the room admission left after reserving every admitted
 * candidate, so any plan of the candidates keeps the limits (docs/solver.md,
 * Limits). */
static int pick_items(ctx_t *c, ex_t *m, milp_out_t *out)
{
    const tp_fleet_t *f = c->f;
    side_t *sd = &c->side;
    int ntn = f->ntenants;
    long nold = 0, nfull = 0, *tf = calloc((size_t)ntn + 1, sizeof *tf),
         *want = calloc((size_t)ntn + 1, sizeof *want);
    char *in = calloc((size_t)sd->n + 1, 1); /* joins the full model */
    if (!tf || !want || !in) {
        free(tf);
        free(want);
        free(in);
        return TP_ENOMEM;
    }
    bool full = false, sane = sd->use != NULL;
    for (int t = 0; t < ntn && sane; t++) {
        tf[t] = sd->use[t]; /* every candidate was charged by admission */
        for (int ci = 0; ci < c->nc; ci++)
            if (under(f, tp_wl_tenant(c->cw[ci]), t))
                tf[t] -= c->cw[ci]->gpus;
        for (int it = 0; it < sd->n; it++)
            if (model_item(sd, it, true) && sd->flag[it] == 0 &&
                under(f, tp_wl_tenant(sd->w[it]), t))
                tf[t] -= (long)tp_wl_nodes(sd->w[it]) * sd->w[it]->gpus;
        sane = tf[t] >= 0;
    }
    for (int it = 0; it < sd->n; it++) {
        long g = (long)tp_wl_nodes(sd->w[it]) * sd->w[it]->gpus;
        nold += tp_wl_nodes(sd->w[it]) > 1;
        /* Held-back work larger than its tenant's room beside what the model
         * does not decide fits no plan: it stays out. */
        in[it] =
            model_item(sd, it, true) &&
            (!sd->held[it] || !sane || side_room(c, tf, tp_wl_tenant(sd->w[it])) >= g);
        nfull += in[it];
    }
    for (int t = 0; t < ntn && sane; t++) {
        for (int ci = 0; ci < c->nc; ci++)
            if (under(f, tp_wl_tenant(c->cw[ci]), t))
                want[t] += c->cw[ci]->gpus;
        for (int it = 0; it < sd->n; it++)
            if (in[it] && under(f, tp_wl_tenant(sd->w[it]), t))
                want[t] += (long)tp_wl_nodes(sd->w[it]) * sd->w[it]->gpus;
        full |=
            f->tenants[t].limit_gpus >= 0 && want[t] > f->tenants[t].limit_gpus - tf[t];
    }
    full = full && sane && nfull * f->nnodes <= TP_SOLVER_DEFAULT_EXACT_PAIRS;
    bool any = full || nold * f->nnodes <= TP_SOLVER_DEFAULT_EXACT_PAIRS;
    m->full = full;
    m->kb = full ? 5 : 3;
    c->tn_rows = full;
    out->held_in = full;
    for (int it = 0; it < sd->n && any; it++) {
        const tp_workload_t *w = sd->w[it];
        if (full ? !in[it] : !model_item(sd, it, false))
            continue;
        if (full && sd->held[it] && tp_wl_nodes(w) == 1) {
            m->hi[m->nh++] = it;
            if (sd->flag[it] == 0)
                tp_load_apply(m->p->load, f, sd->mem[it][0], w->gpus,
                              tp_fleet_gpu_watts(f, sd->mem[it][0], w->model), -1);
            continue;
        }
        if (side_kind_lists(c, tp_wl_together(w)) < 0) {
            free(tf);
            free(want);
            free(in);
            return TP_ENOMEM;
        }
        m->gi[m->ng++] = it;
        for (int j = 0; sd->flag[it] == 0 && j < tp_wl_nodes(w); j++)
            tp_load_apply(m->p->load, f, sd->mem[it][j], w->gpus,
                          tp_fleet_gpu_watts(f, sd->mem[it][j], w->model), -1);
    }
    for (int t = 0; t < ntn; t++) {
        if (full) {
            m->tfix[t] = tf[t];
            continue;
        }
        /* GPUs the model's gangs may not take: the use side_before counted
         * (running work, reclaims, every admitted candidate) less the placed
         * gangs above. */
        m->tfix[t] = sd->use ? sd->use[t] : 0;
        long g = 0; /* the gangs' GPUs: a row that binds is a restriction */
        for (int k = 0; k < m->ng; k++)
            if (under(f, tp_wl_tenant(gw(m, k)), t)) {
                long v = (long)tp_wl_nodes(gw(m, k)) * gw(m, k)->gpus;
                m->tfix[t] -= sd->flag[m->gi[k]] == 0 ? v : 0;
                g += v;
            }
        out->gang_limited |=
            f->tenants[t].limit_gpus >= 0 && g > f->tenants[t].limit_gpus - m->tfix[t];
    }
    free(tf);
    free(want);
    free(in);
    return 0;
}

int milp_exact(ctx_t *c, plan_t *p, const plan_t *inc, milp_out_t *out, char *msg,
               size_t msglen)
{
    const tp_fleet_t *f = c->f;
    side_t *sd = &c->side;
    ex_t m = {0};
    keytab_t kt;
    plan_t q = {0};
    double *comb = NULL;
    int rc = TP_ENOMEM, *chosen = NULL, *hnode = NULL;
    memset(out, 0, sizeof *out);
    out->bound = INFINITY;
    m.c = c;
    m.p = &q;
    if (keytab_init(&kt, 64) < 0)
        return TP_ENOMEM;
    if (plan_copy(&q, p, c) < 0)
        goto out;
    m.gi = malloc(((size_t)sd->n + 1) * sizeof *m.gi);
    m.hi = malloc(((size_t)sd->n + 1) * sizeof *m.hi);
    m.tfix = calloc((size_t)f->ntenants + 1, sizeof *m.tfix);
    chosen = malloc(((size_t)f->nnodes + 1) * sizeof *chosen);
    hnode = malloc(((size_t)sd->n + 1) * sizeof *hnode);
    if (!m.gi || !m.hi || !m.tfix || !chosen || !hnode)
        goto out;
    if ((rc = pick_items(c, &m, out)) < 0)
        goto out;
    if ((rc = build_types(&m, &kt)) < 0 || (rc = build_gangs(&m)) < 0)
        goto out;
    rc = TP_ENOMEM;
    out->pairs = m.ncol;
    int nv = m.ncol + m.ny; /* columns: singles, gang members, then y */
    if (nv == 0) {
        out->found = out->optimal = out->term1_optimal = true;
        out->bound = 0;
        rc = 0;
        goto out;
    }
    m.nstages = c->emax > 0 ? 3 : 2;
    for (int s = 0; s < m.nstages; s++)
        if (!(m.obj[s] = calloc((size_t)nv + 1, sizeof *m.obj[s])))
            goto out;
    m.x = calloc((size_t)nv + 1, sizeof *m.x);
    m.start = calloc((size_t)nv + 1, sizeof *m.start);
    m.xlp = calloc((size_t)nv + 1, sizeof *m.xlp);
    m.dx = calloc((size_t)nv + 1, sizeof *m.dx);
    m.s0 = calloc((size_t)nv + 1, sizeof *m.s0);
    m.rc = calloc((size_t)nv + 1, sizeof *m.rc);
    if (!m.x || !m.start || !m.xlp || !m.dx || !m.s0 || !m.rc)
        goto out;
    for (int j = 0; j < m.ncol; j++) {
        int t = m.col_t[j], n = m.col_n[j];
        const tp_workload_t *w = t < m.nt ? tw(&m, t) : gw(&m, t - m.nt);
        m.obj[0][j + 1] = t < m.nt ? (1.0 + w->priority) * w->gpus : 0;
        if (t >= m.nt || t_held(&m, t))
            continue; /* side items count by term (1) alone (gangs on y) */
        m.obj[1][j + 1] = (double)w->gpus * (TP_TRUST_MAX - c->trust[n]);
        if (m.nstages > 2)
            m.obj[2][j + 1] =
                w->gpus * ctx_eff(f, w->model, f->nodes[n].gpu_model) / c->emax;
    }
    for (int g = 0; g < m.ng; g++)
        for (int k = m.g_y[g]; k < m.g_y[g + 1]; k++)
            m.obj[0][m.ncol + k + 1] =
                (1.0 + gw(&m, g)->priority) * gw(&m, g)->gpus * tp_wl_nodes(gw(&m, g));
    /* The incumbent: how many of each type inc runs on each node (held-back
     * work where it stands), and the gangs where the greedy pass put them. */
    {
        int nm = c->nc + m.nh, *tof = malloc(((size_t)nm + 1) * sizeof *tof);
        if (!tof)
            goto out;
        for (int v = 0; v < nm; v++)
            tof[v] = -1;
        for (int t = 0; t < m.nt; t++)
            for (int i = m.t_off[t]; i < m.t_off[t + 1]; i++)
                tof[m.t_mem[i]] = t;
        for (int v = 0; v < nm; v++) {
            int t = tof[v], it = v < c->nc ? -1 : m.hi[v - c->nc];
            int n = it < 0              ? (inc ? inc->cnode[v] : -1)
                    : sd->flag[it] == 0 ? sd->mem[it][0]
                                        : -1;
            if (t < 0 || n < 0)
                continue;
            for (int j = m.t_col[t]; j < m.t_col[t + 1]; j++)
                if (m.col_n[j] == n && m.start[j + 1] < m.ub[j]) {
                    m.start[j + 1]++;
                    break;
                }
        }
        free(tof);
    }
    for (int g = 0; g < m.ng; g++) {
        int it = m.gi[g], need = tp_wl_nodes(gw(&m, g)), got = 0, y = -1;
        if (sd->flag[it] != 0)
            continue;
        for (int j = m.nsc; j < m.ncol; j++)
            if (m.col_t[j] == m.nt + g)
                for (int i = 0; i < need; i++)
                    if (m.col_n[j] == sd->mem[it][i] && (y < 0 || m.col_y[j] == y)) {
                        y = m.col_y[j];
                        chosen[got++] = j;
                    }
        if (got != need)
            continue; /* not representable: the start leaves it out */
        for (int i = 0; i < need; i++)
            m.start[chosen[i] + 1] = 1;
        m.start[m.ncol + y + 1] = 1;
    }
    /* Terms (1) and (2) are integers and (2) is at most triv[1]: maximising
     * M (1) + (2) with M = triv[1] + 1 is exactly lexicographic, in one
     * search that never has to fix (1) by a row to look at (2). triv: every
     * candidate at its best column, every gang at its best members. */
    double triv[3] = {0, 0, 0};
    for (int s = 0; s < m.nstages; s++) {
        for (int t = 0; t < m.nt; t++) {
            double best = 0;
            for (int j = m.t_col[t]; j < m.t_col[t + 1]; j++)
                best = fmax(best, m.obj[s][j + 1]);
            triv[s] += best * (m.t_off[t + 1] - m.t_off[t]);
        }
        for (int g = 0; g < m.ng; g++) {
            double best = 0;
            for (int j = m.nsc; j < m.ncol; j++)
                if (m.col_t[j] == m.nt + g)
                    best = fmax(best, m.obj[s][j + 1]);
            for (int k = m.g_y[g]; k < m.g_y[g + 1]; k++)
                best = fmax(best, m.obj[s][m.ncol + k + 1] / tp_wl_nodes(gw(&m, g)));
            triv[s] += best * tp_wl_nodes(gw(&m, g));
        }
    }
    /* Combined only while GLPK's relative tolerances (1e-7) stay below half
     * a unit of term (2); else (1), (2), (3) one after another. */
    double M = triv[1] + 1;
    bool comb1 = M * (triv[0] + 1) < 4e6;
    if (!(comb = calloc((size_t)nv + 1, sizeof *comb)))
        goto out;
    for (int j = 1; j <= nv; j++)
        comb[j] = M * m.obj[0][j] + m.obj[1][j];
    m.lx =
        (lex_t){.nstages = comb1 ? m.nstages - 1 : m.nstages,
                .obj = {comb1 ? comb : m.obj[0], comb1 ? m.obj[2] : m.obj[1], m.obj[2]},
                .integral = {true, !comb1, false},
                .node_budget = milp_node_budget(c, nv),
                .no_search = milp_node_budget(c, nv) < EXACT_MIN_NODES,
                .it_budget = ex_budget(c, m.full),
                .cut_rounds = m.ng == 0 || tp_exact_cut_force ? tp_exact_cut_rounds : 0,
                .cut_force = tp_exact_cut_force,
                .start = m.start,
                .x = m.x};
    rc = glpk_guarded(run, &m, msg, msglen);
    if (tp_exact_cut_stats) {
        tp_exact_cut_stats[0] += m.lx.cuts;
        tp_exact_cut_stats[1] += m.lx.cuts_bad;
    }
    if (m.full)
        c->ex_iters += m.lx.iters;
    if (rc < 0)
        goto out;
    rc = TP_ENOMEM;
    double v1 = 0, v2 = 0, b1, b2, b3 = 0;
    for (int j = 1; j <= nv; j++) {
        v1 += m.obj[0][j] * m.x[j];
        v2 += m.obj[1][j] * m.x[j];
    }
    int s3 = comb1 ? 1 : 2; /* the stage of term (3) */
    if (!comb1) {
        b1 = m.lx.solved >= 1 ? v1 : fmax(v1, fmin(m.lx.bound[0], triv[0]));
        b2 = m.lx.solved >= 2 ? v2 : fmin(m.lx.bound[1], triv[1]);
    } else if (m.lx.solved >= 1) {
        b1 = v1;
        b2 = v2;
    } else {
        double B = m.lx.bound[0];
        b1 = isfinite(B) ? fmin(triv[0], floor(B / M + 1e-9)) : triv[0];
        b2 = b1 <= v1 && isfinite(B) ? fmin(triv[1], B - M * v1) : triv[1];
        b1 = fmax(b1, v1);
    }
    if (m.nstages > 2)
        b3 = m.lx.solved > s3 ? m.lx.value[s3] : fmin(m.lx.bound[s3], triv[2]);
    out->found = m.lx.found;
    out->time_limited = m.lx.time_limited;
    out->stopped = m.lx.stopped;
    out->nodes = (int)(m.lx.nodes < INT_MAX ? m.lx.nodes : INT_MAX);
    out->optimal = m.lx.solved == m.lx.nstages;
    out->term1_optimal = b1 <= v1;
    out->bound = b1 + c->eps_s * fmax(b2, v2) + c->eps_e * b3;
    /* The answer into q: gangs first (whole, each member checked exactly),
     * then the members of each type to its columns' nodes, canonical order. */
    int *pick = calloc((size_t)m.ng + 1, sizeof *pick); /* 1 + its y, 0: none */
    if (!pick)
        goto out;
    for (int g = 0; g < m.ng; g++)
        for (int k = m.g_y[g]; k < m.g_y[g + 1]; k++)
            if (m.x[m.ncol + k + 1] > 0.5)
                pick[g] = k + 1;
    for (int g = 0; g < m.ng; g++) {
        const tp_workload_t *w = gw(&m, g);
        int got = 0;
        for (int j = m.nsc; j < m.ncol && pick[g]; j++)
            if (m.col_t[j] == m.nt + g && m.col_y[j] == pick[g] - 1 && m.x[j + 1] > 0.5 &&
                got < tp_wl_nodes(w) && ctx_fits(c, q.load, w, m.col_n[j])) {
                chosen[got++] = m.col_n[j];
                tp_load_apply(q.load, f, m.col_n[j], w->gpus,
                              tp_fleet_gpu_watts(f, m.col_n[j], w->model), +1);
            }
        if (got == tp_wl_nodes(w))
            continue;
        if (pick[g])
            out->optimal = out->term1_optimal = false; /* tolerance */
        while (got > 0) {
            int n = chosen[--got];
            tp_load_apply(q.load, f, n, w->gpus, tp_fleet_gpu_watts(f, n, w->model), -1);
        }
        pick[g] = 0;
    }
    for (int h = 0; h < m.nh; h++)
        hnode[h] = -1;
    for (int t = 0; t < m.nt; t++) {
        int next = m.t_off[t];
        for (int j = m.t_col[t]; j < m.t_col[t + 1]; j++)
            for (int k = 0; k < (int)m.x[j + 1] && next < m.t_off[t + 1]; k++) {
                int v = m.t_mem[next++], n = m.col_n[j];
                const tp_workload_t *w = v < c->nc ? NULL : sd->w[m.hi[v - c->nc]];
                if (w && ctx_fits(c, q.load, w, n)) {
                    hnode[v - c->nc] = n;
                    tp_load_apply(q.load, f, n, w->gpus,
                                  tp_fleet_gpu_watts(f, n, w->model), +1);
                } else if (!w && plan_fits(c, &q, v, n)) {
                    plan_place(c, &q, v, n);
                } else {
                    out->optimal = out->term1_optimal = false; /* tolerance */
                }
            }
    }
    /* Keep it only when it is no worse than the incumbent, gangs included
     * (the incumbent: inc's candidates with the side items' gangs). */
    double newg = 0;
    for (int g = 0; g < m.ng; g++)
        if (pick[g])
            newg +=
                (1.0 + gw(&m, g)->priority) * gw(&m, g)->gpus * tp_wl_nodes(gw(&m, g));
    for (int h = 0; h < m.nh; h++)
        if (hnode[h] >= 0)
            newg += (1.0 + sd->w[m.hi[h]]->priority) * sd->w[m.hi[h]]->gpus;
    double was = (inc ? plan_objective(c, inc, NULL) : plan_objective(c, p, NULL)) +
                 gangs_weighted(c, m.gi, m.ng) + gangs_weighted(c, m.hi, m.nh);
    if (plan_objective(c, &q, NULL) + newg < was - 1e-9) {
        free(pick);
        out->optimal = out->term1_optimal = false;
        rc = 0;
        goto out;
    }
    rc = 0;
    for (int g = 0; g < m.ng; g++) {
        int got = 0;
        for (int j = m.nsc; j < m.ncol && pick[g]; j++)
            if (m.col_t[j] == m.nt + g && m.col_y[j] == pick[g] - 1 && m.x[j + 1] > 0.5 &&
                got < tp_wl_nodes(gw(&m, g)))
                chosen[got++] = m.col_n[j];
        if ((rc = side_gang_set(c, m.gi[g], pick[g] ? chosen : NULL)) < 0)
            break;
    }
    for (int h = 0; h < m.nh && rc == 0; h++)
        rc = side_gang_set(c, m.hi[h], hnode[h] >= 0 ? &hnode[h] : NULL);
    free(pick);
    if (rc < 0)
        goto out;
    plan_fini(p);
    *p = q;
    q = (plan_t){0};
    out->gangs = m.ng + m.nh;
    /* solver.c adds every side item's */
    out->bound -= gangs_weighted(c, m.gi, m.ng) + gangs_weighted(c, m.hi, m.nh);
    rc = 0;
out:
    plan_fini(&q);
    keytab_fini(&kt);
    free(comb);
    free(chosen);
    free(hnode);
    for (int s = 0; s < 3; s++)
        free(m.obj[s]);
    free(m.x);
    free(m.start);
    free(m.xlp);
    free(m.dx);
    free(m.s0);
    free(m.rc);
    free(m.t_off);
    free(m.t_mem);
    free(m.t_col);
    free(m.col_t);
    free(m.col_n);
    free(m.col_y);
    free(m.ub);
    free(m.w);
    free(m.gp);
    free(m.gi);
    free(m.hi);
    free(m.g_y);
    free(m.y_dom);
    free(m.tfix);
    mat_fini(&m.mat);
    return rc;
}
