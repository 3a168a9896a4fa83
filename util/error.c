/* util/error.c — the error table and tp_error_t helpers. */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *tp_strerror(int err)
{
    switch (err) {
    case TP_OK:
        return "success";
#define TP_ERR_MSG(name, val, msg)                                                       \
    case TP_##name:                                                                      \
        return msg;
        TP_ERRNO_MAP(TP_ERR_MSG)
#undef TP_ERR_MSG
    }
    return "unknown error";
}

const char *tp_err_name(int err)
{
    switch (err) {
    case TP_OK:
        return "TP_OK";
#define TP_ERR_NAME(name, val, msg)                                                      \
    case TP_##name:                                                                      \
        return "TP_" #name;
        TP_ERRNO_MAP(TP_ERR_NAME)
#undef TP_ERR_NAME
    }
    return "TP_E?";
}

void tp_error_clear(tp_error_t *err)
{
    if (err) {
        err->code = 0;
        err->text[0] = '\0';
    }
}

int tp_error_set(tp_error_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->text, sizeof err->text, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}
