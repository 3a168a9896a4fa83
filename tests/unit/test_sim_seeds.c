/*
 * tests/unit/test_sim_seeds.c — replicas over seeds: the mean and 95% CI of
 * every KPI equal a hand computation on 3 seeds, the seed list is parsed
 * strictly, and shards (over variants × seeds) merge into the unsharded result.
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

/* Seeded batch work on a small generated fleet, with a 2-value grid. */
static const char seeded[] =
    "{\"version\": 1, \"name\": \"seeds\","
    " \"fleet\": {\"generate\": {\"nodes\": 16, \"regions\": \"eu-de\", \"seed\": 3}},"
    " \"duration_s\": 7200, \"tick_s\": 30, \"sample_s\": 900, \"seeds\": \"1-3\","
    " \"policies\": [\"first-fit\", \"efficiency-greedy\"],"
    " \"sources\": [{\"type\": \"jobs\", \"rate_per_h\": 60,"
    "   \"duration_s\": {\"mean\": 1800}, \"gpus\": {\"1\": 1, \"8\": 1},"
    "   \"sensitivity\": {\"public\": 1}, \"models\": {\"llama-8b\": 1}}],"
    " \"events\": [{\"type\": \"power_cap\", \"at_s\": 3600, \"domain\": \"site-eu-de\","
    "   \"factor\": 0.6}],"
    " \"grid\": [{\"path\": \"/events/0/factor\", \"values\": [0.6, 0.9]}]}";

static double at(const json_t *o, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *t = strtok_r(buf, ".", &save); t && o; t = strtok_r(NULL, ".", &save))
        o = json_object_get(o, t);
    return o ? json_number_value(o) : NAN;
}

static bool near(double a, double b)
{
    return fabs(a - b) <= 1e-5 * fmax(1, fmax(fabs(a), fabs(b)));
}

TP_TEST(sim_seed_aggregate_matches_hand_computation)
{
    tp_error_t err;
    tp_scenario_t *sc = NULL;
    TP_ASSERT(tp_scenario_load_buffer("s.json", seeded, strlen(seeded), ".", &sc, &err) ==
              0);
    tp_sim_opts_t o = {0};
    tp_sim_out_t *out = NULL;
    TP_ASSERT(tp_sim_run(sc, &o, &out, &err) == 0);
    const json_t *sum = tp_sim_out_summary(out);
    const json_t *res = json_object_get(sum, "results"),
                 *agg = json_object_get(sum, "aggregates");
    TP_CHECK_EQ_INT(json_array_size(json_object_get(sum, "seeds")), 3);
    TP_ASSERT(json_array_size(res) == 6 && json_array_size(agg) == 2);
    static const char *const kpis[] = {"jobs.arrived", "energy_kwh",
                                       "pending_gpu_hours.total", "jobs.work_done_gpu_h",
                                       "wait.by_class.public.p95_s"};
    static const char *const pols[] = {"first-fit", "efficiency-greedy"};
    int differ = 0;
    for (int v = 0; v < 2; v++) {
        const json_t *a = json_array_get(agg, (size_t)v);
        TP_CHECK_EQ_INT(json_integer_value(json_object_get(a, "variant")), v);
        for (int p = 0; p < 2; p++)
            for (size_t k = 0; k < sizeof kpis / sizeof kpis[0]; k++) {
                double x[3], mean = 0, ss = 0;
                for (int s = 0; s < 3; s++) {
                    const json_t *r = json_array_get(res, (size_t)(v * 3 + s));
                    TP_CHECK_EQ_INT(json_integer_value(json_object_get(r, "seed")),
                                    s + 1);
                    x[s] = at(json_object_get(json_object_get(r, "policies"), pols[p]),
                              kpis[k]);
                    mean += x[s] / 3;
                }
                for (int s = 0; s < 3; s++)
                    ss += (x[s] - mean) * (x[s] - mean);
                double ci = 4.303 * sqrt(ss / 2) / sqrt(3); /* t(0.975, 2) = 4.303 */
                differ += x[0] != x[1] || x[1] != x[2];
                char path[200];
                const json_t *pa =
                    json_object_get(json_object_get(a, "policies"), pols[p]);
                snprintf(path, sizeof path, "%s.mean", kpis[k]);
                TP_CHECK(near(at(pa, path), mean));
                snprintf(path, sizeof path, "%s.ci95", kpis[k]);
                TP_CHECK(near(at(pa, path), ci));
                snprintf(path, sizeof path, "%s.n", kpis[k]);
                TP_CHECK_EQ_INT((long long)at(pa, path), 3);
            }
    }
    TP_CHECK(differ > 0); /* the seeds do change the runs */
    /* --seeds overrides the scenario's list; --seed alone runs one seed. */
    tp_sim_out_free(out);
    o.seeds = "7,9";
    TP_ASSERT(tp_sim_run(sc, &o, &out, &err) == 0);
    TP_CHECK_EQ_INT(json_array_size(json_object_get(tp_sim_out_summary(out), "results")),
                    4);
    tp_sim_out_free(out);
    tp_sim_opts_t one = {.seed_set = true, .seed = 5};
    TP_ASSERT(tp_sim_run(sc, &one, &out, &err) == 0);
    TP_CHECK(json_object_get(tp_sim_out_summary(out), "aggregates") == NULL);
    TP_CHECK_EQ_INT(json_array_size(json_object_get(tp_sim_out_summary(out), "results")),
                    2);
    tp_sim_out_free(out);
    /* Bad seed lists. */
    static const char *const bad[] = {"5-1", "1,,2", "1,1", "x", "", "1-2000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.seeds = bad[i];
        TP_CHECK(tp_sim_run(sc, &o, &out, &err) == TP_EUSAGE);
        TP_CHECK_CONTAINS(err.text, "seeds");
    }
    tp_scenario_free(sc);
    /* A scenario's bad "seeds" is refused with its path. */
    static const char *const badsc[] = {"\"3-1\"", "[1, -2]", "[]", "{}"};
    for (size_t i = 0; i < sizeof badsc / sizeof badsc[0]; i++) {
        char text[4096];
        snprintf(text, sizeof text,
                 "{\"version\": 1, \"name\": \"b\", \"fleet\": {\"generate\": "
                 "{\"nodes\": 8}}, \"duration_s\": 60, \"seeds\": %s}",
                 badsc[i]);
        TP_CHECK(tp_scenario_load_buffer("b.json", text, strlen(text), ".", &sc, &err) <
                 0);
        TP_CHECK_CONTAINS(err.text, "$.seeds");
    }
}

TP_TEST(sim_seed_shards_merge_equals_unsharded)
{
    tp_error_t err;
    tp_scenario_t *sc = NULL;
    TP_ASSERT(tp_scenario_load_buffer("s.json", seeded, strlen(seeded), ".", &sc, &err) ==
              0);
    char dir[256], d[4][300], dall[300], dm[300];
    snprintf(dir, sizeof dir, "/tmp/tp-sim-seeds-%d", (int)getpid());
    mkdir(dir, 0777);
    snprintf(dall, sizeof dall, "%s/all", dir);
    snprintf(dm, sizeof dm, "%s/merged", dir);
    tp_sim_out_t *o = NULL;
    tp_sim_opts_t all = {0};
    TP_ASSERT(tp_sim_run(sc, &all, &o, &err) == 0);
    TP_ASSERT(tp_sim_out_write(o, dall, &err) == 0);
    tp_sim_out_free(o);
    /* 6 runs over 4 shards: shards hold runs of both variants and several seeds. */
    const char *dirs[4];
    for (int i = 0; i < 4; i++) {
        snprintf(d[i], sizeof d[i], "%s/shard%d", dir, i);
        dirs[3 - i] = d[i];
        tp_sim_opts_t so = {.shard_index = i, .shard_count = 4};
        TP_ASSERT(tp_sim_run(sc, &so, &o, &err) == 0);
        TP_CHECK(json_object_get(tp_sim_out_summary(o), "aggregates") == NULL);
        TP_ASSERT(tp_sim_out_write(o, d[i], &err) == 0);
        tp_sim_out_free(o);
    }
    TP_ASSERT(tp_sim_merge(dirs, 4, &o, &err) == 0);
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
    /* A missing shard names the run it lacks. */
    TP_CHECK(tp_sim_merge(dirs, 3, &o, &err) < 0);
    TP_CHECK_CONTAINS(err.text, "seed");
    TP_CHECK_CONTAINS(err.text, "is missing");
    tp_scenario_free(sc);
}
