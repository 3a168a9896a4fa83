/*
 * workload/safetensors.c — a strict reader of the safetensors format: an 8-byte
 * little-endian header length, a JSON header naming every tensor's dtype, shape
 * and byte range, then the data. Everything is validated before any tensor is
 * handed out, so a malformed or truncated file is an error, never a crash.
 */
#include "workload/workload_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference implementation's cap; a bigger header is surely corrupt. */
#define HEADER_MAX (100u << 20)

struct tp_safetensors {
    unsigned char *map;
    size_t map_len;
    size_t count;
    tp_tensor_t *t; /* sorted by name */
    char **names;
};

static int by_name(const void *a, const void *b)
{
    return strcmp(((const tp_tensor_t *)a)->name, ((const tp_tensor_t *)b)->name);
}

static int by_range(const void *a, const void *b)
{
    const tp_tensor_t *x = *(const tp_tensor_t *const *)a,
                      *y = *(const tp_tensor_t *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Dtypes of the format that the decoder does not compute in. */
static bool known_dtype(const char *s)
{
    static const char *const other[] = {
        "F64", "I64",  "I32",     "I16",     "I8",      "U8",      "U16",     "U32",
        "U64", "BOOL", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (!strcmp(s, other[i]))
            return true;
    return false;
}

static int parse_entry(const char *path, const char *name, json_t *v, uint64_t data_len,
                       tp_tensor_t *t, tp_error_t *err)
{
    const char *dtype;
    json_t *shape, *offs;
    json_error_t je;
    if (!*name)
        return tp_error_set(err, TP_EPARSE, "%s: a tensor has an empty name", path);
    if (json_unpack_ex(v, &je, JSON_STRICT, "{s:s, s:o, s:o}", "dtype", &dtype, "shape",
                       &shape, "data_offsets", &offs) != 0)
        return tp_error_set(err, TP_EPARSE,
                            "%s: tensor '%s': expected {\"dtype\", \"shape\", "
                            "\"data_offsets\"}: %s",
                            path, name, je.text);
    if (!strcmp(dtype, "BF16"))
        t->dtype = TP_DT_BF16;
    else if (!strcmp(dtype, "F16"))
        t->dtype = TP_DT_F16;
    else if (!strcmp(dtype, "F32"))
        t->dtype = TP_DT_F32;
    else if (known_dtype(dtype))
        return tp_error_set(err, TP_EUNSUPPORTED,
                            "%s: tensor '%s': dtype %s is not supported (BF16, F16, F32)",
                            path, name, dtype);
    else
        return tp_error_set(err, TP_EPARSE, "%s: tensor '%s': unknown dtype \"%s\"", path,
                            name, dtype);
    if (!json_is_array(shape) || json_array_size(shape) > 4)
        return tp_error_set(err, TP_EPARSE,
                            "%s: tensor '%s': shape must be an array of at most 4 sizes",
                            path, name);
    t->ndim = (int)json_array_size(shape);
    uint64_t n = 1;
    for (int d = 0; d < t->ndim; d++) {
        json_t *s = json_array_get(shape, (size_t)d);
        if (!json_is_integer(s) || json_integer_value(s) < 0)
            return tp_error_set(
                err, TP_EPARSE,
                "%s: tensor '%s': shape[%d] is not a non-negative integer", path, name,
                d);
        t->shape[d] = json_integer_value(s);
        if (t->shape[d] != 0 && n > (UINT64_MAX / 4) / (uint64_t)t->shape[d])
            return tp_error_set(err, TP_ERANGE, "%s: tensor '%s': shape overflows", path,
                                name);
        n *= (uint64_t)t->shape[d];
    }
    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        !json_is_integer(json_array_get(offs, 0)) ||
        !json_is_integer(json_array_get(offs, 1)))
        return tp_error_set(err, TP_EPARSE,
                            "%s: tensor '%s': data_offsets must be [begin, end]", path,
                            name);
    json_int_t b = json_integer_value(json_array_get(offs, 0));
    json_int_t e = json_integer_value(json_array_get(offs, 1));
    if (b < 0 || e < b)
        return tp_error_set(err, TP_EINVAL,
                            "%s: tensor '%s': data_offsets [%lld, %lld] is not a range",
                            path, name, (long long)b, (long long)e);
    t->begin = (uint64_t)b;
    t->end = (uint64_t)e;
    uint64_t need = n * tp_dtype_size(t->dtype);
    if (t->end - t->begin != need)
        return tp_error_set(err, TP_EINVAL,
                            "%s: tensor '%s': shape needs %llu bytes of %s but "
                            "data_offsets [%llu, %llu] span %llu",
                            path, name, (unsigned long long)need, dtype,
                            (unsigned long long)t->begin, (unsigned long long)t->end,
                            (unsigned long long)(t->end - t->begin));
    if (t->end > data_len)
        return tp_error_set(err, TP_ERANGE,
                            "%s: tensor '%s' ends at data byte %llu but only %llu data "
                            "bytes follow the header (file truncated?)",
                            path, name, (unsigned long long)t->end,
                            (unsigned long long)data_len);
    return 0;
}

static int check_metadata(const char *path, json_t *meta, tp_error_t *err)
{
    const char *k;
    json_t *v;
    if (!json_is_object(meta))
        return tp_error_set(err, TP_EPARSE, "%s: __metadata__ must be an object", path);
    json_object_foreach (meta, k, v) {
        if (!json_is_string(v))
            return tp_error_set(err, TP_EPARSE, "%s: __metadata__.%s must be a string",
                                path, k);
    }
    return 0;
}

/* Every data byte belongs to exactly one tensor: no overlaps, holes or tail. */
static int check_coverage(const char *path, tp_safetensors_t *st, uint64_t data_len,
                          tp_error_t *err)
{
    int rc = 0;
    tp_tensor_t **order = calloc(st->count ? st->count : 1, sizeof *order);
    if (!order)
        return tp_error_set(err, TP_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < st->count; i++)
        order[i] = &st->t[i];
    qsort(order, st->count, sizeof *order, by_range);
    uint64_t at = 0;
    const char *prev = NULL;
    for (size_t i = 0; i < st->count && !rc; i++) {
        const tp_tensor_t *t = order[i];
        if (t->begin < at)
            rc = tp_error_set(err, TP_EINVAL,
                              "%s: tensor '%s' [%llu, %llu) overlaps tensor '%s' "
                              "(which ends at %llu)",
                              path, t->name, (unsigned long long)t->begin,
                              (unsigned long long)t->end, prev, (unsigned long long)at);
        else if (t->begin > at)
            rc = tp_error_set(err, TP_EINVAL,
                              "%s: data bytes [%llu, %llu) belong to no tensor (hole "
                              "before '%s')",
                              path, (unsigned long long)at, (unsigned long long)t->begin,
                              t->name);
        at = t->end;
        prev = t->name;
    }
    if (!rc && at != data_len)
        rc = tp_error_set(err, TP_EINVAL,
                          "%s: %llu trailing data bytes after the last tensor belong to "
                          "no tensor",
                          path, (unsigned long long)(data_len - at));
    free(order);
    return rc;
}

static int parse_header(const char *path, tp_safetensors_t *st, const char *hdr,
                        size_t hlen, uint64_t data_len, const unsigned char *data,
                        tp_error_t *err)
{
    if (hlen == 0 || hdr[0] != '{')
        return tp_error_set(err, TP_EPARSE, "%s: header does not start with '{'", path);
    json_error_t je;
    json_t *root = json_loadb(hdr, hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        bool dup = strstr(je.text, "duplicate") != NULL;
        return tp_error_set(err, dup ? TP_EDUP : TP_EPARSE,
                            "%s: header JSON, line %d column %d: %s", path, je.line,
                            je.column, je.text);
    }
    int rc = 0;
    if (!json_is_object(root)) {
        rc = tp_error_set(err, TP_EPARSE, "%s: header is not a JSON object", path);
        goto out;
    }
    size_t n = json_object_size(root);
    st->t = calloc(n ? n : 1, sizeof *st->t);
    st->names = calloc(n ? n : 1, sizeof *st->names);
    if (!st->t || !st->names) {
        rc = tp_error_set(err, TP_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach (root, key, v) {
        if (!strcmp(key, "__metadata__")) {
            if ((rc = check_metadata(path, v, err)))
                goto out;
            continue;
        }
        tp_tensor_t *t = &st->t[st->count];
        if ((rc = parse_entry(path, key, v, data_len, t, err)))
            goto out;
        if (!(st->names[st->count] = strdup(key))) {
            rc = tp_error_set(err, TP_ENOMEM, "%s: out of memory", path);
            goto out;
        }
        t->name = st->names[st->count];
        t->data = data + t->begin;
        st->count++;
    }
    if ((rc = check_coverage(path, st, data_len, err)))
        goto out;
    qsort(st->t, st->count, sizeof *st->t, by_name);
out:
    json_decref(root);
    return rc;
}

int tp_safetensors_open(const char *path, tp_safetensors_t **out, tp_error_t *err)
{
    *out = NULL;
    int rc, fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tp_error_set(err, errno == ENOENT ? TP_ENOENT : TP_EIO, "%s: %s", path,
                            strerror(errno));
    tp_safetensors_t *st = calloc(1, sizeof *st);
    struct stat sb;
    if (!st) {
        rc = tp_error_set(err, TP_ENOMEM, "%s: out of memory", path);
        goto error;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = tp_error_set(err, TP_EIO, "%s: not a regular file", path);
        goto error;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8) {
        rc =
            tp_error_set(err, TP_EPARSE,
                         "%s: file is %llu bytes, too short for the 8-byte header length",
                         path, (unsigned long long)size);
        goto error;
    }
    st->map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (st->map == MAP_FAILED) {
        st->map = NULL;
        rc = tp_error_set(err, TP_EIO, "%s: mmap: %s", path, strerror(errno));
        goto error;
    }
    st->map_len = (size_t)size;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) /* little-endian on every host */
        hlen = hlen << 8 | st->map[i];
    if (hlen > HEADER_MAX) {
        rc = tp_error_set(err, TP_EPARSE,
                          "%s: header length %llu exceeds the %u-byte limit", path,
                          (unsigned long long)hlen, HEADER_MAX);
        goto error;
    }
    if (hlen > size - 8) {
        rc = tp_error_set(err, TP_EPARSE,
                          "%s: header of %llu bytes runs past the end of the %llu-byte "
                          "file",
                          path, (unsigned long long)hlen, (unsigned long long)size);
        goto error;
    }
    if ((rc = parse_header(path, st, (const char *)st->map + 8, (size_t)hlen,
                           size - 8 - hlen, st->map + 8 + hlen, err)))
        goto error;
    close(fd);
    *out = st;
    return 0;
error:
    close(fd);
    tp_safetensors_close(st);
    return rc;
}

void tp_safetensors_close(tp_safetensors_t *st)
{
    if (!st)
        return;
    if (st->map)
        munmap(st->map, st->map_len);
    if (st->names)
        for (size_t i = 0; i < st->count; i++)
            free(st->names[i]);
    free(st->names);
    free(st->t);
    free(st);
}

size_t tp_safetensors_count(const tp_safetensors_t *st)
{
    return st->count;
}

const tp_tensor_t *tp_safetensors_at(const tp_safetensors_t *st, size_t i)
{
    return i < st->count ? &st->t[i] : NULL;
}

const tp_tensor_t *tp_safetensors_find(const tp_safetensors_t *st, const char *name)
{
    tp_tensor_t key = {.name = name};
    return bsearch(&key, st->t, st->count, sizeof *st->t, by_name);
}

void tp_safetensors_prefault(const tp_safetensors_t *st)
{
    long page = sysconf(_SC_PAGESIZE);
    volatile unsigned char sink = 0;
    madvise(st->map, st->map_len, MADV_WILLNEED);
    for (size_t off = 0; off < st->map_len; off += (size_t)(page > 0 ? page : 4096))
        sink ^= st->map[off];
    (void)sink;
}
