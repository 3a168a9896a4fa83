/* cli/cmd_bench.c — placeholder until the workload module lands (issue 6). */
#include "cli/commands.h"

#include <stdio.h>

int tp_cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "trustplace bench: not built yet\n");
    return TP_EXIT_INPUT;
}
