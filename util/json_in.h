/*
 * util/json_in.h — strict, typed reading of a parsed JSON document, for the
 * loaders of user files (model/, sim/). Each getter checks the type and range of
 * one member and, on failure, writes "FILE: $.json.path: expected …, got …" into
 * the reader's error. Objects are checked for unknown keys against an allow-list.
 */
#ifndef TP_UTIL_JSON_IN_H
#define TP_UTIL_JSON_IN_H

#include "util/error.h"

#include <jansson.h>
#include <stdbool.h>

typedef struct {
    const char *file; /* borrowed */
    tp_error_t *err;
} jr_t;

#define JR_PATH 256

/* Parses a file or buffer with JSON_REJECT_DUPLICATES; syntax errors and duplicate
 * keys are reported as FILE:LINE:COL. Returns a new reference or NULL. */
json_t *jr_parse_file(jr_t *r, const char *path);
json_t *jr_parse_buffer(jr_t *r, const char *text, size_t len);

/* "FILE: PATH: message" with code; returns code. */
int jr_fail(jr_t *r, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Child paths: "$.key" / "$[3]". */
void jr_key_path(char *out, const char *parent, const char *key);
void jr_index_path(char *out, const char *parent, size_t i);

const char *jr_type_name(const json_t *v);

/* v must be an object whose keys are all in allowed (NULL-terminated). */
int jr_object(jr_t *r, const json_t *v, const char *path, const char *const *allowed);
int jr_array(jr_t *r, const json_t *v, const char *path);

/* Members of object obj. When the key is absent: required → error, else *out is
 * left untouched and 0 returned (so callers preset defaults). */
int jr_string(jr_t *r, const json_t *obj, const char *path, const char *key,
              bool required, const char **out);
/* s must be an identifier: 1..128 bytes of printable ASCII, no space. */
int jr_check_id(jr_t *r, const char *path, const char *s);
/* A member that is an identifier (see jr_check_id). */
int jr_id(jr_t *r, const json_t *obj, const char *path, const char *key, bool required,
          const char **out);
int jr_int(jr_t *r, const json_t *obj, const char *path, const char *key, bool required,
           long long min, long long max, long long *out);
int jr_number(jr_t *r, const json_t *obj, const char *path, const char *key,
              bool required, double min, double max, double *out);
int jr_bool(jr_t *r, const json_t *obj, const char *path, const char *key, bool required,
            bool *out);

/* strdup that reports ENOMEM through r. */
int jr_strdup(jr_t *r, const char *s, char **out);

#endif
