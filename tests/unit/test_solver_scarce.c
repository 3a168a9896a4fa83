/*
 * tests/unit/test_solver_scarce.c — scarce trust is kept for work that needs
 * it: after priority-weighted GPUs and before tokens per joule, work goes to
 * the least-trusted node that satisfies it (docs/solver.md, term (2)).
 */
#include "tests/unit/tp_test.h"

#include "solver/solver.h"

#include <stdio.h>
#include <string.h>

#define NOW 1795000000LL

static const char *const fleet =
    "{\"version\": 1, \"regions\": {\"r-de\": {\"countries\": [\"DE\"]}},"
    " \"power_domains\": [{\"id\": \"rack\", \"cap_w\": 100000}],"
    " \"nodes\": ["
    /* cc: an H200 with TDX and GPU CC — the more efficient GPU for llama-8b */
    "  {\"id\": \"cc\", \"power_domain\": \"rack\", \"region\": \"r-de\","
    "   \"gpu_model\": \"H200\", \"gpus\": 8, \"cpu_tee\": \"tdx\", \"gpu_cc\": true,"
    "   \"cap_w\": 10000, \"idle_w\": 1000, \"gpu_w\": 700},"
    /* plain: an H100 without TEE */
    "  {\"id\": \"plain\", \"power_domain\": \"rack\", \"region\": \"r-de\","
    "   \"gpu_model\": \"H100\", \"gpus\": 8, \"cap_w\": 10000, \"idle_w\": 1000,"
    "   \"gpu_w\": 700}],"
    " \"policy\": {\"classes\": {\"public\": {}, \"confidential\": {\"cpu_tee\": "
    "[\"tdx\"], \"gpu_cc\": true, \"attestation\": {\"min_status\": \"affirming\", "
    "\"max_age_s\": 3600}}}},"
    " \"profiles\": [{\"model\": \"llama-8b\", \"gpu_model\": \"H100\", "
    "\"tokens_per_s\": 9800, \"watts\": 690}, {\"model\": \"llama-8b\", \"gpu_model\": "
    "\"H200\", \"tokens_per_s\": 11200, \"watts\": 680}]}";

static const char *const state =
    "{\"observed_at\": 1795000000, \"nodes\": {\"cc\": {\"attestation\": {\"status\": "
    "\"affirming\", \"cpu_tee\": \"tdx\", \"gpu_cc\": true, \"issued_at\": 1794999900, "
    "\"expires_at\": 1795003500}, \"country\": \"DE\"}, \"plain\": {\"country\": "
    "\"DE\"}}}";

static void check(const char *pending, const char *const *want, int nwant)
{
    static const tp_solver_method_t methods[] = {TP_SOLVER_AUTO, TP_SOLVER_AGGREGATE};
    tp_fleet_t *f = NULL;
    tp_state_t *s = NULL;
    tp_workloads_t *p = NULL;
    tp_error_t err;
    if (tp_fleet_load_buffer("fleet", fleet, strlen(fleet), &f, &err) < 0 ||
        tp_state_load_buffer("state", state, strlen(state), f, &s, &err) < 0 ||
        tp_workloads_load_buffer("pending", pending, strlen(pending), f, TP_WL_PENDING,
                                 &p, &err) < 0) {
        tp_test_fail(__FILE__, __LINE__, "fixture: %s", err.text);
        goto out;
    }
    for (int m = 0; m < 2; m++) {
        tp_solver_opts_t o = {.now = NOW, .time_limit_ms = 20000, .method = methods[m]};
        tp_solution_t *sol = NULL;
        if (tp_solve(f, s, p, NULL, &o, &sol, &err) < 0) {
            tp_test_fail(__FILE__, __LINE__, "tp_solve: %s", err.text);
            continue;
        }
        TP_CHECK_EQ_INT(sol->result->nplacements, nwant);
        for (int i = 0; want && i < sol->result->nplacements; i++) {
            const tp_placement_t *pl = &sol->result->placements[i];
            TP_CHECK_STR(f->nodes[pl->node].id, want[pl->workload]);
        }
        tp_solution_free(sol);
    }
out:
    tp_workloads_free(p);
    tp_state_free(s);
    tp_fleet_free(f);
}

TP_TEST(solver_scarce_trust_left_free)
{
    /* Public work alone: the H200 would give more tokens per joule, but it is
     * the only node confidential work can use — the public job takes the H100. */
    static const char *const want1[] = {"plain"};
    check("[{\"id\": \"pub\", \"gpus\": 8, \"sensitivity\": \"public\", \"model\": "
          "\"llama-8b\", \"priority\": 10}]",
          want1, 1);
    /* Both at once: each where it belongs, both placed. */
    static const char *const want2[] = {"cc", "plain"};
    check("[{\"id\": \"conf\", \"gpus\": 8, \"sensitivity\": \"confidential\", "
          "\"model\": \"llama-8b\", \"priority\": 10}, {\"id\": \"pub\", \"gpus\": 8, "
          "\"sensitivity\": \"public\", \"model\": \"llama-8b\", \"priority\": 10}]",
          want2, 2);
    /* Term (1) still comes first: two public jobs use both nodes. */
    check("[{\"id\": \"pub-a\", \"gpus\": 8, \"sensitivity\": \"public\", \"model\": "
          "\"llama-8b\"}, {\"id\": \"pub-b\", \"gpus\": 8, \"sensitivity\": \"public\", "
          "\"model\": \"llama-8b\"}]",
          NULL, 2);
}
