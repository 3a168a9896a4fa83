/*
 * tests/unit/test_workload_safetensors.c — the checkpoint loader against a corpus
 * of broken files, generated here: each must fail with its own code and say
 * what is wrong. Then the model level: config.json and the tensor set.
 */
#include "tests/unit/tp_test.h"
#include "workload/workload.h"

#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

static char *tmpdir(void)
{
    char *d = strdup("/tmp/tp-st-XXXXXX");
    return mkdtemp(d) ? d : NULL;
}

static void rmtree(const char *d)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", d);
}

/* Writes [8-byte length][header][data_len bytes]; hlen < 0: the real length. */
static void write_st(const char *path, const char *header, long long hlen,
                     size_t data_len)
{
    FILE *f = fopen(path, "wb");
    unsigned long long n = hlen < 0 ? strlen(header) : (unsigned long long)hlen;
    for (int i = 0; i < 8; i++)
        fputc((int)((n >> (8 * i)) & 0xff), f);
    fputs(header, f);
    for (size_t i = 0; i < data_len; i++)
        fputc((int)(i & 0xff), f);
    fclose(f);
}

static const struct {
    const char *name, *header;
    long long hlen;
    size_t data;
    int code;
    const char *says;
} corpus[] = {
    {"header length past EOF", "{}", 1000, 4, TP_EPARSE, "runs past the end"},
    {"header length absurd", "{}", 1LL << 40, 0, TP_EPARSE, "exceeds"},
    {"not an object", "[1, 2]", -1, 0, TP_EPARSE, "does not start with '{'"},
    {"bad JSON", "{\"a\": {\"dtype\": ", -1, 0, TP_EPARSE, "header JSON"},
    {"duplicate tensor",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     -1, 8, TP_EDUP, "duplicate"},
    {"unknown dtype", "{\"a\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     -1, 4, TP_EPARSE, "unknown dtype \"Q7\""},
    {"unsupported dtype",
     "{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", -1, 8,
     TP_EUNSUPPORTED, "I64 is not supported"},
    {"shape vs byte range",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", -1, 20,
     TP_EINVAL, "needs 24 bytes"},
    {"negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
     -1, 4, TP_EPARSE, "shape[0]"},
    {"five dims",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", -1, 4,
     TP_EPARSE, "at most 4"},
    {"offsets not a pair",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", -1, 4, TP_EPARSE,
     "[begin, end]"},
    {"reversed range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}",
     -1, 4, TP_EINVAL, "not a range"},
    {"unknown entry key",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", -1, 4,
     TP_EPARSE, "tensor 'a'"},
    {"entry not an object", "{\"a\": 3}", -1, 0, TP_EPARSE, "tensor 'a'"},
    {"empty name", "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", -1,
     4, TP_EPARSE, "empty name"},
    {"overlapping ranges",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
     -1, 24, TP_EINVAL, "overlaps"},
    {"hole between tensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}",
     -1, 24, TP_EINVAL, "belong to no tensor (hole"},
    {"trailing bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     -1, 16, TP_EINVAL, "8 trailing data bytes"},
    {"truncated data",
     "{\"a\":{\"dtype\":\"BF16\",\"shape\":[8],\"data_offsets\":[0,16]}}", -1, 9,
     TP_ERANGE, "truncated"},
    {"metadata not strings", "{\"__metadata__\":{\"k\":1}}", -1, 0, TP_EPARSE,
     "__metadata__.k"},
};

TP_TEST(workload_safetensors_rejects_corpus)
{
    char *dir = tmpdir(), path[256];
    TP_ASSERT(dir);
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        write_st(path, corpus[i].header, corpus[i].hlen, corpus[i].data);
        tp_safetensors_t *st = (tp_safetensors_t *)1;
        tp_error_t err;
        tp_error_clear(&err);
        int rc = tp_safetensors_open(path, &st, &err);
        if (rc != corpus[i].code || !strstr(err.text, corpus[i].says) || st)
            tp_test_fail(__FILE__, __LINE__, "%s: got %s \"%s\", wanted %s \"...%s...\"",
                         corpus[i].name, tp_err_name(rc), err.text,
                         tp_err_name(corpus[i].code), corpus[i].says);
    }
    /* shorter than the length field */
    FILE *f = fopen(path, "wb");
    fputs("abc", f);
    fclose(f);
    tp_safetensors_t *st;
    tp_error_t err;
    TP_CHECK_EQ_INT(tp_safetensors_open(path, &st, &err), TP_EPARSE);
    TP_CHECK_CONTAINS(err.text, "too short");
    snprintf(path, sizeof path, "%s/absent.safetensors", dir);
    TP_CHECK_EQ_INT(tp_safetensors_open(path, &st, &err), TP_ENOENT);
    rmtree(dir);
    free(dir);
}

TP_TEST(workload_safetensors_reads_valid)
{
    char *dir = tmpdir(), path[256];
    TP_ASSERT(dir);
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    /* a header of odd length leaves the data unaligned: still valid */
    write_st(path,
             "{\"__metadata__\":{\"format\":\"pt\"},"
             "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[4,12]},"
             "\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
             "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[12,12]}}  ",
             -1, 12);
    tp_safetensors_t *st = NULL;
    tp_error_t err;
    tp_error_clear(&err);
    TP_ASSERT(tp_safetensors_open(path, &st, &err) == 0);
    TP_CHECK_EQ_INT(tp_safetensors_count(st), 3);
    const tp_tensor_t *b = tp_safetensors_find(st, "b");
    TP_ASSERT(b);
    TP_CHECK_EQ_INT(b->dtype, TP_DT_BF16);
    TP_CHECK_EQ_INT(b->ndim, 2);
    TP_CHECK_EQ_INT(b->shape[1], 2);
    TP_CHECK_EQ_INT(b->begin, 4);
    TP_CHECK_EQ_INT(((const unsigned char *)b->data)[0], 4); /* data byte i holds i */
    TP_CHECK(tp_safetensors_find(st, "nope") == NULL);
    tp_safetensors_close(st);
    rmtree(dir);
    free(dir);
}

/* ---- model level ---- */

static void edit_config(const char *dir, const char *key, json_t *value)
{
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *c = json_load_file(path, 0, NULL);
    if (value)
        json_object_set_new(c, key, value);
    else
        json_object_del(c, key);
    json_dump_file(c, path, 0);
    json_decref(c);
}

static int load(const char *dir, tp_error_t *err)
{
    tp_model_t *m = NULL;
    tp_error_clear(err);
    int rc = tp_model_load(dir, &m, err);
    tp_model_free(m);
    return rc;
}

TP_TEST(workload_checkpoint_validation)
{
    char *dir = tmpdir(), path[256];
    TP_ASSERT(dir);
    tp_llama_config_t cfg;
    tp_error_t err;
    TP_ASSERT(tp_llama_shape("tiny", &cfg, &err) == 0);
    TP_ASSERT(tp_checkpoint_write_synthetic(dir, &cfg, 3, &err) == 0);
    tp_model_t *m = NULL;
    TP_ASSERT(tp_model_load(dir, &m, &err) == 0);
    TP_CHECK_EQ_INT(m->dtype, TP_DT_BF16);
    TP_CHECK_EQ_INT(m->weight_bytes, tp_llama_param_count(&cfg) * 2);
    TP_CHECK_EQ_INT(m->cfg.head_dim, 20);
    TP_CHECK(m->lm_head != m->embed);
    tp_model_free(m);

    struct {
        const char *key;
        json_t *value;
        int code;
        const char *says;
    } cases[] = {
        {"num_hidden_layers", json_integer(3), TP_ENOENT,
         "missing tensor 'model.layers.2.input_layernorm.weight'"},
        {"num_hidden_layers", json_integer(1), TP_EINVAL,
         "unexpected tensor 'model.layers.1."},
        {"intermediate_size", json_integer(100), TP_EINVAL,
         "has shape [136, 64] but config.json implies [100, 64]"},
        {"vocab_size", json_integer(250), TP_EINVAL, "config.json implies [250, 64]"},
        {"hidden_size", NULL, TP_EINVAL, "missing required key \"hidden_size\""},
        {"num_key_value_heads", json_integer(3), TP_EINVAL, "not a multiple"},
        {"hidden_act", json_string("gelu"), TP_EUNSUPPORTED, "silu"},
        {"rope_scaling", json_pack("{s:s, s:f}", "rope_type", "yarn", "factor", 4.0),
         TP_EUNSUPPORTED, "llama3"},
        {"torch_dtype", json_string("int8"), TP_EUNSUPPORTED, "torch_dtype"},
        {"tie_word_embeddings", json_string("yes"), TP_EINVAL, "must be a boolean"},
        {"head_dim", json_integer(-4), TP_ERANGE, "out of range"},
    };
    snprintf(path, sizeof path, "%s/config.json", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *orig = json_load_file(path, 0, NULL);
        edit_config(dir, cases[i].key, cases[i].value);
        int rc = load(dir, &err);
        if (rc != cases[i].code || !strstr(err.text, cases[i].says))
            tp_test_fail(__FILE__, __LINE__, "%s: got %s \"%s\", wanted %s \"...%s...\"",
                         cases[i].key, tp_err_name(rc), err.text,
                         tp_err_name(cases[i].code), cases[i].says);
        json_dump_file(orig, path, 0);
        json_decref(orig);
    }
    TP_CHECK_EQ_INT(load(dir, &err), 0);

    /* config.json that is not JSON, or repeats a key */
    FILE *f = fopen(path, "w");
    fputs("{\"hidden_size\": 64, \"hidden_size\": 64}", f);
    fclose(f);
    TP_CHECK_EQ_INT(load(dir, &err), TP_EPARSE);
    TP_CHECK_CONTAINS(err.text, "duplicate");
    TP_CHECK_EQ_INT(tp_checkpoint_write_synthetic(dir, &cfg, 3, &err), 0);

    /* a truncated weights file */
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    f = fopen(path, "r+b");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    TP_ASSERT(truncate(path, size - 1) == 0);
    TP_CHECK_EQ_INT(load(dir, &err), TP_ERANGE);
    TP_CHECK_CONTAINS(err.text, "truncated");

    /* sharded checkpoints say so */
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    f = fopen(path, "w");
    fputs("{}", f);
    fclose(f);
    TP_CHECK_EQ_INT(load(dir, &err), TP_EUNSUPPORTED);
    TP_CHECK_CONTAINS(err.text, "sharded");
    unlink(path);
    TP_CHECK_EQ_INT(load(dir, &err), TP_ENOENT);
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    TP_CHECK_EQ_INT(load(dir, &err), TP_ENOENT);
    TP_CHECK_CONTAINS(err.text, "config.json");
    rmtree(dir);
    free(dir);
}

TP_TEST(workload_shapes)
{
    tp_llama_config_t c;
    tp_error_t err;
    TP_ASSERT(tp_llama_shape("llama-1b", &c, &err) == 0);
    TP_CHECK_EQ_INT(tp_llama_param_count(&c), 1235814400); /* Llama 3.2 1B */
    TP_CHECK(c.tied);
    TP_ASSERT(tp_llama_shape("llama-8b", &c, &err) == 0);
    TP_CHECK_EQ_INT(tp_llama_param_count(&c), 8030261248LL); /* Llama 3.1 8B */
    TP_CHECK_EQ_INT(tp_llama_shape("llama-70b", &c, &err), TP_ENOENT);
    TP_CHECK_CONTAINS(err.text, "tiny llama-1b llama-8b");
}
