/* model/result.c — the placement result: growable lists the solver fills. */
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tp_result_t *tp_result_new(void)
{
    return calloc(1, sizeof(tp_result_t));
}

void tp_result_free(tp_result_t *r)
{
    if (!r)
        return;
    free(r->placements);
    free(r->pending);
    free(r->preemptions);
    free(r);
}

/* Makes room for one more item in *arr (n used of *cap), doubling. */
static int grow(void **arr, int *cap, int n, size_t item)
{
    if (n < *cap)
        return 0;
    int ncap = *cap ? 2 * *cap : 16;
    void *p = realloc(*arr, (size_t)ncap * item);
    if (!p)
        return TP_ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

int tp_result_add_placement(tp_result_t *r, int workload, int node, int gpus)
{
    if (grow((void **)&r->placements, &r->cap_placements, r->nplacements,
             sizeof *r->placements) < 0)
        return TP_ENOMEM;
    r->placements[r->nplacements++] = (tp_placement_t){workload, node, gpus};
    return 0;
}

int tp_result_add_pending(tp_result_t *r, int workload, const int reasons[TP_PRED_COUNT])
{
    if (grow((void **)&r->pending, &r->cap_pending, r->npending, sizeof *r->pending) < 0)
        return TP_ENOMEM;
    tp_pending_t *p = &r->pending[r->npending++];
    p->workload = workload;
    memcpy(p->reasons, reasons, sizeof p->reasons);
    return 0;
}

int tp_result_add_preemption(tp_result_t *r, int workload, int node, const char *why)
{
    if (grow((void **)&r->preemptions, &r->cap_preemptions, r->npreemptions,
             sizeof *r->preemptions) < 0)
        return TP_ENOMEM;
    tp_preemption_t *p = &r->preemptions[r->npreemptions++];
    memset(p, 0, sizeof *p); /* whole bytes: results compare equal with memcmp */
    p->workload = workload;
    p->node = node;
    snprintf(p->why, sizeof p->why, "%s", why);
    return 0;
}
