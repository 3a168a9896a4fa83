/*
 * workload/config.c — Llama hyper-parameters: the named synthetic shapes,
 * config.json parsing, consistency checks, and the number formats the
 * checkpoints use (bf16, f16, f32).
 */
#include "workload/workload_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- dtypes ---- */

const char *tp_dtype_name(tp_dtype_t dt)
{
    switch (dt) {
    case TP_DT_F32:
        return "F32";
    case TP_DT_F16:
        return "F16";
    case TP_DT_BF16:
        return "BF16";
    }
    return "?";
}

size_t tp_dtype_size(tp_dtype_t dt)
{
    return dt == TP_DT_F32 ? 4 : 2;
}

int tp_dtype_parse(const char *s, tp_dtype_t *out)
{
    static const struct {
        const char *name;
        tp_dtype_t dt;
    } names[] = {
        {"f32", TP_DT_F32},     {"float32", TP_DT_F32}, {"f16", TP_DT_F16},
        {"float16", TP_DT_F16}, {"bf16", TP_DT_BF16},   {"bfloat16", TP_DT_BF16},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(s, names[i].name)) {
            *out = names[i].dt;
            return 0;
        }
    return TP_EINVAL;
}

float tp_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            u = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
        }
    } else if (exp == 0x1f) {
        u = sign | 0x7f800000u | man << 13;
    } else {
        u = sign | (exp + 127 - 15) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t tp_f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return sign | 0x7e00u;
    if (a >= 0x477ff000u) /* rounds to >= 65536: infinity */
        return sign | 0x7c00u;
    if (a < 0x38800000u) { /* below the smallest normal: subnormal or zero */
        float v;
        memcpy(&v, &a, sizeof v);
        return sign | (uint16_t)lrintf(v * 16777216.0f); /* v / 2^-24 */
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u); /* round to nearest even */
    return sign | (uint16_t)((r - 0x38000000u) >> 13);
}

/* ---- named shapes ---- */

static const struct {
    const char *name;
    tp_llama_config_t cfg;
} shapes[] = {
    /* Small enough for unit tests, but with every feature: GQA, untied head, a
     * head_dim that is not hidden / heads, odd sizes for tails. */
    {"tiny",
     {.hidden = 64,
      .intermediate = 136,
      .layers = 2,
      .heads = 4,
      .kv_heads = 2,
      .head_dim = 20,
      .vocab = 251,
      .max_pos = 512,
      .rms_eps = 1e-5,
      .rope_theta = 10000.0,
      .tied = false,
      .dtype = TP_DT_BF16}},
    /* Llama 3.2 1B */
    {"llama-1b",
     {.hidden = 2048,
      .intermediate = 8192,
      .layers = 16,
      .heads = 32,
      .kv_heads = 8,
      .head_dim = 64,
      .vocab = 128256,
      .max_pos = 131072,
      .rms_eps = 1e-5,
      .rope_theta = 500000.0,
      .tied = true,
      .dtype = TP_DT_BF16,
      .rope_factor = 32.0,
      .rope_low_freq = 1.0,
      .rope_high_freq = 4.0,
      .rope_orig_max_pos = 8192}},
    /* Llama 3.1 8B */
    {"llama-8b",
     {.hidden = 4096,
      .intermediate = 14336,
      .layers = 32,
      .heads = 32,
      .kv_heads = 8,
      .head_dim = 128,
      .vocab = 128256,
      .max_pos = 131072,
      .rms_eps = 1e-5,
      .rope_theta = 500000.0,
      .tied = false,
      .dtype = TP_DT_BF16,
      .rope_factor = 8.0,
      .rope_low_freq = 1.0,
      .rope_high_freq = 4.0,
      .rope_orig_max_pos = 8192}},
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

int tp_llama_shape(const char *name, tp_llama_config_t *cfg, tp_error_t *err)
{
    for (size_t i = 0; i < NSHAPES; i++)
        if (!strcmp(name, shapes[i].name)) {
            *cfg = shapes[i].cfg;
            return 0;
        }
    memset(cfg, 0, sizeof *cfg);
    return tp_error_set(err, TP_ENOENT, "unknown shape '%s' (known: %s)", name,
                        tp_llama_shape_names());
}

const char *tp_llama_shape_names(void)
{
    return "tiny llama-1b llama-8b"; /* the names of shapes[], in order */
}

int tp_llama_config_check(const tp_llama_config_t *c, tp_error_t *err)
{
    const struct {
        const char *name;
        int v, max;
    } ints[] = {
        {"hidden_size", c->hidden, 1 << 20},
        {"intermediate_size", c->intermediate, 1 << 22},
        {"num_hidden_layers", c->layers, 4096},
        {"num_attention_heads", c->heads, 4096},
        {"num_key_value_heads", c->kv_heads, 4096},
        {"head_dim", c->head_dim, 4096},
        {"vocab_size", c->vocab, 1 << 24},
        {"max_position_embeddings", c->max_pos, 1 << 24},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (ints[i].v <= 0 || ints[i].v > ints[i].max)
            return tp_error_set(err, TP_ERANGE, "%s: %d is not in 1..%d", ints[i].name,
                                ints[i].v, ints[i].max);
    if (c->heads % c->kv_heads)
        return tp_error_set(err, TP_EINVAL,
                            "num_attention_heads (%d) is not a multiple of "
                            "num_key_value_heads (%d)",
                            c->heads, c->kv_heads);
    if (c->head_dim % 2)
        return tp_error_set(err, TP_EINVAL, "head_dim: %d is odd; rotary needs pairs",
                            c->head_dim);
    if (!(c->rms_eps > 0 && c->rms_eps < 1))
        return tp_error_set(err, TP_ERANGE, "rms_norm_eps: %g is not in (0, 1)",
                            c->rms_eps);
    if (!(c->rope_theta > 1))
        return tp_error_set(err, TP_ERANGE, "rope_theta: %g must be > 1", c->rope_theta);
    if (c->rope_factor != 0 &&
        !(c->rope_factor >= 1 && c->rope_low_freq > 0 &&
          c->rope_high_freq > c->rope_low_freq && c->rope_orig_max_pos > 0))
        return tp_error_set(err, TP_ERANGE,
                            "rope_scaling: needs factor >= 1, 0 < low_freq_factor < "
                            "high_freq_factor and original_max_position_embeddings > 0");
    return 0;
}

uint64_t tp_llama_param_count(const tp_llama_config_t *c)
{
    uint64_t h = (uint64_t)c->hidden, qd = (uint64_t)c->heads * (uint64_t)c->head_dim,
             kvd = (uint64_t)c->kv_heads * (uint64_t)c->head_dim;
    uint64_t layer =
        2 * h + h * qd + 2 * h * kvd + qd * h + 3 * h * (uint64_t)c->intermediate;
    uint64_t emb = (uint64_t)c->vocab * h;
    return emb * (c->tied ? 1 : 2) + h + (uint64_t)c->layers * layer;
}

void tp_rope_inv_freq(const tp_llama_config_t *c, float *inv_freq)
{
    int half = c->head_dim / 2;
    for (int i = 0; i < half; i++) {
        double f = 1.0 / pow(c->rope_theta, (2.0 * i) / c->head_dim);
        if (c->rope_factor != 0) { /* Llama 3 frequency-dependent scaling */
            double low_wl = c->rope_orig_max_pos / c->rope_low_freq;
            double high_wl = c->rope_orig_max_pos / c->rope_high_freq;
            double wl = 2.0 * M_PI / f;
            if (wl > low_wl) {
                f /= c->rope_factor;
            } else if (wl >= high_wl) {
                double s = (c->rope_orig_max_pos / wl - c->rope_low_freq) /
                           (c->rope_high_freq - c->rope_low_freq);
                f = (1 - s) * f / c->rope_factor + s * f;
            }
        }
        inv_freq[i] = (float)f;
    }
}

/* ---- config.json ---- */

static int get_int(json_t *root, const char *file, const char *key, bool required,
                   int dflt, int *out, tp_error_t *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required)
            return tp_error_set(err, TP_EINVAL, "%s: missing required key \"%s\"", file,
                                key);
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v))
        return tp_error_set(err, TP_EINVAL, "%s: \"%s\" must be an integer", file, key);
    json_int_t i = json_integer_value(v);
    if (i <= 0 || i > INT32_MAX)
        return tp_error_set(err, TP_ERANGE, "%s: \"%s\": %lld is out of range", file, key,
                            (long long)i);
    *out = (int)i;
    return 0;
}

static int get_num(json_t *root, const char *file, const char *key, double dflt,
                   double *out, tp_error_t *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_number(v))
        return tp_error_set(err, TP_EINVAL, "%s: \"%s\" must be a number", file, key);
    *out = json_number_value(v);
    return 0;
}

/* Keys whose non-default values change the arithmetic: reject what we do not do. */
static int check_unsupported(json_t *root, const char *file, tp_error_t *err)
{
    json_t *v;
    if ((v = json_object_get(root, "model_type")) &&
        !(json_is_string(v) && !strcmp(json_string_value(v), "llama")))
        return tp_error_set(err, TP_EUNSUPPORTED, "%s: \"model_type\" must be \"llama\"",
                            file);
    if ((v = json_object_get(root, "hidden_act")) &&
        !(json_is_string(v) && !strcmp(json_string_value(v), "silu")))
        return tp_error_set(err, TP_EUNSUPPORTED, "%s: \"hidden_act\" must be \"silu\"",
                            file);
    const char *bias[] = {"attention_bias", "mlp_bias"};
    for (size_t i = 0; i < 2; i++)
        if ((v = json_object_get(root, bias[i])) && !json_is_false(v))
            return tp_error_set(err, TP_EUNSUPPORTED,
                                "%s: \"%s\": biases are not supported", file, bias[i]);
    return 0;
}

static int parse_rope_scaling(json_t *rs, const char *file, tp_llama_config_t *c,
                              tp_error_t *err)
{
    if (!rs || json_is_null(rs))
        return 0;
    const char *type = NULL;
    json_t *f = NULL, *lo = NULL, *hi = NULL, *orig = NULL;
    json_error_t je;
    if (json_unpack_ex(rs, &je, 0, "{s?s, s?s, s?o, s?o, s?o, s?o}", "rope_type", &type,
                       "type", &type, "factor", &f, "low_freq_factor", &lo,
                       "high_freq_factor", &hi, "original_max_position_embeddings",
                       &orig) != 0)
        return tp_error_set(err, TP_EINVAL, "%s: \"rope_scaling\": %s", file, je.text);
    if (!type || strcmp(type, "llama3") != 0)
        return tp_error_set(
            err, TP_EUNSUPPORTED,
            "%s: \"rope_scaling\": only rope_type \"llama3\" is supported", file);
    if (!json_is_number(f) || !json_is_number(lo) || !json_is_number(hi) ||
        !json_is_integer(orig))
        return tp_error_set(err, TP_EINVAL,
                            "%s: \"rope_scaling\": llama3 needs numeric factor, "
                            "low_freq_factor, high_freq_factor and integer "
                            "original_max_position_embeddings",
                            file);
    c->rope_factor = json_number_value(f);
    c->rope_low_freq = json_number_value(lo);
    c->rope_high_freq = json_number_value(hi);
    json_int_t o = json_integer_value(orig);
    c->rope_orig_max_pos = o > 0 && o < INT32_MAX ? (int)o : -1;
    return 0;
}

int tp_llama_config_parse(const char *text, size_t len, const char *file,
                          tp_llama_config_t *c, tp_error_t *err)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return tp_error_set(err, TP_EPARSE, "%s:%d:%d: %s", file, je.line, je.column,
                            je.text);
    int rc = TP_EINVAL;
    memset(c, 0, sizeof *c);
    if (!json_is_object(root)) {
        rc = tp_error_set(err, TP_EINVAL, "%s: expected a JSON object", file);
        goto out;
    }
    if ((rc = check_unsupported(root, file, err)) ||
        (rc = get_int(root, file, "hidden_size", true, 0, &c->hidden, err)) ||
        (rc = get_int(root, file, "intermediate_size", true, 0, &c->intermediate, err)) ||
        (rc = get_int(root, file, "num_hidden_layers", true, 0, &c->layers, err)) ||
        (rc = get_int(root, file, "num_attention_heads", true, 0, &c->heads, err)) ||
        (rc = get_int(root, file, "num_key_value_heads", false, c->heads, &c->kv_heads,
                      err)) ||
        (rc = get_int(root, file, "head_dim", false, c->hidden / c->heads, &c->head_dim,
                      err)) ||
        (rc = get_int(root, file, "vocab_size", true, 0, &c->vocab, err)) ||
        (rc = get_int(root, file, "max_position_embeddings", false, 2048, &c->max_pos,
                      err)) ||
        (rc = get_num(root, file, "rms_norm_eps", 1e-6, &c->rms_eps, err)) ||
        (rc = get_num(root, file, "rope_theta", 10000.0, &c->rope_theta, err)) ||
        (rc = parse_rope_scaling(json_object_get(root, "rope_scaling"), file, c, err)))
        goto out;
    json_t *v = json_object_get(root, "tie_word_embeddings");
    if (v && !json_is_boolean(v)) {
        rc = tp_error_set(err, TP_EINVAL, "%s: \"tie_word_embeddings\" must be a boolean",
                          file);
        goto out;
    }
    c->tied = v && json_is_true(v); /* LlamaConfig's default is false */
    c->dtype = TP_DT_BF16;
    v = json_object_get(root, "torch_dtype");
    if (v && (!json_is_string(v) || tp_dtype_parse(json_string_value(v), &c->dtype))) {
        rc = tp_error_set(err, TP_EUNSUPPORTED,
                          "%s: \"torch_dtype\" must be float32, float16 or bfloat16",
                          file);
        goto out;
    }
    tp_error_t sub;
    tp_error_clear(&sub);
    if ((rc = tp_llama_config_check(c, &sub)))
        tp_error_set(err, rc, "%s: %s", file, sub.text);
out:
    json_decref(root);
    return rc;
}
