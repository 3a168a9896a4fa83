/*
 * sim/engine.c — the discrete-event simulation of one scenario variant under
 * one policy (docs/sim.md describes the model).
 *
 * Time is integer microseconds from the scenario start. Events sit in a binary
 * heap ordered by (time, class, push order); at equal times the classes run
 *   0 fleet changes → 1 state changes (caps, failures, attestation, outages,
 *   renewals) → 2 completions → 3 arrivals → 4 scheduling tick → 5 KPI sample,
 * so a tick sees everything that happened at its instant, and a sample sees the
 * tick's decisions. Work that arrives between ticks waits for the next tick:
 * decisions are batched per tick (tick_s, default 10 s).
 *
 * Nodes are kept in "union" indexing (every node the scenario ever has); the
 * policy sees a tp_fleet_t of the nodes present now, rebuilt when nodes are
 * added or retired, and a tp_state_t kept in step with the simulated facts.
 */
#include "sim/heap.h"
#include "sim/sim_internal.h"

#include "policy/validator.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { CLS_FLEET, CLS_STATE, CLS_COMPLETE, CLS_ARRIVAL, CLS_TICK, CLS_SAMPLE };
enum {
    K_EVENT,     /* scenario event starts: arg = index */
    K_EVENT_END, /* … ends (duration_s) */
    K_RENEW,     /* attestation renewal round */
    K_COMPLETE,  /* ptr = job, gen */
    K_ARRIVAL,   /* arg = source */
    K_TICK,
    K_SAMPLE
};
enum { JOB_BATCH, JOB_REPLICA };
enum { JS_PENDING, JS_RUNNING, JS_DONE };
enum { STOP_COMPLETE, STOP_PREEMPT, STOP_EVICT, STOP_SCALE };
/* Why pending work waits (docs/sim.md). */
enum { R_TICK, R_SECURITY, R_RESIDENCY, R_HARDWARE, R_CAPACITY, R_POWER, R_COUNT };
static const char *const reason_names[R_COUNT] = {"new",      "security", "residency",
                                                  "hardware", "capacity", "power"};
enum { EVICT_FAILURE, EVICT_REVOKED, EVICT_RETIRED, EVICT_COUNT };
static const char *const evict_names[EVICT_COUNT] = {"gpu_failure", "revocation",
                                                     "retired"};

typedef struct {
    char id[48];
    int kind, dep, cls, model, gpus, priority;
    bool preemptible;
    int origin;
    int res[SIM_MAX_REGIONS], nres;
    tp_residency_t res_mode;
    bool any_gm;
    int *gm_u, ngm; /* union GPU model indices */
    int *gm_cur, ngm_cur;
    int64_t arrive_us, queued_us, started_us, remaining_us;
    int node_u, ix, state;
    uint32_t gen;
    bool violating, moving;
    int reason;
    double watts, tok_rate, cap;
} job_t;

typedef struct {
    int64_t t_us;
    double start;
    int32_t gen_tokens;
} req_t;

typedef struct {
    double served, arrived, cap, rate;
    int64_t last_us, rate_us, last_scale_us;
    req_t *q;
    size_t qh, qn, qcap;
    int running, pending, next_id;
    double per_replica;
} dep_rt_t;

typedef struct {
    const sim_setup_t *s;
    const char *policy_name;
    tp_sim_policy_t *pol;
    const sim_run_opts_t *opts;
    const tp_fleet_t *U;
    tp_fleet_t *F; /* == U (borrowed) when every node is present from start to end */
    bool own_F;
    tp_state_t *S;
    int nu;
    int *n_of_u, *u_of_n, *gm_map;
    bool *present;
    tp_node_obs_t *obs; /* [u] the simulated facts */
    double *dcap;       /* [domain] observed cap; NAN: none */
    int *failed, *bmc_out, *stop_renew, *revoked, *gpus_used, *node_v;
    bool *renews;
    tp_att_status_t *att_status0;
    double *work_w, *domain_w;
    char **vnames;
    int nv, *v_out;
    int **ev_nodes, *ev_nnodes;
    /* jobs */
    job_t **all;
    size_t nall, cap_all;
    job_t **pend, **run;
    tp_workload_t *pend_w, *run_w;
    int npend, cap_pend, nrun, cap_run, cap_pend_w, cap_run_w;
    dep_rt_t *dr;
    unsigned rule_mask[SIM_MAX_REGIONS];
    tp_residency_t rule_mode[SIM_MAX_REGIONS];
    /* sources */
    tp_rng_t *rng;
    size_t *src_pos;
    int *src_pass;
    size_t **pod_order;
    long long *src_count;
    tp_heap_t heap;
    int64_t now_us, last_us;
    bool changed;
    long long events;
    /* running totals */
    double total_w, token_rate;
    int busy_gpus, healthy_gpus, viol_gpus;
    int pend_gpus_cls[SIM_MAX_CLASSES];
    int ndom_over;
    /* KPIs */
    double energy_j, tokens, busy_gpu_s, healthy_gpu_s, viol_gpu_s, over_cap_s;
    double pend_gpu_s_cls[SIM_MAX_CLASSES], pend_gpu_s_reason[R_COUNT];
    long long decisions, validated, validator_flags, placements, preemptions,
        evictions[EVICT_COUNT], violations, viol_pred[TP_PRED_COUNT];
    long long jobs_arrived, jobs_done, req_arrived, req_served, replicas_started;
    sim_hist_t wait_cls[SIM_MAX_CLASSES], wait_reason[R_COUNT],
        req_wait_cls[SIM_MAX_CLASSES];
    double decide_ms_total;
    /* samples */
    double tee_sum, sens_tee_sum;
    int tee_n, sens_tee_n;
    double last_tokens, last_energy;
    double *dom_min, *dom_sum;
    int nsamples;
    double min_headroom, site_min_headroom;
    sim_buf_t *csv;
    int variant;
    tp_error_t *err;
} world_t;

/* ---- small helpers ------------------------------------------------------------------
 */

int sim_buf_put(sim_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *g = realloc(b->buf, cap);
        if (!g)
            return TP_ENOMEM;
        b->buf = g;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n + 1);
    b->len += n;
    return 0;
}

int sim_buf_printf(sim_buf_t *b, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return sim_buf_put(b, tmp);
}

/* Log-spaced bins: bin 0 is [0, 0.01 s); bin k ≥ 1 starts at 0.01·1.25^(k−1). */
static double bin_lo(int k)
{
    return k == 0 ? 0 : 0.01 * pow(1.25, k - 1);
}

void sim_hist_add(sim_hist_t *h, double v)
{
    int k = v < 0.01 ? 0 : 1 + (int)floor(log(v / 0.01) / log(1.25) + 1e-9);
    if (k >= SIM_HIST_BINS)
        k = SIM_HIST_BINS - 1;
    if (k < 0)
        k = 0;
    h->hist[k]++;
    h->n++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

/* The quantile's bin, reported at its geometric middle (capped by the max). */
double sim_hist_quantile(const sim_hist_t *h, double q)
{
    if (!h->n)
        return 0;
    long long want = (long long)ceil(q * (double)h->n), seen = 0;
    if (want < 1)
        want = 1;
    for (int k = 0; k < SIM_HIST_BINS; k++) {
        seen += h->hist[k];
        if (seen >= want) {
            double v = k == 0 ? 0 : sqrt(bin_lo(k) * bin_lo(k + 1));
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

static int push(world_t *w, int64_t t, int cls, int kind, int arg, void *ptr,
                uint32_t gen)
{
    tp_event_t e = {.t = t, .cls = cls, .kind = kind, .arg = arg, .ptr = ptr, .gen = gen};
    int rc = tp_heap_push(&w->heap, &e);
    if (rc < 0)
        tp_error_set(w->err, rc, "out of memory");
    return rc;
}

static int64_t now_s(const world_t *w)
{
    return w->s->start_s + w->now_us / SIM_US;
}

static double normal(tp_rng_t *r)
{
    double u1 = tp_rng_unit(r), u2 = tp_rng_unit(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static void set_obs(world_t *w, int u)
{
    int n = w->n_of_u[u];
    if (n >= 0)
        w->S->nodes[n] = w->obs[u];
}

static int healthy(const world_t *w, int u)
{
    return w->U->nodes[u].gpus - w->failed[u];
}

/* ---- the current fleet ------------------------------------------------------------- */

static int node_domain_apply(world_t *w, int u, double watts)
{
    for (int d = w->U->nodes[u].domain; d >= 0; d = w->U->domains[d].parent)
        w->domain_w[d] += watts;
    w->total_w += watts;
    return 0;
}

/* Points the policy's view at the nodes present now. */
static int rebuild(world_t *w)
{
    const tp_fleet_t *U = w->U;
    bool all = true;
    for (int u = 0; u < w->nu; u++)
        all &= w->present[u];
    tp_fleet_t *F = NULL;
    if (all && !w->s->fleet_changes) {
        F = (tp_fleet_t *)U;
    } else {
        json_t *doc = json_copy(w->s->fleet_doc), *nodes = json_array();
        json_t *src = json_object_get(w->s->fleet_doc, "nodes");
        for (int u = 0; u < w->nu; u++)
            if (w->present[u])
                json_array_append(nodes, json_array_get(src, (size_t)u));
        if (json_array_size(nodes) == 0) /* an empty fleet is not a fleet: keep one */
            json_array_append(nodes, json_array_get(src, 0));
        json_object_set_new(doc, "nodes", nodes);
        char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(doc);
        tp_error_t fe;
        int rc =
            text ? tp_fleet_load_buffer("fleet", text, strlen(text), &F, &fe) : TP_ENOMEM;
        free(text);
        if (rc < 0)
            return tp_error_set(w->err, rc, "rebuilding the fleet: %s", fe.text);
    }
    tp_state_t *S = tp_state_new_empty(F);
    int *u_of_n = calloc((size_t)F->nnodes, sizeof *u_of_n);
    int *gm_map = calloc((size_t)U->ngpu_models + 1, sizeof *gm_map);
    if (!S || !u_of_n || !gm_map) {
        tp_state_free(S);
        free(u_of_n);
        free(gm_map);
        if (F != U)
            tp_fleet_free(F);
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    }
    for (int u = 0; u < w->nu; u++) {
        int n = tp_fleet_node(F, U->nodes[u].id);
        w->n_of_u[u] = w->present[u] ? n : -1;
        if (n >= 0)
            u_of_n[n] = w->present[u] ? u : -1;
    }
    for (int g = 0; g < U->ngpu_models; g++)
        gm_map[g] = tp_strmap_get(F->gpu_model_ix, U->gpu_models[g]);
    for (int d = 0; d < F->ndomains; d++)
        S->domain_cap_w[d] = w->dcap[d];
    S->observed_at = now_s(w);
    if (w->own_F)
        tp_fleet_free(w->F);
    tp_state_free(w->S);
    free(w->u_of_n);
    free(w->gm_map);
    w->F = F;
    w->own_F = F != U;
    w->S = S;
    w->u_of_n = u_of_n;
    w->gm_map = gm_map;
    for (int u = 0; u < w->nu; u++)
        set_obs(w, u);
    /* Re-point every live job's GPU-model list and running node. */
    for (size_t i = 0; i < w->nall; i++) {
        job_t *j = w->all[i];
        if (j->state == JS_DONE)
            continue;
        j->ngm_cur = 0;
        for (int g = 0; g < j->ngm; g++)
            if (gm_map[j->gm_u[g]] >= 0)
                j->gm_cur[j->ngm_cur++] = gm_map[j->gm_u[g]];
    }
    for (int i = 0; i < w->nrun; i++) {
        w->run_w[i].node = w->n_of_u[w->run[i]->node_u];
        w->run_w[i].ngpu_models = w->run[i]->ngm_cur;
    }
    w->healthy_gpus = 0;
    for (int u = 0; u < w->nu; u++)
        if (w->present[u])
            w->healthy_gpus += healthy(w, u);
    return 0;
}

/* ---- jobs
 * ------------------------------------------------------------------------------ */

static void fill_wl(const world_t *w, job_t *j, tp_workload_t *wl)
{
    memset(wl, 0, sizeof *wl);
    wl->id = j->id;
    wl->model = j->model;
    wl->model_name = j->model >= 0 ? w->U->models[j->model] : NULL;
    wl->gpus = j->gpus;
    wl->any_gpu_model = j->any_gm;
    wl->gpu_models = j->gm_cur;
    wl->ngpu_models = j->ngm_cur;
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

static int grow(void **arr, int *cap, int need, size_t size)
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
static void apply_rules(world_t *w, job_t *j)
{
    if (j->origin < 0 || !(w->rule_mask[j->origin] & (1u << j->cls)))
        return;
    j->res[0] = j->origin;
    j->nres = 1;
    if (w->rule_mode[j->origin] > j->res_mode)
        j->res_mode = w->rule_mode[j->origin];
}

static int pend_add(world_t *w, job_t *j)
{
    if (grow((void **)&w->pend, &w->cap_pend, w->npend + 1, sizeof *w->pend) < 0)
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    j->state = JS_PENDING;
    j->queued_us = w->now_us;
    j->reason = R_TICK;
    j->ix = w->npend;
    w->pend[w->npend++] = j;
    w->pend_gpus_cls[j->cls] += j->gpus;
    w->changed = true;
    return 0;
}

static job_t *job_new(world_t *w)
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
    return j;
}

static double replica_cap(const world_t *w, const sim_deployment_t *d, int u)
{
    const tp_profile_t *p =
        u >= 0 ? tp_fleet_profile(w->U, d->model, w->U->nodes[u].gpu_model) : NULL;
    return p ? d->gpus * p->tokens_per_s : 0;
}

/* The fluid FIFO queue of a deployment, served at its replicas' capacity, up to t. */
static void dep_advance(world_t *w, int di, int64_t t)
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
        w->req_served++;
        d->qh = (d->qh + 1) % d->qcap;
        d->qn--;
    }
    d->served = s1;
    d->last_us = t;
}

static void load_add(world_t *w, job_t *j, int sign)
{
    int u = j->node_u;
    w->gpus_used[u] += sign * j->gpus;
    w->work_w[u] += sign * j->watts;
    w->busy_gpus += sign * j->gpus;
    node_domain_apply(w, u, sign * j->watts);
    w->token_rate += sign * j->tok_rate;
    if (j->violating)
        w->viol_gpus += sign * j->gpus;
    if (j->kind == JOB_REPLICA) {
        dep_advance(w, j->dep, w->now_us);
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

/* Stops running job j. Batch work that did not complete goes back to pending. */
static int stop_job(world_t *w, job_t *j, int why)
{
    load_add(w, j, -1);
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
        return pend_add(w, j);
    }
    if (why == STOP_COMPLETE) {
        j->state = JS_DONE;
        w->jobs_done++;
        return 0;
    }
    j->remaining_us -= w->now_us - j->started_us;
    if (j->remaining_us < SIM_US)
        j->remaining_us = SIM_US;
    j->violating = false;
    apply_rules(w, j);
    return pend_add(w, j);
}

static int start_job(world_t *w, job_t *j, int n)
{
    const tp_fleet_t *F = w->F;
    int u = n >= 0 && n < F->nnodes ? w->u_of_n[n] : -1;
    if (u < 0)
        return tp_error_set(w->err, TP_EVIOLATION,
                            "policy %s placed %s on no present node", w->policy_name,
                            j->id);
    if (w->gpus_used[u] + j->gpus > healthy(w, u))
        return tp_error_set(w->err, TP_EVIOLATION,
                            "policy %s placed %s on %s beyond its healthy GPUs (a bug in "
                            "the policy)",
                            w->policy_name, j->id, F->nodes[n].id);
    tp_workload_t wl;
    fill_wl(w, j, &wl);
    tp_predset_t bad = tp_policy_static(F, w->S, n, &wl, now_s(w));
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
    double wait = (double)(w->now_us - j->queued_us) / SIM_US;
    sim_hist_add(&w->wait_cls[j->cls], wait);
    sim_hist_add(&w->wait_reason[j->reason], wait);
    w->pend_gpus_cls[j->cls] -= j->gpus;
    j->node_u = u;
    j->state = JS_RUNNING;
    j->started_us = w->now_us;
    j->watts = tp_policy_work_w(F, n, &wl);
    j->tok_rate = 0;
    const tp_profile_t *p = tp_fleet_profile(w->U, j->model, w->U->nodes[u].gpu_model);
    if (j->kind == JOB_BATCH && p)
        j->tok_rate = j->gpus * p->tokens_per_s;
    if (j->kind == JOB_REPLICA) {
        const sim_deployment_t *d = &w->s->deps[j->dep];
        j->cap = replica_cap(w, d, u);
        w->dr[j->dep].pending--;
        w->replicas_started++;
    }
    if (grow((void **)&w->run, &w->cap_run, w->nrun + 1, sizeof *w->run) < 0 ||
        grow((void **)&w->run_w, &w->cap_run_w, w->nrun + 1, sizeof *w->run_w) < 0)
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    j->ix = w->nrun;
    w->run[w->nrun] = j;
    fill_wl(w, j, &w->run_w[w->nrun]);
    w->nrun++;
    load_add(w, j, +1);
    w->placements++;
    if (j->kind == JOB_BATCH)
        return push(w, w->now_us + j->remaining_us, CLS_COMPLETE, K_COMPLETE, 0, j,
                    j->gen);
    return 0;
}

/* Removes pending jobs flagged JS_RUNNING/JS_DONE, keeping the order. */
static void pend_compact(world_t *w)
{
    int k = 0;
    for (int i = 0; i < w->npend; i++)
        if (w->pend[i]->state == JS_PENDING) {
            w->pend[i]->ix = k;
            w->pend[k++] = w->pend[i];
        }
    w->npend = k;
}

/* ---- the check of domain caps --------------------------------------------------------
 */

static void check_caps(world_t *w)
{
    int over = 0;
    for (int d = 0; d < w->U->ndomains; d++)
        if (w->domain_w[d] > tp_policy_domain_cap(w->F, w->S, d) * (1 + 1e-9))
            over++;
    w->ndom_over = over;
}

/* ---- arrivals -------------------------------------------------------------------------
 */

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

static int new_batch_job(world_t *w, int si, int64_t dur_us, int gpus, int cls,
                         int origin, int model, int prio, bool preempt, const int *gm,
                         int ngm, bool any_gm, const char *name)
{
    job_t *j = job_new(w);
    if (!j)
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    snprintf(j->id, sizeof j->id, "%s", name);
    (void)si;
    j->kind = JOB_BATCH;
    j->cls = cls;
    j->gpus = gpus;
    j->origin = origin;
    j->model = model;
    j->priority = prio;
    j->preemptible = preempt;
    j->remaining_us = dur_us < SIM_US ? SIM_US : dur_us;
    j->arrive_us = w->now_us;
    if (w->U->classes[cls].req.residency != TP_RESIDENCY_NONE && origin >= 0) {
        j->res[0] = origin;
        j->nres = 1;
        j->res_mode = w->U->classes[cls].req.residency;
    }
    apply_rules(w, j);
    j->any_gm = any_gm;
    if (!any_gm) {
        j->gm_u = calloc((size_t)ngm + 1, sizeof *j->gm_u);
        j->gm_cur = calloc((size_t)ngm + 1, sizeof *j->gm_cur);
        if (!j->gm_u || !j->gm_cur)
            return tp_error_set(w->err, TP_ENOMEM, "out of memory");
        for (int g = 0; g < ngm; g++) {
            j->gm_u[j->ngm++] = gm[g];
            if (w->gm_map[gm[g]] >= 0)
                j->gm_cur[j->ngm_cur++] = w->gm_map[gm[g]];
        }
    }
    w->jobs_arrived++;
    return pend_add(w, j);
}

static int request_arrival(world_t *w, const sim_source_t *src, int si, int ctx, int gen)
{
    int di = pick(&w->rng[si], src->dep_w, w->s->ndeps);
    if (di < 0)
        return 0;
    dep_rt_t *d = &w->dr[di];
    const sim_deployment_t *dep = &w->s->deps[di];
    dep_advance(w, di, w->now_us);
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
    d->q[(d->qh + d->qn) % d->qcap] = (req_t){w->now_us, d->arrived, gen};
    d->qn++;
    d->arrived += size;
    double win = w->s->window_s;
    d->rate =
        d->rate * exp(-(double)(w->now_us - d->rate_us) / SIM_US / win) + size / win;
    d->rate_us = w->now_us;
    w->req_arrived++;
    dep_advance(w, di, w->now_us);
    return 0;
}

static int arrival(world_t *w, int si)
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
    case SRC_JOBS: {
        int cls = pick(r, src->class_w, U->nclasses);
        int origin = pick(r, src->region_w, U->nregions);
        int model = pick(r, src->model_w, U->nmodels);
        int gpus = src->sizes[pick(r, src->size_w, src->nsizes)];
        double sg = src->dur_sigma, mu = log(src->dur_mean_s) - sg * sg / 2;
        double dur = exp(mu + sg * normal(r));
        int prio = (int)tp_rng_range(r, src->prio_lo, src->prio_hi);
        bool pre = tp_rng_unit(r) < src->preemptible;
        if (snprintf(name, sizeof name, "s%d-j%lld", si, ++w->src_count[si]) >=
            (int)sizeof name)
            name[sizeof name - 1] = '\0';
        rc = new_batch_job(w, si, (int64_t)(dur * SIM_US), gpus, cls, origin, model, prio,
                           pre, NULL, 0, true, name);
        next = poisson_next(w, si, src->rate_per_h / 3600, &src->diurnal, w->now_us);
        break;
    }
    case SRC_LIST: {
        const sim_listjob_t *lj = &src->jobs[w->src_pos[si]++];
        rc = new_batch_job(w, si, lj->dur_us, lj->gpus, lj->cls, -1, lj->model,
                           lj->priority, lj->preemptible, lj->gm, lj->ngm, lj->ngm == 0,
                           lj->id);
        if (rc == 0 && lj->nres) {
            job_t *j = w->pend[w->npend - 1];
            memcpy(j->res, lj->res, (size_t)lj->nres * sizeof *lj->res);
            j->nres = lj->nres;
            j->res_mode = U->classes[lj->cls].req.residency;
            if (j->res_mode == TP_RESIDENCY_NONE)
                j->res_mode = TP_RESIDENCY_DECLARED;
            j->origin = lj->res[0];
            apply_rules(w, j);
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
        int prio = p->qos == TP_QOS_GUARANTEED  ? 60
                   : p->qos == TP_QOS_LS        ? 50
                   : p->qos == TP_QOS_BURSTABLE ? 20
                                                : 0;
        int gm[16], ngm = 0;
        bool any = true;
        if (src->use_gpu_spec && p->gpu_spec[0]) {
            char spec[96], *save = NULL;
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
        rc = new_batch_job(w, si, dur, p->num_gpu, cls, origin, model, prio,
                           p->qos == TP_QOS_BE || p->qos == TP_QOS_BURSTABLE, gm, ngm,
                           any, p->name);
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
        return push(w, next, CLS_ARRIVAL, K_ARRIVAL, si, NULL, 0);
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

static int first_arrival(world_t *w, int si)
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
    case SRC_REQUESTS:
        t = poisson_next(w, si, src->rate_per_s, &src->diurnal, 0);
        break;
    case SRC_JOBS:
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
        return push(w, t, CLS_ARRIVAL, K_ARRIVAL, si, NULL, 0);
    return 0;
}

/* ---- the autoscaler
 * --------------------------------------------------------------------- */

static int new_replica(world_t *w, int di)
{
    const sim_deployment_t *d = &w->s->deps[di];
    job_t *j = job_new(w);
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
    apply_rules(w, j);
    w->dr[di].pending++;
    return pend_add(w, j);
}

static int autoscale(world_t *w)
{
    for (int di = 0; di < w->s->ndeps; di++) {
        const sim_deployment_t *d = &w->s->deps[di];
        dep_rt_t *r = &w->dr[di];
        dep_advance(w, di, w->now_us);
        double rate =
            r->rate * exp(-(double)(w->now_us - r->rate_us) / SIM_US / w->s->window_s);
        double need = rate / w->s->target_util + (r->arrived - r->served) / w->s->drain_s;
        int want = (int)ceil(need / r->per_replica - 1e-9);
        if (want < d->min_replicas)
            want = d->min_replicas;
        if (want > d->max_replicas)
            want = d->max_replicas;
        int have = r->running + r->pending;
        if (want > have) {
            for (int k = have; k < want; k++)
                if (new_replica(w, di) < 0)
                    return TP_ENOMEM;
            r->last_scale_us = w->now_us;
        } else if (want < have &&
                   (double)(w->now_us - r->last_scale_us) / SIM_US >= w->s->cooldown_s) {
            int drop = have - want;
            /* Pending replicas first (newest first), then running ones. */
            for (int i = w->npend - 1; i >= 0 && drop > 0; i--) {
                job_t *j = w->pend[i];
                if (j->kind == JOB_REPLICA && j->dep == di && j->state == JS_PENDING) {
                    j->state = JS_DONE;
                    w->pend_gpus_cls[j->cls] -= j->gpus;
                    r->pending--;
                    drop--;
                }
            }
            pend_compact(w);
            for (int i = w->nrun - 1; i >= 0 && drop > 0; i--) {
                job_t *j = w->run[i];
                if (j->kind == JOB_REPLICA && j->dep == di) {
                    stop_job(w, j, STOP_SCALE);
                    drop--;
                }
            }
            r->last_scale_us = w->now_us;
        }
    }
    return 0;
}

/* ---- scenario events
 * --------------------------------------------------------------------- */

static void renew_one(world_t *w, int u)
{
    tp_attestation_t *a = &w->obs[u].att;
    a->issued_at = now_s(w);
    a->expires_at = now_s(w) + w->s->ttl_us / SIM_US;
    a->status = w->revoked[u] ? TP_ATT_CONTRAINDICATED : w->att_status0[u];
    set_obs(w, u);
}

static int renew_round(world_t *w)
{
    for (int u = 0; u < w->nu; u++)
        if (w->present[u] && w->renews[u] && !w->stop_renew[u] &&
            !(w->node_v[u] >= 0 && w->v_out[w->node_v[u]]))
            renew_one(w, u);
    w->changed = true;
    return push(w, w->now_us + w->s->renew_us, CLS_STATE, K_RENEW, 0, NULL, 0);
}

/* Evicts running work on node u that its facts no longer allow (GPU failure: the
 * newest work beyond the healthy GPUs; revocation: work needing attestation, a TEE
 * or GPU CC). */
static int evict(world_t *w, int u, int why)
{
    for (int i = w->nrun - 1; i >= 0; i--) {
        job_t *j = w->run[i];
        if (j->node_u != u)
            continue;
        bool out = false;
        if (why == EVICT_FAILURE)
            out = w->gpus_used[u] > healthy(w, u);
        else if (why == EVICT_RETIRED)
            out = true;
        else { /* a contraindicated result attests no TEE and no CC either */
            const tp_req_t *q = &w->U->classes[j->cls].req;
            out = q->attestation || q->tee_mask || q->gpu_cc;
        }
        if (out) {
            w->evictions[why]++;
            if (stop_job(w, j, STOP_EVICT) < 0)
                return TP_ENOMEM;
            i = w->nrun; /* the array was reshuffled; rescan */
        }
    }
    return 0;
}

static int scenario_event(world_t *w, int e, bool end)
{
    const sim_event_t *ev = &w->s->events[e];
    const int *nodes = w->ev_nodes[e];
    int nn = w->ev_nnodes[e], sign = end ? -1 : 1, rc = 0;
    w->changed = true;
    switch (ev->kind) {
    case EV_POWER_CAP:
        if (end)
            w->dcap[ev->domain] = NAN;
        else
            w->dcap[ev->domain] =
                ev->cap_w > 0 ? ev->cap_w : ev->factor * w->U->domains[ev->domain].cap_w;
        if (ev->domain < w->F->ndomains)
            w->S->domain_cap_w[ev->domain] = w->dcap[ev->domain];
        break;
    case EV_GPU_FAILURE:
        for (int i = 0; i < nn; i++) {
            int u = nodes[i];
            int before = healthy(w, u);
            w->failed[u] += sign * ev->gpus;
            if (w->failed[u] < 0)
                w->failed[u] = 0;
            int h = healthy(w, u) < 0 ? 0 : healthy(w, u);
            w->obs[u].gpus_healthy = h;
            if (w->present[u])
                w->healthy_gpus += (h < 0 ? 0 : h) - (before < 0 ? 0 : before);
            set_obs(w, u);
            if (!end && w->present[u])
                rc |= evict(w, u, EVICT_FAILURE);
        }
        break;
    case EV_ATT_REVOKE:
        for (int i = 0; i < nn; i++) {
            int u = nodes[i];
            w->revoked[u] += sign;
            if (w->obs[u].att.present)
                w->obs[u].att.status =
                    w->revoked[u] ? TP_ATT_CONTRAINDICATED : w->att_status0[u];
            set_obs(w, u);
            if (!end && w->present[u])
                rc |= evict(w, u, EVICT_REVOKED);
        }
        break;
    case EV_ATT_EXPIRE:
        for (int i = 0; i < nn; i++)
            w->stop_renew[nodes[i]] += sign;
        break;
    case EV_VERIFIER_OUTAGE:
        for (int v = 0; v < w->nv; v++)
            if (!strcmp(w->vnames[v], ev->verifier))
                w->v_out[v] += sign;
        break;
    case EV_BMC_OUTAGE:
        for (int i = 0; i < nn; i++) {
            int u = nodes[i];
            w->bmc_out[u] += sign;
            w->obs[u].known = w->bmc_out[u] == 0;
            set_obs(w, u);
        }
        break;
    case EV_ADD_NODES:
    case EV_RETIRE_NODES: {
        bool add = ev->kind == EV_ADD_NODES;
        for (int i = 0; i < nn; i++) {
            int u = nodes[i];
            if (w->present[u] == add)
                continue;
            if (!add)
                rc |= evict(w, u, EVICT_RETIRED);
            w->present[u] = add;
            node_domain_apply(w, u, (add ? 1 : -1) * w->U->nodes[u].idle_w);
            if (add && w->renews[u])
                renew_one(w, u);
        }
        rc |= rebuild(w);
        break;
    }
    case EV_RESIDENCY_RULE:
        w->rule_mask[ev->region] |= ev->class_mask;
        if (ev->mode > w->rule_mode[ev->region])
            w->rule_mode[ev->region] = ev->mode;
        for (int i = 0; i < w->npend; i++)
            apply_rules(w, w->pend[i]);
        break;
    default:
        break;
    }
    if (!end && ev->dur_us > 0)
        rc |= push(w, ev->at_us + ev->dur_us, CLS_STATE, K_EVENT_END, e, NULL, 0);
    check_caps(w);
    return rc < 0 ? (w->err->code ? w->err->code : TP_ENOMEM) : 0;
}

/* ---- the scheduling tick
 * ---------------------------------------------------------------- */

/* tp_validate() on a result, where a result index pending->n + k names running
 * workload k stopped to start elsewhere (model/result_json.h): such work is shown
 * to the validator as extra pending workloads, as the solver itself does. */
static int validate(world_t *w, const tp_workloads_t *pending,
                    const tp_workloads_t *running, const tp_result_t *res,
                    tp_violations_t *vio)
{
    int np = pending->n, nr = running->n, next = np, rc;
    bool moved = false;
    for (int i = 0; i < res->nplacements; i++)
        moved |= res->placements[i].workload >= np;
    for (int i = 0; i < res->npending; i++)
        moved |= res->pending[i].workload >= np;
    if (!moved)
        return tp_validate(w->F, w->S, pending, running, res, now_s(w), vio);
    int *map = malloc(((size_t)nr + 1) * sizeof *map);
    tp_workload_t *ext = malloc(((size_t)np + nr + 1) * sizeof *ext);
    tp_result_t *vr = tp_result_new();
    rc = TP_ENOMEM;
    if (!map || !ext || !vr)
        goto out;
    memcpy(ext, pending->w, (size_t)np * sizeof *ext);
    for (int k = 0; k < nr; k++)
        map[k] = -1;
    for (int pass = 0; pass < 2; pass++) {
        int n = pass ? res->npending : res->nplacements;
        for (int i = 0; i < n; i++) {
            int x = pass ? res->pending[i].workload : res->placements[i].workload;
            if (x < np || x >= np + nr || map[x - np] >= 0)
                continue;
            map[x - np] = next;
            ext[next] = running->w[x - np];
            ext[next].node = -1;
            next++;
        }
    }
    for (int i = 0; i < res->nplacements; i++) {
        int x = res->placements[i].workload;
        if (tp_result_add_placement(vr, x >= np && x < np + nr ? map[x - np] : x,
                                    res->placements[i].node, res->placements[i].gpus) < 0)
            goto out;
    }
    for (int i = 0; i < res->npending; i++) {
        int x = res->pending[i].workload;
        if (tp_result_add_pending(vr, x >= np && x < np + nr ? map[x - np] : x,
                                  res->pending[i].reasons) < 0)
            goto out;
    }
    for (int i = 0; i < res->npreemptions; i++)
        if (tp_result_add_preemption(vr, res->preemptions[i].workload,
                                     res->preemptions[i].node,
                                     res->preemptions[i].why) < 0)
            goto out;
    tp_workloads_t ep = {ext, next, NULL};
    rc = tp_validate(w->F, w->S, &ep, running, vr, now_s(w), vio);
out:
    free(map);
    free(ext);
    tp_result_free(vr);
    return rc;
}

static int tick(world_t *w)
{
    int rc = autoscale(w);
    if (rc < 0)
        return rc;
    if (w->npend == 0 && !w->changed)
        return 0;
    if (grow((void **)&w->pend_w, &w->cap_pend_w, w->npend + 1, sizeof *w->pend_w) < 0)
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    for (int i = 0; i < w->npend; i++)
        fill_wl(w, w->pend[i], &w->pend_w[i]);
    tp_workloads_t pending = {w->pend_w, w->npend, NULL},
                   running = {w->run_w, w->nrun, NULL};
    tp_sim_view_t v = {w->F, w->S, &pending, &running, now_s(w)};
    tp_result_t *res = NULL;
    w->S->observed_at = now_s(w);
    rc = w->pol->decide(w->pol, &v, &res, w->err);
    if (rc < 0)
        return rc;
    w->decisions++;
    w->decide_ms_total += res->solve_ms;
    if (!w->opts->no_validate) {
        tp_violations_t vio;
        tp_violations_init(&vio);
        int nv = validate(w, &pending, &running, res, &vio);
        w->validated++;
        if (nv < 0) {
            tp_violations_fini(&vio);
            tp_result_free(res);
            return tp_error_set(w->err, nv, "validating a decision: %s", tp_strerror(nv));
        }
        w->validator_flags += nv;
        if (nv > 0 && !strcmp(w->policy_name, "trustplace")) {
            rc = tp_error_set(w->err, TP_EVIOLATION,
                              "t=%.0f s: the validator refused a trustplace decision (%d "
                              "violation%s): %s",
                              (double)w->now_us / SIM_US, nv, nv == 1 ? "" : "s",
                              vio.n ? vio.msgs[0] : "?");
            tp_violations_fini(&vio);
            tp_result_free(res);
            return rc;
        }
        tp_violations_fini(&vio);
    }
    /* Apply: preemptions first (they free what placements may use). */
    job_t **pre = calloc((size_t)res->npreemptions + 1, sizeof *pre);
    job_t **plc = calloc((size_t)res->nplacements + 1, sizeof *plc);
    if (!pre || !plc) {
        free(pre);
        free(plc);
        tp_result_free(res);
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    }
    for (int i = 0; i < res->npreemptions; i++) {
        int k = res->preemptions[i].workload;
        pre[i] = k >= 0 && k < w->nrun ? w->run[k] : NULL;
    }
    for (int i = 0; i < res->nplacements; i++) {
        int k = res->placements[i].workload;
        plc[i] = k >= 0 && k < w->npend ? w->pend[k] : NULL;
        if (k >= w->npend && k < w->npend + w->nrun) { /* running work moved */
            plc[i] = w->run[k - w->npend];
            plc[i]->moving = true;
        }
    }
    int npend0 = w->npend;
    for (int i = 0; i < res->npreemptions && rc == 0; i++)
        if (pre[i] && pre[i]->state == JS_RUNNING)
            rc = stop_job(w, pre[i], STOP_PREEMPT);
    for (int i = 0; i < res->nplacements && rc == 0; i++) {
        if (!plc[i] || plc[i]->state != JS_PENDING ||
            (plc[i]->ix >= npend0 && !plc[i]->moving)) {
            rc = tp_error_set(w->err, TP_EVIOLATION,
                              "policy %s placed a workload that is not pending",
                              w->policy_name);
            break;
        }
        rc = start_job(w, plc[i], res->placements[i].node);
        plc[i]->moving = false;
    }
    for (int i = 0; i < res->nplacements; i++)
        if (plc[i])
            plc[i]->moving = false;
    free(pre);
    free(plc);
    tp_result_free(res);
    pend_compact(w);
    check_caps(w);
    w->changed = false;
    return rc;
}

/* ---- KPI samples
 * --------------------------------------------------------------------------- */

const char *sim_csv_header(void)
{
    return "variant,policy,t_s,gpu_util,tee_share,sensitive_in_tee,tokens_per_j,power_kw,"
           "energy_kwh,violations,violating_gpus,running_gpus,pending_gpus,"
           "pending_sensitive_gpus,pending_security,pending_residency,pending_hardware,"
           "pending_capacity,pending_power,pending_new,queued_requests,preemptions,min_"
           "headroom_kw,"
           "tightest_domain,site_headroom_kw\n";
}

static bool tee_now(const world_t *w, int n, int64_t now)
{
    const tp_node_obs_t *o = &w->S->nodes[n];
    const tp_attestation_t *a = &o->att;
    return o->known && a->present && now < a->expires_at &&
           a->status == TP_ATT_AFFIRMING && a->cpu_tee != TP_TEE_NONE &&
           a->cpu_tee != TP_TEE_UNKNOWN;
}

static bool sensitive(const world_t *w, int cls)
{
    const tp_req_t *r = &w->U->classes[cls].req;
    return r->tee_mask != 0 || r->gpu_cc;
}

/* Why each pending job waits, against the load now; shapes are cached. */
static int classify_pending(world_t *w, int counts[R_COUNT])
{
    tp_workloads_t running = {w->run_w, w->nrun, NULL};
    tp_load_t *l = tp_load_new(w->F, w->S, &running);
    int64_t now = now_s(w);
    if (!l)
        return TP_ENOMEM;
    memset(counts, 0, R_COUNT * sizeof counts[0]);
    job_t *prev = NULL;
    for (int i = 0; i < w->npend; i++) {
        job_t *j = w->pend[i];
        /* Consecutive jobs of one shape (replicas of a deployment) share a verdict. */
        if (prev && prev->kind == j->kind && prev->cls == j->cls &&
            prev->gpus == j->gpus && prev->model == j->model && prev->any_gm &&
            j->any_gm && prev->nres == j->nres &&
            (!j->nres || prev->res[0] == j->res[0]) && prev->res_mode == j->res_mode) {
            j->reason = prev->reason;
            counts[j->reason] += j->gpus;
            continue;
        }
        tp_workload_t wl;
        fill_wl(w, j, &wl);
        int fit_static = 0, fit_gpus = 0, sec = 0, res = 0, hw = 0;
        const tp_predset_t secm =
            SIM_PREDS_SECURITY &
            ~(TP_PRED_BIT(TP_PRED_RESIDENCY) | TP_PRED_BIT(TP_PRED_RESIDENCY_MISMATCH) |
              TP_PRED_BIT(TP_PRED_RESIDENCY_UNVERIFIED));
        const tp_predset_t resm = SIM_PREDS_SECURITY & ~secm;
        for (int n = 0; n < w->F->nnodes; n++) {
            tp_predset_t st = tp_policy_static(w->F, w->S, n, &wl, now);
            if (!st) {
                fit_static++;
                tp_predset_t cap = tp_policy_capacity(w->F, w->S, l, n, &wl);
                if (!(cap & TP_PRED_BIT(TP_PRED_GPU_CAPACITY)))
                    fit_gpus++;
                continue;
            }
            sec += (st & secm) != 0;
            res += (st & resm) != 0;
            hw += (st & (TP_PRED_BIT(TP_PRED_GPU_MODEL) |
                         TP_PRED_BIT(TP_PRED_NODE_UNHEALTHY))) != 0;
        }
        if (fit_static)
            j->reason = fit_gpus ? R_POWER : R_CAPACITY;
        else if (res == w->F->nnodes)
            j->reason = R_RESIDENCY;
        else if (hw == w->F->nnodes)
            j->reason = R_HARDWARE;
        else
            j->reason = sec >= res ? R_SECURITY : R_RESIDENCY;
        /* A job that arrived since the last tick has not been decided yet. */
        if (j->queued_us > w->now_us - w->s->tick_us && fit_static)
            j->reason = R_TICK;
        counts[j->reason] += j->gpus;
        prev = j;
    }
    tp_load_free(l);
    return 0;
}

static void fmt_num(char *buf, size_t n, double v)
{
    if (isnan(v))
        buf[0] = '\0';
    else
        snprintf(buf, n, "%.6g", fabs(v) < 5e-13 ? 0.0 : v);
}

static int sample(world_t *w, bool final)
{
    int64_t now = now_s(w);
    int tee = 0, sens = 0, sens_tee = 0, counts[R_COUNT], pend = 0, pend_sens = 0;
    for (int i = 0; i < w->nrun; i++) {
        job_t *j = w->run[i];
        bool t = tee_now(w, w->n_of_u[j->node_u], now);
        tee += t ? j->gpus : 0;
        if (sensitive(w, j->cls)) {
            sens += j->gpus;
            sens_tee += t ? j->gpus : 0;
        }
    }
    if (classify_pending(w, counts) < 0)
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    for (int i = 0; i < w->npend; i++) {
        pend += w->pend[i]->gpus;
        if (sensitive(w, w->pend[i]->cls))
            pend_sens += w->pend[i]->gpus;
    }
    double dt = final ? 0 : (double)w->s->sample_us / SIM_US;
    for (int r = 0; r < R_COUNT; r++)
        w->pend_gpu_s_reason[r] += counts[r] * dt;
    long long queued = 0;
    for (int d = 0; d < w->s->ndeps; d++) {
        dep_advance(w, d, w->now_us);
        queued += (long long)w->dr[d].qn;
    }
    double tee_share = w->busy_gpus ? (double)tee / w->busy_gpus : NAN;
    double sens_share = sens ? (double)sens_tee / sens : NAN;
    if (!isnan(tee_share))
        w->tee_sum += tee_share, w->tee_n++;
    if (!isnan(sens_share))
        w->sens_tee_sum += sens_share, w->sens_tee_n++;
    double de = w->energy_j - w->last_energy;
    double tpj = de > 0 ? (w->tokens - w->last_tokens) / de : NAN;
    w->last_energy = w->energy_j;
    w->last_tokens = w->tokens;
    double minh = INFINITY, siteh = INFINITY;
    int mind = -1;
    for (int d = 0; d < w->U->ndomains; d++) {
        double h = tp_policy_domain_cap(w->F, w->S, d) - w->domain_w[d];
        if (h < minh)
            minh = h, mind = d;
        if (w->U->domains[d].depth == 0 && h < siteh)
            siteh = h;
        if (h < w->dom_min[d])
            w->dom_min[d] = h;
        w->dom_sum[d] += h;
    }
    if (minh < w->min_headroom)
        w->min_headroom = minh;
    if (siteh < w->site_min_headroom)
        w->site_min_headroom = siteh;
    w->nsamples++;
    char c[12][32];
    fmt_num(c[0], 32, w->healthy_gpus ? (double)w->busy_gpus / w->healthy_gpus : 0);
    fmt_num(c[1], 32, tee_share);
    fmt_num(c[2], 32, sens_share);
    fmt_num(c[3], 32, tpj);
    fmt_num(c[4], 32, w->total_w / 1000);
    fmt_num(c[5], 32, w->energy_j / 3.6e6);
    fmt_num(c[6], 32, minh / 1000);
    fmt_num(c[7], 32, siteh / 1000);
    /* Ids are identifiers (no spaces) but may hold commas: not in a CSV field. */
    char dom[160] = "";
    if (mind >= 0) {
        snprintf(dom, sizeof dom, "%s", w->U->domains[mind].id);
        for (char *q = dom; *q; q++)
            if (*q == ',' || *q == '"')
                *q = ';';
    }
    int rc = sim_buf_printf(
        w->csv,
        "%d,%s,%.0f,%s,%s,%s,%s,%s,%s,%lld,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%lld,%lld,%s,%s,"
        "%s\n",
        w->variant, w->policy_name, (double)w->now_us / SIM_US, c[0], c[1], c[2], c[3],
        c[4], c[5], w->violations, w->viol_gpus, w->busy_gpus, pend, pend_sens,
        counts[R_SECURITY], counts[R_RESIDENCY], counts[R_HARDWARE], counts[R_CAPACITY],
        counts[R_POWER], counts[R_TICK], queued, w->preemptions, c[6], dom, c[7]);
    if (rc < 0)
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    if (w->opts->progress) {
        char what[160];
        snprintf(what, sizeof what, "%s t=%.1fh", w->policy_name,
                 (double)w->now_us / SIM_US / 3600);
        w->opts->progress(w->opts->progress_arg,
                          w->opts->done0 + w->opts->done_span * (double)w->now_us /
                                               (double)w->s->duration_us,
                          what);
    }
    if (!final && w->now_us + w->s->sample_us <= w->s->duration_us)
        return push(w, w->now_us + w->s->sample_us, CLS_SAMPLE, K_SAMPLE, 0, NULL, 0);
    return 0;
}

/* Integrates the running totals up to t. */
static void advance(world_t *w, int64_t t)
{
    double dt = (double)(t - w->last_us) / SIM_US;
    if (dt <= 0)
        return;
    w->energy_j += w->total_w * dt;
    w->tokens += w->token_rate * dt;
    w->busy_gpu_s += w->busy_gpus * dt;
    w->healthy_gpu_s += w->healthy_gpus * dt;
    w->viol_gpu_s += w->viol_gpus * dt;
    if (w->ndom_over)
        w->over_cap_s += dt;
    for (int c = 0; c < w->U->nclasses && c < SIM_MAX_CLASSES; c++)
        w->pend_gpu_s_cls[c] += w->pend_gpus_cls[c] * dt;
    w->last_us = t;
}

/* ---- the summary of one run
 * --------------------------------------------------------------- */

static double r6(double v)
{
    char b[40];
    if (isnan(v) || isinf(v))
        return 0;
    snprintf(b, sizeof b, "%.6g", v);
    return strtod(b, NULL);
}

static json_t *hist_json(const sim_hist_t *h)
{
    return json_pack("{s:I, s:f, s:f, s:f, s:f}", "n", (json_int_t)h->n, "mean_s",
                     r6(h->n ? h->sum / h->n : 0), "p50_s", r6(sim_hist_quantile(h, 0.5)),
                     "p95_s", r6(sim_hist_quantile(h, 0.95)), "max_s", r6(h->max));
}

static json_t *summary(world_t *w)
{
    const tp_fleet_t *U = w->U;
    json_t *o = json_object(), *x;
    json_object_set_new(o, "decisions", json_integer(w->decisions));
    json_object_set_new(o, "validated", json_integer(w->validated));
    json_object_set_new(o, "validator_violations", json_integer(w->validator_flags));
    json_object_set_new(o, "placements", json_integer(w->placements));
    json_object_set_new(o, "preemptions", json_integer(w->preemptions));
    x = json_object();
    for (int e = 0; e < EVICT_COUNT; e++)
        json_object_set_new(x, evict_names[e], json_integer(w->evictions[e]));
    json_object_set_new(o, "evictions", x);
    x = json_object();
    json_object_set_new(x, "placements", json_integer(w->violations));
    json_object_set_new(x, "gpu_hours", json_real(r6(w->viol_gpu_s / 3600)));
    json_t *bp = json_object();
    for (int p = 0; p < TP_PRED_COUNT; p++)
        if (w->viol_pred[p])
            json_object_set_new(bp, tp_pred_name(p), json_integer(w->viol_pred[p]));
    json_object_set_new(x, "by_predicate", bp);
    json_object_set_new(o, "security_violations", x);
    json_object_set_new(o, "tee_share",
                        json_real(r6(w->tee_n ? w->tee_sum / w->tee_n : 0)));
    json_object_set_new(
        o, "sensitive_in_tee",
        json_real(r6(w->sens_tee_n ? w->sens_tee_sum / w->sens_tee_n : 0)));
    json_object_set_new(
        o, "gpu_util",
        json_real(r6(w->healthy_gpu_s ? w->busy_gpu_s / w->healthy_gpu_s : 0)));
    json_object_set_new(o, "energy_kwh", json_real(r6(w->energy_j / 3.6e6)));
    json_object_set_new(o, "tokens", json_real(r6(w->tokens)));
    json_object_set_new(o, "tokens_per_j",
                        json_real(r6(w->energy_j ? w->tokens / w->energy_j : 0)));
    long long run_end = 0, pend_end = 0;
    for (int i = 0; i < w->nrun; i++)
        run_end += w->run[i]->kind == JOB_BATCH;
    for (int i = 0; i < w->npend; i++)
        pend_end += w->pend[i]->kind == JOB_BATCH;
    json_object_set_new(
        o, "jobs",
        json_pack("{s:I, s:I, s:I, s:I}", "arrived", (json_int_t)w->jobs_arrived,
                  "completed", (json_int_t)w->jobs_done, "running_end",
                  (json_int_t)run_end, "pending_end", (json_int_t)pend_end));
    long long queued = 0;
    for (int d = 0; d < w->s->ndeps; d++)
        queued += (long long)w->dr[d].qn;
    json_object_set_new(
        o, "requests",
        json_pack("{s:I, s:I, s:I, s:I}", "arrived", (json_int_t)w->req_arrived, "served",
                  (json_int_t)w->req_served, "queued_end", (json_int_t)queued,
                  "replicas_started", (json_int_t)w->replicas_started));
    json_t *wait = json_object(), *bc = json_object(), *br = json_object(),
           *rq = json_object();
    json_t *pgh = json_object(), *pc = json_object(), *pr = json_object();
    for (int c = 0; c < U->nclasses && c < SIM_MAX_CLASSES; c++) {
        json_object_set_new(bc, U->classes[c].name, hist_json(&w->wait_cls[c]));
        if (w->req_wait_cls[c].n)
            json_object_set_new(rq, U->classes[c].name, hist_json(&w->req_wait_cls[c]));
        json_object_set_new(pc, U->classes[c].name,
                            json_real(r6(w->pend_gpu_s_cls[c] / 3600)));
    }
    for (int r = 0; r < R_COUNT; r++) {
        if (w->wait_reason[r].n)
            json_object_set_new(br, reason_names[r], hist_json(&w->wait_reason[r]));
        json_object_set_new(pr, reason_names[r],
                            json_real(r6(w->pend_gpu_s_reason[r] / 3600)));
    }
    json_object_set_new(wait, "by_class", bc);
    json_object_set_new(wait, "by_reason", br);
    json_object_set_new(wait, "requests_by_class", rq);
    json_object_set_new(o, "wait", wait);
    json_object_set_new(pgh, "by_class", pc);
    json_object_set_new(pgh, "by_reason", pr);
    json_object_set_new(o, "pending_gpu_hours", pgh);
    json_t *pw = json_object(), *doms = json_object();
    json_object_set_new(pw, "min_headroom_kw", json_real(r6(w->min_headroom / 1000)));
    json_object_set_new(pw, "site_min_headroom_kw",
                        json_real(r6(w->site_min_headroom / 1000)));
    json_object_set_new(pw, "over_cap_s", json_real(r6(w->over_cap_s)));
    for (int d = 0; d < U->ndomains; d++)
        if (U->domains[d].depth <= 1 || U->ndomains <= 32)
            json_object_set_new(
                doms, U->domains[d].id,
                json_pack("{s:f, s:f}", "min_headroom_kw", r6(w->dom_min[d] / 1000),
                          "mean_headroom_kw",
                          r6(w->nsamples ? w->dom_sum[d] / w->nsamples / 1000 : 0)));
    json_object_set_new(pw, "domains", doms);
    json_object_set_new(o, "power", pw);
    return o;
}

/* ---- set-up and tear-down
 * ------------------------------------------------------------------ */

static void world_fini(world_t *w)
{
    for (size_t i = 0; i < w->nall; i++) {
        free(w->all[i]->gm_u);
        free(w->all[i]->gm_cur);
        free(w->all[i]);
    }
    free(w->all);
    free(w->pend);
    free(w->run);
    free(w->pend_w);
    free(w->run_w);
    for (int d = 0; w->dr && d < w->s->ndeps; d++)
        free(w->dr[d].q);
    free(w->dr);
    if (w->own_F)
        tp_fleet_free(w->F);
    tp_state_free(w->S);
    free(w->n_of_u);
    free(w->u_of_n);
    free(w->gm_map);
    free(w->present);
    free(w->obs);
    free(w->dcap);
    free(w->failed);
    free(w->bmc_out);
    free(w->stop_renew);
    free(w->revoked);
    free(w->gpus_used);
    free(w->node_v);
    free(w->renews);
    free(w->att_status0);
    free(w->work_w);
    free(w->domain_w);
    free(w->vnames);
    free(w->v_out);
    for (int e = 0; w->ev_nodes && e < w->s->nevents; e++)
        free(w->ev_nodes[e]);
    free(w->ev_nodes);
    free(w->ev_nnodes);
    free(w->rng);
    free(w->src_pos);
    free(w->src_pass);
    for (int i = 0; w->pod_order && i < w->s->nsrcs; i++)
        free(w->pod_order[i]);
    free(w->pod_order);
    free(w->src_count);
    free(w->dom_min);
    free(w->dom_sum);
    tp_heap_fini(&w->heap);
}

static int world_init(world_t *w)
{
    const sim_setup_t *s = w->s;
    const tp_fleet_t *U = s->fleet;
    int nu = U->nnodes, nd = U->ndomains;
    w->U = U;
    w->nu = nu;
    tp_heap_init(&w->heap);
#define ALLOC(p, n) ((p) = calloc((size_t)(n) + 1, sizeof *(p)))
    if (!ALLOC(w->n_of_u, nu) || !ALLOC(w->present, nu) || !ALLOC(w->obs, nu) ||
        !ALLOC(w->dcap, nd) || !ALLOC(w->failed, nu) || !ALLOC(w->bmc_out, nu) ||
        !ALLOC(w->stop_renew, nu) || !ALLOC(w->revoked, nu) || !ALLOC(w->gpus_used, nu) ||
        !ALLOC(w->node_v, nu) || !ALLOC(w->renews, nu) || !ALLOC(w->att_status0, nu) ||
        !ALLOC(w->work_w, nu) || !ALLOC(w->domain_w, nd) || !ALLOC(w->vnames, nu) ||
        !ALLOC(w->v_out, nu) || !ALLOC(w->ev_nodes, s->nevents) ||
        !ALLOC(w->ev_nnodes, s->nevents) || !ALLOC(w->rng, s->nsrcs) ||
        !ALLOC(w->src_pos, s->nsrcs) || !ALLOC(w->src_pass, s->nsrcs) ||
        !ALLOC(w->pod_order, s->nsrcs) || !ALLOC(w->src_count, s->nsrcs) ||
        !ALLOC(w->dr, s->ndeps) || !ALLOC(w->dom_min, nd) || !ALLOC(w->dom_sum, nd))
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
#undef ALLOC
    int64_t t0 = s->start_s;
    for (int d = 0; d < nd; d++) {
        w->dcap[d] = s->state0 ? s->state0->domain_cap_w[d] : NAN;
        w->dom_min[d] = INFINITY;
    }
    w->min_headroom = w->site_min_headroom = INFINITY;
    /* Facts at the start: a state file or the generated state, else every node with
     * a verifier freshly attested as declared. The simulator's power model is the
     * estimate, so BMC draw readings are dropped. */
    for (int u = 0; u < nu; u++) {
        const tp_node_t *n = &U->nodes[u];
        tp_node_obs_t *o = &w->obs[u];
        w->present[u] = s->present0[u];
        w->n_of_u[u] = -1;
        if (s->state0) {
            *o = s->state0->nodes[u];
            o->att.verifier = o->att.evidence = NULL;
        } else {
            memset(o, 0, sizeof *o);
            o->known = true;
            o->cap_w = NAN;
            o->gpus_healthy = -1;
            memcpy(o->country, U->regions[n->region].countries[0], 3);
            if (n->verifier) {
                o->att.present = true;
                o->att.status = TP_ATT_AFFIRMING;
                o->att.cpu_tee = n->cpu_tee;
                o->att.gpu_cc = n->gpu_cc;
                o->att.issued_at = t0;
                o->att.expires_at = t0 + s->ttl_us / SIM_US;
            }
        }
        o->draw_w = NAN;
        if (o->gpus_healthy >= 0)
            w->failed[u] = n->gpus - o->gpus_healthy;
        w->att_status0[u] = o->att.status;
        /* A node renews if its attestation is usable at the start. */
        w->renews[u] = o->known && o->att.present && t0 < o->att.expires_at &&
                       t0 - o->att.issued_at <= s->ttl_us / SIM_US;
        w->node_v[u] = -1;
        if (n->verifier) {
            int v = 0;
            while (v < w->nv && strcmp(w->vnames[v], n->verifier))
                v++;
            if (v == w->nv)
                w->vnames[w->nv++] = n->verifier;
            w->node_v[u] = v;
        }
        if (w->present[u])
            node_domain_apply(w, u, n->idle_w);
    }
    int rc = rebuild(w);
    if (rc < 0)
        return rc;
    /* Random node picks of events ("count"): seeded, the same for every policy. */
    for (int e = 0; e < s->nevents; e++) {
        const sim_event_t *ev = &s->events[e];
        int n = ev->nnodes;
        if (!(w->ev_nodes[e] = malloc(((size_t)n + 1) * sizeof(int))))
            return tp_error_set(w->err, TP_ENOMEM, "out of memory");
        if (n)
            memcpy(w->ev_nodes[e], ev->nodes, (size_t)n * sizeof(int));
        if (ev->count > 0 && ev->count < n) {
            tp_rng_t r;
            tp_rng_init(&r, s->seed ^ (0x5eedULL + (uint64_t)e * 0x9e3779b97f4a7c15ULL));
            for (int i = 0; i < ev->count; i++) { /* partial Fisher–Yates */
                int k = i + (int)tp_rng_below(&r, (uint64_t)(n - i));
                int t = w->ev_nodes[e][i];
                w->ev_nodes[e][i] = w->ev_nodes[e][k];
                w->ev_nodes[e][k] = t;
            }
            n = ev->count;
        }
        w->ev_nnodes[e] = n;
        if (ev->at_us <= s->duration_us &&
            (rc =
                 push(w, ev->at_us,
                      ev->kind == EV_ADD_NODES || ev->kind == EV_RETIRE_NODES ? CLS_FLEET
                                                                              : CLS_STATE,
                      K_EVENT, e, NULL, 0)) < 0)
            return rc;
    }
    for (int d = 0; d < s->ndeps; d++) {
        double best = 0;
        for (int g = 0; g < U->ngpu_models; g++) {
            const tp_profile_t *p = tp_fleet_profile(U, s->deps[d].model, g);
            if (p && p->tokens_per_s > best)
                best = p->tokens_per_s;
        }
        w->dr[d].per_replica = s->deps[d].gpus * (best > 0 ? best : 1000);
        w->dr[d].last_scale_us = -(int64_t)(s->cooldown_s * SIM_US) - 1;
    }
    for (int i = 0; i < s->nsrcs; i++) {
        tp_rng_init(&w->rng[i], s->seed ^ (0xa5a5a5a5ULL * (uint64_t)(i + 1)));
        if ((rc = first_arrival(w, i)) < 0)
            return rc;
    }
    if ((rc = push(w, s->renew_us, CLS_STATE, K_RENEW, 0, NULL, 0)) < 0 ||
        (rc = push(w, 0, CLS_TICK, K_TICK, 0, NULL, 0)) < 0 ||
        (rc = push(w, 0, CLS_SAMPLE, K_SAMPLE, 0, NULL, 0)) < 0)
        return rc;
    check_caps(w);
    return 0;
}

int sim_simulate(const sim_setup_t *s, int variant, const char *policy,
                 const sim_run_opts_t *o, sim_buf_t *csv, json_t **kpis,
                 long long *events, tp_error_t *err)
{
    world_t w = {0};
    tp_sim_policy_t *pol = NULL;
    tp_event_t e;
    int rc;
    *kpis = NULL;
    w.s = s;
    w.policy_name = policy;
    w.opts = o;
    w.csv = csv;
    w.variant = variant;
    w.err = err;
    if ((rc = tp_sim_policy_new(policy, &s->solver, &pol, err)) < 0)
        return rc;
    w.pol = pol;
    rc = world_init(&w);
    while (rc == 0 && tp_heap_pop(&w.heap, &e)) {
        if (e.t > s->duration_us)
            break;
        advance(&w, e.t);
        w.now_us = e.t;
        w.events++;
        switch (e.kind) {
        case K_EVENT:
        case K_EVENT_END:
            rc = scenario_event(&w, e.arg, e.kind == K_EVENT_END);
            break;
        case K_RENEW:
            rc = renew_round(&w);
            break;
        case K_COMPLETE: {
            job_t *j = e.ptr;
            if (j->state == JS_RUNNING && j->gen == e.gen) {
                rc = stop_job(&w, j, STOP_COMPLETE);
                if (w.ndom_over)
                    check_caps(&w);
            }
            break;
        }
        case K_ARRIVAL:
            rc = arrival(&w, e.arg);
            break;
        case K_TICK:
            rc = tick(&w);
            if (rc == 0 && w.now_us + s->tick_us <= s->duration_us)
                rc = push(&w, w.now_us + s->tick_us, CLS_TICK, K_TICK, 0, NULL, 0);
            break;
        case K_SAMPLE:
            rc = sample(&w, false);
            break;
        }
    }
    if (rc == 0) {
        advance(&w, s->duration_us);
        w.now_us = s->duration_us;
        if (s->duration_us % s->sample_us != 0)
            rc = sample(&w, true);
    }
    if (rc == 0) {
        /* Requests still in service count as served up to the end. */
        for (int d = 0; d < s->ndeps; d++)
            dep_advance(&w, d, s->duration_us);
        *kpis = summary(&w);
        if (!*kpis)
            rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        else if (pol->report)
            json_object_set_new(*kpis, "policy", pol->report(pol));
    }
    if (events)
        *events = w.events;
    world_fini(&w);
    tp_sim_policy_free(pol);
    return rc;
}
