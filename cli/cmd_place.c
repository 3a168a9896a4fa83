/* cli/cmd_place.c — placeholder until issue 3, the solver lands. */
#include "cli/commands.h"

#include <stdio.h>

int tp_cmd_place(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "trustplace place: not built yet\n");
    return TP_EXIT_INPUT;
}
