/* cli/cmd_collect.c — placeholder until issue 4, the collectors lands. */
#include "cli/commands.h"

#include <stdio.h>

int tp_cmd_collect(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "trustplace collect: not built yet\n");
    return TP_EXIT_INPUT;
}
