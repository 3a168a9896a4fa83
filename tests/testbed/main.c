/*
 * tests/testbed/main.c — `tp-testbed`: the emulated BMC farm and verifier as a
 * program, for the CLI tests, the collector benchmark and `make run`'s demo.
 *
 *   tp-testbed --fleet IN.json --fleet-out OUT.json [options]
 *
 * starts one virtual BMC per node of IN (127.0.0.1, one port each) and the
 * verifier, then writes OUT: IN with every node's bmc.url pointing at its
 * virtual BMC and a complete "collectors" section (credentials file, the
 * verifier's URL template and pinned JWKS, written beside OUT), so that
 * `trustplace collect --config OUT --once` runs against it. It writes --ready
 * FILE when serving, and stops on SIGINT/SIGTERM or after --duration seconds
 * (default 600: it never outlives a forgotten test).
 */
#include "model/model.h"
#include "tests/testbed/testbed.h"
#include "util/file.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: tp-testbed --fleet IN.json --fleet-out OUT.json [options]\n"
        "  --mockups DIR        serve DMTF/vendor mockups from DIR (round robin over "
        "the\n"
        "                       single-system ones) instead of generated trees\n"
        "  --latency MS[,JIT]   response latency, uniform in MS ± JIT (default 0)\n"
        "  --error-rate P       random 500s (0..1)       --malformed-rate P  truncated "
        "bodies\n"
        "  --hang-rate P        random requests never answered\n"
        "  --auth               require credentials (admin/secret; Basic or sessions)\n"
        "  --cap-change S       generated caps drop by 10%% steps every S seconds\n"
        "  --fault NODE=KIND    hang|500|truncated|404member|login|down|stale|xorigin|"
        "slow|moved\n"
        "                       (repeatable; stale: logins succeed, every token is\n"
        "                       answered 401; xorigin: the session Location is the\n"
        "                       next BMC's; slow: every answer 1 s late; moved:\n"
        "                       EnvironmentMetrics at a new URI, the old one 404)\n"
        "  --session-ttl MS     a session's token is answered 401 MS after its login\n"
        "  --tls CERT[,KEY]     the BMCs speak HTTPS with this PEM chain and key\n"
        "                       (OUT's bmc URLs are https://127.0.0.1:PORT)\n"
        "  --att NODE=KIND      "
        "expired|wrongkey|unknownkid|contraindicated|warning|missing|\n"
        "                       othernode|unnamed|badnonce\n"
        "  --no-verifier        no emulated verifier\n"
        "  --no-expand          generated trees neither advertise nor honour $expand\n"
        "  --collect-timeout-ms MS, --global-concurrency N, --retries N: written into\n"
        "                       OUT's collectors section\n"
        "  --port-base P        ports P, P+1, … instead of kernel-assigned ones\n"
        "  --ready FILE         written once serving: {\"pid\", \"verifier_port\", "
        "\"bmcs\"}\n"
        "  --duration S         stop after S seconds (default 600, at most 86400)\n"
        "  --seed S\n");
}

static int parse_fault(const char *s)
{
    static const char *const names[] = {"none",      "hang",  "500",  "truncated",
                                        "404member", "login", "down", "stale",
                                        "xorigin",   "slow",  "moved"};
    for (int i = 0; i < 11; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

static int parse_att(const char *s)
{
    static const char *const names[] = {
        "good",    "expired", "wrongkey",  "unknownkid", "contraindicated",
        "warning", "missing", "othernode", "unnamed",    "badnonce"};
    for (int i = 0; i < 10; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

typedef struct {
    char node[64];
    int kind;
} knob_t;

static int add_knob(knob_t **k, int *n, const char *arg, int (*parse)(const char *))
{
    const char *eq = strchr(arg, '=');
    knob_t *p;
    if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof p->node || parse(eq + 1) < 0)
        return -1;
    p = realloc(*k, (size_t)(*n + 1) * sizeof *p);
    if (!p)
        return -1;
    *k = p;
    snprintf(p[*n].node, sizeof p[*n].node, "%.*s", (int)(eq - arg), arg);
    p[*n].kind = parse(eq + 1);
    (*n)++;
    return 0;
}

/* Path of a file beside `out`: OUT minus ".json", plus suffix. */
static void beside(char *dst, size_t len, const char *out, const char *suffix)
{
    size_t n = strlen(out);
    if (n > 5 && !strcmp(out + n - 5, ".json"))
        n -= 5;
    snprintf(dst, len, "%.*s%s", (int)n, out, suffix);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Through a mkstemp() temporary and rename(): never a predictable name, never
 * through a symlink, and a reader polling for the file sees it whole. */
static int write_file(const char *path, const char *text)
{
    tp_error_t err = {0};
    char *tmp;
    FILE *f = tp_file_replace_open(path, &tmp, &err);
    if (!f || tp_file_replace_close(f, tmp, path, fputs(text, f) >= 0, &err) != 0) {
        fprintf(stderr, "tp-testbed: %s\n", err.text);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"fleet", required_argument, 0, 'f'},
        {"fleet-out", required_argument, 0, 'o'},
        {"mockups", required_argument, 0, 'm'},
        {"latency", required_argument, 0, 'l'},
        {"error-rate", required_argument, 0, 'e'},
        {"malformed-rate", required_argument, 0, 'M'},
        {"hang-rate", required_argument, 0, 'H'},
        {"auth", no_argument, 0, 'a'},
        {"cap-change", required_argument, 0, 'c'},
        {"fault", required_argument, 0, 'F'},
        {"att", required_argument, 0, 'A'},
        {"no-verifier", no_argument, 0, 'V'},
        {"no-expand", no_argument, 0, 'X'},
        {"collect-timeout-ms", required_argument, 0, 'T'},
        {"global-concurrency", required_argument, 0, 'G'},
        {"retries", required_argument, 0, 'R'},
        {"port-base", required_argument, 0, 'p'},
        {"ready", required_argument, 0, 'r'},
        {"duration", required_argument, 0, 'd'},
        {"seed", required_argument, 0, 's'},
        {"session-ttl", required_argument, 0, 'S'},
        {"tls", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *fleet_path = NULL, *out_path = NULL, *mockups = NULL, *ready = NULL;
    tb_opts_t o = {0};
    knob_t *faults = NULL, *atts = NULL;
    int nfaults = 0, natts = 0, c, rc = 2, timeout_ms = 10000, gconc = 8192, retries = 2;
    long duration = 600;
    tp_fleet_t *f = NULL;
    tp_error_t err = {0};
    tb_bmc_t *bmcs = NULL;
    tb_t *tb = NULL;
    json_t *doc = NULL, *nodes, *node, *vers, *coll;
    char errbuf[512], cred_path[1024], jwks_path[1024], tls_cert[1024] = "";
    const char *tls_key = NULL;
    static const char *const single_system[] = {
        "dmtf-public-rackmount1", "dmtf-public-liquid-cooled-server", "dmtf-public-tower",
        "gigabyte-h262-ami", "hpe-cray-ex235a"};
    sigset_t sigs;
    size_t i;
    o.verifier = true;
    o.seed = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fleet_path = optarg;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'm':
            mockups = optarg;
            break;
        case 'l':
            if (sscanf(optarg, "%lf,%lf", &o.latency_ms, &o.jitter_ms) < 1)
                goto bad;
            break;
        case 'e':
            o.error_rate = atof(optarg);
            break;
        case 'M':
            o.malformed_rate = atof(optarg);
            break;
        case 'H':
            o.hang_rate = atof(optarg);
            break;
        case 'a':
            o.auth = true;
            break;
        case 'c':
            o.cap_change_s = atoi(optarg);
            break;
        case 'F':
            if (add_knob(&faults, &nfaults, optarg, parse_fault) < 0)
                goto bad;
            break;
        case 'A':
            if (add_knob(&atts, &natts, optarg, parse_att) < 0)
                goto bad;
            break;
        case 'V':
            o.verifier = false;
            break;
        case 'X':
            o.no_expand = true;
            break;
        case 'T':
            timeout_ms = atoi(optarg);
            break;
        case 'G':
            gconc = atoi(optarg);
            break;
        case 'R':
            retries = atoi(optarg);
            break;
        case 'p':
            o.port_base = (uint16_t)atoi(optarg);
            break;
        case 'r':
            ready = optarg;
            break;
        case 'd':
            duration = atol(optarg);
            break;
        case 's':
            o.seed = strtoull(optarg, NULL, 10);
            break;
        case 'S':
            o.session_ttl_ms = atoi(optarg);
            if (o.session_ttl_ms < 1)
                goto bad;
            break;
        case 't': {
            const char *comma = strchr(optarg, ',');
            size_t cl = comma ? (size_t)(comma - optarg) : strlen(optarg);
            if (!cl || cl >= sizeof tls_cert)
                goto bad;
            memcpy(tls_cert, optarg, cl);
            tls_cert[cl] = '\0';
            tls_key = comma ? comma + 1 : tls_cert;
            o.tls_cert = tls_cert;
            o.tls_key = tls_key;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            goto bad;
        }
    }
    if (!fleet_path || !out_path || optind != argc || duration < 1 || duration > 86400)
        goto bad;
    if (tp_fleet_load(fleet_path, &f, &err) < 0) {
        fprintf(stderr, "tp-testbed: %s\n", err.text);
        goto out;
    }
    bmcs = calloc((size_t)f->nnodes, sizeof *bmcs);
    if (!bmcs)
        goto out;
    for (int n = 0; n < f->nnodes; n++) {
        const tp_node_t *nd = &f->nodes[n];
        const tp_region_t *rg = &f->regions[nd->region];
        tb_bmc_t *b = &bmcs[n];
        snprintf(b->id, sizeof b->id, "%s", nd->id);
        if (rg->ncountries)
            snprintf(b->country, sizeof b->country, "%s", rg->countries[0]);
        b->gpus = nd->gpus;
        b->cap_w = nd->cap_w;
        b->draw_w = nd->idle_w + 0.3 * nd->gpus * nd->gpu_w;
        b->cpu_tee = nd->cpu_tee == TP_TEE_SEV_SNP ? "sev-snp" : "tdx";
        b->gpu_cc = nd->gpu_cc;
        if (mockups)
            b->mockup = single_system[n % 5];
        for (int k = 0; k < nfaults; k++)
            if (!strcmp(faults[k].node, nd->id))
                b->fault = (tb_fault_t)faults[k].kind;
        for (int k = 0; k < natts; k++)
            if (!strcmp(atts[k].node, nd->id))
                b->att = (tb_att_t)atts[k].kind;
    }
    o.bmcs = bmcs;
    o.nbmcs = f->nnodes;
    o.mockup_root = mockups;
    /* Signals are taken by sigwait below, on this thread only. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    if (tb_start(&o, &tb, errbuf, sizeof errbuf) < 0) {
        fprintf(stderr, "tp-testbed: %s\n", errbuf);
        goto out;
    }
    /* OUT: the fleet with URLs, a credentials file and the JWKS beside it. */
    doc = json_load_file(fleet_path, JSON_REJECT_DUPLICATES, NULL);
    nodes = json_object_get(doc, "nodes");
    beside(cred_path, sizeof cred_path, out_path, ".credentials.json");
    beside(jwks_path, sizeof jwks_path, out_path, ".jwks.json");
    if (write_file(cred_path, "{\"username\": \"admin\", \"password\": \"secret\"}\n") <
        0)
        goto out;
    if (o.verifier) {
        char *t = json_dumps(tb_jwks(tb), JSON_INDENT(2));
        int wr = t ? write_file(jwks_path, t) : -1;
        free(t);
        if (wr < 0)
            goto out;
    }
    vers = json_object();
    json_array_foreach (nodes, i, node) {
        char url[64];
        const char *ver = json_string_value(json_object_get(node, "verifier"));
        snprintf(url, sizeof url, "%s://127.0.0.1:%u", o.tls_cert ? "https" : "http",
                 bmcs[i].port);
        json_object_set_new(node, "bmc",
                            json_pack("{s:s,s:s}", "url", url, "credentials", "testbed"));
        if (ver && o.verifier && !json_object_get(vers, ver)) {
            char vurl[96];
            snprintf(vurl, sizeof vurl, "http://127.0.0.1:%u/attestation/{node}",
                     tb_verifier_port(tb));
            json_object_set_new(vers, ver,
                                json_pack("{s:s,s:s,s:[s],s:i,s:b}", "url", vurl,
                                          "jwks_file", base_name(jwks_path), "algs",
                                          "ES256", "concurrency", 256, "allow_http", 1));
        } else if (ver && !o.verifier) {
            json_object_del(node, "verifier");
        }
    }
    coll = json_pack("{s:{s:{s:s}},s:o,s:{s:s,s:i,s:i,s:i,s:i},s:i}", "credentials",
                     "testbed", "file", base_name(cred_path), "verifiers", vers, "bmc",
                     "auth", o.auth ? "session" : "none", "timeout_ms", timeout_ms,
                     "connect_timeout_ms", timeout_ms, "retries", retries, "backoff_ms",
                     100, "global_concurrency", gconc);
    json_object_set_new(doc, "collectors", coll);
    if (!doc || !coll || json_dump_file(doc, out_path, JSON_INDENT(1)) < 0) {
        fprintf(stderr, "tp-testbed: cannot write %s\n", out_path);
        goto out;
    }
    if (ready) {
        char text[256];
        snprintf(text, sizeof text,
                 "{\"pid\": %ld, \"verifier_port\": %u, \"bmcs\": %d}\n", (long)getpid(),
                 o.verifier ? tb_verifier_port(tb) : 0u, o.nbmcs);
        if (write_file(ready, text) < 0)
            goto out;
    }
    fprintf(stderr,
            "tp-testbed: %d BMCs on 127.0.0.1%s; verifier %s; stop with SIGTERM\n",
            o.nbmcs, o.port_base ? "" : " (kernel-assigned ports)",
            o.verifier ? "on" : "off");
    {
        struct timespec ts = {duration, 0};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        tb_stats_t st = tb_stats(tb);
        fprintf(stderr,
                "tp-testbed: %s; %llu requests, %llu responses, %llu errors, %llu hangs, "
                "%llu "
                "truncated, %llu logins, %llu logouts, %llu tokens, %llu stale tokens, "
                "%llu TLS failures, %llu foreign tokens, %d connections at most, %llu "
                "accepted, %llu refused\n",
                sig > 0 ? "signal" : "duration over", (unsigned long long)st.requests,
                (unsigned long long)st.responses, (unsigned long long)st.errors,
                (unsigned long long)st.hangs, (unsigned long long)st.malformed,
                (unsigned long long)st.logins, (unsigned long long)st.logouts,
                (unsigned long long)st.tokens, (unsigned long long)st.expired_tokens,
                (unsigned long long)st.tls_failures,
                (unsigned long long)st.foreign_tokens, st.max_connections,
                (unsigned long long)st.accepted, (unsigned long long)st.accept_failures);
    }
    rc = 0;
out:
    tb_stop(tb);
    json_decref(doc);
    free(bmcs);
    free(faults);
    free(atts);
    tp_fleet_free(f);
    return rc;
bad:
    usage(stderr);
    free(faults);
    free(atts);
    return 2;
}
