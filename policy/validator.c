/*
 * policy/validator.c — independent re-check of a placement result. Shares no
 * code with policy.c beyond the model's accessors; see validator.h for why.
 */
#include "policy/validator.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tp_violations_init(tp_violations_t *v)
{
    memset(v, 0, sizeof *v);
}

void tp_violations_fini(tp_violations_t *v)
{
    for (int i = 0; i < v->n; i++)
        free(v->msgs[i]);
    free(v->msgs);
    memset(v, 0, sizeof *v);
}

typedef struct {
    tp_violations_t *out;
    int count;
    int oom;
} report_t;

__attribute__((format(printf, 2, 3))) static void violation(report_t *r, const char *fmt,
                                                            ...)
{
    char buf[512];
    va_list ap;
    r->count++;
    if (!r->out)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (r->out->n == r->out->cap) {
        int cap = r->out->cap ? 2 * r->out->cap : 16;
        char **m = realloc(r->out->msgs, (size_t)cap * sizeof *m);
        if (!m) {
            r->oom = 1;
            return;
        }
        r->out->msgs = m;
        r->out->cap = cap;
    }
    if (!(r->out->msgs[r->out->n] = strdup(buf)))
        r->oom = 1;
    else
        r->out->n++;
}

/* Per-GPU planning watts of workload w on node n (profile, else gpu_w): a data
 * lookup in the model, not a rule, so the validator shares it. */
static double watts(const tp_fleet_t *f, int n, const tp_workload_t *w)
{
    return tp_fleet_gpu_watts(f, n, w->model);
}

/* The security and residency rules, restated. Returns the first broken rule. */
static const char *security_breach(const tp_fleet_t *f, const tp_state_t *s, int n,
                                   const tp_workload_t *w, int64_t now)
{
    const tp_node_t *node = &f->nodes[n];
    const tp_node_obs_t *o = s ? &s->nodes[n] : NULL;
    const tp_attestation_t *a = o && o->known && o->att.present ? &o->att : NULL;
    bool fresh = a && now < a->expires_at && a->issued_at <= now + 60 &&
                 (!w->req.attestation || w->req.max_age_s == 0 ||
                  now - a->issued_at <= w->req.max_age_s);

    if (!w->any_gpu_model) {
        bool ok = false;
        for (int i = 0; i < w->ngpu_models; i++)
            ok |= w->gpu_models[i] == node->gpu_model;
        if (!ok)
            return "gpu_model not allowed";
    }
    if (w->req.attestation) {
        if (!a)
            return "attestation missing";
        if (!fresh)
            return "attestation stale";
        int have = a->status == TP_ATT_AFFIRMING ? 2
                   : a->status == TP_ATT_WARNING ? 1
                                                 : 0;
        int need = w->req.min_status == TP_ATT_AFFIRMING ? 2 : 1;
        if (have < need)
            return "attestation status too weak";
    }
    /* A TEE or CC requirement wants a fresh result that vouches for something:
     * affirming or warning. The fleet file's cpu_tee/gpu_cc are never read. */
    bool vouches =
        fresh && (a->status == TP_ATT_AFFIRMING || a->status == TP_ATT_WARNING);
    if (w->req.tee_mask) {
        if (!vouches)
            return "cpu_tee not attested (no fresh affirming or warning result)";
        int tee = (int)a->cpu_tee;
        if (tee < 0 || !((w->req.tee_mask >> tee) & 1))
            return "cpu_tee not allowed";
    }
    if (w->req.gpu_cc) {
        if (!vouches)
            return "gpu_cc not attested (no fresh affirming or warning result)";
        if (a->gpu_cc != 1)
            return "gpu_cc not on";
    }
    if (w->req.residency != TP_RESIDENCY_NONE) {
        bool in = false;
        for (int i = 0; i < w->nresidency; i++)
            in |= w->residency[i] == node->region;
        if (!in)
            return "region not in the workload's residency";
        const char *c = o ? o->country : "";
        if (c[0] && !tp_region_has_country(&f->regions[node->region], c))
            return "BMC-reported country contradicts the declared region";
        if (w->req.residency == TP_RESIDENCY_VERIFIED && !c[0])
            return "residency unverified (no BMC-reported country)";
    }
    return NULL;
}

/* The domain of kind `kind` above node n (or n's own), restated; -1: none. */
static int domain_of_kind(const tp_fleet_t *f, int n, int kind)
{
    for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
        if (f->domains[d].kind == kind)
            return d;
    return -1;
}

/* Gangs: all members or none, each on its own node, together under one domain
 * of the asked kind; a running gang stopped in part is a violation too. */
static void check_gangs(const tp_fleet_t *f, const tp_workloads_t *pending,
                        const tp_workloads_t *running, const tp_result_t *res,
                        report_t *r, const int *placed, const char *preempted)
{
    for (int i = 0; i < running->n; i++) {
        int g = running->w[i].gang - 1;
        if (g >= 0 && g < running->n && preempted[i] != preempted[g])
            violation(r, "running gang %s stopped in part (member on %s %s)",
                      running->w[i].id, f->nodes[running->w[i].node].id,
                      preempted[i] ? "stopped, another kept" : "kept, another stopped");
    }
    for (int wi = 0; wi < pending->n; wi++) {
        const tp_workload_t *w = &pending->w[wi];
        int want = w->nodes > 1 ? w->nodes : 1, kind = w->together - 1, dom = -2;
        if (!placed[wi])
            continue;
        if (placed[wi] != want) {
            violation(r, "workload %s placed on %d node%s, needs all %d or none", w->id,
                      placed[wi], placed[wi] == 1 ? "" : "s", want);
            continue;
        }
        if (want == 1)
            continue;
        for (int i = 0; i < res->nplacements; i++) {
            const tp_placement_t *p = &res->placements[i];
            if (p->workload != wi || p->node < 0 || p->node >= f->nnodes)
                continue;
            for (int j = i + 1; j < res->nplacements; j++)
                if (res->placements[j].workload == wi &&
                    res->placements[j].node == p->node)
                    violation(r, "gang %s has two members on node %s", w->id,
                              f->nodes[p->node].id);
            if (kind < 0)
                continue;
            int d = domain_of_kind(f, p->node, kind);
            if (d < 0)
                violation(r, "gang %s: node %s is under no \"%s\" domain", w->id,
                          f->nodes[p->node].id, f->kinds[kind]);
            else if (dom == -2)
                dom = d;
            else if (d != dom)
                violation(r, "gang %s spans %s domains %s and %s", w->id, f->kinds[kind],
                          f->domains[dom].id, f->domains[d].id);
        }
    }
}

/* Tenants: GPUs in use per tenant, its own work and its sub-tenants', after the
 * result; a tenant over its limit where the result placed work of it (or of a
 * sub-tenant) is a violation. A "reclaim:" preemption must stop borrowed work:
 * its tenant held more than its quota just before. */
static void check_tenants(const tp_fleet_t *f, const tp_workloads_t *pending,
                          const tp_workloads_t *running, const tp_result_t *res,
                          report_t *r, long *use, char *grew)
{
    if (f->ntenants <= 0)
        return;
    for (int i = 0; i < running->n; i++)
        for (int t = running->w[i].tenant_ix - 1; t >= 0; t = f->tenants[t].parent)
            use[t] += running->w[i].gpus;
    for (int i = 0; i < res->npreemptions; i++) {
        const tp_preemption_t *p = &res->preemptions[i];
        if (p->workload < 0 || p->workload >= running->n)
            continue;
        const tp_workload_t *w = &running->w[p->workload];
        int t0 = w->tenant_ix - 1;
        if (!strncmp(p->why, "reclaim:", 8) &&
            (t0 < 0 || use[t0] <= f->tenants[t0].quota_gpus))
            violation(r, "reclaim preempted %s, which ran within its tenant's quota",
                      w->id);
        for (int t = t0; t >= 0; t = f->tenants[t].parent)
            use[t] -= w->gpus;
    }
    for (int i = 0; i < res->nplacements; i++) {
        const tp_placement_t *p = &res->placements[i];
        if (p->workload < 0 || p->workload >= pending->n)
            continue;
        for (int t = pending->w[p->workload].tenant_ix - 1; t >= 0;
             t = f->tenants[t].parent) {
            use[t] += p->gpus;
            grew[t] = 1;
        }
    }
    for (int t = 0; t < f->ntenants; t++)
        if (grew[t] && f->tenants[t].limit_gpus >= 0 && use[t] > f->tenants[t].limit_gpus)
            violation(r, "tenant %s uses %ld GPUs, over its limit %d", f->tenants[t].name,
                      use[t], f->tenants[t].limit_gpus);
}

/* Every pending workload is placed or listed as pending, with reasons. */
static void check_pending(const tp_workloads_t *pending, const tp_result_t *res,
                          const int *placed, char *listed, report_t *r)
{
    for (int i = 0; i < res->npending; i++) {
        const tp_pending_t *p = &res->pending[i];
        int sum = 0;
        if (p->workload < 0 || p->workload >= pending->n) {
            violation(r, "pending entry %d names no pending workload", i);
            continue;
        }
        if (placed[p->workload])
            violation(r, "workload %s both placed and pending",
                      pending->w[p->workload].id);
        listed[p->workload] = 1;
        for (int k = 0; k < TP_PRED_COUNT; k++)
            sum += p->reasons[k];
        if (sum == 0)
            violation(r, "pending workload %s carries no reasons",
                      pending->w[p->workload].id);
    }
    for (int i = 0; i < pending->n; i++)
        if (!placed[i] && !listed[i])
            violation(r, "workload %s neither placed nor pending", pending->w[i].id);
}

static int run(const tp_fleet_t *f, const tp_state_t *s, const tp_workloads_t *pending,
               const tp_workloads_t *running, const tp_result_t *res, int64_t now,
               report_t *r, int *used, double *node_w, double *dom_w, char *placed_on,
               char *dom_placed, int *placed, char *preempted, char *listed)
{
    /* Running work, with the BMC's draw where it is higher, then minus preemptions. */
    for (int n = 0; n < f->nnodes; n++)
        node_w[n] = f->nodes[n].idle_w;
    for (int i = 0; i < running->n; i++) {
        const tp_workload_t *w = &running->w[i];
        used[w->node] += w->gpus;
        node_w[w->node] += w->gpus * watts(f, w->node, w);
    }
    for (int n = 0; s && n < f->nnodes; n++)
        if (!isnan(s->nodes[n].draw_w) && s->nodes[n].draw_w > node_w[n])
            node_w[n] = s->nodes[n].draw_w;
    for (int i = 0; i < res->npreemptions; i++) {
        const tp_preemption_t *p = &res->preemptions[i];
        if (p->workload < 0 || p->workload >= running->n) {
            violation(r, "preemption %d names no running workload", i);
            continue;
        }
        const tp_workload_t *w = &running->w[p->workload];
        if (preempted[p->workload]++) {
            violation(r, "running workload %s preempted twice", w->id);
            continue;
        }
        if (p->node != w->node)
            violation(r, "preemption of %s names node %d, but it runs on %s", w->id,
                      p->node, f->nodes[w->node].id);
        if (!w->preemptible)
            violation(r, "non-preemptible workload %s preempted", w->id);
        used[w->node] -= w->gpus;
        node_w[w->node] -= w->gpus * watts(f, w->node, w);
    }
    for (int i = 0; i < res->nplacements; i++) {
        const tp_placement_t *p = &res->placements[i];
        if (p->workload < 0 || p->workload >= pending->n || p->node < 0 ||
            p->node >= f->nnodes) {
            violation(r, "placement %d names no pending workload or no node", i);
            continue;
        }
        const tp_workload_t *w = &pending->w[p->workload];
        const tp_node_t *n = &f->nodes[p->node];
        if (placed[p->workload]++ && (w->nodes < 2 || placed[p->workload] > w->nodes)) {
            violation(r, "workload %s placed twice", w->id);
            continue;
        }
        if (p->gpus != w->gpus)
            violation(r, "workload %s placed with %d GPUs, needs %d", w->id, p->gpus,
                      w->gpus);
        const char *why = security_breach(f, s, p->node, w, now);
        if (why)
            violation(r, "workload %s on node %s: %s", w->id, n->id, why);
        used[p->node] += w->gpus;
        node_w[p->node] += w->gpus * watts(f, p->node, w);
        placed_on[p->node] = 1;
    }
    /* Capacity and power. */
    for (int n = 0; n < f->nnodes; n++) {
        int healthy = s && s->nodes[n].gpus_healthy >= 0 ? s->nodes[n].gpus_healthy
                                                         : f->nodes[n].gpus;
        double cap = f->nodes[n].cap_w;
        if (s && !isnan(s->nodes[n].cap_w) && s->nodes[n].cap_w < cap)
            cap = s->nodes[n].cap_w;
        if (placed_on[n] && used[n] > healthy)
            violation(r, "node %s: %d GPUs in use, %d healthy", f->nodes[n].id, used[n],
                      healthy);
        if (node_w[n] > cap * (1 + 1e-9)) {
            if (placed_on[n])
                violation(r, "node %s: estimated draw %.1f W over its cap %.1f W",
                          f->nodes[n].id, node_w[n], cap);
            else if (r->out)
                r->out->over_cap_by_running++;
        }
        for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent) {
            dom_w[d] += node_w[n];
            if (placed_on[n])
                dom_placed[d] = 1; /* a placement lies under domain d */
        }
    }
    for (int d = 0; d < f->ndomains; d++) {
        double cap = f->domains[d].cap_w;
        if (s && !isnan(s->domain_cap_w[d]) && s->domain_cap_w[d] < cap)
            cap = s->domain_cap_w[d];
        if (dom_w[d] > cap * (1 + 1e-9)) {
            if (dom_placed[d])
                violation(r, "power domain %s: estimated draw %.1f W over its cap %.1f W",
                          f->domains[d].id, dom_w[d], cap);
            else if (r->out)
                r->out->over_cap_by_running++;
        }
    }
    check_pending(pending, res, placed, listed, r);
    check_gangs(f, pending, running, res, r, placed, preempted);
    return 0;
}

int tp_validate(const tp_fleet_t *f, const tp_state_t *s, const tp_workloads_t *pending,
                const tp_workloads_t *running, const tp_result_t *res, int64_t now,
                tp_violations_t *out)
{
    report_t r = {out, 0, 0};
    size_t nn = (size_t)f->nnodes, nd = (size_t)f->ndomains;
    size_t np = (size_t)pending->n + 1;
    int *used = calloc(nn, sizeof *used);
    double *node_w = calloc(nn, sizeof *node_w), *dom_w = calloc(nd, sizeof *dom_w);
    char *placed_on = calloc(nn, 1), *dom_placed = calloc(nd, 1);
    int *placed = calloc(np, sizeof *placed);
    char *preempted = calloc((size_t)running->n + 1, 1), *listed = calloc(np, 1);
    long *use = calloc((size_t)f->ntenants + 1, sizeof *use);
    char *grew = calloc((size_t)f->ntenants + 1, 1);
    int rc = TP_ENOMEM;
    if (used && node_w && dom_w && placed_on && dom_placed && placed && preempted &&
        listed && use && grew) {
        run(f, s, pending, running, res, now, &r, used, node_w, dom_w, placed_on,
            dom_placed, placed, preempted, listed);
        check_tenants(f, pending, running, res, &r, use, grew);
        rc = r.oom ? TP_ENOMEM : r.count;
    }
    free(use);
    free(grew);
    free(used);
    free(node_w);
    free(dom_w);
    free(placed_on);
    free(dom_placed);
    free(placed);
    free(preempted);
    free(listed);
    return rc;
}

/* ---- the incremental entry point: new decisions against a kept tally ---- */

static double node_draw(const tp_vtally_t *t, int n)
{
    if (!isnan(t->draw_w[n]) && t->draw_w[n] > t->run_w[n])
        return t->draw_w[n];
    return t->run_w[n];
}

tp_vtally_t *tp_vtally_new(const tp_fleet_t *f, const tp_state_t *s,
                           const tp_workloads_t *running)
{
    tp_vtally_t *t = calloc(1, sizeof *t);
    size_t nn = (size_t)f->nnodes + 1, nd = (size_t)f->ndomains + 1;
    if (!t)
        return NULL;
    t->nnodes = f->nnodes;
    t->ndomains = f->ndomains;
    t->used = calloc(nn, sizeof *t->used);
    t->run_w = calloc(nn, sizeof *t->run_w);
    t->draw_w = calloc(nn, sizeof *t->draw_w);
    t->dom_w = calloc(nd, sizeof *t->dom_w);
    if (!t->used || !t->run_w || !t->draw_w || !t->dom_w) {
        tp_vtally_free(t);
        return NULL;
    }
    for (int n = 0; n < f->nnodes; n++) {
        t->run_w[n] = f->nodes[n].idle_w;
        t->draw_w[n] = s ? s->nodes[n].draw_w : NAN;
    }
    for (int i = 0; running && i < running->n; i++) {
        const tp_workload_t *w = &running->w[i];
        t->used[w->node] += w->gpus;
        t->run_w[w->node] += w->gpus * watts(f, w->node, w);
    }
    for (int n = 0; n < f->nnodes; n++)
        for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
            t->dom_w[d] += node_draw(t, n);
    return t;
}

void tp_vtally_free(tp_vtally_t *t)
{
    if (!t)
        return;
    free(t->used);
    free(t->run_w);
    free(t->draw_w);
    free(t->dom_w);
    free(t);
}

void tp_vtally_move(tp_vtally_t *t, const tp_fleet_t *f, int node, const tp_workload_t *w,
                    int sign)
{
    double before = node_draw(t, node);
    t->used[node] += sign * w->gpus;
    t->run_w[node] += sign * w->gpus * watts(f, node, w);
    double delta = node_draw(t, node) - before;
    for (int d = f->nodes[node].domain; d >= 0; d = f->domains[d].parent)
        t->dom_w[d] += delta;
}

bool tp_validate_new_applies(const tp_fleet_t *f, const tp_workloads_t *pending,
                             const tp_result_t *res)
{
    if (res->npreemptions > 0 || f->ntenants > 0)
        return false;
    for (int i = 0; i < pending->n; i++)
        if (pending->w[i].nodes > 1)
            return false;
    return true;
}

int tp_validate_new(const tp_fleet_t *f, const tp_state_t *s, const tp_vtally_t *t,
                    const tp_workloads_t *pending, const tp_result_t *res, int64_t now,
                    tp_violations_t *out)
{
    report_t r = {out, 0, 0};
    size_t np = (size_t)pending->n + 1, nq = (size_t)res->nplacements + 1;
    size_t nn = (size_t)f->nnodes + 1, nd = (size_t)f->ndomains + 1;
    if (t->nnodes != f->nnodes || t->ndomains != f->ndomains)
        return TP_EINVAL;
    int *placed = calloc(np, sizeof *placed);
    char *listed = calloc(np, 1);
    /* The nodes the placements touch, each once (slot: its index + 1), with
     * what they add; then the domains above them, each once. */
    int *slot = calloc(nn, sizeof *slot), *nodes = malloc(nq * sizeof *nodes);
    int *gpus = calloc(nq, sizeof *gpus), *doms = malloc(nd * sizeof *doms);
    double *add_w = calloc(nq, sizeof *add_w), *dom_add = calloc(nd, sizeof *dom_add);
    char *dom_hit = calloc(nd, 1);
    int nt = 0, ntd = 0, rc = TP_ENOMEM;
    if (!placed || !listed || !slot || !nodes || !gpus || !doms || !add_w || !dom_add ||
        !dom_hit)
        goto out;
    if (res->npreemptions > 0)
        violation(&r,
                  "%d preemption(s): a result that stops running work is checked "
                  "whole, not against the tally",
                  res->npreemptions);
    if (f->ntenants > 0)
        violation(&r, "tenant quotas are checked whole, not against the tally");
    for (int i = 0; i < res->nplacements; i++) {
        const tp_placement_t *p = &res->placements[i];
        if (p->workload < 0 || p->workload >= pending->n || p->node < 0 ||
            p->node >= f->nnodes) {
            violation(&r, "placement %d names no pending workload or no node", i);
            continue;
        }
        const tp_workload_t *w = &pending->w[p->workload];
        if (w->nodes > 1)
            violation(&r, "gang %s is checked whole, not against the tally", w->id);
        if (placed[p->workload]++) {
            violation(&r, "workload %s placed twice", w->id);
            continue;
        }
        if (p->gpus != w->gpus)
            violation(&r, "workload %s placed with %d GPUs, needs %d", w->id, p->gpus,
                      w->gpus);
        const char *why = security_breach(f, s, p->node, w, now);
        if (why)
            violation(&r, "workload %s on node %s: %s", w->id, f->nodes[p->node].id, why);
        if (!slot[p->node]) {
            nodes[nt++] = p->node;
            slot[p->node] = nt;
        }
        gpus[slot[p->node] - 1] += w->gpus;
        add_w[slot[p->node] - 1] += w->gpus * watts(f, p->node, w);
    }
    /* Capacity and power of every touched node, then of every domain above one:
     * its tallied draw plus what the touched nodes beneath it add. */
    for (int k = 0; k < nt; k++) {
        int n = nodes[k];
        int healthy = s && s->nodes[n].gpus_healthy >= 0 ? s->nodes[n].gpus_healthy
                                                         : f->nodes[n].gpus;
        double cap = f->nodes[n].cap_w;
        if (s && !isnan(s->nodes[n].cap_w) && s->nodes[n].cap_w < cap)
            cap = s->nodes[n].cap_w;
        double run_w = t->run_w[n] + add_w[k];
        double draw = !isnan(t->draw_w[n]) && t->draw_w[n] > run_w ? t->draw_w[n] : run_w;
        if (t->used[n] + gpus[k] > healthy)
            violation(&r, "node %s: %d GPUs in use, %d healthy", f->nodes[n].id,
                      t->used[n] + gpus[k], healthy);
        if (draw > cap * (1 + 1e-9))
            violation(&r, "node %s: estimated draw %.1f W over its cap %.1f W",
                      f->nodes[n].id, draw, cap);
        for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent) {
            if (!dom_hit[d]++)
                doms[ntd++] = d;
            dom_add[d] += draw - node_draw(t, n);
        }
    }
    for (int k = 0; k < ntd; k++) {
        int d = doms[k];
        double dw = t->dom_w[d] + dom_add[d], cap = f->domains[d].cap_w;
        if (s && !isnan(s->domain_cap_w[d]) && s->domain_cap_w[d] < cap)
            cap = s->domain_cap_w[d];
        if (dw > cap * (1 + 1e-9))
            violation(&r, "power domain %s: estimated draw %.1f W over its cap %.1f W",
                      f->domains[d].id, dw, cap);
    }
    check_pending(pending, res, placed, listed, &r);
    rc = r.oom ? TP_ENOMEM : r.count;
out:
    free(placed);
    free(listed);
    free(slot);
    free(nodes);
    free(gpus);
    free(doms);
    free(add_w);
    free(dom_add);
    free(dom_hit);
    return rc;
}
