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
 * AUTO on small inputs solves it lexicographically (lex_solve()): first term
 * (1) alone — integer coefficients, so GLPK rounds its bounds and proves the
 * optimum fast — then, with term (1) fixed at that optimum by a row, term (2)
 * (integer too), then term (3). GLPK's presolver and cuts are on. A weighted
 * sum with ε weights would ask GLPK to tell apart objective values closer than
 * its tolerances. The exactness tests compare the result with an exhaustive
 * search that scores plans from the formula in docs/solver.md.
 *
 * The naive baseline (TP_SOLVER_EXACT) is the same model with the weighted
 * objective in one solve, presolve and cuts on, stopped by the time limit
 * alone: what a plain GLPK MILP does.
 *
 * Rows and columns are built in canonical order (candidates as ctx_t orders
 * them, nodes and domains by id), so GLPK sees the same model whatever the
 * order of the input files, and its search is stopped by a node budget — a
 * deterministic work limit — with the wall clock only as a safety net.
 */
#include "solver/solver_internal.h"

#include <glpk.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- lexicographic MILP over a built problem ------------------------------------- */

typedef struct {
    lex_t *lx;
    long before; /* nodes of earlier stages */
    double cb_bound;
    bool offer; /* offer lx->x as an incumbent (presolve off only) */
} lexcb_t;

static void lex_callback(glp_tree *T, void *info)
{
    lexcb_t *cb = info;
    if (glp_ios_reason(T) == GLP_IHEUR && cb->offer) {
        cb->offer = false;
        glp_ios_heur_sol(T, cb->lx->x);
    }
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
    }
}

static double dot(const double *a, const double *x, int n)
{
    double v = 0;
    for (int j = 1; j <= n; j++)
        v += a[j] * x[j];
    return v;
}

int lex_solve(glp_prob *P, lex_t *lx)
{
    int n = glp_get_num_cols(P);
    double *x = malloc(((size_t)n + 1) * sizeof *x);
    int *ind = malloc(((size_t)n + 1) * sizeof *ind);
    if (!x || !ind) {
        free(x);
        free(ind);
        return TP_ENOMEM;
    }
    for (int j = 0; j <= n; j++) {
        lx->x[j] = lx->start ? lx->start[j] : 0;
        ind[j] = j;
    }
    lx->solved = 0;
    lx->found = true; /* x = 0 (or the start) is always feasible */
    for (int s = 0; s < lx->nstages; s++)
        lx->value[s] = dot(lx->obj[s], lx->x, n), lx->bound[s] = INFINITY;
    for (int s = 0; s < lx->nstages; s++) {
        for (int j = 1; j <= n; j++)
            glp_set_obj_coef(P, j, lx->obj[s][j]);
        lexcb_t cb = {lx, lx->nodes, INFINITY};
        glp_iocp ip;
        glp_init_iocp(&ip);
        ip.msg_lev = GLP_MSG_OFF;
        /* GLPK 5.0's MIP presolver fails ("glp_add_cols: ncs = 0") on a problem
         * that carries a stage-fixing row and presolves to nothing; later stages
         * start from the LP optimum instead (the fixing row keeps them small). */
        ip.presolve = s == 0 && !lx->start ? GLP_ON : GLP_OFF;
        cb.offer = !ip.presolve;
        if (!ip.presolve) {
            glp_smcp sp;
            glp_init_smcp(&sp);
            sp.msg_lev = GLP_MSG_OFF;
            double lft = lx->deadline - tp_now_ms();
            sp.tm_lim = lft > 1 ? (int)lft : 1;
            if (glp_simplex(P, &sp) != 0 || glp_get_status(P) != GLP_OPT)
                break;
        }
        ip.gmi_cuts = ip.mir_cuts = ip.cov_cuts = GLP_ON;
        ip.mip_gap = lx->mip_gap;
        ip.cb_func = lex_callback;
        ip.cb_info = &cb;
        double left = lx->deadline - tp_now_ms();
        ip.tm_lim = left > 1 ? (int)left : 1;
        int ret = glp_intopt(P, &ip), st = glp_mip_status(P);
        if (ret == GLP_ETMLIM)
            lx->time_limited = true;
        bool ok = (ret == 0 || ret == GLP_ETMLIM || ret == GLP_ESTOP) &&
                  (st == GLP_OPT || st == GLP_FEAS);
        bool proven = ret == 0 && st == GLP_OPT && lx->mip_gap == 0;
        if (ok) {
            for (int j = 1; j <= n; j++)
                x[j] = glp_mip_col_val(P, j) > 0.5;
            /* Earlier stages are fixed by rows: the new answer is no worse in
             * them; take it when it is no worse in this stage either. */
            if (dot(lx->obj[s], x, n) >= lx->value[s] - 1e-9)
                memcpy(lx->x, x, ((size_t)n + 1) * sizeof *x);
            for (int q = 0; q < lx->nstages; q++)
                lx->value[q] = dot(lx->obj[q], lx->x, n);
        }
        if (!proven) {
            lx->bound[s] = fmax(lx->value[s], fmin(cb.cb_bound, INFINITY));
            break;
        }
        lx->bound[s] = lx->value[s];
        lx->solved++;
        if (s + 1 == lx->nstages)
            break;
        /* Fix this stage at its optimum. */
        int r = glp_add_rows(P, 1);
        double lo = lx->integral[s] ? lx->value[s] - 0.5
                                    : lx->value[s] - 1e-7 * (1 + fabs(lx->value[s]));
        glp_set_row_bnds(P, r, GLP_LO, lo, 0);
        int len = 0;
        for (int j = 1; j <= n; j++)
            if (lx->obj[s][j] != 0) {
                ind[++len] = j;
                x[len] = lx->obj[s][j];
            }
        glp_set_mat_row(P, r, len, ind, x);
    }
    free(x);
    free(ind);
    return 0;
}

/* ---- the per-pair model ----------------------------------------------------------- */

typedef struct {
    const ctx_t *c;
    plan_t *p;
    milp_out_t *out;
    bool lexico;
    double mip_gap;
    int npairs, *pc, *pn;
    int *ia, *ja;
    double *ar;
    size_t nnz;
    double *obj[3]; /* 1-based coefficients per stage */
    double *x;
    int nstages;
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

static int push(mp_t *m, size_t *cap, int i, int j, double a)
{
    if (m->nnz + 2 > *cap) {
        size_t nc = *cap ? 2 * *cap : 4096;
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
        *cap = nc;
    }
    m->nnz++;
    m->ia[m->nnz] = i;
    m->ja[m->nnz] = j;
    m->ar[m->nnz] = a;
    return 0;
}

static int run(void *arg)
{
    mp_t *m = arg;
    const ctx_t *c = m->c;
    const tp_fleet_t *f = c->f;
    const tp_load_t *l = m->p->load;
    size_t cap = 0;
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
        if (push(m, &cap, crow[m->pc[i]], j, 1) < 0 ||
            (grow[n] && push(m, &cap, grow[n], j, w->gpus) < 0) ||
            (wrow[n] && push(m, &cap, wrow[n], j, ww) < 0))
            goto out;
        for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
            if (drow[d] && push(m, &cap, drow[d], j, ww) < 0)
                goto out;
    }
    glp_load_matrix(P, (int)m->nnz, m->ia, m->ja, m->ar);
    rc = lex_solve(P, &m->lx);
out:
    glp_delete_prob(P);
    return rc;
}

/* Coefficients of the stages: lexicographic (1), (2), (3), or the weighted sum. */
static void fill_objectives(mp_t *m)
{
    const ctx_t *c = m->c;
    for (int i = 0; i < m->npairs; i++) {
        const tp_workload_t *w = c->cw[m->pc[i]];
        int n = m->pn[i], j = i + 1;
        if (!m->lexico) {
            m->obj[0][j] = ctx_value(c, m->pc[i], n);
            continue;
        }
        m->obj[0][j] = (1.0 + w->priority) * w->gpus;
        m->obj[1][j] = (double)w->gpus * (TP_TRUST_MAX - c->trust[n]);
        if (m->nstages > 2)
            m->obj[2][j] =
                w->gpus * ctx_eff(c->f, w->model, c->f->nodes[n].gpu_model) / c->emax;
    }
}

/* Branch-and-bound nodes for AUTO's MILP: the work of a node grows with the
 * binaries, so the budget is in pair-nodes — about one second's worth on
 * one core (MILP_PAIR_NODES_PER_MS), less when the time limit is shorter. */
long milp_node_budget(const ctx_t *c, int npairs)
{
    double ms = fmin(MILP_MAX_MS, (c->deadline - c->t0));
    return (long)fmax(50, ms * MILP_PAIR_NODES_PER_MS / (npairs > 0 ? npairs : 1));
}

/* The most each stage's objective can reach: every candidate at its best pair. */
static double trivial_bound(const mp_t *m, int s)
{
    double b = 0, best = 0;
    for (int i = 0; i < m->npairs; i++) {
        if (m->obj[s][i + 1] > best)
            best = m->obj[s][i + 1];
        if (i + 1 == m->npairs || m->pc[i + 1] != m->pc[i]) {
            b += best;
            best = 0;
        }
    }
    return b;
}

int milp_pairs(const ctx_t *c, plan_t *p, bool lexico, const plan_t *inc, double mip_gap,
               milp_out_t *out, char *msg, size_t msglen)
{
    double *start = NULL;
    mp_t m = {0};
    int rc = TP_ENOMEM;
    size_t cap = 1024;
    memset(out, 0, sizeof *out);
    out->bound = INFINITY;
    m.c = c;
    m.p = p;
    m.out = out;
    m.lexico = lexico;
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
    m.nstages = lexico ? (c->emax > 0 ? 3 : 2) : 1;
    for (int s = 0; s < m.nstages; s++)
        if (!(m.obj[s] = calloc((size_t)m.npairs + 1, sizeof *m.obj[s])))
            goto out;
    m.x = calloc((size_t)m.npairs + 1, sizeof *m.x);
    m.crow = calloc((size_t)c->nc + 1, sizeof *m.crow);
    m.gsum = calloc((size_t)c->f->nnodes + 1, sizeof *m.gsum);
    m.wsum = calloc((size_t)c->f->nnodes + 1, sizeof *m.wsum);
    m.dsum = calloc((size_t)c->f->ndomains + 1, sizeof *m.dsum);
    m.grow = calloc((size_t)c->f->nnodes + 1, sizeof *m.grow);
    m.wrow = calloc((size_t)c->f->nnodes + 1, sizeof *m.wrow);
    m.drow = calloc((size_t)c->f->ndomains + 1, sizeof *m.drow);
    if (!m.x || !m.crow || !m.gsum || !m.wsum || !m.dsum || !m.grow || !m.wrow || !m.drow)
        goto out;
    fill_objectives(&m);
    if (inc) {
        if (!(start = calloc((size_t)m.npairs + 1, sizeof *start)))
            goto out;
        for (int i = 0; i < m.npairs; i++)
            start[i + 1] = inc->cnode[m.pc[i]] == m.pn[i];
    }
    m.lx = (lex_t){.nstages = m.nstages,
                   .integral = {lexico, lexico, false},
                   .mip_gap = mip_gap,
                   .node_budget = lexico ? milp_node_budget(c, m.npairs) : 0,
                   .deadline = c->deadline,
                   .start = start,
                   .x = m.x};
    for (int s = 0; s < m.nstages; s++)
        m.lx.obj[s] = m.obj[s];
    rc = glpk_guarded(run, &m, msg, msglen);
    if (rc < 0)
        goto out;
    out->found = m.lx.found;
    out->time_limited = m.lx.time_limited;
    out->stopped = m.lx.stopped;
    out->nodes = (int)(m.lx.nodes < INT_MAX ? m.lx.nodes : INT_MAX);
    out->optimal = m.lx.solved == m.nstages;
    out->term1_optimal = m.lx.solved >= 1;
    /* The bound of the weighted objective, stage by stage: a proven value, the
     * stopped stage's bound, or what every candidate at its best pair gives. */
    {
        double w[3] = {1, c->eps_s, c->eps_e}, b = 0;
        for (int s = 0; s < (lexico ? 3 : 1); s++) {
            double sb = s < m.nstages && isfinite(m.lx.bound[s])
                            ? m.lx.bound[s]
                            : (s < m.nstages ? trivial_bound(&m, s) : 0);
            if (s < m.nstages && isfinite(m.lx.bound[s]) && s >= m.lx.solved &&
                trivial_bound(&m, s) < sb)
                sb = trivial_bound(&m, s);
            b += (lexico ? w[s] : 1) * sb;
        }
        out->bound = b;
    }
    for (int i = 0; i < m.npairs; i++)
        if (m.x[i + 1] > 0.5 && p->cnode[m.pc[i]] < 0 &&
            plan_fits(c, p, m.pc[i], m.pn[i]))
            plan_place(c, p, m.pc[i], m.pn[i]);
    rc = 0;
out:
    free(start);
    free(m.pc);
    free(m.pn);
    for (int s = 0; s < 3; s++)
        free(m.obj[s]);
    free(m.x);
    free(m.ia);
    free(m.ja);
    free(m.ar);
    free(m.crow);
    free(m.gsum);
    free(m.wsum);
    free(m.dsum);
    free(m.grow);
    free(m.wrow);
    free(m.drow);
    return rc;
}
