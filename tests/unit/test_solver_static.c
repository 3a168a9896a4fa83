/*
 * tests/unit/test_solver_static.c — the solver's static eligibility against
 * tp_policy_static, pair by pair. The solver computes it once per class: the
 * candidates' table is factored by GPU count (classes.c ctx_build_static) and
 * side work (gangs, reclaim, held-back work) reads a memo per workload key
 * (ctx_static_preds). tp_solver_static_probe makes every solve compare both,
 * and the memo's eligible rows and counts, with tp_policy_static on every
 * (workload, node) pair. Fleets, workloads (every policy class, residency,
 * GPU-model restrictions, gangs, tenants with limits) and states (stale,
 * missing, failed GPUs, countries) from gen/, solved at times that age the
 * attestations past each class's max_age_s, with nodes' health, countries
 * and attestations tampered with, for AUTO on both paths and greedy. And the
 * pending reasons (side work's: the memo and the capacity rows per GPU count
 * and AI model, gang.c side_count) against tp_policy_count on the final
 * load.
 */
#include "tests/unit/tp_test.h"

#include "gen/gen.h"
#include "policy/policy.h"
#include "solver/solver.h"
#include "solver/solver_internal.h"
#include "tests/unit/test_solver_fixture.h"
#include "util/rng.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int pick(tp_rng_t *r, int n)
{
    return (int)tp_rng_below(r, (uint64_t)n);
}

/* gen's state with some nodes tampered: GPUs failed, country gone or
 * foreign, attestation gone or issued at another time. */
static void tamper_state(tp_rng_t *r, json_t *st, const tp_fleet_t *f)
{
    json_t *nodes = json_object_get(st, "nodes");
    for (int n = 0; n < f->nnodes; n++) {
        json_t *o = json_object_get(nodes, f->nodes[n].id);
        if (!o)
            continue;
        if (!pick(r, 12)) { /* not observed at all */
            json_object_del(nodes, f->nodes[n].id);
            continue;
        }
        if (!pick(r, 4))
            json_object_set_new(o, "gpus_healthy",
                                json_integer(pick(r, f->nodes[n].gpus + 1)));
        if (!pick(r, 6))
            json_object_del(o, "country");
        else if (!pick(r, 8))
            json_object_set_new(o, "country", json_string(pick(r, 2) ? "US" : "FR"));
        json_t *a = json_object_get(o, "attestation");
        if (a && !pick(r, 8)) {
            json_object_del(o, "attestation");
            a = NULL;
        }
        if (a && !pick(r, 4)) /* attested facts apart from the declared ones */
            json_object_set_new(a, "gpu_cc", json_boolean(pick(r, 2)));
        if (a && !pick(r, 4))
            json_object_set_new(
                a, "cpu_tee",
                json_string((const char *[]){"none", "tdx", "sev-snp"}[pick(r, 3)]));
        if (a && !pick(r, 4))
            json_object_set_new(
                a, "status",
                json_string((const char *[]){"affirming", "warning",
                                             "contraindicated"}[pick(r, 3)]));
        if (a && !pick(r, 3)) {
            json_int_t at = SF_NOW - pick(r, 5000);
            json_object_set_new(a, "issued_at", json_integer(at));
            json_object_set_new(a, "expires_at", json_integer(at + 600 + pick(r, 90000)));
        }
    }
}

/* Classes that differ from another in one requirement each. */
static const char *const extra[] = {"cc",      "tee",          "sev",
                                    "att-600", "att-warn",     "att-any",
                                    "res",     "res-verified", "cc-tee-age"};

static void add_classes(json_t *fleet)
{
    json_t *cl = json_object_get(json_object_get(fleet, "policy"), "classes");
    json_object_set_new(cl, "cc", json_pack("{s:b}", "gpu_cc", 1));
    json_object_set_new(cl, "tee", json_pack("{s:[s]}", "cpu_tee", "tdx"));
    json_object_set_new(cl, "sev", json_pack("{s:[s]}", "cpu_tee", "sev-snp"));
    json_object_set_new(cl, "att-600",
                        json_pack("{s:{s:s, s:i}}", "attestation", "min_status",
                                  "affirming", "max_age_s", 600));
    json_object_set_new(cl, "att-warn",
                        json_pack("{s:{s:s, s:i}}", "attestation", "min_status",
                                  "warning", "max_age_s", 600));
    json_object_set_new(cl, "att-any",
                        json_pack("{s:{s:s}}", "attestation", "min_status", "affirming"));
    json_object_set_new(cl, "res", json_pack("{s:b}", "residency", 1));
    json_object_set_new(cl, "res-verified", json_pack("{s:s}", "residency", "verified"));
    json_object_set_new(cl, "cc-tee-age",
                        json_pack("{s:[s, s], s:b, s:{s:s, s:i}}", "cpu_tee", "tdx",
                                  "sev-snp", "gpu_cc", 1, "attestation", "min_status",
                                  "warning", "max_age_s", 3600));
}

/* Some workloads moved to those classes, with residency lists, GPU models
 * and GPU counts of their own. */
static void tamper_work(tp_rng_t *r, json_t *pend)
{
    static const char *const regions[] = {"eu-de", "eu-fr", "us-east"};
    static const char *const gms[] = {"H100-SXM", "H200", "A100-80G", "L40S", "MI300X"};
    size_t i;
    json_t *w;
    json_array_foreach (pend, i, w) {
        if (pick(r, 2))
            continue;
        const char *cl = extra[pick(r, (int)(sizeof extra / sizeof *extra))];
        json_object_set_new(w, "sensitivity", json_string(cl));
        json_object_del(w, "residency");
        if (!strncmp(cl, "res", 3)) {
            json_t *rs = json_array();
            for (int k = 0, at = pick(r, 3); k < 3; k++) /* rotated: any order */
                if (!k || pick(r, 3) == 0)
                    json_array_append_new(rs, json_string(regions[(k + at) % 3]));
            json_object_set_new(w, "residency", rs);
        }
        if (!pick(r, 3)) {
            json_t *g = json_array();
            for (int k = 0, at = pick(r, 5); k < 5; k++)
                if (!k || pick(r, 3) == 0)
                    json_array_append_new(g, json_string(gms[(k + at) % 5]));
            json_object_set_new(w, "gpu_models", g);
        } else if (!pick(r, 3))
            json_object_del(w, "gpu_models");
        if (!json_object_get(w, "nodes"))
            json_object_set_new(w, "gpus", json_integer(1 + pick(r, 8)));
    }
}

/* Running singles from the first k workloads, on nodes with room. */
static json_t *running_from(tp_rng_t *r, json_t *pend, const tp_fleet_t *f, int k)
{
    json_t *run = json_array();
    int *room = malloc(sizeof *room * (size_t)f->nnodes);
    for (int n = 0; n < f->nnodes; n++)
        room[n] = f->nodes[n].gpus;
    for (int i = 0; i < k && i < (int)json_array_size(pend); i++) {
        json_t *w = json_deep_copy(json_array_get(pend, (size_t)i));
        int n = pick(r, f->nnodes),
            g = (int)json_integer_value(json_object_get(w, "gpus"));
        if (json_object_get(w, "nodes") || room[n] < g) {
            json_decref(w);
            continue;
        }
        room[n] -= g;
        char id[32];
        snprintf(id, sizeof id, "run-%d", i);
        json_object_set_new(w, "id", json_string(id));
        json_object_del(w, "residency");
        json_object_del(w, "gpu_models");
        json_object_set_new(w, "sensitivity", json_string("public"));
        json_object_set_new(w, "node", json_string(f->nodes[n].id));
        json_array_append_new(run, w);
    }
    free(room);
    return run;
}

/* Pending work's reasons (side work's come from the memo, gang.c side_count)
 * against tp_policy_count on the final load, but for the two predicates only
 * the solver judges (tenant limit, gang topology). Returns mismatches. */
static int reasons_match(const sf_inst_t *in, const tp_result_t *r, int64_t now)
{
    tp_load_t *l = sf_final_load(in, r);
    int np = in->pending->n, bad = 0;
    for (int i = 0; i < r->npending; i++) {
        const tp_pending_t *p = &r->pending[i];
        const tp_workload_t *w = p->workload < np ? &in->pending->w[p->workload]
                                                  : &in->running->w[p->workload - np];
        int counts[TP_PRED_COUNT];
        tp_policy_count(in->f, in->s, l, w, now, counts);
        for (int k = 0; k < TP_PRED_COUNT; k++)
            bad += k != TP_PRED_TENANT_LIMIT && k != TP_PRED_GANG_TOPOLOGY &&
                   p->reasons[k] != counts[k];
    }
    tp_load_free(l);
    return bad;
}

TP_TEST(solver_static_preds_match_policy)
{
    tp_rng_t rng;
    tp_rng_init(&rng, 20261203);
    long probe[2] = {0, 0};
    int solved = 0;
    tp_solver_static_probe = probe;
    for (int round = 0; round < 100 * tp_test_soak(); round++) {
        tp_error_t err;
        tp_gen_fleet_opts_t fo = {.nodes = 6 + pick(&rng, 20),
                                  .seed = 1 + (uint64_t)round,
                                  .tenants = pick(&rng, 5),
                                  .rack_nodes = 2 + pick(&rng, 5)};
        sf_inst_t in = {0};
        json_t *fj = tp_gen_fleet(&fo, &err);
        if (fj)
            add_classes(fj);
        int frc = fj ? sf_load(fj, "gen-fleet", -1, NULL, &in.f) : -1;
        json_decref(fj);
        if (frc < 0) {
            TP_CHECK(0);
            continue;
        }
        json_t *st = tp_gen_state(in.f, (uint64_t)round + 7, SF_NOW, &err);
        json_t *pend =
            tp_gen_workloads_gangs(in.f, 4 + pick(&rng, 2 * in.f->nnodes),
                                   (uint64_t)round + 11, 0.1 * pick(&rng, 6), &err);
        if (st)
            tamper_state(&rng, st, in.f);
        if (pend)
            tamper_work(&rng, pend);
        json_t *run =
            pend && pick(&rng, 2) ? running_from(&rng, pend, in.f, 6) : json_array();
        bool ok = st && pend && sf_load(st, "gen-state", 2, in.f, &in.s) == 0 &&
                  sf_load(pend, "gen-workloads", TP_WL_PENDING, in.f, &in.pending) == 0 &&
                  sf_load(run, "running", TP_WL_RUNNING, in.f, &in.running) == 0;
        json_decref(st);
        json_decref(pend);
        json_decref(run);
        TP_CHECK(ok);
        /* Ages past 600 s, 3,600 s (expiry) and 86,400 s in turn. */
        if (ok && !pick(&rng, 8)) { /* no observed state at all */
            tp_state_free(in.s);
            in.s = NULL;
        }
        int64_t now = SF_NOW + (int64_t[]){0, 300, 700, 3000, 4000, 90000}[pick(&rng, 6)];
        /* Half the rounds with a memo of 1-2 rows: its scratch row in use. */
        tp_solver_static_memo_rows = pick(&rng, 2) ? 0 : 1 + pick(&rng, 2);
        for (int m = 0; ok && m < 3; m++) {
            tp_solver_opts_t o = {.now = now,
                                  .time_limit_ms = 1000, /* a small work budget: fast */
                                  .method = m == 2 ? TP_SOLVER_GREEDY : TP_SOLVER_AUTO,
                                  .exact_max_pairs = m == 1 ? 1 : 0};
            tp_solution_t *sol = NULL;
            long before = probe[0];
            if (tp_solve(in.f, in.s, in.pending, in.running, &o, &sol, &err) < 0) {
                tp_test_fail(__FILE__, __LINE__, "round %d: tp_solve: %s", round,
                             err.text);
                continue;
            }
            if (probe[0] > before)
                tp_test_fail(__FILE__, __LINE__,
                             "round %d method %d: %ld pairs where the solver's static "
                             "predicates differ from tp_policy_static",
                             round, m, probe[0] - before);
            int nr = reasons_match(&in, sol->result, now);
            if (nr)
                tp_test_fail(__FILE__, __LINE__,
                             "round %d method %d: %d reasons differ from tp_policy_count",
                             round, m, nr);
            solved++;
            tp_solution_free(sol);
        }
        sf_free(&in);
    }
    tp_solver_static_probe = NULL;
    tp_solver_static_memo_rows = 0;
    TP_CHECK(probe[0] == 0);
    TP_CHECK(solved > 250 && probe[1] > 20000);
    printf("  %d solves, %ld side pairs\n", solved, probe[1]);
}
