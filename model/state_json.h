/*
 * model/state_json.h — writing an observed state (tp_state_t) as the state JSON
 * of docs/formats.md, so that what a collector found round-trips through
 * tp_state_load(). Unknown facts are left out (absent means unknown).
 */
#ifndef TP_MODEL_STATE_JSON_H
#define TP_MODEL_STATE_JSON_H

#include "model/model.h"

#include <jansson.h>
#include <stdio.h>

/* The document; new reference, NULL on ENOMEM. Nodes without an entry
 * (!known) are left out. */
json_t *tp_state_to_json(const tp_fleet_t *f, const tp_state_t *s);
/* Writes it to out, one node per line; TP_EIO / TP_ENOMEM with err set. */
int tp_state_write(FILE *out, const tp_fleet_t *f, const tp_state_t *s, tp_error_t *err);
/* Writes it to path atomically: a mkstemp() temporary beside it, fsync, rename
 * (util/file.h: no predictable name, no symlink followed). */
int tp_state_save(const char *path, const tp_fleet_t *f, const tp_state_t *s,
                  tp_error_t *err);

#endif
