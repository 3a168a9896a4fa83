/*
 * sim/events.c — the fleet and its facts: the view the policy sees (rebuilt when nodes
 * come and go), attestation renewal rounds, and the scenario events (caps, failures,
 * revocations, outages, fleet changes, residency rules) (docs/sim.md describes the model;
 * sim/engine.h the split).
 */
#include "sim/engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sim_set_obs(world_t *w, int u)
{
    int n = w->n_of_u[u];
    if (n >= 0)
        w->S->nodes[n] = w->obs[u];
}

int sim_healthy(const world_t *w, int u)
{
    return w->U->nodes[u].gpus - w->failed[u];
}

/* Points the policy's view at the nodes present now. */
int sim_rebuild_view(world_t *w)
{
    const tp_fleet_t *U = w->U;
    bool all = true;
    for (int u = 0; u < w->nu; u++)
        all &= w->present[u];
    tp_fleet_t *F = NULL;
    if (all && !w->s->fleet_changes) {
        F = (tp_fleet_t *)U;
    } else {
        json_t *doc = json_copy(w->s->fleet_doc), *nodes = json_array();
        json_t *src = json_object_get(w->s->fleet_doc, "nodes");
        for (int u = 0; u < w->nu; u++)
            if (w->present[u])
                json_array_append(nodes, json_array_get(src, (size_t)u));
        if (json_array_size(nodes) == 0) /* an empty fleet is not a fleet: keep one */
            json_array_append(nodes, json_array_get(src, 0));
        json_object_set_new(doc, "nodes", nodes);
        char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(doc);
        tp_error_t fe;
        int rc =
            text ? tp_fleet_load_buffer("fleet", text, strlen(text), &F, &fe) : TP_ENOMEM;
        free(text);
        if (rc < 0)
            return tp_error_set(w->err, rc, "rebuilding the fleet: %s", fe.text);
    }
    tp_state_t *S = tp_state_new_empty(F);
    int *u_of_n = calloc((size_t)F->nnodes, sizeof *u_of_n);
    int *gm_map = calloc((size_t)U->ngpu_models + 1, sizeof *gm_map);
    if (!S || !u_of_n || !gm_map) {
        tp_state_free(S);
        free(u_of_n);
        free(gm_map);
        if (F != U)
            tp_fleet_free(F);
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
    }
    for (int u = 0; u < w->nu; u++) {
        int n = tp_fleet_node(F, U->nodes[u].id);
        w->n_of_u[u] = w->present[u] ? n : -1;
        if (n >= 0)
            u_of_n[n] = w->present[u] ? u : -1;
    }
    for (int g = 0; g < U->ngpu_models; g++)
        gm_map[g] = tp_strmap_get(F->gpu_model_ix, U->gpu_models[g]);
    for (int d = 0; d < F->ndomains; d++)
        S->domain_cap_w[d] = w->dcap[d];
    S->observed_at = sim_now_s(w);
    if (w->own_F)
        tp_fleet_free(w->F);
    tp_state_free(w->S);
    free(w->u_of_n);
    free(w->gm_map);
    w->F = F;
    w->own_F = F != U;
    w->S = S;
    w->u_of_n = u_of_n;
    w->gm_map = gm_map;
    for (int u = 0; u < w->nu; u++)
        sim_set_obs(w, u);
    /* Re-point every live job's GPU-model list and running node. */
    for (size_t i = 0; i < w->nall; i++) {
        job_t *j = w->all[i];
        if (j->state == JS_DONE)
            continue;
        j->ngm_cur = 0;
        for (int g = 0; g < j->ngm; g++)
            if (gm_map[j->gm_u[g]] >= 0)
                j->gm_cur[j->ngm_cur++] = gm_map[j->gm_u[g]];
    }
    for (int i = 0; i < w->nrun; i++) {
        w->run_w[i].node = w->n_of_u[w->run[i]->node_u];
        w->run_w[i].ngpu_models = w->run[i]->ngm_cur;
    }
    w->healthy_gpus = 0;
    for (int u = 0; u < w->nu; u++)
        if (w->present[u])
            w->healthy_gpus += sim_healthy(w, u);
    return 0;
}

static void renew_one(world_t *w, int u)
{
    tp_attestation_t *a = &w->obs[u].att;
    a->issued_at = sim_now_s(w);
    a->expires_at = sim_now_s(w) + w->s->ttl_us / SIM_US;
    a->status = w->revoked[u] ? TP_ATT_CONTRAINDICATED : w->att_status0[u];
    sim_set_obs(w, u);
}

int sim_renew_round(world_t *w)
{
    for (int u = 0; u < w->nu; u++)
        if (w->present[u] && w->renews[u] && !w->stop_renew[u] &&
            !(w->node_v[u] >= 0 && w->v_out[w->node_v[u]]))
            renew_one(w, u);
    w->changed = true;
    return sim_push(w, w->now_us + w->s->renew_us, CLS_STATE, K_RENEW, 0, NULL, 0);
}

/* Evicts running work on node u that its facts no longer allow (GPU failure: the
 * newest work beyond the healthy GPUs; revocation: work needing attestation, a TEE
 * or GPU CC). */
static int evict(world_t *w, int u, int why)
{
    for (int i = w->nrun - 1; i >= 0; i--) {
        job_t *j = w->run[i];
        if (j->node_u != u)
            continue;
        bool out = false;
        if (why == EVICT_FAILURE)
            out = w->gpus_used[u] > sim_healthy(w, u);
        else if (why == EVICT_RETIRED)
            out = true;
        else { /* a contraindicated result attests no TEE and no CC either */
            const tp_req_t *q = &w->U->classes[j->cls].req;
            out = q->attestation || q->tee_mask || q->gpu_cc;
        }
        if (out) {
            w->evictions[why]++;
            if (sim_stop_job(w, j, STOP_EVICT) < 0)
                return TP_ENOMEM;
            i = w->nrun; /* the array was reshuffled; rescan */
        }
    }
    return 0;
}

int sim_scenario_event(world_t *w, int e, bool end)
{
    const sim_event_t *ev = &w->s->events[e];
    const int *nodes = w->ev_nodes[e];
    int nn = w->ev_nnodes[e], sign = end ? -1 : 1, rc = 0;
    w->changed = true;
    switch (ev->kind) {
    case EV_POWER_CAP:
        if (end)
            w->dcap[ev->domain] = NAN;
        else
            w->dcap[ev->domain] =
                ev->cap_w > 0 ? ev->cap_w : ev->factor * w->U->domains[ev->domain].cap_w;
        if (ev->domain < w->F->ndomains)
            w->S->domain_cap_w[ev->domain] = w->dcap[ev->domain];
        break;
    case EV_GPU_FAILURE:
        for (int i = 0; i < nn; i++) {
            int u = nodes[i];
            int before = sim_healthy(w, u);
            w->failed[u] += sign * ev->gpus;
            if (w->failed[u] < 0)
                w->failed[u] = 0;
            int h = sim_healthy(w, u) < 0 ? 0 : sim_healthy(w, u);
            w->obs[u].gpus_healthy = h;
            if (w->present[u])
                w->healthy_gpus += (h < 0 ? 0 : h) - (before < 0 ? 0 : before);
            sim_set_obs(w, u);
            if (!end && w->present[u])
                rc |= evict(w, u, EVICT_FAILURE);
        }
        break;
    case EV_ATT_REVOKE:
        for (int i = 0; i < nn; i++) {
            int u = nodes[i];
            w->revoked[u] += sign;
            if (w->obs[u].att.present)
                w->obs[u].att.status =
                    w->revoked[u] ? TP_ATT_CONTRAINDICATED : w->att_status0[u];
            sim_set_obs(w, u);
            if (!end && w->present[u])
                rc |= evict(w, u, EVICT_REVOKED);
        }
        break;
    case EV_ATT_EXPIRE:
        for (int i = 0; i < nn; i++)
            w->stop_renew[nodes[i]] += sign;
        break;
    case EV_VERIFIER_OUTAGE:
        for (int v = 0; v < w->nv; v++)
            if (!strcmp(w->vnames[v], ev->verifier))
                w->v_out[v] += sign;
        break;
    case EV_BMC_OUTAGE:
        for (int i = 0; i < nn; i++) {
            int u = nodes[i];
            w->bmc_out[u] += sign;
            w->obs[u].known = w->bmc_out[u] == 0;
            sim_set_obs(w, u);
        }
        break;
    case EV_ADD_NODES:
    case EV_RETIRE_NODES: {
        bool add = ev->kind == EV_ADD_NODES;
        for (int i = 0; i < nn; i++) {
            int u = nodes[i];
            if (w->present[u] == add)
                continue;
            if (!add)
                rc |= evict(w, u, EVICT_RETIRED);
            w->present[u] = add;
            sim_node_power_add(w, u, (add ? 1 : -1) * w->U->nodes[u].idle_w);
            if (add && w->renews[u])
                renew_one(w, u);
        }
        rc |= sim_rebuild_view(w);
        break;
    }
    case EV_RESIDENCY_RULE:
        w->rule_mask[ev->region] |= ev->class_mask;
        if (ev->mode > w->rule_mode[ev->region])
            w->rule_mode[ev->region] = ev->mode;
        for (int i = 0; i < w->npend; i++)
            sim_apply_rules(w, w->pend[i]);
        break;
    default:
        break;
    }
    if (!end && ev->dur_us > 0)
        rc |= sim_push(w, ev->at_us + ev->dur_us, CLS_STATE, K_EVENT_END, e, NULL, 0);
    sim_check_caps(w);
    return rc < 0 ? (w->err->code ? w->err->code : TP_ENOMEM) : 0;
}
