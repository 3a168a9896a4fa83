/*
 * sim/power.c — power and energy accounting: node and domain draw, over-cap detection,
 * and the integration of the running totals between events (docs/sim.md describes the
 * model; sim/engine.h the split).
 */
#include "sim/engine.h"

#include <math.h>

int sim_node_power_add(world_t *w, int u, double watts)
{
    for (int d = w->U->nodes[u].domain; d >= 0; d = w->U->domains[d].parent)
        w->domain_w[d] += watts;
    w->total_w += watts;
    return 0;
}

void sim_check_caps(world_t *w)
{
    int over = 0;
    for (int d = 0; d < w->U->ndomains; d++)
        if (w->domain_w[d] > tp_policy_domain_cap(w->F, w->S, d) * (1 + 1e-9))
            over++;
    w->ndom_over = over;
}

/* Integrates the running totals up to t. */
void sim_advance(world_t *w, int64_t t)
{
    double dt = (double)(t - w->last_us) / SIM_US;
    if (dt <= 0)
        return;
    sim_tenants_advance(w, w->last_us, t);
    w->energy_j += w->total_w * dt;
    w->tokens += w->token_rate * dt;
    w->energy_replica_j += w->replica_w * dt;
    w->work_int_gpu_s += w->work_rate * dt;
    w->energy_batch_j += w->batch_w * dt;
    w->tok_batch_trace += w->batch_rate_trace * dt;
    w->tok_batch_gen += w->batch_rate_gen * dt;
    w->batch_gpu_s_trace += w->batch_gpus_trace * dt;
    w->batch_gpu_s_gen += w->batch_gpus_gen * dt;
    w->busy_gpu_s += w->busy_gpus * dt;
    w->healthy_gpu_s += w->healthy_gpus * dt;
    w->viol_gpu_s += w->viol_gpus * dt;
    if (w->ndom_over)
        w->over_cap_s += dt;
    for (int c = 0; c < w->U->nclasses && c < SIM_MAX_CLASSES; c++)
        w->pend_gpu_s_cls[c] += w->pend_gpus_cls[c] * dt;
    w->last_us = t;
}
