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

#endif
