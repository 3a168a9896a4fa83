/*
 * sim/kpi.c — KPIs: wait histograms, the periodic sample (timeseries.csv rows, pending
 * reasons) and the summary object of one run (docs/sim.md describes the model;
 * sim/engine.h the split).
 */
#include "sim/engine.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const reason_names[R_COUNT] = {"new",      "security", "residency",
                                                  "hardware", "capacity", "power"};
static const char *const evict_names[EVICT_COUNT] = {"gpu_failure", "revocation",
                                                     "retired"};

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

/* Log-spaced bins 2% wide: bin 0 is [0, 0.01 s); bin k ≥ 1 starts at 0.01·1.02^(k−1),
 * up to 2·10⁸ s. A quantile is reported at its bin's geometric middle (capped by the
 * max): within 1% of the exact value (0.01 s absolute below 0.01 s). */
static double bin_lo(int k)
{
    return k == 0 ? 0 : 0.01 * pow(1.02, k - 1);
}

void sim_hist_add(sim_hist_t *h, double v)
{
    int k = v < 0.01 ? 0 : 1 + (int)floor(log(v / 0.01) / log(1.02) + 1e-9);
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

const char *sim_csv_header(void)
{
    return "variant,policy,t_s,gpu_util,tee_share,sensitive_in_tee,tokens_per_j,power_kw,"
           "energy_kwh,violations,violating_gpus,running_gpus,pending_gpus,"
           "pending_sensitive_gpus,pending_security,pending_residency,pending_hardware,"
           "pending_capacity,pending_power,pending_new,queued_requests,preemptions,min_"
           "headroom_kw,"
           "tightest_domain,site_headroom_kw,seed\n";
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
    int64_t now = sim_now_s(w);
    if (!l)
        return TP_ENOMEM;
    memset(counts, 0, R_COUNT * sizeof counts[0]);
    job_t *prev = NULL;
    for (int i = 0; i < w->npend; i++) {
        job_t *j = w->pend[i];
        /* Consecutive jobs of one shape (replicas of a deployment) share a verdict. */
        if (prev && prev->kind == j->kind && prev->cls == j->cls &&
            prev->gpus == j->gpus && prev->nodes == j->nodes && prev->model == j->model &&
            ((prev->any_gm && j->any_gm) || (prev->gm_from_model && j->gm_from_model)) &&
            prev->nres == j->nres && (!j->nres || prev->res[0] == j->res[0]) &&
            prev->res_mode == j->res_mode) {
            j->reason = prev->reason;
            counts[j->reason] += sim_job_gpus(j);
            continue;
        }
        tp_workload_t wl;
        sim_fill_wl(w, j, &wl);
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
        counts[j->reason] += sim_job_gpus(j);
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

int sim_sample(world_t *w, bool final)
{
    int rc = sim_gangs_check(w); /* at every sample too: never a partial gang */
    if (rc < 0)
        return rc;
    int64_t now = sim_now_s(w);
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
        pend += sim_job_gpus(w->pend[i]);
        if (sensitive(w, w->pend[i]->cls))
            pend_sens += sim_job_gpus(w->pend[i]);
    }
    double dt = final ? 0 : (double)w->s->sample_us / SIM_US;
    for (int r = 0; r < R_COUNT; r++)
        w->pend_gpu_s_reason[r] += counts[r] * dt;
    long long queued = 0;
    for (int d = 0; d < w->s->ndeps; d++) {
        sim_dep_advance(w, d, w->now_us);
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
    rc = sim_buf_printf(
        w->csv,
        "%d,%s,%.0f,%s,%s,%s,%s,%s,%s,%lld,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%lld,%lld,%s,%s,"
        "%s,%llu\n",
        w->variant, w->policy_name, (double)w->now_us / SIM_US, c[0], c[1], c[2], c[3],
        c[4], c[5], w->violations, w->viol_gpus, w->busy_gpus, pend, pend_sens,
        counts[R_SECURITY], counts[R_RESIDENCY], counts[R_HARDWARE], counts[R_CAPACITY],
        counts[R_POWER], counts[R_TICK], queued, w->preemptions, c[6], dom, c[7],
        (unsigned long long)w->s->seed);
    if (rc < 0)
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    if (w->opts->progress) {
        char what[160];
        snprintf(what, sizeof what, "%s t=%.1fh", w->policy_name,
                 (double)w->now_us / SIM_US / 3600);
        w->opts->progress(w->opts->progress_arg,
                          w->opts->done0 + w->opts->done_span * (double)w->now_us /
                                               (double)w->s->duration_us,
                          what, w->opts->events0 + w->events);
    }
    if (!final && w->now_us + w->s->sample_us <= w->s->duration_us)
        return sim_push(w, w->now_us + w->s->sample_us, CLS_SAMPLE, K_SAMPLE, 0, NULL, 0);
    return 0;
}

double sim_r6(double v)
{
    char b[40];
    if (isnan(v) || isinf(v))
        return 0;
    snprintf(b, sizeof b, "%.6g", v);
    return strtod(b, NULL);
}

json_t *sim_hist_json(const sim_hist_t *h)
{
    return json_pack("{s:I, s:f, s:f, s:f, s:f}", "n", (json_int_t)h->n, "mean_s",
                     sim_r6(h->n ? h->sum / h->n : 0), "p50_s",
                     sim_r6(sim_hist_quantile(h, 0.5)), "p95_s",
                     sim_r6(sim_hist_quantile(h, 0.95)), "max_s", sim_r6(h->max));
}

json_t *sim_summary(world_t *w)
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
    json_object_set_new(x, "gpu_hours", json_real(sim_r6(w->viol_gpu_s / 3600)));
    json_t *bp = json_object();
    for (int p = 0; p < TP_PRED_COUNT; p++)
        if (w->viol_pred[p])
            json_object_set_new(bp, tp_pred_name(p), json_integer(w->viol_pred[p]));
    json_object_set_new(x, "by_predicate", bp);
    json_object_set_new(o, "security_violations", x);
    json_object_set_new(o, "tee_share",
                        json_real(sim_r6(w->tee_n ? w->tee_sum / w->tee_n : 0)));
    json_object_set_new(
        o, "sensitive_in_tee",
        json_real(sim_r6(w->sens_tee_n ? w->sens_tee_sum / w->sens_tee_n : 0)));
    json_object_set_new(
        o, "gpu_util",
        json_real(sim_r6(w->healthy_gpu_s ? w->busy_gpu_s / w->healthy_gpu_s : 0)));
    json_object_set_new(o, "energy_kwh", json_real(sim_r6(w->energy_j / 3.6e6)));
    json_object_set_new(o, "tokens", json_real(sim_r6(w->tokens)));
    json_object_set_new(o, "tokens_per_j",
                        json_real(sim_r6(w->energy_j ? w->tokens / w->energy_j : 0)));
    /* Served requests and batch work apart, each over the energy its own work
     * drew (idle draw excluded), and where the tokens came from. */
    double treq = w->tok_req_trace + w->tok_req_gen,
           tbat = w->tok_batch_trace + w->tok_batch_gen;
    json_object_set_new(
        o, "tokens_per_j_requests",
        json_real(sim_r6(w->energy_replica_j > 0 ? treq / w->energy_replica_j : 0)));
    json_object_set_new(
        o, "tokens_per_j_batch",
        json_real(sim_r6(w->energy_batch_j > 0 ? tbat / w->energy_batch_j : 0)));
    json_object_set_new(
        o, "tokens_by_origin",
        json_pack("{s:f, s:f, s:f, s:f, s:f}", "requests_trace", sim_r6(w->tok_req_trace),
                  "requests_generated", sim_r6(w->tok_req_gen), "batch_trace",
                  sim_r6(w->tok_batch_trace), "batch_generated", sim_r6(w->tok_batch_gen),
                  "trace_share",
                  sim_r6(treq + tbat > 0
                             ? (w->tok_req_trace + w->tok_batch_trace) / (treq + tbat)
                             : 0)));
    /* GPU-hours by origin: batch jobs by their source; each deployment's replicas
     * by the share of its arrived work that came from traces. */
    double rep_t = 0, rep_g = 0;
    for (int d = 0; d < w->s->ndeps; d++) {
        dep_rt_t *r = &w->dr[d];
        sim_dep_gpu_advance(w, d);
        double sh = r->arrived_w > 0 ? r->arrived_trace_w / r->arrived_w : 0;
        rep_t += r->gpu_s * sh;
        rep_g += r->gpu_s * (1 - sh);
    }
    double gall = rep_t + rep_g + w->batch_gpu_s_trace + w->batch_gpu_s_gen;
    json_object_set_new(
        o, "gpu_hours_by_origin",
        json_pack("{s:f, s:f, s:f, s:f, s:f}", "replicas_trace", sim_r6(rep_t / 3600),
                  "replicas_generated", sim_r6(rep_g / 3600), "batch_trace",
                  sim_r6(w->batch_gpu_s_trace / 3600), "batch_generated",
                  sim_r6(w->batch_gpu_s_gen / 3600), "trace_share",
                  sim_r6(gall > 0 ? (rep_t + w->batch_gpu_s_trace) / gall : 0)));
    long long run_end = 0, pend_end = 0;
    for (int i = 0; i < w->nrun; i++)
        run_end += w->run[i]->kind == JOB_BATCH && !w->run[i]->leader; /* a gang once */
    for (int i = 0; i < w->npend; i++)
        pend_end += w->pend[i]->kind == JOB_BATCH;
    /* Work of batch jobs, in GPU-hours at the reference speed: of the completed
     * jobs, and done by the end (completed, preempted and still-running parts). */
    double done = w->work_int_gpu_s;
    json_object_set_new(
        o, "jobs",
        json_pack("{s:I, s:I, s:I, s:I, s:f, s:f}", "arrived",
                  (json_int_t)w->jobs_arrived, "completed", (json_int_t)w->jobs_done,
                  "running_end", (json_int_t)run_end, "pending_end", (json_int_t)pend_end,
                  "completed_work_gpu_h", sim_r6(w->work_completed_gpu_s / 3600),
                  "work_done_gpu_h", sim_r6(done / 3600)));
    long long queued = 0;
    for (int d = 0; d < w->s->ndeps; d++)
        queued += (long long)w->dr[d].qn;
    json_object_set_new(
        o, "requests",
        json_pack("{s:I, s:I, s:I, s:I}", "arrived", (json_int_t)w->req_arrived, "served",
                  (json_int_t)w->req_served, "queued_end", (json_int_t)queued,
                  "replicas_started", (json_int_t)w->replicas_started));
    /* Each deployment at the end: its running replicas, their capacity and the
     * capacity the autoscaler last sized for (tokens/s). */
    json_t *deps = json_object();
    for (int d = 0; d < w->s->ndeps; d++)
        json_object_set_new(deps, w->s->deps[d].id,
                            json_pack("{s:i, s:i, s:f, s:f}", "replicas_end",
                                      w->dr[d].running, "pending_end", w->dr[d].pending,
                                      "capacity_tps_end", sim_r6(w->dr[d].cap),
                                      "need_tps_end", sim_r6(w->dr[d].need)));
    json_object_set_new(o, "deployments", deps);
    if (w->win_closed)
        json_object_set_new(o, "windows", sim_windows_json(w));
    json_t *wait = json_object(), *bc = json_object(), *br = json_object(),
           *rq = json_object();
    json_t *pgh = json_object(), *pc = json_object(), *pr = json_object();
    double pend_total = 0, worst_job = 0, worst_req = 0;
    for (int c = 0; c < U->nclasses && c < SIM_MAX_CLASSES; c++) {
        pend_total += w->pend_gpu_s_cls[c] / 3600;
        if (w->wait_cls[c].n)
            worst_job = fmax(worst_job, sim_hist_quantile(&w->wait_cls[c], 0.95));
        if (w->req_wait_cls[c].n)
            worst_req = fmax(worst_req, sim_hist_quantile(&w->req_wait_cls[c], 0.95));
        json_object_set_new(bc, U->classes[c].name, sim_hist_json(&w->wait_cls[c]));
        if (w->req_wait_cls[c].n)
            json_object_set_new(rq, U->classes[c].name,
                                sim_hist_json(&w->req_wait_cls[c]));
        json_object_set_new(pc, U->classes[c].name,
                            json_real(sim_r6(w->pend_gpu_s_cls[c] / 3600)));
    }
    for (int r = 0; r < R_COUNT; r++) {
        if (w->wait_reason[r].n)
            json_object_set_new(br, reason_names[r], sim_hist_json(&w->wait_reason[r]));
        json_object_set_new(pr, reason_names[r],
                            json_real(sim_r6(w->pend_gpu_s_reason[r] / 3600)));
    }
    /* The worst class's p95 (jobs, requests): one figure per run, so seeds can be
     * averaged on it. */
    json_object_set_new(wait, "jobs_p95_worst_s", json_real(sim_r6(worst_job)));
    json_object_set_new(wait, "requests_p95_worst_s", json_real(sim_r6(worst_req)));
    json_object_set_new(wait, "by_class", bc);
    json_object_set_new(wait, "by_reason", br);
    json_object_set_new(wait, "requests_by_class", rq);
    json_object_set_new(o, "wait", wait);
    json_object_set_new(pgh, "total", json_real(sim_r6(pend_total)));
    json_object_set_new(pgh, "by_class", pc);
    json_object_set_new(pgh, "by_reason", pr);
    json_object_set_new(o, "pending_gpu_hours", pgh);
    json_t *pw = json_object(), *doms = json_object();
    json_object_set_new(pw, "min_headroom_kw", json_real(sim_r6(w->min_headroom / 1000)));
    json_object_set_new(pw, "site_min_headroom_kw",
                        json_real(sim_r6(w->site_min_headroom / 1000)));
    json_object_set_new(pw, "over_cap_s", json_real(sim_r6(w->over_cap_s)));
    for (int d = 0; d < U->ndomains; d++)
        if (U->domains[d].depth <= 1 || U->ndomains <= 32)
            json_object_set_new(
                doms, U->domains[d].id,
                json_pack("{s:f, s:f}", "min_headroom_kw", sim_r6(w->dom_min[d] / 1000),
                          "mean_headroom_kw",
                          sim_r6(w->nsamples ? w->dom_sum[d] / w->nsamples / 1000 : 0)));
    json_object_set_new(pw, "domains", doms);
    json_object_set_new(o, "power", pw);
    json_t *ten, *gangs = sim_gangs_json(w, &ten);
    if (gangs)
        json_object_set_new(o, "gangs", gangs);
    if (ten)
        json_object_set_new(o, "tenants", ten);
    return o;
}
