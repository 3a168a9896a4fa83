/*
 * solver/dw.c — a Dantzig-Wolfe (Lagrangian) bound for a MILP whose columns
 * fall into blocks (exact.c: racks): rows over the columns of one block are
 * the block's, every other row links. Column generation: the master LP
 * chooses convex combinations of each block's integer points (patterns, at
 * most one in all per block) within the linking rows; each block's pricing
 * MILP (GLPK's branch and cut) finds its best point under the master's
 * duals. For any sign-feasible duals π,
 *
 *   L(π) = Σ_i π_i rhs_i + Σ_b max_{x ∈ X_b} (c − πA) x + Σ_{j free} max (c_j − πA_j) x_j
 *
 * is an upper bound of the MILP (max): the best L over the rounds is kept.
 * Columns in no block (block −1) stay in the master as they are, relaxed.
 */
#include "solver/dw.h"

#include <glpk.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    glp_prob *S;  /* pricing: the block's columns and rows */
    int nc, *col; /* its columns in P (1-based) */
    int conv;     /* its convexity row in the master */
} blk_t;

typedef struct {
    double bound; /* the tree's best bound when it stopped */
    double budget;
} pcb_t;

static void price_cb(glp_tree *T, void *info)
{
    pcb_t *cb = info;
    int best = glp_ios_best_node(T);
    if (best)
        cb->bound = glp_ios_node_bound(T, best);
    int a, c, t;
    glp_ios_tree_size(T, &a, &c, &t);
    if (t >= cb->budget)
        glp_ios_terminate(T);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double dw_bound(glp_prob *P, const int *blk, const double *obj, int max_rounds,
                dw_stats_t *st)
{
    int n = glp_get_num_cols(P), nr = glp_get_num_rows(P), nb = 0;
    double best = INFINITY, t0 = now_ms();
    memset(st, 0, sizeof *st);
    for (int j = 1; j <= n; j++)
        if (blk[j] + 1 > nb)
            nb = blk[j] + 1;
    int *rblk = malloc(((size_t)nr + 1) * sizeof *rblk); /* -2 empty, -1 linking */
    int *ind = malloc(((size_t)n + 1) * sizeof *ind);
    double *val = malloc(((size_t)n + 1) * sizeof *val);
    int *lrow = malloc(((size_t)nr + 1) * sizeof *lrow); /* P row -> master row */
    int *sloc = calloc((size_t)n + 1, sizeof *sloc);     /* P col -> pricing col */
    double *pi = calloc((size_t)nr + 1, sizeof *pi);
    double *xs = calloc((size_t)n + 1, sizeof *xs);
    double *act = calloc((size_t)nr + 1, sizeof *act);
    blk_t *B = calloc((size_t)nb + 1, sizeof *B);
    glp_prob *M = glp_create_prob();
    if (!rblk || !ind || !val || !lrow || !sloc || !pi || !xs || !act || !B)
        goto out;
    for (int i = 1; i <= nr; i++) {
        int len = glp_get_mat_row(P, i, ind, val), b = -2;
        for (int k = 1; k <= len; k++) {
            int bj = blk[ind[k]];
            if (b == -2)
                b = bj;
            else if (bj != b || bj < 0)
                b = -1;
        }
        rblk[i] = b;
    }
    /* Pricing problems. */
    for (int b = 0; b < nb; b++)
        B[b].col = malloc(((size_t)n + 1) * sizeof *B[b].col);
    for (int j = 1; j <= n; j++)
        if (blk[j] >= 0) {
            blk_t *q = &B[blk[j]];
            q->col[++q->nc] = j;
            sloc[j] = q->nc;
        }
    for (int b = 0; b < nb; b++) {
        blk_t *q = &B[b];
        q->S = glp_create_prob();
        glp_set_obj_dir(q->S, GLP_MAX);
        if (q->nc)
            glp_add_cols(q->S, q->nc);
        for (int k = 1; k <= q->nc; k++) {
            int j = q->col[k];
            glp_set_col_kind(q->S, k, glp_get_col_kind(P, j));
            int t = glp_get_col_type(P, j);
            glp_set_col_bnds(q->S, k, t, glp_get_col_lb(P, j), glp_get_col_ub(P, j));
        }
    }
    for (int i = 1; i <= nr; i++) {
        if (rblk[i] < 0)
            continue;
        glp_prob *S = B[rblk[i]].S;
        int r = glp_add_rows(S, 1), len = glp_get_mat_row(P, i, ind, val);
        for (int k = 1; k <= len; k++)
            ind[k] = sloc[ind[k]];
        glp_set_mat_row(S, r, len, ind, val);
        glp_set_row_bnds(S, r, glp_get_row_type(P, i), glp_get_row_lb(P, i),
                         glp_get_row_ub(P, i));
    }
    /* Master: linking rows, convexity rows, free columns. */
    glp_set_obj_dir(M, GLP_MAX);
    int mr = 0;
    for (int i = 1; i <= nr; i++) {
        lrow[i] = 0;
        if (rblk[i] != -1)
            continue;
        lrow[i] = ++mr;
        glp_add_rows(M, 1);
        glp_set_row_bnds(M, mr, glp_get_row_type(P, i), glp_get_row_lb(P, i),
                         glp_get_row_ub(P, i));
        st->linking++;
    }
    for (int b = 0; b < nb; b++) {
        B[b].conv = ++mr;
        glp_add_rows(M, 1);
        glp_set_row_bnds(M, mr, GLP_UP, 0, 1);
    }
    for (int j = 1; j <= n; j++) {
        if (blk[j] >= 0)
            continue;
        int c = glp_add_cols(M, 1), len = glp_get_mat_col(P, j, ind, val), l = 0;
        for (int k = 1; k <= len; k++)
            if (lrow[ind[k]]) {
                ind[++l] = lrow[ind[k]];
                val[l] = val[k];
            }
        glp_set_mat_col(M, c, l, ind, val);
        glp_set_col_bnds(M, c, glp_get_col_type(P, j), glp_get_col_lb(P, j),
                         glp_get_col_ub(P, j));
        glp_set_obj_coef(M, c, obj[j]);
    }
    /* Artificial slack so the master is feasible from the start (equality
     * linking rows): none needed for ≤ rows with rhs ≥ 0; one column of large
     * cost per ≥/= row. */
    for (int i = 1; i <= nr; i++) {
        if (!lrow[i])
            continue;
        int t = glp_get_row_type(P, i);
        if (t == GLP_UP || t == GLP_FR)
            continue;
        int c = glp_add_cols(M, 1);
        int ii[2] = {0, lrow[i]};
        double vv[2] = {0, glp_get_row_lb(P, i) >= 0 ? 1 : -1};
        glp_set_mat_col(M, c, 1, ii, vv);
        glp_set_col_bnds(M, c, GLP_LO, 0, 0);
        glp_set_obj_coef(M, c, -1e6);
    }
    glp_smcp sp;
    glp_init_smcp(&sp);
    sp.msg_lev = GLP_MSG_OFF;
    glp_iocp ip;
    glp_init_iocp(&ip);
    ip.msg_lev = GLP_MSG_OFF;
    ip.presolve = GLP_ON;
    for (int round = 0; round < max_rounds; round++) {
        if (glp_simplex(M, &sp) != 0 || glp_get_status(M) != GLP_OPT)
            break;
        st->master = glp_get_obj_val(M);
        double L = 0;
        for (int i = 1; i <= nr; i++) {
            pi[i] = 0;
            if (!lrow[i])
                continue;
            int t = glp_get_row_type(P, i);
            double d = glp_get_row_dual(M, lrow[i]);
            if ((t == GLP_UP && d < 0) || (t == GLP_LO && d > 0))
                d = 0;
            pi[i] = d;
            L += d * (d > 0 ? glp_get_row_ub(P, i) : glp_get_row_lb(P, i));
        }
        /* Free columns at their best bound under π. */
        for (int j = 1; j <= n; j++) {
            if (blk[j] >= 0)
                continue;
            double rc = obj[j];
            int len = glp_get_mat_col(P, j, ind, val);
            for (int k = 1; k <= len; k++)
                rc -= pi[ind[k]] * val[k];
            L += fmax(rc * glp_get_col_lb(P, j), rc * glp_get_col_ub(P, j));
        }
        int added = 0;
        for (int b = 0; b < nb; b++) {
            blk_t *q = &B[b];
            if (q->nc == 0)
                continue;
            for (int k = 1; k <= q->nc; k++) {
                int j = q->col[k];
                double rc = obj[j];
                int len = glp_get_mat_col(P, j, ind, val);
                for (int h = 1; h <= len; h++)
                    rc -= pi[ind[h]] * val[h];
                glp_set_obj_coef(q->S, k, rc);
            }
            double mu = glp_get_row_dual(M, q->conv);
            pcb_t cb = {INFINITY, getenv("TP_DW_NODES") ? atof(getenv("TP_DW_NODES")) : 1e9};
            ip.cb_func = price_cb;
            ip.cb_info = &cb;
            double tp = now_ms();
            int ret = glp_intopt(q->S, &ip), ms = glp_mip_status(q->S);
            st->pricings++;
            if (getenv("TP_DW_V"))
                fprintf(stderr, "  r%d b%d nc %d ret %d st %d z %.3f bd %.3f mu %.3f %.0f ms\n", round, b, q->nc, ret, ms,
                        glp_mip_obj_val(q->S), cb.bound, mu, now_ms() - tp);
            if (ms != GLP_OPT && ms != GLP_FEAS) {
                L = INFINITY;
                continue;
            }
            double z = glp_mip_obj_val(q->S);
            double zb = ret == 0 && ms == GLP_OPT ? z : fmax(z, cb.bound);
            L += fmax(zb, 0) + 1e-6 * (1 + fabs(zb));
            if (z <= mu + 1e-7 * (1 + fabs(mu)))
                continue;
            /* New pattern column. */
            int c = glp_add_cols(M, 1), l = 0;
            double cost = 0;
            memset(act, 0, ((size_t)nr + 1) * sizeof *act);
            for (int k = 1; k <= q->nc; k++) {
                int j = q->col[k];
                double x = floor(glp_mip_col_val(q->S, k) + 0.5);
                if (x == 0)
                    continue;
                cost += obj[j] * x;
                int len = glp_get_mat_col(P, j, ind, val);
                for (int h = 1; h <= len; h++)
                    if (lrow[ind[h]])
                        act[ind[h]] += val[h] * x;
            }
            for (int i = 1; i <= nr; i++)
                if (lrow[i] && act[i] != 0) {
                    ind[++l] = lrow[i];
                    val[l] = act[i];
                }
            ind[++l] = q->conv;
            val[l] = 1;
            glp_set_mat_col(M, c, l, ind, val);
            glp_set_col_bnds(M, c, GLP_DB, 0, 1);
            glp_set_obj_coef(M, c, cost);
            added++;
        }
        if (L < best)
            best = L;
        if (getenv("TP_DW_V"))
            fprintf(stderr, "round %d master %.4f L %.4f best %.4f added %d %.0f ms\n", round, st->master, L, best, added, now_ms() - t0);
        st->rounds = round + 1;
        st->columns += added;
        if (!added || best - st->master < 1e-6 * (1 + fabs(best)))
            break;
    }
    st->ms = now_ms() - t0;
    if (getenv("TP_DW_IP")) { /* restricted master as a MILP: a heuristic */
        int nm = glp_get_num_cols(M);
        for (int c = 1; c <= nm; c++)
            if (glp_get_col_type(M, c) == GLP_DB && glp_get_col_ub(M, c) == 1)
                glp_set_col_kind(M, c, GLP_BV);
        pcb_t cb = {INFINITY, atof(getenv("TP_DW_IP"))};
        ip.cb_func = price_cb;
        ip.cb_info = &cb;
        double tp = now_ms();
        int ret = glp_intopt(M, &ip);
        fprintf(stderr, "DW-IP: cols %d ret %d st %d obj %.3f bd %.3f %.0f ms\n", nm, ret,
                glp_mip_status(M), glp_mip_obj_val(M), cb.bound, now_ms() - tp);
    }
out:
    for (int b = 0; b < nb && B; b++) {
        if (B[b].S)
            glp_delete_prob(B[b].S);
        free(B[b].col);
    }
    glp_delete_prob(M);
    free(B);
    free(rblk);
    free(ind);
    free(val);
    free(lrow);
    free(sloc);
    free(pi);
    free(xs);
    free(act);
    return best;
}
