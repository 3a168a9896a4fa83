/*
 * tests/unit/test_solver_props.c — properties of tp_solve() over thousands of
 * random small instances (tests/unit/test_solver_fixture.c):
 *   - every result passes the validator (tp_solve refuses otherwise) and, when
 *     nothing was preempted, passes it again here, run by the test itself;
 *   - every pending workload carries reasons, exactly tp_policy_count's against
 *     the final load;
 *   - the same input gives the same result;
 *   - the aggregated path's bound is never below the exact optimum, and neither
 *     path nor the baseline ever beats the exact optimum;
 *   - AUTO never places fewer priority-weighted GPUs than greedy first fit.
 * And exactness: on instances of ≤ 12 nodes and ≤ 10 workloads the objective
 * equals an exhaustive search written here.
 */
#include "tests/unit/tp_test.h"

#include "policy/policy.h"
#include "policy/validator.h"
#include "solver/solver.h"
#include "tests/unit/test_solver_fixture.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 3000

static tp_solution_t *solve(const sf_inst_t *in, tp_solver_method_t m)
{
    tp_solver_opts_t o = {.now = SF_NOW, .time_limit_ms = 20000, .method = m};
    tp_solution_t *sol = NULL;
    tp_error_t err;
    if (tp_solve(in->f, in->s, in->pending, in->running, &o, &sol, &err) < 0) {
        tp_test_fail(__FILE__, __LINE__, "tp_solve (method %d): %s", (int)m, err.text);
        return NULL;
    }
    return sol;
}

static bool same_result(const tp_result_t *a, const tp_result_t *b)
{
    if (a->nplacements != b->nplacements || a->npending != b->npending ||
        a->npreemptions != b->npreemptions || a->objective != b->objective)
        return false;
    for (int i = 0; i < a->nplacements; i++)
        if (memcmp(&a->placements[i], &b->placements[i], sizeof a->placements[i]))
            return false;
    for (int i = 0; i < a->npending; i++)
        if (memcmp(&a->pending[i], &b->pending[i], sizeof a->pending[i]))
            return false;
    for (int i = 0; i < a->npreemptions; i++)
        if (a->preemptions[i].workload != b->preemptions[i].workload ||
            a->preemptions[i].node != b->preemptions[i].node ||
            strcmp(a->preemptions[i].why, b->preemptions[i].why))
            return false;
    return true;
}

/* The final load: running work, minus preemptions, plus placements. */
static tp_load_t *final_load(const sf_inst_t *in, const tp_result_t *r)
{
    tp_load_t *l = tp_load_new(in->f, in->s, in->running);
    int np = in->pending->n;
    for (int i = 0; i < r->npreemptions; i++) {
        const tp_workload_t *w = &in->running->w[r->preemptions[i].workload];
        tp_load_apply(l, in->f, w->node, w->gpus,
                      tp_fleet_gpu_watts(in->f, w->node, w->model), -1);
    }
    for (int i = 0; i < r->nplacements; i++) {
        const tp_placement_t *p = &r->placements[i];
        const tp_workload_t *w = p->workload < np ? &in->pending->w[p->workload]
                                                  : &in->running->w[p->workload - np];
        tp_load_apply(l, in->f, p->node, w->gpus,
                      tp_fleet_gpu_watts(in->f, p->node, w->model), +1);
    }
    return l;
}

static void check_result(const sf_inst_t *in, const tp_solution_t *sol, int round)
{
    const tp_result_t *r = sol->result;
    tp_load_t *l = final_load(in, r);
    int np = in->pending->n;
    for (int i = 0; i < r->npending; i++) {
        const tp_pending_t *p = &r->pending[i];
        const tp_workload_t *w = p->workload < np ? &in->pending->w[p->workload]
                                                  : &in->running->w[p->workload - np];
        int counts[TP_PRED_COUNT], sum = 0;
        tp_policy_count(in->f, in->s, l, w, SF_NOW, counts);
        for (int k = 0; k < TP_PRED_COUNT; k++) {
            sum += p->reasons[k];
            if (p->reasons[k] != counts[k])
                tp_test_fail(__FILE__, __LINE__,
                             "round %d: %s: reason %s %d, policy says %d", round, w->id,
                             tp_pred_name((tp_pred_t)k), p->reasons[k], counts[k]);
        }
        if (sum == 0)
            tp_test_fail(__FILE__, __LINE__, "round %d: %s pending without reasons",
                         round, w->id);
    }
    for (int i = 0; i < r->npreemptions; i++)
        if (!in->running->w[r->preemptions[i].workload].preemptible)
            tp_test_fail(__FILE__, __LINE__, "round %d: non-preemptible work preempted",
                         round);
    if (r->npreemptions == 0) {
        tp_violations_t v;
        tp_violations_init(&v);
        int nv = tp_validate(in->f, in->s, in->pending, in->running, r, SF_NOW, &v);
        if (nv != 0)
            tp_test_fail(__FILE__, __LINE__, "round %d: %d violations: %s", round, nv,
                         v.n ? v.msgs[0] : "");
        tp_violations_fini(&v);
    }
    tp_load_free(l);
}

TP_TEST(solver_props_random)
{
    tp_rng_t rng;
    tp_rng_init(&rng, 20260317);
    for (int round = 0; round < ROUNDS * tp_test_soak(); round++) {
        sf_opts_t o = {.nodes = 1 + (int)tp_rng_below(&rng, 12),
                       .pending = (int)tp_rng_below(&rng, 14),
                       .running = (int)tp_rng_below(&rng, 10),
                       .tight = tp_rng_chance(&rng, 0.5)};
        sf_inst_t in;
        TP_ASSERT(sf_make(&rng, &o, &in) == 0);
        tp_solution_t *a = solve(&in, TP_SOLVER_AUTO), *b = solve(&in, TP_SOLVER_AUTO);
        tp_solution_t *agg = solve(&in, TP_SOLVER_AGGREGATE);
        tp_solution_t *gr = solve(&in, TP_SOLVER_GREEDY);
        if (a && b && agg && gr) {
            check_result(&in, a, round);
            check_result(&in, agg, round);
            check_result(&in, gr, round);
            if (!same_result(a->result, b->result))
                tp_test_fail(__FILE__, __LINE__, "round %d: two runs differ", round);
            if (a->weighted_gpus + 1e-9 < gr->weighted_gpus)
                tp_test_fail(__FILE__, __LINE__, "round %d: %g weighted GPUs < greedy %g",
                             round, a->weighted_gpus, gr->weighted_gpus);
            /* AUTO starts from the aggregated plan: never worse in term (1). */
            if (a->weighted_gpus + 1e-9 < agg->weighted_gpus ||
                a->result->objective + 1e-9 < agg->result->objective)
                tp_test_fail(__FILE__, __LINE__,
                             "round %d: AUTO %g weighted GPUs < AGGREGATE %g", round,
                             a->weighted_gpus, agg->weighted_gpus);
            if (a->optimal) {
                double opt = a->result->objective;
                if (agg->result->bound < opt - 1e-6)
                    tp_test_fail(__FILE__, __LINE__,
                                 "round %d: LP bound %.9g < optimum %.9g", round,
                                 agg->result->bound, opt);
                if (agg->result->objective > opt + 1e-6 ||
                    gr->result->objective > opt + 1e-6)
                    tp_test_fail(__FILE__, __LINE__,
                                 "round %d: a heuristic beat the optimum", round);
            }
        }
        tp_solution_free(a);
        tp_solution_free(b);
        tp_solution_free(agg);
        tp_solution_free(gr);
        sf_free(&in);
    }
}

/* ---- exhaustive search ------------------------------------------------------------ */

typedef struct {
    const sf_inst_t *in;
    tp_load_t *l;
    double eps, best, *rest; /* rest[i]: the most workloads i.. could still add */
    int order[16];
} ex_t;

static void dfs(ex_t *x, int i, double value)
{
    if (value > x->best)
        x->best = value;
    if (i == x->in->pending->n || value + x->rest[i] <= x->best + 1e-12)
        return;
    const tp_workload_t *w = &x->in->pending->w[x->order[i]];
    for (int n = 0; n < x->in->f->nnodes; n++) {
        if (tp_policy_check(x->in->f, x->in->s, x->l, n, w, SF_NOW))
            continue;
        double watts = tp_fleet_gpu_watts(x->in->f, n, w->model);
        tp_load_apply(x->l, x->in->f, n, w->gpus, watts, +1);
        dfs(x, i + 1, value + tp_solver_value(x->in->f, w, n, x->eps));
        tp_load_apply(x->l, x->in->f, n, w->gpus, watts, -1);
    }
    dfs(x, i + 1, value); /* not placed */
}

static double exhaustive(const sf_inst_t *in)
{
    ex_t x = {.in = in};
    double gpus = 0, rest[17] = {0};
    int np = in->pending->n;
    for (int i = 0; i < np; i++) {
        gpus += in->pending->w[i].gpus;
        x.order[i] = i;
    }
    /* Heaviest first: the bound prunes sooner. */
    for (int i = 1; i < np; i++)
        for (int j = i; j > 0; j--) {
            const tp_workload_t *a = &in->pending->w[x.order[j]],
                                *b = &in->pending->w[x.order[j - 1]];
            if ((1.0 + a->priority) * a->gpus <= (1.0 + b->priority) * b->gpus)
                break;
            int t = x.order[j];
            x.order[j] = x.order[j - 1];
            x.order[j - 1] = t;
        }
    x.eps = 1.0 / (1.0 + gpus);
    for (int i = np - 1; i >= 0; i--) {
        const tp_workload_t *w = &in->pending->w[x.order[i]];
        rest[i] = rest[i + 1] + (1.0 + w->priority) * w->gpus + x.eps * w->gpus;
    }
    x.rest = rest;
    x.l = tp_load_new(in->f, in->s, in->running);
    dfs(&x, 0, 0);
    tp_load_free(x.l);
    return x.best;
}

TP_TEST(solver_exact_vs_exhaustive)
{
    tp_rng_t rng;
    int checked = 0;
    tp_rng_init(&rng, 77);
    for (int round = 0; round < 300; round++) {
        bool big = round % 10 == 0;
        sf_opts_t o = {.nodes = big ? 12 : 2 + (int)tp_rng_below(&rng, 7),
                       .pending = big ? 10 : 1 + (int)tp_rng_below(&rng, 8),
                       .running = (int)tp_rng_below(&rng, 6),
                       .tight = tp_rng_chance(&rng, 0.6)};
        sf_inst_t in;
        TP_ASSERT(sf_make(&rng, &o, &in) == 0);
        tp_load_t *l = tp_load_new(in.f, in.s, in.running);
        bool over = false; /* preemption instances have their own tests */
        for (int n = 0; n < in.f->nnodes; n++)
            over |= l->node_w[n] > tp_policy_node_cap(in.f, in.s, n) * (1 + 1e-9);
        for (int d = 0; d < in.f->ndomains; d++)
            over |= l->domain_w[d] > tp_policy_domain_cap(in.f, in.s, d) * (1 + 1e-9);
        tp_load_free(l);
        if (!over) {
            tp_solution_t *sol = solve(&in, TP_SOLVER_AUTO);
            if (sol) {
                double best = exhaustive(&in);
                if (!sol->optimal)
                    tp_test_fail(__FILE__, __LINE__, "round %d: %s not optimal (%s)",
                                 round, sol->method,
                                 sol->time_limited ? "time limit" : "?");
                if (fabs(sol->result->objective - best) > 1e-6)
                    tp_test_fail(__FILE__, __LINE__,
                                 "round %d (%d nodes, %d workloads): objective %.9f, "
                                 "exhaustive %.9f",
                                 round, in.f->nnodes, in.pending->n,
                                 sol->result->objective, best);
                checked++;
            }
            tp_solution_free(sol);
        }
        sf_free(&in);
    }
    TP_CHECK(checked > 150);
}
