/*
 * util/file.h — reading a whole file into memory.
 */
#ifndef TP_UTIL_FILE_H
#define TP_UTIL_FILE_H

#include "util/error.h"

#include <stddef.h>

/* Reads path into a new NUL-terminated buffer (*text, caller frees; *len bytes
 * before the NUL). Refuses files over max bytes. Errors name the path. */
int tp_file_read(const char *path, size_t max, char **text, size_t *len, tp_error_t *err);

#endif
