/*
 * sim/arrivals.c — arrivals: the request and job sources (traces and seeded generators)
 * turned into requests and batch jobs (docs/sim.md describes the model; sim/engine.h the
 * split).
 */
#include "sim/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double normal(tp_rng_t *r)
{
    double u1 = tp_rng_unit(r), u2 = tp_rng_unit(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static int pick(tp_rng_t *r, const double *wts, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += wts[i];
    if (sum <= 0)
        return -1;
    return tp_rng_pick(r, wts, n);
}

/* Next arrival of a Poisson process of rate(t) by thinning. */
static int64_t poisson_next(world_t *w, int si, double rate_per_s,
                            const sim_diurnal_t *dn, int64_t t)
{
    tp_rng_t *r = &w->rng[si];
    double peak = rate_per_s * (1 + dn->amplitude);
    if (peak <= 0)
        return INT64_MAX;
    double ts = (double)t / SIM_US;
    for (int guard = 0; guard < 1000000; guard++) {
        ts += -log(1 - tp_rng_unit(r)) / peak;
        if (ts * SIM_US > (double)w->s->duration_us)
            return INT64_MAX;
        double hour = fmod((double)(w->s->start_s % 86400) / 3600 + ts / 3600, 24);
        double rate = rate_per_s *
                      (1 + dn->amplitude * cos(2 * M_PI * (hour - dn->peak_hour) / 24));
        if (tp_rng_unit(r) * peak <= rate)
            return (int64_t)(ts * SIM_US);
    }
    return INT64_MAX;
}

/* A gang when nodes > 1 (members of gpus each, under one domain of kind
 * together − 1); tenant −1: none. */
static int new_batch_job(world_t *w, int si, int64_t dur_us, int gpus, int cls,
                         int origin, int model, int prio, bool preempt, const int *gm,
                         int ngm, bool any_gm, const char *name, int nodes, int together,
                         int tenant)
{
    job_t *j = sim_job_new(w);
    if (!j)
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    snprintf(j->id, sizeof j->id, "%s", name);
    j->kind = JOB_BATCH;
    j->cls = cls;
    j->gpus = gpus;
    j->origin = origin;
    j->model = model;
    j->priority = prio;
    j->preemptible = preempt;
    j->remaining_us = j->work_us = dur_us < SIM_US ? SIM_US : dur_us;
    j->arrive_us = w->now_us;
    if (w->U->classes[cls].req.residency != TP_RESIDENCY_NONE && origin >= 0) {
        j->res[0] = origin;
        j->nres = 1;
        j->res_mode = w->U->classes[cls].req.residency;
    }
    sim_apply_rules(w, j);
    if (sim_job_gpu_models(w, j, gm, ngm, any_gm) < 0)
        return TP_ENOMEM;
    j->trace = w->s->srcs[si].kind != SRC_JOBS && w->s->srcs[si].kind != SRC_TRAINING;
    j->tenant = tenant;
    if (nodes > 1) {
        if (sim_gang_new(w, j, nodes, together) < 0)
            return TP_ENOMEM;
        w->gangs_arrived++;
    }
    w->jobs_arrived++;
    return sim_pend_add(w, j);
}

static int request_arrival(world_t *w, const sim_source_t *src, int si, int ctx, int gen)
{
    int di = pick(&w->rng[si], src->dep_w, w->s->ndeps);
    if (di < 0)
        return 0;
    dep_rt_t *d = &w->dr[di];
    const sim_deployment_t *dep = &w->s->deps[di];
    sim_dep_advance(w, di, w->now_us);
    double size = gen + dep->prefill_weight * ctx;
    if (d->qn == d->qcap) {
        size_t c = d->qcap ? 2 * d->qcap : 1024;
        req_t *g = malloc(c * sizeof *g);
        if (!g)
            return tp_error_set(w->err, TP_ENOMEM, "out of memory");
        for (size_t i = 0; i < d->qn; i++)
            g[i] = d->q[(d->qh + i) % (d->qcap ? d->qcap : 1)];
        free(d->q);
        d->q = g;
        d->qh = 0;
        d->qcap = c;
    }
    d->q[(d->qh + d->qn) % d->qcap] =
        (req_t){w->now_us, d->arrived, gen, src->kind != SRC_REQUESTS};
    d->qn++;
    d->arrived += size;
    d->arrived_w += size;
    if (src->kind != SRC_REQUESTS)
        d->arrived_trace_w += size;
    double win = w->s->window_s;
    d->rate =
        d->rate * exp(-(double)(w->now_us - d->rate_us) / SIM_US / win) + size / win;
    d->rate_us = w->now_us;
    w->req_arrived++;
    sim_dep_advance(w, di, w->now_us);
    return 0;
}

int sim_arrival(world_t *w, int si)
{
    const sim_source_t *src = &w->s->srcs[si];
    tp_rng_t *r = &w->rng[si];
    const tp_fleet_t *U = w->U;
    int64_t next = INT64_MAX;
    char name[48];
    int rc = 0;
    switch (src->kind) {
    case SRC_AZURE: {
        const tp_azure_trace_t *t = src->azure;
        size_t i = w->src_pos[si];
        rc = request_arrival(w, src, si, t->req[i].context_tokens,
                             t->req[i].generated_tokens);
        w->src_count[si]++;
        if (++w->src_pos[si] == t->n) {
            w->src_pos[si] = 0;
            w->src_pass[si]++;
        }
        if ((src->repeat == 0 || w->src_pass[si] < src->repeat) &&
            (!src->limit || w->src_count[si] < src->limit)) {
            int64_t span = t->req[t->n - 1].t_us + SIM_US;
            double at = (double)w->src_pass[si] * (double)span +
                        (double)t->req[w->src_pos[si]].t_us;
            next = src->offset_us + (int64_t)(at / src->speedup);
        }
        break;
    }
    case SRC_REQUESTS: {
        double sg = 1.0, mu_c = log(src->ctx_mean + 1) - sg * sg / 2,
               mu_g = log(src->gen_mean + 1) - sg * sg / 2;
        int ctx = (int)fmin(1e7, exp(mu_c + sg * normal(r)));
        int gen = (int)fmin(1e7, exp(mu_g + sg * normal(r)));
        rc = request_arrival(w, src, si, ctx, gen);
        next = poisson_next(w, si, src->rate_per_s, &src->diurnal, w->now_us);
        break;
    }
    case SRC_JOBS:
    case SRC_TRAINING: {
        int cls = pick(r, src->class_w, U->nclasses);
        int origin = pick(r, src->region_w, U->nregions);
        int model = pick(r, src->model_w, U->nmodels);
        int gpus = src->sizes[pick(r, src->size_w, src->nsizes)];
        double sg = src->dur_sigma, mu = log(src->dur_mean_s) - sg * sg / 2;
        double dur = exp(mu + sg * normal(r));
        int prio = (int)tp_rng_range(r, src->prio_lo, src->prio_hi);
        bool pre = tp_rng_unit(r) < src->preemptible;
        /* Drawn after the jobs' own draws, so adding tenants or gangs keeps them. */
        int nodes = src->kind == SRC_TRAINING
                        ? src->gnodes[pick(r, src->gnodes_w, src->ngnodes)]
                        : 0;
        int tenant = src->tenant_w ? pick(r, src->tenant_w, U->ntenants) : -1;
        if (snprintf(name, sizeof name, "s%d-%s%lld", si,
                     src->kind == SRC_TRAINING ? "g" : "j",
                     ++w->src_count[si]) >= (int)sizeof name)
            name[sizeof name - 1] = '\0';
        rc = new_batch_job(w, si, (int64_t)(dur * SIM_US), gpus, cls, origin, model, prio,
                           pre, NULL, 0, true, name, nodes, src->together, tenant);
        next = poisson_next(w, si, src->rate_per_h / 3600, &src->diurnal, w->now_us);
        break;
    }
    case SRC_JOBTRACE: {
        size_t k = w->src_pos[si]++;
        const tp_trace_job_t *tj = &src->jtrace->job[k];
        /* Per-row randomness: the same row gets the same draws in every run. */
        tp_rng_t pr;
        tp_rng_init(&pr, w->s->seed ^ (0x9e3779b97f4a7c15ULL * (k + 1)) ^
                             ((uint64_t)si << 32));
        int cls =
            src->jt_cls[k] >= 0 ? src->jt_cls[k] : pick(&pr, src->class_w, U->nclasses);
        int origin = pick(&pr, src->region_w, U->nregions);
        int model = src->jt_model[k] >= 0 ? src->jt_model[k]
                                          : pick(&pr, src->model_w, U->nmodels);
        int prio = (int)tp_rng_range(&pr, src->prio_lo, src->prio_hi);
        bool pre = tp_rng_unit(&pr) < src->preemptible;
        if (snprintf(name, sizeof name, "s%d-row%d", si, tj->line) >= (int)sizeof name)
            name[sizeof name - 1] = '\0';
        rc = new_batch_job(w, si, tj->dur_us, tj->gpus, cls, origin, model, prio, pre,
                           NULL, 0, true, name, 0, 0, -1);
        w->src_count[si]++;
        if (w->src_pos[si] < src->jtrace->n &&
            (!src->limit || w->src_count[si] < src->limit))
            next =
                src->offset_us +
                (int64_t)((double)src->jtrace->job[w->src_pos[si]].t_us / src->speedup);
        break;
    }
    case SRC_LIST: {
        const sim_listjob_t *lj = &src->jobs[w->src_pos[si]++];
        rc = new_batch_job(w, si, lj->dur_us, lj->gpus, lj->cls, -1, lj->model,
                           lj->priority, lj->preemptible, lj->gm, lj->ngm, lj->ngm == 0,
                           lj->id, 0, 0, -1);
        if (rc == 0 && lj->nres) {
            job_t *j = w->pend[w->npend - 1];
            memcpy(j->res, lj->res, (size_t)lj->nres * sizeof *lj->res);
            j->nres = lj->nres;
            j->res_mode = U->classes[lj->cls].req.residency;
            if (j->res_mode == TP_RESIDENCY_NONE)
                j->res_mode = TP_RESIDENCY_DECLARED;
            j->origin = lj->res[0];
            sim_apply_rules(w, j);
        }
        if (w->src_pos[si] < (size_t)src->njobs)
            next = src->offset_us + src->jobs[w->src_pos[si]].at_us;
        break;
    }
    case SRC_ALIBABA: {
        const tp_pod_list_t *pl = src->pods;
        size_t k = w->src_pos[si];
        const tp_pod_t *p = &pl->pod[w->pod_order[si][k]];
        /* Per-pod randomness: the same pod gets the same mix draws in every run. */
        tp_rng_t pr;
        tp_rng_init(&pr, w->s->seed ^
                             (0x9e3779b97f4a7c15ULL * (w->pod_order[si][k] + 1)) ^
                             (uint64_t)si);
        int cls = pick(&pr, src->class_w, U->nclasses);
        int origin = pick(&pr, src->region_w, U->nregions);
        int model = pick(&pr, src->model_w, U->nmodels);
        int64_t run_s =
            p->deletion_s - (p->scheduled_s >= 0 ? p->scheduled_s : p->creation_s);
        int64_t dur = (int64_t)((double)run_s * src->duration_scale * SIM_US);
        int gm[16], ngm = 0;
        bool any = true;
        if (src->use_gpu_spec && p->gpu_spec[0]) {
            char spec[sizeof p->gpu_spec], *save = NULL;
            snprintf(spec, sizeof spec, "%s", p->gpu_spec);
            for (char *tok = strtok_r(spec, "|", &save); tok && ngm < 16;
                 tok = strtok_r(NULL, "|", &save))
                for (int m = 0; m < src->ngpu_map; m++)
                    if (!strcmp(src->gpu_map_from[m], tok)) {
                        bool dup = false;
                        for (int q = 0; q < ngm; q++)
                            dup |= gm[q] == src->gpu_map_to[m];
                        if (!dup)
                            gm[ngm++] = src->gpu_map_to[m];
                    }
            any = ngm == 0; /* no type maps onto the fleet: unconstrained */
        }
        rc = new_batch_job(w, si, dur, p->num_gpu, cls, origin, model, p->priority,
                           p->preemptible, gm, ngm, any, p->name, 0, 0, -1);
        w->src_count[si]++;
        /* The next pod with GPUs. */
        size_t nk = k + 1;
        while (nk < pl->n && pl->pod[w->pod_order[si][nk]].num_gpu == 0)
            nk++;
        w->src_pos[si] = nk;
        if (nk < pl->n && (!src->limit || w->src_count[si] < src->limit)) {
            const tp_pod_t *np = &pl->pod[w->pod_order[si][nk]];
            next = src->offset_us +
                   (int64_t)((double)np->creation_s * SIM_US / src->speedup);
        }
        break;
    }
    }
    if (rc < 0)
        return rc;
    if (next < w->now_us)
        next = w->now_us;
    if (next <= w->s->duration_us)
        return sim_push(w, next, CLS_ARRIVAL, K_ARRIVAL, si, NULL, 0);
    return 0;
}

static int cmp_pod(const void *a, const void *b, void *arg)
{
    const tp_pod_list_t *pl = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (pl->pod[x].creation_s != pl->pod[y].creation_s)
        return pl->pod[x].creation_s < pl->pod[y].creation_s ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Insertion-sort-free stable order: merge sort on indices by creation time. */
static void sort_pods(size_t *ix, size_t n, const tp_pod_list_t *pl, size_t *tmp)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    sort_pods(ix, h, pl, tmp);
    sort_pods(ix + h, n - h, pl, tmp);
    size_t a = 0, b = h, k = 0;
    while (a < h && b < n)
        tmp[k++] = cmp_pod(&ix[a], &ix[b], (void *)pl) <= 0 ? ix[a++] : ix[b++];
    while (a < h)
        tmp[k++] = ix[a++];
    while (b < n)
        tmp[k++] = ix[b++];
    memcpy(ix, tmp, n * sizeof *ix);
}

int sim_first_arrival(world_t *w, int si)
{
    const sim_source_t *src = &w->s->srcs[si];
    int64_t t = INT64_MAX;
    switch (src->kind) {
    case SRC_AZURE:
        t = src->offset_us;
        break;
    case SRC_LIST:
        t = src->jobs[0].at_us;
        break;
    case SRC_JOBTRACE:
        t = src->offset_us + (int64_t)((double)src->jtrace->job[0].t_us / src->speedup);
        break;
    case SRC_REQUESTS:
        t = poisson_next(w, si, src->rate_per_s, &src->diurnal, 0);
        break;
    case SRC_JOBS:
    case SRC_TRAINING:
        t = poisson_next(w, si, src->rate_per_h / 3600, &src->diurnal, 0);
        break;
    case SRC_ALIBABA: {
        const tp_pod_list_t *pl = src->pods;
        size_t *tmp = malloc(pl->n * sizeof *tmp);
        w->pod_order[si] = malloc(pl->n * sizeof **w->pod_order);
        if (!tmp || !w->pod_order[si]) {
            free(tmp);
            return tp_error_set(w->err, TP_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < pl->n; i++)
            w->pod_order[si][i] = i;
        sort_pods(w->pod_order[si], pl->n, pl, tmp);
        free(tmp);
        size_t k = 0;
        while (k < pl->n && pl->pod[w->pod_order[si][k]].num_gpu == 0)
            k++;
        w->src_pos[si] = k;
        if (k < pl->n)
            t = src->offset_us +
                (int64_t)((double)pl->pod[w->pod_order[si][k]].creation_s * SIM_US /
                          src->speedup);
        break;
    }
    }
    if (t <= w->s->duration_us)
        return sim_push(w, t, CLS_ARRIVAL, K_ARRIVAL, si, NULL, 0);
    return 0;
}
