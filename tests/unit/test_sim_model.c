/*
 * tests/unit/test_sim_model.c — the simulation model: batch work is conserved
 * whatever GPUs a job runs on and across preemption; wall-time jobs stay
 * available; no workload with a model runs where the model has no profile; a
 * warm start from a running-work file.
 */
#include "tests/unit/tp_test.h"

#include "sim/sim.h"
#include "sim/sim_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Model m at 2000 tokens/s per GPU on H100-SXM and 1000 on A100-80G; n on H100 only. */
#define PROFILES_MN                                                                      \
    " \"profiles\": ["                                                                   \
    "  {\"model\": \"m\", \"gpu_model\": \"H100-SXM\", \"tokens_per_s\": 2000, "         \
    "\"watts\": 700},"                                                                   \
    "  {\"model\": \"m\", \"gpu_model\": \"A100-80G\", \"tokens_per_s\": 1000, "         \
    "\"watts\": 400},"                                                                   \
    "  {\"model\": \"n\", \"gpu_model\": \"H100-SXM\", \"tokens_per_s\": 3000, "         \
    "\"watts\": 700}]}"

/* Two 8-GPU nodes: "fast-1" (H100-SXM: model m at 2000 tokens/s per GPU) listed
 * first, "slow-1" (A100-80G: m at 1000). Model n has a profile on H100 only. */
static const char two_speed_fleet[] =
    "{\"version\": 1, \"regions\": {\"eu-de\": {\"countries\": [\"DE\"]}},"
    " \"power_domains\": [{\"id\": \"site\", \"cap_w\": 100000}],"
    " \"nodes\": ["
    "  {\"id\": \"fast-1\", \"power_domain\": \"site\", \"region\": \"eu-de\","
    "   \"gpu_model\": \"H100-SXM\", \"gpus\": 8, \"cap_w\": 10000, \"idle_w\": 1000,"
    "   \"gpu_w\": 700},"
    "  {\"id\": \"slow-1\", \"power_domain\": \"site\", \"region\": \"eu-de\","
    "   \"gpu_model\": \"A100-80G\", \"gpus\": 8, \"cap_w\": 10000, \"idle_w\": 1000,"
    "   \"gpu_w\": 400}],"
    " \"policy\": {\"classes\": {\"public\": {}}}," PROFILES_MN;

static char *fleet_path(void)
{
    static char path[256];
    if (!path[0]) {
        char dir[200];
        snprintf(dir, sizeof dir, "/tmp/tp-sim-model-%d", (int)getpid());
        mkdir(dir, 0777);
        snprintf(path, sizeof path, "%s/fleet.json", dir);
        FILE *f = fopen(path, "w");
        if (f) {
            fputs(two_speed_fleet, f);
            fclose(f);
        }
    }
    return path;
}

/* Runs a first-fit scenario on the two-speed fleet; extra is spliced into the
 * top-level object (sources, events, batch, …). Returns the policy's KPIs (a new
 * reference) or NULL. */
static json_t *run_ff(double duration_s, const char *extra)
{
    char text[8192];
    snprintf(
        text, sizeof text,
        "{\"version\": 1, \"name\": \"model\", \"fleet\": \"%s\", \"duration_s\": %g,"
        " \"tick_s\": 10, \"sample_s\": 100, \"policies\": [\"first-fit\"], %s}",
        fleet_path(), duration_s, extra);
    tp_error_t err;
    tp_scenario_t *sc = NULL;
    if (tp_scenario_load_buffer("model.json", text, strlen(text), ".", &sc, &err) < 0) {
        fprintf(stderr, "  %s\n", err.text);
        return NULL;
    }
    tp_sim_opts_t o = {0};
    tp_sim_out_t *out = NULL;
    json_t *k = NULL;
    if (tp_sim_run(sc, &o, &out, &err) == 0) {
        const json_t *r =
            json_array_get(json_object_get(tp_sim_out_summary(out), "results"), 0);
        k = json_incref(json_object_get(json_object_get(r, "policies"), "first-fit"));
    } else {
        fprintf(stderr, "  %s\n", err.text);
    }
    tp_sim_out_free(out);
    tp_scenario_free(sc);
    return k;
}

static double num(const json_t *o, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *t = strtok_r(buf, ".", &save); t && o; t = strtok_r(NULL, ".", &save))
        o = json_object_get(o, t);
    return o ? json_number_value(o) : NAN;
}

/* One job of model m, 8 GPUs, 1000 s of work at the H100 reference. */
#define ONE_JOB(model)                                                                   \
    "\"sources\": [{\"type\": \"list\", \"jobs\": [{\"id\": \"J\", \"at_s\": 0, "        \
    "\"gpus\": 8, \"duration_s\": 1000, \"sensitivity\": \"public\", \"model\": "        \
    "\"" model "\"}]}]"
#define REF_H100 "\"batch\": {\"reference_gpu\": \"H100-SXM\"}"
#define SLOW_ONLY                                                                        \
    "\"events\": [{\"type\": \"gpu_failure\", \"at_s\": 0, \"nodes\": [\"fast-1\"], "    \
    "\"gpus\": 8}]"
#define FAST_FAILS_AT_500                                                                \
    "\"events\": [{\"type\": \"gpu_failure\", \"at_s\": 500, \"nodes\": [\"fast-1\"], "  \
    "\"gpus\": 8}]"

TP_TEST(sim_work_conserved_across_gpus_and_preemption)
{
    const double work_h = 8 * 1000 / 3600.0;
    /* On the fast node: done at 1000 s. */
    json_t *k = run_ff(1200, ONE_JOB("m") ", " REF_H100);
    TP_ASSERT(k);
    TP_CHECK_EQ_INT((long long)num(k, "jobs.completed"), 1);
    TP_CHECK(fabs(num(k, "jobs.completed_work_gpu_h") - work_h) < 1e-3);
    TP_CHECK(fabs(num(k, "jobs.work_done_gpu_h") - work_h) < 1e-3);
    json_decref(k);
    /* On the slow node only (half the speed): not done by 1200 s, done by 2100 s,
     * and the work credited is the same. */
    k = run_ff(1200, ONE_JOB("m") ", " REF_H100 ", " SLOW_ONLY);
    TP_ASSERT(k);
    TP_CHECK_EQ_INT((long long)num(k, "jobs.completed"), 0);
    TP_CHECK(fabs(num(k, "jobs.work_done_gpu_h") - 8 * 600 / 3600.0) < 1e-3);
    json_decref(k);
    k = run_ff(2100, ONE_JOB("m") ", " REF_H100 ", " SLOW_ONLY);
    TP_ASSERT(k);
    TP_CHECK_EQ_INT((long long)num(k, "jobs.completed"), 1);
    TP_CHECK(fabs(num(k, "jobs.completed_work_gpu_h") - work_h) < 1e-3);
    TP_CHECK(fabs(num(k, "jobs.work_done_gpu_h") - work_h) < 1e-3);
    json_decref(k);
    /* Evicted at 500 s after half its work: the other half runs on the slow node
     * (1000 s more), so it completes at 1500 s, not before, and nothing is lost
     * or counted twice. */
    k = run_ff(1490, ONE_JOB("m") ", " REF_H100 ", " FAST_FAILS_AT_500);
    TP_ASSERT(k);
    TP_CHECK_EQ_INT((long long)num(k, "evictions.gpu_failure"), 1);
    TP_CHECK_EQ_INT((long long)num(k, "jobs.completed"), 0);
    TP_CHECK(fabs(num(k, "jobs.work_done_gpu_h") - 8 * (500 + 495) / 3600.0) < 1e-3);
    json_decref(k);
    k = run_ff(1510, ONE_JOB("m") ", " REF_H100 ", " FAST_FAILS_AT_500);
    TP_ASSERT(k);
    TP_CHECK_EQ_INT((long long)num(k, "jobs.completed"), 1);
    TP_CHECK(fabs(num(k, "jobs.completed_work_gpu_h") - work_h) < 1e-3);
    TP_CHECK(fabs(num(k, "jobs.work_done_gpu_h") - work_h) < 1e-3);
    json_decref(k);
    /* The default reference is the GPU-weighted mean profile (1500 tokens/s here):
     * on the slow node 1000 s of work take 1500 s. */
    k = run_ff(1490, ONE_JOB("m") ", " SLOW_ONLY);
    TP_ASSERT(k);
    TP_CHECK_EQ_INT((long long)num(k, "jobs.completed"), 0);
    json_decref(k);
    k = run_ff(1510, ONE_JOB("m") ", " SLOW_ONLY);
    TP_ASSERT(k);
    TP_CHECK_EQ_INT((long long)num(k, "jobs.completed"), 1);
    json_decref(k);
}

TP_TEST(sim_wall_time_jobs_stay_available)
{
    /* Wall time: 1000 s whatever the GPU, and across the eviction. */
    json_t *k = run_ff(
        1010, ONE_JOB("m") ", \"batch\": {\"duration\": \"wall_time\"}, " SLOW_ONLY);
    TP_ASSERT(k);
    TP_CHECK_EQ_INT((long long)num(k, "jobs.completed"), 1);
    json_decref(k);
    k = run_ff(
        1010,
        ONE_JOB("m") ", \"batch\": {\"duration\": \"wall_time\"}, " FAST_FAILS_AT_500);
    TP_ASSERT(k);
    TP_CHECK_EQ_INT((long long)num(k, "jobs.completed"), 1);
    json_decref(k);
    /* Bad batch settings are refused with their path. */
    char text[2048];
    tp_error_t err;
    tp_scenario_t *sc = NULL;
    static const struct {
        const char *batch, *want;
    } bad[] = {
        {"{\"duration\": \"wall\"}", "$.batch.duration: expected \"work\" or"},
        {"{\"reference_gpu\": \"B200\"}", "$.batch.reference_gpu: no GPU model \"B200\""},
        {"{\"reference_gpu\": \"A100-80G\"}",
         "model \"n\" (a job source's) has no profile"},
        {"{\"speed\": 1}", "$.batch"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text,
                 "{\"version\": 1, \"name\": \"b\", \"fleet\": \"%s\", \"duration_s\": "
                 "60, " ONE_JOB("n") ", \"batch\": %s}",
                 fleet_path(), bad[i].batch);
        TP_CHECK(tp_scenario_load_buffer("b.json", text, strlen(text), ".", &sc, &err) <
                 0);
        TP_CHECK_CONTAINS(err.text, bad[i].want);
    }
}

TP_TEST(sim_no_zero_capacity_placement)
{
    /* Model n has no profile on the slow node: with the fast one failed, its job
     * and its deployment's replica wait (hardware) instead of running at 0. */
    json_t *k = run_ff(600, ONE_JOB("n") ", " SLOW_ONLY);
    TP_ASSERT(k);
    TP_CHECK_EQ_INT((long long)num(k, "placements"), 0);
    TP_CHECK(num(k, "pending_gpu_hours.by_reason.hardware") > 0);
    json_decref(k);
    k = run_ff(600,
               "\"deployments\": [{\"id\": \"d\", \"model\": \"n\", \"sensitivity\": "
               "\"public\", \"gpus\": 1, \"min_replicas\": 2}], " SLOW_ONLY);
    TP_ASSERT(k);
    TP_CHECK_EQ_INT((long long)num(k, "requests.replicas_started"), 0);
    TP_CHECK(num(k, "pending_gpu_hours.by_reason.hardware") > 0);
    json_decref(k);
    /* Both nodes up: the replicas start, on the fast node. */
    k = run_ff(600,
               "\"deployments\": [{\"id\": \"d\", \"model\": \"n\", \"sensitivity\": "
               "\"public\", \"gpus\": 1, \"min_replicas\": 2}]");
    TP_ASSERT(k);
    TP_CHECK_EQ_INT((long long)num(k, "requests.replicas_started"), 2);
    json_decref(k);
}

TP_TEST(sim_autoscaler_sizes_from_actual_capacity)
{
    /* Only the slow node (1,000 tokens/s per GPU for m) is up; the fleet's best
     * is 2,000. A steady ~3,000 tokens/s of requests needs ~4,300 at 70%: sized
     * as if on the best GPU that would be 3 replicas, a standing backlog; sized
     * from the replicas' actual capacity it is 5. */
    json_t *k =
        run_ff(3600, "\"deployments\": [{\"id\": \"d\", \"model\": \"m\", "
                     "\"sensitivity\": \"public\", \"gpus\": 1, \"min_replicas\": 1}], "
                     "\"sources\": [{\"type\": \"requests\", \"rate_per_s\": 10, "
                     "\"context_tokens\": 1000, \"generated_tokens\": 200, "
                     "\"deployments\": {\"d\": 1}}], " SLOW_ONLY);
    TP_ASSERT(k);
    double cap = num(k, "deployments.d.capacity_tps_end");
    double need = num(k, "deployments.d.need_tps_end");
    long long n = (long long)num(k, "deployments.d.replicas_end");
    TP_CHECK(need > 3500 && need < 5500);
    TP_CHECK_EQ_INT((long long)num(k, "deployments.d.pending_end"), 0);
    TP_CHECK(fabs(cap - 1000.0 * (double)n) < 1e-6); /* every replica on the slow node */
    TP_CHECK(cap >= need);       /* sized for what they really serve */
    TP_CHECK(cap - 1000 < need); /* and not more (no cooldown lag here) */
    TP_CHECK(num(k, "wait.requests_by_class.public.p95_s") < 60);
    json_decref(k);
}

TP_TEST(sim_per_window_kpis_and_warmup)
{
    /* The GPU failure at 500 s cuts the run into two windows: half the job's work
     * before it, the other half (on the slow node) and the completion after. */
    json_t *k = run_ff(1600, ONE_JOB("m") ", " REF_H100 ", " FAST_FAILS_AT_500);
    TP_ASSERT(k);
    const json_t *w0 = json_object_get(json_object_get(k, "windows"), "0-500"),
                 *w1 = json_object_get(json_object_get(k, "windows"), "500-1600");
    TP_ASSERT(w0 && w1);
    TP_CHECK_EQ_INT(json_object_size(json_object_get(k, "windows")), 2);
    TP_CHECK(fabs(num(w0, "work_done_gpu_h") - 8 * 500 / 3600.0) < 1e-3);
    TP_CHECK(fabs(num(w1, "work_done_gpu_h") - 8 * 500 / 3600.0) < 1e-3);
    TP_CHECK_EQ_INT((long long)num(w0, "jobs_completed"), 0);
    TP_CHECK_EQ_INT((long long)num(w1, "jobs_completed"), 1);
    TP_CHECK(fabs(num(w0, "energy_kwh") + num(w1, "energy_kwh") - num(k, "energy_kwh")) <
             1e-3);
    TP_CHECK(fabs(num(w0, "gpu_util") - 0.5) < 1e-3); /* 8 of 16 GPUs */
    TP_CHECK(json_object_get(w0, "warmup") == NULL);
    json_decref(k);
    /* A warm-up of 500 s: the KPIs cover [500, 1600) only. */
    k = run_ff(1600,
               ONE_JOB("m") ", " REF_H100 ", " FAST_FAILS_AT_500 ", \"warmup_s\": 500");
    TP_ASSERT(k);
    TP_CHECK(fabs(num(k, "jobs.work_done_gpu_h") - 8 * 500 / 3600.0) < 1e-3);
    TP_CHECK_EQ_INT((long long)num(k, "jobs.completed"), 1);
    TP_CHECK_EQ_INT((long long)num(k, "placements"), 1); /* the one after the failure */
    w0 = json_object_get(json_object_get(k, "windows"), "0-500");
    TP_ASSERT(w0);
    TP_CHECK(json_is_true(json_object_get(w0, "warmup")));
    json_decref(k);
    /* A warm-up must end before the run does. */
    char text[2048];
    tp_error_t err;
    tp_scenario_t *sc = NULL;
    snprintf(text, sizeof text,
             "{\"version\": 1, \"name\": \"w\", \"fleet\": \"%s\", \"duration_s\": 60, "
             "\"warmup_s\": 60}",
             fleet_path());
    TP_CHECK(tp_scenario_load_buffer("w.json", text, strlen(text), ".", &sc, &err) < 0);
    TP_CHECK_CONTAINS(err.text, "$.warmup_s");
}

TP_TEST(sim_wait_quantiles_within_one_percent)
{
    /* 1..100000 s: the exact p50 and p95 are 50000 and 95000; the bins are 2%
     * wide and report their geometric middle, so within 1%. */
    sim_hist_t *h = calloc(1, sizeof *h);
    TP_ASSERT(h);
    for (int i = 1; i <= 100000; i++)
        sim_hist_add(h, (double)i);
    TP_CHECK(fabs(sim_hist_quantile(h, 0.5) / 50000 - 1) < 0.01);
    TP_CHECK(fabs(sim_hist_quantile(h, 0.95) / 95000 - 1) < 0.01);
    TP_CHECK(sim_hist_quantile(h, 1.0) <= 100000);
    memset(h, 0, sizeof *h);
    for (int i = 0; i < 100; i++)
        sim_hist_add(h, 0.003 * i / 100); /* below 0.01 s: 0, within 0.01 s */
    TP_CHECK(sim_hist_quantile(h, 0.95) < 0.01);
    free(h);
}

/* ---- a warm start from a running-work file ("warm_start": {"running": FILE,
 * "remaining_s": …}): the work runs from t = 0, the KPIs count it (busy GPUs,
 * energy, work done, completions) but not as placements, and bad files are
 * refused with the file and its JSON path. */

/* "tee-1" (H100, TDX) and "plain-1" (A100, no TEE, no verifier), 8 GPUs each. */
static const char warm_fleet[] =
    "{\"version\": 1, \"regions\": {\"eu-de\": {\"countries\": [\"DE\"]}},"
    " \"power_domains\": [{\"id\": \"site\", \"cap_w\": 100000}],"
    " \"nodes\": ["
    "  {\"id\": \"tee-1\", \"power_domain\": \"site\", \"region\": \"eu-de\","
    "   \"gpu_model\": \"H100-SXM\", \"gpus\": 8, \"cap_w\": 10000, \"idle_w\": 1000,"
    "   \"gpu_w\": 700, \"cpu_tee\": \"tdx\", \"verifier\": \"v1\"},"
    "  {\"id\": \"plain-1\", \"power_domain\": \"site\", \"region\": \"eu-de\","
    "   \"gpu_model\": \"A100-80G\", \"gpus\": 8, \"cap_w\": 10000, \"idle_w\": 1000,"
    "   \"gpu_w\": 400}],"
    " \"policy\": {\"classes\": {\"public\": {}, \"secret\": {\"cpu_tee\": "
    "[\"tdx\"]}}}," PROFILES_MN;

static char dir[200];

static const char *put(const char *name, const char *text)
{
    static char path[8][300];
    static int k;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/tp-sim-warm-%d", (int)getpid());
        mkdir(dir, 0777);
    }
    char *p = path[k++ % 8];
    snprintf(p, 300, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

/* Loads a scenario on the warm fleet with the running file's text and the
 * warm_start remainder; runs first-fit when it loads and want_err is NULL. */
static json_t *run_warm(double duration_s, const char *running, const char *remaining,
                        const char *extra, const char *want_err)
{
    char text[8192];
    const char *fleet = put("fleet.json", warm_fleet);
    const char *rfile = put("running.json", running);
    snprintf(text, sizeof text,
             "{\"version\": 1, \"name\": \"warm\", \"fleet\": \"%s\", \"duration_s\": %g,"
             " \"tick_s\": 10, \"sample_s\": 100, \"policies\": [\"first-fit\"],"
             " \"warm_start\": {\"running\": \"%s\", \"remaining_s\": %s}%s}",
             fleet, duration_s, rfile, remaining, extra);
    tp_error_t err;
    tp_scenario_t *sc = NULL;
    if (tp_scenario_load_buffer("warm.json", text, strlen(text), ".", &sc, &err) < 0) {
        if (!want_err)
            fprintf(stderr, "  %s\n", err.text);
        TP_CHECK(want_err != NULL);
        if (want_err)
            TP_CHECK_CONTAINS(err.text, want_err);
        return NULL;
    }
    tp_sim_opts_t o = {0};
    tp_sim_out_t *out = NULL;
    json_t *k = NULL;
    if (tp_sim_run(sc, &o, &out, &err) == 0) {
        TP_CHECK(want_err == NULL);
        const json_t *r =
            json_array_get(json_object_get(tp_sim_out_summary(out), "results"), 0);
        k = json_incref(json_object_get(json_object_get(r, "policies"), "first-fit"));
    } else {
        if (!want_err)
            fprintf(stderr, "  %s\n", err.text);
        TP_CHECK(want_err != NULL);
        if (want_err)
            TP_CHECK_CONTAINS(err.text, want_err);
    }
    tp_sim_out_free(out);
    tp_scenario_free(sc);
    return k;
}

#define RUN_TWO                                                                          \
    "[{\"id\": \"a\", \"gpus\": 8, \"sensitivity\": \"secret\", \"model\": \"m\","       \
    "  \"node\": \"tee-1\", \"priority\": 20},"                                          \
    " {\"id\": \"b\", \"gpus\": 4, \"sensitivity\": \"public\", \"node\": \"plain-1\"}]"

TP_TEST(sim_warm_start_runs_from_zero_and_counts)
{
    /* 1000 s of work each at the reference (m: the GPU-weighted mean, 1500
     * tokens/s): "a" on the H100 (2000) runs 750 s; "b" (no model) 1000 s. */
    json_t *k = run_warm(700, RUN_TWO, "1000", "", NULL);
    TP_ASSERT(k);
    TP_CHECK_EQ_INT((long long)num(k, "placements"), 0); /* started, not placed */
    TP_CHECK_EQ_INT((long long)num(k, "jobs.arrived"), 2);
    TP_CHECK_EQ_INT((long long)num(k, "jobs.completed"), 0);
    TP_CHECK_EQ_INT((long long)num(k, "jobs.running_end"), 2);
    TP_CHECK(fabs(num(k, "gpu_util") - 12 / 16.0) < 1e-3); /* busy from t = 0 */
    /* Energy: idle 2 kW + 8 × 700 W + 4 × 400 W for 700 s. */
    TP_CHECK(fabs(num(k, "energy_kwh") - (2000 + 5600 + 1600) * 700 / 3.6e6) < 1e-3);
    TP_CHECK(num(k, "tokens_by_origin.batch_trace") >
             0); /* from a file, not a generator */
    /* Busy GPU-hours by origin: all of it from the file (not a generator). */
    TP_CHECK(fabs(num(k, "gpu_hours_by_origin.batch_trace") - 12 * 700 / 3600.0) < 1e-3);
    TP_CHECK(num(k, "gpu_hours_by_origin.batch_generated") == 0);
    TP_CHECK(num(k, "gpu_hours_by_origin.trace_share") == 1);
    TP_CHECK(fabs(num(k, "jobs.work_done_gpu_h") -
                  (8 * 700 * 2000 / 1500.0 + 4 * 700) / 3600) < 1e-2);
    json_decref(k);
    k = run_warm(1100, RUN_TWO, "1000", "", NULL);
    TP_ASSERT(k);
    TP_CHECK_EQ_INT((long long)num(k, "jobs.completed"), 2);
    TP_CHECK(fabs(num(k, "jobs.completed_work_gpu_h") - 12 * 1000 / 3600.0) < 1e-3);
    TP_CHECK_EQ_INT((long long)num(k, "placements"), 0);
    json_decref(k);
    /* Warm work occupies its GPUs: a new 8-GPU public job waits (capacity) until
     * "a" frees tee-1 at 750 s. */
#define NEW_JOB                                                                          \
    ", \"sources\": [{\"type\": \"list\", \"jobs\": [{\"id\": \"J\", \"at_s\": 0, "      \
    "\"gpus\": 8, \"duration_s\": 100, \"sensitivity\": \"public\"}]}]"
    k = run_warm(740, RUN_TWO, "1000", NEW_JOB, NULL);
    TP_ASSERT(k);
    TP_CHECK_EQ_INT((long long)num(k, "placements"), 0);
    TP_CHECK(num(k, "pending_gpu_hours.by_reason.capacity") > 0);
    json_decref(k);
    k = run_warm(800, RUN_TWO, "1000", NEW_JOB, NULL);
    TP_ASSERT(k);
    TP_CHECK_EQ_INT((long long)num(k, "placements"), 1);
    TP_CHECK(num(k, "wait.jobs_p95_worst_s") >= 740);
    json_decref(k);
    /* Drawn remainders (seeded): the same run twice gives the same figures. */
    k = run_warm(3000, RUN_TWO, "{\"mean\": 1200, \"sigma\": 1}", "", NULL);
    json_t *k2 = run_warm(3000, RUN_TWO, "{\"mean\": 1200, \"sigma\": 1}", "", NULL);
    TP_ASSERT(k && k2);
    TP_CHECK(num(k, "jobs.work_done_gpu_h") == num(k2, "jobs.work_done_gpu_h"));
    TP_CHECK(num(k, "jobs.work_done_gpu_h") > 0);
    json_decref(k);
    json_decref(k2);
}

TP_TEST(sim_warm_start_refuses_bad_running_work)
{
    static const struct {
        const char *running, *remaining, *want;
    } bad[] = {
        /* unknown node: the running file's path */
        {"[{\"id\": \"a\", \"gpus\": 1, \"sensitivity\": \"public\", \"node\": \"x-9\"}]",
         "10", "running.json: $[0].node: no node \"x-9\""},
        /* over capacity: 6 + 4 GPUs on an 8-GPU node */
        {"[{\"id\": \"a\", \"gpus\": 6, \"sensitivity\": \"public\", \"node\": "
         "\"tee-1\"},"
         " {\"id\": \"b\", \"gpus\": 4, \"sensitivity\": \"public\", \"node\": "
         "\"tee-1\"}]",
         "10",
         "$[1].gpus: node \"tee-1\" has 8 healthy GPUs at the start; the running "
         "work on it needs 10"},
        /* policy-ineligible: a secret (TDX) workload on the plain node */
        {"[{\"id\": \"a\", \"gpus\": 1, \"sensitivity\": \"secret\", \"node\": "
         "\"plain-1\"}]",
         "10",
         "running.json: $[0]: not eligible on node \"plain-1\" at the start (fails "
         "cpu_tee"},
        /* its own GPU-model list excludes the node */
        {"[{\"id\": \"a\", \"gpus\": 1, \"sensitivity\": \"public\", \"gpu_models\": "
         "[\"A100-80G\"], \"node\": \"tee-1\"}]",
         "10", "$[0]: not eligible on node \"tee-1\" at the start (fails gpu_model"},
        /* a model without a profile on the node's GPU */
        {"[{\"id\": \"a\", \"gpus\": 1, \"sensitivity\": \"public\", \"model\": \"n\", "
         "\"node\": \"plain-1\"}]",
         "10", "$[0].model: \"n\" has no profile on A100-80G"},
        /* not the running format */
        {"[{\"id\": \"a\", \"gpus\": 1, \"sensitivity\": \"public\"}]", "10",
         "$.warm_start.running: "},
        {"[{\"id\": \"a\", \"gpus\": 1, \"sensitivity\": \"public\", \"node\": "
         "\"tee-1\", "
         "\"remaining_s\": 5}]",
         "10", "$[0]"},
        /* the remainder */
        {"[]", "0", "$.warm_start.remaining_s"},
        {"[]", "{\"mean\": 10, \"p\": 1}", "$.warm_start.remaining_s"},
        {"[]", "\"10\"", "$.warm_start.remaining_s"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *k = run_warm(60, bad[i].running, bad[i].remaining, "", bad[i].want);
        TP_CHECK(k == NULL);
        json_decref(k);
    }
    /* A node an add_nodes event brings later is not there at the start. */
    json_t *k = run_warm(
        60,
        "[{\"id\": \"a\", \"gpus\": 1, \"sensitivity\": \"public\", \"node\": \"n-1\"}]",
        "10",
        ", \"events\": [{\"type\": \"add_nodes\", \"at_s\": 30, \"nodes\": [{\"id\": "
        "\"n-1\", \"power_domain\": \"site\", \"region\": \"eu-de\", \"gpu_model\": "
        "\"A100-80G\", \"gpus\": 8, \"cap_w\": 10000, \"idle_w\": 1000, \"gpu_w\": "
        "400}]}]",
        "$[0].node: \"n-1\" is not in the fleet at the start");
    TP_CHECK(k == NULL);
    /* An unknown key of warm_start. */
    k = run_warm(60, "[]", "10, \"y\": 1", "", "$.warm_start");
    TP_CHECK(k == NULL);
}
