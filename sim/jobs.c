/*
 * sim/jobs.c — the life of a workload: pending and running lists, starting (with the
 * security check of every placement) and stopping (completion, preemption, eviction)
 * (docs/sim.md describes the model; sim/engine.h the split).
 */
#include "sim/engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sim_fill_wl(const world_t *w, job_t *j, tp_workload_t *wl)
{
    const job_t *g = j->leader ? j->leader : j; /* a gang member: its leader's lists */
    memset(wl, 0, sizeof *wl);
    wl->id = j->id;
    wl->model = j->model;
    wl->model_name = j->model >= 0 ? w->U->models[j->model] : NULL;
    wl->gpus = j->gpus;
    wl->any_gpu_model = g->any_gm;
    wl->gpu_models = g->gm_cur;
    wl->ngpu_models = g->ngm_cur;
    if (j->tenant >= 0) {
        wl->tenant = w->U->tenants[j->tenant].name;
        wl->tenant_ix = j->tenant + 1;
    }
    if (g->nodes > 1) {
        wl->nodes = g->nodes;
        int k = g->together - 1;
        wl->together = k < 0          ? 0
                       : w->F == w->U ? k + 1
                                      : tp_fleet_kind(w->F, w->U->kinds[k]) + 1;
    }
    wl->cls = j->cls;
    wl->req = w->U->classes[j->cls].req;
    if (j->nres && j->res_mode > wl->req.residency)
        wl->req.residency = j->res_mode;
    wl->residency = (int *)j->res;
    wl->nresidency = j->nres;
    wl->priority = j->priority;
    wl->preemptible = j->preemptible;
    wl->node = j->state == JS_RUNNING ? w->n_of_u[j->node_u] : -1;
}

int sim_grow(void **arr, int *cap, int need, size_t size)
{
    if (need <= *cap)
        return 0;
    int c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *g = realloc(*arr, (size_t)c * size);
    if (!g)
        return TP_ENOMEM;
    *arr = g;
    *cap = c;
    return 0;
}

/* Applies the residency rules in force to a job of class cls from region origin. */
void sim_apply_rules(world_t *w, job_t *j)
{
    if (j->origin < 0 || !(w->rule_mask[j->origin] & (1u << j->cls)))
        return;
    j->res[0] = j->origin;
    j->nres = 1;
    if (w->rule_mode[j->origin] > j->res_mode)
        j->res_mode = w->rule_mode[j->origin];
}

int sim_pend_add(world_t *w, job_t *j)
{
    if (sim_grow((void **)&w->pend, &w->cap_pend, w->npend + 1, sizeof *w->pend) < 0)
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    j->state = JS_PENDING;
    j->queued_us = w->now_us;
    j->reason = R_TICK;
    j->ix = w->npend;
    w->pend[w->npend++] = j;
    w->pend_gpus_cls[j->cls] += sim_job_gpus(j);
    w->changed = true;
    return 0;
}

job_t *sim_job_new(world_t *w)
{
    if (w->nall == w->cap_all) {
        size_t c = w->cap_all ? 2 * w->cap_all : 1024;
        job_t **g = realloc(w->all, c * sizeof *g);
        if (!g)
            return NULL;
        w->all = g;
        w->cap_all = c;
    }
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    w->all[w->nall++] = j;
    j->model = -1;
    j->origin = -1;
    j->any_gm = true;
    j->node_u = -1;
    j->tenant = -1;
    return j;
}

void sim_load_add(world_t *w, job_t *j, int sign)
{
    int u = j->node_u;
    w->gpus_used[u] += sign * j->gpus;
    w->work_w[u] += sign * j->watts;
    w->busy_gpus += sign * j->gpus;
    if (j->tenant >= 0)
        sim_tenant_add(w, j->tenant, sign * j->gpus);
    sim_node_power_add(w, u, sign * j->watts);
    w->token_rate += sign * j->tok_rate;
    if (j->kind == JOB_REPLICA) {
        w->replica_w += sign * j->watts;
    } else {
        w->batch_w += sign * j->watts;
        w->work_rate += sign * j->gpus * j->speed;
        *(j->trace ? &w->batch_rate_trace : &w->batch_rate_gen) += sign * j->tok_rate;
        *(j->trace ? &w->batch_gpus_trace : &w->batch_gpus_gen) += sign * j->gpus;
    }
    if (j->violating)
        w->viol_gpus += sign * j->gpus;
    if (j->kind == JOB_REPLICA) {
        sim_dep_advance(w, j->dep, w->now_us);
        sim_dep_gpu_advance(w, j->dep);
        w->dr[j->dep].cap += sign * j->cap;
        if (w->dr[j->dep].cap < 1e-9)
            w->dr[j->dep].cap = 0;
        w->dr[j->dep].running += sign;
    }
}

static int run_remove(world_t *w, job_t *j)
{
    int i = j->ix;
    w->nrun--;
    if (i != w->nrun) {
        w->run[i] = w->run[w->nrun];
        w->run_w[i] = w->run_w[w->nrun];
        w->run[i]->ix = i;
    }
    return 0;
}

/* Stops running job j. Batch work that did not complete goes back to pending. A
 * gang stops whole: a member stops its leader, the leader its members first. */
int sim_stop_job(world_t *w, job_t *j, int why)
{
    if (j->leader)
        return j->leader->state == JS_RUNNING ? sim_stop_job(w, j->leader, why) : 0;
    if (j->mem) {
        for (int k = 0; k < j->nodes - 1; k++) {
            job_t *m = j->mem[k];
            if (m->state != JS_RUNNING)
                continue;
            sim_load_add(w, m, -1);
            run_remove(w, m);
            m->gen++;
            m->state = JS_DONE;
        }
        w->gangs_running--;
        *(why == STOP_COMPLETE ? &w->gangs_done : &w->gangs_stopped) += 1;
    }
    sim_load_add(w, j, -1);
    run_remove(w, j);
    j->gen++;
    w->changed = true;
    if (why == STOP_PREEMPT)
        w->preemptions++;
    if (j->kind == JOB_REPLICA && !j->moving) {
        j->state = JS_DONE;
        return 0;
    }
    if (j->kind == JOB_REPLICA) { /* stopped to start elsewhere at once */
        w->dr[j->dep].pending++;
        j->violating = false;
        return sim_pend_add(w, j);
    }
    if (why == STOP_COMPLETE) {
        w->work_done_gpu_s += (double)sim_job_gpus(j) * (double)j->remaining_us / SIM_US;
        w->work_completed_gpu_s += (double)sim_job_gpus(j) * (double)j->work_us / SIM_US;
        j->remaining_us = 0;
        j->state = JS_DONE;
        w->jobs_done++;
        return 0;
    }
    /* Preempted or evicted: the work done so far is kept (checkpointed). */
    int64_t done = (int64_t)((double)(w->now_us - j->started_us) * j->speed);
    if (done > j->remaining_us - 1)
        done = j->remaining_us - 1;
    w->work_done_gpu_s += (double)sim_job_gpus(j) * (double)done / SIM_US;
    j->remaining_us -= done;
    j->violating = false;
    sim_apply_rules(w, j);
    return sim_pend_add(w, j);
}

int sim_start_job(world_t *w, job_t *j, int n)
{
    const tp_fleet_t *F = w->F;
    int u = n >= 0 && n < F->nnodes ? w->u_of_n[n] : -1;
    if (u < 0)
        return tp_error_set(w->err, TP_EVIOLATION,
                            "policy %s placed %s on no present node", w->policy_name,
                            j->id);
    if (w->gpus_used[u] + j->gpus > sim_healthy(w, u))
        return tp_error_set(w->err, TP_EVIOLATION,
                            "policy %s placed %s on %s beyond its healthy GPUs (a bug in "
                            "the policy)",
                            w->policy_name, j->id, F->nodes[n].id);
    tp_workload_t wl;
    sim_fill_wl(w, j, &wl);
    tp_predset_t bad = tp_policy_static(F, w->S, n, &wl, sim_now_s(w));
    if (bad & (TP_PRED_BIT(TP_PRED_GPU_MODEL) | TP_PRED_BIT(TP_PRED_NODE_UNHEALTHY)))
        return tp_error_set(w->err, TP_EVIOLATION,
                            "policy %s placed %s on %s, whose GPUs cannot run it",
                            w->policy_name, j->id, F->nodes[n].id);
    j->violating = (bad & SIM_PREDS_SECURITY) != 0;
    if (j->violating) {
        w->violations++;
        for (int p = 0; p < TP_PRED_COUNT; p++)
            if (bad & TP_PRED_BIT(p))
                w->viol_pred[p]++;
    }
    /* Warm-start work was running before t = 0: no wait, no placement; a gang
     * counts once, at its leader. */
    if (!j->warm && !j->leader) {
        double wait = (double)(w->now_us - j->queued_us) / SIM_US;
        sim_hist_add(&w->wait_cls[j->cls], wait);
        sim_hist_add(&w->wait_reason[j->reason], wait);
        w->placements++;
    }
    j->warm = false;
    if (!j->leader)
        w->pend_gpus_cls[j->cls] -= sim_job_gpus(j);
    j->node_u = u;
    j->state = JS_RUNNING;
    j->started_us = w->now_us;
    j->watts = tp_policy_work_w(F, n, &wl);
    j->tok_rate = 0;
    const tp_profile_t *p = tp_fleet_profile(w->U, j->model, w->U->nodes[u].gpu_model);
    if (j->kind == JOB_BATCH && p)
        j->tok_rate = j->gpus * p->tokens_per_s;
    /* Work-conserving: on GPU G a job runs at tokens_per_s(model, G) / reference;
     * jobs without a model, and wall-time scenarios, at the reference speed. */
    j->speed = 1;
    if (j->kind == JOB_BATCH && p && !w->s->wall_time_jobs && w->ref_tps[j->model] > 0)
        j->speed = p->tokens_per_s / w->ref_tps[j->model];
    if (j->nodes > 1 || j->leader) { /* a gang: its slowest member's speed */
        j->speed = (j->leader ? j->leader : j)->gang_speed;
        if (p && !w->s->wall_time_jobs && w->ref_tps[j->model] > 0) /* and tokens */
            j->tok_rate = j->gpus * w->ref_tps[j->model] * j->speed;
    }
    if (j->kind == JOB_REPLICA) {
        const sim_deployment_t *d = &w->s->deps[j->dep];
        j->cap = sim_replica_cap(w, d, u);
        w->dr[j->dep].pending--;
        w->replicas_started++;
    }
    if (sim_grow((void **)&w->run, &w->cap_run, w->nrun + 1, sizeof *w->run) < 0 ||
        sim_grow((void **)&w->run_w, &w->cap_run_w, w->nrun + 1, sizeof *w->run_w) < 0)
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    j->ix = w->nrun;
    w->run[w->nrun] = j;
    sim_fill_wl(w, j, &w->run_w[w->nrun]);
    w->nrun++;
    sim_load_add(w, j, +1);
    if (j->kind == JOB_BATCH && !j->leader) /* a gang completes at its leader */
        return sim_push(w, w->now_us + (int64_t)ceil((double)j->remaining_us / j->speed),
                        CLS_COMPLETE, K_COMPLETE, 0, j, j->gen);
    return 0;
}

/* Sets the GPU models job j may run on: gm (union indices) unless any, and for
 * work with a model only those where the model has a profile — no workload runs
 * at zero speed (docs/sim.md). With no such model left, the job cannot run. */
int sim_job_gpu_models(world_t *w, job_t *j, const int *gm, int ngm, bool any)
{
    const tp_fleet_t *U = w->U;
    int n = any ? U->ngpu_models : ngm;
    j->any_gm = any && j->model < 0;
    if (j->any_gm)
        return 0;
    j->gm_from_model = any;
    j->gm_u = calloc((size_t)n + 1, sizeof *j->gm_u);
    j->gm_cur = calloc((size_t)n + 1, sizeof *j->gm_cur);
    if (!j->gm_u || !j->gm_cur)
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    for (int k = 0; k < n; k++) {
        int g = any ? k : gm[k];
        if (j->model >= 0 && !tp_fleet_profile(U, j->model, g))
            continue;
        j->gm_u[j->ngm++] = g;
        if (w->gm_map[g] >= 0)
            j->gm_cur[j->ngm_cur++] = w->gm_map[g];
    }
    return 0;
}

/* Removes pending jobs flagged JS_RUNNING/JS_DONE, keeping the order. */
void sim_pend_compact(world_t *w)
{
    int k = 0;
    for (int i = 0; i < w->npend; i++)
        if (w->pend[i]->state == JS_PENDING) {
            w->pend[i]->ix = k;
            w->pend[k++] = w->pend[i];
        }
    w->npend = k;
}
