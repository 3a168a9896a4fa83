/*
 * cli/cmd_token.c — `trustplace token add|list|remove`: manage the bearer
 * tokens file of `trustplace serve` (scheduler/access.h). `add` prints the new
 * secret once, on stdout, and stores only its SHA-256; the file is replaced
 * atomically (mode 0600). `list` shows names and roles, never secrets.
 */
#include "cli/commands.h"
#include "scheduler/access.h"

#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: trustplace token add    --tokens FILE --name NAME --role ROLE\n"
        "       trustplace token list   --tokens FILE\n"
        "       trustplace token remove --tokens FILE --name NAME\n"
        "Manages the bearer tokens of `trustplace serve --tokens FILE`. ROLE is\n"
        "orchestrator (place, release, power events, read), planner (read, explain,\n"
        "profiles) or viewer (read). `add` creates the file when absent, replaces the\n"
        "secret of an existing NAME, and prints the new secret once on stdout; only\n"
        "its SHA-256 is stored. NAME: 1..%d characters of [A-Za-z0-9._-].\n",
        TP_TOKEN_NAME_MAX);
}

/* Loads FILE, or an empty set when it does not exist and `create` is set. */
static int load(const char *path, bool create, tp_tokens_t **out)
{
    struct stat st;
    tp_error_t err;
    if (create && stat(path, &st) < 0) {
        if (!(*out = tp_tokens_new())) {
            fprintf(stderr, "trustplace token: out of memory\n");
            return TP_EXIT_INPUT;
        }
        return TP_EXIT_OK;
    }
    if (tp_tokens_load(path, out, &err) < 0) {
        fprintf(stderr, "trustplace token: %s\n", err.text);
        return TP_EXIT_INPUT;
    }
    return TP_EXIT_OK;
}

int tp_cmd_token(int argc, char **argv)
{
    static const struct option opts[] = {{"tokens", required_argument, NULL, 't'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"role", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *path = NULL, *name = NULL, *role = NULL, *verb;
    tp_tokens_t *t = NULL;
    tp_error_t err;
    int c, rc;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TP_EXIT_INPUT : TP_EXIT_OK;
    }
    verb = argv[1];
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            path = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'r':
            role = optarg;
            break;
        case 'h':
            usage(stdout);
            return TP_EXIT_OK;
        default:
            usage(stderr);
            return TP_EXIT_INPUT;
        }
    }
    if (optind != argc - 1 || !path) {
        fprintf(stderr,
                "trustplace token: --tokens FILE is required (no other argument)\n");
        return TP_EXIT_INPUT;
    }
    if (!strcmp(verb, "list")) {
        if (name || role) {
            fprintf(stderr, "trustplace token list: takes only --tokens\n");
            return TP_EXIT_INPUT;
        }
        if ((rc = load(path, false, &t)) != TP_EXIT_OK)
            return rc;
        for (int i = 0; i < tp_tokens_count(t); i++)
            printf("%s\t%s\n", tp_tokens_name(t, i), tp_role_name(tp_tokens_role(t, i)));
        tp_tokens_free(t);
        return TP_EXIT_OK;
    }
    if (!strcmp(verb, "add")) {
        char secret[TP_TOKEN_SECRET_LEN + 1];
        tp_role_t r = tp_role_parse(role);
        if (!name || !role) {
            fprintf(stderr, "trustplace token add: --name and --role are required\n");
            return TP_EXIT_INPUT;
        }
        if (r == TP_ROLE_NONE) {
            fprintf(stderr,
                    "trustplace token add: --role: expected orchestrator, planner or "
                    "viewer, got \"%s\"\n",
                    role);
            return TP_EXIT_INPUT;
        }
        if ((rc = load(path, true, &t)) != TP_EXIT_OK)
            return rc;
        if (tp_tokens_issue(t, name, r, secret, sizeof secret, &err) < 0 ||
            tp_tokens_save(t, path, &err) < 0) {
            OPENSSL_cleanse(secret, sizeof secret);
            tp_tokens_free(t);
            fprintf(stderr, "trustplace token add: %s\n", err.text);
            return TP_EXIT_INPUT;
        }
        tp_tokens_free(t);
        printf("%s\n", secret);
        fflush(stdout);
        OPENSSL_cleanse(secret, sizeof secret);
        fprintf(stderr,
                "token \"%s\" (%s) saved in %s; the secret above is shown only once\n",
                name, tp_role_name(r), path);
        return TP_EXIT_OK;
    }
    if (!strcmp(verb, "remove")) {
        if (!name || role) {
            fprintf(stderr, "trustplace token remove: --name is required (no --role)\n");
            return TP_EXIT_INPUT;
        }
        if ((rc = load(path, false, &t)) != TP_EXIT_OK)
            return rc;
        rc = tp_tokens_remove(t, name, &err) < 0 || tp_tokens_save(t, path, &err) < 0;
        tp_tokens_free(t);
        if (rc) {
            fprintf(stderr, "trustplace token remove: %s\n", err.text);
            return err.code == TP_ENOENT ? TP_EXIT_NO : TP_EXIT_INPUT;
        }
        return TP_EXIT_OK;
    }
    fprintf(stderr, "trustplace token: unknown verb '%s' (add, list or remove)\n", verb);
    return TP_EXIT_INPUT;
}
