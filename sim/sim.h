/*
 * sim/sim.h — `trustplace sim`: discrete-event what-if simulation of a fleet
 * under several placement policies. See docs/sim.md for the scenario format,
 * the event model, the scheduling tick and the KPIs.
 *
 * A run is: scenario (+ --seed, --policy, --shard) → for each of its parameter
 * variants this shard owns, for each policy, one deterministic simulation of
 * the same arrival stream → results (summary.json, timeseries.csv,
 * report.html). Same scenario and seed, same bytes in summary.json.
 *
 * Policies are a small interface (tp_sim_policy_t): given the simulated fleet,
 * the observed state, the pending and running work and `now`, return a
 * tp_result_t exactly like the service's placement answer. The engine applies
 * it (preemptions, then placements) and measures what happened.
 */
#ifndef TP_SIM_H
#define TP_SIM_H

#include "model/model.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* ---- policies ------------------------------------------------------------------ */

/* What a policy sees at a scheduling tick; everything borrowed for the call. */
typedef struct {
    const tp_fleet_t *fleet;
    const tp_state_t *state;
    const tp_workloads_t *pending, *running; /* running: each with .node */
    int64_t now;                             /* Unix seconds */
} tp_sim_view_t;

typedef struct tp_sim_policy tp_sim_policy_t;
struct tp_sim_policy {
    const char *name; /* static */
    void *ctx;        /* the policy's own */
    /* On success *out is a new result (caller frees) whose indices refer to
     * v->pending (placements, pending) and v->running (preemptions). */
    int (*decide)(tp_sim_policy_t *p, const tp_sim_view_t *v, tp_result_t **out,
                  tp_error_t *err);
    void (*fini)(tp_sim_policy_t *p);
    /* Optional: the policy's own figures for the summary (a new object), or NULL.
     * Must be deterministic for the same inputs. */
    json_t *(*report)(tp_sim_policy_t *p);
};

/* The policies, in report order: "trustplace", "capacity-first", "first-fit",
 * "efficiency-greedy". NULL-terminated, static. */
extern const char *const tp_sim_policy_names[];
/* Does the trustplace policy call the real solver (solver/solver.h)? */
bool tp_sim_trustplace_uses_solver(void);

/* Settings of the trustplace policy's solver calls (scenario key "solver"). */
typedef struct {
    const char *method;   /* "aggregate" (default), "auto", "exact" */
    double time_limit_ms; /* ≤ 0: the solver's default */
} tp_sim_policy_opts_t;

/* A new policy by name (caller frees with tp_sim_policy_free); TP_EINVAL when
 * the name is unknown. o may be NULL (defaults). */
int tp_sim_policy_new(const char *name, const tp_sim_policy_opts_t *o,
                      tp_sim_policy_t **out, tp_error_t *err);
void tp_sim_policy_free(tp_sim_policy_t *p);

/* ---- scenarios ------------------------------------------------------------------ */

typedef struct tp_scenario tp_scenario_t;

/* Loads a scenario (strict: unknown keys are errors with their JSON path). Files
 * it names are resolved against the scenario's directory; "${TP_SHARED}" expands
 * to $TP_SHARED, else "../shared". The fleet and every trace are loaded and
 * checked here, so a bad input fails before any simulation runs. */
int tp_scenario_load(const char *path, tp_scenario_t **out, tp_error_t *err);
/* Same from memory; base_dir resolves relative file names (NULL: "."). */
int tp_scenario_load_buffer(const char *name, const char *text, size_t len,
                            const char *base_dir, tp_scenario_t **out, tp_error_t *err);
void tp_scenario_free(tp_scenario_t *s);
/* Number of parameter variants (the product of the grid's value lists; 1 without
 * a grid). */
int tp_scenario_variants(const tp_scenario_t *s);
const char *tp_scenario_name(const tp_scenario_t *s);

/* ---- running ---------------------------------------------------------------------- */

typedef struct {
    const char *policies; /* "a,b,…"; NULL: the scenario's list */
    bool seed_set;
    uint64_t seed;                /* with seed_set: overrides the scenario's */
    const char *seeds;            /* "1-10", "1,3,5": replicas over these seeds, reported
                                     with mean and 95% CI (overrides seed and the
                                     scenario's "seeds"); NULL: none */
    int shard_index, shard_count; /* run variants v with v % count == index; 0/1 */
    bool no_validate;             /* skip tp_validate on every decision */
    /* Called at every KPI sample with the fraction done, what runs ("policy
     * t=12.5h", simulated time) and the events processed so far; NULL: silent. */
    void (*progress)(void *arg, double done, const char *what, long long events);
    void *progress_arg;
} tp_sim_opts_t;

/* Results of a run or a merge. */
typedef struct tp_sim_out tp_sim_out_t;

int tp_sim_run(const tp_scenario_t *s, const tp_sim_opts_t *o, tp_sim_out_t **out,
               tp_error_t *err);
void tp_sim_out_free(tp_sim_out_t *o);
/* summary.json's document (borrowed). Deterministic: no wall-clock figures. */
const json_t *tp_sim_out_summary(const tp_sim_out_t *o);
/* The timeseries.csv text (borrowed, NUL-terminated). */
const char *tp_sim_out_timeseries(const tp_sim_out_t *o);
/* Wall time and events of the run (not in summary.json). */
void tp_sim_out_perf(const tp_sim_out_t *o, double *wall_s, long long *events);
/* Writes DIR/summary.json, DIR/timeseries.csv, DIR/report.html (creates DIR). */
int tp_sim_out_write(const tp_sim_out_t *o, const char *dir, tp_error_t *err);
/* The summary table, for people. */
void tp_sim_out_print(const tp_sim_out_t *o, FILE *f);
/* Combines shard output directories into one result, as if unsharded. */
int tp_sim_merge(const char *const *dirs, int ndirs, tp_sim_out_t **out, tp_error_t *err);
/* The report page of a result (caller frees). */
char *tp_sim_report_html(const json_t *summary, const char *timeseries_csv);

#endif
