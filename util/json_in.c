/* model/json_in.c — strict typed getters over jansson, with JSON-path errors. */
#include "util/json_in.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_MAX 128

static json_t *parsed(jr_t *r, json_t *root, const json_error_t *je)
{
    if (!root) {
        /* jansson: line/column are 1-based; -1 when unknown (e.g. unreadable file). */
        if (je->line > 0)
            tp_error_set(r->err, TP_EPARSE, "%s:%d:%d: %s", r->file, je->line, je->column,
                         je->text);
        else
            tp_error_set(r->err, TP_EIO, "%s: %s", r->file, je->text);
    }
    return root;
}

json_t *jr_parse_file(jr_t *r, const char *path)
{
    json_error_t je;
    return parsed(r, json_load_file(path, JSON_REJECT_DUPLICATES, &je), &je);
}

json_t *jr_parse_buffer(jr_t *r, const char *text, size_t len)
{
    json_error_t je;
    return parsed(r, json_loadb(text, len, JSON_REJECT_DUPLICATES, &je), &je);
}

int jr_fail(jr_t *r, int code, const char *path, const char *fmt, ...)
{
    char msg[TP_ERROR_TEXT];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tp_error_set(r->err, code, "%s: %s: %s", r->file, path, msg);
}

void jr_key_path(char *out, const char *parent, const char *key)
{
    /* Keys that are not plain identifiers are quoted: $.regions["eu de"]. */
    bool plain = *key != '\0';
    for (const char *p = key; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            plain = false;
    if (plain)
        snprintf(out, JR_PATH, "%s.%s", parent, key);
    else
        snprintf(out, JR_PATH, "%s[\"%.64s\"]", parent, key);
}

void jr_index_path(char *out, const char *parent, size_t i)
{
    snprintf(out, JR_PATH, "%s[%zu]", parent, i);
}

const char *jr_type_name(const json_t *v)
{
    if (!v) /* an absent member */
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

int jr_object(jr_t *r, const json_t *v, const char *path, const char *const *allowed)
{
    const char *key;
    json_t *val;
    if (!json_is_object(v))
        return jr_fail(r, TP_EINVAL, path, "expected an object, got %s", jr_type_name(v));
    if (!allowed)
        return 0;
    json_object_foreach ((json_t *)v, key, val) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (!strcmp(*a, key))
                ok = true;
        if (!ok) {
            char list[256] = "", child[JR_PATH];
            for (const char *const *a = allowed; *a; a++) {
                strncat(list, *a, sizeof list - strlen(list) - 1);
                if (a[1])
                    strncat(list, ", ", sizeof list - strlen(list) - 1);
            }
            jr_key_path(child, path, key);
            return jr_fail(r, TP_EINVAL, child,
                           "unknown key \"%s\" (expected one of: %s)", key, list);
        }
    }
    return 0;
}

int jr_array(jr_t *r, const json_t *v, const char *path)
{
    if (!json_is_array(v))
        return jr_fail(r, TP_EINVAL, path, "expected an array, got %s", jr_type_name(v));
    return 0;
}

static const json_t *member(jr_t *r, const json_t *obj, const char *path, const char *key,
                            bool required, int *rc)
{
    const json_t *v = json_object_get(obj, key);
    *rc = 0;
    if (!v && required) {
        char child[JR_PATH];
        jr_key_path(child, path, key);
        *rc = jr_fail(r, TP_EINVAL, child, "missing required key");
    }
    return v;
}

int jr_string(jr_t *r, const json_t *obj, const char *path, const char *key,
              bool required, const char **out)
{
    int rc;
    const json_t *v = member(r, obj, path, key, required, &rc);
    char child[JR_PATH];
    if (!v)
        return rc;
    if (!json_is_string(v)) {
        jr_key_path(child, path, key);
        return jr_fail(r, TP_EINVAL, child, "expected a string, got %s", jr_type_name(v));
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        jr_key_path(child, path, key);
        return jr_fail(r, TP_EINVAL, child, "string contains a NUL character");
    }
    *out = json_string_value(v);
    return 0;
}

int jr_check_id(jr_t *r, const char *path, const char *s)
{
    if (!*s)
        return jr_fail(r, TP_EINVAL, path, "expected a non-empty identifier");
    if (strlen(s) > ID_MAX)
        return jr_fail(r, TP_EINVAL, path, "identifier longer than %d bytes", ID_MAX);
    for (const char *p = s; *p; p++)
        if (!isgraph((unsigned char)*p))
            return jr_fail(r, TP_EINVAL, path,
                           "identifier \"%s\" has a space or control character", s);
    return 0;
}

int jr_id(jr_t *r, const json_t *obj, const char *path, const char *key, bool required,
          const char **out)
{
    const char *s = NULL;
    char child[JR_PATH];
    int rc = jr_string(r, obj, path, key, required, &s);
    if (rc < 0 || !s)
        return rc;
    jr_key_path(child, path, key);
    if (jr_check_id(r, child, s) < 0)
        return r->err->code;
    *out = s;
    return 0;
}

int jr_int(jr_t *r, const json_t *obj, const char *path, const char *key, bool required,
           long long min, long long max, long long *out)
{
    int rc;
    const json_t *v = member(r, obj, path, key, required, &rc);
    char child[JR_PATH];
    if (!v)
        return rc;
    jr_key_path(child, path, key);
    if (!json_is_integer(v))
        return jr_fail(r, TP_EINVAL, child, "expected an integer in %lld..%lld, got %s",
                       min, max, jr_type_name(v));
    long long x = json_integer_value(v);
    if (x < min || x > max)
        return jr_fail(r, TP_ERANGE, child, "expected an integer in %lld..%lld, got %lld",
                       min, max, x);
    *out = x;
    return 0;
}

int jr_number(jr_t *r, const json_t *obj, const char *path, const char *key,
              bool required, double min, double max, double *out)
{
    int rc;
    const json_t *v = member(r, obj, path, key, required, &rc);
    char child[JR_PATH];
    if (!v)
        return rc;
    jr_key_path(child, path, key);
    if (!json_is_number(v))
        return jr_fail(r, TP_EINVAL, child, "expected a number in %g..%g, got %s", min,
                       max, jr_type_name(v));
    double x = json_number_value(v);
    if (!(x >= min && x <= max))
        return jr_fail(r, TP_ERANGE, child, "expected a number in %g..%g, got %g", min,
                       max, x);
    *out = x;
    return 0;
}

int jr_bool(jr_t *r, const json_t *obj, const char *path, const char *key, bool required,
            bool *out)
{
    int rc;
    const json_t *v = member(r, obj, path, key, required, &rc);
    char child[JR_PATH];
    if (!v)
        return rc;
    if (!json_is_boolean(v)) {
        jr_key_path(child, path, key);
        return jr_fail(r, TP_EINVAL, child, "expected true or false, got %s",
                       jr_type_name(v));
    }
    *out = json_is_true(v);
    return 0;
}

int jr_strdup(jr_t *r, const char *s, char **out)
{
    *out = strdup(s);
    return *out ? 0 : tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
}
