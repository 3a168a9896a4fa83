/*
 * cli/inputs.h — what the commands share: loading the input files named by the
 * common options, choosing `now`, and writing numbers for people.
 */
#ifndef TP_CLI_INPUTS_H
#define TP_CLI_INPUTS_H

#include "model/model.h"

#include <getopt.h>
#include <stdio.h>

/* The inputs of explain/place/… . Everything is owned; tp_inputs_fini() frees. */
typedef struct {
    const char *config, *state_path, *workloads_path, *running_path; /* borrowed argv */
    const char *now_arg;                                             /* --now, or NULL */
    tp_fleet_t *fleet;
    tp_state_t *state;       /* empty (nothing known) without --state */
    tp_workloads_t *pending; /* empty without --workloads */
    tp_workloads_t *running; /* empty without --running */
    int64_t now;
} tp_inputs_t;

/* getopt_long entries for the input options; list them first in a command's table. */
// clang-format off
#define TP_INPUT_LONG_OPTIONS                      \
    {"config", required_argument, 0, 'c'},         \
    {"state", required_argument, 0, 's'},          \
    {"workloads", required_argument, 0, 'w'},      \
    {"running", required_argument, 0, 'r'},        \
    {"now", required_argument, 0, 'n'}
// clang-format on

/* Takes option c (with its argument) when it is one of TP_INPUT_LONG_OPTIONS;
 * returns 1 if it was, 0 if not. */
int tp_inputs_option(tp_inputs_t *in, int c, const char *arg);

/* Loads what the paths name; prints the error to stderr and returns a negative
 * code on failure. `now`: --now, else the state's observed_at, else time(). */
int tp_inputs_load(tp_inputs_t *in);
void tp_inputs_fini(tp_inputs_t *in);

/* Parses a non-negative integer option value; -1 on junk. */
long long tp_parse_count(const char *s);

/* "4,800": thousands separators, into buf (≥ 32 bytes). */
const char *tp_fmt_int(char *buf, long long v);

/* Opens --out (or stdout when path is NULL / "-"); tp_out_close() closes it and
 * reports write errors. Files are written to a mkstemp() temporary beside PATH
 * then renamed, so a reader never sees half a file (util/file.h). */
FILE *tp_out_open(const char *path);
int tp_out_close(FILE *f, const char *path);

#endif
