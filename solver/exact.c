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
 * Identical nodes — under the same domain, same trust, GPU model and draw per
 * GPU, free GPUs and headroom, the same types with the same bounds — are
 * interchangeable in every stage, so any plan can be permuted to have their
 * GPU use in descending order: the last rows cut nothing but symmetric copies.
 *
 * The incumbent (the aggregated path's plan) enters as a cutoff (lex_solve),
 * so GLPK's presolver stays on. The search stops on a node budget
 * (milp_node_budget: a deterministic work limit), the clock only as a safety
 * net. Members of a type go to nodes in canonical order: the answer is the
 * same whatever the order of the input files.
 */
#include "solver/solver_internal.h"

#include <glpk.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const ctx_t *c;
    plan_t *p;
    /* Types: members (candidates, canonical order) as CSR. */
    int nt, *t_off, *t_mem;
    /* Columns: (type, node), by type then node rank; ub its upper bound. */
    int ncol, *col_t, *col_n, *t_col; /* t_col: first column of each type (CSR) */
    double *ub, *w;                   /* watts of one unit */
    double *obj[3], *x, *start;
    int nstages, nrows;
    mat_t mat;
    lex_t lx;
} ex_t;

/* Units of w that fit headroom h: ⌊h / w⌋ (w > 0). */
static double units(double h, double w)
{
    return w > 0 ? floor(fmax(0, h) / w + 1e-9) : INFINITY;
}

/* Types and columns. */
static int build_types(ex_t *m, keytab_t *kt)
{
    const ctx_t *c = m->c;
    const tp_fleet_t *f = c->f;
    const tp_load_t *l = m->p->load;
    int nn = f->nnodes, rc = TP_ENOMEM;
    int *key = malloc(((size_t)nn + 4) * sizeof *key);
    int *tof = malloc(((size_t)c->nc + 1) * sizeof *tof);
    if (!key || !tof)
        goto out;
    for (int ci = 0; ci < c->nc; ci++) {
        tof[ci] = -1;
        if (m->p->cnode[ci] >= 0)
            continue;
        const tp_workload_t *w = c->cw[ci];
        int len = 3;
        key[0] = w->gpus;
        key[1] = w->model;
        key[2] = w->priority;
        for (int r = 0; r < nn; r++)
            if (ctx_static_ok(c, ci, c->nord[r]) && plan_fits(c, m->p, ci, c->nord[r]))
                key[len++] = c->nord[r];
        if (len == 3)
            continue;
        if ((tof[ci] = keytab_intern(kt, key, len)) < 0)
            goto out;
    }
    m->nt = kt->n;
    m->t_off = calloc((size_t)m->nt + 2, sizeof *m->t_off);
    m->t_mem = malloc(((size_t)c->nc + 1) * sizeof *m->t_mem);
    m->t_col = calloc((size_t)m->nt + 2, sizeof *m->t_col);
    if (!m->t_off || !m->t_mem || !m->t_col)
        goto out;
    for (int ci = 0; ci < c->nc; ci++)
        if (tof[ci] >= 0)
            m->t_off[tof[ci] + 1]++;
    for (int t = 0; t < m->nt; t++) {
        m->t_off[t + 1] += m->t_off[t];
        m->t_col[t + 1] = m->t_col[t] + kt->pool[kt->off[t]] - 3;
    }
    {
        int *fill = malloc(((size_t)m->nt + 1) * sizeof *fill);
        if (!fill)
            goto out;
        memcpy(fill, m->t_off, (size_t)m->nt * sizeof *fill);
        for (int ci = 0; ci < c->nc; ci++)
            if (tof[ci] >= 0)
                m->t_mem[fill[tof[ci]]++] = ci;
        free(fill);
    }
    m->ncol = m->t_col[m->nt];
    m->col_t = malloc(((size_t)m->ncol + 1) * sizeof *m->col_t);
    m->col_n = malloc(((size_t)m->ncol + 1) * sizeof *m->col_n);
    m->ub = malloc(((size_t)m->ncol + 1) * sizeof *m->ub);
    m->w = malloc(((size_t)m->ncol + 1) * sizeof *m->w);
    if (!m->col_t || !m->col_n || !m->ub || !m->w)
        goto out;
    for (int t = 0; t < m->nt; t++) {
        const int *k = kt->pool + kt->off[t] + 1;
        const tp_workload_t *w = c->cw[m->t_mem[m->t_off[t]]];
        for (int j = m->t_col[t]; j < m->t_col[t + 1]; j++) {
            int n = k[3 + j - m->t_col[t]];
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
        }
    }
    rc = 0;
out:
    free(key);
    free(tof);
    return rc;
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
    keytab_t nk = {0};
    bool nk_ok = false;
    glp_prob *P = glp_create_prob();
    if (!trow || !grow || !wrow || !drow || !gsum || !wsum || !dsum || !nwmin || !dwmin ||
        !gcap || !dgsum || !dgrow || !n_off || !n_col || !key || !last ||
        keytab_init(&nk, 64) < 0)
        goto out;
    nk_ok = true;
    glp_set_obj_dir(P, GLP_MAX);
    for (int n = 0; n < nn; n++)
        nwmin[n] = INFINITY;
    for (int d = 0; d < nd; d++)
        dwmin[d] = INFINITY;
    for (int j = 0; j < m->ncol; j++) {
        int t = m->col_t[j], n = m->col_n[j];
        double g = c->cw[m->t_mem[m->t_off[t]]]->gpus;
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
    glp_add_cols(P, m->ncol);
    for (int j = 0; j < m->ncol; j++) {
        int t = m->col_t[j], n = m->col_n[j];
        double g = c->cw[m->t_mem[m->t_off[t]]]->gpus;
        if (m->ub[j] == 1) {
            glp_set_col_kind(P, j + 1, GLP_BV);
        } else {
            glp_set_col_kind(P, j + 1, GLP_IV);
            glp_set_col_bnds(P, j + 1, m->ub[j] > 0 ? GLP_DB : GLP_FX, 0, m->ub[j]);
        }
        if ((trow[t] && mat_push(&m->mat, trow[t], j + 1, 1) < 0) ||
            (grow[n] && mat_push(&m->mat, grow[n], j + 1, g) < 0) ||
            (wrow[n] && mat_push(&m->mat, wrow[n], j + 1, m->w[j]) < 0))
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
            if (mat_push(&m->mat, row, n_col[i] + 1,
                         c->cw[m->t_mem[m->t_off[m->col_t[n_col[i]]]]]->gpus) < 0)
                goto out;
        for (int i = n_off[n]; i < n_off[n + 1]; i++)
            if (mat_push(&m->mat, row, n_col[i] + 1,
                         -c->cw[m->t_mem[m->t_off[m->col_t[n_col[i]]]]]->gpus) < 0)
                goto out;
    }
    if (rows)
        glp_add_rows(P, rows);
    for (int i = 1; i <= rows; i++)
        glp_set_row_bnds(P, i, GLP_LO, 0, 0); /* symmetry rows; the rest below */
    for (int t = 0; t < m->nt; t++)
        if (trow[t])
            glp_set_row_bnds(P, trow[t], GLP_UP, 0, m->t_off[t + 1] - m->t_off[t]);
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
    rc = lex_solve(P, &m->lx);
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
    return rc;
}

int milp_exact(const ctx_t *c, plan_t *p, const plan_t *inc, milp_out_t *out, char *msg,
               size_t msglen)
{
    ex_t m = {0};
    keytab_t kt;
    double *comb = NULL;
    int rc = TP_ENOMEM;
    memset(out, 0, sizeof *out);
    out->bound = INFINITY;
    m.c = c;
    m.p = p;
    if (keytab_init(&kt, 64) < 0)
        return TP_ENOMEM;
    if ((rc = build_types(&m, &kt)) < 0)
        goto out;
    rc = TP_ENOMEM;
    out->pairs = m.ncol;
    if (m.ncol == 0) {
        out->found = out->optimal = out->term1_optimal = true;
        out->bound = 0;
        rc = 0;
        goto out;
    }
    m.nstages = c->emax > 0 ? 3 : 2;
    for (int s = 0; s < m.nstages; s++)
        if (!(m.obj[s] = calloc((size_t)m.ncol + 1, sizeof *m.obj[s])))
            goto out;
    m.x = calloc((size_t)m.ncol + 1, sizeof *m.x);
    m.start = calloc((size_t)m.ncol + 1, sizeof *m.start);
    if (!m.x || !m.start)
        goto out;
    for (int j = 0; j < m.ncol; j++) {
        const tp_workload_t *w = c->cw[m.t_mem[m.t_off[m.col_t[j]]]];
        int n = m.col_n[j];
        m.obj[0][j + 1] = (1.0 + w->priority) * w->gpus;
        m.obj[1][j + 1] = (double)w->gpus * (TP_TRUST_MAX - c->trust[n]);
        if (m.nstages > 2)
            m.obj[2][j + 1] =
                w->gpus * ctx_eff(c->f, w->model, c->f->nodes[n].gpu_model) / c->emax;
    }
    /* The incumbent: how many of each type inc runs on each node. */
    if (inc) {
        int *tof = malloc(((size_t)c->nc + 1) * sizeof *tof);
        if (!tof)
            goto out;
        for (int ci = 0; ci < c->nc; ci++)
            tof[ci] = -1;
        for (int t = 0; t < m.nt; t++)
            for (int i = m.t_off[t]; i < m.t_off[t + 1]; i++)
                tof[m.t_mem[i]] = t;
        for (int ci = 0; ci < c->nc; ci++) {
            int t = tof[ci], n = inc->cnode[ci];
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
    /* Terms (1) and (2) are integers and (2) is at most triv[1]: maximising
     * M (1) + (2) with M = triv[1] + 1 is exactly lexicographic, in one
     * search that never has to fix (1) by a row to look at (2). */
    double triv[3] = {0, 0, 0};
    for (int s = 0; s < m.nstages; s++)
        for (int t = 0; t < m.nt; t++) {
            double best = 0;
            for (int j = m.t_col[t]; j < m.t_col[t + 1]; j++)
                best = fmax(best, m.obj[s][j + 1]);
            triv[s] += best * (m.t_off[t + 1] - m.t_off[t]);
        }
    double M = triv[1] + 1;
    if (!(comb = calloc((size_t)m.ncol + 1, sizeof *comb)))
        goto out;
    for (int j = 1; j <= m.ncol; j++)
        comb[j] = M * m.obj[0][j] + m.obj[1][j];
    m.lx = (lex_t){.nstages = m.nstages - 1,
                   .obj = {comb, m.obj[2]},
                   .integral = {true, false},
                   .node_budget = milp_node_budget(c, m.ncol),
                   .deadline = c->deadline,
                   .start = m.start,
                   .x = m.x};
    rc = glpk_guarded(run, &m, msg, msglen);
    if (rc < 0)
        goto out;
    {
        double v1 = 0, v2 = 0, b1, b2, b3 = 0;
        for (int j = 1; j <= m.ncol; j++) {
            v1 += m.obj[0][j] * m.x[j];
            v2 += m.obj[1][j] * m.x[j];
        }
        if (m.lx.solved >= 1) {
            b1 = v1;
            b2 = v2;
        } else {
            double B = m.lx.bound[0];
            b1 = isfinite(B) ? fmin(triv[0], floor(B / M + 1e-9)) : triv[0];
            b2 = b1 <= v1 && isfinite(B) ? fmin(triv[1], B - M * v1) : triv[1];
            b1 = fmax(b1, v1);
        }
        if (m.nstages > 2)
            b3 = m.lx.solved >= 2 ? m.lx.value[1] : fmin(m.lx.bound[1], triv[2]);
        out->found = m.lx.found;
        out->time_limited = m.lx.time_limited;
        out->stopped = m.lx.stopped;
        out->nodes = (int)(m.lx.nodes < INT_MAX ? m.lx.nodes : INT_MAX);
        out->optimal = m.lx.solved == m.lx.nstages;
        out->term1_optimal = b1 <= v1;
        out->bound = b1 + c->eps_s * fmax(b2, v2) + c->eps_e * b3;
    }
    /* Members of each type to its columns' nodes, in canonical order. */
    for (int t = 0; t < m.nt; t++) {
        int next = m.t_off[t];
        for (int j = m.t_col[t]; j < m.t_col[t + 1]; j++)
            for (int k = 0; k < (int)m.x[j + 1] && next < m.t_off[t + 1]; k++) {
                int ci = m.t_mem[next++];
                if (plan_fits(c, p, ci, m.col_n[j]))
                    plan_place(c, p, ci, m.col_n[j]);
                else
                    out->optimal = out->term1_optimal = false; /* tolerance */
            }
    }
    rc = 0;
out:
    keytab_fini(&kt);
    free(comb);
    for (int s = 0; s < 3; s++)
        free(m.obj[s]);
    free(m.x);
    free(m.start);
    free(m.t_off);
    free(m.t_mem);
    free(m.t_col);
    free(m.col_t);
    free(m.col_n);
    free(m.ub);
    free(m.w);
    mat_fini(&m.mat);
    return rc;
}
