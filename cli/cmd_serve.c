/*
 * cli/cmd_serve.c — `trustplace serve`: options, then scheduler/serve.h.
 */
#include "cli/commands.h"
#include "cli/inputs.h"
#include "scheduler/etcd.h"
#include "scheduler/serve.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: trustplace serve --config FLEET [--state FILE] [--data DIR]\n"
        "                        [--listen HOST:PORT] [--tokens FILE] [--port-file F]\n"
        "                        [--max-connections N] [--max-body BYTES] [-q]\n"
        "                        [--audit-key PEM] [--audit-export TARGET]\n"
        "                        [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM\n"
        "                         [--tls-clients FILE]]]\n"
        "                        [--kube-api URL --kube-token-file F [--kube-ca F]\n"
        "                         [--kube-proxy URL] [--kube-timeout-ms MS]]\n"
        "Runs the placement service (docs/serve.md): the HTTP API on --listen\n"
        "(default 127.0.0.1:8750; port 0 picks a free one, written to --port-file),\n"
        "the collectors the fleet file configures, and a durable journal in --data\n"
        "(default ./trustplace-data; SQLite, WAL). Without --tokens every request\n"
        "is accepted: use it on loopback only. SIGHUP reloads the fleet file;\n"
        "SIGTERM or SIGINT drains the requests in flight, then exits 0.\n"
        "Every decision is also recorded in DATA/audit.jsonl (hash-chained; signed\n"
        "with --audit-key, an Ed25519 or EC private key; `trustplace audit verify`);\n"
        "--audit-export streams it to a SIEM: jsonl:PATH, syslog+unix:PATH or\n"
        "syslog+tcp:HOST:PORT (RFC 5424), resuming after restarts.\n"
        "GET / is a dashboard, GET /v1/kpis the KPIs, GET /metrics for Prometheus.\n"
        "--tls-cert/--tls-key serve HTTPS only (TLS 1.2+, HTTP/2 by ALPN); with\n"
        "--tls-client-ca every client must present a certificate that CA issued;\n"
        "--tls-clients pins certificates (SHA-256) to names and roles.\n"
        "  --ceiling  answer every request with {} (the benchmark's ceiling)\n"
        "  --openadr FILE  poll an OpenADR 3 VTN for capacity limits (power events)\n"
        "  --idempotency-retention S  forget Idempotency-Keys after S seconds\n"
        "  --released-retention S     forget released or preempted placements after\n"
        "                             S seconds (both default to 86400)\n"
        "Several replicas (docs/ha.md): --store etcd:URL[,URL...] --replica-name NAME\n"
        "  [--advertise URL] [--store-prefix P] [--lease-ttl S] [--keepalive-ms MS]\n"
        "  [--poll-ms MS] [--etcd-cacert CA] [--etcd-cert PEM --etcd-key PEM]\n"
        "  (TLS to etcd: its CA, our client certificate for --client-cert-auth);\n"
        "  --store sqlite:DIR (the default: --data) keeps one instance.\n"
        "/k8s/bind creates the pod's Binding in the Kubernetes API server --kube-api\n"
        "(https only) with the bearer token in --kube-token-file; in a pod, the\n"
        "in-cluster server and service account are used when --kube-api is absent\n"
        "(docs/k8s.md). --kube-insecure-http allows an http:// server (tests only).\n");
}

/* The --kube-* options are long-only: codes above every short option letter. */
enum {
    K_API = 0x100,
    K_TOK,
    K_CA,
    K_PRX,
    K_TMO,
    K_HTTP,
    T_CERT,
    T_KEY,
    T_CCA,
    T_CLI,
    R_IDEM,
    R_DONE,
    ADR,
    E_CA,
    E_CERT,
    E_KEY
};

/* The numeric options, each with its bounds: one check and one message. */
static int number_opt(int opt, const char *arg, tp_serve_opts_t *o)
{
    static const struct {
        int opt;
        const char *name, *unit;
        long long lo, hi;
    } lim[] = {{K_TMO, "--kube-timeout-ms", "", 100, 60000},
               {R_IDEM, "--idempotency-retention", " seconds", 1, 315360000},
               {R_DONE, "--released-retention", " seconds", 1, 315360000},
               {'C', "--max-connections", "", 1, 100000},
               {'B', "--max-body", " bytes", 1024, 1LL << 30},
               {'L', "--lease-ttl", "", 2, 3600},
               {'k', "--keepalive-ms", "", 100, 3600000},
               {'O', "--poll-ms", "", 10, 60000}};
    for (size_t i = 0; i < sizeof lim / sizeof *lim; i++) {
        if (lim[i].opt != opt)
            continue;
        long long v = tp_parse_count(arg);
        if (v < lim[i].lo || v > lim[i].hi) {
            fprintf(stderr, "trustplace serve: %s: expected %lld..%lld%s, got \"%s\"\n",
                    lim[i].name, lim[i].lo, lim[i].hi, lim[i].unit, arg);
            return -1;
        }
        switch (opt) {
        case K_TMO:
            o->kube.timeout_ms = (int)v;
            break;
        case R_IDEM:
            o->idempotency_retention_s = (int)v;
            break;
        case R_DONE:
            o->released_retention_s = (int)v;
            break;
        case 'C':
            o->max_connections = (int)v;
            break;
        case 'B':
            o->max_body = (size_t)v;
            break;
        case 'L':
            o->lease_ttl_s = (int)v;
            break;
        case 'k':
            o->keepalive_ms = (int)v;
            break;
        default:
            o->poll_ms = (int)v;
            break;
        }
    }
    return 0;
}

int tp_cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},
        {"state", required_argument, 0, 's'},
        {"data", required_argument, 0, 'd'},
        {"kube-api", required_argument, 0, K_API},
        {"kube-token-file", required_argument, 0, K_TOK},
        {"kube-ca", required_argument, 0, K_CA},
        {"kube-proxy", required_argument, 0, K_PRX},
        {"kube-timeout-ms", required_argument, 0, K_TMO},
        {"kube-insecure-http", no_argument, 0, K_HTTP},
        {"listen", required_argument, 0, 'l'},
        {"tls-cert", required_argument, 0, T_CERT},
        {"tls-key", required_argument, 0, T_KEY},
        {"tls-client-ca", required_argument, 0, T_CCA},
        {"tls-clients", required_argument, 0, T_CLI},
        {"idempotency-retention", required_argument, 0, R_IDEM},
        {"released-retention", required_argument, 0, R_DONE},
        {"openadr", required_argument, 0, ADR},
        {"tokens", required_argument, 0, 't'},
        {"port-file", required_argument, 0, 'p'},
        {"max-connections", required_argument, 0, 'C'},
        {"max-body", required_argument, 0, 'B'},
        {"ceiling", no_argument, 0, 'X'},
        {"audit-key", required_argument, 0, 'K'},
        {"audit-export", required_argument, 0, 'E'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {"store", required_argument, 0, 'S'},
        {"replica-name", required_argument, 0, 'R'},
        {"advertise", required_argument, 0, 'A'},
        {"store-prefix", required_argument, 0, 'P'},
        {"lease-ttl", required_argument, 0, 'L'},
        {"keepalive-ms", required_argument, 0, 'k'},
        {"poll-ms", required_argument, 0, 'O'},
        {"etcd-cacert", required_argument, 0, E_CA},
        {"etcd-cert", required_argument, 0, E_CERT},
        {"etcd-key", required_argument, 0, E_KEY},
        {0, 0, 0, 0}};
    const char *etcd_tls[3] = {NULL, NULL, NULL}; /* CA, certificate, key */
    tp_serve_opts_t o = {0};
    tp_error_t err = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config = optarg;
            break;
        case 's':
            o.state_path = optarg;
            break;
        case 'd':
            o.data_dir = optarg;
            break;
        case K_API:
            o.kube.server = optarg;
            break;
        case K_TOK:
            o.kube.token_file = optarg;
            break;
        case K_CA:
            o.kube.ca_file = optarg;
            break;
        case K_PRX:
            o.kube.proxy = optarg;
            break;
        case K_HTTP:
            o.kube.allow_http = 1;
            break;
        case 'l':
            o.listen = optarg;
            break;
        case T_CERT:
            o.tls_cert = optarg;
            break;
        case T_KEY:
            o.tls_key = optarg;
            break;
        case T_CCA:
            o.tls_client_ca = optarg;
            break;
        case T_CLI:
            o.tls_clients = optarg;
            break;
        case ADR:
            o.openadr = optarg;
            break;
        case 't':
            o.tokens = optarg;
            break;
        case 'p':
            o.port_file = optarg;
            break;
        case 'X':
            o.ceiling = 1;
            break;
        case 'K':
            o.audit_key = optarg;
            break;
        case 'E':
            o.audit_export = optarg;
            break;
        case 'q':
            o.quiet = 1;
            break;
        case 'S':
            o.store = optarg;
            break;
        case 'R':
            o.replica_name = optarg;
            break;
        case 'A':
            o.advertise = optarg;
            break;
        case 'P':
            o.store_prefix = optarg;
            break;
        case E_CA:
        case E_CERT:
        case E_KEY:
            etcd_tls[c - E_CA] = optarg;
            break;
        case K_TMO:
        case R_IDEM:
        case R_DONE:
        case 'C':
        case 'B':
        case 'L':
        case 'k':
        case 'O':
            if (number_opt(c, optarg, &o) < 0)
                return TP_EXIT_INPUT;
            break;
        case 'h':
            usage(stdout);
            return TP_EXIT_OK;
        default:
            usage(stderr);
            return TP_EXIT_INPUT;
        }
    }
    if (o.replica_name && (!o.store || strncmp(o.store, "etcd:", 5) != 0)) {
        fprintf(stderr, "trustplace serve: --replica-name goes with --store etcd:URL\n");
        return TP_EXIT_INPUT;
    }
    if (etcd_tls[0] || etcd_tls[1] || etcd_tls[2]) {
        if (!o.store || strncmp(o.store, "etcd:", 5) != 0) {
            fprintf(stderr, "trustplace serve: --etcd-cacert/--etcd-cert/--etcd-key go "
                            "with --store etcd:URL\n");
            return TP_EXIT_INPUT;
        }
        if (tp_etcd_tls(etcd_tls[0], etcd_tls[1], etcd_tls[2], &err) < 0) {
            fprintf(stderr, "trustplace serve: %s\n", err.text);
            return TP_EXIT_INPUT;
        }
    }
    if ((!o.config && !o.ceiling) || optind != argc) {
        fprintf(stderr, "trustplace serve: --config is required\n");
        usage(stderr);
        return TP_EXIT_INPUT;
    }
    if (tp_serve_run(&o, &err) < 0) {
        fprintf(stderr, "trustplace serve: %s\n", err.text);
        return TP_EXIT_INPUT;
    }
    return TP_EXIT_OK;
}
