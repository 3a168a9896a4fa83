/*
 * tests/unit/test_solver_cuts.c — the GMI cuts of solver/cuts.c never cut off
 * an integer point: on random small integer programs (2-5 bounded integer
 * columns, rows of every kind, integer and fractional coefficients, integer
 * and fractional bounds) every cut of up to six rounds holds at every
 * feasible integer point, enumerated, and the LP with cuts stays at or above
 * the integer optimum; the cuts do raise the LP bound on some of them (they
 * are not vacuous). The exact model with the cuts forced on
 * (solver_exact_vs_exhaustive_cuts_forced, test_solver_props.c) checks them
 * in place.
 */
#include "tests/unit/tp_test.h"

#include "solver/solver_internal.h"
#include "util/rng.h"

#include <glpk.h>
#include <math.h>
#include <stdlib.h>

#define MAXN 5

typedef struct {
    int n, lb[MAXN + 1], ub[MAXN + 1];
    int npts;
    int (*pts)[MAXN + 1]; /* feasible integer points */
} ip_t;

/* A random IP around a random integer point x0 (feasible by construction). */
static glp_prob *random_ip(tp_rng_t *rng, ip_t *ip, int *x0)
{
    glp_prob *P = glp_create_prob();
    int n = 2 + (int)tp_rng_below(rng, MAXN - 1), m = 2 + (int)tp_rng_below(rng, 4);
    ip->n = n;
    glp_set_obj_dir(P, GLP_MAX);
    glp_add_cols(P, n);
    for (int j = 1; j <= n; j++) {
        ip->lb[j] = tp_rng_chance(rng, 0.2) ? 1 : 0;
        ip->ub[j] = ip->lb[j] + 1 + (int)tp_rng_below(rng, 4);
        glp_set_col_kind(P, j, GLP_IV);
        glp_set_col_bnds(P, j, GLP_DB, ip->lb[j], ip->ub[j]);
        glp_set_obj_coef(P, j, (double)tp_rng_below(rng, 16) - 5);
        x0[j] = ip->lb[j] + (int)tp_rng_below(rng, (uint64_t)(ip->ub[j] - ip->lb[j] + 1));
    }
    glp_add_rows(P, m);
    int ind[MAXN + 1];
    double val[MAXN + 1];
    for (int i = 1; i <= m; i++) {
        bool frac = tp_rng_chance(rng, 0.3);
        int len = 0;
        double act = 0;
        for (int j = 1; j <= n; j++) {
            if (!tp_rng_chance(rng, 0.7))
                continue;
            double a = (double)tp_rng_below(rng, 13) - 6;
            if (frac)
                a = a * 0.75 + 0.37;
            if (a == 0)
                continue;
            ind[++len] = j;
            val[len] = a;
            act += a * x0[j];
        }
        if (len == 0)
            continue;
        glp_set_mat_row(P, i, len, ind, val);
        /* Slack 0, 1 or 2; a fractional half now and then. */
        double lo = act - (double)tp_rng_below(rng, 3),
               hi = act + (double)tp_rng_below(rng, 3);
        if (tp_rng_chance(rng, 0.2))
            hi += 0.5;
        switch (tp_rng_below(rng, 4)) {
        case 0:
            glp_set_row_bnds(P, i, GLP_UP, 0, hi);
            break;
        case 1:
            glp_set_row_bnds(P, i, GLP_LO, lo, 0);
            break;
        case 2:
            glp_set_row_bnds(P, i, lo < hi ? GLP_DB : GLP_FX, lo, hi);
            break;
        default:
            glp_set_row_bnds(P, i, GLP_FX, act, act);
        }
    }
    return P;
}

/* Every integer point of the box that satisfies P's first m0 rows. */
static void enumerate(glp_prob *P, int m0, ip_t *ip)
{
    int n = ip->n, x[MAXN + 1], cap = 1;
    for (int j = 1; j <= n; j++)
        cap *= ip->ub[j] - ip->lb[j] + 1;
    ip->pts = malloc((size_t)cap * sizeof *ip->pts);
    ip->npts = 0;
    int ind[MAXN + 1];
    double val[MAXN + 1];
    for (int c = 0; c < cap; c++) {
        int r = c;
        for (int j = 1; j <= n; j++) {
            int span = ip->ub[j] - ip->lb[j] + 1;
            x[j] = ip->lb[j] + r % span;
            r /= span;
        }
        bool ok = true;
        for (int i = 1; i <= m0 && ok; i++) {
            int len = glp_get_mat_row(P, i, ind, val);
            double act = 0;
            for (int t = 1; t <= len; t++)
                act += val[t] * x[ind[t]];
            int type = glp_get_row_type(P, i);
            if (type == GLP_LO || type == GLP_DB || type == GLP_FX)
                ok = act >= glp_get_row_lb(P, i) - 1e-9;
            if (ok && (type == GLP_UP || type == GLP_DB || type == GLP_FX))
                ok = act <= glp_get_row_ub(P, i) + 1e-9;
        }
        if (ok) {
            for (int j = 0; j <= n; j++)
                ip->pts[ip->npts][j] = j ? x[j] : 0;
            ip->npts++;
        }
    }
}

TP_TEST(solver_exact_cuts_valid_random_ip)
{
    tp_rng_t rng;
    tp_rng_init(&rng, 4242);
    glp_term_out(GLP_OFF);
    int instances = 0, cuts = 0, raised = 0, bad = 0;
    for (int round = 0; round < 1500; round++) {
        ip_t ip;
        int x0[MAXN + 1];
        glp_prob *P = random_ip(&rng, &ip, x0);
        int m0 = glp_get_num_rows(P), n = ip.n;
        enumerate(P, m0, &ip);
        double opt = -INFINITY;
        for (int k = 0; k < ip.npts; k++) {
            double v = 0;
            for (int j = 1; j <= n; j++)
                v += glp_get_obj_coef(P, j) * ip.pts[k][j];
            opt = fmax(opt, v);
        }
        glp_smcp sp;
        glp_init_smcp(&sp);
        sp.msg_lev = GLP_MSG_OFF;
        cut_ws_t w;
        TP_ASSERT(cut_ws_init(&w, m0 + 6 * 50, n) == 0);
        if (glp_simplex(P, &sp) == 0 && glp_get_status(P) == GLP_OPT) {
            double z0 = glp_get_obj_val(P), z = z0;
            instances++;
            sp.meth = GLP_DUALP;
            for (int r = 0; r < 6; r++) {
                if (gmi_round(P, m0, NULL, 50, &w) == 0)
                    break;
                if (glp_simplex(P, &sp) != 0 || glp_get_status(P) != GLP_OPT)
                    break;
                z = glp_get_obj_val(P);
                if (z < opt - 1e-6 && bad++ < 5)
                    tp_test_fail(__FILE__, __LINE__,
                                 "instance %d: LP with cuts %.9f below the optimum %.9f",
                                 round, z, opt);
            }
            /* Every cut at every feasible integer point. */
            int ind[MAXN + 1];
            double val[MAXN + 1];
            for (int i = m0 + 1; i <= glp_get_num_rows(P); i++) {
                int len = glp_get_mat_row(P, i, ind, val);
                double lo = glp_get_row_lb(P, i);
                for (int k = 0; k < ip.npts; k++) {
                    double act = 0;
                    for (int t = 1; t <= len; t++)
                        act += val[t] * ip.pts[k][ind[t]];
                    if (act < lo - 1e-7) {
                        if (bad++ < 5)
                            tp_test_fail(__FILE__, __LINE__,
                                         "instance %d: cut %d cuts off a feasible point "
                                         "(%.9f < %.9f)",
                                         round, i - m0, act, lo);
                    }
                }
            }
            cuts += glp_get_num_rows(P) - m0;
            raised += z < z0 - 1e-6;
        }
        cut_ws_fini(&w);
        free(ip.pts);
        glp_delete_prob(P);
    }
    TP_CHECK(bad == 0);
    TP_CHECK(instances > 1000);
    TP_CHECK(cuts > 500);  /* the cuts are exercised */
    TP_CHECK(raised > 50); /* and they do raise the bound */
}

/* A maximisation over n integer columns (kind[j], 1-based; NULL: all
 * binary) with nrows rows of width values each: type, lb, ub, then
 * (column, coefficient) pairs, 0-terminated. */
static glp_prob *model(int n, const int *kind, int nrows, const double *rows, int width)
{
    glp_prob *P = glp_create_prob();
    glp_set_obj_dir(P, GLP_MAX);
    glp_add_cols(P, n);
    for (int j = 1; j <= n; j++)
        glp_set_col_kind(P, j, kind ? kind[j] : GLP_BV);
    glp_add_rows(P, nrows);
    int *ind = malloc(((size_t)n + 1) * sizeof *ind);
    double *val = malloc(((size_t)n + 1) * sizeof *val);
    for (int i = 0; ind && val && i < nrows; i++) {
        const double *r = rows + (size_t)i * (size_t)width;
        int len = 0;
        for (int t = 3; t + 1 < width && r[t] != 0; t += 2) {
            ind[++len] = (int)r[t];
            val[len] = r[t + 1];
        }
        glp_set_mat_row(P, i + 1, len, ind, val);
        glp_set_row_bnds(P, i + 1, (int)r[0], r[1], r[2]);
    }
    free(ind);
    free(val);
    return P;
}

/* The exact model of a props-style instance (random small instances, seed
 * 14 · 7919 + 13, round 1636; 15 binaries, 14 rows) whose first stage is 3722
 * from a start at 3721: with the GMI cuts (tight at the optimum, k/7 and k/2
 * coefficients) left in the problem for the branch and cut, GLPK 5.0's MIP
 * presolver declared the search infeasible (GLP_ENOPFS), and lex_solve
 * "proved" the start optimal, one unit below the optimum. With cut rows in,
 * the search now runs without the presolver. Both with the cuts forced and
 * as by default (they lower ⌊LP⌋ here). */
TP_TEST(solver_exact_cuts_not_in_presolved_search)
{
    static const double obj[16] = {0,   72,  72,   72,  1688, 1544, 844, 492,
                                   492, 282, 1688, 245, 246,  772,  772, 386};
    static const double start[16] = {0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0, 1};
    /* type, lb, ub, then (column, coefficient) pairs, 0-terminated */
    static const double rows[14][42] = {
        {3, 0, 1, 3, 1, 2, 1, 1, 1},
        {3, 0, 1, 8, 1, 7, 1},
        {3, 0, 1, 12, 1, 11, 1},
        {3, 0, 1, 14, 1, 13, 1},
        {3, 0, 2, 9, 2, 1, 2},
        {3, 0, 960, 9, 800, 1, 800},
        {3, 0, 8, 15, 1, 13, 2, 12, 1, 10, 8, 7, 2, 6, 4, 5, 4, 4, 8, 2, 2},
        {3, 0,   5600, 15,   700, 13,   1400, 12,   700, 10,  5600,
         7, 640, 6,    1280, 5,   2800, 4,    2560, 2,   1400},
        {3, 0, 2, 14, 2, 8, 2, 3, 2},
        {3, 0, 960, 14, 800, 8, 640, 3, 800},
        {3, 0,   7341, 15,   700, 13,   1400, 12,   700, 10,   5600, 9,  800,
         7, 640, 6,    1280, 5,   2800, 4,    2560, 2,   1400, 1,    800},
        {3, 0, 22, 15, 1, 13, 2, 12, 1, 10, 8, 9, 2, 7, 2, 6, 4, 5, 4, 4, 8, 2, 2, 1, 2},
        {3,    0,   10126, 15,   700,  14,  800, 13,  1400, 12,  700,
         11,   690, 10,    5600, 9,    800, 8,   640, 7,    640, 6,
         1280, 5,   2800,  4,    2560, 3,   800, 2,   1400, 1,   800},
        {3, 0, 31, 15, 1, 14, 2, 13, 2, 12, 1, 11, 1, 10, 8, 9, 2,
         8, 2, 7,  2,  6, 4,  5, 4,  4, 8,  3, 2,  2, 2,  1, 2}};
    glp_term_out(GLP_OFF);
    for (int forced = 0; forced < 2; forced++) {
        glp_prob *P = model(15, NULL, 14, &rows[0][0], 42);
        double x[16];
        lex_t lx = {.nstages = 1,
                    .obj = {obj},
                    .integral = {true},
                    .node_budget = 100000,
                    .cut_rounds = 8,
                    .cut_force = forced,
                    .start = start,
                    .x = x};
        TP_CHECK_EQ_INT(lex_solve(P, &lx), 0);
        TP_CHECK(lx.cuts > 0);
        TP_CHECK(lx.value[0] == 3722);
        TP_CHECK(lx.bound[0] >= 3722);
        glp_delete_prob(P);
    }
}

/* The exact model of a props-style instance (seed 33 · 7919 + 13, round
 * 2766; 25 binaries, 21 rows, no cuts): term (3)'s search, with term (1)
 * and (2) fixed by a row and the start's value + a hair as the cutoff, was
 * declared infeasible by GLPK 5.0's MIP presolver (GLP_ENOPFS) where a point
 * beyond it exists, and lex_solve "proved" the start's term (3) optimal. The
 * verdict is now checked (LP with the cutoff, then a search without the
 * presolver). */
TP_TEST(solver_exact_presolver_checked)
{
    static const double obj0[26] = {0,  182, 182, 181, 182, 182, 183, 181, 19,
                                    74, 74,  74,  73,  74,  38,  38,  37,  38,
                                    38, 39,  37,  148, 146, 148, 150, 146};
    static const double obj1[26] = {0,
                                    0,
                                    0,
                                    0.95022624434389136,
                                    0.95022624434389136,
                                    0.8193979933110368,
                                    0.95022624434389136,
                                    0.8193979933110368,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0.95022624434389136,
                                    0.95022624434389136,
                                    0.8193979933110368,
                                    0.95022624434389136,
                                    0.8193979933110368,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0};
    static const double start[26] = {0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0,
                                     1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    /* type, lb, ub, then (column, coefficient) pairs, 0-terminated */
    static const double rows[21][54] = {
        {3, 0, 1.0, 7, 1, 6, 1, 5, 1, 4, 1, 3, 1, 2, 1, 1, 1},
        {3, 0, 1.0, 10, 1, 9, 1},
        {3, 0, 1.0, 13, 1, 12, 1, 11, 1},
        {3, 0, 1.0, 20, 1, 19, 1, 18, 1, 17, 1, 16, 1, 15, 1, 14, 1},
        {3, 0, 1.0, 25, 1, 24, 1, 23, 1, 22, 1, 21, 1},
        {3, 0, 1.0, 14, 1, 11, 1, 9, 1, 1, 1},
        {3, 0, 500.0, 14, 500, 11, 500, 9, 500, 1, 500},
        {3, 0, 4.0, 21, 2, 15, 1, 10, 1, 2, 1},
        {3, 0, 1200.0, 21, 600, 15, 300, 10, 300, 2, 300},
        {3, 0, 2.0, 23, 2, 17, 1, 4, 1},
        {3, 0, 1226.0, 23, 1200, 17, 680, 4, 680},
        {3, 0, 1.0, 18, 1, 13, 1, 5, 1},
        {3, 0, 1440.0, 18, 690, 13, 300, 5, 690},
        {3, 0, 2.0, 24, 2, 19, 1, 6, 1},
        {3, 0, 1200.0, 24, 1000, 19, 680, 6, 680},
        {3, 0, 2.0, 25, 2, 20, 1, 8, 1, 7, 1},
        {3, 0, 1200.0, 25, 1000, 20, 690, 8, 500, 7, 690},
        {3,    0,    4841.000000000001,
         24,   1000, 23,
         1200, 21,   600,
         19,   680,  17,
         680,  15,   300,
         14,   500,  11,
         500,  10,   300,
         9,    500,  6,
         680,  4,    680,
         2,    300,  1,
         500},
        {3, 0,  16.0, 24, 2, 23, 2, 21, 2, 19, 1, 17, 1, 15, 1, 14,
         1, 11, 1,    10, 1, 9,  1, 6,  1, 4,  1, 2,  1, 1,  1},
        {3,  0,   7521.0, 25,  1000, 22,  1200, 20,  690, 18,  690, 16, 680,
         13, 300, 12,     600, 8,    500, 7,    690, 5,   690, 3,   680},
        {3,   0,  12931.0, 25, 1000, 24, 1000, 23, 1200, 22, 1200, 21, 600, 20,
         690, 19, 680,     18, 690,  17, 680,  16, 680,  15, 300,  14, 500, 13,
         300, 12, 600,     11, 500,  10, 300,  9,  500,  8,  500,  7,  690, 6,
         680, 5,  690,     4,  680,  3,  680,  2,  300,  1,  500},
    };
    glp_term_out(GLP_OFF);
    glp_prob *P = model(25, NULL, 21, &rows[0][0], 54);
    double x[26];
    lex_t lx = {.nstages = 2,
                .obj = {obj0, obj1},
                .integral = {true, false},
                .node_budget = 16000,
                .it_budget = 200000,
                .start = start,
                .x = x};
    TP_CHECK_EQ_INT(lex_solve(P, &lx), 0);
    /* Unchecked: term (3) 0.9502 "proven"; the optimum is 1.7696. */
    TP_CHECK(lx.rechecked >= 1);
    TP_CHECK(lx.value[0] == 537);
    TP_CHECK(lx.value[1] > 1.7696);
    TP_CHECK(lx.bound[1] >= lx.value[1]);
    glp_delete_prob(P);
}
