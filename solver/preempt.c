/*
 * solver/preempt.c — when observed caps fall below the draw of the running work
 * (a demand-response event, a lost rack feed), stop the least valuable
 * preemptible work until every cap holds again.
 *
 * Order: first every node over its own cap, then every domain over its cap,
 * deepest first (a rack before its row, a row before its site), so that a
 * domain only pays for what its children have not already shed. Within one
 * node or domain the victims are the preemptible running work beneath it by
 * priority ascending, then draw descending (fewer stops), then index. Stopping
 * may overshoot (the last victim may be larger than needed), so afterwards
 * every victim, highest priority first, is restarted in place if it fits again.
 * Non-preemptible work is never touched; a cap it alone exceeds is reported as
 * unmet rather than silently accepted.
 */
#include "solver/solver_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int prio;
    double watts;
    int idx;
} victim_t;

static int by_victim(const void *a, const void *b)
{
    const victim_t *x = a, *y = b;
    if (x->prio != y->prio)
        return x->prio < y->prio ? -1 : 1;
    if (x->watts != y->watts)
        return x->watts > y->watts ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int by_readmit(const void *a, const void *b)
{
    const victim_t *x = a, *y = b;
    if (x->prio != y->prio)
        return x->prio > y->prio ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

typedef struct {
    int ri;
    char why[96];
} stop_t;

static int push_str(char ***arr, int *n, const char *kind, const char *id)
{
    char **a = realloc(*arr, ((size_t)*n + 1) * sizeof *a);
    if (!a)
        return TP_ENOMEM;
    *arr = a;
    size_t len = strlen(kind) + strlen(id) + 2;
    if (!(a[*n] = malloc(len)))
        return TP_ENOMEM;
    snprintf(a[*n], len, "%s:%s", kind, id);
    (*n)++;
    return 0;
}

/* The nodes beneath each domain (CSR), only needed when some cap is exceeded. */
static int nodes_beneath(ctx_t *c)
{
    const tp_fleet_t *f = c->f;
    c->dn_off = calloc((size_t)f->ndomains + 2, sizeof *c->dn_off);
    if (!c->dn_off)
        return TP_ENOMEM;
    for (int n = 0; n < f->nnodes; n++)
        for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
            c->dn_off[d + 2]++;
    for (int d = 0; d < f->ndomains; d++)
        c->dn_off[d + 2] += c->dn_off[d + 1];
    c->dn = malloc(((size_t)c->dn_off[f->ndomains + 1] + 1) * sizeof *c->dn);
    if (!c->dn)
        return TP_ENOMEM;
    for (int n = 0; n < f->nnodes; n++)
        for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
            c->dn[c->dn_off[d + 1]++] = n;
    return 0;
}

int preempt_run(ctx_t *c, tp_result_t *r, char ***unmet, int *nunmet)
{
    const tp_fleet_t *f = c->f;
    const tp_workloads_t *run = c->running;
    int nr = run ? run->n : 0, nstops = 0, rc = TP_ENOMEM;
    int *r_off = calloc((size_t)f->nnodes + 1, sizeof *r_off);
    int *r_mem = malloc(((size_t)nr + 1) * sizeof *r_mem);
    int *dorder = malloc(((size_t)f->ndomains + 1) * sizeof *dorder);
    victim_t *v = malloc(((size_t)(nr > f->ndomains ? nr : f->ndomains) + 1) * sizeof *v);
    stop_t *stops = malloc(((size_t)nr + 1) * sizeof *stops);
    tp_load_t *l = c->base;
    bool any = false;
    *unmet = NULL;
    *nunmet = 0;
    c->preempted = calloc((size_t)nr + 1, 1);
    for (int n = 0; n < f->nnodes && !any; n++)
        any = ctx_over(l->node_w[n], c->ncap[n]);
    for (int d = 0; d < f->ndomains && !any; d++)
        any = ctx_over(l->domain_w[d], c->dcap[d]);
    if (!any) { /* the common case: every cap holds */
        rc = c->preempted ? 0 : TP_ENOMEM;
        goto out;
    }
    if (!r_off || !r_mem || !dorder || !v || !stops || !c->preempted ||
        nodes_beneath(c) < 0)
        goto out;
    /* Running work by node (CSR, ascending). */
    for (int i = 0; i < nr; i++)
        r_off[run->w[i].node + 1]++;
    for (int n = 0; n < f->nnodes; n++)
        r_off[n + 1] += r_off[n];
    {
        int *fill = malloc(((size_t)f->nnodes + 1) * sizeof *fill);
        if (!fill)
            goto out;
        memcpy(fill, r_off, (size_t)f->nnodes * sizeof *fill);
        for (int i = 0; i < nr; i++)
            r_mem[fill[run->w[i].node]++] = i;
        free(fill);
    }
    /* Nodes over their cap, then domains deepest first. */
    for (int d = 0; d < f->ndomains; d++)
        v[d] = (victim_t){f->domains[d].depth, 0, d};
    qsort(v, (size_t)f->ndomains, sizeof *v, by_readmit);
    for (int d = 0; d < f->ndomains; d++)
        dorder[d] = v[d].idx;
    for (int e = 0; e < f->nnodes + f->ndomains; e++) {
        bool node = e < f->nnodes;
        int id = node ? e : -1, nv = 0;
        if (!node)
            id = dorder[e - f->nnodes];
        double *draw = node ? &l->node_w[id] : &l->domain_w[id];
        double cap = node ? c->ncap[id] : c->dcap[id];
        if (!ctx_over(*draw, cap))
            continue;
        int lo = node ? id : c->dn_off[id], hi = node ? id + 1 : c->dn_off[id + 1];
        for (int a = lo; a < hi; a++) {
            int n = node ? a : c->dn[a];
            for (int b = r_off[n]; b < r_off[n + 1]; b++) {
                const tp_workload_t *w = &run->w[r_mem[b]];
                if (w->preemptible && !c->preempted[r_mem[b]])
                    v[nv++] =
                        (victim_t){w->priority, tp_policy_work_w(f, n, w), r_mem[b]};
            }
        }
        qsort(v, (size_t)nv, sizeof *v, by_victim);
        for (int i = 0; i < nv && ctx_over(*draw, cap); i++) {
            const tp_workload_t *w = &run->w[v[i].idx];
            c->preempted[v[i].idx] = 1;
            tp_load_apply(l, f, w->node, w->gpus,
                          tp_fleet_gpu_watts(f, w->node, w->model), -1);
            stops[nstops].ri = v[i].idx;
            snprintf(stops[nstops].why, sizeof stops[nstops].why, "%s:%s",
                     node ? "power_node" : "power_domain",
                     node ? f->nodes[id].id : f->domains[id].id);
            nstops++;
        }
    }
    /* Restart in place what fits again, most important first. */
    {
        int nv = 0;
        for (int i = 0; i < nstops; i++) {
            const tp_workload_t *w = &run->w[stops[i].ri];
            v[nv++] = (victim_t){w->priority, 0, stops[i].ri};
        }
        qsort(v, (size_t)nv, sizeof *v, by_readmit);
        for (int i = 0; i < nv; i++) {
            const tp_workload_t *w = &run->w[v[i].idx];
            if (ctx_fits(c, l, w, w->node)) {
                c->preempted[v[i].idx] = 0;
                tp_load_apply(l, f, w->node, w->gpus,
                              tp_fleet_gpu_watts(f, w->node, w->model), +1);
            }
        }
    }
    for (int i = 0; i < nstops; i++)
        if (c->preempted[stops[i].ri] &&
            tp_result_add_preemption(r, stops[i].ri, run->w[stops[i].ri].node,
                                     stops[i].why) < 0)
            goto out;
    /* What still exceeds a cap: only non-preemptible work (or idle draw) is left. */
    for (int n = 0; n < f->nnodes; n++)
        if (ctx_over(l->node_w[n], c->ncap[n]) &&
            push_str(unmet, nunmet, "power_node", f->nodes[n].id) < 0)
            goto out;
    for (int d = 0; d < f->ndomains; d++)
        if (ctx_over(l->domain_w[d], c->dcap[d]) &&
            push_str(unmet, nunmet, "power_domain", f->domains[d].id) < 0)
            goto out;
    rc = 0;
out:
    free(r_off);
    free(r_mem);
    free(dorder);
    free(v);
    free(stops);
    return rc;
}
