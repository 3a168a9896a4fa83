/*
 * cli/cmd_explain.c — `trustplace check-config` and `trustplace explain`: what the
 * fleet holds, and for each workload how many nodes are eligible and why the
 * others are not.
 */
#include "cli/commands.h"
#include "cli/inputs.h"
#include "policy/policy.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ---- check-config ------------------------------------------------------------------ */

static void describe_req(const tp_req_t *q, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
#define ADD(...) o += (size_t)snprintf(buf + o, o < len ? len - o : 0, __VA_ARGS__)
    if (q->tee_mask) {
        ADD("cpu_tee ");
        for (int t = 0, first = 1; t < TP_TEE_COUNT; t++)
            if (q->tee_mask & (1u << t)) {
                ADD("%s%s", first ? "" : "|", tp_tee_name((tp_tee_t)t));
                first = 0;
            }
        ADD(", ");
    }
    if (q->gpu_cc)
        ADD("gpu_cc, ");
    if (q->attestation) {
        ADD("attestation >= %s", tp_att_status_name(q->min_status));
        if (q->max_age_s)
            ADD(" within %lld s", (long long)q->max_age_s);
        ADD(", ");
    }
    if (q->residency == TP_RESIDENCY_DECLARED)
        ADD("residency, ");
    else if (q->residency == TP_RESIDENCY_VERIFIED)
        ADD("residency (BMC-verified), ");
#undef ADD
    if (o >= 2 && o < len)
        buf[o - 2] = '\0';
    else if (o == 0)
        snprintf(buf, len, "no requirements");
}

static void summarise(const tp_fleet_t *f)
{
    char a[32], b[32], req[256];
    long long gpus = 0;
    int roots = 0, depth = 0, tee[TP_TEE_COUNT] = {0}, cc = 0;
    for (int n = 0; n < f->nnodes; n++) {
        gpus += f->nodes[n].gpus;
        tee[f->nodes[n].cpu_tee]++;
        cc += f->nodes[n].gpu_cc;
    }
    printf("%s: valid\n", f->source);
    printf("  nodes        %s (%s GPUs)\n", tp_fmt_int(a, f->nnodes),
           tp_fmt_int(b, gpus));
    printf("  GPU models  ");
    for (int m = 0; m < f->ngpu_models; m++) {
        int nn = 0, ng = 0;
        for (int n = 0; n < f->nnodes; n++)
            if (f->nodes[n].gpu_model == m) {
                nn++;
                ng += f->nodes[n].gpus;
            }
        if (nn)
            printf(" %s %s nodes/%s GPUs;", f->gpu_models[m], tp_fmt_int(a, nn),
                   tp_fmt_int(b, ng));
    }
    printf("\n  declared TEE ");
    for (int t = 0; t < TP_TEE_COUNT; t++)
        if (tee[t])
            printf("%s %s; ", tp_tee_name((tp_tee_t)t), tp_fmt_int(a, tee[t]));
    printf("gpu_cc %s (claims; attestation decides)\n", tp_fmt_int(a, cc));
    printf("  regions     ");
    for (int r = 0; r < f->nregions; r++) {
        int nn = 0;
        for (int n = 0; n < f->nnodes; n++)
            nn += f->nodes[n].region == r;
        printf(" %s (", f->regions[r].id);
        for (int c = 0; c < f->regions[r].ncountries; c++)
            printf("%s%s", c ? "," : "", f->regions[r].countries[c]);
        printf(") %s nodes;", tp_fmt_int(a, nn));
    }
    for (int d = 0; d < f->ndomains; d++) {
        roots += f->domains[d].parent < 0;
        if (f->domains[d].depth > depth)
            depth = f->domains[d].depth;
    }
    printf("\n  power        %s domains, %d root%s, depth %d;",
           tp_fmt_int(a, f->ndomains), roots, roots == 1 ? "" : "s", depth + 1);
    for (int d = 0; d < f->ndomains; d++)
        if (f->domains[d].parent < 0)
            printf(" %s cap %s W;", f->domains[d].id,
                   tp_fmt_int(a, (long long)f->domains[d].cap_w));
    printf("\n  classes\n");
    for (int c = 0; c < f->nclasses; c++) {
        describe_req(&f->classes[c].req, req, sizeof req);
        printf("    %-14s %s\n", f->classes[c].name, req);
    }
    printf("  profiles     %d (%d models)\n", f->nprofiles, f->nmodels);
}

static void check_usage(FILE *out)
{
    fprintf(out,
            "usage: trustplace check-config FILE [--state S] [--workloads W] "
            "[--running R]\n"
            "Validates a fleet file (and optionally state and workload files against\n"
            "it). Exit 0 with a summary when valid; exit 2 with the error otherwise.\n");
}

int tp_cmd_check_config(int argc, char **argv)
{
    static const struct option opts[] = {{"state", required_argument, 0, 's'},
                                         {"workloads", required_argument, 0, 'w'},
                                         {"running", required_argument, 0, 'r'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    tp_inputs_t in = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            in.state_path = optarg;
            break;
        case 'w':
            in.workloads_path = optarg;
            break;
        case 'r':
            in.running_path = optarg;
            break;
        case 'h':
            check_usage(stdout);
            return TP_EXIT_OK;
        default:
            check_usage(stderr);
            return TP_EXIT_INPUT;
        }
    }
    if (optind != argc - 1) {
        check_usage(stderr);
        return TP_EXIT_INPUT;
    }
    in.config = argv[optind];
    if (tp_inputs_load(&in) < 0)
        return TP_EXIT_INPUT;
    if ((c = tp_check_collectors(in.fleet)) != TP_EXIT_OK) {
        tp_inputs_fini(&in);
        return c;
    }
    summarise(in.fleet);
    tp_check_collectors_summary(in.fleet);
    if (in.state_path)
        printf("  state        %s: valid\n", in.state_path);
    if (in.workloads_path)
        printf("  workloads    %s: valid, %d pending\n", in.workloads_path,
               in.pending->n);
    if (in.running_path)
        printf("  running      %s: valid, %d running\n", in.running_path, in.running->n);
    tp_inputs_fini(&in);
    return TP_EXIT_OK;
}

/* ---- explain -------------------------------------------------------------------------
 */

static void explain_usage(FILE *out)
{
    fprintf(
        out,
        "usage: trustplace explain --config F [--state S] --workloads W [--running R]\n"
        "                          [--workload ID] [--now T] [--json]\n"
        "For each workload: how many nodes are eligible now, and how many fail each\n"
        "predicate (a node may fail several). Capacity and power are judged against\n"
        "the running work (--running) and the observed draw. --now defaults to the\n"
        "state's observed_at, else the current time.\n");
}

static void explain_text(const tp_inputs_t *in, int wi, int eligible, const int *counts)
{
    const tp_workload_t *w = &in->pending->w[wi];
    char a[32], b[32];
    int order[TP_PRED_COUNT], k = 0;
    for (int p = 0; p < TP_PRED_COUNT; p++)
        if (counts[p])
            order[k++] = p;
    /* Largest count first; ties in FORMATS.md order (insertion sort keeps it). */
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && counts[order[j]] > counts[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    if (tp_wl_nodes(w) > 1)
        printf("%s (%s, gang of %d nodes × %d GPU%s): %s/%s nodes eligible per member",
               w->id, in->fleet->classes[w->cls].name, tp_wl_nodes(w), w->gpus,
               w->gpus == 1 ? "" : "s", tp_fmt_int(a, eligible),
               tp_fmt_int(b, in->fleet->nnodes));
    else
        printf("%s (%s, %d GPU%s): %s/%s nodes eligible", w->id,
               in->fleet->classes[w->cls].name, w->gpus, w->gpus == 1 ? "" : "s",
               tp_fmt_int(a, eligible), tp_fmt_int(b, in->fleet->nnodes));
    for (int i = 0; i < k; i++)
        printf("%s %s %s", i ? "," : ":", tp_fmt_int(a, counts[order[i]]),
               tp_pred_name((tp_pred_t)order[i]));
    printf("\n");
}

static json_t *explain_json(const tp_inputs_t *in, int wi, int eligible,
                            const int *counts)
{
    const tp_workload_t *w = &in->pending->w[wi];
    json_t *reasons = json_object();
    for (int p = 0; p < TP_PRED_COUNT; p++)
        if (counts[p])
            json_object_set_new(reasons, tp_pred_name((tp_pred_t)p),
                                json_integer(counts[p]));
    json_t *o =
        json_pack("{s:s, s:s, s:i, s:i, s:i, s:o}", "workload", w->id, "sensitivity",
                  in->fleet->classes[w->cls].name, "gpus", w->gpus, "eligible", eligible,
                  "nodes", in->fleet->nnodes, "reasons", reasons);
    if (o && tp_wl_nodes(w) > 1)
        json_object_set_new(o, "members", json_integer(tp_wl_nodes(w)));
    return o;
}

/* Workload-level reasons on top of the per-node counts: a gang whose eligible
 * nodes no single domain of its `together` kind holds enough of
 * (gang_topology), and a tenant already at its limit (tenant_limit), both
 * against the running work alone. */
static void explain_side(const tp_inputs_t *in, const tp_load_t *load, const long *use,
                         const tp_workload_t *w, int eligible, int *counts)
{
    const tp_fleet_t *f = in->fleet;
    int need = tp_wl_nodes(w), kind = tp_wl_together(w);
    long room = 1L << 40;
    for (int t = tp_wl_tenant(w); t >= 0; t = f->tenants[t].parent)
        if (f->tenants[t].limit_gpus >= 0 && f->tenants[t].limit_gpus - use[t] < room)
            room = f->tenants[t].limit_gpus - use[t];
    if (room < (long)need * w->gpus)
        counts[TP_PRED_TENANT_LIMIT] = f->nnodes;
    if (need < 2 || eligible == 0)
        return;
    bool fits = kind < 0 && eligible >= need;
    for (int d = 0; kind >= 0 && d < f->ndomains && !fits; d++) {
        int k = 0;
        if (f->domains[d].kind != kind)
            continue;
        for (int n = 0; n < f->nnodes; n++)
            k += tp_fleet_node_domain_of_kind(f, n, kind) == d &&
                 tp_policy_check(f, in->state, load, n, w, in->now) == 0;
        fits = k >= need;
    }
    if (!fits)
        counts[TP_PRED_GANG_TOPOLOGY] = eligible;
}

int tp_cmd_explain(int argc, char **argv)
{
    static const struct option opts[] = {TP_INPUT_LONG_OPTIONS,
                                         {"workload", required_argument, 0, 'i'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    tp_inputs_t in = {0};
    const char *only = NULL;
    int c, json = 0, rc = TP_EXIT_OK, with = 0, shown = 0;
    tp_load_t *load = NULL;
    long *use = NULL;
    json_t *list = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (tp_inputs_option(&in, c, optarg))
            continue;
        switch (c) {
        case 'i':
            only = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            explain_usage(stdout);
            return TP_EXIT_OK;
        default:
            explain_usage(stderr);
            return TP_EXIT_INPUT;
        }
    }
    if (!in.config || !in.workloads_path || optind != argc) {
        fprintf(stderr, "trustplace explain: --config and --workloads are required\n");
        explain_usage(stderr);
        return TP_EXIT_INPUT;
    }
    if (tp_inputs_load(&in) < 0)
        return TP_EXIT_INPUT;
    if (only && tp_workloads_find(in.pending, only) < 0) {
        fprintf(stderr, "trustplace explain: no workload \"%s\" in %s\n", only,
                in.workloads_path);
        rc = TP_EXIT_INPUT;
        goto out;
    }
    if (!(load = tp_load_new(in.fleet, in.state, in.running)) ||
        !(use = calloc((size_t)in.fleet->ntenants + 1, sizeof *use)) ||
        (json && !(list = json_array()))) {
        fprintf(stderr, "trustplace: out of memory\n");
        rc = TP_EXIT_INPUT;
        goto out;
    }
    for (int i = 0; in.running && i < in.running->n; i++)
        for (int t = tp_wl_tenant(&in.running->w[i]); t >= 0;
             t = in.fleet->tenants[t].parent)
            use[t] += in.running->w[i].gpus;
    for (int i = 0; i < in.pending->n; i++) {
        int counts[TP_PRED_COUNT];
        if (only && strcmp(only, in.pending->w[i].id) != 0)
            continue;
        int eligible =
            tp_policy_count(in.fleet, in.state, load, &in.pending->w[i], in.now, counts);
        explain_side(&in, load, use, &in.pending->w[i], eligible, counts);
        with += eligible > 0;
        shown++;
        if (json)
            json_array_append_new(list, explain_json(&in, i, eligible, counts));
        else
            explain_text(&in, i, eligible, counts);
    }
    if (json) {
        json_t *doc = json_pack("{s:I, s:i, s:o}", "now", (json_int_t)in.now, "nodes",
                                in.fleet->nnodes, "workloads", list);
        list = NULL;
        if (!doc || json_dumpf(doc, stdout, JSON_INDENT(2)) < 0)
            rc = TP_EXIT_INPUT;
        printf("\n");
        json_decref(doc);
    } else if (shown > 1) {
        char a[32], b[32], d[32];
        printf("%s workloads: %s with eligible nodes now, %s with none (at t=%lld)\n",
               tp_fmt_int(a, shown), tp_fmt_int(b, with), tp_fmt_int(d, shown - with),
               (long long)in.now);
    }
out:
    json_decref(list);
    free(use);
    tp_load_free(load);
    tp_inputs_fini(&in);
    return rc;
}
