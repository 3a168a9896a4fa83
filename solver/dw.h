/* solver/dw.h — Dantzig-Wolfe bound over column blocks (dw.c). */
#ifndef TP_SOLVER_DW_H
#define TP_SOLVER_DW_H

#include <glpk.h>

typedef struct {
    int rounds, pricings, columns, linking;
    double master, ms;
} dw_stats_t;

/* An upper bound of max obj·x over P's rows, bounds and integrality, where
 * column j (1-based) belongs to block blk[j] (-1: none). INFINITY when none. */
double dw_bound(glp_prob *P, const int *blk, const double *obj, int max_rounds,
                dw_stats_t *st);

#endif
