/*
 * sim/policy_trustplace.c — the `trustplace` policy of the simulator: the real
 * solver (solver/solver.h), exactly as `trustplace place` and the service call
 * it. tp_solve() validates its own result and refuses one the validator
 * rejects; the engine re-checks every decision once more (sim/engine.c).
 */
#include "sim/sim_internal.h"

#include "solver/solver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    tp_solver_method_t method;
    double time_limit_ms;
    long long calls, time_limited, milp, lp_pack, other;
    double max_ms, total_ms; /* wall time: kept out of the summary */
} solver_stats_t;

bool tp_sim_trustplace_uses_solver(void)
{
    return true;
}

static int solver_decide(tp_sim_policy_t *p, const tp_sim_view_t *v, tp_result_t **out,
                         tp_error_t *err)
{
    solver_stats_t *st = p->ctx;
    tp_solver_opts_t o = {
        .now = v->now, .method = st->method, .time_limit_ms = st->time_limit_ms};
    tp_solution_t *sol = NULL;
    *out = NULL;
    int rc = tp_solve(v->fleet, v->state, v->pending, v->running, &o, &sol, err);
    if (rc < 0)
        return rc;
    st->calls++;
    st->time_limited += sol->time_limited;
    if (!strcmp(sol->method, "milp"))
        st->milp++;
    else if (!strcmp(sol->method, "lp+pack"))
        st->lp_pack++;
    else
        st->other++;
    if (sol->result->solve_ms > st->max_ms)
        st->max_ms = sol->result->solve_ms;
    st->total_ms += sol->result->solve_ms;
    if (getenv("TP_SIM_SOLVER_TRACE"))
        fprintf(stderr, "solve %lld: %d pending %d running %s %.1f ms%s\n", st->calls,
                v->pending->n, v->running->n, sol->method, sol->result->solve_ms,
                sol->time_limited ? " (time limit)" : "");
    *out = sol->result;
    sol->result = NULL;
    tp_solution_free(sol);
    return 0;
}

static json_t *solver_report(tp_sim_policy_t *p)
{
    const solver_stats_t *st = p->ctx;
    /* Solves cut short by GLPK's time limit are the one source of run-to-run
     * differences; a non-zero count says so. */
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "solver_calls", (json_int_t)st->calls,
                     "milp", (json_int_t)st->milp, "lp_pack", (json_int_t)st->lp_pack,
                     "other", (json_int_t)st->other, "time_limited",
                     (json_int_t)st->time_limited);
}

static void solver_fini(tp_sim_policy_t *p)
{
    solver_stats_t *st = p->ctx;
    if (st && getenv("TP_SIM_SOLVER_TRACE"))
        fprintf(stderr, "solver: %lld calls, %.0f ms in all, max %.1f ms\n", st->calls,
                st->total_ms, st->max_ms);
    free(st);
}

int sim_trustplace_new(tp_sim_policy_t *p, const tp_sim_policy_opts_t *o, tp_error_t *err)
{
    solver_stats_t *st = calloc(1, sizeof *st);
    if (!(p->ctx = st))
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    /* The fleet-scale method by default: "auto" adds a bounded per-pair MILP
     * polish on small inputs, for about 9x the solver time (docs/sim.md). */
    st->method = TP_SOLVER_AGGREGATE;
    if (o && o->method && !strcmp(o->method, "auto"))
        st->method = TP_SOLVER_AUTO;
    else if (o && o->method && !strcmp(o->method, "exact"))
        st->method = TP_SOLVER_EXACT;
    st->time_limit_ms = o ? o->time_limit_ms : 0;
    p->decide = solver_decide;
    p->fini = solver_fini;
    p->report = solver_report;
    return 0;
}
