/*
 * sim/inference.c — inference deployments: each one's fluid FIFO request queue served at
 * its replicas' capacity, and the autoscaler (docs/sim.md describes the model;
 * sim/engine.h the split).
 */
#include "sim/engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double sim_replica_cap(const world_t *w, const sim_deployment_t *d, int u)
{
    const tp_profile_t *p =
        u >= 0 ? tp_fleet_profile(w->U, d->model, w->U->nodes[u].gpu_model) : NULL;
    return p ? d->gpus * p->tokens_per_s : 0;
}

/* The fluid FIFO queue of a deployment, served at its replicas' capacity, up to t. */
void sim_dep_advance(world_t *w, int di, int64_t t)
{
    dep_rt_t *d = &w->dr[di];
    const sim_deployment_t *dep = &w->s->deps[di];
    double dt = (double)(t - d->last_us) / SIM_US;
    double s0 = d->served, s1 = s0 + d->cap * dt;
    if (s1 > d->arrived)
        s1 = d->arrived;
    while (d->qn) {
        req_t *r = &d->q[d->qh];
        if (r->start > s1 + 1e-9)
            break;
        double ts = r->start <= s0 || d->cap <= 0
                        ? (double)d->last_us / SIM_US
                        : (double)d->last_us / SIM_US + (r->start - s0) / d->cap;
        double wait = ts - (double)r->t_us / SIM_US;
        sim_hist_add(&w->req_wait_cls[dep->cls], wait > 0 ? wait : 0);
        w->tokens += r->gen_tokens;
        *(r->trace ? &w->tok_req_trace : &w->tok_req_gen) += r->gen_tokens;
        w->req_served++;
        d->qh = (d->qh + 1) % d->qcap;
        d->qn--;
    }
    d->served = s1;
    d->last_us = t;
}

static int new_replica(world_t *w, int di)
{
    const sim_deployment_t *d = &w->s->deps[di];
    job_t *j = sim_job_new(w);
    if (!j)
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    if (snprintf(j->id, sizeof j->id, "%.30s/r%d", d->id, ++w->dr[di].next_id) >=
        (int)sizeof j->id)
        j->id[sizeof j->id - 1] = '\0';
    j->kind = JOB_REPLICA;
    j->dep = di;
    j->cls = d->cls;
    j->model = d->model;
    j->gpus = d->gpus;
    j->priority = d->priority;
    j->preemptible = true;
    j->arrive_us = w->now_us;
    if (d->nres)
        memcpy(j->res, d->res, (size_t)d->nres * sizeof *d->res);
    j->nres = d->nres;
    j->res_mode = w->U->classes[d->cls].req.residency;
    if (!j->nres)
        j->res_mode = TP_RESIDENCY_NONE;
    j->origin = d->nres ? d->res[0] : -1;
    sim_apply_rules(w, j);
    if (sim_job_gpu_models(w, j, NULL, 0, true) < 0)
        return TP_ENOMEM;
    w->dr[di].pending++;
    return sim_pend_add(w, j);
}

/* The capacity a pending replica of deployment di is expected to add: the mean
 * of its running replicas, else the fleet's GPU-weighted mean profile. */
static double pending_cap(const world_t *w, int di)
{
    const dep_rt_t *r = &w->dr[di];
    return r->running > 0 && r->cap > 0 ? r->cap / r->running : r->per_replica;
}

/* Sizes every deployment from the capacity of the replicas it has — the running
 * ones at their GPUs' actual speed, the pending ones at pending_cap() — against
 * the demand (docs/sim.md). */
int sim_autoscale(world_t *w)
{
    for (int di = 0; di < w->s->ndeps; di++) {
        const sim_deployment_t *d = &w->s->deps[di];
        dep_rt_t *r = &w->dr[di];
        sim_dep_advance(w, di, w->now_us);
        double rate =
            r->rate * exp(-(double)(w->now_us - r->rate_us) / SIM_US / w->s->window_s);
        double need = rate / w->s->target_util + (r->arrived - r->served) / w->s->drain_s;
        double est = pending_cap(w, di), have_cap = r->cap + r->pending * est;
        int have = r->running + r->pending, add = 0;
        if (need > have_cap + 1e-9)
            add = (int)ceil((need - have_cap) / est - 1e-9);
        if (have + add < d->min_replicas)
            add = d->min_replicas - have;
        if (have + add > d->max_replicas)
            add = d->max_replicas - have;
        r->need = need;
        if (add > 0) {
            for (int k = 0; k < add; k++)
                if (new_replica(w, di) < 0)
                    return TP_ENOMEM;
            r->last_scale_us = w->now_us;
        } else if ((add < 0 || have_cap - est >= need) &&
                   (double)(w->now_us - r->last_scale_us) / SIM_US >= w->s->cooldown_s) {
            /* Drop pending replicas (newest first), then running ones, while the
             * rest still covers the need; above max_replicas, regardless. */
            int before = have;
            for (int i = w->npend - 1; i >= 0 && have > d->min_replicas; i--) {
                job_t *j = w->pend[i];
                if (j->kind != JOB_REPLICA || j->dep != di || j->state != JS_PENDING)
                    continue;
                if (have <= d->max_replicas && have_cap - est < need)
                    break;
                j->state = JS_DONE;
                w->pend_gpus_cls[j->cls] -= j->gpus;
                r->pending--;
                have--;
                have_cap -= est;
            }
            sim_pend_compact(w);
            for (int i = w->nrun - 1; i >= 0 && have > d->min_replicas; i--) {
                job_t *j = w->run[i];
                if (j->kind != JOB_REPLICA || j->dep != di)
                    continue;
                if (have <= d->max_replicas && have_cap - j->cap < need)
                    continue;
                have_cap -= j->cap;
                have--;
                if (sim_stop_job(w, j, STOP_SCALE) < 0)
                    return TP_ENOMEM;
            }
            if (have != before)
                r->last_scale_us = w->now_us;
        }
    }
    return 0;
}

void sim_dep_gpu_advance(world_t *w, int di)
{
    dep_rt_t *d = &w->dr[di];
    d->gpu_s += (double)d->running * w->s->deps[di].gpus *
                (double)(w->now_us - d->gpu_us) / SIM_US;
    d->gpu_us = w->now_us;
}
