/*
 * tests/unit/test_solver_fixture.h — random small instances for the solver tests:
 * fleets with two racks under a site, real policy classes, attestation states
 * from fresh to stale to missing, lowered caps, failed GPUs, running work.
 * Everything goes through the strict loaders, like a user's files.
 */
#ifndef TP_TEST_SOLVER_FIXTURE_H
#define TP_TEST_SOLVER_FIXTURE_H

#include "model/model.h"
#include "util/rng.h"

#include <stdbool.h>
#include <stdint.h>

#define SF_NOW 1795000000LL

typedef struct {
    tp_fleet_t *f;
    tp_state_t *s;
    tp_workloads_t *pending, *running;
} sf_inst_t;

typedef struct {
    int nodes, pending, running; /* counts (running: attempts) */
    bool tight;                  /* caps that bind */
    uint64_t shuffle;            /* ≠ 0: the same instance with nodes, domains and
                                    workloads in an order drawn from this seed */
} sf_opts_t;

/* 0, or -1 with a message printed. */
int sf_make(tp_rng_t *r, const sf_opts_t *o, sf_inst_t *in);
void sf_free(sf_inst_t *in);
/* tp_solve at SF_NOW with a generous time limit; NULL (and a test failure
 * recorded) when it fails. */
#include "solver/solver.h"
tp_solution_t *sf_solve(const sf_inst_t *in, tp_solver_method_t m);

/* The final load of r: running work, minus preemptions, plus placements.
 * Caller frees (tp_load_free). */
#include "policy/policy.h"
tp_load_t *sf_final_load(const sf_inst_t *in, const tp_result_t *r);

/* Loads doc (borrowed) into *out: kind -1 a fleet, 2 a state (against f),
 * else workloads of that tp_wl_kind_t. 0, or -1 with the error printed. */
#include <jansson.h>
int sf_load(json_t *doc, const char *what, int kind, const tp_fleet_t *f, void *out);
/* Fisher–Yates on a JSON array, with its own generator. */
void sf_shuffle(json_t *a, tp_rng_t *r);
/* docs/solver.md's objective, restated for the tests' own scoring: trust(n)
 * (0–4: CPU TEE declared or attested, GPU CC likewise, an affirming
 * attestation, a BMC country in the node's region) and eff, tokens_per_s /
 * watts of the (AI model, GPU model) profile, 0 without one. */
int sf_trust(const sf_inst_t *in, int n);
double sf_eff(const tp_fleet_t *f, int model, int gm);
/* The exhaustive searches' tenant accounting: with sign > 0, false (and
 * nothing taken) where w's GPUs would pass the limit of its tenant or of a
 * parent; else use[t] += sign × w's GPUs up its tenant chain. use NULL (no
 * tenants tracked): true. */
bool sf_tenant_take(const tp_fleet_t *f, long *use, const tp_workload_t *w, int sign);
/* Two threads that burn the CPU until sf_burn_stop(), for the tests that a
 * time limit is a work budget, not the clock: 0, or -1 (none started). */
int sf_burn_start(void);
void sf_burn_stop(void);

#endif
