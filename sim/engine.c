/*
 * sim/engine.c — the event queue and the clock: one simulation's world, its set-up and
 * tear-down, and the loop that pops events in (time, class, push order) (docs/sim.md
 * describes the model; sim/engine.h the split).
 */
#include "sim/engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int sim_push(world_t *w, int64_t t, int cls, int kind, int arg, void *ptr, uint32_t gen)
{
    tp_event_t e = {.t = t, .cls = cls, .kind = kind, .arg = arg, .ptr = ptr, .gen = gen};
    int rc = tp_heap_push(&w->heap, &e);
    if (rc < 0)
        tp_error_set(w->err, rc, "out of memory");
    return rc;
}

int64_t sim_now_s(const world_t *w)
{
    return w->s->start_s + w->now_us / SIM_US;
}

static void world_fini(world_t *w)
{
    for (size_t i = 0; i < w->nall; i++) {
        free(w->all[i]->gm_u);
        free(w->all[i]->gm_cur);
        free(w->all[i]->mem);
        free(w->all[i]);
    }
    free(w->all);
    free(w->pend);
    free(w->run);
    free(w->pend_w);
    free(w->run_w);
    for (int d = 0; w->dr && d < w->s->ndeps; d++)
        free(w->dr[d].q);
    free(w->dr);
    if (w->own_F)
        tp_fleet_free(w->F);
    tp_state_free(w->S);
    free(w->n_of_u);
    free(w->u_of_n);
    free(w->gm_map);
    free(w->ref_tps);
    free(w->present);
    free(w->obs);
    free(w->dcap);
    free(w->failed);
    free(w->bmc_out);
    free(w->stop_renew);
    free(w->revoked);
    free(w->gpus_used);
    free(w->node_v);
    free(w->renews);
    free(w->att_status0);
    free(w->work_w);
    free(w->domain_w);
    free(w->vnames);
    free(w->v_out);
    for (int e = 0; w->ev_nodes && e < w->s->nevents; e++)
        free(w->ev_nodes[e]);
    free(w->ev_nodes);
    free(w->ev_nnodes);
    free(w->rng);
    free(w->src_pos);
    free(w->src_pass);
    for (int i = 0; w->pod_order && i < w->s->nsrcs; i++)
        free(w->pod_order[i]);
    free(w->pod_order);
    free(w->src_count);
    free(w->dom_min);
    free(w->dom_sum);
    sim_gangs_fini(w);
    tp_heap_fini(&w->heap);
}

static int world_init(world_t *w)
{
    const sim_setup_t *s = w->s;
    const tp_fleet_t *U = s->fleet;
    int nu = U->nnodes, nd = U->ndomains;
    w->U = U;
    w->nu = nu;
    tp_heap_init(&w->heap);
#define ALLOC(p, n) ((p) = calloc((size_t)(n) + 1, sizeof *(p)))
    if (!ALLOC(w->n_of_u, nu) || !ALLOC(w->present, nu) || !ALLOC(w->obs, nu) ||
        !ALLOC(w->dcap, nd) || !ALLOC(w->failed, nu) || !ALLOC(w->bmc_out, nu) ||
        !ALLOC(w->stop_renew, nu) || !ALLOC(w->revoked, nu) || !ALLOC(w->gpus_used, nu) ||
        !ALLOC(w->node_v, nu) || !ALLOC(w->renews, nu) || !ALLOC(w->att_status0, nu) ||
        !ALLOC(w->work_w, nu) || !ALLOC(w->domain_w, nd) || !ALLOC(w->vnames, nu) ||
        !ALLOC(w->v_out, nu) || !ALLOC(w->ev_nodes, s->nevents) ||
        !ALLOC(w->ev_nnodes, s->nevents) || !ALLOC(w->rng, s->nsrcs) ||
        !ALLOC(w->src_pos, s->nsrcs) || !ALLOC(w->src_pass, s->nsrcs) ||
        !ALLOC(w->pod_order, s->nsrcs) || !ALLOC(w->src_count, s->nsrcs) ||
        !ALLOC(w->dr, s->ndeps) || !ALLOC(w->ref_tps, U->nmodels) ||
        !ALLOC(w->dom_min, nd) || !ALLOC(w->dom_sum, nd))
        return tp_error_set(w->err, TP_ENOMEM, "out of memory");
#undef ALLOC
    int64_t t0 = s->start_s;
    for (int d = 0; d < nd; d++) {
        w->dcap[d] = s->state0 ? s->state0->domain_cap_w[d] : NAN;
        w->dom_min[d] = INFINITY;
    }
    w->min_headroom = w->site_min_headroom = INFINITY;
    /* Facts at the start: a state file or the generated state, else every node with
     * a verifier freshly attested as declared. The simulator's power model is the
     * estimate, so BMC draw readings are dropped. */
    for (int u = 0; u < nu; u++) {
        const tp_node_t *n = &U->nodes[u];
        tp_node_obs_t *o = &w->obs[u];
        w->present[u] = s->present0[u];
        w->n_of_u[u] = -1;
        if (s->state0) {
            *o = s->state0->nodes[u];
            o->att.verifier = o->att.evidence = NULL;
        } else {
            memset(o, 0, sizeof *o);
            o->known = true;
            o->cap_w = NAN;
            o->gpus_healthy = -1;
            memcpy(o->country, U->regions[n->region].countries[0], 3);
            if (n->verifier) {
                o->att.present = true;
                o->att.status = TP_ATT_AFFIRMING;
                o->att.cpu_tee = n->cpu_tee;
                o->att.gpu_cc = n->gpu_cc;
                o->att.issued_at = t0;
                o->att.expires_at = t0 + s->ttl_us / SIM_US;
            }
        }
        o->draw_w = NAN;
        if (o->gpus_healthy >= 0)
            w->failed[u] = n->gpus - o->gpus_healthy;
        w->att_status0[u] = o->att.status;
        /* A node renews if its attestation is usable at the start. */
        w->renews[u] = o->known && o->att.present && t0 < o->att.expires_at &&
                       t0 - o->att.issued_at <= s->ttl_us / SIM_US;
        w->node_v[u] = -1;
        if (n->verifier) {
            int v = 0;
            while (v < w->nv && strcmp(w->vnames[v], n->verifier))
                v++;
            if (v == w->nv)
                w->vnames[w->nv++] = n->verifier;
            w->node_v[u] = v;
        }
        if (w->present[u])
            sim_node_power_add(w, u, n->idle_w);
    }
    int rc = sim_rebuild_view(w);
    if (rc < 0 || (rc = sim_gangs_init(w)) < 0)
        return rc;
    /* Random node picks of events ("count"): seeded, the same for every policy. */
    for (int e = 0; e < s->nevents; e++) {
        const sim_event_t *ev = &s->events[e];
        int n = ev->nnodes;
        if (!(w->ev_nodes[e] = malloc(((size_t)n + 1) * sizeof(int))))
            return tp_error_set(w->err, TP_ENOMEM, "out of memory");
        if (n)
            memcpy(w->ev_nodes[e], ev->nodes, (size_t)n * sizeof(int));
        if (ev->count > 0 && ev->count < n) {
            tp_rng_t r;
            tp_rng_init(&r, s->seed ^ (0x5eedULL + (uint64_t)e * 0x9e3779b97f4a7c15ULL));
            for (int i = 0; i < ev->count; i++) { /* partial Fisher–Yates */
                int k = i + (int)tp_rng_below(&r, (uint64_t)(n - i));
                int t = w->ev_nodes[e][i];
                w->ev_nodes[e][i] = w->ev_nodes[e][k];
                w->ev_nodes[e][k] = t;
            }
            n = ev->count;
        }
        w->ev_nnodes[e] = n;
        if (ev->at_us <= s->duration_us &&
            (rc = sim_push(w, ev->at_us,
                           ev->kind == EV_ADD_NODES || ev->kind == EV_RETIRE_NODES
                               ? CLS_FLEET
                               : CLS_STATE,
                           K_EVENT, e, NULL, 0)) < 0)
            return rc;
    }
    /* The reference speed of batch work per model (docs/sim.md). */
    for (int m = 0; m < U->nmodels; m++)
        w->ref_tps[m] = sim_reference_tps(s, m);
    for (int d = 0; d < s->ndeps; d++) {
        double mean = sim_mean_tps(s, s->deps[d].model);
        w->dr[d].per_replica = s->deps[d].gpus * (mean > 0 ? mean : 1000);
        w->dr[d].last_scale_us = -(int64_t)(s->cooldown_s * SIM_US) - 1;
    }
    /* Warm-start work runs from t = 0 (at the speeds just set). */
    if ((rc = sim_warm_start(w)) < 0)
        return rc;
    for (int i = 0; i < s->nsrcs; i++) {
        tp_rng_init(&w->rng[i], s->seed ^ (0xa5a5a5a5ULL * (uint64_t)(i + 1)));
        if ((rc = sim_first_arrival(w, i)) < 0)
            return rc;
    }
    if ((rc = sim_push(w, s->renew_us, CLS_STATE, K_RENEW, 0, NULL, 0)) < 0 ||
        (rc = sim_push(w, 0, CLS_TICK, K_TICK, 0, NULL, 0)) < 0 ||
        (rc = sim_push(w, 0, CLS_SAMPLE, K_SAMPLE, 0, NULL, 0)) < 0 ||
        (rc = sim_windows_init(w)) < 0)
        return rc;
    sim_check_caps(w);
    return 0;
}

int sim_simulate(const sim_setup_t *s, int variant, const char *policy,
                 const sim_run_opts_t *o, sim_buf_t *csv, json_t **kpis,
                 long long *events, tp_error_t *err)
{
    world_t w = {0};
    tp_sim_policy_t *pol = NULL;
    tp_event_t e;
    int rc;
    *kpis = NULL;
    w.s = s;
    w.policy_name = policy;
    w.opts = o;
    w.csv = csv;
    w.variant = variant;
    w.err = err;
    if ((rc = tp_sim_policy_new(policy, &s->solver, &pol, err)) < 0)
        return rc;
    w.pol = pol;
    rc = world_init(&w);
    while (rc == 0 && tp_heap_pop(&w.heap, &e)) {
        if (e.t > s->duration_us)
            break;
        sim_advance(&w, e.t);
        w.now_us = e.t;
        w.events++;
        switch (e.kind) {
        case K_EVENT:
        case K_EVENT_END:
            rc = sim_scenario_event(&w, e.arg, e.kind == K_EVENT_END);
            break;
        case K_RENEW:
            rc = sim_renew_round(&w);
            break;
        case K_COMPLETE: {
            job_t *j = e.ptr;
            if (j->state == JS_RUNNING && j->gen == e.gen) {
                rc = sim_stop_job(&w, j, STOP_COMPLETE);
                if (w.ndom_over)
                    sim_check_caps(&w);
            }
            break;
        }
        case K_ARRIVAL:
            rc = sim_arrival(&w, e.arg);
            break;
        case K_TICK:
            rc = sim_tick(&w);
            if (rc == 0 && w.now_us + s->tick_us <= s->duration_us)
                rc = sim_push(&w, w.now_us + s->tick_us, CLS_TICK, K_TICK, 0, NULL, 0);
            break;
        case K_SAMPLE:
            rc = sim_sample(&w, false);
            break;
        case K_WINDOW:
            sim_window_close(&w);
            break;
        case K_WARMUP:
            sim_warmup_end(&w);
            break;
        }
    }
    if (rc == 0) {
        sim_advance(&w, s->duration_us);
        w.now_us = s->duration_us;
        if (s->duration_us % s->sample_us != 0)
            rc = sim_sample(&w, true);
    }
    if (rc == 0) {
        /* Requests still in service count as served up to the end. */
        for (int d = 0; d < s->ndeps; d++)
            sim_dep_advance(&w, d, s->duration_us);
        sim_window_close(&w); /* the last window ends with the run */
        *kpis = sim_summary(&w);
        if (!*kpis)
            rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        else if (pol->report)
            json_object_set_new(*kpis, "policy", pol->report(pol));
    }
    if (events)
        *events = w.events;
    world_fini(&w);
    tp_sim_policy_free(pol);
    return rc;
}
