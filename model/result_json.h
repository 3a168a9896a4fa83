/*
 * model/result_json.h — the placement result of FORMATS.md as JSON: what `place`
 * prints with --json and what the service returns as a decision's body.
 *
 *   {"placements":  [{"workload": "w-17", "node": "a1-n01", "gpus": 2}],
 *    "pending":     [{"workload": "w-18", "reasons": {"cpu_tee": 812}}],
 *    "preemptions": [{"workload": "w-3", "node": "b2-n07", "why":
 * "power_domain:rack-b2"}], "stats": {"solve_ms": 412.5, "objective": 123.4, "bound":
 * 124.0, "gap": 0.005, "nodes": 10000, "workloads": 2000, …}}
 *
 * Workload indices. tp_result_t's placements and pending entries name a pending
 * workload by its index in `pending`. A producer that stops running work and
 * starts it elsewhere (a move forced by a power cap) names that running workload
 * as pending->n + its index in `running`; such a placement is written with an
 * extra "from": the node it was preempted on (the preemption itself is listed
 * under "preemptions"), and such a pending entry means the preempted work now
 * waits. Preemptions always name running indices.
 *
 * Gangs. A pending gang's members are placements sharing its index, one per
 * node; they are written as one entry at the first member, with "node" that
 * member's node, "gpus" per member, and "members" the nodes of all of them:
 *   {"workload": "train-1", "node": "a1-n01", "gpus": 8,
 *    "members": ["a1-n01", "a1-n02"]}
 * A running gang is stopped whole: one preemption per member node.
 */
#ifndef TP_MODEL_RESULT_JSON_H
#define TP_MODEL_RESULT_JSON_H

#include "model/model.h"

#include <jansson.h>

/* What a producer knows beyond tp_result_t; every field is optional (zero/NULL:
 * left out of "stats"). Borrowed for the duration of the call. */
typedef struct {
    int nodes, workloads, running; /* instance size: fleet nodes, pending, running */
    const char *method;            /* how the result was found, e.g. "lp+pack" */
    double placed_gpus;            /* GPUs placed */
    double weighted_gpus;          /* Σ (1 + priority) × GPUs placed */
    double tokens_per_j;           /* fleet tokens per joule of the placed work */
    /* Caps that running work still exceeds after every allowed preemption,
     * "power_domain:rack-b2" / "power_node:a1-n01": written as "caps_unmet". */
    const char *const *caps_unmet;
    int ncaps_unmet;
} tp_result_meta_t;

/* The id of the workload a result index names (see above); NULL when out of range. */
const char *tp_result_workload_id(const tp_workloads_t *pending,
                                  const tp_workloads_t *running, int index);

/* A new JSON document (caller decrefs), or NULL on ENOMEM. running may be NULL
 * when the result names no running work; meta may be NULL. */
json_t *tp_result_to_json(const tp_fleet_t *f, const tp_workloads_t *pending,
                          const tp_workloads_t *running, const tp_result_t *r,
                          const tp_result_meta_t *meta);

#endif
