/*
 * model/result_json.c — writes a tp_result_t in the shape of FORMATS.md. Pure
 * formatting: it trusts the indices it is given only as far as checking bounds.
 */
#include "model/result_json.h"

#include <math.h>
#include <stdbool.h>

const char *tp_result_workload_id(const tp_workloads_t *pending,
                                  const tp_workloads_t *running, int index)
{
    int np = pending ? pending->n : 0;
    if (index >= 0 && index < np)
        return pending->w[index].id;
    if (running && index >= np && index - np < running->n)
        return running->w[index - np].id;
    return NULL;
}

/* Reals rounded to a sensible number of decimals so output is stable to read. */
static json_t *real(double v, double scale)
{
    if (!isfinite(v))
        return json_null();
    return json_real(round(v * scale) / scale);
}

static int add(json_t *arr, json_t *item)
{
    return item ? json_array_append_new(arr, item) : -1;
}

static json_t *stats(const tp_result_t *r, const tp_result_meta_t *m)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int rc = json_object_set_new(o, "solve_ms", real(r->solve_ms, 1e3));
    rc |= json_object_set_new(o, "objective", real(r->objective, 1e6));
    rc |= json_object_set_new(o, "bound", real(r->bound, 1e6));
    rc |= json_object_set_new(o, "gap", real(r->gap, 1e6));
    if (m) {
        rc |= json_object_set_new(o, "nodes", json_integer(m->nodes));
        rc |= json_object_set_new(o, "workloads", json_integer(m->workloads));
        if (m->running)
            rc |= json_object_set_new(o, "running", json_integer(m->running));
        if (m->method)
            rc |= json_object_set_new(o, "method", json_string(m->method));
        rc |= json_object_set_new(o, "placed_gpus", real(m->placed_gpus, 1));
        rc |= json_object_set_new(o, "weighted_gpus", real(m->weighted_gpus, 1));
        rc |= json_object_set_new(o, "tokens_per_j", real(m->tokens_per_j, 1e4));
        if (m->ncaps_unmet) {
            json_t *caps = json_array();
            rc |= json_object_set_new(o, "caps_unmet", caps);
            for (int i = 0; caps && i < m->ncaps_unmet; i++)
                rc |= add(caps, json_string(m->caps_unmet[i]));
        }
    }
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *tp_result_to_json(const tp_fleet_t *f, const tp_workloads_t *pending,
                          const tp_workloads_t *running, const tp_result_t *r,
                          const tp_result_meta_t *meta)
{
    json_t *doc = json_object(), *pl = json_array(), *pe = json_array(),
           *pr = json_array();
    int rc = !doc || !pl || !pe || !pr;
    int np = pending ? pending->n : 0;
    if (rc)
        goto fail;
    rc |= json_object_set(doc, "placements", pl);
    rc |= json_object_set(doc, "pending", pe);
    rc |= json_object_set(doc, "preemptions", pr);
    for (int i = 0; !rc && i < r->nplacements; i++) {
        const tp_placement_t *p = &r->placements[i];
        const char *id = tp_result_workload_id(pending, running, p->workload);
        if (!id || p->node < 0 || p->node >= f->nnodes)
            goto fail;
        bool gang = p->workload < np && tp_wl_nodes(&pending->w[p->workload]) > 1;
        bool seen = false;
        for (int j = 0; gang && j < i && !seen; j++)
            seen = r->placements[j].workload == p->workload;
        if (seen)
            continue; /* a gang is one entry, written at its first member */
        json_t *o = json_pack("{s:s, s:s, s:i}", "workload", id, "node",
                              f->nodes[p->node].id, "gpus", p->gpus);
        if (o && gang) {
            json_t *mem = json_array();
            rc |= json_object_set_new(o, "members", mem);
            for (int j = i; mem && j < r->nplacements; j++) {
                const tp_placement_t *q = &r->placements[j];
                if (q->workload != p->workload)
                    continue;
                if (q->node < 0 || q->node >= f->nnodes) {
                    json_decref(o);
                    goto fail;
                }
                rc |= add(mem, json_string(f->nodes[q->node].id));
            }
        }
        if (o && p->workload >= np) {
            int from = running->w[p->workload - np].node;
            rc |= json_object_set_new(o, "from", json_string(f->nodes[from].id));
        }
        rc |= add(pl, o);
    }
    for (int i = 0; !rc && i < r->npending; i++) {
        const tp_pending_t *p = &r->pending[i];
        const char *id = tp_result_workload_id(pending, running, p->workload);
        json_t *reasons = json_object();
        if (!id || !reasons) {
            json_decref(reasons);
            goto fail;
        }
        for (int k = 0; k < TP_PRED_COUNT; k++)
            if (p->reasons[k])
                rc |= json_object_set_new(reasons, tp_pred_name((tp_pred_t)k),
                                          json_integer(p->reasons[k]));
        rc |= add(pe, json_pack("{s:s, s:o}", "workload", id, "reasons", reasons));
    }
    for (int i = 0; !rc && i < r->npreemptions; i++) {
        const tp_preemption_t *p = &r->preemptions[i];
        if (!running || p->workload < 0 || p->workload >= running->n || p->node < 0 ||
            p->node >= f->nnodes)
            goto fail;
        rc |= add(pr, json_pack("{s:s, s:s, s:s}", "workload", running->w[p->workload].id,
                                "node", f->nodes[p->node].id, "why", p->why));
    }
    json_t *st = rc ? NULL : stats(r, meta);
    if (!st || json_object_set_new(doc, "stats", st))
        goto fail;
    json_decref(pl);
    json_decref(pe);
    json_decref(pr);
    return doc;
fail:
    json_decref(pl);
    json_decref(pe);
    json_decref(pr);
    json_decref(doc);
    return NULL;
}
