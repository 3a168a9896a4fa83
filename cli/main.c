/*
 * cli/main.c — `trustplace`: dispatches to the subcommands in cli/commands.h.
 */
#include "cli/commands.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"check-config", tp_cmd_check_config, "validate a fleet file and summarise it"},
    {"explain", tp_cmd_explain, "say which nodes each workload may use, and why not"},
    {"gen-fleet", tp_cmd_gen_fleet, "generate a synthetic fleet"},
    {"gen-workloads", tp_cmd_gen_workloads, "generate a synthetic workload set"},
    {"gen-state", tp_cmd_gen_state, "generate an observed state for a fleet"},
    {"place", tp_cmd_place, "decide where pending work runs (GLPK)"},
    {"collect", tp_cmd_collect, "poll BMCs and verifiers into an observed state"},
    {"attest", tp_cmd_attest, "verify an attestation result (attest verify …)"},
    {"bench", tp_cmd_bench, "measure tokens per watt with the reference decoder"},
    {"sim", tp_cmd_sim, "what-if simulation of policies over traces and events"},
    {"serve", tp_cmd_serve, "run the placement service (HTTP API, journal, collectors)"},
    {"token", tp_cmd_token, "manage the bearer tokens of `serve` (token add …)"},
    {"audit", tp_cmd_audit, "verify, query or export the service's audit log"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: trustplace <command> [options]\n\n"
               "trustplace places AI workloads on a GPU fleet under power caps, never\n"
               "trading a security control for capacity.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-14s %s\n  %-14s %s\n\n", "help", "this text", "--version",
            "print the version");
    fprintf(f, "`trustplace <command> --help` describes a command's options.\n"
               "Exit status: 0 ok, 1 a negative answer, 2 bad input or usage.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TP_EXIT_INPUT;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("trustplace %s\n", TP_VERSION);
        return TP_EXIT_OK;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return TP_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "trustplace: unknown command '%s' (try `trustplace help`)\n", cmd);
    return TP_EXIT_INPUT;
}
