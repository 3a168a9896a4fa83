/*
 * workload/cuda.cu — the CUDA backend: cuBLAS GEMMs (weights in their dtype,
 * f32 accumulation and output) and own kernels for embedding, RMSNorm, RoPE,
 * attention over the KV cache, SwiGLU and sampling, all on one stream. A decode
 * step reads its positions and input tokens from device memory, so it is
 * captured once into a CUDA Graph and replayed for every later step.
 *
 * cuBLAS is loaded with dlopen when a backend starts, so that the binary runs
 * where it is absent; the runtime is linked statically. Every CUDA and cuBLAS
 * status becomes a TP error; nothing here aborts.
 */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

extern "C" {
#include "workload/workload_internal.h"
}

#define STR2(x) #x
#define STR(x) STR2(x)

namespace
{

typedef cublasStatus_t (*create_fn)(cublasHandle_t *);
typedef cublasStatus_t (*destroy_fn)(cublasHandle_t);
typedef cublasStatus_t (*setstream_fn)(cublasHandle_t, cudaStream_t);
typedef cublasStatus_t (*setws_fn)(cublasHandle_t, void *, size_t);
typedef cublasStatus_t (*gemmex_fn)(cublasHandle_t, cublasOperation_t, cublasOperation_t,
                                    int, int, int, const void *, const void *,
                                    cudaDataType, int, const void *, cudaDataType, int,
                                    const void *, void *, cudaDataType, int,
                                    cublasComputeType_t, cublasGemmAlgo_t);

struct layer_dev {
    void *q, *k, *v, *o, *gate, *up, *down;
};

struct gpu {
    const tp_model_t *m;
    const tp_llama_config_t *c;
    int dev, max_batch, max_seq, max_rows, qd, kvd, widest;
    tp_dtype_t dt;
    cudaStream_t st;
    void *blas_dl;
    cublasHandle_t blas;
    destroy_fn blas_destroy;
    gemmex_fn gemm_ex;
    void *ws;
    void **tensors; /* every device allocation of weights */
    int ntensors;
    void *embed, *lm_head;
    layer_dev *layer;
    float *norms, *inv_freq;
    float *x, *q, *k, *v, *gate, *up, *logits, *kc, *vc;
    void *act; /* GEMM inputs in the weights' dtype */
    int *tok, *seq, *pos, *last, *logrow;
    int batch, cur; /* sequences in flight; position of the next input token */
    float temperature;
    unsigned long long seed;
    bool use_graphs;
    cudaGraphExec_t graph;
    int graph_batch;
    double peak_bw;
    char name[256], desc[320];
};

int cuda_fail(tp_error_t *err, cudaError_t e, const char *what)
{
    return tp_error_set(err, e == cudaErrorMemoryAllocation ? TP_ENOMEM : TP_EIO,
                        "cuda: %s: %s", what, cudaGetErrorString(e));
}

#define CU(call)                                                                         \
    do {                                                                                 \
        cudaError_t e_ = (call);                                                         \
        if (e_ != cudaSuccess)                                                           \
            return cuda_fail(err, e_, #call);                                            \
    } while (0)

#define CU_LAUNCH(what)                                                                  \
    do {                                                                                 \
        cudaError_t e_ = cudaGetLastError();                                             \
        if (e_ != cudaSuccess)                                                           \
            return cuda_fail(err, e_, what);                                             \
    } while (0)

cudaDataType cuda_type(tp_dtype_t dt)
{
    return dt == TP_DT_F32 ? CUDA_R_32F : dt == TP_DT_F16 ? CUDA_R_16F : CUDA_R_16BF;
}

__device__ __forceinline__ float ld(const void *p, int dt, size_t i)
{
    if (dt == TP_DT_F32)
        return ((const float *)p)[i];
    if (dt == TP_DT_F16)
        return __half2float(((const __half *)p)[i]);
    return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
}

__device__ __forceinline__ void st(void *p, int dt, size_t i, float v)
{
    if (dt == TP_DT_F32)
        ((float *)p)[i] = v;
    else if (dt == TP_DT_F16)
        ((__half *)p)[i] = __float2half_rn(v);
    else
        ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v);
}

/* Block-wide sum; every thread gets the result. blockDim.x <= 1024. */
__device__ float block_sum(float v)
{
    __shared__ float sh[32];
    for (int o = 16; o > 0; o /= 2)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    int lane = threadIdx.x % 32, wid = threadIdx.x / 32;
    __syncthreads();
    if (lane == 0)
        sh[wid] = v;
    __syncthreads();
    int nw = (blockDim.x + 31) / 32;
    v = lane < nw ? sh[lane] : 0.0f;
    for (int o = 16; o > 0; o /= 2)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ float block_max(float v)
{
    __shared__ float sh[32];
    for (int o = 16; o > 0; o /= 2)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int lane = threadIdx.x % 32, wid = threadIdx.x / 32;
    __syncthreads();
    if (lane == 0)
        sh[wid] = v;
    __syncthreads();
    int nw = (blockDim.x + 31) / 32;
    v = lane < nw ? sh[lane] : -INFINITY;
    for (int o = 16; o > 0; o /= 2)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__global__ void embed_k(const int *tok, const void *emb, int dt, int h, float *x)
{
    int r = blockIdx.x;
    for (int i = threadIdx.x; i < h; i += blockDim.x)
        x[(size_t)r * h + i] = ld(emb, dt, (size_t)tok[r] * h + i);
}

/* out row r = rmsnorm(x row map[r] (or r)) * w, in dtype dt. */
__global__ void rmsnorm_k(const float *x, const int *map, const float *w, int h,
                          float eps, void *out, int dt)
{
    int r = blockIdx.x, src = map ? map[r] : r;
    const float *xr = x + (size_t)src * h;
    float ss = 0;
    for (int i = threadIdx.x; i < h; i += blockDim.x)
        ss += xr[i] * xr[i];
    float inv = rsqrtf(block_sum(ss) / h + eps);
    for (int i = threadIdx.x; i < h; i += blockDim.x)
        st(out, dt, (size_t)r * h + i, xr[i] * inv * w[i]);
}

/* RoPE on q and k (rotate-half), then k and v into the cache. */
__global__ void rope_store_k(float *q, float *k, const float *v, const int *seq,
                             const int *pos, const float *inv_freq, int heads,
                             int kv_heads, int hd, float *kc, float *vc, size_t layer_off,
                             int max_seq)
{
    int r = blockIdx.x, half = hd / 2, p = pos[r];
    int qd = heads * hd, kvd = kv_heads * hd;
    for (int it = threadIdx.x; it < (heads + kv_heads) * half; it += blockDim.x) {
        int h = it / half, i = it % half;
        float *base = h < heads ? q + (size_t)r * qd + h * hd
                                : k + (size_t)r * kvd + (h - heads) * hd;
        float s, c;
        sincosf((float)p * inv_freq[i], &s, &c);
        float x0 = base[i], x1 = base[i + half];
        base[i] = x0 * c - x1 * s;
        base[i + half] = x1 * c + x0 * s;
    }
    __syncthreads();
    size_t at = layer_off + ((size_t)seq[r] * max_seq + p) * kvd;
    for (int i = threadIdx.x; i < kvd; i += blockDim.x) {
        kc[at + i] = k[(size_t)r * kvd + i];
        vc[at + i] = v[(size_t)r * kvd + i];
    }
}

/* One block per (row, head): softmax(q·K / sqrt(d)) V over positions 0..pos. */
__global__ void attention_k(const float *q, const float *kc, const float *vc,
                            const int *seq, const int *pos, int heads, int kv_heads,
                            int hd, size_t layer_off, int max_seq, void *out, int dt)
{
    extern __shared__ float sc[]; /* max_seq scores */
    int r = blockIdx.x, h = blockIdx.y, kvh = h / (heads / kv_heads), len = pos[r] + 1;
    int kvd = kv_heads * hd;
    const float *qr = q + (size_t)r * heads * hd + h * hd;
    size_t base = layer_off + (size_t)seq[r] * max_seq * kvd + kvh * hd;
    float scale = rsqrtf((float)hd), mx = -INFINITY;
    for (int t = threadIdx.x; t < len; t += blockDim.x) {
        const float *kr = kc + base + (size_t)t * kvd;
        float d = 0;
        for (int i = 0; i < hd; i++)
            d += qr[i] * kr[i];
        sc[t] = d * scale;
        mx = fmaxf(mx, sc[t]);
    }
    mx = block_max(mx);
    float sum = 0;
    for (int t = threadIdx.x; t < len; t += blockDim.x) {
        sc[t] = __expf(sc[t] - mx);
        sum += sc[t];
    }
    sum = block_sum(sum);
    __syncthreads();
    for (int i = threadIdx.x; i < hd; i += blockDim.x) {
        float o = 0;
        for (int t = 0; t < len; t++)
            o += sc[t] * vc[base + (size_t)t * kvd + i];
        st(out, dt, (size_t)r * heads * hd + h * hd + i, o / sum);
    }
}

__global__ void swiglu_k(const float *g, const float *u, size_t n, void *out, int dt)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float x = g[i];
        st(out, dt, i, x / (1.0f + __expf(-x)) * u[i]);
    }
}

/* One block per sequence: argmax (lowest index on ties) or an inverse-CDF draw
 * from softmax(logits / T) with the shared (seed, seq, pos) uniform. The token
 * becomes the next step's input. pos[b] + 1 is the new token's position. */
__global__ void sample_k(const float *logits, int vocab, float temperature,
                         unsigned long long seed, const int *pos, int *last, int *tok)
{
    __shared__ float bv[1024];
    __shared__ int bi[1024];
    __shared__ float part[1024];
    int b = blockIdx.x, T = blockDim.x;
    const float *lg = logits + (size_t)b * vocab;
    float best = -INFINITY;
    int arg = 0x7fffffff;
    for (int i = threadIdx.x; i < vocab; i += T)
        if (lg[i] > best) {
            best = lg[i];
            arg = i;
        }
    bv[threadIdx.x] = best;
    bi[threadIdx.x] = arg;
    __syncthreads();
    for (int s = T / 2; s > 0; s /= 2) {
        if (threadIdx.x < s) {
            float ov = bv[threadIdx.x + s];
            int oi = bi[threadIdx.x + s];
            if (ov > bv[threadIdx.x] || (ov == bv[threadIdx.x] && oi < bi[threadIdx.x])) {
                bv[threadIdx.x] = ov;
                bi[threadIdx.x] = oi;
            }
        }
        __syncthreads();
    }
    int choice = bi[0];
    if (temperature > 0) {
        float mx = bv[0], inv_t = 1.0f / temperature;
        /* contiguous chunks per thread so that the scan follows index order */
        int chunk = (vocab + T - 1) / T, lo = threadIdx.x * chunk;
        int hi = min(vocab, lo + chunk);
        float s = 0;
        for (int i = lo; i < hi; i++)
            s += expf((lg[i] - mx) * inv_t);
        part[threadIdx.x] = s;
        __syncthreads();
        if (threadIdx.x == 0) {
            float total = 0;
            for (int t = 0; t < T; t++)
                total += part[t];
            float u = tp_sample_u(seed, b, pos[b] + 1) * total, acc = 0;
            int pick = choice;
            for (int t = 0; t < T && pick == choice; t++) {
                if (acc + part[t] > u) {
                    int l2 = t * chunk, h2 = min(vocab, l2 + chunk);
                    for (int i = l2; i < h2; i++) {
                        acc += expf((lg[i] - mx) * inv_t);
                        if (acc > u) {
                            pick = i;
                            break;
                        }
                    }
                    break;
                }
                acc += part[t];
            }
            bi[0] = pick;
        }
        __syncthreads();
        choice = bi[0];
    }
    if (threadIdx.x == 0) {
        last[b] = choice;
        tok[b] = choice;
    }
}

/* After a step: every sequence moves one position on. */
__global__ void advance_k(int *pos, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        pos[i]++;
}

/* Rows 0..batch-1 become the decode rows: sequence b at position cur. */
__global__ void setup_decode_k(int *seq, int *pos, int n, int cur)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        seq[i] = i;
        pos[i] = cur;
    }
}

int gemm(gpu *g, const void *w, int rows, int cols, const void *x, int n, float *y,
         float beta, tp_error_t *err)
{
    const float alpha = 1.0f;
    cublasStatus_t s =
        g->gemm_ex(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &alpha, w,
                   cuda_type(g->dt), cols, x, cuda_type(g->dt), cols, &beta, y,
                   CUDA_R_32F, rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS)
        return tp_error_set(err, TP_EIO, "cublasGemmEx %dx%dx%d: status %d", rows, n,
                            cols, (int)s);
    return 0;
}

/* The forward pass for n rows already described by g->tok/seq/pos; logits for
 * nlog rows (g->logrow, or rows 0..nlog-1 when logrow is NULL). Enqueue only. */
int forward(gpu *g, int n, int nlog, const int *logrow, tp_error_t *err)
{
    const tp_llama_config_t *c = g->c;
    const int h = c->hidden, im = c->intermediate, dt = (int)g->dt;
    const float eps = (float)c->rms_eps;
    int rc;
    embed_k<<<n, 256, 0, g->st>>>(g->tok, g->embed, dt, h, g->x);
    for (int l = 0; l < c->layers; l++) {
        const layer_dev *w = &g->layer[l];
        size_t loff = (size_t)l * g->max_batch * g->max_seq * g->kvd;
        rmsnorm_k<<<n, 256, 0, g->st>>>(g->x, NULL, g->norms + (size_t)(2 * l) * h, h,
                                        eps, g->act, dt);
        if ((rc = gemm(g, w->q, g->qd, h, g->act, n, g->q, 0, err)) ||
            (rc = gemm(g, w->k, g->kvd, h, g->act, n, g->k, 0, err)) ||
            (rc = gemm(g, w->v, g->kvd, h, g->act, n, g->v, 0, err)))
            return rc;
        rope_store_k<<<n, 256, 0, g->st>>>(g->q, g->k, g->v, g->seq, g->pos, g->inv_freq,
                                           c->heads, c->kv_heads, c->head_dim, g->kc,
                                           g->vc, loff, g->max_seq);
        attention_k<<<dim3(n, c->heads), 128, sizeof(float) * g->max_seq, g->st>>>(
            g->q, g->kc, g->vc, g->seq, g->pos, c->heads, c->kv_heads, c->head_dim, loff,
            g->max_seq, g->act, dt);
        if ((rc = gemm(g, w->o, h, g->qd, g->act, n, g->x, 1, err)))
            return rc;
        rmsnorm_k<<<n, 256, 0, g->st>>>(g->x, NULL, g->norms + (size_t)(2 * l + 1) * h, h,
                                        eps, g->act, dt);
        if ((rc = gemm(g, w->gate, im, h, g->act, n, g->gate, 0, err)) ||
            (rc = gemm(g, w->up, im, h, g->act, n, g->up, 0, err)))
            return rc;
        size_t ne = (size_t)n * im;
        swiglu_k<<<(unsigned)((ne + 255) / 256 < 65535 ? (ne + 255) / 256 : 65535), 256,
                   0, g->st>>>(g->gate, g->up, ne, g->act, dt);
        if ((rc = gemm(g, w->down, h, im, g->act, n, g->x, 1, err)))
            return rc;
    }
    if (nlog > 0) {
        rmsnorm_k<<<nlog, 256, 0, g->st>>>(
            g->x, logrow, g->norms + (size_t)(2 * c->layers) * h, h, eps, g->act, dt);
        if ((rc = gemm(g, g->lm_head, c->vocab, h, g->act, nlog, g->logits, 0, err)))
            return rc;
    }
    CU_LAUNCH("forward kernels");
    return 0;
}

int enqueue_step(gpu *g, tp_error_t *err)
{
    int rc = forward(g, g->batch, g->batch, NULL, err);
    if (rc)
        return rc;
    sample_k<<<g->batch, 256, 0, g->st>>>(g->logits, g->c->vocab, g->temperature, g->seed,
                                          g->pos, g->last, g->tok);
    advance_k<<<(g->batch + 127) / 128, 128, 0, g->st>>>(g->pos, g->batch);
    CU_LAUNCH("sample kernels");
    return 0;
}

int gpu_prefill(void *be, int batch, int plen, const int32_t *tokens, int32_t *next,
                tp_error_t *err)
{
    gpu *g = (gpu *)be;
    if (batch < 1 || batch > g->max_batch || plen < 1 || plen >= g->max_seq)
        return tp_error_set(
            err, TP_ERANGE,
            "prefill of %d × %d tokens does not fit batch %d, sequence %d", batch, plen,
            g->max_batch, g->max_seq);
    for (size_t i = 0; i < (size_t)batch * plen; i++)
        if (tokens[i] < 0 || tokens[i] >= g->c->vocab)
            return tp_error_set(err, TP_ERANGE, "token %d at index %zu is not in 0..%d",
                                (int)tokens[i], i, g->c->vocab - 1);
    g->batch = batch;
    int span = g->max_rows / batch, rc;
    int *htok = (int *)malloc(sizeof(int) * 3 * g->max_rows);
    if (!htok)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    int *hseq = htok + g->max_rows, *hpos = hseq + g->max_rows, hlog[1024];
    for (int p0 = 0; p0 < plen; p0 += span) {
        int p1 = p0 + span < plen ? p0 + span : plen, n = 0;
        for (int b = 0; b < batch; b++)
            for (int p = p0; p < p1; p++, n++) {
                htok[n] = tokens[(size_t)b * plen + p];
                hseq[n] = b;
                hpos[n] = p;
            }
        int nlog = 0;
        if (p1 == plen)
            for (int b = 0; b < batch; b++)
                hlog[nlog++] = b * (p1 - p0) + (p1 - p0 - 1);
        /* synchronous copies: the host arrays are reused by the next chunk */
        cudaError_t e;
        if ((e = cudaMemcpyAsync(g->tok, htok, sizeof(int) * n, cudaMemcpyHostToDevice,
                                 g->st)) ||
            (e = cudaMemcpyAsync(g->seq, hseq, sizeof(int) * n, cudaMemcpyHostToDevice,
                                 g->st)) ||
            (e = cudaMemcpyAsync(g->pos, hpos, sizeof(int) * n, cudaMemcpyHostToDevice,
                                 g->st)) ||
            (nlog && (e = cudaMemcpyAsync(g->logrow, hlog, sizeof(int) * nlog,
                                          cudaMemcpyHostToDevice, g->st))) ||
            (e = cudaStreamSynchronize(g->st))) {
            free(htok);
            return cuda_fail(err, e, "prefill upload");
        }
        if ((rc = forward(g, n, nlog, g->logrow, err))) {
            free(htok);
            return rc;
        }
    }
    free(htok);
    /* rows 0..batch-1 are the decode rows from now on; the sample sees the
     * prompt's last position, so pos = plen - 1 while sampling. */
    setup_decode_k<<<(batch + 127) / 128, 128, 0, g->st>>>(g->seq, g->pos, batch,
                                                           plen - 1);
    sample_k<<<batch, 256, 0, g->st>>>(g->logits, g->c->vocab, g->temperature, g->seed,
                                       g->pos, g->last, g->tok);
    advance_k<<<(batch + 127) / 128, 128, 0, g->st>>>(g->pos, batch);
    CU_LAUNCH("prefill sampling");
    g->cur = plen;
    if (next) {
        CU(cudaMemcpyAsync(next, g->last, sizeof(int) * batch, cudaMemcpyDeviceToHost,
                           g->st));
        CU(cudaStreamSynchronize(g->st));
    }
    return 0;
}

int gpu_step(void *be, const int32_t *in, int32_t *next, tp_error_t *err)
{
    gpu *g = (gpu *)be;
    int rc;
    if (g->batch == 0)
        return tp_error_set(err, TP_EINVAL, "decode step before prefill");
    if (g->cur + 1 >= g->max_seq)
        return tp_error_set(err, TP_ERANGE, "sequence length %d reached", g->max_seq);
    if (in) {
        for (int b = 0; b < g->batch; b++)
            if (in[b] < 0 || in[b] >= g->c->vocab)
                return tp_error_set(err, TP_ERANGE, "token %d is not in 0..%d",
                                    (int)in[b], g->c->vocab - 1);
        CU(cudaMemcpyAsync(g->tok, in, sizeof(int) * g->batch, cudaMemcpyHostToDevice,
                           g->st));
        CU(cudaStreamSynchronize(g->st));
    }
    if (g->use_graphs) {
        if (!g->graph || g->graph_batch != g->batch) {
            if (g->graph) {
                cudaGraphExecDestroy(g->graph);
                g->graph = NULL;
            }
            cudaGraph_t graph;
            CU(cudaStreamBeginCapture(g->st, cudaStreamCaptureModeThreadLocal));
            rc = enqueue_step(g, err);
            cudaError_t e = cudaStreamEndCapture(g->st, &graph);
            if (rc)
                return rc;
            if (e != cudaSuccess)
                return cuda_fail(err, e, "cudaStreamEndCapture");
            e = cudaGraphInstantiate(&g->graph, graph, 0);
            cudaGraphDestroy(graph);
            if (e != cudaSuccess) {
                g->graph = NULL;
                return cuda_fail(err, e, "cudaGraphInstantiate");
            }
            g->graph_batch = g->batch;
        }
        CU(cudaGraphLaunch(g->graph, g->st));
    } else if ((rc = enqueue_step(g, err)))
        return rc;
    g->cur++;
    if (next) {
        CU(cudaMemcpyAsync(next, g->last, sizeof(int) * g->batch, cudaMemcpyDeviceToHost,
                           g->st));
        CU(cudaStreamSynchronize(g->st));
    }
    return 0;
}

int gpu_sync(void *be, tp_error_t *err)
{
    CU(cudaStreamSynchronize(((gpu *)be)->st));
    return 0;
}

int gpu_logits(void *be, float *out, tp_error_t *err)
{
    gpu *g = (gpu *)be;
    if (g->batch == 0)
        return tp_error_set(err, TP_EINVAL, "no logits before prefill");
    CU(cudaMemcpyAsync(out, g->logits, sizeof(float) * g->batch * (size_t)g->c->vocab,
                       cudaMemcpyDeviceToHost, g->st));
    CU(cudaStreamSynchronize(g->st));
    return 0;
}

const char *gpu_describe(void *be)
{
    return ((gpu *)be)->desc;
}

const char *gpu_device_name(void *be)
{
    return ((gpu *)be)->name;
}

double gpu_peak_bw(void *be)
{
    return ((gpu *)be)->peak_bw;
}

void gpu_free(void *be)
{
    gpu *g = (gpu *)be;
    if (!g)
        return;
    if (g->st)
        cudaStreamSynchronize(g->st);
    if (g->graph)
        cudaGraphExecDestroy(g->graph);
    for (int i = 0; i < g->ntensors; i++)
        cudaFree(g->tensors[i]);
    void *bufs[] = {g->norms, g->inv_freq, g->x,      g->q,    g->k,      g->v,
                    g->gate,  g->up,       g->logits, g->kc,   g->vc,     g->act,
                    g->tok,   g->seq,      g->pos,    g->last, g->logrow, g->ws};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        cudaFree(bufs[i]);
    if (g->blas)
        g->blas_destroy(g->blas);
    if (g->blas_dl)
        dlclose(g->blas_dl);
    if (g->st)
        cudaStreamDestroy(g->st);
    free(g->tensors);
    free(g->layer);
    free(g);
}

int load_cublas(gpu *g, tp_error_t *err)
{
    const char *names[] = {"libcublas.so." STR(CUBLAS_VER_MAJOR), "libcublas.so"};
    for (size_t i = 0; i < 2 && !g->blas_dl; i++)
        g->blas_dl = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!g->blas_dl)
        return tp_error_set(err, TP_EUNSUPPORTED, "cuda: cannot load %s: %s", names[0],
                            dlerror());
    void *p[5];
    const char *syms[5] = {"cublasCreate_v2", "cublasDestroy_v2", "cublasSetStream_v2",
                           "cublasSetWorkspace_v2", "cublasGemmEx"};
    for (int i = 0; i < 5; i++)
        if (!(p[i] = dlsym(g->blas_dl, syms[i])))
            return tp_error_set(err, TP_EUNSUPPORTED, "cuda: %s lacks %s", names[0],
                                syms[i]);
    create_fn create = (create_fn)p[0];
    g->blas_destroy = (destroy_fn)p[1];
    setstream_fn setstream = (setstream_fn)p[2];
    setws_fn setws = (setws_fn)p[3];
    g->gemm_ex = (gemmex_fn)p[4];
    cublasStatus_t s;
    const size_t ws = 32u << 20; /* a fixed workspace keeps graph capture legal */
    CU(cudaMalloc(&g->ws, ws));
    if ((s = create(&g->blas)) != CUBLAS_STATUS_SUCCESS) {
        g->blas = NULL;
        return tp_error_set(err, TP_EIO, "cuda: cublasCreate: status %d", (int)s);
    }
    if ((s = setstream(g->blas, g->st)) != CUBLAS_STATUS_SUCCESS ||
        (s = setws(g->blas, g->ws, ws)) != CUBLAS_STATUS_SUCCESS)
        return tp_error_set(err, TP_EIO, "cuda: cuBLAS setup: status %d", (int)s);
    return 0;
}

int upload(gpu *g, const void *host, size_t bytes, void **out, tp_error_t *err)
{
    CU(cudaMalloc(out, bytes));
    g->tensors[g->ntensors++] = *out;
    CU(cudaMemcpy(*out, host, bytes, cudaMemcpyHostToDevice));
    return 0;
}

int gpu_setup(gpu *g, const tp_model_t *m, const tp_decoder_opts_t *o, tp_error_t *err)
{
    const tp_llama_config_t *c = &m->cfg;
    int n = 0, rc;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        return tp_error_set(err, TP_EUNSUPPORTED, "cuda: no usable GPU: %s",
                            e != cudaSuccess ? cudaGetErrorString(e) : "no devices");
    if (o->device < 0 || o->device >= n)
        return tp_error_set(err, TP_EUNSUPPORTED,
                            "cuda: device %d does not exist (%d found)", o->device, n);
    CU(cudaSetDevice(o->device));
    cudaDeviceProp prop;
    CU(cudaGetDeviceProperties(&prop, o->device));
    int clk = 0, bus = 0;
    if (cudaDeviceGetAttribute(&clk, cudaDevAttrMemoryClockRate, o->device) ==
            cudaSuccess &&
        cudaDeviceGetAttribute(&bus, cudaDevAttrGlobalMemoryBusWidth, o->device) ==
            cudaSuccess)
        g->peak_bw = 2.0 * clk * 1e3 * (bus / 8.0); /* double data rate */
    snprintf(g->name, sizeof g->name, "%s", prop.name);
    CU(cudaStreamCreateWithFlags(&g->st, cudaStreamNonBlocking));
    if ((rc = load_cublas(g, err)))
        return rc;
    /* weights: the checkpoint's bytes as they are */
    size_t H = c->hidden, I = c->intermediate, V = c->vocab, es = tp_dtype_size(m->dtype);
    g->tensors = (void **)calloc(7 * c->layers + 2, sizeof(void *));
    g->layer = (layer_dev *)calloc(c->layers, sizeof(layer_dev));
    if (!g->tensors || !g->layer)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    if ((rc = upload(g, m->embed, V * H * es, &g->embed, err)))
        return rc;
    g->lm_head = g->embed;
    if (!c->tied && (rc = upload(g, m->lm_head, V * H * es, &g->lm_head, err)))
        return rc;
    for (int l = 0; l < c->layers; l++) {
        const tp_layer_weights_t *w = &m->layer[l];
        layer_dev *d = &g->layer[l];
        if ((rc = upload(g, w->q, (size_t)g->qd * H * es, &d->q, err)) ||
            (rc = upload(g, w->k, (size_t)g->kvd * H * es, &d->k, err)) ||
            (rc = upload(g, w->v, (size_t)g->kvd * H * es, &d->v, err)) ||
            (rc = upload(g, w->o, H * g->qd * es, &d->o, err)) ||
            (rc = upload(g, w->gate, I * H * es, &d->gate, err)) ||
            (rc = upload(g, w->up, I * H * es, &d->up, err)) ||
            (rc = upload(g, w->down, H * I * es, &d->down, err)))
            return rc;
    }
    /* norms in f32 and the rotary frequencies, prepared on the host */
    size_t nn = (2 * (size_t)c->layers + 1) * H, half = c->head_dim / 2;
    float *hn = (float *)malloc(sizeof(float) * (nn + half));
    if (!hn)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    for (int l = 0; l <= 2 * c->layers; l++) {
        const void *src = l == 2 * c->layers ? m->final_norm
                          : l % 2            ? m->layer[l / 2].mlp_norm
                                             : m->layer[l / 2].attn_norm;
        for (size_t i = 0; i < H; i++)
            hn[l * H + i] = tp_load_elem(src, m->dtype, i);
    }
    tp_rope_inv_freq(c, hn + nn);
    e = cudaMalloc(&g->norms, sizeof(float) * (nn + half));
    if (e == cudaSuccess)
        e = cudaMemcpy(g->norms, hn, sizeof(float) * (nn + half), cudaMemcpyHostToDevice);
    free(hn);
    if (e != cudaSuccess)
        return cuda_fail(err, e, "norms");
    g->inv_freq = g->norms + nn; /* freed with norms */
    size_t R = g->max_rows;
    size_t cache = (size_t)c->layers * g->max_batch * g->max_seq * g->kvd;
    CU(cudaMalloc(&g->x, sizeof(float) * R * H));
    CU(cudaMalloc(&g->q, sizeof(float) * R * g->qd));
    CU(cudaMalloc(&g->k, sizeof(float) * R * g->kvd));
    CU(cudaMalloc(&g->v, sizeof(float) * R * g->kvd));
    CU(cudaMalloc(&g->gate, sizeof(float) * R * I));
    CU(cudaMalloc(&g->up, sizeof(float) * R * I));
    CU(cudaMalloc(&g->logits, sizeof(float) * g->max_batch * V));
    CU(cudaMalloc(&g->kc, sizeof(float) * cache));
    CU(cudaMalloc(&g->vc, sizeof(float) * cache));
    CU(cudaMalloc(&g->act, es * R * g->widest));
    CU(cudaMalloc(&g->tok, sizeof(int) * R));
    CU(cudaMalloc(&g->seq, sizeof(int) * R));
    CU(cudaMalloc(&g->pos, sizeof(int) * R));
    CU(cudaMalloc(&g->last, sizeof(int) * g->max_batch));
    CU(cudaMalloc(&g->logrow, sizeof(int) * g->max_batch));
    if (sizeof(float) * g->max_seq > prop.sharedMemPerBlock)
        return tp_error_set(err, TP_ERANGE,
                            "cuda: sequence length %d needs more shared memory than the "
                            "device's %zu bytes per block",
                            g->max_seq, (size_t)prop.sharedMemPerBlock);
    snprintf(g->desc, sizeof g->desc,
             "cuda (%s, cuBLAS %s GEMMs with f32 accumulation%s)", g->name,
             tp_dtype_name(m->dtype), g->use_graphs ? ", CUDA Graphs" : "");
    return 0;
}

} /* namespace */

extern "C" bool tp_cuda_built(void)
{
    return true;
}

extern "C" int tp_cuda_backend_new(const tp_model_t *m, const tp_decoder_opts_t *o,
                                   void **out, tp_error_t *err)
{
    *out = NULL;
    const tp_llama_config_t *c = &m->cfg;
    if (o->max_batch < 1 || o->max_batch > 1024 || o->max_seq < 2 ||
        o->max_seq > c->max_pos)
        return tp_error_set(err, TP_ERANGE,
                            "batch %d must be in 1..1024 and sequence %d in 2..%d",
                            o->max_batch, o->max_seq, c->max_pos);
    gpu *g = (gpu *)calloc(1, sizeof *g);
    if (!g)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    g->m = m;
    g->c = c;
    g->dt = m->dtype;
    g->dev = o->device;
    g->max_batch = o->max_batch;
    g->max_seq = o->max_seq;
    g->max_rows = o->max_batch > 256 ? o->max_batch : 256;
    g->qd = c->heads * c->head_dim;
    g->kvd = c->kv_heads * c->head_dim;
    g->widest = c->intermediate > c->hidden ? c->intermediate : c->hidden;
    g->widest = g->qd > g->widest ? g->qd : g->widest;
    g->temperature = o->temperature;
    g->seed = o->seed;
    g->use_graphs = !o->no_graphs;
    int rc = gpu_setup(g, m, o, err);
    if (rc) {
        gpu_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

extern "C" const tp_backend_ops_t tp_cuda_backend_ops = {
    "cuda",       gpu_prefill,     gpu_step,    gpu_sync, gpu_logits,
    gpu_describe, gpu_device_name, gpu_peak_bw, gpu_free,
};
