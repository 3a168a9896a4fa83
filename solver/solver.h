/*
 * solver/solver.h — where pending work goes, what must stop to bring power back
 * under the caps, and why the rest waits.
 *
 * tp_solve() takes the fleet, the observed state, the running and the pending
 * work and returns a placement result (model/model.h, FORMATS.md) that has passed
 * the independent validator (policy/validator.h): a result that fails it is a
 * bug and is refused with TP_EVIOLATION, never returned.
 *
 * Hard constraints: only (node, workload) pairs that pass every static predicate
 * of policy/policy.h exist at all; a workload runs whole on one node; GPU
 * capacity; the power model of FORMATS.md at every node and every domain.
 *
 * Objective (maximised), in strict lexicographic order (docs/solver.md):
 *   (1) priority-weighted GPUs placed, Σ (1 + priority) × gpus;
 *   (2) scarce trust kept free: Σ gpus × (TRUST_MAX − trust(node)) × ε_s, where
 *       trust counts the node's CPU TEE, GPU CC, affirming attestation and
 *       verified location — work goes to the least-trusted node that satisfies
 *       it, so TEE/CC capacity stays free for sensitive work;
 *   (3) fleet tokens per joule: Σ gpus × eff / eff_max × ε_e, eff =
 *       tokens_per_s / watts of the (workload model, node GPU model) profile
 *       (0 without one);
 *   ε_s = 1 / (1 + 4G), ε_e = ε_s / (1 + G), G = all GPUs asked for, so all of
 *   (2) is worth less than one unit of (1) and all of (3) less than one of (2);
 *   (4) stability: running work moves only when a cap forces it (preemption is a
 *       separate, earlier phase that stops as little as it can);
 *   (5) headroom and anti-fragmentation: ties go to the fullest node that fits
 *       (best fit), so whole nodes stay whole for 8-GPU work.
 * The reported objective is (1) + (2) + (3); (4) and (5) are tie-breakers.
 *
 * Workload indices in the result follow model/result_json.h: a preempted running
 * workload that is started elsewhere appears as a placement (and one that cannot
 * be, as pending) under index pending->n + its running index.
 *
 * Deterministic and order-independent: nodes, domains and workloads are put in
 * canonical order (by id) first, ties go to the lower id, and the time limit is
 * turned into work budgets (simplex iterations, branch-and-bound nodes) that
 * decide where a solve stops — the same input in any order gives the same
 * result. No LP or MILP has a wall-clock limit (time_limited: a budget ran out).
 *
 * Only solver/ includes glpk.h. GLPK runs with its error hook installed, so a
 * GLPK failure becomes TP_ESOLVER, never an abort(); its terminal output is
 * captured, never printed. GLPK keeps per-thread state: solve in one thread at a
 * time per thread, any number of threads.
 */
#ifndef TP_SOLVER_H
#define TP_SOLVER_H

#include "model/model.h"
#include "model/result_json.h"
#include "policy/policy.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    TP_SOLVER_AUTO = 0,  /* per-pair MILP when small, else aggregated LP + packing */
    TP_SOLVER_EXACT,     /* per-pair MILP (the naive workload × node model) */
    TP_SOLVER_AGGREGATE, /* aggregated LP, rounding, exact per-node packing, repair */
    TP_SOLVER_GREEDY     /* first fit in input order, same eligibility (a baseline) */
} tp_solver_method_t;

typedef struct {
    int64_t now;          /* the time attestation freshness is judged at */
    double time_limit_ms; /* budget for GLPK; ≤ 0: TP_SOLVER_DEFAULT_LIMIT_MS */
    double mip_gap;       /* per-pair MILP: stop at this relative gap (0: optimal) */
    tp_solver_method_t method;
    int exact_max_pairs; /* AUTO: per-pair MILP up to this many eligible pairs;
                            0: TP_SOLVER_DEFAULT_EXACT_PAIRS */
    bool no_bound;       /* skip the O(fleet) proven bound: result bound and gap
                            are NAN (the service answers decisions, not bounds) */
} tp_solver_opts_t;

#define TP_SOLVER_DEFAULT_LIMIT_MS 10000.0
#define TP_SOLVER_DEFAULT_EXACT_PAIRS 12000
/* Work budgets per millisecond of time limit (docs/solver.md, Determinism). */
#define TP_SOLVER_ITERS_PER_MS 20.0
#define TP_SOLVER_MIN_ITERS 50 /* the least simplex budget, whatever the limit */

typedef struct {
    tp_result_t *result;               /* owned; stats: solve_ms, objective, bound, gap */
    const char *method;                /* "milp", "lp+pack", "greedy" (static string) */
    bool optimal;                      /* the objective is proven optimal */
    bool time_limited;                 /* an iteration budget from the time limit
                                          cut a solve short (deterministic) */
    double placed_gpus, weighted_gpus; /* term (1) is weighted_gpus */
    double tokens_per_j;               /* Σ tokens/s ÷ Σ watts of the placed work */
    int node_groups, workload_classes; /* sizes of the aggregated model */
    int lp_rounds;                     /* column/row generation rounds */
    int ruin_tries;    /* ruin-and-recreate rungs and exchanges tried (improve.c) */
    char **caps_unmet; /* owned: caps running work still exceeds ("power_domain:…") */
    int ncaps_unmet;
} tp_solution_t;

/* Solves. On success *out is a new solution (caller frees with
 * tp_solution_free()); on failure *out is NULL and err says why: TP_ENOMEM,
 * TP_ESOLVER (GLPK failed, or TP_SOLVER_EXACT found no integer solution in the
 * time limit), TP_EVIOLATION (the validator refused the result — a
 * bug; err names the first violation), TP_EINVAL (bad arguments). s may be NULL
 * (nothing observed); running may be NULL (none). */
int tp_solve(const tp_fleet_t *f, const tp_state_t *s, const tp_workloads_t *pending,
             const tp_workloads_t *running, const tp_solver_opts_t *o,
             tp_solution_t **out, tp_error_t *err);
void tp_solution_free(tp_solution_t *sol);

/* What a long-running caller (the service) keeps between solves so that a solve
 * costs in proportion to its request, not to the fleet: the canonical node and
 * domain orders of one fleet (made once), and, per solve, the load of the
 * running work and the validator's tally of it (policy/validator.h) that the
 * caller keeps current — a
 * result that stops no running work is then validated against it
 * (tp_validate_new), one that does is validated whole as always. */
typedef struct tp_solver_cache_s {
    const tp_fleet_t *f;           /* the fleet the orders are for */
    int *nord, *dord;              /* owned: nodes and domains by id */
    const struct tp_vtally *tally; /* borrowed, may be NULL: of `running` on s */
    /* borrowed, may be NULL: tp_load_new(f, s, running) of the solve, bit for
     * bit (policy.h's tp_load_refresh keeps one so); its domain sums are not
     * read (the solver sums them again in canonical order) */
    const tp_load_t *load;
} tp_solver_cache_t;

/* NULL on ENOMEM. Valid while f lives and is not changed. */
tp_solver_cache_t *tp_solver_cache_new(const tp_fleet_t *f);
void tp_solver_cache_free(tp_solver_cache_t *c);
/* tp_solve() with a cache (NULL: none); TP_EINVAL when it is for another fleet.
 * Same answer as tp_solve() on the same input. */
int tp_solve_cached(const tp_fleet_t *f, const tp_state_t *s,
                    const tp_workloads_t *pending, const tp_workloads_t *running,
                    const tp_solver_cache_t *cache, const tp_solver_opts_t *o,
                    tp_solution_t **out, tp_error_t *err);

/* Fills meta (borrowing from sol) for tp_result_to_json(). */
void tp_solution_meta(const tp_solution_t *sol, const tp_fleet_t *f,
                      const tp_workloads_t *pending, const tp_workloads_t *running,
                      tp_result_meta_t *meta);

#endif
