/*
 * workload/checkpoint.c — Hugging Face-style checkpoint directories:
 * loading (config.json + model.safetensors, every tensor checked against the
 * config) and writing seeded synthetic ones of a given shape in the same format.
 */
#include "workload/workload_internal.h"
#include "util/file.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX (1u << 20)

/* The tensors a config implies, in checkpoint order. */
typedef struct {
    char name[96];
    int64_t rows, cols; /* cols 0: a vector of rows */
    const void **slot;  /* where tp_model_t keeps it; NULL for write-only */
} spec_t;

static size_t build_specs(const tp_llama_config_t *c, tp_model_t *m, spec_t *s)
{
    size_t n = 0;
    int64_t h = c->hidden, qd = (int64_t)c->heads * c->head_dim,
            kvd = (int64_t)c->kv_heads * c->head_dim, im = c->intermediate;
#define SPEC(slot_, r_, c_, ...)                                                         \
    do {                                                                                 \
        snprintf(s[n].name, sizeof s[n].name, __VA_ARGS__);                              \
        s[n].rows = (r_);                                                                \
        s[n].cols = (c_);                                                                \
        s[n].slot = m ? (const void **)(slot_) : NULL;                                   \
        n++;                                                                             \
    } while (0)
    SPEC(m ? &m->embed : NULL, c->vocab, h, "model.embed_tokens.weight");
    for (int l = 0; l < c->layers; l++) {
        tp_layer_weights_t *w = m ? &m->layer[l] : NULL;
        const char *p = "model.layers";
        SPEC(w ? &w->attn_norm : NULL, h, 0, "%s.%d.input_layernorm.weight", p, l);
        SPEC(w ? &w->q : NULL, qd, h, "%s.%d.self_attn.q_proj.weight", p, l);
        SPEC(w ? &w->k : NULL, kvd, h, "%s.%d.self_attn.k_proj.weight", p, l);
        SPEC(w ? &w->v : NULL, kvd, h, "%s.%d.self_attn.v_proj.weight", p, l);
        SPEC(w ? &w->o : NULL, h, qd, "%s.%d.self_attn.o_proj.weight", p, l);
        SPEC(w ? &w->mlp_norm : NULL, h, 0, "%s.%d.post_attention_layernorm.weight", p,
             l);
        SPEC(w ? &w->gate : NULL, im, h, "%s.%d.mlp.gate_proj.weight", p, l);
        SPEC(w ? &w->up : NULL, im, h, "%s.%d.mlp.up_proj.weight", p, l);
        SPEC(w ? &w->down : NULL, h, im, "%s.%d.mlp.down_proj.weight", p, l);
    }
    SPEC(m ? &m->final_norm : NULL, h, 0, "model.norm.weight");
    if (!c->tied)
        SPEC(m ? &m->lm_head : NULL, c->vocab, h, "lm_head.weight");
#undef SPEC
    return n;
}

static size_t spec_capacity(const tp_llama_config_t *c)
{
    return 3 + 9 * (size_t)c->layers;
}

static int read_small_file(const char *path, char **out, size_t *len, tp_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return tp_error_set(err, errno == ENOENT ? TP_ENOENT : TP_EIO, "%s: %s", path,
                            strerror(errno));
    char *buf = malloc(CONFIG_MAX + 1);
    size_t n = buf ? fread(buf, 1, CONFIG_MAX + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf)
        return tp_error_set(err, TP_ENOMEM, "%s: out of memory", path);
    if (bad || n > CONFIG_MAX) {
        free(buf);
        return tp_error_set(err, bad ? TP_EIO : TP_ERANGE,
                            bad ? "%s: read error" : "%s: larger than 1 MiB", path);
    }
    *out = buf;
    *len = n;
    return 0;
}

static void shape_text(char *buf, size_t cap, const int64_t *dims, int nd)
{
    size_t at = 0;
    at += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < nd && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%lld", i ? ", " : "",
                               (long long)dims[i]);
    if (at < cap)
        snprintf(buf + at, cap - at, "]");
}

/* Old exports carry the rotary frequencies as a buffer; they are recomputed. */
static bool ignorable(const char *name)
{
    const char *suffix = ".rotary_emb.inv_freq";
    size_t n = strlen(name), k = strlen(suffix);
    return n > k && !strcmp(name + n - k, suffix);
}

static int bind_tensors(tp_model_t *m, const char *path, tp_error_t *err)
{
    const tp_llama_config_t *c = &m->cfg;
    size_t cap = spec_capacity(c);
    spec_t *specs = calloc(cap, sizeof *specs);
    bool *used = calloc(tp_safetensors_count(m->st) + 1, sizeof *used);
    int rc = 0;
    if (!specs || !used) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto out;
    }
    size_t n = build_specs(c, m, specs);
    for (size_t i = 0; i < n; i++) {
        const tp_tensor_t *t = tp_safetensors_find(m->st, specs[i].name);
        if (!t) {
            rc = tp_error_set(err, TP_ENOENT, "%s: missing tensor '%s'", path,
                              specs[i].name);
            goto out;
        }
        int64_t want[2] = {specs[i].rows, specs[i].cols};
        int wnd = specs[i].cols ? 2 : 1;
        if (t->ndim != wnd || t->shape[0] != want[0] ||
            (wnd == 2 && t->shape[1] != want[1])) {
            char have[96], exp[96];
            shape_text(have, sizeof have, t->shape, t->ndim);
            shape_text(exp, sizeof exp, want, wnd);
            rc = tp_error_set(err, TP_EINVAL,
                              "%s: tensor '%s' has shape %s but config.json implies %s",
                              path, t->name, have, exp);
            goto out;
        }
        if (i == 0)
            m->dtype = t->dtype;
        else if (t->dtype != m->dtype) {
            rc =
                tp_error_set(err, TP_EUNSUPPORTED,
                             "%s: tensor '%s' is %s but '%s' is %s: mixed dtypes are not "
                             "supported",
                             path, t->name, tp_dtype_name(t->dtype), specs[0].name,
                             tp_dtype_name(m->dtype));
            goto out;
        }
        *specs[i].slot = t->data;
        used[t - tp_safetensors_at(m->st, 0)] = true;
        m->weight_bytes += t->end - t->begin;
    }
    for (size_t i = 0; i < tp_safetensors_count(m->st); i++) {
        const tp_tensor_t *t = tp_safetensors_at(m->st, i);
        if (used[i] || ignorable(t->name))
            continue;
        if (c->tied && !strcmp(t->name, "lm_head.weight") && t->ndim == 2 &&
            t->shape[0] == c->vocab && t->shape[1] == c->hidden)
            continue; /* some exports keep a copy of the tied head */
        rc = tp_error_set(err, TP_EINVAL, "%s: unexpected tensor '%s' for this config",
                          path, t->name);
        goto out;
    }
    if (c->tied)
        m->lm_head = m->embed;
out:
    free(specs);
    free(used);
    return rc;
}

int tp_model_load(const char *dir, tp_model_t **out, tp_error_t *err)
{
    *out = NULL;
    char path[4096], *text = NULL;
    size_t len = 0;
    int rc;
    tp_model_t *m = calloc(1, sizeof *m);
    if (!m)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((rc = read_small_file(path, &text, &len, err)))
        goto error;
    rc = tp_llama_config_parse(text, len, path, &m->cfg, err);
    free(text);
    if (rc)
        goto error;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (access(path, F_OK) != 0) {
        char idx[4200];
        snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
        if (access(idx, F_OK) == 0) {
            rc = tp_error_set(err, TP_EUNSUPPORTED,
                              "%s: sharded checkpoints are not supported; merge the "
                              "shards into model.safetensors",
                              dir);
            goto error;
        }
    }
    if ((rc = tp_safetensors_open(path, &m->st, err)))
        goto error;
    if (!(m->layer = calloc((size_t)m->cfg.layers, sizeof *m->layer))) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto error;
    }
    if ((rc = bind_tensors(m, path, err)))
        goto error;
    char tmpn[4096];
    snprintf(tmpn, sizeof tmpn, "%s", dir);
    for (size_t l = strlen(tmpn); l > 1 && tmpn[l - 1] == '/'; l--)
        tmpn[l - 1] = '\0';
    const char *base = strrchr(tmpn, '/');
    snprintf(m->name, sizeof m->name, "%.127s", base && base[1] ? base + 1 : tmpn);
    *out = m;
    return 0;
error:
    tp_model_free(m);
    return rc;
}

void tp_model_free(tp_model_t *m)
{
    if (!m)
        return;
    tp_safetensors_close(m->st);
    free(m->layer);
    free(m);
}

void tp_model_prefault(const tp_model_t *m)
{
    tp_safetensors_prefault(m->st);
}

/* ---- synthetic checkpoints ---- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const char *torch_dtype(tp_dtype_t dt)
{
    return dt == TP_DT_F32 ? "float32" : dt == TP_DT_F16 ? "float16" : "bfloat16";
}

static int write_config(const char *path, const tp_llama_config_t *c, tp_error_t *err)
{
    json_t *o = json_pack(
        "{s:[s], s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:b, s:s, "
        "s:b, s:b}",
        "architectures", "LlamaForCausalLM", "model_type", "llama", "hidden_act", "silu",
        "hidden_size", c->hidden, "intermediate_size", c->intermediate,
        "num_hidden_layers", c->layers, "num_attention_heads", c->heads,
        "num_key_value_heads", c->kv_heads, "head_dim", c->head_dim, "vocab_size",
        c->vocab, "max_position_embeddings", c->max_pos, "rms_norm_eps", c->rms_eps,
        "rope_theta", c->rope_theta, "tie_word_embeddings", c->tied, "torch_dtype",
        torch_dtype(c->dtype), "attention_bias", 0, "mlp_bias", 0);
    if (o && c->rope_factor != 0)
        json_object_set_new(
            o, "rope_scaling",
            json_pack("{s:s, s:f, s:f, s:f, s:i}", "rope_type", "llama3", "factor",
                      c->rope_factor, "low_freq_factor", c->rope_low_freq,
                      "high_freq_factor", c->rope_high_freq,
                      "original_max_position_embeddings", c->rope_orig_max_pos));
    if (!o)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    int rc = json_dump_file(o, path, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(o);
    return rc ? tp_error_set(err, TP_EIO, "%s: cannot write", path) : 0;
}

static int write_tensor(FILE *f, const spec_t *s, tp_dtype_t dt, uint64_t seed,
                        size_t index, void *buf, size_t buf_elems)
{
    uint64_t st = seed ^ (0xd1b54a32d192ed03ull * (index + 1));
    uint64_t total = (uint64_t)s->rows * (uint64_t)(s->cols ? s->cols : 1);
    /* Uniform with the variance of 1/cols keeps activations O(1) through the
     * layers; norms are 1 ± 0.1 so that a mis-indexed norm shows in the tests. */
    double a = s->cols ? sqrt(3.0 / (double)s->cols) : 0.1;
    double base = s->cols ? 0.0 : 1.0;
    size_t esz = tp_dtype_size(dt);
    for (uint64_t done = 0; done < total;) {
        size_t n = total - done < buf_elems ? (size_t)(total - done) : buf_elems;
        for (size_t i = 0; i < n; i++) {
            double u = (double)(splitmix64(&st) >> 40) * (1.0 / 16777216.0); /* [0,1) */
            float v = (float)(base + a * (2 * u - 1));
            if (dt == TP_DT_F32)
                memcpy((char *)buf + 4 * i, &v, 4);
            else {
                uint16_t h = dt == TP_DT_BF16 ? tp_f32_to_bf16(v) : tp_f32_to_f16(v);
                memcpy((char *)buf + 2 * i, &h, 2);
            }
        }
        if (fwrite(buf, esz, n, f) != n)
            return -1;
        done += n;
    }
    return 0;
}

int tp_checkpoint_write_synthetic(const char *dir, const tp_llama_config_t *c,
                                  uint64_t seed, tp_error_t *err)
{
    int rc;
    if ((rc = tp_llama_config_check(c, err)))
        return rc;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return tp_error_set(err, TP_EIO, "%s: %s", dir, strerror(errno));
    size_t cap = spec_capacity(c), esz = tp_dtype_size(c->dtype);
    spec_t *specs = calloc(cap, sizeof *specs);
    json_t *hdr = json_object();
    char *htext = NULL;
    void *buf = NULL;
    FILE *f = NULL;
    char path[4096], *tmp = NULL;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!specs || !hdr) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto out;
    }
    size_t n = build_specs(c, NULL, specs);
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t bytes =
            (uint64_t)specs[i].rows * (uint64_t)(specs[i].cols ? specs[i].cols : 1) * esz;
        json_t *shape = specs[i].cols ? json_pack("[I, I]", (json_int_t)specs[i].rows,
                                                  (json_int_t)specs[i].cols)
                                      : json_pack("[I]", (json_int_t)specs[i].rows);
        json_object_set_new(
            hdr, specs[i].name,
            json_pack("{s:s, s:o, s:[I, I]}", "dtype", tp_dtype_name(c->dtype), "shape",
                      shape, "data_offsets", (json_int_t)at, (json_int_t)(at + bytes)));
        at += bytes;
    }
    char seedtext[32];
    snprintf(seedtext, sizeof seedtext, "%llu", (unsigned long long)seed);
    json_object_set_new(
        hdr, "__metadata__",
        json_pack("{s:s, s:s}", "generator", "trustplace synthetic", "seed", seedtext));
    if (json_object_size(hdr) != n + 1 || !json_object_get(hdr, "__metadata__") ||
        !(htext = json_dumps(hdr, JSON_COMPACT))) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto out;
    }
    /* Pad with spaces so that the data starts 8-byte aligned, as the reference
     * writer does. */
    size_t hlen = strlen(htext), padded = (hlen + 8 + 7) / 8 * 8 - 8;
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++)
        lenb[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    enum { CHUNK = 1 << 20 };
    if (!(buf = malloc(CHUNK * 4))) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto out;
    }
    if (!(f = tp_file_replace_open(path, &tmp, err))) {
        rc = TP_EIO;
        goto out;
    }
    bool ok = fwrite(lenb, 1, 8, f) == 8 && fwrite(htext, 1, hlen, f) == hlen;
    for (size_t i = hlen; ok && i < padded; i++)
        ok = fputc(' ', f) != EOF;
    for (size_t i = 0; ok && i < n; i++)
        ok = write_tensor(f, &specs[i], c->dtype, seed, i, buf, CHUNK) == 0;
    if (!ok)
        tp_error_set(err, TP_EIO, "%s: write failed: %s", path, strerror(errno));
    rc = tp_file_replace_close(f, tmp, path, ok, ok ? err : NULL);
    f = NULL;
    if (rc)
        goto out;
    snprintf(path, sizeof path, "%s/config.json", dir);
    rc = write_config(path, c, err);
out:
    if (f)
        tp_file_replace_close(f, tmp, path, false, NULL);
    free(buf);
    free(htext);
    json_decref(hdr);
    free(specs);
    return rc;
}
