/*
 * util/csv.h — a strict reader of unquoted CSV held in memory, line by line.
 *
 * Each call splits the next line at commas into fields (no quoting, no
 * escaping), accepting CRLF endings. It refuses, with "NAME:LINE: …" in err, a
 * line longer than TP_CSV_MAX_LINE bytes, a NUL byte and more than
 * TP_CSV_MAX_FIELDS fields. What rows mean, and which headers, empty lines or
 * quote characters are acceptable, is the caller's business.
 */
#ifndef TP_UTIL_CSV_H
#define TP_UTIL_CSV_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>

#define TP_CSV_MAX_FIELDS 16
#define TP_CSV_MAX_LINE 1023

typedef struct {
    const char *name; /* for messages; borrowed */
    const char *p, *end;
    int line; /* 1-based number of the line last read */
    char buf[TP_CSV_MAX_LINE + 1];
    char *field[TP_CSV_MAX_FIELDS]; /* point into buf until the next call */
    int nfield;
} tp_csv_t;

/* text (len bytes) is borrowed for as long as c is used. */
void tp_csv_init(tp_csv_t *c, const char *name, const char *text, size_t len);
/* 1: a line was read into field[]; 0: end of input; < 0: error (err set). */
int tp_csv_next(tp_csv_t *c, tp_error_t *err);
/* The line just read was empty (a single empty field). */
bool tp_csv_blank(const tp_csv_t *c);
/* Nothing follows the line just read. */
bool tp_csv_at_end(const tp_csv_t *c);

#endif
