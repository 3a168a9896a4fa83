/*
 * workload/workload_internal.h — what only workload/ uses: number conversions,
 * the thread pool, the backend operations table and the CUDA entry points.
 */
#ifndef TP_WORKLOAD_INTERNAL_H
#define TP_WORKLOAD_INTERNAL_H

#include "workload/workload.h"

#include <string.h>

/* ---- number formats ---- */

static inline float tp_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Round to nearest even; NaN stays NaN. */
static inline uint16_t tp_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float tp_f16_to_f32(uint16_t h);
uint16_t tp_f32_to_f16(float f);

/* Element i of a (possibly unaligned) vector of dtype dt, as a float. */
static inline float tp_load_elem(const void *p, tp_dtype_t dt, size_t i)
{
    const unsigned char *b = (const unsigned char *)p;
    if (dt == TP_DT_F32) {
        float f;
        memcpy(&f, b + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, b + 2 * i, 2);
    return dt == TP_DT_BF16 ? tp_bf16_to_f32(h) : tp_f16_to_f32(h);
}

/* ---- thread pool: one job at a time, every thread takes a share ---- */

typedef struct tp_pool tp_pool_t;
typedef void (*tp_pool_fn)(void *arg, int tid, int nthreads);

/* nthreads includes the calling thread; 0 = all online CPUs. */
int tp_pool_new(int nthreads, tp_pool_t **out, tp_error_t *err);
void tp_pool_free(tp_pool_t *p);
int tp_pool_size(const tp_pool_t *p);
/* Runs fn(arg, tid, n) on every thread (the caller is tid 0) and waits. */
void tp_pool_run(tp_pool_t *p, tp_pool_fn fn, void *arg);
/* [begin, end) of n items for thread tid of nthreads. */
static inline void tp_pool_share(size_t n, int tid, int nthreads, size_t *begin,
                                 size_t *end)
{
    *begin = n * (size_t)tid / (size_t)nthreads;
    *end = n * (size_t)(tid + 1) / (size_t)nthreads;
}

int tp_cpu_count(void);

/* Reads one byte of every page of the mapping. */
void tp_safetensors_prefault(const tp_safetensors_t *st);

/* ---- rotary embedding frequencies (llama3 scaling included) ---- */

/* inv_freq[i] for i < head_dim / 2. */
void tp_rope_inv_freq(const tp_llama_config_t *cfg, float *inv_freq);

/* ---- backends ---- */

typedef struct {
    const char *name;
    /* prefill: rows = batch × plen */
    int (*prefill)(void *be, int batch, int plen, const int32_t *tokens, int32_t *next,
                   tp_error_t *err);
    int (*step)(void *be, const int32_t *in, int32_t *next, tp_error_t *err);
    int (*sync)(void *be, tp_error_t *err);
    int (*logits)(void *be, float *out, tp_error_t *err);
    const char *(*describe)(void *be);
    const char *(*device_name)(void *be);
    double (*peak_bw)(void *be);
    void (*free)(void *be);
} tp_backend_ops_t;

int tp_cpu_backend_new(const tp_model_t *m, const tp_decoder_opts_t *o, void **out,
                       tp_error_t *err);
extern const tp_backend_ops_t tp_cpu_backend_ops;

/* CUDA (workload/cuda.cu, or workload/cuda_none.c when nvcc was not found). */
int tp_cuda_backend_new(const tp_model_t *m, const tp_decoder_opts_t *o, void **out,
                        tp_error_t *err);
extern const tp_backend_ops_t tp_cuda_backend_ops;

/* The shared sampling hash (C and CUDA): a uniform in [0,1) from (seed, seq, pos). */
#ifdef __CUDACC__
#define TP_HD __host__ __device__
#else
#define TP_HD
#endif
static inline TP_HD float tp_sample_u(uint64_t seed, int seq, int pos)
{
    uint64_t z =
        seed + 0x9e3779b97f4a7c15ull * ((uint64_t)(uint32_t)seq << 32 | (uint32_t)pos);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

#endif
