/*
 * cli/commands.h — the subcommands of the `trustplace` command.
 *
 * Each takes the arguments after its own name (argv[0] is the command name) and
 * returns the process exit status: 0 success, 1 a negative answer (e.g. a token
 * rejected), 2 bad input or usage. Only cli/main.c calls exit().
 */
#ifndef TP_CLI_COMMANDS_H
#define TP_CLI_COMMANDS_H

#include "model/model.h"

#define TP_VERSION "0.1.0"

/* Exit statuses shared by every command. */
enum { TP_EXIT_OK = 0, TP_EXIT_NO = 1, TP_EXIT_INPUT = 2 };

int tp_cmd_check_config(int argc, char **argv);
int tp_cmd_explain(int argc, char **argv);
int tp_cmd_gen_fleet(int argc, char **argv);
int tp_cmd_gen_workloads(int argc, char **argv);
int tp_cmd_gen_state(int argc, char **argv);
int tp_cmd_place(int argc, char **argv);   /* solver/: cli/cmd_place.c */
int tp_cmd_collect(int argc, char **argv); /* collectors/: cli/cmd_collect.c */
int tp_cmd_attest(int argc, char **argv);  /* collectors/: cli/cmd_attest.c */
int tp_cmd_bench(int argc, char **argv);   /* workload/: cli/cmd_bench.c */
int tp_cmd_sim(int argc, char **argv);     /* sim/: cli/cmd_sim.c */
int tp_cmd_serve(int argc, char **argv);   /* scheduler/: cli/cmd_serve.c */
int tp_cmd_token(int argc, char **argv);   /* scheduler/: cli/cmd_token.c */
int tp_cmd_audit(int argc, char **argv);   /* scheduler/: cli/cmd_audit.c */

/* check-config's collectors section (cli/cmd_check.c): validate prints the
 * error on stderr and returns TP_EXIT_INPUT; summary prints what is configured
 * (and warnings) once it is valid. */
int tp_check_collectors(const tp_fleet_t *f);
void tp_check_collectors_summary(const tp_fleet_t *f);

#endif
