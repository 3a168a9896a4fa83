/*
 * solver/glpk_guard.c — GLPK may never abort the process. GLPK reports an
 * internal error by calling the hook installed with glp_error_hook() and aborts
 * if the hook returns; ours frees GLPK's environment (every GLPK object of this
 * thread — the documented way to recover) and longjmps back to the guard, which
 * turns the error into TP_ESOLVER with GLPK's own message. GLPK's terminal
 * output goes to a buffer, never to stdout, where it would corrupt JSON.
 */
#include "solver/solver_internal.h"

#include <glpk.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    jmp_buf jb;
    char text[512]; /* the last lines GLPK printed */
} guard_t;

static int on_term(void *info, const char *s)
{
    guard_t *g = info;
    size_t have = strlen(g->text), add = strlen(s);
    if (have + add >= sizeof g->text) { /* keep the tail */
        have = 0;
        if (add >= sizeof g->text)
            s += add - (sizeof g->text - 1);
    }
    snprintf(g->text + have, sizeof g->text - have, "%s", s);
    return 1; /* suppress GLPK's own output */
}

static void on_error(void *info)
{
    guard_t *g = info;
    glp_free_env();
    longjmp(g->jb, 1);
}

static void tidy(char *msg, size_t msglen, const char *text)
{
    size_t k = 0;
    for (const char *s = text; *s && k + 1 < msglen; s++)
        msg[k++] = *s == '\n' ? ' ' : *s;
    while (k > 0 && msg[k - 1] == ' ')
        k--;
    if (msglen)
        msg[k] = '\0';
}

int glpk_guarded(int (*fn)(void *arg), void *arg, char *msg, size_t msglen)
{
    /* On the heap: it is written by the hooks between setjmp and longjmp. */
    guard_t *const g = calloc(1, sizeof *g);
    int rc;
    if (!g)
        return TP_ENOMEM;
    if (setjmp(g->jb)) {
        /* glp_free_env() has freed every GLPK object of this thread. */
        tidy(msg, msglen, g->text[0] ? g->text : "GLPK error");
        free(g);
        return TP_ESOLVER;
    }
    glp_term_hook(on_term, g);
    glp_error_hook(on_error, g);
    rc = fn(arg);
    glp_error_hook(NULL, NULL);
    glp_term_hook(NULL, NULL);
    free(g);
    return rc;
}
