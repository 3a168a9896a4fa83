/*
 * tests/unit/test_solver_preempt.c — minimal preemption: when caps drop, the
 * solver stops the fewest priority-weighted GPUs that restore every cap (never
 * non-preemptible work), then the fewest watts; draw the BMC measures beyond
 * the estimate stays. Checked on hand-made cases and against an exhaustive
 * search over every subset of the running work of random small instances.
 */
#include "tests/unit/tp_test.h"

#include "policy/policy.h"
#include "solver/solver.h"
#include "tests/unit/test_solver_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Loads the instance (fleet as a whole document) and solves it; NULL (and a
 * test failure) when either fails. */
static tp_solution_t *solve_fleet(const char *fleet, const char *state,
                                  const char *running, sf_inst_t *in)
{
    tp_error_t err;
    memset(in, 0, sizeof *in);
    if (tp_fleet_load_buffer("fleet", fleet, strlen(fleet), &in->f, &err) < 0 ||
        tp_state_load_buffer("state", state, strlen(state), in->f, &in->s, &err) < 0 ||
        tp_workloads_load_buffer("pending", "[]", 2, in->f, TP_WL_PENDING, &in->pending,
                                 &err) < 0 ||
        tp_workloads_load_buffer("running", running, strlen(running), in->f,
                                 TP_WL_RUNNING, &in->running, &err) < 0) {
        tp_test_fail(__FILE__, __LINE__, "fixture: %s", err.text);
        return NULL;
    }
    tp_solver_opts_t o = {.now = SF_NOW, .time_limit_ms = 20000};
    tp_solution_t *sol = NULL;
    if (tp_solve(in->f, in->s, in->pending, in->running, &o, &sol, &err) < 0)
        tp_test_fail(__FILE__, __LINE__, "tp_solve: %s", err.text);
    return sol;
}

static tp_solution_t *solve_json(const char *nodes, const char *state,
                                 const char *running, sf_inst_t *in)
{
    char fleet[4096];
    snprintf(fleet, sizeof fleet,
             "{\"version\": 1, \"regions\": {\"r-de\": {\"countries\": [\"DE\"]}}, "
             "\"power_domains\": [{\"id\": \"rack\", \"cap_w\": 100000}], "
             "\"nodes\": %s, \"policy\": {\"classes\": {\"public\": {}}}}",
             nodes);
    return solve_fleet(fleet, state, running, in);
}

/* idle 1,000 W, 500 W per GPU, 8 GPUs. */
#define NODE(id, cap)                                                                    \
    "{\"id\": \"" id "\", \"power_domain\": \"rack\", \"region\": \"r-de\", "            \
    "\"gpu_model\": \"H100\", \"gpus\": 8, \"cap_w\": " cap ", \"idle_w\": 1000, "       \
    "\"gpu_w\": 500}"
#define RUN(id, gpus, prio, pre)                                                         \
    "{\"id\": \"" id "\", \"gpus\": " gpus ", \"sensitivity\": \"public\", "             \
    "\"node\": \"n1\", \"priority\": " prio ", \"preemptible\": " pre "}"

static const char *stopped_ids(const sf_inst_t *in, const tp_result_t *r, char *buf,
                               size_t len)
{
    buf[0] = 0;
    for (int i = 0; i < r->npreemptions; i++) {
        strncat(buf, in->running->w[r->preemptions[i].workload].id,
                len - strlen(buf) - 2);
        strncat(buf, " ", len - strlen(buf) - 1);
    }
    return buf;
}

TP_TEST(solver_preempt_smallest_sufficient)
{
    /* n1 draws 1,000 + 7 × 500 = 4,500 W under a 4,400 W cap: 100 W too much.
     * Stopping the 1-GPU workload suffices; the 6-GPU one must keep running. */
    sf_inst_t in;
    char buf[256];
    tp_solution_t *sol = solve_json(
        "[" NODE("n1", "4400") ", " NODE("n2", "1600") "]",
        "{\"observed_at\": 1795000000, \"nodes\": {}}",
        "[" RUN("big", "6", "0", "true") ", " RUN("small", "1", "0", "true") "]", &in);
    TP_ASSERT(sol);
    TP_CHECK_STR(stopped_ids(&in, sol->result, buf, sizeof buf), "small ");
    TP_CHECK_EQ_INT(sol->ncaps_unmet, 0);
    /* It starts again on n2 (1,000 + 500 ≤ 1,600). */
    TP_CHECK_EQ_INT(sol->result->nplacements, 1);
    tp_solution_free(sol);
    sf_free(&in);
}

TP_TEST(solver_preempt_priority_weighted_gpus)
{
    /* 600 W too much. a: 2 GPUs at priority 0 (weight 2, 1,000 W); b: 1 GPU at
     * priority 5 (weight 6, 500 W — not enough alone); c: 4 GPUs at priority 0
     * (weight 4); d: non-preemptible. The least weight that restores the cap is a. */
    sf_inst_t in;
    char buf[256];
    tp_solution_t *sol = solve_json(
        "[" NODE("n1", "4900") "]", "{\"observed_at\": 1795000000, \"nodes\": {}}",
        "[" RUN("a", "2", "0", "true") ", " RUN("b", "1", "5", "true") ", " RUN(
            "c", "4", "0", "true") ", " RUN("d", "1", "0", "false") "]",
        &in);
    TP_ASSERT(sol);
    TP_CHECK_STR(stopped_ids(&in, sol->result, buf, sizeof buf), "a ");
    tp_solution_free(sol);
    sf_free(&in);
}

TP_TEST(solver_preempt_unexplained_draw_stays)
{
    /* The estimate is 1,000 + 2 × 500 = 2,000 W; the BMC measures 2,600 W.
     * Cap 2,200: one 500 W workload off leaves 2,100 W — enough. */
    sf_inst_t in;
    char buf[256];
    const char *run = "[" RUN("x", "1", "0", "true") ", " RUN("y", "1", "0", "true") "]";
    tp_solution_t *sol = solve_json(
        "[" NODE("n1", "2200") "]",
        "{\"observed_at\": 1795000000, \"nodes\": {\"n1\": {\"draw_w\": 2600}}}", run,
        &in);
    TP_ASSERT(sol);
    TP_CHECK_STR(stopped_ids(&in, sol->result, buf, sizeof buf), "x ");
    TP_CHECK_EQ_INT(sol->ncaps_unmet, 0);
    tp_solution_free(sol);
    sf_free(&in);
    /* Cap 1,500: stopping both leaves 2,600 − 1,000 = 1,600 W of unexplained
     * load and idle draw — the cap stays unmet rather than being assumed met. */
    sol = solve_json(
        "[" NODE("n1", "1500") "]",
        "{\"observed_at\": 1795000000, \"nodes\": {\"n1\": {\"draw_w\": 2600}}}", run,
        &in);
    TP_ASSERT(sol);
    TP_CHECK_STR(stopped_ids(&in, sol->result, buf, sizeof buf), "x y ");
    TP_ASSERT(sol->ncaps_unmet == 1);
    TP_CHECK_STR(sol->caps_unmet[0], "power_node:n1");
    tp_solution_free(sol);
    sf_free(&in);
}

TP_TEST(solver_preempt_spares_gangs_among_equals)
{
    /* n1 draws 1,000 + 2 × 500 = 2,000 W under a 1,600 W cap: one 1-GPU
     * workload must stop. "a-gang" (a member on n1 and one on n2) and "solo"
     * weigh the same and draw the same; stopping the gang's member would stop
     * the gang whole, so solo stops (though a-gang comes first by id). */
    sf_inst_t in;
    char buf[256];
    tp_solution_t *sol = solve_json(
        "[" NODE("n1", "1600") ", " NODE("n2", "9000") "]",
        "{\"observed_at\": 1795000000, \"nodes\": {}}",
        "[{\"id\": \"a-gang\", \"gpus\": 1, \"nodes\": 2, \"members\": [\"n1\", "
        "\"n2\"], \"sensitivity\": \"public\", \"priority\": 0}, " RUN("solo", "1", "0",
                                                                       "true") "]",
        &in);
    TP_ASSERT(sol);
    TP_CHECK_STR(stopped_ids(&in, sol->result, buf, sizeof buf), "solo ");
    TP_CHECK_EQ_INT(sol->ncaps_unmet, 0);
    tp_solution_free(sol);
    sf_free(&in);
}

TP_TEST(solver_preempt_counts_a_gang_whole)
{
    /* n1 draws 1,000 + 3 × 500 = 2,500 W under a 2,100 W cap: one GPU's
     * 500 W must go. "g" (a 1-GPU member on each of n1, n2, n3) stops whole:
     * 3 weighted GPUs; "solo" (2 GPUs, same priority) costs 2. Stopping the
     * gang's member looks cheaper per member, but the least is solo. */
    sf_inst_t in;
    char buf[256];
    tp_solution_t *sol = solve_json(
        "[" NODE("n1", "2100") ", " NODE("n2", "9000") ", " NODE("n3", "9000") "]",
        "{\"observed_at\": 1795000000, \"nodes\": {}}",
        "[{\"id\": \"g\", \"gpus\": 1, \"nodes\": 3, \"members\": [\"n1\", \"n2\", "
        "\"n3\"], \"sensitivity\": \"public\", \"priority\": 0, \"preemptible\": "
        "true}, " RUN("solo", "2", "0", "true") "]",
        &in);
    TP_ASSERT(sol);
    TP_CHECK_STR(stopped_ids(&in, sol->result, buf, sizeof buf), "solo ");
    TP_CHECK_EQ_INT(sol->ncaps_unmet, 0);
    tp_solution_free(sol);
    sf_free(&in);
}

/* ---- exhaustive: every subset of the running work -------------------------------- */

static bool caps_hold(const sf_inst_t *in, unsigned set)
{
    tp_load_t *l = tp_load_new(in->f, in->s, in->running);
    bool ok = true;
    for (int i = 0; i < in->running->n; i++)
        if (set >> i & 1) {
            const tp_workload_t *w = &in->running->w[i];
            tp_load_apply(l, in->f, w->node, w->gpus,
                          tp_fleet_gpu_watts(in->f, w->node, w->model), -1);
        }
    for (int n = 0; n < in->f->nnodes && ok; n++)
        ok = l->node_w[n] <= tp_policy_node_cap(in->f, in->s, n) * (1 + 1e-9);
    for (int d = 0; d < in->f->ndomains && ok; d++)
        ok = l->domain_w[d] <= tp_policy_domain_cap(in->f, in->s, d) * (1 + 1e-9);
    tp_load_free(l);
    return ok;
}

static void weigh(const sf_inst_t *in, unsigned set, double *wg, double *watts)
{
    *wg = *watts = 0;
    for (int i = 0; i < in->running->n; i++)
        if (set >> i & 1) {
            const tp_workload_t *w = &in->running->w[i];
            *wg += (1.0 + w->priority) * w->gpus;
            *watts += w->gpus * tp_fleet_gpu_watts(in->f, w->node, w->model);
        }
}

/* The preemptible work of in as a set; false when there is nothing to do or
 * nothing helps (no minimal answer to compare). */
static bool worth_checking(const sf_inst_t *in, unsigned *pre)
{
    *pre = 0;
    for (int i = 0; i < in->running->n; i++)
        *pre |= (unsigned)in->running->w[i].preemptible << i;
    return !caps_hold(in, 0) && caps_hold(in, *pre);
}

/* Whether set stops every gang whole or not at all. */
static bool gang_whole(const sf_inst_t *in, unsigned set)
{
    for (int i = 0; i < in->running->n; i++) {
        int g = in->running->w[i].gang - 1;
        if (g >= 0 && (set >> i & 1) != (set >> g & 1))
            return false;
    }
    return true;
}

/* sol's preemptions against every subset of the preemptible work pre: they
 * restore every cap and stop the fewest weighted GPUs, then the fewest watts. */
static void check_minimal(const sf_inst_t *in, unsigned pre, const tp_solution_t *sol,
                          int round)
{
    double best_g = INFINITY, best_w = INFINITY, g, w;
    for (unsigned set = 0; set < 1u << in->running->n; set++) {
        if ((set & ~pre) || !gang_whole(in, set) || !caps_hold(in, set))
            continue;
        weigh(in, set, &g, &w);
        if (g < best_g - 1e-9 || (g < best_g + 1e-9 && w < best_w - 1e-6)) {
            best_g = g;
            best_w = w;
        }
    }
    unsigned set = 0;
    for (int i = 0; i < sol->result->npreemptions; i++)
        set |= 1u << sol->result->preemptions[i].workload;
    weigh(in, set, &g, &w);
    if ((set & ~pre) || !gang_whole(in, set) || !caps_hold(in, set) || sol->ncaps_unmet)
        tp_test_fail(__FILE__, __LINE__, "round %d: a cap is left exceeded", round);
    if (fabs(g - best_g) > 1e-9 || fabs(w - best_w) > 1e-6)
        tp_test_fail(__FILE__, __LINE__,
                     "round %d: stopped %g weighted GPUs / %g W, least is %g / %g", round,
                     g, w, best_g, best_w);
}

TP_TEST(solver_preempt_minimal_vs_exhaustive)
{
    tp_rng_t rng;
    int checked = 0;
    tp_rng_init(&rng, 9090);
    for (int round = 0; round < 600 * tp_test_soak(); round++) {
        sf_opts_t o = {.nodes = 2 + (int)tp_rng_below(&rng, 6),
                       .pending = (int)tp_rng_below(&rng, 3),
                       .running = 4 + (int)tp_rng_below(&rng, 8),
                       .tight = true};
        sf_inst_t in;
        TP_ASSERT(sf_make(&rng, &o, &in) == 0);
        unsigned pre;
        if (!worth_checking(&in, &pre)) { /* nothing to do, or hopeless */
            sf_free(&in);
            continue;
        }
        tp_solver_opts_t so = {.now = SF_NOW, .time_limit_ms = 20000};
        tp_solution_t *sol = NULL;
        tp_error_t err;
        if (tp_solve(in.f, in.s, in.pending, in.running, &so, &sol, &err) < 0) {
            tp_test_fail(__FILE__, __LINE__, "round %d: %s", round, err.text);
        } else {
            check_minimal(&in, pre, sol, round);
            checked++;
        }
        tp_solution_free(sol);
        sf_free(&in);
    }
    TP_CHECK(checked >= 100);
}

/* ---- many interchangeable workloads under nested caps ---------------------------
 * The solver aggregates workloads of equal weight, watts and deepest over-cap
 * node or domain into one integer column: instances where most workloads are
 * alike (1 or 2 GPUs, priority 0 or 1, two GPU wattages), on nodes under two
 * racks under a site, with node, rack and site caps cut at random. */

typedef struct {
    char fleet[8192], running[8192];
    int nrun;
} classes_t;

static void classes_make(tp_rng_t *r, int nodes, int nrun, classes_t *out)
{
    double draw[16] = {0}, rack[2] = {0}, site = 0;
    int used[16] = {0}, gw[16];
    char buf[2048];
    size_t at = 0;
    out->nrun = 0;
    at += (size_t)snprintf(out->running + at, sizeof out->running - at, "[");
    for (int n = 0; n < nodes; n++) {
        gw[n] = tp_rng_chance(r, 0.5) ? 500 : 300;
        draw[n] = 1000;
    }
    for (int i = 0; i < nrun; i++) {
        int g = 1 + (int)tp_rng_below(r, 2), n = (int)tp_rng_below(r, (uint64_t)nodes);
        int n2 = (n + 1 + (int)tp_rng_below(r, (uint64_t)nodes - 1)) % nodes;
        if (tp_rng_chance(r, 0.2) && used[n] + g <= 8 && used[n2] + g <= 8) {
            /* a gang: one member on n, one on n2; it stops whole */
            used[n] += g;
            used[n2] += g;
            draw[n] += g * gw[n];
            draw[n2] += g * gw[n2];
            at += (size_t)snprintf(
                out->running + at, sizeof out->running - at,
                "%s{\"id\": \"w%02d\", \"gpus\": %d, \"sensitivity\": \"public\", "
                "\"nodes\": 2, \"members\": [\"n%d\", \"n%d\"], \"priority\": %d, "
                "\"preemptible\": true}",
                out->nrun ? ", " : "", i, g, n, n2, (int)tp_rng_below(r, 2));
            out->nrun++;
            continue;
        }
        if (used[n] + g > 8)
            continue;
        used[n] += g;
        draw[n] += g * gw[n];
        at += (size_t)snprintf(
            out->running + at, sizeof out->running - at,
            "%s{\"id\": \"w%02d\", \"gpus\": %d, \"sensitivity\": \"public\", "
            "\"node\": \"n%d\", \"priority\": %d, \"preemptible\": %s}",
            out->nrun ? ", " : "", i, g, n, (int)tp_rng_below(r, 2),
            tp_rng_chance(r, 0.9) ? "true" : "false");
        out->nrun++;
    }
    snprintf(out->running + at, sizeof out->running - at, "]");
    at = 0;
    for (int n = 0; n < nodes; n++) {
        double cap = tp_rng_chance(r, 0.3)
                         ? fmax(1100, draw[n] - 250 * (double)tp_rng_below(r, 6))
                         : 20000;
        rack[n % 2] += draw[n];
        site += draw[n];
        at += (size_t)snprintf(
            buf + at, sizeof buf - at,
            "%s{\"id\": \"n%d\", \"power_domain\": \"rack-%c\", \"region\": \"r-de\", "
            "\"gpu_model\": \"H100\", \"gpus\": 8, \"cap_w\": %.0f, \"idle_w\": 1000, "
            "\"gpu_w\": %d}",
            n ? ", " : "", n, n % 2 ? 'b' : 'a', cap, gw[n]);
    }
    snprintf(out->fleet, sizeof out->fleet,
             "{\"version\": 1, \"regions\": {\"r-de\": {\"countries\": [\"DE\"]}}, "
             "\"power_domains\": [{\"id\": \"site\", \"cap_w\": %.0f}, "
             "{\"id\": \"rack-a\", \"parent\": \"site\", \"cap_w\": %.0f}, "
             "{\"id\": \"rack-b\", \"parent\": \"site\", \"cap_w\": %.0f}], "
             "\"nodes\": [%s], \"policy\": {\"classes\": {\"public\": {}}}}",
             site * (0.7 + 0.35 * tp_rng_unit(r)),
             rack[0] * (0.7 + 0.35 * tp_rng_unit(r)),
             rack[1] * (0.7 + 0.35 * tp_rng_unit(r)), buf);
}

TP_TEST(solver_preempt_classes_vs_exhaustive)
{
    tp_rng_t rng;
    int checked = 0;
    tp_rng_init(&rng, 4242);
    for (int round = 0; round < 300 * tp_test_soak(); round++) {
        classes_t cl;
        sf_inst_t in;
        classes_make(&rng, 2 + (int)tp_rng_below(&rng, 4), 6 + (int)tp_rng_below(&rng, 7),
                     &cl);
        tp_solution_t *sol = solve_fleet(
            cl.fleet, "{\"observed_at\": 1795000000, \"nodes\": {}}", cl.running, &in);
        if (!sol) {
            sf_free(&in);
            continue;
        }
        unsigned pre;
        if (in.running->n > 14 || !worth_checking(&in, &pre)) { /* gangs: 2 entries */
            tp_solution_free(sol);
            sf_free(&in);
            continue;
        }
        check_minimal(&in, pre, sol, round);
        checked++;
        tp_solution_free(sol);
        sf_free(&in);
    }
    TP_CHECK(checked >= 100);
}
