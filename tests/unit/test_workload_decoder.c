/*
 * tests/unit/test_workload_decoder.c — the CPU decoder against a second,
 * deliberately plain implementation written here: double precision, one loop
 * per formula, no threads, no SIMD, weights decoded here straight from the
 * bytes of the safetensors file (its header parsed with jansson, BF16/F16/F32
 * converted by hand), not through production's loader. Logits must agree to 1e-5 relative
 * (to each row's largest |logit|) at every prefill and decode step, for every dtype and
 * every kernel set this CPU has.
 */
#include "tests/unit/tp_test.h"
#include "workload/workload.h"
#include "workload/workload_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- the plain implementation ---- */

typedef struct {
    const tp_model_t *m; /* its config only */
    char *file;          /* the whole model.safetensors */
    size_t file_len;
    json_t *hdr;               /* its JSON header */
    const unsigned char *body; /* where data_offsets count from */
    double *kc, *vc;           /* [layer][seq][pos][kv_heads * head_dim] */
    int max_seq, max_batch;
} naive_t;

/* A tensor as the file describes it: element size 2 or 4, its bytes. */
typedef struct {
    int esz;
    char kind; /* 'b' BF16, 'h' F16, 'f' F32 */
    const unsigned char *data;
    size_t n;
} ntensor_t;

/* Reads dir/model.safetensors: 8-byte little-endian header length, the JSON
 * header, the data. */
static int n_open(naive_t *n, const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    n->file = tp_test_slurp(path, &n->file_len);
    if (!n->file || n->file_len < 8)
        return -1;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | (unsigned char)n->file[i];
    if (hl > n->file_len - 8)
        return -1;
    n->hdr = json_loadb(n->file + 8, (size_t)hl, 0, NULL);
    n->body = (const unsigned char *)n->file + 8 + hl;
    return n->hdr ? 0 : -1;
}

static ntensor_t n_find(const naive_t *n, const char *name)
{
    ntensor_t t = {0};
    json_t *e = json_object_get(n->hdr, name);
    const char *dt = json_string_value(json_object_get(e, "dtype"));
    json_t *off = json_object_get(e, "data_offsets");
    if (!dt || json_array_size(off) != 2)
        return t;
    t.kind = !strcmp(dt, "BF16")  ? 'b'
             : !strcmp(dt, "F16") ? 'h'
             : !strcmp(dt, "F32") ? 'f'
                                  : 0;
    t.esz = t.kind == 'f' ? 4 : 2;
    size_t a = (size_t)json_integer_value(json_array_get(off, 0));
    size_t b = (size_t)json_integer_value(json_array_get(off, 1));
    if (!t.kind || a > b ||
        (size_t)(n->body - (const unsigned char *)n->file) + b > n->file_len) {
        t.kind = 0;
        return t;
    }
    t.data = n->body + a;
    t.n = (b - a) / (size_t)t.esz;
    return t;
}

/* Element i, decoded from its little-endian bytes; NaN outside the tensor. */
static double n_elem(const ntensor_t *t, size_t i)
{
    if (!t->kind || i >= t->n)
        return NAN;
    const unsigned char *p = t->data + i * (size_t)t->esz;
    uint32_t u = t->esz == 4 ? (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                                   (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
                             : (uint32_t)p[0] | (uint32_t)p[1] << 8;
    float f;
    if (t->kind == 'h') { /* sign, 5 exponent bits (bias 15), 10 mantissa bits */
        int e = (int)(u >> 10 & 31), m = (int)(u & 1023);
        double v = e == 0    ? ldexp(m, -24)
                   : e == 31 ? (m ? NAN : INFINITY)
                             : ldexp(m + 1024, e - 25);
        return u >> 15 ? -v : v;
    }
    if (t->kind == 'b') /* the high half of an F32 */
        u <<= 16;
    memcpy(&f, &u, sizeof f);
    return f;
}

static double w_at(const naive_t *n, const char *name, size_t i)
{
    ntensor_t t = n_find(n, name);
    return n_elem(&t, i);
}

static ntensor_t tensor(const naive_t *n, const char *fmt, int l)
{
    char name[128];
    snprintf(name, sizeof name, fmt, l);
    return n_find(n, name);
}

static void n_rmsnorm(const naive_t *n, const double *x, const char *fmt, int l,
                      double *o)
{
    int h = n->m->cfg.hidden;
    double ss = 0;
    for (int i = 0; i < h; i++)
        ss += x[i] * x[i];
    double inv = 1.0 / sqrt(ss / h + n->m->cfg.rms_eps);
    ntensor_t t = tensor(n, fmt, l);
    for (int i = 0; i < h; i++)
        o[i] = x[i] * inv * n_elem(&t, (size_t)i);
}

/* o[r] = sum_c W[r][c] x[c] */
static void n_matvec(const naive_t *n, const char *fmt, int l, int rows, int cols,
                     const double *x, double *o)
{
    ntensor_t t = tensor(n, fmt, l);
    for (int r = 0; r < rows; r++) {
        double s = 0;
        for (int c = 0; c < cols; c++)
            s += n_elem(&t, (size_t)r * (size_t)cols + (size_t)c) * x[c];
        o[r] = s;
    }
}

static double n_inv_freq(const tp_llama_config_t *c, int i)
{
    double f = pow(c->rope_theta, -2.0 * i / c->head_dim);
    if (c->rope_factor == 0)
        return f;
    double wavelen = 2 * M_PI / f;
    double lo = c->rope_orig_max_pos / c->rope_low_freq;
    double hi = c->rope_orig_max_pos / c->rope_high_freq;
    if (wavelen < hi)
        return f;
    if (wavelen > lo)
        return f / c->rope_factor;
    double smooth = (c->rope_orig_max_pos / wavelen - c->rope_low_freq) /
                    (c->rope_high_freq - c->rope_low_freq);
    return (1 - smooth) * f / c->rope_factor + smooth * f;
}

static void n_rope(const tp_llama_config_t *c, double *v, int nh, int pos)
{
    int d = c->head_dim;
    for (int h = 0; h < nh; h++)
        for (int i = 0; i < d / 2; i++) {
            double a = pos * (double)(float)n_inv_freq(c, i);
            double x0 = v[h * d + i], x1 = v[h * d + i + d / 2];
            v[h * d + i] = x0 * cos(a) - x1 * sin(a);
            v[h * d + i + d / 2] = x1 * cos(a) + x0 * sin(a);
        }
}

/* One token of sequence seq at position pos; writes vocab logits. */
static void n_token(naive_t *n, int seq, int pos, int token, double *logits)
{
    const tp_llama_config_t *c = &n->m->cfg;
    int h = c->hidden, d = c->head_dim, qd = c->heads * d, kvd = c->kv_heads * d;
    int im = c->intermediate;
    double *x = calloc((size_t)h, sizeof *x), *xn = calloc((size_t)h, sizeof *xn);
    double *q = calloc((size_t)qd, sizeof *q), *att = calloc((size_t)qd, sizeof *att);
    double *k = calloc((size_t)kvd, sizeof *k), *v = calloc((size_t)kvd, sizeof *v);
    double *g = calloc((size_t)im, sizeof *g), *u = calloc((size_t)im, sizeof *u);
    double *o = calloc((size_t)h, sizeof *o), *sc = calloc((size_t)pos + 1, sizeof *sc);
    for (int i = 0; i < h; i++)
        x[i] =
            w_at(n, "model.embed_tokens.weight", (size_t)token * (size_t)h + (size_t)i);
    for (int l = 0; l < c->layers; l++) {
        n_rmsnorm(n, x, "model.layers.%d.input_layernorm.weight", l, xn);
        n_matvec(n, "model.layers.%d.self_attn.q_proj.weight", l, qd, h, xn, q);
        n_matvec(n, "model.layers.%d.self_attn.k_proj.weight", l, kvd, h, xn, k);
        n_matvec(n, "model.layers.%d.self_attn.v_proj.weight", l, kvd, h, xn, v);
        n_rope(c, q, c->heads, pos);
        n_rope(c, k, c->kv_heads, pos);
        size_t base =
            (((size_t)l * (size_t)n->max_batch + (size_t)seq) * (size_t)n->max_seq) *
            (size_t)kvd;
        for (int i = 0; i < kvd; i++) {
            n->kc[base + (size_t)pos * (size_t)kvd + (size_t)i] = k[i];
            n->vc[base + (size_t)pos * (size_t)kvd + (size_t)i] = v[i];
        }
        for (int hh = 0; hh < c->heads; hh++) {
            int kh = hh / (c->heads / c->kv_heads);
            double mx = -INFINITY, sum = 0;
            for (int t = 0; t <= pos; t++) {
                double s = 0;
                for (int i = 0; i < d; i++)
                    s += q[hh * d + i] *
                         n->kc[base + (size_t)t * (size_t)kvd + (size_t)(kh * d + i)];
                sc[t] = s / sqrt((double)d);
                mx = fmax(mx, sc[t]);
            }
            for (int t = 0; t <= pos; t++)
                sum += exp(sc[t] - mx);
            for (int i = 0; i < d; i++) {
                double a = 0;
                for (int t = 0; t <= pos; t++)
                    a += exp(sc[t] - mx) / sum *
                         n->vc[base + (size_t)t * (size_t)kvd + (size_t)(kh * d + i)];
                att[hh * d + i] = a;
            }
        }
        n_matvec(n, "model.layers.%d.self_attn.o_proj.weight", l, h, qd, att, o);
        for (int i = 0; i < h; i++)
            x[i] += o[i];
        n_rmsnorm(n, x, "model.layers.%d.post_attention_layernorm.weight", l, xn);
        n_matvec(n, "model.layers.%d.mlp.gate_proj.weight", l, im, h, xn, g);
        n_matvec(n, "model.layers.%d.mlp.up_proj.weight", l, im, h, xn, u);
        for (int i = 0; i < im; i++)
            g[i] = g[i] / (1 + exp(-g[i])) * u[i];
        n_matvec(n, "model.layers.%d.mlp.down_proj.weight", l, h, im, g, o);
        for (int i = 0; i < h; i++)
            x[i] += o[i];
    }
    n_rmsnorm(n, x, "model.norm.weight", 0, xn);
    n_matvec(n, c->tied ? "model.embed_tokens.weight" : "lm_head.weight", 0, c->vocab, h,
             xn, logits);
    free(x), free(xn), free(q), free(att), free(k), free(v), free(g), free(u), free(o),
        free(sc);
}

/* ---- the comparison ---- */

static char *tmpdir(void)
{
    char *d = strdup("/tmp/tp-workload-XXXXXX");
    return mkdtemp(d) ? d : NULL;
}

static void rmtree(const char *d)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", d);
}

static double rel_row(const float *a, const double *ref, int n)
{
    double mx = 0, diff = 0;
    for (int i = 0; i < n; i++) {
        mx = fmax(mx, fabs(ref[i]));
        diff = fmax(diff, fabs(a[i] - ref[i]));
    }
    return diff / mx;
}

/* Runs the decoder (batch B, prompt P, G steps) with isa and compares every
 * step's logits with the plain implementation; returns the worst error. */
static double compare(const tp_model_t *m, const char *dir, const char *isa, int B, int P,
                      int G, float temperature, int32_t *gen_out)
{
    const tp_llama_config_t *c = &m->cfg;
    tp_decoder_opts_t o = {.max_batch = B,
                           .max_seq = P + G + 1,
                           .threads = 2,
                           .temperature = temperature,
                           .seed = 42,
                           .cpu_isa = isa};
    tp_decoder_t *d = NULL;
    tp_error_t err;
    tp_error_clear(&err);
    int rc = tp_decoder_new(m, TP_BACKEND_CPU, &o, &d, &err);
    if (rc) {
        tp_test_fail(__FILE__, __LINE__, "decoder: %s", err.text);
        return INFINITY;
    }
    naive_t n = {.m = m, .max_seq = P + G + 1, .max_batch = B};
    if (n_open(&n, dir) < 0) {
        tp_test_fail(__FILE__, __LINE__, "%s/model.safetensors: cannot read it", dir);
        free(n.file);
        json_decref(n.hdr);
        tp_decoder_free(d);
        return INFINITY;
    }
    size_t cache = (size_t)c->layers * (size_t)B * (size_t)n.max_seq *
                   (size_t)(c->kv_heads * c->head_dim);
    n.kc = calloc(cache, sizeof(double));
    n.vc = calloc(cache, sizeof(double));
    int32_t *tok = malloc(sizeof *tok * (size_t)(B * P)), next[64];
    float *lg = malloc(sizeof(float) * (size_t)(B * c->vocab));
    double *ref = malloc(sizeof(double) * (size_t)c->vocab), worst = 0;
    for (int i = 0; i < B * P; i++)
        tok[i] = (int32_t)((i * 37 + 11) % c->vocab);
    TP_CHECK_EQ_INT(tp_decoder_prefill(d, B, P, tok, next, &err), 0);
    TP_CHECK_EQ_INT(tp_decoder_logits(d, lg, &err), 0);
    for (int b = 0; b < B; b++) {
        for (int p = 0; p < P; p++)
            n_token(&n, b, p, tok[b * P + p], ref);
        worst = fmax(worst, rel_row(lg + (size_t)b * (size_t)c->vocab, ref, c->vocab));
    }
    for (int s = 0; s < G; s++) {
        int32_t in[64];
        memcpy(in, next, sizeof(int32_t) * (size_t)B);
        if (gen_out)
            memcpy(gen_out + s * B, in, sizeof(int32_t) * (size_t)B);
        TP_CHECK_EQ_INT(tp_decoder_step(d, NULL, next, &err), 0);
        TP_CHECK_EQ_INT(tp_decoder_logits(d, lg, &err), 0);
        for (int b = 0; b < B; b++) {
            n_token(&n, b, P + s, in[b], ref);
            worst =
                fmax(worst, rel_row(lg + (size_t)b * (size_t)c->vocab, ref, c->vocab));
        }
    }
    free(tok), free(lg), free(ref), free(n.kc), free(n.vc), free(n.file);
    json_decref(n.hdr);
    tp_decoder_free(d);
    return worst;
}

static tp_model_t *make_model(const char *dir, tp_dtype_t dt, bool tied, bool llama3_rope)
{
    tp_llama_config_t cfg;
    tp_error_t err;
    tp_error_clear(&err);
    tp_llama_shape("tiny", &cfg, &err);
    cfg.dtype = dt;
    cfg.tied = tied;
    if (llama3_rope) { /* short wavelengths so that all three bands occur */
        cfg.rope_factor = 8;
        cfg.rope_low_freq = 1;
        cfg.rope_high_freq = 4;
        cfg.rope_orig_max_pos = 64;
    }
    tp_model_t *m = NULL;
    if (tp_checkpoint_write_synthetic(dir, &cfg, 5, &err) ||
        tp_model_load(dir, &m, &err)) {
        tp_test_fail(__FILE__, __LINE__, "%s", err.text);
        return NULL;
    }
    return m;
}

static const char *const isas[] = {"generic", "avx2", "avx512"};

static void check_all_isas(tp_dtype_t dt, bool tied, bool rope3)
{
    char *dir = tmpdir();
    TP_ASSERT(dir);
    tp_model_t *m = make_model(dir, dt, tied, rope3);
    if (m) {
        for (size_t i = 0; i < 3; i++) {
            tp_decoder_opts_t probe = {
                .max_batch = 1, .max_seq = 2, .threads = 1, .cpu_isa = isas[i]};
            tp_decoder_t *d;
            if (tp_decoder_new(m, TP_BACKEND_CPU, &probe, &d, NULL) == TP_EUNSUPPORTED)
                continue; /* this CPU lacks it */
            tp_decoder_free(d);
            double e = compare(m, dir, isas[i], 3, 5, 4, 0, NULL);
            if (!(e <= 1e-5))
                tp_test_fail(__FILE__, __LINE__, "%s %s: relative error %.3g > 1e-5",
                             tp_dtype_name(dt), isas[i], e);
        }
    }
    tp_model_free(m);
    rmtree(dir);
    free(dir);
}

TP_TEST(workload_cpu_matches_plain_bf16)
{
    check_all_isas(TP_DT_BF16, false, false);
}

TP_TEST(workload_cpu_matches_plain_f32_tied)
{
    check_all_isas(TP_DT_F32, true, false);
}

TP_TEST(workload_cpu_matches_plain_f16_llama3_rope)
{
    check_all_isas(TP_DT_F16, false, true);
}

/* B × P above the 256 rows of one prefill pass: the prompt runs in chunks. */
TP_TEST(workload_cpu_chunked_prefill)
{
    char *dir = tmpdir();
    TP_ASSERT(dir);
    tp_model_t *m = make_model(dir, TP_DT_BF16, false, false);
    if (m) {
        double e = compare(m, dir, NULL, 3, 90, 2, 0, NULL);
        if (!(e <= 1e-5))
            tp_test_fail(__FILE__, __LINE__, "relative error %.3g > 1e-5", e);
    }
    tp_model_free(m);
    rmtree(dir);
    free(dir);
}

/* Seeded sampling: the same seed gives the same tokens, whatever the kernels. */
TP_TEST(workload_cpu_sampling_is_seeded)
{
    char *dir = tmpdir();
    TP_ASSERT(dir);
    tp_model_t *m = make_model(dir, TP_DT_F32, false, false);
    if (m) {
        int32_t a[2 * 6], b[2 * 6];
        double e1 = compare(m, dir, "generic", 2, 3, 6, 1.0f, a);
        double e2 = compare(m, dir, NULL, 2, 3, 6, 1.0f, b);
        TP_CHECK(e1 <= 1e-5 && e2 <= 1e-5);
        TP_CHECK(memcmp(a, b, sizeof a) == 0);
        for (int i = 0; i < 12; i++)
            TP_CHECK(a[i] >= 0 && a[i] < m->cfg.vocab);
    }
    tp_model_free(m);
    rmtree(dir);
    free(dir);
}

TP_TEST(workload_decoder_bad_requests)
{
    char *dir = tmpdir();
    TP_ASSERT(dir);
    tp_model_t *m = make_model(dir, TP_DT_F32, false, false);
    TP_ASSERT(m);
    tp_decoder_opts_t o = {.max_batch = 2, .max_seq = 4, .threads = 1};
    tp_decoder_t *d = NULL;
    tp_error_t err;
    tp_error_clear(&err);
    TP_CHECK_EQ_INT(tp_decoder_new(m, TP_BACKEND_CPU, &o, &d, &err), 0);
    int32_t tok[8] = {1, 2, 3, 4, 5, 6, 7, 8}, bad[2] = {0, 9999};
    TP_CHECK_EQ_INT(tp_decoder_step(d, NULL, NULL, &err), TP_EINVAL);
    TP_CHECK_EQ_INT(tp_decoder_prefill(d, 3, 2, tok, NULL, &err), TP_ERANGE);
    TP_CHECK_EQ_INT(tp_decoder_prefill(d, 2, 4, tok, NULL, &err), TP_ERANGE);
    TP_CHECK_EQ_INT(tp_decoder_prefill(d, 2, 2, tok, NULL, &err), 0);
    TP_CHECK_EQ_INT(tp_decoder_step(d, bad, NULL, &err), TP_ERANGE);
    TP_CHECK_CONTAINS(err.text, "9999");
    TP_CHECK_EQ_INT(tp_decoder_step(d, NULL, NULL, &err), 0);
    TP_CHECK_EQ_INT(tp_decoder_step(d, NULL, NULL, &err),
                    TP_ERANGE); /* 4 positions used */
    tp_decoder_free(d);
    o.cpu_isa = "sse9";
    TP_CHECK_EQ_INT(tp_decoder_new(m, TP_BACKEND_CPU, &o, &d, &err), TP_EUNSUPPORTED);
    o.cpu_isa = NULL;
    if (!tp_cuda_built()) {
        TP_CHECK_EQ_INT(tp_decoder_new(m, TP_BACKEND_CUDA, &o, &d, &err),
                        TP_EUNSUPPORTED);
        TP_CHECK_CONTAINS(err.text, "not built");
    } else {
        /* without a GPU this fails cleanly; with one it works */
        int rc = tp_decoder_new(m, TP_BACKEND_CUDA, &o, &d, &err);
        TP_CHECK(rc == 0 || rc == TP_EUNSUPPORTED);
        tp_decoder_free(rc == 0 ? d : NULL);
    }
    tp_model_free(m);
    rmtree(dir);
    free(dir);
}

TP_TEST(workload_number_formats)
{
    TP_CHECK_EQ_DBL(tp_bf16_to_f32(tp_f32_to_bf16(1.0f)), 1.0, 0);
    TP_CHECK_EQ_DBL(tp_bf16_to_f32(tp_f32_to_bf16(-3.140625f)), -3.140625, 0);
    TP_CHECK_EQ_INT(tp_f32_to_bf16(1.00390625f), 0x3f80); /* tie to even */
    float vals[] = {0.0f,           1.0f,           -2.5f,          65504.0f,
                    6.1035156e-05f, 5.9604645e-08f, 0.333251953125f};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        TP_CHECK_EQ_DBL(tp_f16_to_f32(tp_f32_to_f16(vals[i])), vals[i], 0);
    TP_CHECK_EQ_INT(tp_f32_to_f16(1e6f), 0x7c00);
    TP_CHECK(isnan(tp_f16_to_f32(tp_f32_to_f16(NAN))));
    TP_CHECK_EQ_INT(tp_f32_to_f16(1.0f), 0x3c00);
    TP_CHECK_EQ_INT(tp_f32_to_f16(-2.0f), 0xc000);
}
