/*
 * util/file.h — reading a whole file into memory; replacing a file atomically.
 */
#ifndef TP_UTIL_FILE_H
#define TP_UTIL_FILE_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Reads path into a new NUL-terminated buffer (*text, caller frees; *len bytes
 * before the NUL). Refuses files over max bytes. Errors name the path. */
int tp_file_read(const char *path, size_t max, char **text, size_t *len, tp_error_t *err);

/* Replacing path atomically: tp_file_replace_open() creates a fresh temporary
 * with mkstemp() in path's directory (never a predictable name, never through a
 * symlink), mode 0644 less the umask; write to the FILE, then
 * tp_file_replace_close() flushes, fsyncs, closes and renames it over path when
 * ok, or removes it. *tmp is the temporary's name (owned, freed by close). Errors
 * name the path. */
FILE *tp_file_replace_open(const char *path, char **tmp, tp_error_t *err);
int tp_file_replace_close(FILE *f, char *tmp, const char *path, bool ok, tp_error_t *err);

#endif
