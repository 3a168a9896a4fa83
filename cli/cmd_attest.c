/*
 * cli/cmd_attest.c — `trustplace attest verify`: verify one attestation result
 * (a compact JWS, JSON carrying one, or NVIDIA NRAS's array) against a pinned
 * JWKS, the way the collector does, and print the normalised attestation object
 * of docs/formats.md. For operators debugging a verifier integration.
 */
#include "cli/commands.h"
#include "cli/inputs.h"
#include "collectors/collectors.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ATTEST_MAX_INPUT (4u << 20)

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: trustplace attest verify --jwks FILE [--now T] [--alg A,B] [--issuer "
        "ISS]\n"
        "                                [--roots PEM] [--max-age S] [--require "
        "cpu,gpu]\n"
        "                                [--verifier NAME] [--deny-test-keys] "
        "[--format F]\n"
        "                                [--node ID [--node-claim C] [--id X]... | "
        "--bind none]\n"
        "                                [--bind claim|ueid|none] [--nonce N] "
        "[--developer D] TOKEN_FILE\n"
        "Verifies an attestation result (compact JWS, JSON carrying one, or NVIDIA NRAS\n"
        "[[\"JWT\", overall], {\"GPU-0\": …}]) against the pinned JWKS (or one JWK) and\n"
        "prints the normalised attestation object as JSON. TOKEN_FILE - reads stdin.\n"
        "Default algorithms: all of ES256/384/512, PS256/384/512, RS256/384/512, each "
        "bound\n"
        "to its key type and curve. A result must name the node it is for (--node: the\n"
        "claim --node-claim, default \"sub\", or with --bind ueid every ueid, is the "
        "node\n"
        "id or one of the --id values); without --node or --bind none it is status\n"
        "none. --format ear|nras|ita|maa|keylime (default: NRAS array or EAR).\n"
        "Exit 0 accepted, 1 rejected (reason on stderr), 2 unusable input.\n");
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f)
        return NULL;
    for (;;) {
        size_t r;
        if (n + 4096 + 1 > cap) {
            char *nb;
            cap = cap ? 2 * cap : 8192;
            if (cap > ATTEST_MAX_INPUT + 8192 || !(nb = realloc(buf, cap))) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    if (f != stdin)
        fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static int parse_algs(const char *s, unsigned *out)
{
    char buf[256], *tok, *save = NULL;
    snprintf(buf, sizeof buf, "%s", s);
    *out = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int a = tp_jws_alg_parse(tok);
        if (a < 0)
            return -1;
        *out |= 1u << a;
    }
    return *out ? 0 : -1;
}

static int parse_require(const char *s, unsigned *out)
{
    char buf[64], *tok, *save = NULL;
    snprintf(buf, sizeof buf, "%s", s);
    *out = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "cpu"))
            *out |= TP_ATT_REQ_CPU;
        else if (!strcmp(tok, "gpu"))
            *out |= TP_ATT_REQ_GPU;
        else
            return -1;
    }
    return 0;
}

static int verify(int argc, char **argv)
{
    static const struct option opts[] = {{"jwks", required_argument, 0, 'j'},
                                         {"now", required_argument, 0, 'n'},
                                         {"alg", required_argument, 0, 'a'},
                                         {"issuer", required_argument, 0, 'i'},
                                         {"roots", required_argument, 0, 'r'},
                                         {"max-age", required_argument, 0, 'm'},
                                         {"require", required_argument, 0, 'q'},
                                         {"verifier", required_argument, 0, 'v'},
                                         {"deny-test-keys", no_argument, 0, 'd'},
                                         {"format", required_argument, 0, 'f'},
                                         {"node", required_argument, 0, 'N'},
                                         {"node-claim", required_argument, 0, 'C'},
                                         {"id", required_argument, 0, 'I'},
                                         {"bind", required_argument, 0, 'b'},
                                         {"nonce", required_argument, 0, 'o'},
                                         {"developer", required_argument, 0, 'D'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *jwks_path = NULL, *roots_path = NULL;
    tp_att_opts_t o;
    tp_att_result_t res;
    tp_error_t err = {0};
    json_t *jwks = NULL, *out;
    char *text = NULL, *body = NULL;
    size_t len = 0;
    long long v;
    int c, rc = TP_EXIT_INPUT;
    const char *ids[64];
    tp_att_opts_init(&o);
    o.node_ids = ids;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            jwks_path = optarg;
            break;
        case 'n':
            /* Bounded, so that now ± skew and iat + max-age cannot overflow. */
            if ((v = tp_parse_count(optarg)) < 0 || v > (1LL << 40)) {
                fprintf(stderr, "trustplace attest verify: --now wants Unix seconds "
                                "(0..1099511627776)\n");
                return TP_EXIT_INPUT;
            }
            o.now = v;
            break;
        case 'a':
            if (parse_algs(optarg, &o.algs) < 0) {
                fprintf(stderr,
                        "trustplace attest verify: --alg: ES256, ES384, ES512, PS256, "
                        "PS384, PS512, RS256, RS384, RS512 (never none or HMAC)\n");
                return TP_EXIT_INPUT;
            }
            break;
        case 'i':
            o.issuer = optarg;
            break;
        case 'r':
            roots_path = optarg;
            break;
        case 'm':
            if ((v = tp_parse_count(optarg)) < 1 || v > 31622400) {
                fprintf(stderr, "trustplace attest verify: --max-age wants seconds "
                                "(1..31622400, at most 366 days)\n");
                return TP_EXIT_INPUT;
            }
            o.max_age_s = v;
            break;
        case 'q':
            if (parse_require(optarg, &o.require) < 0) {
                fprintf(stderr, "trustplace attest verify: --require cpu,gpu\n");
                return TP_EXIT_INPUT;
            }
            break;
        case 'v':
            o.verifier = optarg;
            break;
        case 'd':
            o.deny_test_keys = true;
            break;
        case 'f':
            if ((c = tp_att_format_parse(optarg)) < 0) {
                fprintf(stderr,
                        "trustplace attest verify: --format: auto, ear, nras, ita, "
                        "maa or keylime\n");
                return TP_EXIT_INPUT;
            }
            o.format = (tp_att_format_t)c;
            if (o.format == TP_ATT_FMT_KEYLIME && o.bind == TP_ATT_BIND_CLAIM)
                o.bind = TP_ATT_BIND_URL; /* unsigned: bound by the request */
            break;
        case 'N':
            o.node_id = optarg;
            break;
        case 'C':
            o.node_claim = optarg;
            break;
        case 'I':
            if (o.n_node_ids == 64) {
                fprintf(stderr, "trustplace attest verify: at most 64 --id\n");
                return TP_EXIT_INPUT;
            }
            ids[o.n_node_ids++] = optarg;
            break;
        case 'b':
            if (!strcmp(optarg, "claim"))
                o.bind = TP_ATT_BIND_CLAIM;
            else if (!strcmp(optarg, "ueid"))
                o.bind = TP_ATT_BIND_UEID;
            else if (!strcmp(optarg, "none"))
                o.bind = TP_ATT_BIND_NONE;
            else {
                fprintf(stderr, "trustplace attest verify: --bind claim, ueid or none\n");
                return TP_EXIT_INPUT;
            }
            break;
        case 'o':
            o.nonce = optarg;
            break;
        case 'D':
            o.verifier_developer = optarg;
            break;
        case 'h':
            usage(stdout);
            return TP_EXIT_OK;
        default:
            usage(stderr);
            return TP_EXIT_INPUT;
        }
    }
    if ((!jwks_path && o.format != TP_ATT_FMT_KEYLIME) || optind != argc - 1) {
        usage(stderr);
        return TP_EXIT_INPUT;
    }
    if (o.bind == TP_ATT_BIND_NONE)
        fprintf(stderr, "trustplace attest verify: WARNING: --bind none: the result is "
                        "not checked against any node\n");
    if (!jwks_path) {
        /* Keylime: unsigned JSON, no keys. */
    } else if (!(text = read_all(jwks_path, &len))) {
        fprintf(stderr, "trustplace attest verify: %s: %s\n", jwks_path, strerror(errno));
        goto done;
    }
    if (jwks_path && !(jwks = tp_jwks_parse(text, len, jwks_path, &err))) {
        fprintf(stderr, "trustplace attest verify: %s\n", err.text);
        goto done;
    }
    if (roots_path && !(o.roots = tp_att_roots_load(roots_path, &err))) {
        fprintf(stderr, "trustplace attest verify: %s\n", err.text);
        goto done;
    }
    o.jwks = jwks;
    if (!(body = read_all(argv[optind], &len))) {
        fprintf(stderr, "trustplace attest verify: %s: %s\n", argv[optind],
                errno ? strerror(errno) : "unreadable");
        goto done;
    }
    switch (tp_att_verify(body, len, &o, &res)) {
    case 0:
        out = tp_attestation_to_json(&res.att);
        if (!out || json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
            json_decref(out);
            tp_att_result_fini(&res);
            goto done;
        }
        fputc('\n', stdout);
        json_decref(out);
        if (res.test_key)
            fprintf(stderr,
                    "trustplace attest verify: WARNING: signed with a published TEST "
                    "key; never trust it in production\n");
        if (res.unbound)
            fprintf(stderr,
                    "trustplace attest verify: the result names no node%s: "
                    "status none\n",
                    o.node_id ? "" : " checked (no --node)");
        tp_att_result_fini(&res);
        rc = TP_EXIT_OK;
        break;
    case 1:
        fprintf(stderr, "trustplace attest verify: rejected: %s: %s\n",
                tp_att_reason_name(res.reason), res.detail);
        rc = TP_EXIT_NO;
        break;
    default:
        fprintf(stderr, "trustplace attest verify: unusable input: %s\n", res.detail);
        break;
    }
done:
    tp_att_roots_free(o.roots);
    json_decref(jwks);
    free(text);
    free(body);
    return rc;
}

int tp_cmd_attest(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "verify"))
        return verify(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return TP_EXIT_OK;
    }
    usage(stderr);
    return TP_EXIT_INPUT;
}
