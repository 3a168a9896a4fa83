/*
 * solver/cuts.c — Gomory mixed-integer (GMI) cuts from the rows of an optimal
 * simplex tableau, for the root of the exact model's first stage (lex_solve
 * in milp.c, lex_t.cut_rounds; exact.c turns them on). Owns the derivation
 * and its numerical checks; the caller re-solves between rounds.
 *
 * Why: GLPK 5.0's own GMI generator treats every row's auxiliary variable
 * as continuous; most rows of the exact model (type counts, GPU counts,
 * gangs, tenants, symmetry) have integer coefficients on integer columns,
 * so their auxiliary variables are integers too, and cuts that use it are
 * far stronger (20 x 40 seed 1: the LP 227.88 falls to the optimum 226 in
 * three rounds, as CBC's Gomory cuts do; GLPK's stays at 227.78).
 *
 * Derivation. Let x_k be basic, integer at every integer point — a
 * structural integer column, or the auxiliary variable of a row among the
 * first m0 (the model's) whose coefficients are all integers on integer
 * columns — with fractional value β. GLPK's tableau row reads
 * x_k = Σ α_j x_j over the nonbasic x_j (glp_eval_tab_row). Each nonbasic
 * x_j is shifted to the bound b_j it sits at: x_j = b_j + t_j at its lower
 * bound, x_j = b_j − t_j at its upper, so t_j ≥ 0 at every feasible point;
 * t_j is integer when x_j is and b_j is an integer (else continuous). Then
 * x_k + Σ a_j t_j = β with a_j = −α_j (lower) or α_j (upper). With
 * f0 = β − ⌊β⌋ and f_j = a_j − ⌊a_j⌋, every integer point satisfies
 *   Σ_{int, f_j ≤ f0} f_j/f0 t_j + Σ_{int, f_j > f0} (1 − f_j)/(1 − f0) t_j
 *   + Σ_{cont, a_j > 0} a_j/f0 t_j + Σ_{cont, a_j < 0} −a_j/(1 − f0) t_j ≥ 1
 * (Gomory 1960; Cornuéjols, "Valid inequalities for mixed integer linear
 * programs", 2008). t_j is replaced by ±(x_j − b_j) and each auxiliary x_j
 * by its row, which gives Σ π_j x_j ≥ π0 over the columns. A fixed nonbasic
 * variable contributes nothing; a free one makes the row unusable.
 *
 * Numerics: rows with f0 within 1% of an integer or a tableau entry above
 * 1e6 are skipped; the cut is scaled to a largest coefficient of 1;
 * coefficients below 1e-9 are dropped and the right-hand side relaxed by
 * their most at the column's bounds (every column is bounded); cuts whose
 * smallest kept coefficient is under 1e-6, that the LP point violates by
 * under 1e-5, are dropped; the right-hand side is relaxed by 1e-7 (1 + |π0|).
 * A cut that the incumbent (the start) violates is never added and counted
 * in `bad`: the start is a plan but may break the model's symmetry rows
 * (exact.c), so a valid cut can cut it off (props-style instances, 4 of
 * ~1,500 cuts on 639 instances at a 20 ms limit).
 */
#include "solver/solver_internal.h"

#include <glpk.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CUT_AWAY 0.01     /* f0 at least this far from an integer */
#define CUT_ALPHA_MAX 1e6 /* tableau entries beyond: the row is skipped */
#define CUT_TINY 1e-9     /* coefficients dropped (rhs relaxed) */
#define CUT_DYN 1e-6      /* smallest kept coefficient (largest is 1) */
#define CUT_VIOL 1e-5     /* least violation at the LP point */
#define CUT_RELAX 1e-7    /* rhs margin, relative */

static bool is_int(double v)
{
    return fabs(v - floor(v + 0.5)) <= 1e-9;
}

/* Row i's auxiliary variable is an integer at every integer point. */
static bool row_integral(glp_prob *P, int i, int *ind, double *val)
{
    int len = glp_get_mat_row(P, i, ind, val);
    for (int t = 1; t <= len; t++)
        if (glp_get_col_kind(P, ind[t]) == GLP_CV || val[t] != floor(val[t]))
            return false;
    return true;
}

/* Variable k of P (1..m rows' auxiliaries, m+1.. columns): status, bounds,
 * integrality (rint: the rows' flags). */
static void var_info(glp_prob *P, int m, const bool *rint, int k, int *st, double *lb,
                     double *ub, bool *integer)
{
    if (k <= m) {
        *st = glp_get_row_stat(P, k);
        *lb = glp_get_row_lb(P, k);
        *ub = glp_get_row_ub(P, k);
        *integer = rint[k];
    } else {
        *st = glp_get_col_stat(P, k - m);
        *lb = glp_get_col_lb(P, k - m);
        *ub = glp_get_col_ub(P, k - m);
        *integer = glp_get_col_kind(P, k - m) != GLP_CV;
    }
}

/* The GMI cut of basic variable k (value beta) into pi[1..n], *pi0.
 * False when the row is unusable. */
static bool gmi_row(glp_prob *P, int m, int n, const bool *rint, int k, double beta,
                    cut_ws_t *w, double *pi, double *pi0)
{
    double f0 = beta - floor(beta);
    if (f0 < CUT_AWAY || f0 > 1 - CUT_AWAY)
        return false;
    int len = glp_eval_tab_row(P, k, w->ind, w->val);
    memset(pi, 0, ((size_t)n + 1) * sizeof *pi);
    *pi0 = 1;
    for (int t = 1; t <= len; t++) {
        int q = w->ind[t], st;
        double alpha = w->val[t], lb, ub;
        bool integer;
        if (fabs(alpha) > CUT_ALPHA_MAX)
            return false;
        var_info(P, m, rint, q, &st, &lb, &ub, &integer);
        if (st == GLP_NS)
            continue; /* fixed: t_j = 0 */
        if (st != GLP_NL && st != GLP_NU)
            return false; /* free nonbasic */
        double b = st == GLP_NL ? lb : ub, a = st == GLP_NL ? -alpha : alpha, g;
        if (integer && is_int(b)) {
            double f = a - floor(a);
            g = f <= f0 ? f / f0 : (1 - f) / (1 - f0);
        } else {
            g = a > 0 ? a / f0 : -a / (1 - f0);
        }
        if (g == 0)
            continue;
        /* g t_j = s g (x_j − b) with s = +1 at the lower bound, −1 at the upper. */
        double sg = st == GLP_NL ? g : -g;
        *pi0 += sg * b;
        if (q > m) {
            pi[q - m] += sg;
        } else {
            int rl = glp_get_mat_row(P, q, w->rind, w->rval);
            for (int u = 1; u <= rl; u++)
                pi[w->rind[u]] += sg * w->rval[u];
        }
    }
    return true;
}

/* Cleans pi, *pi0 (scaling, tiny coefficients, margin) into w->cind/cval;
 * the number of coefficients, or 0 when the cut is dropped. x: the LP point. */
static int tidy(glp_prob *P, int n, const double *pi, double pi0, const double *x,
                cut_ws_t *w, double *rhs)
{
    double big = 0;
    for (int j = 1; j <= n; j++)
        big = fmax(big, fabs(pi[j]));
    if (!(big > 0) || !isfinite(big) || !isfinite(pi0))
        return 0;
    double r = pi0 / big, small = INFINITY, act = 0;
    int len = 0;
    for (int j = 1; j <= n; j++) {
        double p = pi[j] / big;
        if (p == 0)
            continue;
        if (fabs(p) < CUT_TINY) {
            /* p x_j ≤ max(p lb, p ub): drop it, relax the rhs by that. */
            double lb = glp_get_col_lb(P, j), ub = glp_get_col_ub(P, j);
            if (glp_get_col_type(P, j) != GLP_DB && glp_get_col_type(P, j) != GLP_FX)
                return 0;
            r -= fmax(p * lb, p * ub);
            continue;
        }
        small = fmin(small, fabs(p));
        w->cind[++len] = j;
        w->cval[len] = p;
        act += p * x[j];
    }
    if (len == 0 || small < CUT_DYN || act > r - CUT_VIOL)
        return 0;
    *rhs = r - CUT_RELAX * (1 + fabs(r));
    return len;
}

int cut_ws_init(cut_ws_t *w, int m, int n)
{
    size_t sz = (size_t)m + (size_t)n + 1;
    memset(w, 0, sizeof *w);
    w->ind = malloc(sz * sizeof *w->ind);
    w->val = malloc(sz * sizeof *w->val);
    w->rind = malloc(((size_t)n + 1) * sizeof *w->rind);
    w->rval = malloc(((size_t)n + 1) * sizeof *w->rval);
    w->cind = malloc(((size_t)n + 1) * sizeof *w->cind);
    w->cval = malloc(((size_t)n + 1) * sizeof *w->cval);
    w->pi = malloc(((size_t)n + 1) * sizeof *w->pi);
    w->x = malloc(((size_t)n + 1) * sizeof *w->x);
    w->rint = malloc(((size_t)m + 1) * sizeof *w->rint);
    w->cap = m;
    w->ncol = n;
    if (!w->ind || !w->val || !w->rind || !w->rval || !w->cind || !w->cval || !w->pi ||
        !w->x || !w->rint) {
        cut_ws_fini(w);
        return TP_ENOMEM;
    }
    return 0;
}

void cut_ws_fini(cut_ws_t *w)
{
    free(w->ind);
    free(w->val);
    free(w->rind);
    free(w->rval);
    free(w->cind);
    free(w->cval);
    free(w->pi);
    free(w->x);
    free(w->rint);
    memset(w, 0, sizeof *w);
}

int gmi_round(glp_prob *P, int m0, const double *inc, int max_cuts, cut_ws_t *w)
{
    int m = glp_get_num_rows(P), n = glp_get_num_cols(P), added = 0;
    if (n == 0 || m > w->cap || n > w->ncol || !glp_bf_exists(P) ||
        glp_get_status(P) != GLP_OPT)
        return 0;
    for (int i = 1; i <= m; i++)
        w->rint[i] = i <= m0 && row_integral(P, i, w->rind, w->rval);
    for (int j = 1; j <= n; j++)
        w->x[j] = glp_get_col_prim(P, j);
    /* Cuts are collected first (adding rows to P would end its basis
     * factorization), then appended to P. */
    glp_prob *pool = glp_create_prob();
    glp_add_cols(pool, n);
    for (int k = 1; k <= m + n && added < max_cuts; k++) {
        double beta;
        if (k <= m) {
            if (!w->rint[k] || glp_get_row_stat(P, k) != GLP_BS)
                continue;
            beta = glp_get_row_prim(P, k);
        } else {
            if (glp_get_col_kind(P, k - m) == GLP_CV ||
                glp_get_col_stat(P, k - m) != GLP_BS)
                continue;
            beta = glp_get_col_prim(P, k - m);
        }
        double pi0, rhs;
        if (!gmi_row(P, m, n, w->rint, k, beta, w, w->pi, &pi0))
            continue;
        int len = tidy(P, n, w->pi, pi0, w->x, w, &rhs);
        if (!len)
            continue;
        if (inc) {
            double a = 0;
            for (int t = 1; t <= len; t++)
                a += w->cval[t] * inc[w->cind[t]];
            if (a < rhs - 1e-6) {
                w->bad++; /* it cuts off a feasible point: never added */
                continue;
            }
        }
        int r = glp_add_rows(pool, 1);
        glp_set_mat_row(pool, r, len, w->cind, w->cval);
        glp_set_row_bnds(pool, r, GLP_LO, rhs, 0);
        added++;
    }
    if (added) {
        int r0 = glp_add_rows(P, added);
        for (int i = 1; i <= added; i++) {
            int len = glp_get_mat_row(pool, i, w->cind, w->cval);
            glp_set_mat_row(P, r0 + i - 1, len, w->cind, w->cval);
            glp_set_row_bnds(P, r0 + i - 1, GLP_LO, glp_get_row_lb(pool, i), 0);
        }
    }
    glp_delete_prob(pool);
    w->cuts += added;
    return added;
}
