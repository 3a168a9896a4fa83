/*
 * sim/windows.c — KPIs per window and the warm-up (docs/sim.md): the run is cut
 * at every scenario event's start and end (and at the end of the warm-up) into
 * windows, and each window gets its own figures (the difference of cumulative
 * figures at its two ends), so the effect of an event is isolated from what
 * came before it. The warm-up's end zeroes every KPI, so summary.json's figures
 * cover [warmup_s, duration_s) only.
 */
#include "sim/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const wk_names[WK_COUNT] = {"pending_gpu_h",
                                               "work_done_gpu_h",
                                               "jobs_completed",
                                               "energy_kwh",
                                               "preemptions",
                                               "violations",
                                               "violating_gpu_h",
                                               "requests_served",
                                               "served_tokens",
                                               NULL,
                                               NULL};
static const double wk_scale[WK_COUNT] = {1 / 3600.0, 1 / 3600.0, 1, 1 / 3.6e6, 1, 1,
                                          1 / 3600.0, 1,          1, 1,         1};

static void snapshot(const world_t *w, double v[WK_COUNT])
{
    double pend = 0;
    for (int c = 0; c < w->U->nclasses && c < SIM_MAX_CLASSES; c++)
        pend += w->pend_gpu_s_cls[c];
    v[WK_PENDING_GPU_S] = pend;
    v[WK_WORK_GPU_S] = w->work_int_gpu_s;
    v[WK_JOBS_DONE] = (double)w->jobs_done;
    v[WK_ENERGY_J] = w->energy_j;
    v[WK_PREEMPTIONS] = (double)w->preemptions;
    v[WK_VIOLATIONS] = (double)w->violations;
    v[WK_VIOL_GPU_S] = w->viol_gpu_s;
    v[WK_REQ_SERVED] = (double)w->req_served;
    v[WK_REQ_TOKENS] = w->tok_req_trace + w->tok_req_gen;
    v[WK_BUSY_GPU_S] = w->busy_gpu_s;
    v[WK_HEALTHY_GPU_S] = w->healthy_gpu_s;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int sim_windows_init(world_t *w)
{
    const sim_setup_t *s = w->s;
    int64_t b[2 * 256 + 2];
    int n = 0;
    for (int e = 0; e < s->nevents && n < 2 * 256; e++) {
        b[n++] = s->events[e].at_us;
        if (s->events[e].dur_us > 0)
            b[n++] = s->events[e].at_us + s->events[e].dur_us;
    }
    if (s->warmup_us > 0)
        b[n++] = s->warmup_us;
    qsort(b, (size_t)n, sizeof *b, cmp_i64);
    w->win_b[0] = 0;
    w->nwin = 0;
    for (int i = 0; i < n; i++)
        if (b[i] > w->win_b[w->nwin] && b[i] < s->duration_us) {
            if (w->nwin + 1 >= SIM_MAX_WINDOWS) { /* too many events: no windows */
                w->nwin = 0;
                break;
            }
            w->win_b[++w->nwin] = b[i];
        }
    if (w->nwin == 0) /* no event inside the run: one window is the summary itself */
        return 0;
    w->win_b[++w->nwin] = s->duration_us;
    for (int i = 1; i < w->nwin; i++) {
        int rc = sim_push(w, w->win_b[i], CLS_WINDOW, K_WINDOW, i, NULL, 0);
        if (rc < 0)
            return rc;
    }
    if (s->warmup_us > 0 && s->warmup_us < s->duration_us)
        return sim_push(w, s->warmup_us, CLS_WINDOW, K_WARMUP, 0, NULL, 0);
    return 0;
}

void sim_window_close(world_t *w)
{
    if (w->win_closed >= w->nwin)
        return;
    double now[WK_COUNT];
    snapshot(w, now);
    int k = w->win_closed++;
    for (int i = 0; i < WK_COUNT; i++)
        w->win_val[k][i] = now[i] - w->win_prev[i];
    w->win_warm[k] = w->s->warmup_us > 0 && w->win_b[k + 1] <= w->s->warmup_us;
    memcpy(w->win_prev, now, sizeof now);
}

void sim_warmup_end(world_t *w)
{
    /* Every KPI the summary reports restarts from zero; the running work, queues
     * and facts stay as they are. */
    w->energy_j = w->tokens = w->busy_gpu_s = w->healthy_gpu_s = w->viol_gpu_s =
        w->over_cap_s = 0;
    memset(w->pend_gpu_s_cls, 0, sizeof w->pend_gpu_s_cls);
    memset(w->pend_gpu_s_reason, 0, sizeof w->pend_gpu_s_reason);
    w->decisions = w->validated = w->validator_flags = w->placements = w->preemptions =
        w->violations = 0;
    memset(w->evictions, 0, sizeof w->evictions);
    memset(w->viol_pred, 0, sizeof w->viol_pred);
    w->jobs_arrived = w->jobs_done = w->req_arrived = w->req_served =
        w->replicas_started = 0;
    w->work_done_gpu_s = w->work_completed_gpu_s = w->work_int_gpu_s = 0;
    memset(w->wait_cls, 0, sizeof w->wait_cls);
    memset(w->wait_reason, 0, sizeof w->wait_reason);
    memset(w->req_wait_cls, 0, sizeof w->req_wait_cls);
    w->decide_ms_total = 0;
    w->tee_sum = w->sens_tee_sum = 0;
    w->tee_n = w->sens_tee_n = 0;
    w->energy_replica_j = w->energy_batch_j = 0;
    w->tok_req_trace = w->tok_req_gen = w->tok_batch_trace = w->tok_batch_gen = 0;
    w->batch_gpu_s_trace = w->batch_gpu_s_gen = 0;
    for (int d = 0; d < w->s->ndeps; d++) {
        sim_dep_gpu_advance(w, d);
        w->dr[d].gpu_s = w->dr[d].arrived_trace_w = w->dr[d].arrived_w = 0;
    }
    w->last_tokens = w->last_energy = 0;
    for (int d = 0; d < w->U->ndomains; d++) {
        w->dom_min[d] = INFINITY;
        w->dom_sum[d] = 0;
    }
    w->nsamples = 0;
    w->min_headroom = w->site_min_headroom = INFINITY;
    snapshot(w, w->win_prev);
}

json_t *sim_windows_json(const world_t *w)
{
    json_t *o = json_object();
    for (int k = 0; o && k < w->win_closed; k++) {
        char key[64];
        const double *v = w->win_val[k];
        snprintf(key, sizeof key, "%.0f-%.0f", (double)w->win_b[k] / SIM_US,
                 (double)w->win_b[k + 1] / SIM_US);
        json_t *x = json_object();
        json_object_set_new(x, "from_s", json_real((double)w->win_b[k] / SIM_US));
        json_object_set_new(x, "to_s", json_real((double)w->win_b[k + 1] / SIM_US));
        if (w->win_warm[k])
            json_object_set_new(x, "warmup", json_true());
        for (int i = 0; i < WK_COUNT; i++)
            if (wk_names[i])
                json_object_set_new(x, wk_names[i],
                                    json_real(sim_r6(v[i] * wk_scale[i])));
        json_object_set_new(x, "gpu_util",
                            json_real(sim_r6(v[WK_HEALTHY_GPU_S] > 0
                                                 ? v[WK_BUSY_GPU_S] / v[WK_HEALTHY_GPU_S]
                                                 : 0)));
        json_object_set_new(o, key, x);
    }
    return o;
}
