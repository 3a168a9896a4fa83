/*
 * solver/milp.c — the per-pair MILP: one binary x[w][n] for every eligible
 * (candidate, node) pair, exact per-node and per-domain constraints.
 *
 *   max  Σ v[w][n] x[w][n]
 *   Σ_n x[w][n] ≤ 1                        every candidate
 *   Σ_w g_w x[w][n] ≤ free_n               every node (only where it can bind)
 *   Σ_w watts[w][n] x[w][n] ≤ cap_n − draw_n
 *   Σ_{n under d} Σ_w watts x ≤ cap_d − draw_d   every domain (where it can bind)
 *
 * This is the naive baseline (TP_SOLVER_EXACT): the weighted objective in one
 * solve, presolve and cuts on, stopped by the time limit alone — what a
 * plain GLPK MILP does: GLPK's own clock (its presolve and root cuts on a
 * large model run long between callbacks) besides the iteration budget.
 * AUTO's exact model on small inputs (exact.c) aggregates identical
 * candidates and adds gangs; both run through lex_solve() below, the
 * lexicographic driver (also used by preempt.c).
 *
 * Rows and columns are built in canonical order (candidates as ctx_t orders
 * them, nodes and domains by id), so GLPK sees the same model whatever the
 * order of the input files, and AUTO's searches are stopped by node and
 * simplex-iteration budgets — deterministic work limits, never the clock.
 */
#include "solver/solver_internal.h"

#include <glpk.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- lexicographic MILP over a built problem ------------------------------------- */

/* Every stage of lex_solve():
 *   1. the LP relaxation (simplex, no presolve) of the problem as it stands —
 *      earlier stages fixed by rows — gives a bound z; for an integral stage
 *      ⌊z⌋ ≤ the incumbent's value proves the incumbent optimal at once;
 *      with lx->cut_rounds (the first stage, when a search follows), z is
 *      the LP's after rounds of GMI cuts (lex_cuts, cuts.c), which stay;
 *   2. reduced-cost fixing, our presolve across stages: a column at a bound
 *      with reduced cost d cannot move more than (z − target) / |d| from it in
 *      any solution worth at least target; the bounds for "better than the
 *      incumbent" hold during this stage's search, those for "as good as the
 *      stage's optimum" stay for every later stage (which keep it by a row);
 *   3. unless the caller's budget rules out a search (no_search), branch
 *      and cut with GLPK's MIP presolver and cuts, the incumbent passed
 *      as a cutoff row (this stage ≥ incumbent + one step): GLPK's presolver
 *      cannot take a start, a cutoff it can. No solution beyond the cutoff
 *      proves the incumbent optimal; one found and proven is the optimum.
 *      With GMI cut rows in, no presolver: the search starts from the LP
 *      with the cutoff. The presolver's "infeasible" is checked by that LP,
 *      then a search without it (GLPK 5.0's declared feasible searches
 *      infeasible).
 * The cutoff row then becomes the row that fixes the stage at its optimum. */

typedef struct {
    lex_t *lx;
    glp_iocp *ip;
    long before; /* nodes of earlier stages */
    int it0;     /* P's iteration count when this search began */
    double cb_bound;
} lexcb_t;

int lex_it_left(const lex_t *lx)
{
    long left = lx->it_budget - lx->iters;
    if (lx->it_budget <= 0)
        return INT_MAX;
    return left <= 0 ? 0 : left < INT_MAX ? (int)left : INT_MAX;
}

/* GLPK's cut generators (GMI, MIR, cover, clique) run at every node without
 * a simplex iteration: each pass is charged to the budget as
 * nnz / CUT_NNZ_PER_ITER iterations of the current LP (40 x 100 with tenant
 * rows: 258 passes of ~28k non-zeros took 7 s for 4,600 iterations). */
#define CUT_NNZ_PER_ITER 100

bool lex_it_over(glp_tree *T, lex_t *lx, int it0)
{
    if (glp_ios_reason(T) == GLP_ICUTGEN)
        lx->iters += glp_get_num_nz(glp_ios_get_prob(T)) / CUT_NNZ_PER_ITER;
    long spent = lx->iters + glp_get_it_cnt(glp_ios_get_prob(T)) - it0;
    if (lx->it_budget <= 0 || spent < lx->it_budget)
        return false;
    lx->time_limited = true;
    return true;
}

/* Simplex warm from P's basis within what is left of lx's iteration budget
 * (time_limited when it runs out); true when the LP is solved to optimality. */
static int lex_tm_left(const lex_t *lx, double t0)
{
    if (lx->wall_ms <= 0)
        return INT_MAX;
    return (int)fmax(1, lx->wall_ms - (tp_now_ms() - t0));
}

static bool lex_simplex(glp_prob *P, lex_t *lx, glp_smcp *sp, double t0)
{
    sp->it_lim = lex_it_left(lx);
    sp->tm_lim = lex_tm_left(lx, t0);
    if (sp->it_lim == 0) {
        lx->time_limited = true;
        return false;
    }
    int it0 = glp_get_it_cnt(P), ret = glp_simplex(P, sp);
    lx->iters += glp_get_it_cnt(P) - it0;
    lx->time_limited |= ret == GLP_EITLIM || ret == GLP_ETMLIM;
    return ret == 0 && glp_get_status(P) == GLP_OPT;
}

/* One branch and cut of lex_solve's stage beyond its cutoff row; *st its
 * MIP status (GLP_UNDEF: no search). With GLPK's MIP presolver (pre), or
 * without, from the LP with the cutoff: its infeasibility is the verdict
 * GLP_ENOPFS itself, its failure GLP_ESTOP (no search, not proven). The
 * LP's and the search's simplex iterations are charged to lx->iters. */
static int lex_search(glp_prob *P, lex_t *lx, glp_smcp *sp, lexcb_t *cb, double t0,
                      bool pre, int *st)
{
    *st = GLP_UNDEF;
    if (!pre && !lex_simplex(P, lx, sp, t0))
        return glp_get_status(P) == GLP_NOFEAS ? GLP_ENOPFS : GLP_ESTOP;
    cb->before = lx->nodes;
    cb->it0 = glp_get_it_cnt(P);
    cb->ip->presolve = pre ? GLP_ON : GLP_OFF;
    cb->ip->tm_lim = lex_tm_left(lx, t0);
    int ret = glp_intopt(P, cb->ip);
    *st = glp_mip_status(P);
    lx->iters += glp_get_it_cnt(P) - cb->it0;
    return ret;
}

bool ios_cuts_would_fail(glp_tree *T)
{
    return glp_ios_reason(T) == GLP_ISELECT && glp_get_num_cols(glp_ios_get_prob(T)) == 0;
}

static void lex_callback(glp_tree *T, void *info)
{
    lexcb_t *cb = info;
    /* T's parameters are cb->ip itself: off before the root initialises them. */
    if (ios_cuts_would_fail(T))
        cb->ip->gmi_cuts = cb->ip->mir_cuts = cb->ip->cov_cuts = cb->ip->clq_cuts =
            GLP_OFF;
    int b = glp_ios_best_node(T);
    if (b) {
        double nb = glp_ios_node_bound(T, b);
        if (nb < cb->cb_bound)
            cb->cb_bound = nb;
    }
    int active, current, total;
    glp_ios_tree_size(T, &active, &current, &total);
    cb->lx->nodes = cb->before + total;
    if (cb->lx->node_budget > 0 && cb->lx->nodes >= cb->lx->node_budget) {
        cb->lx->stopped = true;
        glp_ios_terminate(T);
    } else if (lex_it_over(T, cb->lx, cb->it0)) {
        glp_ios_terminate(T);
    }
}

static double dot(const double *a, const double *x, int n)
{
    double v = 0;
    for (int j = 1; j <= n; j++)
        v += a[j] * x[j];
    return v;
}

/* One step of a stage: 1 when its values are integers, else a relative hair. */
static double lex_step(const lex_t *lx, int s, double v)
{
    return lx->integral[s] ? 1 : 1e-7 * (1 + fabs(v));
}

/* Tightens the bounds of P's columns by reduced-cost fixing against the LP
 * optimum z: every solution worth ≥ target. lb/ub are the bounds to tighten
 * from (and receive the result). */
static void rc_fix(glp_prob *P, int n, double z, double target, double *lb, double *ub)
{
    /* The slack keeps GLPK's tolerances (reduced costs of the wrong sign up
     * to 1e-7 elsewhere) on the safe side. */
    double gain = fmax(0, z - target) + 1e-6 * (1 + fabs(z));
    for (int j = 1; j <= n; j++) {
        double d = glp_get_col_dual(P, j);
        int st = glp_get_col_stat(P, j);
        if (lb[j] >= ub[j])
            continue;
        if (st == GLP_NL && d < -1e-7) {
            double move = floor(gain / -d + 1e-6);
            if (lb[j] + move < ub[j])
                ub[j] = lb[j] + move;
        } else if (st == GLP_NU && d > 1e-7) {
            double move = floor(gain / d + 1e-6);
            if (ub[j] - move > lb[j])
                lb[j] = ub[j] - move;
        }
    }
}

/* At most this many cuts a round (lex_cuts). */
#define LEX_CUTS_PER_ROUND 200

/* Deletes P's rows from r0 + 1 on (basic: those whose auxiliary variable is
 * basic alone, rows that do not bind; the basis stays valid). */
static void drop_rows(glp_prob *P, int r0, bool basic, int *num)
{
    int m = glp_get_num_rows(P), cnt = 0;
    for (int i = r0 + 1; i <= m; i++)
        if (!basic || glp_get_row_stat(P, i) == GLP_BS)
            num[++cnt] = i;
    if (cnt)
        glp_del_rows(P, cnt, num);
}

/* Rounds of GMI cuts (cuts.c) on the first stage's LP, solved optimal,
 * until it proves the incumbent (lx->value[0]), no cut is found, the LP
 * moves by less than a relative 1e-6 or lx->cut_rounds are done; then the
 * cuts that do not bind go and the rest stay for the search and the later
 * stages (valid for every integer point of the model, so for them too) —
 * unless they left ⌊LP⌋ where it was: then they all go and the root basis
 * is restored, so the search runs as it would have without them (kept, they
 * changed GLPK's path for no bound: 20 × 40 seed 5, 30 × 60 seed 1 ended
 * lower in terms (2)/(3)). A round whose LP fails is undone (its rows, the
 * basis before). Each round is charged like one of GLPK's cut passes
 * (CUT_NNZ_PER_ITER) plus its dual simplex. False when the LP could not be
 * solved again. */
static bool lex_cuts(glp_prob *P, lex_t *lx, glp_smcp *sp, double t0)
{
    int m0 = glp_get_num_rows(P), n = glp_get_num_cols(P);
    int cap = m0 + lx->cut_rounds * LEX_CUTS_PER_ROUND;
    cut_ws_t w;
    int *rst = malloc(((size_t)cap + 1) * sizeof *rst);
    int *cst = malloc(((size_t)n + 1) * sizeof *cst);
    int *rst0 = malloc(((size_t)m0 + 1) * sizeof *rst0);
    int *cst0 = malloc(((size_t)n + 1) * sizeof *cst0);
    int *num = malloc(((size_t)cap + 1) * sizeof *num);
    bool ok = true, dirty = false;
    int meth = sp->meth;
    double zroot = glp_get_obj_val(P);
    sp->meth = GLP_DUALP;
    if (!rst || !cst || !rst0 || !cst0 || !num || cut_ws_init(&w, cap, n) < 0)
        goto out;
    for (int i = 1; i <= m0; i++)
        rst0[i] = glp_get_row_stat(P, i);
    for (int j = 1; j <= n; j++)
        cst0[j] = glp_get_col_stat(P, j);
    for (int round = 0; round < lx->cut_rounds; round++) {
        double z = glp_get_obj_val(P);
        if (floor(z + 1e-6) < lx->value[0] + 1 - 1e-9 && !lx->cut_force)
            break; /* proven */
        int m = glp_get_num_rows(P);
        for (int i = 1; i <= m; i++)
            rst[i] = glp_get_row_stat(P, i);
        for (int j = 1; j <= n; j++)
            cst[j] = glp_get_col_stat(P, j);
        lx->iters += glp_get_num_nz(P) / CUT_NNZ_PER_ITER;
        if (gmi_round(P, m0, lx->x, LEX_CUTS_PER_ROUND, &w) == 0)
            break;
        dirty = true;
        if (!lex_simplex(P, lx, sp, t0)) {
            drop_rows(P, m, false, num);
            for (int i = 1; i <= m; i++)
                glp_set_row_stat(P, i, rst[i]);
            for (int j = 1; j <= n; j++)
                glp_set_col_stat(P, j, cst[j]);
            break;
        }
        if (z - glp_get_obj_val(P) < 1e-6 * (1 + fabs(z)))
            break;
    }
    lx->cuts += w.cuts;
    lx->cuts_bad += w.bad;
    cut_ws_fini(&w);
    if (dirty && floor(glp_get_obj_val(P) + 1e-6) >= floor(zroot + 1e-6) &&
        !lx->cut_force) {
        drop_rows(P, m0, false, num); /* no gain: back to the root */
        for (int i = 1; i <= m0; i++)
            glp_set_row_stat(P, i, rst0[i]);
        for (int j = 1; j <= n; j++)
            glp_set_col_stat(P, j, cst0[j]);
        ok = lex_simplex(P, lx, sp, t0);
    } else if (dirty) { /* the cuts that do not bind go; the LP again */
        drop_rows(P, m0, true, num);
        ok = lex_simplex(P, lx, sp, t0);
    }
out:
    sp->meth = meth;
    free(rst);
    free(cst);
    free(rst0);
    free(cst0);
    free(num);
    return ok;
}

static void set_bounds(glp_prob *P, int n, const double *lb, const double *ub)
{
    for (int j = 1; j <= n; j++)
        glp_set_col_bnds(P, j, lb[j] == ub[j] ? GLP_FX : GLP_DB, lb[j], ub[j]);
}

int lex_solve(glp_prob *P, lex_t *lx)
{
    int n = glp_get_num_cols(P), rc = TP_ENOMEM;
    double t0 = tp_now_ms();
    double *x = malloc(((size_t)n + 1) * sizeof *x);
    int *ind = malloc(((size_t)n + 1) * sizeof *ind);
    double *lb = malloc(((size_t)n + 1) * sizeof *lb);
    double *ub = malloc(((size_t)n + 1) * sizeof *ub);
    double *tlb = malloc(((size_t)n + 1) * sizeof *tlb);
    double *tub = malloc(((size_t)n + 1) * sizeof *tub);
    if (!x || !ind || !lb || !ub || !tlb || !tub)
        goto out;
    for (int j = 0; j <= n; j++) {
        lx->x[j] = lx->start ? lx->start[j] : 0;
        ind[j] = j;
        if (j) {
            lb[j] = glp_get_col_lb(P, j);
            ub[j] = glp_get_col_ub(P, j);
        }
    }
    lx->solved = 0;
    lx->found = true;     /* x = 0 (or the start) is always feasible */
    bool cuts_in = false; /* GMI cut rows in P */
    for (int s = 0; s < lx->nstages; s++)
        lx->value[s] = dot(lx->obj[s], lx->x, n), lx->bound[s] = INFINITY;
    for (int s = 0; s < lx->nstages; s++) {
        for (int j = 1; j <= n; j++)
            glp_set_obj_coef(P, j, lx->obj[s][j]);
        /* 1. The LP relaxation. */
        glp_smcp sp;
        glp_init_smcp(&sp);
        sp.msg_lev = GLP_MSG_OFF;
        if (!lex_simplex(P, lx, &sp, t0))
            break;
        if (s == 0 && lx->cut_rounds > 0 && !lx->no_search && lx->integral[0]) {
            int m0 = glp_get_num_rows(P);
            if (!lex_cuts(P, lx, &sp, t0))
                break;
            cuts_in = glp_get_num_rows(P) > m0;
        }
        double z = glp_get_obj_val(P), v = lx->value[s];
        double zb = lx->integral[s] ? floor(z + 1e-6) : z;
        double step = lex_step(lx, s, v);
        int r = glp_add_rows(P, 1); /* the cutoff, then the stage's fixing row */
        int len = 0;
        for (int j = 1; j <= n; j++)
            if (lx->obj[s][j] != 0) {
                ind[++len] = j;
                x[len] = lx->obj[s][j];
            }
        glp_set_mat_row(P, r, len, ind, x);
        bool proven = zb < v + step - 1e-9;
        double bound = fmax(v, zb);
        if (!proven && lx->no_search)
            lx->stopped = true; /* the budget allows no search at all */
        else if (!proven) {
            /* 2. Reduced-cost fixing for a better solution, 3. branch and cut. */
            memcpy(tlb, lb, ((size_t)n + 1) * sizeof *lb);
            memcpy(tub, ub, ((size_t)n + 1) * sizeof *ub);
            rc_fix(P, n, z, v + step, tlb, tub);
            set_bounds(P, n, tlb, tub);
            glp_set_row_bnds(P, r, GLP_LO, v + step - (lx->integral[s] ? 0.5 : 0), 0);
            glp_iocp ip;
            glp_init_iocp(&ip);
            lexcb_t cb = {lx, &ip, lx->nodes, 0, INFINITY};
            ip.msg_lev = GLP_MSG_OFF;
            ip.gmi_cuts = ip.mir_cuts = ip.cov_cuts = ip.clq_cuts = GLP_ON;
            ip.mip_gap = lx->mip_gap;
            ip.cb_func = lex_callback;
            ip.cb_info = &cb;
            /* With GMI cut rows in P, no MIP presolver: GLPK 5.0's, on cut
             * rows of k/7 coefficients tight at the optimum, declared a
             * feasible search infeasible, and the start was "proven" a unit
             * below the optimum (solver_exact_cuts_not_in_presolved_search).
             * It also declared feasible searches without cut rows infeasible
             * (term (3) a hair below the optimum, "proven";
             * solver_exact_presolver_checked): its verdict is checked by a
             * search without it. */
            int st, ret = lex_search(P, lx, &sp, &cb, t0, !cuts_in, &st);
            if (ret == GLP_ENOPFS && !cuts_in) {
                ret = lex_search(P, lx, &sp, &cb, t0, false, &st);
                if (ret != GLP_ENOPFS)
                    lx->rechecked++;
            }
            lx->time_limited |= ret == GLP_ETMLIM;
            if ((ret == 0 || ret == GLP_ESTOP || ret == GLP_ETMLIM) &&
                (st == GLP_OPT || st == GLP_FEAS)) {
                for (int j = 1; j <= n; j++)
                    x[j] = floor(glp_mip_col_val(P, j) + 0.5);
                /* Earlier stages are fixed by rows: the new answer is no
                 * worse in them; take it when it is better in this one. */
                if (dot(lx->obj[s], x, n) > v) {
                    memcpy(lx->x, x, ((size_t)n + 1) * sizeof *x);
                    for (int q = 0; q < lx->nstages; q++)
                        lx->value[q] = dot(lx->obj[q], lx->x, n);
                }
            }
            bool nofeas = ret == GLP_ENOPFS || (ret == 0 && st == GLP_NOFEAS);
            proven = lx->mip_gap == 0 && (nofeas || (ret == 0 && st == GLP_OPT));
            bound = fmax(lx->value[s], fmin(cb.cb_bound, zb));
        }
        if (proven)
            bound = lx->value[s];
        lx->bound[s] = bound;
        if (!proven)
            break;
        lx->solved++;
        if (s + 1 == lx->nstages)
            break;
        /* Fix this stage at its optimum; keep the fixings that hold for it. */
        v = lx->value[s];
        glp_set_row_bnds(P, r, GLP_LO, lx->integral[s] ? v - 0.5 : v - step, 0);
        set_bounds(P, n, lb, ub);
        for (int j = 1; j <= n; j++)
            glp_set_obj_coef(P, j, lx->obj[s][j]);
        if (lex_simplex(P, lx, &sp, t0)) {
            rc_fix(P, n, glp_get_obj_val(P), lx->integral[s] ? v : v - step, lb, ub);
            set_bounds(P, n, lb, ub);
        }
    }
    rc = 0;
out:
    free(x);
    free(ind);
    free(lb);
    free(ub);
    free(tlb);
    free(tub);
    return rc;
}

/* ---- the per-pair model ----------------------------------------------------------- */

typedef struct {
    const ctx_t *c;
    plan_t *p;
    milp_out_t *out;
    double mip_gap;
    int npairs, *pc, *pn;
    mat_t mat;
    double *obj; /* 1-based coefficients */
    double *x;
    lex_t lx;
    /* Row numbers (0: no row) and sums telling which rows can bind. */
    int *crow, *gsum, *grow, *wrow, *drow;
    double *wsum, *dsum;
} mp_t;

long milp_count_pairs(const ctx_t *c, const plan_t *p, long limit)
{
    long n = 0;
    for (int ci = 0; ci < c->nc; ci++) {
        if (p->cnode[ci] >= 0)
            continue;
        for (int node = 0; node < c->f->nnodes; node++)
            if (ctx_static_ok(c, ci, node) && plan_fits(c, p, ci, node) && ++n > limit)
                return n;
    }
    return n;
}

int mat_push(mat_t *m, int i, int j, double a)
{
    if (m->nnz + 2 > m->cap) {
        size_t nc = m->cap ? 2 * m->cap : 4096;
        int *ia = realloc(m->ia, nc * sizeof *ia);
        if (ia)
            m->ia = ia;
        int *ja = realloc(m->ja, nc * sizeof *ja);
        if (ja)
            m->ja = ja;
        double *ar = realloc(m->ar, nc * sizeof *ar);
        if (ar)
            m->ar = ar;
        if (!ia || !ja || !ar)
            return TP_ENOMEM;
        m->cap = nc;
    }
    m->nnz++;
    m->ia[m->nnz] = i;
    m->ja[m->nnz] = j;
    m->ar[m->nnz] = a;
    return 0;
}

void mat_fini(mat_t *m)
{
    free(m->ia);
    free(m->ja);
    free(m->ar);
}

static int run(void *arg)
{
    mp_t *m = arg;
    const ctx_t *c = m->c;
    const tp_fleet_t *f = c->f;
    const tp_load_t *l = m->p->load;
    int rows = 0, rc = TP_ENOMEM;
    int *crow = m->crow, *gsum = m->gsum, *grow = m->grow, *wrow = m->wrow,
        *drow = m->drow;
    double *wsum = m->wsum, *dsum = m->dsum;
    glp_prob *P = glp_create_prob();
    glp_set_obj_dir(P, GLP_MAX);
    /* Which rows can bind. */
    for (int i = 0; i < m->npairs; i++) {
        const tp_workload_t *w = c->cw[m->pc[i]];
        int n = m->pn[i];
        double ww = tp_policy_work_w(f, n, w);
        crow[m->pc[i]] = 1;
        gsum[n] += w->gpus;
        wsum[n] += ww;
        for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
            dsum[d] += ww;
    }
    for (int i = 0; i < c->nc; i++)
        if (crow[i])
            crow[i] = ++rows;
    for (int r = 0; r < f->nnodes; r++) {
        int n = c->nord[r];
        if (gsum[n] > c->healthy[n] - l->gpus_used[n])
            grow[n] = ++rows;
        if (wsum[n] > c->ncap[n] - l->node_w[n])
            wrow[n] = ++rows;
    }
    for (int r = 0; r < f->ndomains; r++) {
        int d = c->dord[r];
        if (dsum[d] > c->dcap[d] - l->domain_w[d])
            drow[d] = ++rows;
    }
    if (rows)
        glp_add_rows(P, rows);
    glp_add_cols(P, m->npairs);
    for (int i = 0; i < c->nc; i++)
        if (crow[i])
            glp_set_row_bnds(P, crow[i], GLP_UP, 0, 1);
    /* Headroom is never below 0 here (a draw within the cap tolerance may sit a
     * hair above it); x = 0 must stay feasible. */
    for (int n = 0; n < f->nnodes; n++) {
        if (grow[n])
            glp_set_row_bnds(P, grow[n], GLP_UP, 0,
                             fmax(0, c->healthy[n] - l->gpus_used[n]));
        if (wrow[n])
            glp_set_row_bnds(P, wrow[n], GLP_UP, 0, fmax(0, c->ncap[n] - l->node_w[n]));
    }
    for (int d = 0; d < f->ndomains; d++)
        if (drow[d])
            glp_set_row_bnds(P, drow[d], GLP_UP, 0, fmax(0, c->dcap[d] - l->domain_w[d]));
    for (int i = 0; i < m->npairs; i++) {
        const tp_workload_t *w = c->cw[m->pc[i]];
        int n = m->pn[i], j = i + 1;
        double ww = tp_policy_work_w(f, n, w);
        glp_set_col_kind(P, j, GLP_BV);
        if (mat_push(&m->mat, crow[m->pc[i]], j, 1) < 0 ||
            (grow[n] && mat_push(&m->mat, grow[n], j, w->gpus) < 0) ||
            (wrow[n] && mat_push(&m->mat, wrow[n], j, ww) < 0))
            goto out;
        for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
            if (drow[d] && mat_push(&m->mat, drow[d], j, ww) < 0)
                goto out;
    }
    glp_load_matrix(P, (int)m->mat.nnz, m->mat.ia, m->mat.ja, m->mat.ar);
    rc = lex_solve(P, &m->lx);
out:
    glp_delete_prob(P);
    return rc;
}

/* Branch-and-bound nodes for AUTO's MILP: the work of a node grows with the
 * binaries, so the budget is in pair-nodes — about one second's worth on
 * one core (MILP_PAIR_NODES_PER_MS), less when the time limit is shorter. */
long milp_node_budget(const ctx_t *c, int npairs)
{
    double ms = fmin(MILP_MAX_MS, c->limit_ms);
    return (long)fmax(50, ms * MILP_PAIR_NODES_PER_MS / (npairs > 0 ? npairs : 1));
}

long milp_iter_budget(const ctx_t *c)
{
    return (long)fmax(TP_SOLVER_MIN_ITERS, c->limit_ms * MILP_ITERS_PER_MS);
}

int milp_pairs(const ctx_t *c, plan_t *p, double mip_gap, milp_out_t *out, char *msg,
               size_t msglen)
{
    mp_t m = {0};
    int rc = TP_ENOMEM;
    size_t cap = 1024;
    memset(out, 0, sizeof *out);
    out->bound = INFINITY;
    m.c = c;
    m.p = p;
    m.out = out;
    m.mip_gap = mip_gap;
    m.pc = malloc(cap * sizeof *m.pc);
    m.pn = malloc(cap * sizeof *m.pn);
    if (!m.pc || !m.pn)
        goto out;
    for (int ci = 0; ci < c->nc; ci++) {
        if (p->cnode[ci] >= 0)
            continue;
        for (int r = 0; r < c->f->nnodes; r++) {
            int n = c->nord[r];
            if (!ctx_static_ok(c, ci, n) || !plan_fits(c, p, ci, n))
                continue;
            if ((size_t)m.npairs == cap) {
                cap *= 2;
                int *pc = realloc(m.pc, cap * sizeof *pc);
                if (pc)
                    m.pc = pc;
                int *pn = realloc(m.pn, cap * sizeof *pn);
                if (pn)
                    m.pn = pn;
                if (!pc || !pn)
                    goto out;
            }
            m.pc[m.npairs] = ci;
            m.pn[m.npairs++] = n;
        }
    }
    out->pairs = m.npairs;
    if (m.npairs == 0) {
        out->found = out->optimal = out->term1_optimal = true;
        out->bound = 0;
        rc = 0;
        goto out;
    }
    m.obj = calloc((size_t)m.npairs + 1, sizeof *m.obj);
    m.x = calloc((size_t)m.npairs + 1, sizeof *m.x);
    m.crow = calloc((size_t)c->nc + 1, sizeof *m.crow);
    m.gsum = calloc((size_t)c->f->nnodes + 1, sizeof *m.gsum);
    m.wsum = calloc((size_t)c->f->nnodes + 1, sizeof *m.wsum);
    m.dsum = calloc((size_t)c->f->ndomains + 1, sizeof *m.dsum);
    m.grow = calloc((size_t)c->f->nnodes + 1, sizeof *m.grow);
    m.wrow = calloc((size_t)c->f->nnodes + 1, sizeof *m.wrow);
    m.drow = calloc((size_t)c->f->ndomains + 1, sizeof *m.drow);
    if (!m.obj || !m.x || !m.crow || !m.gsum || !m.wsum || !m.dsum || !m.grow ||
        !m.wrow || !m.drow)
        goto out;
    for (int i = 0; i < m.npairs; i++)
        m.obj[i + 1] = ctx_value(c, m.pc[i], m.pn[i]);
    m.lx = (lex_t){.nstages = 1,
                   .obj = {m.obj},
                   .mip_gap = mip_gap,
                   .it_budget = milp_iter_budget(c),
                   .wall_ms = c->limit_ms,
                   .x = m.x};
    rc = glpk_guarded(run, &m, msg, msglen);
    if (rc < 0)
        goto out;
    lex_report(&m.lx, c, out);
    for (int i = 0; i < m.npairs; i++)
        if (m.x[i + 1] > 0.5 && p->cnode[m.pc[i]] < 0 &&
            plan_fits(c, p, m.pc[i], m.pn[i]))
            plan_place(c, p, m.pc[i], m.pn[i]);
    rc = 0;
out:
    free(m.pc);
    free(m.pn);
    free(m.obj);
    free(m.x);
    mat_fini(&m.mat);
    free(m.crow);
    free(m.gsum);
    free(m.wsum);
    free(m.dsum);
    free(m.grow);
    free(m.wrow);
    free(m.drow);
    return rc;
}

/* What lex_solve found, as a milp_out_t: the bound of the weighted objective
 * is, stage by stage, the proven value or the stopped stage's bound, and for
 * a stage not reached, what every column at its most gives
 * (lx->bound is INFINITY there: the caller's trivial bounds apply). */
void lex_report(const lex_t *lx, const ctx_t *c, milp_out_t *out)
{
    double w[3] = {1, c->eps_s, c->eps_e}, b = 0;
    out->found = lx->found;
    out->time_limited = lx->time_limited;
    out->stopped = lx->stopped;
    out->nodes = (int)(lx->nodes < INT_MAX ? lx->nodes : INT_MAX);
    out->optimal = lx->solved == lx->nstages;
    out->term1_optimal = lx->solved >= 1;
    for (int s = 0; s < lx->nstages; s++)
        b += (lx->nstages > 1 ? w[s] : 1) * lx->bound[s];
    out->bound = b;
}
