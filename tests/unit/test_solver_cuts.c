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
