/*
 * gen/gen.h — realistic synthetic inputs: fleets, workload sets and observed
 * states, deterministic for a seed. Used by `trustplace gen-*`, the benchmarks
 * and the property tests. Results are new jansson documents (caller decrefs) in
 * exactly the file formats of docs/formats.md, so they go through the same
 * strict loaders as a user's files.
 */
#ifndef TP_GEN_H
#define TP_GEN_H

#include "model/model.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    int nodes; /* ≥ 1 */
    uint64_t seed;
    const char *regions; /* "eu-de,eu-fr,us-east" or "name:CC,…"; NULL: that default */
    /* > 0: policy.tenants with that many tenants "tenant-01"…, in groups of five
     * under "org-1"…; quotas share half the fleet's GPUs equally, limits are
     * 1.5 × the quota (groups: 1.25 × the sum of their members' quotas). */
    int tenants;
    int rack_nodes; /* nodes per rack; 0: 8 */
} tp_gen_fleet_opts_t;

/* NULL with err set on bad options (unknown region without ":CC", …) or ENOMEM. */
json_t *tp_gen_fleet(const tp_gen_fleet_opts_t *o, tp_error_t *err);
/* `count` pending workloads for fleet f (its regions, GPU models, classes, models;
 * its tenants when it declares some, those without sub-tenants). */
json_t *tp_gen_workloads(const tp_fleet_t *f, int count, uint64_t seed, tp_error_t *err);
/* The same, with a share of gangs: gang_share of the workloads (0..1) ask for
 * 2–16 nodes of 8 GPUs (4 GPUs for one in four), `together: rack` up to the
 * fleet's largest rack, `row` above (when the fleet has those kinds).
 * gang_share 0 gives exactly tp_gen_workloads(). */
json_t *tp_gen_workloads_gangs(const tp_fleet_t *f, int count, uint64_t seed,
                               double gang_share, tp_error_t *err);
/* An observed state of fleet f at time `now`: mostly healthy and attested, with
 * some stale, contraindicated and missing attestations, failed GPUs, lowered caps,
 * BMCs without a country and a few countries contradicting the declared region. */
json_t *tp_gen_state(const tp_fleet_t *f, uint64_t seed, int64_t now, tp_error_t *err);

/* Writes a document with one array element / object member per line below the
 * top level: readable, diff-able, and fast for 10,000-node fleets. */
int tp_gen_write(FILE *out, const json_t *doc);

/* Default observation time of generated states (2026-11-18T09:46:40Z). */
#define TP_GEN_DEFAULT_NOW 1795000000

#endif
