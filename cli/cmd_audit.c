/*
 * cli/cmd_audit.c — `trustplace audit verify|query|export`: read the service's
 * audit log (scheduler/audit.h, docs/observability.md).
 */
#include "cli/commands.h"
#include "scheduler/audit.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: trustplace audit verify FILE [--pubkey PEM]\n"
        "       trustplace audit query  FILE [--workload ID] [--node ID] [--since T]\n"
        "       trustplace audit export FILE --to TARGET [--since T]\n"
        "Reads the audit log of `trustplace serve` (DATA/audit.jsonl).\n"
        "verify checks the hash chain and, with --pubkey, every record's signature;\n"
        "it names the first broken record (exit 1) or prints a summary (exit 0).\n"
        "query prints the matching records, one JSON object per line.\n"
        "export sends records to a SIEM; TARGET is jsonl:PATH, syslog+unix:PATH or\n"
        "syslog+tcp:HOST:PORT (RFC 5424; TCP framed by octet counting, RFC 6587).\n"
        "T is Unix seconds or YYYY-MM-DDTHH:MM:SSZ.\n");
}

int tp_cmd_audit(int argc, char **argv)
{
    static const struct option opts[] = {{"pubkey", required_argument, NULL, 'k'},
                                         {"workload", required_argument, NULL, 'w'},
                                         {"node", required_argument, NULL, 'n'},
                                         {"since", required_argument, NULL, 's'},
                                         {"to", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *pub = NULL, *to = NULL;
    tp_audit_filter_t f = {0};
    tp_error_t err = {0};
    int c;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TP_EXIT_INPUT : TP_EXIT_OK;
    }
    const char *verb = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            pub = optarg;
            break;
        case 'w':
            f.workload = optarg;
            break;
        case 'n':
            f.node = optarg;
            break;
        case 't':
            to = optarg;
            break;
        case 's':
            if (tp_audit_parse_time(optarg, &f.since) < 0) {
                fprintf(stderr,
                        "trustplace audit: --since: expected Unix seconds or "
                        "YYYY-MM-DDTHH:MM:SSZ, got \"%s\"\n",
                        optarg);
                return TP_EXIT_INPUT;
            }
            break;
        case 'h':
            usage(stdout);
            return TP_EXIT_OK;
        default:
            usage(stderr);
            return TP_EXIT_INPUT;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "trustplace audit %s: expected one FILE\n", verb);
        return TP_EXIT_INPUT;
    }
    const char *file = argv[optind];
    bool v = !strcmp(verb, "verify"), q = !strcmp(verb, "query"),
         x = !strcmp(verb, "export");
    if (!v && !q && !x) {
        fprintf(stderr, "trustplace audit: unknown verb \"%s\"\n", verb);
        usage(stderr);
        return TP_EXIT_INPUT;
    }
    if ((pub && !v) || ((f.workload || f.node) && !q) || (f.since && v) || (!!to != x)) {
        fprintf(stderr, "trustplace audit %s: option not valid here%s\n", verb,
                x ? " (export needs --to)" : "");
        return TP_EXIT_INPUT;
    }
    if (v) {
        tp_audit_report_t rep;
        int rc = tp_audit_verify(file, pub, &rep, &err);
        if (rc == TP_EVIOLATION) {
            printf("BROKEN %s\n", err.text);
            return TP_EXIT_NO;
        }
        if (rc < 0) {
            fprintf(stderr, "trustplace audit verify: %s\n", err.text);
            return TP_EXIT_INPUT;
        }
        printf("OK %s: %lld record(s), chain intact; %s\n", file, (long long)rep.records,
               rep.sigs_checked ? "every signature verified"
               : rep.signed_all ? "signed, signatures not checked (no --pubkey)"
               : rep.signed_any ? "partly signed, signatures not checked (no --pubkey)"
                                : "not signed");
        return TP_EXIT_OK;
    }
    int n = 0;
    int rc = q ? tp_audit_query(file, &f, stdout, &n, &err)
               : tp_audit_export(file, to, f.since, &n, &err);
    if (rc < 0) {
        fprintf(stderr, "trustplace audit %s: %s\n", verb, err.text);
        return TP_EXIT_INPUT;
    }
    fprintf(stderr, "%d record(s) %s\n", n, q ? "matched" : "exported");
    return q && !n ? TP_EXIT_NO : TP_EXIT_OK;
}
