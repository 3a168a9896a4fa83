/*
 * policy/policy.c — the eligibility predicates of FORMATS.md and the load they are
 * computed against. The rules are stated once, in the order of FORMATS.md; see
 * policy.h for the fail-closed contract.
 */
#include "policy/policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

tp_load_t *tp_load_new(const tp_fleet_t *f, const tp_state_t *s,
                       const tp_workloads_t *running)
{
    tp_load_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->nnodes = f->nnodes;
    l->ndomains = f->ndomains;
    l->gpus_used = calloc((size_t)f->nnodes, sizeof *l->gpus_used);
    l->node_w = calloc((size_t)f->nnodes, sizeof *l->node_w);
    l->domain_w = calloc((size_t)f->ndomains, sizeof *l->domain_w);
    if (!l->gpus_used || !l->node_w || !l->domain_w) {
        tp_load_free(l);
        return NULL;
    }
    for (int n = 0; n < f->nnodes; n++)
        l->node_w[n] = f->nodes[n].idle_w;
    for (int i = 0; running && i < running->n; i++) {
        const tp_workload_t *w = &running->w[i];
        l->gpus_used[w->node] += w->gpus;
        l->node_w[w->node] += tp_policy_work_w(f, w->node, w);
    }
    for (int n = 0; n < f->nnodes; n++) {
        double seen = s ? s->nodes[n].draw_w : NAN;
        if (!isnan(seen) && seen > l->node_w[n])
            l->node_w[n] = seen; /* the BMC knows better than our estimate */
        for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
            l->domain_w[d] += l->node_w[n];
    }
    return l;
}

void tp_load_refresh(tp_load_t *l, const tp_fleet_t *f, const tp_state_t *s,
                     const tp_workloads_t *running, const int *node_of,
                     const bool *changed)
{
    for (int n = 0; n < f->nnodes; n++)
        if (changed[n]) {
            l->gpus_used[n] = 0;
            l->node_w[n] = f->nodes[n].idle_w;
        }
    for (int i = 0; running && i < running->n; i++) {
        if (!changed[node_of ? node_of[i] : running->w[i].node])
            continue;
        const tp_workload_t *w = &running->w[i];
        l->gpus_used[w->node] += w->gpus;
        l->node_w[w->node] += tp_policy_work_w(f, w->node, w);
    }
    for (int d = 0; d < f->ndomains; d++)
        l->domain_w[d] = 0;
    for (int n = 0; n < f->nnodes; n++) {
        double seen = s ? s->nodes[n].draw_w : NAN;
        if (changed[n] && !isnan(seen) && seen > l->node_w[n])
            l->node_w[n] = seen;
        for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
            l->domain_w[d] += l->node_w[n];
    }
}

tp_load_t *tp_load_copy(const tp_load_t *src)
{
    tp_load_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    *l = *src;
    l->gpus_used = malloc((size_t)src->nnodes * sizeof *l->gpus_used);
    l->node_w = malloc((size_t)src->nnodes * sizeof *l->node_w);
    l->domain_w = malloc((size_t)src->ndomains * sizeof *l->domain_w + 1);
    if (!l->gpus_used || !l->node_w || !l->domain_w) {
        tp_load_free(l);
        return NULL;
    }
    memcpy(l->gpus_used, src->gpus_used, (size_t)src->nnodes * sizeof *l->gpus_used);
    memcpy(l->node_w, src->node_w, (size_t)src->nnodes * sizeof *l->node_w);
    memcpy(l->domain_w, src->domain_w, (size_t)src->ndomains * sizeof *l->domain_w);
    return l;
}

void tp_load_free(tp_load_t *l)
{
    if (!l)
        return;
    free(l->gpus_used);
    free(l->node_w);
    free(l->domain_w);
    free(l);
}

double tp_policy_node_cap(const tp_fleet_t *f, const tp_state_t *s, int node)
{
    double cap = f->nodes[node].cap_w, seen = s ? s->nodes[node].cap_w : NAN;
    return !isnan(seen) && seen < cap ? seen : cap;
}

double tp_policy_domain_cap(const tp_fleet_t *f, const tp_state_t *s, int domain)
{
    double cap = f->domains[domain].cap_w, seen = s ? s->domain_cap_w[domain] : NAN;
    return !isnan(seen) && seen < cap ? seen : cap;
}

int tp_policy_gpus_healthy(const tp_fleet_t *f, const tp_state_t *s, int node)
{
    int seen = s ? s->nodes[node].gpus_healthy : -1;
    return seen >= 0 ? seen : f->nodes[node].gpus;
}

bool tp_policy_attestation_usable(const tp_node_obs_t *o, const tp_req_t *req,
                                  int64_t now)
{
    const tp_attestation_t *a = &o->att;
    if (!o->known || !a->present)
        return false;
    if (now >= a->expires_at || a->issued_at > now + TP_POLICY_SKEW_S)
        return false;
    if (req->attestation && req->max_age_s > 0 && now - a->issued_at > req->max_age_s)
        return false;
    return true;
}

static bool gpu_model_allowed(const tp_workload_t *w, int gpu_model)
{
    if (w->any_gpu_model)
        return true;
    for (int i = 0; i < w->ngpu_models; i++)
        if (w->gpu_models[i] == gpu_model)
            return true;
    return false;
}

static bool region_allowed(const tp_workload_t *w, int region)
{
    for (int i = 0; i < w->nresidency; i++)
        if (w->residency[i] == region)
            return true;
    return false;
}

/* The predicates that read the attestation: TEE, GPU CC, attestation. TEE and
 * GPU CC are facts only when a usable result that attests anything (not none,
 * not contraindicated) says so; the fleet file's claim never counts. */
static tp_predset_t attested_fail(const tp_node_obs_t *o, const tp_req_t *req,
                                  int64_t now)
{
    tp_predset_t fail = 0;
    bool usable = tp_policy_attestation_usable(o, req, now);
    bool attests = usable && tp_att_rank(o->att.status) > 0;
    if (req->tee_mask) {
        tp_tee_t tee = attests ? o->att.cpu_tee : TP_TEE_UNKNOWN;
        if (tee == TP_TEE_UNKNOWN || !(req->tee_mask & (1u << tee)))
            fail |= TP_PRED_BIT(TP_PRED_CPU_TEE);
    }
    if (req->gpu_cc && !(attests && o->att.gpu_cc == 1))
        fail |= TP_PRED_BIT(TP_PRED_GPU_CC);
    if (req->attestation) {
        if (!o->known || !o->att.present)
            fail |= TP_PRED_BIT(TP_PRED_ATTESTATION_MISSING);
        else if (!usable)
            fail |= TP_PRED_BIT(TP_PRED_ATTESTATION_STALE);
        else if (tp_att_rank(o->att.status) < tp_att_rank(req->min_status))
            fail |= TP_PRED_BIT(TP_PRED_ATTESTATION_STATUS);
    }
    return fail;
}

tp_predset_t tp_policy_static(const tp_fleet_t *f, const tp_state_t *s, int node,
                              const tp_workload_t *w, int64_t now)
{
    static const tp_node_obs_t unknown = {
        .cap_w = NAN, .draw_w = NAN, .gpus_healthy = -1};
    const tp_node_t *n = &f->nodes[node];
    const tp_node_obs_t *o = s ? &s->nodes[node] : &unknown;
    const tp_req_t *req = &w->req;
    tp_predset_t fail = 0;

    if (!gpu_model_allowed(w, n->gpu_model))
        fail |= TP_PRED_BIT(TP_PRED_GPU_MODEL);
    /* Would fit on the node's declared GPUs, but failed GPUs leave too few. */
    if (w->gpus <= n->gpus && tp_policy_gpus_healthy(f, s, node) < w->gpus)
        fail |= TP_PRED_BIT(TP_PRED_NODE_UNHEALTHY);
    if (req->tee_mask || req->gpu_cc || req->attestation) /* else none can fail */
        fail |= attested_fail(o, req, now);

    if (req->residency != TP_RESIDENCY_NONE) {
        if (!region_allowed(w, n->region))
            fail |= TP_PRED_BIT(TP_PRED_RESIDENCY);
        if (o->country[0] && !tp_region_has_country(&f->regions[n->region], o->country))
            fail |= TP_PRED_BIT(TP_PRED_RESIDENCY_MISMATCH);
        if (req->residency == TP_RESIDENCY_VERIFIED && !o->country[0])
            fail |= TP_PRED_BIT(TP_PRED_RESIDENCY_UNVERIFIED);
    }
    return fail;
}

tp_predset_t tp_policy_capacity(const tp_fleet_t *f, const tp_state_t *s,
                                const tp_load_t *l, int node, const tp_workload_t *w)
{
    const tp_node_t *n = &f->nodes[node];
    tp_predset_t fail = 0;
    int healthy = tp_policy_gpus_healthy(f, s, node);
    double add = tp_policy_work_w(f, node, w);

    /* node_unhealthy already covers "fits the node but not its healthy GPUs". */
    bool unhealthy = w->gpus <= n->gpus && healthy < w->gpus;
    if (!unhealthy && healthy - l->gpus_used[node] < w->gpus)
        fail |= TP_PRED_BIT(TP_PRED_GPU_CAPACITY);
    if (tp_policy_over_cap(l->node_w[node] + add, tp_policy_node_cap(f, s, node)))
        fail |= TP_PRED_BIT(TP_PRED_POWER_NODE);
    for (int d = n->domain; d >= 0; d = f->domains[d].parent)
        if (tp_policy_over_cap(l->domain_w[d] + add, tp_policy_domain_cap(f, s, d))) {
            fail |= TP_PRED_BIT(TP_PRED_POWER_DOMAIN);
            break;
        }
    return fail;
}

tp_predset_t tp_policy_check(const tp_fleet_t *f, const tp_state_t *s, const tp_load_t *l,
                             int node, const tp_workload_t *w, int64_t now)
{
    tp_predset_t fail = tp_policy_static(f, s, node, w, now);
    if (l)
        fail |= tp_policy_capacity(f, s, l, node, w);
    return fail;
}

int tp_policy_count(const tp_fleet_t *f, const tp_state_t *s, const tp_load_t *l,
                    const tp_workload_t *w, int64_t now, int counts[TP_PRED_COUNT])
{
    int eligible = 0;
    memset(counts, 0, TP_PRED_COUNT * sizeof counts[0]);
    for (int n = 0; n < f->nnodes; n++) {
        tp_predset_t fail = tp_policy_check(f, s, l, n, w, now);
        if (!fail)
            eligible++;
        for (int p = 0; p < TP_PRED_COUNT; p++)
            if (fail & TP_PRED_BIT(p))
                counts[p]++;
    }
    return eligible;
}
