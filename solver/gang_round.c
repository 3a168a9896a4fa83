/*
 * solver/gang_round.c — the gangs of R(ν)'s LP rounded: where ctx_t.gr is
 * set, rk_cuts (bound_root.c) hands over its last LP, and each open gang of
 * the gang LP takes the domain of its column of largest value there (none:
 * the gang waits). plan_improve's round_seat (improve.c) seats those gangs
 * on a plan emptied of every movable item and recreates the rest, kept only
 * when better. A plan's start, never a bound. Owns struct gang_round.
 *
 * Why: on the mixed benchmark the plan's own gangs leave its single-node
 * work within 41 of R's bound for it, while the gangs' placement (with the
 * bound's relaxation) accounts for 172 of the 212 gap (docs/solver.md,
 * Limits); the LP's gangs are a better set of domains than the exchanges
 * reach from the greedy plan.
 */
#include "solver/solver_internal.h"

#include <glpk.h>
#include <stdlib.h>
#include <string.h>

struct gang_round {
    int n;    /* gang_lp_count when taken */
    int *dom; /* [gang LP index]: its domain in the LP; -1: none */
    bool taken;
};

gang_round_t *gang_round_new(void)
{
    return calloc(1, sizeof(gang_round_t));
}

void gang_round_free(gang_round_t *r)
{
    if (r)
        free(r->dom);
    free(r);
}

int gang_round_domain(const gang_round_t *r, int i)
{
    return r && r->taken && i >= 0 && i < r->n ? r->dom[i] : -1;
}

void gang_round_take(const ctx_t *c, glp_prob_t *P, const gang_round_lp_t *lp)
{
    gang_round_t *r = c->gr;
    const side_t *sd = &c->side;
    int st = glp_get_status(P);
    if (!r || r->taken || (st != GLP_OPT && st != GLP_FEAS))
        return;
    r->n = gang_lp_count(c);
    int *gix = malloc(((size_t)sd->n + 1) * sizeof *gix); /* side item → gang */
    double *bx = calloc((size_t)r->n + 1, sizeof *bx);
    free(r->dom);
    r->dom = malloc(((size_t)r->n + 1) * sizeof *r->dom);
    if (!gix || !bx || !r->dom)
        goto out;
    for (int s = 0; s < sd->n; s++)
        gix[s] = -1;
    for (int g = 0; g < r->n; g++) {
        r->dom[g] = -1;
        for (int s = 0; s < sd->n; s++)
            if (sd->w[s] == gang_lp_work(c, g))
                gix[s] = g;
    }
    for (int k = 0; k < lp->ncol; k++) { /* column order: ties go to the first */
        int s = lp->side[lp->citem[k]], g = s >= 0 ? gix[s] : -1;
        double x = g >= 0 ? glp_get_col_prim(P, k + 1) : 0;
        if (x > 1e-6 && x > bx[g])
            r->dom[g] = lp->cdom[k], bx[g] = x;
    }
    r->taken = true;
out:
    free(gix);
    free(bx);
}
