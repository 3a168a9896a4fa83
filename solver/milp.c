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
 * Exact, and what AUTO uses on small instances (the exactness tests compare it
 * with exhaustive search). At fleet scale it is the naive baseline the
 * benchmark shows failing: millions of binaries and a weak relaxation.
 * With `heuristic`, a plan (AUTO: the aggregated one; else the priority-ordered
 * greedy) is handed to GLPK as an incumbent (glp_ios_heur_sol), and node limits
 * end the search once term (1) is proven optimal (see callback()).
 */
#include "solver/solver_internal.h"

#include <glpk.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const ctx_t *c;
    plan_t *p;
    milp_out_t *out;
    bool heuristic, given;
    double mip_gap, cb_bound, lp_bound;
    int proof_nodes; /* tree size when term (1) was proven; -1: not yet */
    glp_prob *P;
    int npairs, *pc, *pn;
    double *hx; /* heuristic solution, 1-based */
    int *ia, *ja;
    double *ar;
    size_t nnz;
    char *placed; /* [npairs]: the MILP's answer */
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

/* Term (1) moves in integer steps of at least 1 and all of term (2) is worth
 * less than 1, so an incumbent whose term (1) is W = ⌊value⌋ is optimal in term
 * (1) as soon as the best open node's bound is below W + 1. What remains then is
 * the ε-term (tokens per joule) alone: on symmetric nodes (a rack of identical
 * servers) closing that last ε-gap can take thousands of nodes, so it gets
 * MILP_POLISH_NODES more and no more. */
static void callback(glp_tree *T, void *info)
{
    mp_t *m = info;
    int reason = glp_ios_reason(T);
    if (reason == GLP_IHEUR && m->heuristic && !m->given) {
        m->given = true;
        glp_ios_heur_sol(T, m->hx);
    }
    int b = glp_ios_best_node(T);
    if (b) {
        double nb = glp_ios_node_bound(T, b);
        if (nb < m->cb_bound)
            m->cb_bound = nb;
    }
    if (!m->heuristic || reason == GLP_IBINGO)
        return;
    int active, current, total;
    glp_ios_tree_size(T, &active, &current, &total);
    m->out->nodes = total;
    if (m->proof_nodes < 0 && glp_mip_status(m->P) == GLP_FEAS && b &&
        m->cb_bound < floor(glp_mip_obj_val(m->P) + 1e-6) + 1 - 1e-6)
        m->proof_nodes = total;
    if ((m->proof_nodes >= 0 && total - m->proof_nodes >= MILP_POLISH_NODES) ||
        total >= MILP_NODE_BUDGET) {
        m->out->stopped = true;
        glp_ios_terminate(T);
    }
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
    m->P = glp_create_prob();
    glp_set_obj_dir(m->P, GLP_MAX);
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
    for (int n = 0; n < f->nnodes; n++) {
        if (gsum[n] > c->healthy[n] - l->gpus_used[n])
            grow[n] = ++rows;
        if (wsum[n] > c->ncap[n] - l->node_w[n])
            wrow[n] = ++rows;
    }
    for (int d = 0; d < f->ndomains; d++)
        if (dsum[d] > c->dcap[d] - l->domain_w[d])
            drow[d] = ++rows;
    if (rows)
        glp_add_rows(m->P, rows);
    if (m->npairs)
        glp_add_cols(m->P, m->npairs);
    for (int i = 0; i < c->nc; i++)
        if (crow[i])
            glp_set_row_bnds(m->P, crow[i], GLP_UP, 0, 1);
    /* Headroom is never below 0 here (a draw within the cap tolerance may sit a
     * hair above it); x = 0 must stay feasible. */
    for (int n = 0; n < f->nnodes; n++) {
        if (grow[n])
            glp_set_row_bnds(m->P, grow[n], GLP_UP, 0,
                             fmax(0, c->healthy[n] - l->gpus_used[n]));
        if (wrow[n])
            glp_set_row_bnds(m->P, wrow[n], GLP_UP, 0,
                             fmax(0, c->ncap[n] - l->node_w[n]));
    }
    for (int d = 0; d < f->ndomains; d++)
        if (drow[d])
            glp_set_row_bnds(m->P, drow[d], GLP_UP, 0,
                             fmax(0, c->dcap[d] - l->domain_w[d]));
    for (int i = 0; i < m->npairs; i++) {
        const tp_workload_t *w = c->cw[m->pc[i]];
        int n = m->pn[i], j = i + 1;
        double ww = tp_policy_work_w(f, n, w);
        glp_set_col_kind(m->P, j, GLP_BV);
        glp_set_obj_coef(m->P, j, ctx_value(c, m->pc[i], n));
        if (push(m, &cap, crow[m->pc[i]], j, 1) < 0 ||
            (grow[n] && push(m, &cap, grow[n], j, w->gpus) < 0) ||
            (wrow[n] && push(m, &cap, wrow[n], j, ww) < 0))
            goto out;
        for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
            if (drow[d] && push(m, &cap, drow[d], j, ww) < 0)
                goto out;
    }
    glp_load_matrix(m->P, (int)m->nnz, m->ia, m->ja, m->ar);

    glp_smcp sp;
    glp_init_smcp(&sp);
    sp.msg_lev = GLP_MSG_OFF;
    sp.presolve = GLP_OFF;
    double left = c->deadline - tp_now_ms();
    sp.tm_lim = left > 1 ? (int)left : 1;
    int ret = glp_simplex(m->P, &sp);
    if (ret != 0 || glp_get_status(m->P) != GLP_OPT) {
        m->out->time_limited = ret == GLP_ETMLIM;
        rc = 0;
        goto out;
    }
    m->lp_bound = glp_get_obj_val(m->P);

    glp_iocp ip;
    glp_init_iocp(&ip);
    ip.msg_lev = GLP_MSG_OFF;
    ip.presolve = GLP_OFF;
    ip.mip_gap = m->mip_gap;
    ip.cb_func = callback;
    ip.cb_info = m;
    left = c->deadline - tp_now_ms();
    ip.tm_lim = left > 1 ? (int)left : 1;
    ret = glp_intopt(m->P, &ip);
    m->out->time_limited = ret == GLP_ETMLIM;
    int st = glp_mip_status(m->P);
    if ((ret == 0 || ret == GLP_ETMLIM || ret == GLP_ESTOP) &&
        (st == GLP_OPT || st == GLP_FEAS)) {
        m->out->found = true;
        m->out->optimal = ret == 0 && st == GLP_OPT && m->mip_gap == 0;
        m->out->term1_optimal =
            m->out->optimal || fmin(m->lp_bound, m->cb_bound) <
                                   floor(glp_mip_obj_val(m->P) + 1e-6) + 1 - 1e-6;
        for (int i = 0; i < m->npairs; i++)
            m->placed[i] = glp_mip_col_val(m->P, i + 1) > 0.5;
    }
    rc = 0;
out:
    glp_delete_prob(m->P);
    m->P = NULL;
    return rc;
}

int milp_pairs(const ctx_t *c, plan_t *p, bool heuristic, const plan_t *inc,
               double mip_gap, milp_out_t *out, char *msg, size_t msglen)
{
    mp_t m = {0};
    plan_t h = {0};
    int rc = TP_ENOMEM;
    size_t cap = 1024;
    memset(out, 0, sizeof *out);
    out->bound = INFINITY;
    m.c = c;
    m.p = p;
    m.out = out;
    m.heuristic = heuristic;
    m.mip_gap = mip_gap;
    m.cb_bound = m.lp_bound = INFINITY;
    m.proof_nodes = -1;
    m.pc = malloc(cap * sizeof *m.pc);
    m.pn = malloc(cap * sizeof *m.pn);
    if (!m.pc || !m.pn)
        goto out;
    for (int ci = 0; ci < c->nc; ci++) {
        if (p->cnode[ci] >= 0)
            continue;
        for (int n = 0; n < c->f->nnodes; n++) {
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
        out->found = out->optimal = true;
        out->bound = 0;
        rc = 0;
        goto out;
    }
    m.placed = calloc((size_t)m.npairs, 1);
    m.hx = calloc((size_t)m.npairs + 1, sizeof *m.hx);
    m.crow = calloc((size_t)c->nc + 1, sizeof *m.crow);
    m.gsum = calloc((size_t)c->f->nnodes + 1, sizeof *m.gsum);
    m.wsum = calloc((size_t)c->f->nnodes + 1, sizeof *m.wsum);
    m.dsum = calloc((size_t)c->f->ndomains + 1, sizeof *m.dsum);
    m.grow = calloc((size_t)c->f->nnodes + 1, sizeof *m.grow);
    m.wrow = calloc((size_t)c->f->nnodes + 1, sizeof *m.wrow);
    m.drow = calloc((size_t)c->f->ndomains + 1, sizeof *m.drow);
    if (!m.placed || !m.hx || !m.crow || !m.gsum || !m.wsum || !m.dsum || !m.grow ||
        !m.wrow || !m.drow)
        goto out;
    if (heuristic && inc) {
        for (int i = 0; i < m.npairs; i++)
            m.hx[i + 1] = inc->cnode[m.pc[i]] == m.pn[i];
    } else if (heuristic) {
        int nl;
        int *list = NULL;
        if (plan_copy(&h, p, c) < 0 || !(list = plan_unplaced_by_weight(c, &h, &nl)))
            goto out;
        rc = plan_repair(c, &h, list, nl);
        free(list);
        if (rc < 0)
            goto out;
        for (int i = 0; i < m.npairs; i++)
            m.hx[i + 1] = h.cnode[m.pc[i]] == m.pn[i];
    }
    rc = glpk_guarded(run, &m, msg, msglen);
    if (rc < 0)
        goto out;
    for (int i = 0; i < m.npairs; i++)
        if (m.placed[i] && p->cnode[m.pc[i]] < 0 && plan_fits(c, p, m.pc[i], m.pn[i]))
            plan_place(c, p, m.pc[i], m.pn[i]);
    out->bound = fmin(m.lp_bound, m.cb_bound);
    rc = 0;
out:
    plan_fini(&h);
    free(m.pc);
    free(m.pn);
    free(m.placed);
    free(m.hx);
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
