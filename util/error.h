/*
 * util/error.h — error codes and the caller-owned error detail.
 *
 * Every fallible function returns 0 or a negative TP_E* code. Human-readable
 * detail (file:line:col or JSON path of bad input, what was expected) goes into a
 * tp_error_t the caller owns; the innermost failure writes it. There is no
 * global "last error".
 */
#ifndef TP_UTIL_ERROR_H
#define TP_UTIL_ERROR_H

#include <stddef.h>

/* One table generates the enum, the names and the messages. */
#define TP_ERRNO_MAP(X)                                                                  \
    X(EINVAL, -22, "invalid input")                                                      \
    X(ENOMEM, -12, "out of memory")                                                      \
    X(EIO, -5, "input/output error")                                                     \
    X(ENOENT, -2, "no such entry")                                                       \
    X(ERANGE, -34, "value out of range")                                                 \
    X(EPARSE, -1001, "malformed input")                                                  \
    X(EREF, -1002, "dangling reference")                                                 \
    X(EDUP, -1003, "duplicate")                                                          \
    X(ECYCLE, -1004, "cycle")                                                            \
    X(EUSAGE, -1005, "bad usage")                                                        \
    X(EVIOLATION, -1006, "invariant violation")                                          \
    X(ESOLVER, -1007, "solver failure")                                                  \
    X(EUNSUPPORTED, -1008, "not supported")

enum {
    TP_OK = 0,
#define TP_ERR_ENUM(name, val, msg) TP_##name = (val),
    TP_ERRNO_MAP(TP_ERR_ENUM)
#undef TP_ERR_ENUM
};

/* Static string; "unknown error" for codes outside the table. */
const char *tp_strerror(int err);
/* "TP_EINVAL", … ; static string. */
const char *tp_err_name(int err);

#define TP_ERROR_TEXT 512

/* Caller-owned detail of the last failure of a call. */
typedef struct {
    int code;                 /* the TP_E* code, 0 when nothing failed */
    char text[TP_ERROR_TEXT]; /* "file:line:col: what was expected" */
} tp_error_t;

void tp_error_clear(tp_error_t *err);
/* Formats err->text (printf style) and sets err->code; returns code so callers can
 * write `return tp_error_set(err, TP_EINVAL, "...")`. err may be NULL. */
int tp_error_set(tp_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
