/*
 * sim/warm.c — a warm start from a file of running work (docs/sim.md, "warm_start"):
 * the scenario's `warm_start` is read and checked when a variant is compiled (the
 * running-workloads file of docs/formats.md against the union fleet: nodes present
 * at the start, GPUs within each node's healthy ones, models with a profile), and
 * each simulation starts that work at t = 0 after checking it is eligible where it
 * runs under the facts at the start. Errors name the running file and its JSON path.
 *
 * Ownership: sim_setup_t owns warm (tp_workloads_free), warm_file and warm_rem_us
 * (free; "SCENARIO: $.warm_start.running: FILE", the prefix of errors);
 * sim_setup_free frees them. The world owns the jobs it creates.
 */
#include "sim/engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* $.warm_start: {"running": FILE, "remaining_s": N | {"mean": N, "sigma": S}};
 * path is FILE resolved by the caller. */
int sim_warm_load(jr_t *j, const json_t *v, const char *path, sim_setup_t *s)
{
    static const char *const k[] = {"running", "remaining_s", NULL};
    static const char *const k_rem[] = {"mean", "sigma", NULL};
    const tp_fleet_t *U = s->fleet;
    double fixed = NAN, mean = NAN, sigma = 1;
    tp_error_t e;
    if (jr_object(j, v, "$.warm_start", k) < 0)
        return TP_EINVAL;
    const json_t *r = json_object_get(v, "remaining_s");
    if (!r)
        return jr_fail(
            j, TP_EINVAL, "$.warm_start.remaining_s",
            "required: the work left of each running workload, seconds "
            "(a number, or {\"mean\", \"sigma\"} for seeded log-normal draws)");
    if (json_is_object(r)) {
        if (jr_object(j, r, "$.warm_start.remaining_s", k_rem) < 0 ||
            jr_number(j, r, "$.warm_start.remaining_s", "mean", true, 1, 366 * 86400.0,
                      &mean) < 0 ||
            jr_number(j, r, "$.warm_start.remaining_s", "sigma", false, 0, 3, &sigma) < 0)
            return TP_EINVAL;
    } else if (jr_number(j, v, "$.warm_start", "remaining_s", true, 1, 366 * 86400.0,
                         &fixed) < 0) {
        return TP_EINVAL;
    }
    if (tp_workloads_load(path, U, TP_WL_RUNNING, &s->warm, &e) < 0)
        return tp_error_set(j->err, e.code, "%s: $.warm_start.running: %s", j->file,
                            e.text);
    char where[4096];
    snprintf(where, sizeof where, "%s: $.warm_start.running: %s", j->file, path);
    if (!(s->warm_file = strdup(where)) ||
        !(s->warm_rem_us = calloc((size_t)s->warm->n + 1, sizeof *s->warm_rem_us)))
        return tp_error_set(j->err, TP_ENOMEM, "out of memory");
    int *used = calloc((size_t)U->nnodes + 1, sizeof *used);
    if (!used)
        return tp_error_set(j->err, TP_ENOMEM, "out of memory");
    /* Remaining work: the same draws for every policy (a stream of its own). */
    tp_rng_t rng;
    tp_rng_init(&rng, s->seed ^ 0x3a7e57a27ULL);
    int rc = 0;
    for (int i = 0; i < s->warm->n && rc == 0; i++) {
        const tp_workload_t *x = &s->warm->w[i];
        const tp_node_t *n = &U->nodes[x->node];
        int healthy = n->gpus;
        if (s->state0 && s->state0->nodes[x->node].gpus_healthy >= 0)
            healthy = s->state0->nodes[x->node].gpus_healthy;
        used[x->node] += x->gpus;
        if (x->nodes > 1) /* members would start and stop apart: refused, not split */
            rc = tp_error_set(j->err, TP_EINVAL,
                              "%s: $.warm_start.running: %s: $[%d].nodes: a running gang "
                              "cannot warm-start the simulation (single-node work only)",
                              j->file, path, i);
        else if (!s->present0[x->node])
            rc = tp_error_set(j->err, TP_EINVAL,
                              "%s: $.warm_start.running: %s: $[%d].node: \"%s\" is not "
                              "in the fleet at the start (an add_nodes event adds it)",
                              j->file, path, i, n->id);
        else if (used[x->node] > healthy)
            rc = tp_error_set(j->err, TP_EINVAL,
                              "%s: $.warm_start.running: %s: $[%d].gpus: node \"%s\" has "
                              "%d healthy GPUs at the start; the running work on it "
                              "needs %d",
                              j->file, path, i, n->id, healthy, used[x->node]);
        else if (x->model_name && x->model < 0)
            rc = tp_error_set(j->err, TP_EINVAL,
                              "%s: $.warm_start.running: %s: $[%d].model: no profile of "
                              "\"%s\" in the fleet",
                              j->file, path, i, x->model_name);
        else if (x->model >= 0 && !tp_fleet_profile(U, x->model, n->gpu_model))
            rc = tp_error_set(j->err, TP_EINVAL,
                              "%s: $.warm_start.running: %s: $[%d].model: \"%s\" has no "
                              "profile on %s, the GPU of node \"%s\"",
                              j->file, path, i, x->model_name,
                              U->gpu_models[n->gpu_model], n->id);
        double sec = fixed;
        if (isnan(fixed)) {
            double u1 = tp_rng_unit(&rng), u2 = tp_rng_unit(&rng);
            if (u1 < 1e-300)
                u1 = 1e-300;
            double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
            sec = exp(log(mean) - sigma * sigma / 2 + sigma * z);
        }
        s->warm_rem_us[i] = (int64_t)llround((sec < 1 ? 1 : sec) * SIM_US);
    }
    free(used);
    return rc;
}

/* Starts the warm-start work at t = 0 (the view and the facts at the start are
 * built). Each workload must pass every predicate on its node. */
int sim_warm_start(world_t *w)
{
    const sim_setup_t *s = w->s;
    if (!s->warm)
        return 0;
    for (int i = 0; i < s->warm->n; i++) {
        const tp_workload_t *x = &s->warm->w[i];
        job_t *j = sim_job_new(w);
        if (!j)
            return tp_error_set(w->err, TP_ENOMEM, "out of memory");
        /* Unique even when long ids are cut to fit. */
        if (snprintf(j->id, sizeof j->id, "warm%d:%.30s", i, x->id) >= (int)sizeof j->id)
            j->id[sizeof j->id - 1] = '\0';
        j->kind = JOB_BATCH;
        j->cls = x->cls;
        j->gpus = x->gpus;
        j->model = x->model;
        j->priority = x->priority;
        j->preemptible = x->preemptible;
        j->tenant = tp_wl_tenant(x);
        j->remaining_us = j->work_us = s->warm_rem_us[i];
        if (x->nresidency) {
            int nr = x->nresidency < SIM_MAX_REGIONS ? x->nresidency : SIM_MAX_REGIONS;
            memcpy(j->res, x->residency, (size_t)nr * sizeof *j->res);
            j->nres = nr;
            j->origin = x->residency[0];
            j->res_mode = x->req.residency != TP_RESIDENCY_NONE ? x->req.residency
                                                                : TP_RESIDENCY_DECLARED;
        }
        j->trace = true; /* known work from a file, not a generator */
        j->warm = true;
        if (sim_job_gpu_models(w, j, x->gpu_models, x->ngpu_models, x->any_gpu_model) <
                0 ||
            sim_pend_add(w, j) < 0)
            return TP_ENOMEM;
        w->jobs_arrived++;
        int n = w->n_of_u[x->node];
        tp_workload_t wl;
        sim_fill_wl(w, j, &wl);
        tp_predset_t bad = tp_policy_static(w->F, w->S, n, &wl, sim_now_s(w));
        if (bad) {
            char why[512] = "";
            size_t len = 0;
            for (int p = 0; p < TP_PRED_COUNT && len < sizeof why - 40; p++)
                if (bad & TP_PRED_BIT(p))
                    len += (size_t)snprintf(why + len, sizeof why - len, "%s%s",
                                            len ? ", " : "", tp_pred_name((tp_pred_t)p));
            return tp_error_set(w->err, TP_EINVAL,
                                "%s: $[%d]: not eligible on node \"%s\" at the start "
                                "(fails %s)",
                                s->warm_file, i, w->U->nodes[x->node].id, why);
        }
        int rc = sim_start_job(w, j, n);
        if (rc < 0)
            return rc;
    }
    sim_pend_compact(w);
    return 0;
}
