/*
 * workload/cpu.c — the CPU reference backend, the oracle for the CUDA one.
 *
 * Activations, the KV cache and every accumulation are f32; weights stay in
 * their checkpoint dtype (bf16/f16/f32) and are widened as they stream through
 * the dot products, so that batch-1 decode reads each weight byte exactly once
 * per step and runs at memory bandwidth. The one non-obvious part is the dot
 * product: a portable C version plus AVX2 and AVX-512 versions of the same loop
 * (chosen at run time; the compiler flags stay plain -O2, never -Ofast).
 * Everything else is written for clarity: one function per step of the layer.
 */
#include "workload/workload_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86_SIMD 1
#include <immintrin.h>
#endif

/* ---- dot products: out[i] = w · x_i for one weight row ---- */

/* dot1: one x row. dot4: four rows ldx floats apart. */
typedef void (*dot1_fn)(const void *w, int K, const float *x, float *out);
typedef void (*dot4_fn)(const void *w, int K, const float *x, size_t ldx, float *out);

typedef struct {
    const char *name;
    dot1_fn dot1[3]; /* by tp_dtype_t */
    dot4_fn dot4[3];
    int pair_block; /* bf16 kernels take x paired in blocks of this many; 0: plain */
} kernels_t;

/* Scalar tail shared by every version: elements [k, K). */
static float tail_dot(const void *w, tp_dtype_t dt, int k, int K, const float *x)
{
    float s = 0;
    for (; k < K; k++)
        s += tp_load_elem(w, dt, (size_t)k) * x[k];
    return s;
}

#define GENERIC_LANES 8
static float lanes_sum(const float *a)
{
    float s[4];
    for (int i = 0; i < 4; i++)
        s[i] = a[i] + a[i + 4];
    return (s[0] + s[2]) + (s[1] + s[3]);
}

#define DEF_GENERIC(DT, SUF)                                                             \
    static void generic_dot1_##SUF(const void *w, int K, const float *x, float *out)     \
    {                                                                                    \
        float acc[GENERIC_LANES] = {0};                                                  \
        int k = 0;                                                                       \
        for (; k + GENERIC_LANES <= K; k += GENERIC_LANES)                               \
            for (int l = 0; l < GENERIC_LANES; l++)                                      \
                acc[l] += tp_load_elem(w, DT, (size_t)(k + l)) * x[k + l];               \
        *out = lanes_sum(acc) + tail_dot(w, DT, k, K, x);                                \
    }                                                                                    \
    static void generic_dot4_##SUF(const void *w, int K, const float *x, size_t ldx,     \
                                   float *out)                                           \
    {                                                                                    \
        float acc[4][GENERIC_LANES] = {{0}};                                             \
        int k = 0;                                                                       \
        for (; k + GENERIC_LANES <= K; k += GENERIC_LANES) {                             \
            float wv[GENERIC_LANES];                                                     \
            for (int l = 0; l < GENERIC_LANES; l++)                                      \
                wv[l] = tp_load_elem(w, DT, (size_t)(k + l));                            \
            for (int i = 0; i < 4; i++)                                                  \
                for (int l = 0; l < GENERIC_LANES; l++)                                  \
                    acc[i][l] += wv[l] * x[(size_t)i * ldx + (size_t)(k + l)];           \
        }                                                                                \
        for (int i = 0; i < 4; i++)                                                      \
            out[i] = lanes_sum(acc[i]) + tail_dot(w, DT, k, K, x + (size_t)i * ldx);     \
    }
DEF_GENERIC(TP_DT_F32, f32)
DEF_GENERIC(TP_DT_F16, f16)
DEF_GENERIC(TP_DT_BF16, bf16)

static const kernels_t generic_kernels = {
    "generic",
    {generic_dot1_f32, generic_dot1_f16, generic_dot1_bf16},
    {generic_dot4_f32, generic_dot4_f16, generic_dot4_bf16},
    0,
};

#ifdef HAVE_X86_SIMD
#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 4096
#endif
/* The same loops, VEC lanes wide. LOAD widens VEC weights at byte pointer p. */
#define DEF_SIMD(ISA, TGT, VEC, LANES, LOAD, LOADX, FMA, ZERO, ADD, HSUM, DT, SUF)       \
    TGT static void ISA##_dot1_##SUF(const void *w, int K, const float *x, float *out)   \
    {                                                                                    \
        const char *p = w;                                                               \
        const size_t es = tp_dtype_size(DT);                                             \
        VEC a0 = ZERO(), a1 = ZERO();                                                    \
        int k = 0;                                                                       \
        for (; k + 2 * LANES <= K; k += 2 * LANES) {                                     \
            a0 = FMA(LOAD(p + es * (size_t)k), LOADX(x + k), a0);                        \
            a1 = FMA(LOAD(p + es * (size_t)(k + LANES)), LOADX(x + k + LANES), a1);      \
        }                                                                                \
        for (; k + LANES <= K; k += LANES)                                               \
            a0 = FMA(LOAD(p + es * (size_t)k), LOADX(x + k), a0);                        \
        *out = HSUM(ADD(a0, a1)) + tail_dot(w, DT, k, K, x);                             \
    }                                                                                    \
    TGT static void ISA##_dot4_##SUF(const void *w, int K, const float *x, size_t ldx,   \
                                     float *out)                                         \
    {                                                                                    \
        const char *p = w;                                                               \
        const size_t es = tp_dtype_size(DT);                                             \
        const float *x0 = x, *x1 = x + ldx, *x2 = x + 2 * ldx, *x3 = x + 3 * ldx;        \
        VEC a0 = ZERO(), a1 = ZERO(), a2 = ZERO(), a3 = ZERO();                          \
        int k = 0;                                                                       \
        for (; k + LANES <= K; k += LANES) {                                             \
            VEC wv = LOAD(p + es * (size_t)k);                                           \
            a0 = FMA(wv, LOADX(x0 + k), a0);                                             \
            a1 = FMA(wv, LOADX(x1 + k), a1);                                             \
            a2 = FMA(wv, LOADX(x2 + k), a2);                                             \
            a3 = FMA(wv, LOADX(x3 + k), a3);                                             \
        }                                                                                \
        out[0] = HSUM(a0) + tail_dot(w, DT, k, K, x0);                                   \
        out[1] = HSUM(a1) + tail_dot(w, DT, k, K, x1);                                   \
        out[2] = HSUM(a2) + tail_dot(w, DT, k, K, x2);                                   \
        out[3] = HSUM(a3) + tail_dot(w, DT, k, K, x3);                                   \
    }

#define T512 __attribute__((target("avx512f")))
T512 static inline __m512 l512_f32(const char *p)
{
    return _mm512_loadu_ps((const float *)(const void *)p);
}
T512 static inline __m512 l512_f16(const char *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
}
T512 static inline __m512 l512_bf16(const char *p)
{
    __m512i u =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
}
T512 static inline float hsum512(__m512 v)
{
    return _mm512_reduce_add_ps(v);
}
DEF_SIMD(avx512, T512, __m512, 16, l512_f32, _mm512_loadu_ps, _mm512_fmadd_ps,
         _mm512_setzero_ps, _mm512_add_ps, hsum512, TP_DT_F32, f32)
DEF_SIMD(avx512, T512, __m512, 16, l512_f16, _mm512_loadu_ps, _mm512_fmadd_ps,
         _mm512_setzero_ps, _mm512_add_ps, hsum512, TP_DT_F16, f16)

#define T256 __attribute__((target("avx2,fma,f16c")))
T256 static inline __m256 l256_f32(const char *p)
{
    return _mm256_loadu_ps((const float *)(const void *)p);
}
T256 static inline __m256 l256_f16(const char *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}
T256 static inline __m256 l256_bf16(const char *p)
{
    __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}
T256 static inline float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
DEF_SIMD(avx2, T256, __m256, 8, l256_f32, _mm256_loadu_ps, _mm256_fmadd_ps,
         _mm256_setzero_ps, _mm256_add_ps, hsum256, TP_DT_F32, f32)
DEF_SIMD(avx2, T256, __m256, 8, l256_f16, _mm256_loadu_ps, _mm256_fmadd_ps,
         _mm256_setzero_ps, _mm256_add_ps, hsum256, TP_DT_F16, f16)

/* bf16 weights against "paired" x: within each block of 2 × LANES elements, x
 * holds the even elements first, then the odd ones. A 32-bit lane of weights
 * holds one even and one odd bf16, widened by a shift and a mask: no shuffle
 * on the hot path, which keeps batch-1 decode at memory speed. */
#define DEF_PAIRED(ISA, TGT, VEC, IVEC, LANES, LOADI, SHL, AND, SET1, CAST, LOADX, FMA,  \
                   ZERO, ADD, HSUM)                                                      \
    TGT static void ISA##_dot1_bf16p(const void *w, int K, const float *x, float *out)   \
    {                                                                                    \
        const char *p = w;                                                               \
        const IVEC hi = SET1((int)0xffff0000u);                                          \
        VEC a0 = ZERO(), a1 = ZERO(), a2 = ZERO(), a3 = ZERO();                          \
        int k = 0;                                                                       \
        for (; k + 4 * LANES <= K; k += 4 * LANES) {                                     \
            for (int o_ = 0; o_ < 8 * LANES; o_ += 64)                                   \
                _mm_prefetch(p + 2 * (size_t)k + PREFETCH_AHEAD + o_, _MM_HINT_T0);      \
            IVEC v0 = LOADI(p + 2 * (size_t)k),                                          \
                 v1 = LOADI(p + 2 * (size_t)(k + 2 * LANES));                            \
            a0 = FMA(CAST(SHL(v0, 16)), LOADX(x + k), a0);                               \
            a1 = FMA(CAST(AND(v0, hi)), LOADX(x + k + LANES), a1);                       \
            a2 = FMA(CAST(SHL(v1, 16)), LOADX(x + k + 2 * LANES), a2);                   \
            a3 = FMA(CAST(AND(v1, hi)), LOADX(x + k + 3 * LANES), a3);                   \
        }                                                                                \
        for (; k + 2 * LANES <= K; k += 2 * LANES) {                                     \
            IVEC v0 = LOADI(p + 2 * (size_t)k);                                          \
            a0 = FMA(CAST(SHL(v0, 16)), LOADX(x + k), a0);                               \
            a1 = FMA(CAST(AND(v0, hi)), LOADX(x + k + LANES), a1);                       \
        }                                                                                \
        *out = HSUM(ADD(ADD(a0, a1), ADD(a2, a3))) + tail_dot(w, TP_DT_BF16, k, K, x);   \
    }                                                                                    \
    TGT static void ISA##_dot4_bf16p(const void *w, int K, const float *x, size_t ldx,   \
                                     float *out)                                         \
    {                                                                                    \
        const char *p = w;                                                               \
        const IVEC hi = SET1((int)0xffff0000u);                                          \
        const float *x0 = x, *x1 = x + ldx, *x2 = x + 2 * ldx, *x3 = x + 3 * ldx;        \
        VEC a0 = ZERO(), a1 = ZERO(), a2 = ZERO(), a3 = ZERO();                          \
        int k = 0;                                                                       \
        for (; k + 2 * LANES <= K; k += 2 * LANES) {                                     \
            IVEC v = LOADI(p + 2 * (size_t)k);                                           \
            VEC we = CAST(SHL(v, 16)), wo = CAST(AND(v, hi));                            \
            a0 = FMA(wo, LOADX(x0 + k + LANES), FMA(we, LOADX(x0 + k), a0));             \
            a1 = FMA(wo, LOADX(x1 + k + LANES), FMA(we, LOADX(x1 + k), a1));             \
            a2 = FMA(wo, LOADX(x2 + k + LANES), FMA(we, LOADX(x2 + k), a2));             \
            a3 = FMA(wo, LOADX(x3 + k + LANES), FMA(we, LOADX(x3 + k), a3));             \
        }                                                                                \
        out[0] = HSUM(a0) + tail_dot(w, TP_DT_BF16, k, K, x0);                           \
        out[1] = HSUM(a1) + tail_dot(w, TP_DT_BF16, k, K, x1);                           \
        out[2] = HSUM(a2) + tail_dot(w, TP_DT_BF16, k, K, x2);                           \
        out[3] = HSUM(a3) + tail_dot(w, TP_DT_BF16, k, K, x3);                           \
    }

T512 static inline __m512i li512(const char *p)
{
    return _mm512_loadu_si512((const void *)p);
}
T256 static inline __m256i li256(const char *p)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}
DEF_PAIRED(avx512, T512, __m512, __m512i, 16, li512, _mm512_slli_epi32, _mm512_and_si512,
           _mm512_set1_epi32, _mm512_castsi512_ps, _mm512_loadu_ps, _mm512_fmadd_ps,
           _mm512_setzero_ps, _mm512_add_ps, hsum512)
DEF_PAIRED(avx2, T256, __m256, __m256i, 8, li256, _mm256_slli_epi32, _mm256_and_si256,
           _mm256_set1_epi32, _mm256_castsi256_ps, _mm256_loadu_ps, _mm256_fmadd_ps,
           _mm256_setzero_ps, _mm256_add_ps, hsum256)

static const kernels_t avx512_kernels = {
    "avx512",
    {avx512_dot1_f32, avx512_dot1_f16, avx512_dot1_bf16p},
    {avx512_dot4_f32, avx512_dot4_f16, avx512_dot4_bf16p},
    32,
};
static const kernels_t avx2_kernels = {
    "avx2",
    {avx2_dot1_f32, avx2_dot1_f16, avx2_dot1_bf16p},
    {avx2_dot4_f32, avx2_dot4_f16, avx2_dot4_bf16p},
    16,
};
#endif

static int pick_kernels(const char *want, const kernels_t **out, tp_error_t *err)
{
#ifdef HAVE_X86_SIMD
    __builtin_cpu_init();
    bool has512 = __builtin_cpu_supports("avx512f");
    bool has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                __builtin_cpu_supports("f16c");
    if (!want) {
        *out = has512 ? &avx512_kernels : has2 ? &avx2_kernels : &generic_kernels;
        return 0;
    }
    if (!strcmp(want, "avx512") || !strcmp(want, "avx2")) {
        bool ok = want[3] == '5' ? has512 : has2;
        if (!ok)
            return tp_error_set(err, TP_EUNSUPPORTED, "this CPU has no %s", want);
        *out = want[3] == '5' ? &avx512_kernels : &avx2_kernels;
        return 0;
    }
#endif
    if (!want || !strcmp(want, "generic")) {
        *out = &generic_kernels;
        return 0;
    }
    return tp_error_set(err, TP_EUNSUPPORTED, "CPU kernels '%s' are not available", want);
}

/* ---- the backend ---- */

typedef struct {
    const tp_model_t *m;
    const tp_llama_config_t *c;
    const kernels_t *k;
    tp_pool_t *pool;
    int max_batch, max_seq, max_rows;
    int qd, kvd; /* heads × head_dim, kv_heads × head_dim */
    float *x, *xn, *q, *kk, *vv, *att, *gate, *up; /* max_rows × width */
    float *xp;       /* max_rows × widest input: x paired for the kernels */
    float *logits;   /* max_batch × vocab */
    float *kc, *vc;  /* layers × max_batch × max_seq × kvd */
    float *inv_freq; /* head_dim / 2 */
    float *norms;    /* (2 × layers + 1) × hidden, widened to f32 */
    float *scores;   /* threads × max_seq */
    int batch, pos;  /* sequences in flight, tokens each so far */
    int nlogits;
    int32_t *last;    /* the last sampled token of each sequence */
    int *rseq, *rpos; /* per-row sequence and position */
    int32_t *rtok;
    float temperature;
    uint64_t seed;
    char desc[96];
} cpu_t;

/* One matmul job: y_p[i][j] (+)= W_p[j] · x[i] over up to three weight matrices
 * that share the input (q/k/v, gate/up); their rows are split across threads. */
typedef struct {
    const kernels_t *k;
    tp_dtype_t dt;
    int nparts;
    const void *w[3];
    int rows[3];
    float *y[3];
    int cols, n;
    const float *x;
    bool acc;
} mm_job_t;

static void mm_rows(const mm_job_t *j, int part, int r0, int r1)
{
    const size_t es = tp_dtype_size(j->dt), K = (size_t)j->cols;
    const int ldy = j->rows[part];
    float *y = j->y[part];
    const char *w = j->w[part];
    enum { RB = 16 }; /* weight rows kept hot in cache while x streams */
    for (int rb = r0; rb < r1; rb += RB) {
        int re = rb + RB < r1 ? rb + RB : r1;
        int i = 0;
        for (; i + 4 <= j->n; i += 4)
            for (int r = rb; r < re; r++) {
                float o[4];
                j->k->dot4[j->dt](w + es * K * (size_t)r, j->cols, j->x + K * (size_t)i,
                                  K, o);
                for (int t = 0; t < 4; t++) {
                    float *d = y + (size_t)(i + t) * (size_t)ldy + r;
                    *d = j->acc ? *d + o[t] : o[t];
                }
            }
        for (; i < j->n; i++)
            for (int r = rb; r < re; r++) {
                float o;
                j->k->dot1[j->dt](w + es * K * (size_t)r, j->cols, j->x + K * (size_t)i,
                                  &o);
                float *d = y + (size_t)i * (size_t)ldy + r;
                *d = j->acc ? *d + o : o;
            }
    }
}

static void mm_task(void *arg, int tid, int nth)
{
    const mm_job_t *j = arg;
    size_t total = 0, b, e;
    for (int p = 0; p < j->nparts; p++)
        total += (size_t)j->rows[p];
    tp_pool_share(total, tid, nth, &b, &e);
    size_t base = 0;
    for (int p = 0; p < j->nparts; p++) {
        size_t lo = b > base ? b - base : 0, hi = e - base;
        if (hi > (size_t)j->rows[p])
            hi = (size_t)j->rows[p];
        if (e > base && lo < hi)
            mm_rows(j, p, (int)lo, (int)hi);
        base += (size_t)j->rows[p];
    }
}

/* Reorders each row of x into the kernels' paired layout (see DEF_PAIRED). */
static void pair_rows(const float *x, int n, int K, int block, float *xp)
{
    int half = block / 2;
    for (int r = 0; r < n; r++) {
        const float *src = x + (size_t)r * (size_t)K;
        float *dst = xp + (size_t)r * (size_t)K;
        int k = 0;
        for (; k + block <= K; k += block)
            for (int l = 0; l < half; l++) {
                dst[k + l] = src[k + 2 * l];
                dst[k + half + l] = src[k + 2 * l + 1];
            }
        for (; k < K; k++)
            dst[k] = src[k];
    }
}

static void matmul(cpu_t *s, int n, const float *x, int cols, int nparts, const void **w,
                   const int *rows, float **y, bool acc)
{
    if (s->k->pair_block && s->m->dtype == TP_DT_BF16) {
        pair_rows(x, n, cols, s->k->pair_block, s->xp);
        x = s->xp;
    }
    mm_job_t j = {.k = s->k,
                  .dt = s->m->dtype,
                  .nparts = nparts,
                  .cols = cols,
                  .n = n,
                  .x = x,
                  .acc = acc};
    for (int p = 0; p < nparts; p++) {
        j.w[p] = w[p];
        j.rows[p] = rows[p];
        j.y[p] = y[p];
    }
    tp_pool_run(s->pool, mm_task, &j);
}

static void rmsnorm(const float *x, const float *w, int h, double eps, float *out)
{
    float ss = 0;
    for (int i = 0; i < h; i++)
        ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / (float)h + (float)eps);
    for (int i = 0; i < h; i++)
        out[i] = x[i] * inv * w[i];
}

/* Rotary embedding, rotate-half convention (pairs i, i + head_dim/2), as in HF. */
static void rope(float *v, int nheads, int hd, int pos, const float *inv_freq)
{
    int half = hd / 2;
    for (int i = 0; i < half; i++) {
        float a = (float)pos * inv_freq[i], cs = cosf(a), sn = sinf(a);
        for (int h = 0; h < nheads; h++) {
            float *p = v + (size_t)h * (size_t)hd;
            float x0 = p[i], x1 = p[i + half];
            p[i] = x0 * cs - x1 * sn;
            p[i + half] = x1 * cs + x0 * sn;
        }
    }
}

static size_t cache_at(const cpu_t *s, int layer, int seq, int pos)
{
    return (((size_t)layer * (size_t)s->max_batch + (size_t)seq) * (size_t)s->max_seq +
            (size_t)pos) *
           (size_t)s->kvd;
}

typedef struct {
    cpu_t *s;
    int layer, n;
} att_job_t;

/* Attention of each (row, head) over its sequence's cache, positions 0..pos. */
static void att_task(void *arg, int tid, int nth)
{
    const att_job_t *j = arg;
    cpu_t *s = j->s;
    const tp_llama_config_t *c = s->c;
    const int hd = c->head_dim, group = c->heads / c->kv_heads;
    const float scale = 1.0f / sqrtf((float)hd);
    float *sc = s->scores + (size_t)tid * (size_t)s->max_seq;
    size_t b, e;
    tp_pool_share((size_t)j->n * (size_t)c->heads, tid, nth, &b, &e);
    for (size_t it = b; it < e; it++) {
        int r = (int)(it / (size_t)c->heads), h = (int)(it % (size_t)c->heads);
        int kvh = h / group, len = s->rpos[r] + 1;
        const float *q = s->q + (size_t)r * (size_t)s->qd + (size_t)h * (size_t)hd;
        float mx = -INFINITY;
        for (int t = 0; t < len; t++) {
            const float *kv =
                s->kc + cache_at(s, j->layer, s->rseq[r], t) + (size_t)kvh * (size_t)hd;
            float d = 0;
            for (int i = 0; i < hd; i++)
                d += q[i] * kv[i];
            sc[t] = d * scale;
            mx = sc[t] > mx ? sc[t] : mx;
        }
        float sum = 0;
        for (int t = 0; t < len; t++) {
            sc[t] = expf(sc[t] - mx);
            sum += sc[t];
        }
        float *o = s->att + (size_t)r * (size_t)s->qd + (size_t)h * (size_t)hd;
        for (int i = 0; i < hd; i++)
            o[i] = 0;
        for (int t = 0; t < len; t++) {
            const float *vv =
                s->vc + cache_at(s, j->layer, s->rseq[r], t) + (size_t)kvh * (size_t)hd;
            float p = sc[t] / sum;
            for (int i = 0; i < hd; i++)
                o[i] += p * vv[i];
        }
    }
}

static const float *norm_w(const cpu_t *s, int which)
{
    return s->norms + (size_t)which * (size_t)s->c->hidden;
}

/* Runs n rows (s->rtok/rseq/rpos) through the model; the logits of rows
 * log_row[0..nlog) go to s->logits. */
static void forward(cpu_t *s, int n, int nlog, const int *log_row)
{
    const tp_llama_config_t *c = s->c;
    const tp_model_t *m = s->m;
    const int h = c->hidden, im = c->intermediate;
    const size_t H = (size_t)h;
    for (int r = 0; r < n; r++)
        for (int i = 0; i < h; i++)
            s->x[(size_t)r * H + (size_t)i] =
                tp_load_elem(m->embed, m->dtype, (size_t)s->rtok[r] * H + (size_t)i);
    for (int l = 0; l < c->layers; l++) {
        const tp_layer_weights_t *w = &m->layer[l];
        for (int r = 0; r < n; r++)
            rmsnorm(s->x + (size_t)r * H, norm_w(s, 2 * l), h, c->rms_eps,
                    s->xn + (size_t)r * H);
        const void *wqkv[3] = {w->q, w->k, w->v};
        int rqkv[3] = {s->qd, s->kvd, s->kvd};
        float *yqkv[3] = {s->q, s->kk, s->vv};
        matmul(s, n, s->xn, h, 3, wqkv, rqkv, yqkv, false);
        for (int r = 0; r < n; r++) {
            float *kr = s->kk + (size_t)r * (size_t)s->kvd,
                  *vr = s->vv + (size_t)r * (size_t)s->kvd;
            rope(s->q + (size_t)r * (size_t)s->qd, c->heads, c->head_dim, s->rpos[r],
                 s->inv_freq);
            rope(kr, c->kv_heads, c->head_dim, s->rpos[r], s->inv_freq);
            size_t at = cache_at(s, l, s->rseq[r], s->rpos[r]);
            memcpy(s->kc + at, kr, sizeof(float) * (size_t)s->kvd);
            memcpy(s->vc + at, vr, sizeof(float) * (size_t)s->kvd);
        }
        att_job_t aj = {s, l, n};
        tp_pool_run(s->pool, att_task, &aj);
        const void *wo = w->o;
        float *yo = s->x;
        matmul(s, n, s->att, s->qd, 1, &wo, &h, &yo, true);
        for (int r = 0; r < n; r++)
            rmsnorm(s->x + (size_t)r * H, norm_w(s, 2 * l + 1), h, c->rms_eps,
                    s->xn + (size_t)r * H);
        const void *wgu[2] = {w->gate, w->up};
        int rgu[2] = {im, im};
        float *ygu[2] = {s->gate, s->up};
        matmul(s, n, s->xn, h, 2, wgu, rgu, ygu, false);
        for (size_t i = 0; i < (size_t)n * (size_t)im; i++) { /* SwiGLU */
            float g = s->gate[i];
            s->gate[i] = g / (1.0f + expf(-g)) * s->up[i];
        }
        const void *wd = w->down;
        matmul(s, n, s->gate, im, 1, &wd, &h, &yo, true);
    }
    for (int i = 0; i < nlog; i++)
        rmsnorm(s->x + (size_t)log_row[i] * H, norm_w(s, 2 * c->layers), h, c->rms_eps,
                s->xn + (size_t)i * H);
    const void *wl = m->lm_head;
    float *yl = s->logits;
    matmul(s, nlog, s->xn, h, 1, &wl, &c->vocab, &yl, false);
}

static int32_t sample_row(const cpu_t *s, const float *lg, int seq, int pos)
{
    int V = s->c->vocab, best = 0;
    for (int i = 1; i < V; i++)
        if (lg[i] > lg[best])
            best = i;
    if (s->temperature <= 0)
        return best;
    /* Inverse CDF of softmax(logits / T), the same arithmetic as the CUDA kernel. */
    float mx = lg[best], sum = 0, inv_t = 1.0f / s->temperature;
    for (int i = 0; i < V; i++)
        sum += expf((lg[i] - mx) * inv_t);
    float u = tp_sample_u(s->seed, seq, pos) * sum, acc = 0;
    for (int i = 0; i < V; i++) {
        acc += expf((lg[i] - mx) * inv_t);
        if (acc > u)
            return i;
    }
    return best;
}

static void sample_all(cpu_t *s, int32_t *next)
{
    for (int b = 0; b < s->batch; b++) {
        s->last[b] =
            sample_row(s, s->logits + (size_t)b * (size_t)s->c->vocab, b, s->pos);
        if (next)
            next[b] = s->last[b];
    }
}

static int check_tokens(const cpu_t *s, const int32_t *t, size_t n, tp_error_t *err)
{
    for (size_t i = 0; i < n; i++)
        if (t[i] < 0 || t[i] >= s->c->vocab)
            return tp_error_set(err, TP_ERANGE, "token %d at index %zu is not in 0..%d",
                                (int)t[i], i, s->c->vocab - 1);
    return 0;
}

static int cpu_prefill(void *be, int batch, int plen, const int32_t *tokens,
                       int32_t *next, tp_error_t *err)
{
    cpu_t *s = be;
    int rc;
    if (batch < 1 || batch > s->max_batch || plen < 1 || plen >= s->max_seq)
        return tp_error_set(
            err, TP_ERANGE,
            "prefill of %d × %d tokens does not fit batch %d, sequence %d", batch, plen,
            s->max_batch, s->max_seq);
    if ((rc = check_tokens(s, tokens, (size_t)batch * (size_t)plen, err)))
        return rc;
    s->batch = batch;
    /* Chunks of positions [p0, p1) for every sequence; the cache makes the
     * chunks causal. */
    int span = s->max_rows / batch;
    int logrow[1024] = {0};
    for (int p0 = 0; p0 < plen; p0 += span) {
        int p1 = p0 + span < plen ? p0 + span : plen, n = 0;
        for (int b = 0; b < batch; b++)
            for (int p = p0; p < p1; p++, n++) {
                s->rtok[n] = tokens[(size_t)b * (size_t)plen + (size_t)p];
                s->rseq[n] = b;
                s->rpos[n] = p;
            }
        int nlog = 0;
        if (p1 == plen)
            for (int b = 0; b < batch; b++)
                logrow[nlog++] = b * (p1 - p0) + (p1 - p0 - 1);
        forward(s, n, nlog, logrow);
    }
    s->pos = plen;
    sample_all(s, next);
    return 0;
}

static int cpu_step(void *be, const int32_t *in, int32_t *next, tp_error_t *err)
{
    cpu_t *s = be;
    int rc;
    if (s->batch == 0)
        return tp_error_set(err, TP_EINVAL, "decode step before prefill");
    if (s->pos + 1 >= s->max_seq)
        return tp_error_set(err, TP_ERANGE, "sequence length %d reached", s->max_seq);
    if (in && (rc = check_tokens(s, in, (size_t)s->batch, err)))
        return rc;
    int logrow[1024] = {0};
    for (int b = 0; b < s->batch; b++) {
        s->rtok[b] = in ? in[b] : s->last[b];
        s->rseq[b] = b;
        s->rpos[b] = s->pos;
        logrow[b] = b;
    }
    forward(s, s->batch, s->batch, logrow);
    s->pos++;
    sample_all(s, next);
    return 0;
}

static int cpu_sync(void *be, tp_error_t *err)
{
    (void)be;
    (void)err;
    return 0;
}

static int cpu_logits(void *be, float *out, tp_error_t *err)
{
    cpu_t *s = be;
    if (s->batch == 0)
        return tp_error_set(err, TP_EINVAL, "no logits before prefill");
    memcpy(out, s->logits, sizeof(float) * (size_t)s->batch * (size_t)s->c->vocab);
    return 0;
}

static const char *cpu_describe(void *be)
{
    return ((cpu_t *)be)->desc;
}

static const char *cpu_device_name(void *be)
{
    (void)be;
    return "cpu";
}

static double cpu_peak_bw(void *be)
{
    (void)be;
    return 0; /* measured by the benchmark's copy loop instead */
}

static void cpu_free(void *be)
{
    cpu_t *s = be;
    if (!s)
        return;
    tp_pool_free(s->pool);
    float *bufs[] = {s->xp, s->x,   s->xn,       s->q,     s->kk,
                     s->vv, s->att, s->gate,     s->up,    s->logits,
                     s->kc, s->vc,  s->inv_freq, s->norms, s->scores};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(s->last);
    free(s->rseq);
    free(s->rpos);
    free(s->rtok);
    free(s);
}

static float *falloc(size_t n, bool *ok)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p)
        *ok = false;
    return p;
}

int tp_cpu_backend_new(const tp_model_t *m, const tp_decoder_opts_t *o, void **out,
                       tp_error_t *err)
{
    *out = NULL;
    const tp_llama_config_t *c = &m->cfg;
    if (o->max_batch < 1 || o->max_batch > 1024 || o->max_seq < 2 ||
        o->max_seq > c->max_pos)
        return tp_error_set(err, TP_ERANGE,
                            "batch %d must be in 1..1024 and sequence %d in 2..%d",
                            o->max_batch, o->max_seq, c->max_pos);
    cpu_t *s = calloc(1, sizeof *s);
    if (!s)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    int rc;
    s->m = m;
    s->c = c;
    s->max_batch = o->max_batch;
    s->max_seq = o->max_seq;
    /* Prefill rows per forward pass: enough to amortise weight reads, small
     * enough that the activations stay a few tens of MB. */
    s->max_rows = o->max_batch > 256 ? o->max_batch : 256;
    s->qd = c->heads * c->head_dim;
    s->kvd = c->kv_heads * c->head_dim;
    s->temperature = o->temperature;
    s->seed = o->seed;
    if ((rc = pick_kernels(o->cpu_isa, &s->k, err)) ||
        (rc = tp_pool_new(o->threads, &s->pool, err)))
        goto error;
    size_t R = (size_t)s->max_rows, H = (size_t)c->hidden, I = (size_t)c->intermediate;
    size_t cache =
        (size_t)c->layers * (size_t)s->max_batch * (size_t)s->max_seq * (size_t)s->kvd;
    bool ok = true;
    size_t widest = H > I ? H : I;
    widest = widest > (size_t)s->qd ? widest : (size_t)s->qd;
    s->xp = falloc(R * widest, &ok);
    s->x = falloc(R * H, &ok);
    s->xn = falloc(R * H, &ok);
    s->q = falloc(R * (size_t)s->qd, &ok);
    s->kk = falloc(R * (size_t)s->kvd, &ok);
    s->vv = falloc(R * (size_t)s->kvd, &ok);
    s->att = falloc(R * (size_t)s->qd, &ok);
    s->gate = falloc(R * I, &ok);
    s->up = falloc(R * I, &ok);
    s->logits = falloc((size_t)s->max_batch * (size_t)c->vocab, &ok);
    s->kc = falloc(cache, &ok);
    s->vc = falloc(cache, &ok);
    s->inv_freq = falloc((size_t)c->head_dim / 2, &ok);
    s->norms = falloc((2 * (size_t)c->layers + 1) * H, &ok);
    s->scores = falloc((size_t)tp_pool_size(s->pool) * (size_t)s->max_seq, &ok);
    s->last = calloc((size_t)s->max_batch, sizeof *s->last);
    s->rseq = calloc(R, sizeof *s->rseq);
    s->rpos = calloc(R, sizeof *s->rpos);
    s->rtok = calloc(R, sizeof *s->rtok);
    if (!ok || !s->last || !s->rseq || !s->rpos || !s->rtok) {
        rc = tp_error_set(err, TP_ENOMEM,
                          "out of memory for batch %d × sequence %d (KV cache %.1f MB)",
                          s->max_batch, s->max_seq, 2.0 * (double)cache * 4 / 1e6);
        goto error;
    }
    tp_rope_inv_freq(c, s->inv_freq);
    for (int l = 0; l <= 2 * c->layers; l++) {
        const void *src = l == 2 * c->layers ? m->final_norm
                          : l % 2            ? m->layer[l / 2].mlp_norm
                                             : m->layer[l / 2].attn_norm;
        for (size_t i = 0; i < H; i++)
            s->norms[(size_t)l * H + i] = tp_load_elem(src, m->dtype, i);
    }
    snprintf(s->desc, sizeof s->desc, "cpu (%s kernels, %d threads)", s->k->name,
             tp_pool_size(s->pool));
    *out = s;
    return 0;
error:
    cpu_free(s);
    return rc;
}

const tp_backend_ops_t tp_cpu_backend_ops = {
    .name = "cpu",
    .prefill = cpu_prefill,
    .step = cpu_step,
    .sync = cpu_sync,
    .logits = cpu_logits,
    .describe = cpu_describe,
    .device_name = cpu_device_name,
    .peak_bw = cpu_peak_bw,
    .free = cpu_free,
};
