/*
 * policy/validator.h — re-checks a whole placement result before it leaves the
 * process: security, residency, GPU model, GPU capacity, node and domain power,
 * preemptions of non-preemptible work, pending work without reasons.
 *
 * Deliberately written apart from policy.c and from anything the solver uses to
 * build its model: it restates the rules of FORMATS.md in the plainest form, so a
 * bug in the fast path is caught here rather than repeated. A violation is a bug
 * in the producer of the result; the result must then be refused, not emitted.
 */
#ifndef TP_POLICY_VALIDATOR_H
#define TP_POLICY_VALIDATOR_H

#include "model/model.h"

typedef struct {
    char **msgs; /* one line per violation; owned, freed by tp_violations_fini() */
    int n, cap;
    /* Domains and nodes still over their cap after the result, where no placement
     * of the result contributes (running work the result could not stop). */
    int over_cap_by_running;
} tp_violations_t;

void tp_violations_init(tp_violations_t *v);
void tp_violations_fini(tp_violations_t *v);

/* Returns the number of violations (0: valid) or a negative TP_E* code (ENOMEM).
 * pending/running may be empty lists but not NULL; s may be NULL (nothing
 * observed). out may be NULL when only the count matters. */
int tp_validate(const tp_fleet_t *f, const tp_state_t *s, const tp_workloads_t *pending,
                const tp_workloads_t *running, const tp_result_t *res, int64_t now,
                tp_violations_t *out);

/* The validator's own tally of running work, for checking a few new decisions
 * against a large running set without recounting it: GPUs in use and estimated
 * draw per node (the BMC's draw where higher, as tp_validate() counts it) and
 * per power domain. Computed here, from the running list, by the validator's own
 * rules; its owner keeps it current with tp_vtally_move() whenever running work
 * starts or stops, and builds a new one when the fleet or the observed draws
 * change. Owned by the caller: tp_vtally_free(). */
typedef struct tp_vtally {
    int nnodes, ndomains;
    int *used;      /* [nnodes] GPUs in use */
    double *run_w;  /* [nnodes] idle draw + running work's planning watts */
    double *draw_w; /* [nnodes] BMC-reported draw (NAN: none) */
    double *dom_w;  /* [ndomains] Σ max(run_w, draw_w) of the nodes beneath */
} tp_vtally_t;

/* NULL on ENOMEM. s gives the BMC draws (may be NULL). */
tp_vtally_t *tp_vtally_new(const tp_fleet_t *f, const tp_state_t *s,
                           const tp_workloads_t *running);
void tp_vtally_free(tp_vtally_t *t);
/* Running workload w started (sign +1) or stopped (sign -1) on node n. */
void tp_vtally_move(tp_vtally_t *t, const tp_fleet_t *f, int node, const tp_workload_t *w,
                    int sign);

/* Like tp_validate() for a result that only places or pends new work on top of
 * the tally's running set (no preemptions: a result with any is refused here as
 * a violation — validate those with tp_validate()). Checks every placement's
 * security, residency, GPU model and count, GPU capacity and node and domain
 * power of the nodes and domains it touches, and that every pending workload is
 * placed or pending with reasons. Same return values as tp_validate(); costs
 * O(pending + placements × domain depth), plus zeroing a word per node and per
 * domain, not O(fleet + running).
 * out->over_cap_by_running stays 0 (untouched nodes and domains are not looked at).
 * Gangs and tenant quotas are not restated against the tally: a result with
 * either is refused here too (fail closed); ask tp_validate_new_applies first. */
int tp_validate_new(const tp_fleet_t *f, const tp_state_t *s, const tp_vtally_t *t,
                    const tp_workloads_t *pending, const tp_result_t *res, int64_t now,
                    tp_violations_t *out);
/* true when tp_validate_new can judge this result: no preemptions, no gang among
 * the pending work, no tenant quotas in the fleet; else use tp_validate(). */
bool tp_validate_new_applies(const tp_fleet_t *f, const tp_workloads_t *pending,
                             const tp_result_t *res);

#endif
