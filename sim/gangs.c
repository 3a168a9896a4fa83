/*
 * sim/gangs.c — gangs and tenants in the engine (docs/sim.md describes the model;
 * sim/engine.h the split):
 *   - a gang (a multi-node training job of a "training" source) is one pending
 *     job, its leader; it starts on all its member nodes at once or not at all
 *     (sim_gang_start refuses a decision that places part of it, as a policy
 *     bug), runs at its slowest member's speed, and stops whole — a member that
 *     is preempted or evicted stops every member (sim/jobs.c), the work done is
 *     kept (checkpointed);
 *   - the running list the policy sees, with each running gang's members
 *     consecutive and `gang` set, as model/model.h defines it;
 *   - GPUs in use per tenant (a group counts its sub-tenants), integrated per hour;
 *   - the checks after every decision and at every sample: no partial gang,
 *     no tenant grown past its limit (a failed check ends the run: exit 1);
 *   - their KPIs: "gangs" (wait by size) and "tenants" (use vs quota, hourly).
 * The world owns everything here; sim_gangs_fini frees it.
 */
#include "sim/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sim_gangs_init(world_t *w)
{
    const tp_fleet_t *U = w->U;
    bool gangs = false;
    for (int i = 0; i < w->s->nsrcs; i++)
        gangs |= w->s->srcs[i].kind == SRC_TRAINING;
    if (gangs && !(w->gang_wait = calloc(SIM_MAX_GANG + 1, sizeof *w->gang_wait)))
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    if (U->ntenants <= 0)
        return 0;
    int64_t hour = 3600 * SIM_US;
    w->nhours = (int)((w->s->duration_us + hour - 1) / hour);
    if (w->nhours < 1)
        w->nhours = 1;
    size_t nt = (size_t)U->ntenants;
    if (!(w->ten_use = calloc(nt, sizeof *w->ten_use)) ||
        !(w->ten_use_prev = calloc(nt, sizeof *w->ten_use_prev)) ||
        !(w->ten_max = calloc(nt, sizeof *w->ten_max)) ||
        !(w->ten_gpu_s = calloc(nt * (size_t)w->nhours, sizeof *w->ten_gpu_s)) ||
        !(w->ten_q_gpu_s = calloc(nt * 4, sizeof *w->ten_q_gpu_s)))
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    return 0;
}

void sim_gangs_fini(world_t *w)
{
    free(w->view_w);
    free(w->view_j);
    free(w->gang_wait);
    free(w->ten_use);
    free(w->ten_use_prev);
    free(w->ten_max);
    free(w->ten_gpu_s);
    free(w->ten_q_gpu_s);
}

int sim_gang_new(world_t *w, job_t *j, int nodes, int together)
{
    j->nodes = nodes;
    j->together = together;
    if (!(j->mem = calloc((size_t)nodes, sizeof *j->mem)))
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    for (int k = 0; k < nodes - 1; k++) {
        job_t *m = sim_job_new(w);
        if (!m)
            return tp_error_set(w->err, TP_ENOMEM, "out of memory");
        snprintf(m->id, sizeof m->id, "%s", j->id);
        m->kind = JOB_BATCH;
        m->cls = j->cls;
        m->model = j->model;
        m->gpus = j->gpus;
        m->priority = j->priority;
        m->preemptible = j->preemptible;
        m->origin = j->origin;
        m->trace = j->trace;
        m->tenant = j->tenant;
        m->leader = j;
        m->state = JS_DONE;
        j->mem[k] = m;
    }
    return 0;
}

int sim_gang_start(world_t *w, job_t *j, const int *nodes, int n)
{
    const tp_fleet_t *F = w->F, *U = w->U;
    if (n != j->nodes)
        return tp_error_set(w->err, TP_EVIOLATION,
                            "policy %s placed %d of the %d members of gang %s (a partial "
                            "gang; a bug in the policy)",
                            w->policy_name, n, j->nodes, j->id);
    int kind = j->together - 1, d0 = -1;
    double speed = INFINITY;
    /* Every member's node is checked before any member starts: all or none. */
    for (int k = 0; k < n; k++) {
        int u = nodes[k] >= 0 && nodes[k] < F->nnodes ? w->u_of_n[nodes[k]] : -1;
        if (u < 0)
            return tp_error_set(w->err, TP_EVIOLATION,
                                "policy %s placed a member of gang %s on no present node",
                                w->policy_name, j->id);
        for (int q = 0; q < k; q++)
            if (nodes[q] == nodes[k])
                return tp_error_set(w->err, TP_EVIOLATION,
                                    "policy %s placed two members of gang %s on %s",
                                    w->policy_name, j->id, F->nodes[nodes[k]].id);
        if (w->gpus_used[u] + j->gpus > sim_healthy(w, u))
            return tp_error_set(w->err, TP_EVIOLATION,
                                "policy %s placed a member of gang %s on %s beyond its "
                                "healthy GPUs (a bug in the policy)",
                                w->policy_name, j->id, F->nodes[nodes[k]].id);
        if (kind >= 0) {
            int d = tp_fleet_node_domain_of_kind(U, u, kind);
            if (d < 0 || (k > 0 && d != d0))
                return tp_error_set(w->err, TP_EVIOLATION,
                                    "policy %s placed gang %s across %s domains",
                                    w->policy_name, j->id, U->kinds[kind]);
            d0 = d;
        }
        /* Synchronous training: the gang runs at its slowest member's speed. */
        const tp_profile_t *p = tp_fleet_profile(U, j->model, U->nodes[u].gpu_model);
        double sp = 1;
        if (p && !w->s->wall_time_jobs && j->model >= 0 && w->ref_tps[j->model] > 0)
            sp = p->tokens_per_s / w->ref_tps[j->model];
        speed = fmin(speed, sp);
    }
    j->gang_speed = speed;
    double wait = (double)(w->now_us - j->queued_us) / SIM_US;
    int rc = sim_start_job(w, j, nodes[0]);
    for (int k = 1; k < n && rc == 0; k++) {
        job_t *m = j->mem[k - 1];
        m->state = JS_PENDING;
        m->queued_us = w->now_us;
        m->remaining_us = j->remaining_us;
        m->work_us = j->work_us;
        m->warm = false;
        memcpy(m->res, j->res, sizeof m->res);
        m->nres = j->nres;
        m->res_mode = j->res_mode;
        rc = sim_start_job(w, m, nodes[k]);
    }
    if (rc < 0)
        return rc;
    w->gangs_running++;
    w->gangs_started++;
    if (w->gang_wait && j->nodes <= SIM_MAX_GANG)
        sim_hist_add(&w->gang_wait[j->nodes], wait);
    return 0;
}

int sim_running_view(world_t *w, tp_workload_t **vw, job_t ***vj)
{
    if (w->gangs_running == 0) {
        *vw = w->run_w;
        *vj = w->run;
        w->nview = w->nrun;
        return 0;
    }
    if (sim_grow((void **)&w->view_w, &w->cap_view_w, w->nrun + 1, sizeof *w->view_w) <
            0 ||
        sim_grow((void **)&w->view_j, &w->cap_view_j, w->nrun + 1, sizeof *w->view_j) < 0)
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    int k = 0;
    for (int i = 0; i < w->nrun; i++) {
        job_t *j = w->run[i];
        if (j->leader)
            continue; /* listed after its leader */
        w->view_j[k] = j;
        w->view_w[k++] = w->run_w[i];
        if (!j->mem)
            continue;
        int first = k - 1;
        w->view_w[first].gang = first + 1;
        for (int q = 0; q < j->nodes - 1; q++) {
            job_t *m = j->mem[q];
            w->view_j[k] = m;
            w->view_w[k] = w->run_w[m->ix];
            w->view_w[k++].gang = first + 1;
        }
    }
    w->nview = k;
    *vw = w->view_w;
    *vj = w->view_j;
    return 0;
}

void sim_tenant_add(world_t *w, int t, int delta)
{
    if (!w->ten_use)
        return;
    for (; t >= 0; t = w->U->tenants[t].parent) {
        w->ten_use[t] += delta;
        if (w->ten_use[t] > w->ten_max[t])
            w->ten_max[t] = w->ten_use[t];
    }
}

/* Integrates each tenant's use over [from, to) into bins of width us (nb of
 * them, the last one open-ended): acc[t × nb + bin]. */
static void integrate(world_t *w, int64_t from, int64_t to, int64_t us, int nb,
                      double *acc)
{
    while (from < to) {
        int b = (int)(from / us);
        if (b >= nb)
            b = nb - 1;
        int64_t end = (int64_t)(b + 1) * us;
        if (end > to || b == nb - 1)
            end = to;
        double dt = (double)(end - from) / SIM_US;
        for (int t = 0; t < w->U->ntenants; t++)
            acc[(size_t)t * (size_t)nb + (size_t)b] += w->ten_use[t] * dt;
        from = end;
    }
}

void sim_tenants_advance(world_t *w, int64_t from, int64_t to)
{
    if (!w->ten_use)
        return;
    integrate(w, from, to, 3600 * SIM_US, w->nhours, w->ten_gpu_s);
    int64_t q = (w->s->duration_us + 3) / 4;
    integrate(w, from, to, q > 0 ? q : 1, 4, w->ten_q_gpu_s);
}

int sim_gangs_check(world_t *w)
{
    const tp_fleet_t *U = w->U;
    double t_s = (double)w->now_us / SIM_US;
    if (w->gang_wait) {
        int running = 0;
        for (int i = 0; i < w->nrun; i++) {
            const job_t *j = w->run[i];
            if (j->leader && j->leader->state != JS_RUNNING)
                return tp_error_set(
                    w->err, TP_EVIOLATION,
                    "t=%.0f s, policy %s: a member of gang %s runs without "
                    "its gang",
                    t_s, w->policy_name, j->id);
            if (!j->mem)
                continue;
            running++;
            int kind = j->together - 1;
            int d0 = kind >= 0 ? tp_fleet_node_domain_of_kind(U, j->node_u, kind) : -1;
            for (int q = 0; q < j->nodes - 1; q++) {
                const job_t *m = j->mem[q];
                bool dup = m->node_u == j->node_u;
                for (int r = 0; r < q; r++)
                    dup |= j->mem[r]->node_u == m->node_u;
                if (m->state != JS_RUNNING || dup ||
                    (kind >= 0 && tp_fleet_node_domain_of_kind(U, m->node_u, kind) != d0))
                    return tp_error_set(
                        w->err, TP_EVIOLATION,
                        "t=%.0f s, policy %s: gang %s runs in part, twice "
                        "on a node or outside one %s",
                        t_s, w->policy_name, j->id, kind >= 0 ? U->kinds[kind] : "fleet");
            }
        }
        if (running != w->gangs_running)
            return tp_error_set(w->err, TP_EVIOLATION,
                                "t=%.0f s: %d gangs run, %d counted (a bug)", t_s,
                                running, w->gangs_running);
    }
    for (int t = 0; w->ten_use && t < U->ntenants; t++) {
        long lim = U->tenants[t].limit_gpus;
        if (lim >= 0 && w->ten_use[t] > lim && w->ten_use[t] > w->ten_use_prev[t])
            return tp_error_set(w->err, TP_EVIOLATION,
                                "t=%.0f s, policy %s: tenant %s uses %ld GPUs, over its "
                                "limit %ld",
                                t_s, w->policy_name, U->tenants[t].name, w->ten_use[t],
                                lim);
        w->ten_use_prev[t] = w->ten_use[t];
    }
    return 0;
}

json_t *sim_gangs_json(const world_t *w, json_t **tenants)
{
    const tp_fleet_t *U = w->U;
    json_t *g = NULL;
    *tenants = NULL;
    if (w->gang_wait) {
        long long pend = 0;
        json_t *by = json_object();
        for (int i = 0; i < w->npend; i++)
            pend += w->pend[i]->nodes > 1;
        for (int n = 2; n <= SIM_MAX_GANG; n++)
            if (w->gang_wait[n].n) {
                char k[16];
                snprintf(k, sizeof k, "%d", n);
                json_object_set_new(by, k, sim_hist_json(&w->gang_wait[n]));
            }
        g = json_pack("{s:I, s:I, s:I, s:I, s:i, s:I, s:o}", "arrived",
                      (json_int_t)w->gangs_arrived, "started",
                      (json_int_t)w->gangs_started, "stopped",
                      (json_int_t)w->gangs_stopped, "completed",
                      (json_int_t)w->gangs_done, "running_end", w->gangs_running,
                      "pending_end", (json_int_t)pend, "wait_by_size", by);
    }
    if (w->ten_use) {
        double dur = (double)w->s->duration_us / SIM_US;
        json_t *o = json_object();
        for (int t = 0; t < U->ntenants; t++) {
            const tp_tenant_t *tn = &U->tenants[t];
            json_t *hourly = json_array();
            double sum = 0;
            for (int h = 0; h < w->nhours; h++) {
                double s = w->ten_gpu_s[(size_t)t * (size_t)w->nhours + (size_t)h];
                double span = fmin(3600.0, dur - 3600.0 * h);
                sum += s;
                json_array_append_new(hourly, json_real(sim_r6(span > 0 ? s / span : 0)));
            }
            double mean = dur > 0 ? sum / dur : 0;
            /* The run in quarters ("0-6h", … for a day): use ÷ quota. */
            json_t *quarters = json_object();
            double qd = dur / 4;
            for (int q = 0; q < 4; q++) {
                char k[48];
                snprintf(k, sizeof k, "%.4g-%.4gh", q * qd / 3600, (q + 1) * qd / 3600);
                double use = qd > 0 ? w->ten_q_gpu_s[t * 4 + q] / qd : 0;
                json_object_set_new(
                    quarters, k,
                    json_real(sim_r6(tn->quota_gpus > 0 ? use / tn->quota_gpus : 0)));
            }
            json_t *x = json_pack(
                "{s:i, s:i, s:f, s:I, s:f, s:o, s:o}", "quota_gpus", tn->quota_gpus,
                "limit_gpus", tn->limit_gpus, "mean_gpus", sim_r6(mean), "max_gpus",
                (json_int_t)w->ten_max[t], "share_of_quota",
                sim_r6(tn->quota_gpus > 0 ? mean / tn->quota_gpus : 0),
                "share_of_quota_by_quarter", quarters, "hourly_gpus", hourly);
            if (tn->parent >= 0)
                json_object_set_new(x, "parent",
                                    json_string(U->tenants[tn->parent].name));
            json_object_set_new(o, tn->name, x);
        }
        *tenants = o;
    }
    return g;
}
