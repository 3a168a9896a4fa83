/* model/model_internal.h — helpers shared by the loaders in model/ only. */
#ifndef TP_MODEL_INTERNAL_H
#define TP_MODEL_INTERNAL_H

#include "util/json_in.h"
#include "model/model.h"

/* obj[key]: a non-empty array of distinct cpu_tee names → bit mask. Absent: 0. */
int tp__tee_list(jr_t *r, const json_t *obj, const char *path, const char *key,
                 unsigned *mask);
/* obj["attestation"] → req->attestation, min_status, max_age_s. Absent: untouched. */
int tp__attestation_req(jr_t *r, const json_t *obj, const char *path, tp_req_t *req);

#endif
