/* cli/cmd_attest.c — placeholder until issue 4, the collectors lands. */
#include "cli/commands.h"

#include <stdio.h>

int tp_cmd_attest(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "trustplace attest: not built yet\n");
    return TP_EXIT_INPUT;
}
