/*
 * cli/cmd_gen.c — `trustplace gen-fleet`, `gen-workloads`, `gen-state`: write
 * synthetic inputs (see gen/gen.h) to stdout or --out.
 */
#include "cli/commands.h"
#include "cli/inputs.h"
#include "gen/gen.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *config, *out, *regions, *now;
    long long nodes, count, seed, tenants, gang_pct;
} gen_args_t;

/* Parses the options a generator accepts (`allowed` lists their letters). */
static int parse(int argc, char **argv, const char *allowed, const char *usage,
                 gen_args_t *a)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"out", required_argument, 0, 'o'},
                                         {"regions", required_argument, 0, 'r'},
                                         {"nodes", required_argument, 0, 'n'},
                                         {"count", required_argument, 0, 'k'},
                                         {"seed", required_argument, 0, 's'},
                                         {"now", required_argument, 0, 't'},
                                         {"tenants", required_argument, 0, 'T'},
                                         {"gang-percent", required_argument, 0, 'g'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    a->nodes = a->count = -1;
    a->seed = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            printf("%s", usage);
            return 1;
        }
        if (c == '?' || !strchr(allowed, c)) {
            if (c != '?')
                fprintf(stderr, "trustplace %s: option not accepted here\n", argv[0]);
            fprintf(stderr, "%s", usage);
            return -1;
        }
        long long v = 0;
        if (strchr("nksTg", c) && (v = tp_parse_count(optarg)) < 0) {
            fprintf(stderr,
                    "trustplace %s: expected a non-negative integer, got \"%s\"\n",
                    argv[0], optarg);
            return -1;
        }
        switch (c) {
        case 'c':
            a->config = optarg;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'r':
            a->regions = optarg;
            break;
        case 'n':
            a->nodes = v;
            break;
        case 'k':
            a->count = v;
            break;
        case 's':
            a->seed = v;
            break;
        case 't':
            a->now = optarg;
            break;
        case 'T':
            a->tenants = v;
            break;
        case 'g':
            a->gang_pct = v;
            break;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "trustplace %s: unexpected argument \"%s\"\n%s", argv[0],
                argv[optind], usage);
        return -1;
    }
    return 0;
}

static int emit(json_t *doc, const char *out, const tp_error_t *err)
{
    FILE *f;
    int rc;
    if (!doc) {
        fprintf(stderr, "trustplace: %s\n", err->text);
        return TP_EXIT_INPUT;
    }
    if (!(f = tp_out_open(out))) {
        json_decref(doc);
        return TP_EXIT_INPUT;
    }
    rc = tp_gen_write(f, doc);
    json_decref(doc);
    return tp_out_close(f, out) < 0 || rc < 0 ? TP_EXIT_INPUT : TP_EXIT_OK;
}

int tp_cmd_gen_fleet(int argc, char **argv)
{
    static const char usage[] =
        "usage: trustplace gen-fleet --nodes N [--seed S] [--regions R1,R2,…] "
        "[--tenants T] [--out F]\n"
        "A synthetic fleet: one site per region, rows of 8 racks, 8 nodes per rack of\n"
        "one server type (H100, H200, A100, L40S, MI300X), caps that bind, a mix of\n"
        "TEEs and GPU CC, the four standard policy classes and efficiency profiles.\n"
        "Regions: eu-de eu-fr eu-nl eu-se uk-south us-east us-west ap-jp ap-sg\n"
        "ca-central, or NAME:CC. Default eu-de,eu-fr,us-east; seed 1. Domains carry\n"
        "their kind (site, row, rack). --tenants T: policy.tenants, T tenants in\n"
        "groups of five, quotas sharing half the GPUs, limits 1.5 x quota.\n";
    gen_args_t a = {0};
    tp_error_t err = {0};
    int rc = parse(argc, argv, "onrsT", usage, &a);
    if (rc)
        return rc > 0 ? TP_EXIT_OK : TP_EXIT_INPUT;
    if (a.nodes < 1 || a.nodes > 1000000) {
        fprintf(stderr, "trustplace gen-fleet: --nodes N (1..1000000) is required\n");
        return TP_EXIT_INPUT;
    }
    if (a.tenants > 1000) {
        fprintf(stderr, "trustplace gen-fleet: --tenants: expected 0..1000\n");
        return TP_EXIT_INPUT;
    }
    tp_gen_fleet_opts_t o = {(int)a.nodes, (uint64_t)a.seed, a.regions, (int)a.tenants};
    return emit(tp_gen_fleet(&o, &err), a.out, &err);
}

int tp_cmd_gen_workloads(int argc, char **argv)
{
    static const char usage[] =
        "usage: trustplace gen-workloads --config F --count N [--seed S] "
        "[--gang-percent P] [--out F]\n"
        "Pending workloads for the fleet F: sizes 1/2/4/8 GPUs, every policy class,\n"
        "residency for residency-bound classes, some GPU-model restrictions, the\n"
        "fleet's tenants when it declares some. --gang-percent P: P% are gangs of\n"
        "2-16 nodes x 8 (or 4) GPUs, together: rack (row above the largest rack).\n";
    gen_args_t a = {0};
    tp_error_t err = {0};
    tp_fleet_t *f;
    int rc = parse(argc, argv, "cks og", usage, &a);
    if (rc)
        return rc > 0 ? TP_EXIT_OK : TP_EXIT_INPUT;
    if (!a.config || a.count < 0 || a.count > 10000000 || a.gang_pct > 100) {
        fprintf(stderr, "trustplace gen-workloads: --config F and --count N are required "
                        "(--gang-percent 0..100)\n");
        return TP_EXIT_INPUT;
    }
    if (tp_fleet_load(a.config, &f, &err) < 0) {
        fprintf(stderr, "trustplace: %s\n", err.text);
        return TP_EXIT_INPUT;
    }
    rc = emit(tp_gen_workloads_gangs(f, (int)a.count, (uint64_t)a.seed,
                                     a.gang_pct / 100.0, &err),
              a.out, &err);
    tp_fleet_free(f);
    return rc;
}

int tp_cmd_gen_state(int argc, char **argv)
{
    static const char usage[] =
        "usage: trustplace gen-state --config F [--seed S] [--now T] [--out F]\n"
        "An observed state for the fleet F at time T (default 1795000000): mostly\n"
        "fresh affirming attestations, some warning, contraindicated, stale and\n"
        "missing ones, failed GPUs, lowered caps, BMCs without a country and a few\n"
        "that contradict the declared region.\n";
    gen_args_t a = {0};
    tp_error_t err = {0};
    tp_fleet_t *f;
    long long now = TP_GEN_DEFAULT_NOW;
    int rc = parse(argc, argv, "csto", usage, &a);
    if (rc)
        return rc > 0 ? TP_EXIT_OK : TP_EXIT_INPUT;
    if (!a.config) {
        fprintf(stderr, "trustplace gen-state: --config F is required\n");
        return TP_EXIT_INPUT;
    }
    if (a.now && ((now = tp_parse_count(a.now)) < 0 || now > (1LL << 40))) {
        fprintf(stderr, "trustplace gen-state: --now: expected Unix seconds\n");
        return TP_EXIT_INPUT;
    }
    if (tp_fleet_load(a.config, &f, &err) < 0) {
        fprintf(stderr, "trustplace: %s\n", err.text);
        return TP_EXIT_INPUT;
    }
    rc = emit(tp_gen_state(f, (uint64_t)a.seed, now, &err), a.out, &err);
    tp_fleet_free(f);
    return rc;
}
