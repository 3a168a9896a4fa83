/* model/enums.c — names of the model's enumerations, as they appear in JSON. */
#include "model/model.h"

#include <string.h>

static const char *const tee_names[TP_TEE_COUNT] = {"none", "tdx", "sev-snp", "cca"};
static const char *const att_names[TP_ATT_COUNT] = {"none", "contraindicated", "warning",
                                                    "affirming"};
static const char *const pred_names[TP_PRED_COUNT] = {
#define TP_PRED_STR(name, str) str,
    TP_PRED_MAP(TP_PRED_STR)
#undef TP_PRED_STR
};

const char *tp_tee_name(tp_tee_t t)
{
    return t >= 0 && t < TP_TEE_COUNT ? tee_names[t] : "unknown";
}

int tp_tee_parse(const char *s)
{
    for (int i = 0; i < TP_TEE_COUNT; i++)
        if (!strcmp(s, tee_names[i]))
            return i;
    return -2;
}

const char *tp_att_status_name(tp_att_status_t s)
{
    return s < TP_ATT_COUNT ? att_names[s] : "none";
}

int tp_att_status_parse(const char *s)
{
    for (int i = 0; i < TP_ATT_COUNT; i++)
        if (!strcmp(s, att_names[i]))
            return i;
    return -1;
}

int tp_att_rank(tp_att_status_t s)
{
    return s == TP_ATT_AFFIRMING ? 2 : s == TP_ATT_WARNING ? 1 : 0;
}

const char *tp_pred_name(tp_pred_t p)
{
    return p < TP_PRED_COUNT ? pred_names[p] : "?";
}
