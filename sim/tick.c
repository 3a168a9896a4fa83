/*
 * sim/tick.c — the scheduling tick: asks the policy once for the whole pending set,
 * validates the decision and applies it (docs/sim.md describes the model; sim/engine.h
 * the split).
 */
#include "sim/engine.h"

#include "policy/validator.h"

#include <stdlib.h>
#include <string.h>

/* tp_validate() on a result, where a result index pending->n + k names running
 * workload k stopped to start elsewhere (model/result_json.h): such work is shown
 * to the validator as extra pending workloads, as the solver itself does. */
static int validate(world_t *w, const tp_workloads_t *pending,
                    const tp_workloads_t *running, const tp_result_t *res,
                    tp_violations_t *vio)
{
    int np = pending->n, nr = running->n, next = np, rc;
    bool moved = false;
    for (int i = 0; i < res->nplacements; i++)
        moved |= res->placements[i].workload >= np;
    for (int i = 0; i < res->npending; i++)
        moved |= res->pending[i].workload >= np;
    if (!moved)
        return tp_validate(w->F, w->S, pending, running, res, sim_now_s(w), vio);
    int *map = malloc(((size_t)nr + 1) * sizeof *map);
    tp_workload_t *ext = malloc(((size_t)np + nr + 1) * sizeof *ext);
    tp_result_t *vr = tp_result_new();
    rc = TP_ENOMEM;
    if (!map || !ext || !vr)
        goto out;
    memcpy(ext, pending->w, (size_t)np * sizeof *ext);
    for (int k = 0; k < nr; k++)
        map[k] = -1;
    for (int pass = 0; pass < 2; pass++) {
        int n = pass ? res->npending : res->nplacements;
        for (int i = 0; i < n; i++) {
            int x = pass ? res->pending[i].workload : res->placements[i].workload;
            if (x < np || x >= np + nr || map[x - np] >= 0)
                continue;
            map[x - np] = next;
            ext[next] = running->w[x - np];
            ext[next].node = -1;
            next++;
        }
    }
    for (int i = 0; i < res->nplacements; i++) {
        int x = res->placements[i].workload;
        if (tp_result_add_placement(vr, x >= np && x < np + nr ? map[x - np] : x,
                                    res->placements[i].node, res->placements[i].gpus) < 0)
            goto out;
    }
    for (int i = 0; i < res->npending; i++) {
        int x = res->pending[i].workload;
        if (tp_result_add_pending(vr, x >= np && x < np + nr ? map[x - np] : x,
                                  res->pending[i].reasons) < 0)
            goto out;
    }
    for (int i = 0; i < res->npreemptions; i++)
        if (tp_result_add_preemption(vr, res->preemptions[i].workload,
                                     res->preemptions[i].node,
                                     res->preemptions[i].why) < 0)
            goto out;
    tp_workloads_t ep = {ext, next, NULL};
    rc = tp_validate(w->F, w->S, &ep, running, vr, sim_now_s(w), vio);
out:
    free(map);
    free(ext);
    tp_result_free(vr);
    return rc;
}

int sim_tick(world_t *w)
{
    int rc = sim_autoscale(w);
    if (rc < 0)
        return rc;
    if (w->npend == 0 && !w->changed)
        return 0;
    if (sim_grow((void **)&w->pend_w, &w->cap_pend_w, w->npend + 1, sizeof *w->pend_w) <
        0)
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    for (int i = 0; i < w->npend; i++)
        sim_fill_wl(w, w->pend[i], &w->pend_w[i]);
    tp_workload_t *vw;
    job_t **vj;
    if ((rc = sim_running_view(w, &vw, &vj)) < 0)
        return rc;
    int nview = w->nview;
    tp_workloads_t pending = {w->pend_w, w->npend, NULL}, running = {vw, nview, NULL};
    tp_sim_view_t v = {w->F, w->S, &pending, &running, sim_now_s(w)};
    tp_result_t *res = NULL;
    w->S->observed_at = sim_now_s(w);
    rc = w->pol->decide(w->pol, &v, &res, w->err);
    if (rc < 0)
        return rc;
    w->decisions++;
    w->decide_ms_total += res->solve_ms;
    if (!w->opts->no_validate) {
        tp_violations_t vio;
        tp_violations_init(&vio);
        int nv = validate(w, &pending, &running, res, &vio);
        w->validated++;
        if (nv < 0) {
            tp_violations_fini(&vio);
            tp_result_free(res);
            return tp_error_set(w->err, nv, "validating a decision: %s", tp_strerror(nv));
        }
        w->validator_flags += nv;
        if (nv > 0 && !strcmp(w->policy_name, "trustplace")) {
            rc = tp_error_set(w->err, TP_EVIOLATION,
                              "t=%.0f s: the validator refused a trustplace decision (%d "
                              "violation%s): %s",
                              (double)w->now_us / SIM_US, nv, nv == 1 ? "" : "s",
                              vio.n ? vio.msgs[0] : "?");
            tp_violations_fini(&vio);
            tp_result_free(res);
            return rc;
        }
        tp_violations_fini(&vio);
    }
    /* Apply: preemptions first (they free what placements may use). */
    job_t **pre = calloc((size_t)res->npreemptions + 1, sizeof *pre);
    job_t **plc = calloc((size_t)res->nplacements + 1, sizeof *plc);
    if (!pre || !plc) {
        free(pre);
        free(plc);
        tp_result_free(res);
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    }
    for (int i = 0; i < res->npreemptions; i++) {
        int k = res->preemptions[i].workload;
        pre[i] = k >= 0 && k < nview ? vj[k] : NULL;
    }
    for (int i = 0; i < res->nplacements; i++) {
        int k = res->placements[i].workload;
        plc[i] = k >= 0 && k < w->npend ? w->pend[k] : NULL;
        if (k >= w->npend && k < w->npend + nview) { /* running work moved */
            plc[i] = vj[k - w->npend];
            if (plc[i]->nodes > 1 || plc[i]->leader) {
                rc = tp_error_set(w->err, TP_EVIOLATION,
                                  "policy %s moved a member of running gang %s (a gang "
                                  "stops whole)",
                                  w->policy_name, plc[i]->id);
                break;
            }
            plc[i]->moving = true;
        }
    }
    /* A gang's members: the nodes of every placement naming it, in order. */
    int *gnodes = calloc((size_t)res->nplacements + 1, sizeof *gnodes);
    char *gdone = calloc((size_t)w->npend + 1, 1); /* gangs started this tick */
    if ((!gnodes || !gdone) && rc == 0)
        rc = tp_error_set(w->err, TP_ENOMEM, "out of memory");
    int npend0 = w->npend;
    for (int i = 0; i < res->npreemptions && rc == 0; i++)
        if (pre[i] && pre[i]->state == JS_RUNNING)
            rc = sim_stop_job(w, pre[i], STOP_PREEMPT);
    for (int i = 0; i < res->nplacements && rc == 0; i++) {
        int k = res->placements[i].workload;
        if (plc[i] && plc[i]->nodes > 1 && k < w->npend && gdone[k])
            continue; /* a further member of a gang started whole below */
        if (!plc[i] || plc[i]->state != JS_PENDING ||
            (plc[i]->ix >= npend0 && !plc[i]->moving)) {
            rc = tp_error_set(w->err, TP_EVIOLATION,
                              "policy %s placed a workload that is not pending",
                              w->policy_name);
            break;
        }
        if (plc[i]->nodes > 1) { /* every member at once, or the run ends */
            int n = 0;
            for (int q = i; q < res->nplacements; q++)
                if (res->placements[q].workload == k)
                    gnodes[n++] = res->placements[q].node;
            gdone[k] = 1;
            rc = sim_gang_start(w, plc[i], gnodes, n);
            continue;
        }
        rc = sim_start_job(w, plc[i], res->placements[i].node);
        plc[i]->moving = false;
    }
    for (int i = 0; i < res->nplacements; i++)
        if (plc[i])
            plc[i]->moving = false;
    free(pre);
    free(plc);
    free(gnodes);
    free(gdone);
    tp_result_free(res);
    sim_pend_compact(w);
    sim_check_caps(w);
    w->changed = false;
    return rc < 0 ? rc : sim_gangs_check(w);
}
