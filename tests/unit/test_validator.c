/*
 * tests/unit/test_validator.c — the validator accepts what the policy allows and
 * refuses, with a precise message, every kind of violation; and it agrees with
 * the policy (written separately) on thousands of random single placements,
 * over many generated worlds with running work and preemptions.
 */
#include "tests/unit/tp_test.h"

#include "gen/gen.h"
#include "policy/policy.h"
#include "policy/validator.h"
#include "util/rng.h"

#include <jansson.h>
#include <stdlib.h>

typedef struct {
    tp_fleet_t *f;
    tp_state_t *s;
    tp_workloads_t *pending, *running;
    int64_t now;
} world_t;

static int load_generated(world_t *w, int nodes, int count, uint64_t seed)
{
    tp_error_t err;
    tp_gen_fleet_opts_t o = {nodes, seed, "eu-de,eu-fr"};
    json_t *fj = tp_gen_fleet(&o, &err);
    char *ft = json_dumps(fj, 0);
    int rc = tp_fleet_load_buffer("gen-fleet", ft, strlen(ft), &w->f, &err);
    json_decref(fj);
    free(ft);
    if (rc < 0)
        return rc;
    json_t *sj = tp_gen_state(w->f, seed, TP_GEN_DEFAULT_NOW, &err);
    json_t *wj = tp_gen_workloads(w->f, count, seed, &err);
    char *st = json_dumps(sj, 0), *wt = json_dumps(wj, 0);
    rc = tp_state_load_buffer("gen-state", st, strlen(st), w->f, &w->s, &err);
    if (rc == 0)
        rc = tp_workloads_load_buffer("gen-workloads", wt, strlen(wt), w->f,
                                      TP_WL_PENDING, &w->pending, &err);
    json_decref(sj);
    json_decref(wj);
    free(st);
    free(wt);
    w->running = tp_workloads_new_empty();
    w->now = TP_GEN_DEFAULT_NOW;
    if (rc < 0)
        fprintf(stderr, "  %s\n", err.text);
    return rc;
}

static void unload(world_t *w)
{
    tp_fleet_free(w->f);
    tp_state_free(w->s);
    tp_workloads_free(w->pending);
    tp_workloads_free(w->running);
}

/* First fit with the policy; pending work gets its reasons against the final load. */
static tp_result_t *greedy(const world_t *w)
{
    tp_result_t *r = tp_result_new();
    tp_load_t *l = tp_load_new(w->f, w->s, w->running);
    char *placed = calloc((size_t)w->pending->n + 1, 1);
    for (int i = 0; i < w->pending->n; i++) {
        const tp_workload_t *wl = &w->pending->w[i];
        for (int n = 0; n < w->f->nnodes; n++)
            if (!tp_policy_check(w->f, w->s, l, n, wl, w->now)) {
                tp_result_add_placement(r, i, n, wl->gpus);
                tp_load_apply(l, w->f, n, wl->gpus,
                              tp_fleet_gpu_watts(w->f, n, wl->model), 1);
                placed[i] = 1;
                break;
            }
    }
    for (int i = 0; i < w->pending->n; i++)
        if (!placed[i]) {
            int counts[TP_PRED_COUNT];
            tp_policy_count(w->f, w->s, l, &w->pending->w[i], w->now, counts);
            tp_result_add_pending(r, i, counts);
        }
    free(placed);
    tp_load_free(l);
    return r;
}

static int count_matching(const tp_violations_t *v, const char *needle)
{
    int k = 0;
    for (int i = 0; i < v->n; i++)
        k += strstr(v->msgs[i], needle) != NULL;
    return k;
}

TP_TEST(validator_accepts_policy_greedy)
{
    world_t w = {0};
    tp_violations_t v;
    TP_ASSERT(load_generated(&w, 400, 600, 11) == 0);
    tp_result_t *r = greedy(&w);
    tp_violations_init(&v);
    TP_CHECK(r->nplacements > 100);
    TP_CHECK(r->npending > 0); /* caps and security leave some work waiting */
    TP_CHECK_EQ_INT(tp_validate(w.f, w.s, w.pending, w.running, r, w.now, &v), 0);
    for (int i = 0; i < v.n && i < 5; i++)
        fprintf(stderr, "  %s\n", v.msgs[i]);
    tp_violations_fini(&v);
    tp_result_free(r);
    unload(&w);
}

/* Finds a node that fails workload i on the predicates in `want` and no other. */
static int ineligible_node(const world_t *w, int i, tp_predset_t want)
{
    for (int n = 0; n < w->f->nnodes; n++) {
        tp_predset_t fail = tp_policy_static(w->f, w->s, n, &w->pending->w[i], w->now);
        if (fail && !(fail & ~want))
            return n;
    }
    return -1;
}

static int find_class(const world_t *w, const char *cls)
{
    for (int i = 0; i < w->pending->n; i++)
        if (!strcmp(w->f->classes[w->pending->w[i].cls].name, cls))
            return i;
    return -1;
}

TP_TEST(validator_refuses_each_violation)
{
    world_t w = {0};
    tp_violations_t v;
    TP_ASSERT(load_generated(&w, 200, 300, 5) == 0);
    tp_result_t *good = greedy(&w);
    int reg = find_class(&w, "regulated");
    TP_ASSERT(reg >= 0);

    struct {
        const char *name, *expect;
    } cases[] = {
        {"attestation", "attestation"}, {"residency", "residency"},
        {"twice", "placed twice"},      {"gpus", "GPUs, needs"},
        {"no-reasons", "no reasons"},   {"unlisted", "neither placed nor pending"},
        {"capacity", "healthy"},        {"power", "over its cap"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tp_result_t *r = tp_result_new();
        const char *k = cases[c].name;
        /* Start from the valid greedy result, then break one thing. */
        for (int i = 0; i < good->nplacements; i++)
            tp_result_add_placement(r, good->placements[i].workload,
                                    good->placements[i].node, good->placements[i].gpus);
        for (int i = 0; i < good->npending; i++)
            tp_result_add_pending(r, good->pending[i].workload, good->pending[i].reasons);
        if (!strcmp(k, "attestation") || !strcmp(k, "residency")) {
            tp_predset_t want = !strcmp(k, "residency") ? TP_PRED_BIT(TP_PRED_RESIDENCY)
                                                        : TP_PREDS_ATTESTATION;
            /* Move the regulated workload onto a node that fails it. */
            int n = ineligible_node(&w, reg, want);
            TP_ASSERT(n >= 0);
            int moved = 0;
            for (int i = 0; i < r->nplacements; i++)
                if (r->placements[i].workload == reg) {
                    r->placements[i].node = n;
                    moved = 1;
                }
            if (!moved) {
                for (int i = 0; i < r->npending; i++)
                    if (r->pending[i].workload == reg)
                        r->pending[i] = r->pending[--r->npending];
                tp_result_add_placement(r, reg, n, w.pending->w[reg].gpus);
            }
        } else if (!strcmp(k, "twice")) {
            tp_result_add_placement(r, r->placements[0].workload, r->placements[0].node,
                                    r->placements[0].gpus);
        } else if (!strcmp(k, "gpus")) {
            r->placements[0].gpus += 1;
        } else if (!strcmp(k, "no-reasons")) {
            TP_ASSERT(r->npending > 0);
            memset(r->pending[0].reasons, 0, sizeof r->pending[0].reasons);
        } else if (!strcmp(k, "unlisted")) {
            TP_ASSERT(r->npending > 0);
            r->npending--;
        } else if (!strcmp(k, "capacity") || !strcmp(k, "power")) {
            /* Pile public work onto one node, ignoring capacity and power. */
            int node = r->placements[0].node;
            for (int i = 0; i < r->nplacements; i++)
                if (w.f->classes[w.pending->w[r->placements[i].workload].cls]
                        .req.attestation == false)
                    r->placements[i].node = node;
        }
        tp_violations_init(&v);
        int nv = tp_validate(w.f, w.s, w.pending, w.running, r, w.now, &v);
        if (nv <= 0 || count_matching(&v, cases[c].expect) == 0) {
            tp_test_fail(__FILE__, __LINE__, "case %s: %d violations, none with \"%s\"",
                         k, nv, cases[c].expect);
            for (int i = 0; i < v.n && i < 3; i++)
                fprintf(stderr, "    %s\n", v.msgs[i]);
        }
        tp_violations_fini(&v);
        tp_result_free(r);
    }
    tp_result_free(good);
    unload(&w);
}

TP_TEST(validator_preemption_rules)
{
    world_t w = {0};
    tp_error_t err;
    tp_violations_t v;
    TP_ASSERT(load_generated(&w, 50, 0, 3) == 0);
    tp_workloads_free(w.running);
    char text[512];
    snprintf(
        text, sizeof text,
        "[{\"id\":\"keep\",\"gpus\":1,\"sensitivity\":\"public\",\"preemptible\":false,"
        "\"node\":\"%s\"},{\"id\":\"spot\",\"gpus\":1,\"sensitivity\":\"public\","
        "\"node\":\"%s\"}]",
        w.f->nodes[0].id, w.f->nodes[1].id);
    TP_ASSERT(tp_workloads_load_buffer("running", text, strlen(text), w.f, TP_WL_RUNNING,
                                       &w.running, &err) == 0);
    tp_result_t *r = tp_result_new();
    tp_result_add_preemption(r, 1, 1, "power_node:x");
    TP_CHECK_EQ_INT(tp_validate(w.f, w.s, w.pending, w.running, r, w.now, NULL), 0);
    tp_result_add_preemption(r, 0, 0, "power_node:y");
    tp_violations_init(&v);
    TP_CHECK_EQ_INT(tp_validate(w.f, w.s, w.pending, w.running, r, w.now, &v), 1);
    TP_CHECK_EQ_INT(count_matching(&v, "non-preemptible workload keep preempted"), 1);
    tp_violations_fini(&v);
    tp_result_add_preemption(r, 1, 1, "again");
    TP_CHECK_EQ_INT(tp_validate(w.f, w.s, w.pending, w.running, r, w.now, NULL), 2);
    tp_result_free(r);
    unload(&w);
}

/* Running work for w: a fresh generated set (ids prefixed "run-", every third
 * one not preemptible), each placed first fit through the policy from a random
 * node, so the running load itself is valid; what fits nowhere is dropped. */
static int add_running(world_t *w, uint64_t seed, int count)
{
    tp_error_t err;
    tp_rng_t g;
    tp_workloads_t *cand = NULL;
    json_t *wj = tp_gen_workloads(w->f, count, seed, &err), *out = json_array();
    char *wt = wj ? json_dumps(wj, 0) : NULL;
    int rc = wt ? tp_workloads_load_buffer("gen-running", wt, strlen(wt), w->f,
                                           TP_WL_PENDING, &cand, &err)
                : -1;
    free(wt);
    tp_load_t *l = rc == 0 ? tp_load_new(w->f, w->s, NULL) : NULL;
    tp_rng_init(&g, seed);
    for (int i = 0; l && i < cand->n; i++) {
        const tp_workload_t *wl = &cand->w[i];
        int start = (int)tp_rng_below(&g, (uint64_t)w->f->nnodes);
        for (int k = 0; k < w->f->nnodes; k++) {
            int n = (start + k) % w->f->nnodes;
            if (tp_policy_check(w->f, w->s, l, n, wl, w->now))
                continue;
            tp_load_apply(l, w->f, n, wl->gpus, tp_fleet_gpu_watts(w->f, n, wl->model),
                          1);
            json_t *o = json_deep_copy(json_array_get(wj, (size_t)i));
            char id[96];
            snprintf(id, sizeof id, "run-%s", wl->id);
            json_object_set_new(o, "id", json_string(id));
            json_object_set_new(o, "node", json_string(w->f->nodes[n].id));
            json_object_set_new(o, "preemptible", json_boolean(i % 3 != 0));
            json_array_append_new(out, o);
            break;
        }
    }
    char *rt = json_dumps(out, 0);
    tp_workloads_free(w->running);
    w->running = NULL;
    if (rc == 0 && l && rt)
        rc = tp_workloads_load_buffer("gen-running", rt, strlen(rt), w->f, TP_WL_RUNNING,
                                      &w->running, &err);
    else
        rc = -1;
    if (rc < 0)
        fprintf(stderr, "  running: %s\n", err.text);
    if (!w->running)
        w->running = tp_workloads_new_empty();
    free(rt);
    json_decref(out);
    json_decref(wj);
    tp_load_free(l);
    tp_workloads_free(cand);
    return rc;
}

/* Two implementations, one verdict: a single placement, next to a random set of
 * preemptions of running work, is valid exactly when the policy finds the node
 * eligible under the load that remains. Over many generated worlds (sizes and
 * seeds; TP_SOAK multiplies them), each with running work. */
TP_TEST(validator_agrees_with_policy)
{
    int agree = 0, valid = 0, trials = 0, preempted = 0, freed = 0;
    int worlds = 24 * tp_test_soak();
    int zero[TP_PRED_COUNT] = {1}; /* a pending entry with one reason */
    for (int wi = 0; wi < worlds; wi++) {
        uint64_t seed = 99 + (uint64_t)wi * 7919;
        world_t w = {0};
        TP_ASSERT(load_generated(&w, 20 + (int)(seed % 181), 120, seed) == 0);
        TP_ASSERT(add_running(&w, seed + 1, 40 + (int)(seed % 60)) == 0);
        TP_CHECK(w.running->n > 0);
        tp_rng_t g;
        tp_rng_init(&g, seed);
        tp_load_t *all = tp_load_new(w.f, w.s, w.running); /* nothing preempted */
        for (int t = 0; t < 200; t++, trials++) {
            tp_result_t *r = tp_result_new();
            tp_load_t *l = tp_load_new(w.f, w.s, w.running);
            int npre = 0;
            for (int k = 0; k < w.running->n; k++) {
                const tp_workload_t *rw = &w.running->w[k];
                if (t % 3 == 0 || !rw->preemptible || tp_rng_below(&g, 4) != 0)
                    continue;
                tp_result_add_preemption(r, k, rw->node, "test");
                tp_load_apply(l, w.f, rw->node, rw->gpus,
                              tp_fleet_gpu_watts(w.f, rw->node, rw->model), -1);
                npre++;
            }
            preempted += npre > 0;
            int i = (int)tp_rng_below(&g, (uint64_t)w.pending->n);
            int n = (int)tp_rng_below(&g, (uint64_t)w.f->nnodes);
            if (t % 2 && w.running->n) /* often where running work sits */
                n = w.running->w[tp_rng_below(&g, (uint64_t)w.running->n)].node;
            tp_result_add_placement(r, i, n, w.pending->w[i].gpus);
            for (int k = 0; k < w.pending->n; k++)
                if (k != i)
                    tp_result_add_pending(r, k, zero);
            int nv = tp_validate(w.f, w.s, w.pending, w.running, r, w.now, NULL);
            int ok = tp_policy_check(w.f, w.s, l, n, &w.pending->w[i], w.now) == 0;
            agree += (nv == 0) == ok;
            valid += ok;
            /* valid only because of what was preempted */
            freed +=
                ok && tp_policy_check(w.f, w.s, all, n, &w.pending->w[i], w.now) != 0;
            if ((nv == 0) != ok && agree > trials - 3)
                fprintf(stderr,
                        "  disagree: %s on %s (%d preempted): validator %d, policy %s\n",
                        w.pending->w[i].id, w.f->nodes[n].id, npre, nv,
                        ok ? "eligible" : "ineligible");
            tp_load_free(l);
            tp_result_free(r);
        }
        tp_load_free(all);
        unload(&w);
    }
    TP_CHECK_EQ_INT(agree, trials);
    TP_CHECK(valid > trials / 20);
    TP_CHECK(preempted > trials / 2 && preempted < trials);
    TP_CHECK(freed > trials / 100);
}

/* The fleet file's cpu_tee / gpu_cc are claims: every node below claims TDX and GPU
 * CC, but only a usable warning or affirming result that attests them meets a TEE
 * or CC requirement — with or without an attestation requirement. Policy and
 * validator are asked separately, per class and node. */
TP_TEST(validator_and_policy_never_trust_claims)
{
    static const struct {
        const char *node, *att; /* att: the state's attestation object, or NULL */
        bool ok;
    } nodes[] = {
        {"claim-only", NULL, false},
        {"contraindicated",
         "{\"status\":\"contraindicated\",\"cpu_tee\":\"tdx\",\"gpu_cc\":true,"
         "\"issued_at\":1794999900,\"expires_at\":1795003500}",
         false},
        {"status-none",
         "{\"status\":\"none\",\"cpu_tee\":\"tdx\",\"gpu_cc\":true,"
         "\"issued_at\":1794999900,\"expires_at\":1795003500}",
         false},
        {"expired",
         "{\"status\":\"affirming\",\"cpu_tee\":\"tdx\",\"gpu_cc\":true,"
         "\"issued_at\":1794990000,\"expires_at\":1795000000}",
         false},
        {"expired-said-none",
         "{\"status\":\"affirming\",\"cpu_tee\":\"none\",\"gpu_cc\":false,"
         "\"issued_at\":1794990000,\"expires_at\":1794999999}",
         false},
        {"future",
         "{\"status\":\"affirming\",\"cpu_tee\":\"tdx\",\"gpu_cc\":true,"
         "\"issued_at\":1795000600,\"expires_at\":1795004200}",
         false},
        {"unsaid",
         "{\"status\":\"affirming\",\"issued_at\":1794999900,\"expires_at\":1795003500}",
         false},
        {"affirming",
         "{\"status\":\"affirming\",\"cpu_tee\":\"tdx\",\"gpu_cc\":true,"
         "\"issued_at\":1794999900,\"expires_at\":1795003500}",
         true},
        {"warning",
         "{\"status\":\"warning\",\"cpu_tee\":\"tdx\",\"gpu_cc\":true,"
         "\"issued_at\":1794999900,\"expires_at\":1795003500}",
         true},
    };
    static const char *const classes[] = {"tee", "cc", "tee-att", "cc-att"};
    enum { NN = sizeof nodes / sizeof nodes[0], NC = 4 };
    char fleet[8192], state[8192], wl[1024];
    int fl = snprintf(fleet, sizeof fleet,
                      "{\"version\":1,\"regions\":{\"eu-de\":{\"countries\":[\"DE\"]}},"
                      "\"power_domains\":[{\"id\":\"site\",\"cap_w\":1e6}],\"nodes\":[");
    int sl = snprintf(state, sizeof state, "{\"observed_at\":1795000000,\"nodes\":{");
    for (int i = 0; i < NN; i++) {
        fl += snprintf(fleet + fl, sizeof fleet - (size_t)fl,
                       "%s{\"id\":\"%s\",\"power_domain\":\"site\",\"region\":\"eu-de\","
                       "\"gpu_model\":\"H100\",\"gpus\":8,\"cpu_tee\":\"tdx\","
                       "\"gpu_cc\":true,\"cap_w\":10000,\"idle_w\":100,\"gpu_w\":500}",
                       i ? "," : "", nodes[i].node);
        if (nodes[i].att)
            sl += snprintf(state + sl, sizeof state - (size_t)sl,
                           "%s\"%s\":{\"attestation\":%s}", sl > 40 ? "," : "",
                           nodes[i].node, nodes[i].att);
    }
    snprintf(fleet + fl, sizeof fleet - (size_t)fl,
             "],\"policy\":{\"classes\":{\"tee\":{\"cpu_tee\":[\"tdx\"]},"
             "\"cc\":{\"gpu_cc\":true},"
             "\"tee-att\":{\"cpu_tee\":[\"tdx\"],\"attestation\":{\"min_status\":"
             "\"warning\"}},"
             "\"cc-att\":{\"gpu_cc\":true,\"attestation\":{\"min_status\":\"warning\"}}"
             "}}}");
    snprintf(state + sl, sizeof state - (size_t)sl, "}}");
    snprintf(wl, sizeof wl,
             "[{\"id\":\"w-tee\",\"gpus\":1,\"sensitivity\":\"tee\"},"
             "{\"id\":\"w-cc\",\"gpus\":1,\"sensitivity\":\"cc\"},"
             "{\"id\":\"w-tee-att\",\"gpus\":1,\"sensitivity\":\"tee-att\"},"
             "{\"id\":\"w-cc-att\",\"gpus\":1,\"sensitivity\":\"cc-att\"}]");
    world_t w = {0};
    tp_error_t err;
    TP_ASSERT(tp_fleet_load_buffer("fleet", fleet, strlen(fleet), &w.f, &err) == 0);
    TP_ASSERT(tp_state_load_buffer("state", state, strlen(state), w.f, &w.s, &err) == 0);
    TP_ASSERT(tp_workloads_load_buffer("wl", wl, strlen(wl), w.f, TP_WL_PENDING,
                                       &w.pending, &err) == 0);
    w.running = tp_workloads_new_empty();
    w.now = TP_GEN_DEFAULT_NOW;
    for (int c = 0; c < NC; c++)
        for (int n = 0; n < NN; n++) {
            const tp_workload_t *wk = &w.pending->w[c];
            tp_workloads_t one = {w.pending->w + c, 1, NULL};
            tp_result_t *r = tp_result_new();
            tp_result_add_placement(r, 0, n, wk->gpus);
            tp_violations_t v;
            tp_violations_init(&v);
            int nv = tp_validate(w.f, w.s, &one, w.running, r, w.now, &v);
            tp_predset_t fail = tp_policy_static(w.f, w.s, n, wk, w.now);
            if ((nv == 0) != nodes[n].ok || (fail == 0) != nodes[n].ok)
                tp_test_fail(__FILE__, __LINE__,
                             "class %s on %s: validator %d violation(s)%s%s, policy "
                             "fails 0x%x; want %s",
                             classes[c], nodes[n].node, nv, v.n ? ": " : "",
                             v.n ? v.msgs[0] : "", fail,
                             nodes[n].ok ? "eligible" : "refused");
            tp_violations_fini(&v);
            tp_result_free(r);
        }
    unload(&w);
}

/* The incremental entry point (tp_validate_new against a kept tally) and the
 * whole check (tp_validate) give the same verdict and the same number of
 * violations on random results: several placements at once (often where work
 * already runs, sometimes twice the same workload), pending entries sometimes
 * missing or without reasons — over worlds whose tally was kept through random
 * starts and stops of running work, as the service keeps it. */
TP_TEST(validator_new_agrees_with_whole)
{
    int trials = 0, same = 0, valid = 0, invalid = 0;
    int worlds = 16 * tp_test_soak();
    int one[TP_PRED_COUNT] = {1}, none[TP_PRED_COUNT] = {0};
    for (int wi = 0; wi < worlds; wi++) {
        uint64_t seed = 4242 + (uint64_t)wi * 104729;
        world_t w = {0};
        TP_ASSERT(load_generated(&w, 20 + (int)(seed % 151), 60, seed) == 0);
        TP_ASSERT(add_running(&w, seed + 3, 60 + (int)(seed % 80)) == 0);
        tp_rng_t g;
        tp_rng_init(&g, seed);
        /* The tally starts from nothing and follows starts and stops. */
        tp_vtally_t *t = tp_vtally_new(w.f, w.s, NULL);
        TP_ASSERT(t != NULL);
        int nr = w.running->n;
        tp_workload_t *kept = malloc(((size_t)nr + 1) * sizeof *kept);
        char *on = calloc((size_t)nr + 1, 1);
        for (int k = 0; k < nr; k++) {
            tp_vtally_move(t, w.f, w.running->w[k].node, &w.running->w[k], 1);
            on[k] = 1;
        }
        for (int trial = 0; trial < 120; trial++, trials++) {
            for (int m = 0; m < 3 && nr; m++) { /* some work stops, some restarts */
                int k = (int)tp_rng_below(&g, (uint64_t)nr);
                on[k] = !on[k];
                tp_vtally_move(t, w.f, w.running->w[k].node, &w.running->w[k],
                               on[k] ? 1 : -1);
            }
            int nk = 0;
            for (int k = 0; k < nr; k++)
                if (on[k])
                    kept[nk++] = w.running->w[k];
            tp_workloads_t run = {.w = kept, .n = nk};
            tp_result_t *r = tp_result_new();
            char *placed = calloc((size_t)w.pending->n + 1, 1);
            int np = 1 + (int)tp_rng_below(&g, 6);
            for (int q = 0; q < np; q++) {
                int i = (int)tp_rng_below(&g, (uint64_t)w.pending->n);
                int n = (int)tp_rng_below(&g, (uint64_t)w.f->nnodes);
                if (q % 2 && nk)
                    n = kept[tp_rng_below(&g, (uint64_t)nk)].node;
                if (placed[i] && tp_rng_below(&g, 8) != 0)
                    continue;
                tp_result_add_placement(r, i, n, w.pending->w[i].gpus);
                placed[i] = 1;
            }
            for (int k = 0; k < w.pending->n; k++) {
                if (placed[k] || tp_rng_below(&g, 200) == 0)
                    continue;
                tp_result_add_pending(r, k, tp_rng_below(&g, 300) ? one : none);
            }
            int whole = tp_validate(w.f, w.s, w.pending, &run, r, w.now, NULL);
            int part = tp_validate_new(w.f, w.s, t, w.pending, r, w.now, NULL);
            /* The same verdict (the counts may differ: the whole check also
             * reports a doubly placed workload as a gang of the wrong size). */
            same += (whole > 0) == (part > 0) && whole >= 0 && part >= 0;
            valid += whole == 0;
            invalid += whole > 0;
            if ((whole > 0) != (part > 0) && same > trials - 3)
                fprintf(stderr, "  disagree: whole %d, new %d (%d placements)\n", whole,
                        part, r->nplacements);
            free(placed);
            tp_result_free(r);
        }
        /* A result that stops running work is never taken on the tally's word. */
        if (nr) {
            tp_result_t *r = tp_result_new();
            tp_result_add_preemption(r, 0, w.running->w[0].node, "test");
            for (int k = 0; k < w.pending->n; k++)
                tp_result_add_pending(r, k, one);
            TP_CHECK(tp_validate_new(w.f, w.s, t, w.pending, r, w.now, NULL) > 0);
            tp_result_free(r);
        }
        tp_vtally_free(t);
        free(kept);
        free(on);
        unload(&w);
    }
    TP_CHECK_EQ_INT(same, trials);
    TP_CHECK(valid > trials / 20);
    TP_CHECK(invalid > trials / 5);
}
