/*
 * tests/unit/test_sim_engine.c — the simulator: deterministic event order, a
 * tiny scenario whose KPIs are worked out by hand, capacity-first's violations
 * against trustplace's pending work, the validator on every trustplace
 * decision, determinism, and shard + merge = the unsharded run.
 */
#include "tests/unit/tp_test.h"

#include "sim/heap.h"
#include "sim/sim.h"

#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the event heap ------------------------------------------------------------------
 */

TP_TEST(sim_heap_orders_simultaneous_events)
{
    tp_heap_t h;
    tp_event_t e, out;
    tp_heap_init(&h);
    /* (t, cls, tag): pushed scrambled; equal (t, cls) must keep push order. */
    static const int in[][3] = {{5, 4, 0}, {5, 2, 1}, {1, 9, 2}, {5, 2, 3}, {5, 0, 4},
                                {3, 3, 5}, {5, 2, 6}, {3, 3, 7}, {0, 5, 8}, {5, 4, 9}};
    static const int want[] = {8, 2, 5, 7, 4, 1, 3, 6, 0, 9};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        e = (tp_event_t){.t = in[i][0], .cls = in[i][1], .arg = in[i][2]};
        TP_ASSERT(tp_heap_push(&h, &e) == 0);
    }
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        TP_ASSERT(tp_heap_pop(&h, &out) == 1);
        TP_CHECK_EQ_INT(out.arg, want[i]);
    }
    TP_CHECK_EQ_INT(tp_heap_pop(&h, &out), 0);
    /* Many equal events: strictly in push order. */
    for (int i = 0; i < 5000; i++) {
        e = (tp_event_t){.t = 7, .cls = 1, .arg = i};
        tp_heap_push(&h, &e);
    }
    for (int i = 0; i < 5000; i++) {
        tp_heap_pop(&h, &out);
        if (out.arg != i) {
            TP_CHECK_EQ_INT(out.arg, i);
            break;
        }
    }
    tp_heap_fini(&h);
}

/* ---- helpers
 * ---------------------------------------------------------------------------- */

static const char tiny_fleet[] =
    "{\"version\": 1, \"regions\": {\"eu-de\": {\"countries\": [\"DE\"]}},"
    " \"power_domains\": [{\"id\": \"site\", \"cap_w\": 100000}],"
    " \"nodes\": ["
    "  {\"id\": \"tee-1\", \"power_domain\": \"site\", \"region\": \"eu-de\", "
    "\"gpu_model\": "
    "\"H100-SXM\", \"gpus\": 8, \"cpu_tee\": \"tdx\", \"gpu_cc\": true, \"cap_w\": "
    "10000, "
    "\"idle_w\": 1000, \"gpu_w\": 500, \"verifier\": \"v1\"},"
    "  {\"id\": \"plain-1\", \"power_domain\": \"site\", \"region\": \"eu-de\", "
    "\"gpu_model\": \"H100-SXM\", \"gpus\": 8, \"cap_w\": 10000, \"idle_w\": 1000, "
    "\"gpu_w\": "
    "500}],"
    " \"policy\": {\"classes\": {\"public\": {}, \"confidential\": {\"cpu_tee\": "
    "[\"tdx\"], "
    "\"gpu_cc\": true, \"attestation\": {\"min_status\": \"affirming\", \"max_age_s\": "
    "3600}}}}}";

/* A one-hour scenario on tiny_fleet with three jobs at t = 0:
 *   A public 4 GPUs 1000 s; B confidential 8 GPUs 2000 s prio 10;
 *   C confidential 8 GPUs 1000 s prio 5. */
static const char tiny_scenario[] =
    "{\"version\": 1, \"name\": \"tiny\", \"fleet\": \"%s\", \"duration_s\": 3600,"
    " \"tick_s\": 10, \"sample_s\": 600, \"seed\": 3,"
    " \"sources\": [{\"type\": \"list\", \"jobs\": ["
    "  {\"id\": \"A\", \"at_s\": 0, \"gpus\": 4, \"duration_s\": 1000, \"sensitivity\": "
    "\"public\"},"
    "  {\"id\": \"B\", \"at_s\": 0, \"gpus\": 8, \"duration_s\": 2000, \"sensitivity\": "
    "\"confidential\", \"priority\": 10},"
    "  {\"id\": \"C\", \"at_s\": 0, \"gpus\": 8, \"duration_s\": 1000, \"sensitivity\": "
    "\"confidential\", \"priority\": 5}]}]}";

static char *write_tmp(const char *name, const char *text)
{
    static char dir[256];
    char *path = malloc(512);
    if (!dir[0])
        snprintf(dir, sizeof dir, "/tmp/tp-sim-test-%d", (int)getpid());
    mkdir(dir, 0777);
    snprintf(path, 512, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static tp_scenario_t *load_text(const char *text, tp_error_t *err)
{
    tp_scenario_t *sc = NULL;
    if (tp_scenario_load_buffer("test.json", text, strlen(text), ".", &sc, err) < 0)
        fprintf(stderr, "  %s\n", err->text);
    return sc;
}

static tp_scenario_t *tiny(tp_error_t *err)
{
    char *fleet = write_tmp("tiny-fleet.json", tiny_fleet);
    char text[4096];
    snprintf(text, sizeof text, tiny_scenario, fleet);
    free(fleet);
    return load_text(text, err);
}

static const json_t *kpis(const tp_sim_out_t *o, int variant, const char *policy)
{
    const json_t *r = json_array_get(json_object_get(tp_sim_out_summary(o), "results"),
                                     (size_t)variant);
    return json_object_get(json_object_get(r, "policies"), policy);
}

static double num(const json_t *o, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *t = strtok_r(buf, ".", &save); t && o; t = strtok_r(NULL, ".", &save))
        o = json_object_get(o, t);
    if (!o)
        fprintf(stderr, "  no %s in the summary\n", path);
    return o ? json_number_value(o) : NAN;
}

/* ---- the hand-checked scenario
 * ----------------------------------------------------------- */

TP_TEST(sim_tiny_scenario_exact_kpis)
{
    tp_error_t err;
    tp_scenario_t *sc = tiny(&err);
    TP_ASSERT(sc);
    tp_sim_opts_t o = {.policies = "trustplace,capacity-first"};
    tp_sim_out_t *out = NULL;
    TP_ASSERT(tp_sim_run(sc, &o, &out, &err) == 0);
    const json_t *tp = kpis(out, 0, "trustplace"), *cf = kpis(out, 0, "capacity-first");
    TP_ASSERT(tp && cf);
    /* trustplace, priority order: B → tee-1; C finds no compliant room and waits;
     * A → plain-1 (plain nodes first among equals). A ends at 1000, B at 2000, C
     * runs 2000..3000 on tee-1. */
    TP_CHECK_EQ_INT(num(tp, "placements"), 3);
    TP_CHECK_EQ_INT(num(tp, "security_violations.placements"), 0);
    TP_CHECK_EQ_INT(num(tp, "preemptions"), 0);
    TP_CHECK_EQ_INT(num(tp, "jobs.completed"), 3);
    TP_CHECK_EQ_INT(num(tp, "wait.by_class.confidential.n"), 2);
    TP_CHECK_EQ_DBL(num(tp, "wait.by_class.confidential.max_s"), 2000, 1e-9);
    TP_CHECK_EQ_DBL(num(tp, "wait.by_class.public.max_s"), 0, 1e-9);
    /* Idle 2 kW all hour + 500 W per busy GPU: 7.2 + 2 + 8 + 4 MJ = 21.2 MJ. */
    TP_CHECK_EQ_DBL(num(tp, "energy_kwh"), 21.2e6 / 3.6e6, 1e-4);
    /* 28,000 busy GPU-s of 16 × 3600. */
    TP_CHECK_EQ_DBL(num(tp, "gpu_util"), 28000.0 / 57600, 1e-6);
    /* C waits 2000 s with 8 GPUs. */
    TP_CHECK_EQ_DBL(num(tp, "pending_gpu_hours.by_class.confidential"), 16000.0 / 3600,
                    1e-5);
    /* Samples at 0, 600, …: TEE share 8/12, 8/12, 1, 1, 1 (then nothing runs). */
    TP_CHECK_EQ_DBL(num(tp, "tee_share"), (2.0 / 3 + 2.0 / 3 + 3) / 5, 1e-5);
    TP_CHECK_EQ_DBL(num(tp, "sensitive_in_tee"), 1, 1e-9);
    TP_CHECK_EQ_INT(num(tp, "validated"), num(tp, "decisions"));
    TP_CHECK_EQ_INT(num(tp, "validator_violations"), 0);
    /* capacity-first, arrival order: A → tee-1 (first fit); B finds no compliant
     * room and spills onto plain-1 — one violation of cpu_tee, gpu_cc and
     * attestation_missing, 8 GPUs for 2000 s; C waits for A, then takes tee-1. */
    TP_CHECK_EQ_INT(num(cf, "security_violations.placements"), 1);
    TP_CHECK_EQ_INT(num(cf, "security_violations.by_predicate.cpu_tee"), 1);
    TP_CHECK_EQ_INT(num(cf, "security_violations.by_predicate.gpu_cc"), 1);
    TP_CHECK_EQ_INT(num(cf, "security_violations.by_predicate.attestation_missing"), 1);
    TP_CHECK_EQ_DBL(num(cf, "security_violations.gpu_hours"), 16000.0 / 3600, 1e-5);
    TP_CHECK_EQ_DBL(num(cf, "wait.by_class.confidential.max_s"), 1000, 1e-9);
    TP_CHECK_EQ_DBL(num(cf, "energy_kwh"), 21.2e6 / 3.6e6, 1e-4);
    /* The validator, which the engine runs on every decision, saw it too. */
    TP_CHECK(num(cf, "validator_violations") >= 1);
    tp_sim_out_free(out);
    tp_scenario_free(sc);
}

/* A scenario built to provoke spills: a generated fleet, sensitive-heavy batch
 * work arriving faster than compliant capacity frees up. */
static const char provoke[] =
    "{\"version\": 1, \"name\": \"provoke\","
    " \"fleet\": {\"generate\": {\"nodes\": 48, \"regions\": \"eu-de,eu-fr\", \"seed\": "
    "5}},"
    " \"duration_s\": 21600, \"tick_s\": 30, \"sample_s\": 900, \"seed\": 11,"
    " \"sources\": [{\"type\": \"jobs\", \"rate_per_h\": 90,"
    "   \"duration_s\": {\"mean\": 3600, \"sigma\": 0.5},"
    "   \"sensitivity\": {\"public\": 0.3, \"confidential\": 0.4, \"regulated\": 0.3},"
    "   \"residency\": {\"eu-de\": 0.5, \"eu-fr\": 0.5}, \"models\": {\"llama-8b\": 1}}],"
    " \"events\": [{\"type\": \"attestation_revoke\", \"at_s\": 7200, \"duration_s\": "
    "3600,"
    "   \"cpu_tee\": \"tdx\", \"count\": 4},"
    "  {\"type\": \"power_cap\", \"at_s\": 10800, \"domain\": \"site-eu-de\", "
    "\"factor\": 0.7,"
    "   \"duration_s\": 3600}]}";

TP_TEST(sim_capacity_first_violates_trustplace_waits)
{
    tp_error_t err;
    tp_scenario_t *sc = load_text(provoke, &err);
    TP_ASSERT(sc);
    tp_sim_opts_t o = {0};
    tp_sim_out_t *out = NULL;
    TP_ASSERT(tp_sim_run(sc, &o, &out, &err) == 0);
    const json_t *tp = kpis(out, 0, "trustplace"), *cf = kpis(out, 0, "capacity-first");
    TP_ASSERT(tp && cf);
    TP_CHECK(num(cf, "security_violations.placements") > 0);
    TP_CHECK(num(cf, "security_violations.gpu_hours") > 0);
    TP_CHECK_EQ_INT(num(tp, "security_violations.placements"), 0);
    TP_CHECK_EQ_DBL(num(tp, "security_violations.gpu_hours"), 0, 0);
    TP_CHECK_EQ_DBL(num(tp, "sensitive_in_tee"), 1, 1e-9);
    /* trustplace reports the work it could not place instead, with reasons. */
    double pend = num(tp, "pending_gpu_hours.by_class.confidential") +
                  num(tp, "pending_gpu_hours.by_class.regulated");
    TP_CHECK(pend > num(cf, "pending_gpu_hours.by_class.confidential") +
                        num(cf, "pending_gpu_hours.by_class.regulated"));
    TP_CHECK(num(tp, "pending_gpu_hours.by_reason.capacity") +
                 num(tp, "pending_gpu_hours.by_reason.security") +
                 num(tp, "pending_gpu_hours.by_reason.residency") >
             0);
    /* Every trustplace decision went through the validator, and passed. */
    TP_CHECK(num(tp, "decisions") > 100);
    TP_CHECK_EQ_INT(num(tp, "validated"), num(tp, "decisions"));
    TP_CHECK_EQ_INT(num(tp, "validator_violations"), 0);
    /* The compliant baselines commit none either. */
    TP_CHECK_EQ_INT(num(kpis(out, 0, "first-fit"), "security_violations.placements"), 0);
    TP_CHECK_EQ_INT(
        num(kpis(out, 0, "efficiency-greedy"), "security_violations.placements"), 0);
    TP_CHECK(num(tp, "evictions.revocation") + num(cf, "evictions.revocation") >= 0);
    tp_sim_out_free(out);
    tp_scenario_free(sc);
}

static char *dump(const tp_sim_out_t *o)
{
    return json_dumps(tp_sim_out_summary(o),
                      JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
}

TP_TEST(sim_same_seed_same_summary)
{
    tp_error_t err;
    tp_scenario_t *sc = load_text(provoke, &err);
    TP_ASSERT(sc);
    tp_sim_opts_t o = {.policies = "trustplace,capacity-first"};
    tp_sim_out_t *a = NULL, *b = NULL, *c = NULL;
    TP_ASSERT(tp_sim_run(sc, &o, &a, &err) == 0);
    TP_ASSERT(tp_sim_run(sc, &o, &b, &err) == 0);
    o.seed_set = true;
    o.seed = 12;
    TP_ASSERT(tp_sim_run(sc, &o, &c, &err) == 0);
    char *ja = dump(a), *jb = dump(b), *jc = dump(c);
    TP_CHECK_STR(ja, jb);
    TP_CHECK_STR(tp_sim_out_timeseries(a), tp_sim_out_timeseries(b));
    TP_CHECK(strcmp(ja, jc) != 0); /* another seed, other arrivals */
    free(ja);
    free(jb);
    free(jc);
    tp_sim_out_free(a);
    tp_sim_out_free(b);
    tp_sim_out_free(c);
    tp_scenario_free(sc);
}

TP_TEST(sim_shard_merge_equals_unsharded)
{
    tp_error_t err;
    char *fleet = write_tmp("tiny-fleet2.json", tiny_fleet);
    char text[4096];
    /* The tiny scenario with a 3 × 2 grid: B's length and the seed. */
    snprintf(
        text, sizeof text,
        "{\"version\": 1, \"name\": \"grid\", \"fleet\": \"%s\", \"duration_s\": 7200,"
        " \"tick_s\": 10, \"sample_s\": 600, \"seed\": 1,"
        " \"sources\": [{\"type\": \"list\", \"jobs\": ["
        "  {\"id\": \"A\", \"at_s\": 0, \"gpus\": 4, \"duration_s\": 1000, "
        "\"sensitivity\": \"public\"},"
        "  {\"id\": \"B\", \"at_s\": 5, \"gpus\": 8, \"duration_s\": 2000, "
        "\"sensitivity\": \"confidential\"}]},"
        "  {\"type\": \"jobs\", \"rate_per_h\": 20, \"sensitivity\": {\"public\": 1, "
        "\"confidential\": 1}}],"
        " \"grid\": [{\"path\": \"/sources/0/jobs/1/duration_s\", \"values\": [500, "
        "2000, 4000]}, {\"path\": \"/seed\", \"values\": [1, 2]}]}",
        fleet);
    free(fleet);
    tp_scenario_t *sc = load_text(text, &err);
    TP_ASSERT(sc);
    TP_CHECK_EQ_INT(tp_scenario_variants(sc), 6);
    char dir[256], d0[300], d1[300], d2[300], dm[300], dall[300];
    snprintf(dir, sizeof dir, "/tmp/tp-sim-test-%d", (int)getpid());
    snprintf(d0, sizeof d0, "%s/shard0", dir);
    snprintf(d1, sizeof d1, "%s/shard1", dir);
    snprintf(d2, sizeof d2, "%s/shard2", dir);
    snprintf(dm, sizeof dm, "%s/merged", dir);
    snprintf(dall, sizeof dall, "%s/all", dir);
    tp_sim_out_t *o = NULL;
    tp_sim_opts_t opts = {0};
    TP_ASSERT(tp_sim_run(sc, &opts, &o, &err) == 0);
    TP_ASSERT(tp_sim_out_write(o, dall, &err) == 0);
    tp_sim_out_free(o);
    const char *dirs[3] = {d2, d0, d1}; /* any order */
    for (int i = 0; i < 3; i++) {
        tp_sim_opts_t so = {.shard_index = i, .shard_count = 3};
        TP_ASSERT(tp_sim_run(sc, &so, &o, &err) == 0);
        TP_CHECK_EQ_INT(
            json_array_size(json_object_get(tp_sim_out_summary(o), "results")), 2);
        TP_ASSERT(tp_sim_out_write(o, i == 0 ? d0 : i == 1 ? d1 : d2, &err) == 0);
        tp_sim_out_free(o);
    }
    TP_ASSERT(tp_sim_merge(dirs, 3, &o, &err) == 0);
    TP_ASSERT(tp_sim_out_write(o, dm, &err) == 0);
    tp_sim_out_free(o);
    static const char *const files[] = {"summary.json", "timeseries.csv", "report.html"};
    for (int i = 0; i < 3; i++) {
        char pa[400], pb[400];
        snprintf(pa, sizeof pa, "%s/%s", dall, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", dm, files[i]);
        char *a = tp_test_slurp(pa, NULL), *b = tp_test_slurp(pb, NULL);
        TP_CHECK(a && b && !strcmp(a, b));
        free(a);
        free(b);
    }
    /* A missing shard is an error, not a smaller report. */
    TP_CHECK(tp_sim_merge(dirs, 2, &o, &err) < 0);
    TP_CHECK_CONTAINS(err.text, "missing");
    tp_scenario_free(sc);
}

/* ---- scenario input errors ----------------------------------------------------------
 */

TP_TEST(sim_scenario_rejects_bad_input_with_paths)
{
    char *fleet = write_tmp("tiny-fleet3.json", tiny_fleet);
    static const struct {
        const char *body, *want;
    } cases[] = {
        {"\"duration_s\": 60, \"colour\": 1", "test.json: $.colour: unknown key"},
        {"\"duration_s\": -5", "$.duration_s: expected a number"},
        {"\"duration_s\": 60, \"events\": [{\"type\": \"power_cap\", \"at_s\": 1, "
         "\"domain\": \"nowhere\", \"factor\": 0.5}]",
         "$.events[0].domain: no power domain \"nowhere\""},
        {"\"duration_s\": 60, \"events\": [{\"type\": \"meteor\", \"at_s\": 1}]",
         "$.events[0].type: unknown event type \"meteor\""},
        {"\"duration_s\": 60, \"events\": [{\"type\": \"power_cap\", \"at_s\": 1, "
         "\"domain\": \"site\", \"factor\": 0.5, \"cap_w\": 100}]",
         "$.events[0]: give exactly one of"},
        {"\"duration_s\": 60, \"sources\": [{\"type\": \"jobs\", \"rate_per_h\": 1, "
         "\"sensitivity\": {\"secret\": 1}}]",
         "$.sources[0].sensitivity.secret: no class \"secret\""},
        {"\"duration_s\": 60, \"sources\": [{\"type\": \"list\", \"jobs\": [{\"id\": "
         "\"x\", "
         "\"at_s\": 0, \"gpus\": 1, \"duration_s\": 5, \"sensitivity\": \"public\", "
         "\"gpu\": 1}]}]",
         "$.sources[0].jobs[0].gpu: unknown key"},
        {"\"duration_s\": 60, \"policies\": [\"trustplace\", \"yolo\"]",
         "$.policies[1]: expected one of"},
        {"\"duration_s\": 60, \"grid\": [{\"path\": \"/nope/3\", \"values\": [1]}]",
         "$.grid[0]: path \"/nope/3\" names nothing"},
        {"\"duration_s\": 60, \"events\": [{\"type\": \"gpu_failure\", \"at_s\": 1, "
         "\"nodes\": [\"ghost\"]}]",
         "$.events[0].nodes[0]: no node with that id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[2048];
        tp_error_t err;
        tp_scenario_t *sc = NULL;
        snprintf(text, sizeof text,
                 "{\"version\": 1, \"name\": \"bad\", \"fleet\": \"%s\", %s}", fleet,
                 cases[i].body);
        int rc = tp_scenario_load_buffer("test.json", text, strlen(text), "/", &sc, &err);
        TP_CHECK(rc < 0 && !sc);
        TP_CHECK_CONTAINS(err.text, cases[i].want);
    }
    free(fleet);
}

/* The shipped scenarios load (they replay the shared traces). */
TP_TEST(sim_shipped_scenarios_load)
{
    static const char *const names[] = {"demand-response", "verifier-outage",
                                        "add-tee-capacity", "residency-tightening",
                                        "grid-field-trial"};
    char path[512];
    if (!tp_test_shared())
        TP_SKIP("../shared (TP_SHARED) is absent: the scenarios replay its traces");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tp_scenario_t *sc = NULL;
        tp_error_t err;
        snprintf(path, sizeof path, "%s/../config/scenarios/%s.json", tp_test_srcdir(),
                 names[i]);
        int rc = tp_scenario_load(path, &sc, &err);
        if (rc < 0)
            fprintf(stderr, "  %s\n", err.text);
        TP_CHECK_EQ_INT(rc, 0);
        tp_scenario_free(sc);
    }
}

/* Every kind of event, on a small fleet: nothing crashes or leaks, the engine's
 * bookkeeping holds, and trustplace stays clean through all of it. */
static const char every_event[] =
    "{\"version\": 1, \"name\": \"events\","
    " \"fleet\": {\"generate\": {\"nodes\": 40, \"regions\": \"eu-de,eu-fr\", \"seed\": "
    "3}},"
    " \"state\": \"generated\", \"duration_s\": 14400, \"tick_s\": 20, \"sample_s\": 600,"
    " \"deployments\": [{\"id\": \"d\", \"model\": \"llama-8b\", \"sensitivity\": "
    "\"confidential\", \"gpus\": 2, \"min_replicas\": 1, \"max_replicas\": 6}],"
    " \"sources\": [{\"type\": \"jobs\", \"rate_per_h\": 60, \"duration_s\": {\"mean\": "
    "1800},"
    "   \"sensitivity\": {\"public\": 1, \"internal\": 1, \"confidential\": 1, "
    "\"regulated\": 1},"
    "   \"models\": {\"llama-8b\": 1}},"
    "  {\"type\": \"requests\", \"rate_per_s\": 3, \"diurnal\": {\"amplitude\": 0.5},"
    "   \"deployments\": {\"d\": 1}}],"
    " \"events\": ["
    "  {\"type\": \"gpu_failure\", \"at_s\": 1800, \"count\": 6, \"gpus\": 4, "
    "\"duration_s\": 3600},"
    "  {\"type\": \"attestation_revoke\", \"at_s\": 2400, \"count\": 5, \"duration_s\": "
    "1800},"
    "  {\"type\": \"attestation_expire\", \"at_s\": 2400, \"region\": \"eu-fr\", "
    "\"duration_s\": "
    "5400},"
    "  {\"type\": \"verifier_outage\", \"at_s\": 3000, \"verifier\": \"verifier-eu-de\", "
    "\"duration_s\": 2400},"
    "  {\"type\": \"bmc_outage\", \"at_s\": 3600, \"domain\": \"eu-de-row01\", "
    "\"duration_s\": 1200},"
    "  {\"type\": \"power_cap\", \"at_s\": 4000, \"domain\": \"site-eu-fr\", \"factor\": "
    "0.6,"
    "   \"duration_s\": 1800},"
    "  {\"type\": \"add_nodes\", \"at_s\": 5000, \"count\": 8, \"id_prefix\": \"new-\","
    "   \"power_domains\": [{\"id\": \"hall2\", \"cap_w\": 90000}],"
    "   \"template\": {\"power_domain\": \"hall2\", \"region\": \"eu-de\", "
    "\"gpu_model\": "
    "\"H200\", \"gpus\": 8, \"cpu_tee\": \"tdx\", \"gpu_cc\": true, \"cap_w\": 10500, "
    "\"idle_w\": 1500, \"gpu_w\": 700, \"verifier\": \"verifier-eu-de\"}},"
    "  {\"type\": \"retire_nodes\", \"at_s\": 9000, \"domain\": \"eu-fr-row01\", "
    "\"count\": 6},"
    "  {\"type\": \"residency_rule\", \"at_s\": 7000, \"region\": \"eu-de\", "
    "\"classes\": "
    "[\"confidential\"], \"mode\": \"verified\"}]}";

TP_TEST(sim_every_event_kind)
{
    tp_error_t err;
    tp_scenario_t *sc = load_text(every_event, &err);
    TP_ASSERT(sc);
    tp_sim_opts_t o = {0};
    tp_sim_out_t *out = NULL;
    int rc = tp_sim_run(sc, &o, &out, &err);
    if (rc < 0)
        fprintf(stderr, "  %s\n", err.text);
    TP_ASSERT(rc == 0);
    const json_t *tp = kpis(out, 0, "trustplace");
    TP_CHECK_EQ_INT(num(tp, "security_violations.placements"), 0);
    TP_CHECK_EQ_INT(num(tp, "validator_violations"), 0);
    TP_CHECK_EQ_INT(num(tp, "validated"), num(tp, "decisions"));
    TP_CHECK(num(tp, "requests.served") > 30000);
    for (int p = 0; p < 4; p++) {
        static const char *const pol[] = {"trustplace", "capacity-first", "first-fit",
                                          "efficiency-greedy"};
        const json_t *k = kpis(out, 0, pol[p]);
        /* Every job is accounted for: done, running or pending at the end. */
        TP_CHECK_EQ_INT(num(k, "jobs.arrived"), num(k, "jobs.completed") +
                                                    num(k, "jobs.running_end") +
                                                    num(k, "jobs.pending_end"));
        TP_CHECK(num(k, "evictions.gpu_failure") + num(k, "evictions.retired") +
                     num(k, "evictions.revocation") >
                 0);
    }
    /* The timeseries has a row per sample and policy, each with 25 fields. */
    const char *csv = tp_sim_out_timeseries(out);
    int rows = 0, commas = 0;
    for (const char *p = csv; *p; p++) {
        rows += *p == '\n';
        commas += *p == ',';
    }
    TP_CHECK_EQ_INT(rows, 1 + 4 * 25);
    TP_CHECK_EQ_INT(commas, rows * 25);
    tp_sim_out_free(out);
    tp_scenario_free(sc);
}

/* The trace sources, briefly: Azure requests reach their deployments and Alibaba
 * pods arrive as jobs, with GPU types mapped onto the fleet's. */
TP_TEST(sim_trace_sources_run)
{
    const char *sh = tp_test_shared();
    if (!sh)
        TP_SKIP("../shared (TP_SHARED) is absent: no traces to replay");
    char text[4096];
    snprintf(
        text, sizeof text,
        "{\"version\": 1, \"name\": \"traces\","
        " \"fleet\": {\"generate\": {\"nodes\": 64, \"regions\": \"eu-de\", \"seed\": "
        "9}},"
        " \"duration_s\": 3600, \"tick_s\": 30, \"policies\": [\"trustplace\"],"
        " \"deployments\": [{\"id\": \"chat\", \"model\": \"llama-8b\", \"sensitivity\": "
        "\"internal\", \"gpus\": 1, \"max_replicas\": 50}],"
        " \"sources\": [{\"type\": \"azure\", \"file\": "
        "\"%s/traces/azure-llm/AzureLLMInferenceTrace_code.csv\", \"speedup\": 2, "
        "\"deployments\": {\"chat\": 1}},"
        " {\"type\": \"alibaba\", \"file\": "
        "\"%s/traces/alibaba-gpu-v2023/openb_pod_list_gpuspec33.csv\", \"speedup\": 4000,"
        " \"limit\": 300, \"gpu_map\": {\"T4\": \"L40S\", \"V100M32\": \"A100-80G\"}}]}",
        sh, sh);
    tp_error_t err;
    tp_scenario_t *sc = load_text(text, &err);
    TP_ASSERT(sc);
    tp_sim_opts_t o = {0};
    tp_sim_out_t *out = NULL;
    TP_ASSERT(tp_sim_run(sc, &o, &out, &err) == 0);
    const json_t *tp = kpis(out, 0, "trustplace");
    /* At 2× the whole code trace (8,819 requests, 57 min) fits in the hour. */
    TP_CHECK_EQ_INT(num(tp, "requests.arrived"), 8819);
    TP_CHECK(num(tp, "requests.served") > 8000);
    TP_CHECK_EQ_INT(num(tp, "jobs.arrived"), 300);
    TP_CHECK(num(tp, "tokens") > 0);
    tp_sim_out_free(out);
    tp_scenario_free(sc);
}
