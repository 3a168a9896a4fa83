/*
 * workload/bench.c — the measurements behind `trustplace bench`: timed, metered
 * decode runs, the bytes a decode step must read (the batch-1 roofline), the
 * machine's copy bandwidth, and the CUDA-versus-CPU logits check.
 */
#include "workload/workload_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void prompt_tokens(int32_t *t, size_t n, int vocab, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        t[i] = (int32_t)(tp_sample_u(seed, -1, (int)i) * (float)vocab) % vocab;
}

double tp_bench_step_bytes(const tp_model_t *m, int batch, int ctx)
{
    const tp_llama_config_t *c = &m->cfg;
    double esz = (double)tp_dtype_size(m->dtype);
    double embed = (double)c->vocab * c->hidden * esz;
    /* Every matrix once; of the embedding table only the batch's rows, unless
     * it doubles as the output head. */
    double w = (double)m->weight_bytes - (c->tied ? 0 : embed) + batch * c->hidden * esz;
    double kv = 2.0 * c->layers * batch * (double)ctx * c->kv_heads * c->head_dim * 4;
    return w + kv;
}

int tp_bench_run(tp_decoder_t *d, const tp_model_t *m, tp_meter_t *meter, int batch,
                 int prompt, int gen, uint64_t seed, tp_bench_progress_fn progress,
                 void *pctx, tp_bench_result_t *r, tp_error_t *err)
{
    memset(r, 0, sizeof *r);
    if (batch < 1 || prompt < 1 || gen < 1)
        return tp_error_set(err, TP_ERANGE, "batch, prompt and gen must be positive");
    size_t n = (size_t)batch * (size_t)prompt;
    int32_t *tok = malloc(n * sizeof *tok), *next = malloc((size_t)batch * sizeof *next);
    int rc = 0;
    if (!tok || !next) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto out;
    }
    prompt_tokens(tok, n, m->cfg.vocab, seed);
    double t0 = 0, t1 = 0, t2 = 0;
    if (meter && (rc = tp_meter_begin(meter, err)))
        goto out;
    t0 = now_s();
    if ((rc = tp_decoder_prefill(d, batch, prompt, tok, next, err)))
        goto stop;
    t1 = now_s();
    if (progress)
        progress(pctx, 1, gen);
    for (int s = 1; s < gen; s++) {
        if ((rc = tp_decoder_step(d, NULL, NULL, err)))
            goto stop;
        if (progress)
            progress(pctx, s + 1, gen);
    }
    rc = tp_decoder_sync(d, err);
    t2 = now_s();
stop:;
    double j = 0;
    bool measured = false;
    if (meter) {
        tp_error_t merr;
        tp_error_clear(&merr);
        int mrc = tp_meter_end(meter, &j, &measured, &merr);
        if (!rc && mrc) {
            rc = mrc;
            if (err)
                *err = merr;
        }
    }
    if (rc)
        goto out;
    r->batch = batch;
    r->prompt = prompt;
    r->gen = gen;
    r->ttft_s = t1 - t0;
    r->total_s = t2 - t0;
    r->decode_s = t2 - t1;
    r->tokens = (uint64_t)batch * (uint64_t)gen;
    r->tokens_per_s = (double)r->tokens / r->total_s;
    r->decode_tokens_per_s =
        gen > 1 && r->decode_s > 0 ? (double)batch * (gen - 1) / r->decode_s : 0;
    r->bytes_per_step = tp_bench_step_bytes(m, batch, prompt + gen / 2);
    r->achieved_bw =
        gen > 1 && r->decode_s > 0 ? r->bytes_per_step * (gen - 1) / r->decode_s : 0;
    r->energy_measured = measured;
    if (measured) {
        r->joules = j;
        /* Over the interval the energy was measured over (the meter's first to
         * last reading), not t0..t2: under load, starting and stopping the
         * polling thread can take longer than a short run. */
        double win = tp_meter_window_s(meter);
        r->watts = j / (win > 0 ? win : r->total_s);
        r->meter_readings = tp_meter_readings(meter);
        r->j_per_token = j / (double)r->tokens;
        r->tokens_per_j = j > 0 ? (double)r->tokens / j : 0;
    }
out:
    free(tok);
    free(next);
    return rc;
}

/* ---- copy bandwidth ---- */

typedef struct {
    double *dst;
    const double *src;
    size_t n;
} copy_job_t;

static void copy_task(void *arg, int tid, int nth)
{
    const copy_job_t *j = arg;
    size_t b, e;
    tp_pool_share(j->n, tid, nth, &b, &e);
    for (size_t i = b; i < e; i++) /* the simple copy loop */
        j->dst[i] = j->src[i];
}

int tp_bench_copy_bandwidth(int threads, size_t bytes, double *bw, tp_error_t *err)
{
    tp_pool_t *pool;
    int rc = tp_pool_new(threads, &pool, err);
    if (rc)
        return rc;
    size_t n = bytes / sizeof(double);
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    if (!a || !b || n == 0) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory for 2 × %zu bytes", bytes);
        goto out;
    }
    for (size_t i = 0; i < n; i++) /* fault the pages in before timing */
        a[i] = b[i] = (double)i;
    copy_job_t j = {b, a, n};
    double best = INFINITY;
    for (int it = 0; it < 6; it++) {
        double t0 = now_s();
        tp_pool_run(pool, copy_task, &j);
        double t = now_s() - t0;
        if (it > 0 && t < best) /* the first run warms up */
            best = t;
    }
    *bw = 2.0 * (double)(n * sizeof(double)) / best;
out:
    free(a);
    free(b);
    tp_pool_free(pool);
    return rc;
}

/* ---- the CUDA check ---- */

double tp_check_tolerance(tp_dtype_t dt)
{
    /* The GPU rounds the activations that enter each GEMM to the weights' dtype
     * (cuBLAS takes both operands in one type); the CPU keeps them in f32. */
    switch (dt) {
    case TP_DT_F32:
        return 1e-4;
    case TP_DT_F16:
        return 1e-2;
    case TP_DT_BF16:
        return 5e-2;
    }
    return 0;
}

static double rel_err(const float *a, const float *ref, size_t n)
{
    double mx = 0, diff = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)ref[i]), d = fabs((double)a[i] - (double)ref[i]);
        mx = r > mx ? r : mx;
        diff = d > diff || isnan(d) ? d : diff;
    }
    return mx > 0 ? diff / mx : diff;
}

int tp_bench_check(const tp_model_t *m, int device, double *max_rel, tp_error_t *err)
{
    enum { B = 2, P = 6, STEPS = 4 };
    tp_decoder_opts_t o = {.max_batch = B, .max_seq = P + STEPS + 1, .device = device};
    tp_decoder_t *cpu = NULL, *gpu = NULL;
    size_t nl = (size_t)B * (size_t)m->cfg.vocab;
    float *lc = malloc(nl * sizeof *lc), *lg = malloc(nl * sizeof *lg);
    int32_t tok[B * P], next[B], ignored[B];
    int rc;
    *max_rel = 0;
    if (!lc || !lg) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = tp_decoder_new(m, TP_BACKEND_CPU, &o, &cpu, err)) ||
        (rc = tp_decoder_new(m, TP_BACKEND_CUDA, &o, &gpu, err)))
        goto out;
    prompt_tokens(tok, B * P, m->cfg.vocab, 7);
    for (int s = 0; s <= STEPS; s++) {
        /* Teacher forcing: both take the CPU's tokens, so one near-tie in an
         * argmax cannot send the two down different paths. */
        if (s == 0) {
            if ((rc = tp_decoder_prefill(cpu, B, P, tok, next, err)) ||
                (rc = tp_decoder_prefill(gpu, B, P, tok, ignored, err)))
                goto out;
        } else {
            int32_t in[B];
            memcpy(in, next, sizeof in);
            if ((rc = tp_decoder_step(cpu, in, next, err)) ||
                (rc = tp_decoder_step(gpu, in, ignored, err)))
                goto out;
        }
        if ((rc = tp_decoder_logits(cpu, lc, err)) ||
            (rc = tp_decoder_logits(gpu, lg, err)))
            goto out;
        for (int b = 0; b < B; b++) {
            size_t at = (size_t)b * (size_t)m->cfg.vocab;
            double e = rel_err(lg + at, lc + at, (size_t)m->cfg.vocab);
            if (e > *max_rel || isnan(e))
                *max_rel = e;
        }
    }
    double tol = tp_check_tolerance(m->dtype);
    if (!(*max_rel <= tol))
        rc = tp_error_set(err, TP_EVIOLATION,
                          "CUDA logits differ from the CPU reference by %.3g relative "
                          "(tolerance %.3g for %s)",
                          *max_rel, tol, tp_dtype_name(m->dtype));
out:
    tp_decoder_free(cpu);
    tp_decoder_free(gpu);
    free(lc);
    free(lg);
    return rc;
}
