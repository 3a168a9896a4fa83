/*
 * scheduler/access.c — bearer tokens (see access.h).
 * Interface first; the implementation follows in the next commits.
 */
#include "scheduler/access.h"

#include <stdlib.h>
#include <string.h>

struct tp_tokens {
    int n;
};

const char *tp_role_name(tp_role_t r)
{
    switch (r) {
    case TP_ROLE_VIEWER:
        return "viewer";
    case TP_ROLE_PLANNER:
        return "planner";
    case TP_ROLE_ORCHESTRATOR:
        return "orchestrator";
    default:
        return "none";
    }
}

tp_role_t tp_role_parse(const char *s)
{
    for (int r = TP_ROLE_VIEWER; r <= TP_ROLE_ORCHESTRATOR; r++)
        if (s && !strcmp(s, tp_role_name((tp_role_t)r)))
            return (tp_role_t)r;
    return TP_ROLE_NONE;
}

const char *tp_action_name(tp_action_t a)
{
    switch (a) {
    case TP_ACT_READ:
        return "read";
    case TP_ACT_PLACE:
        return "place";
    case TP_ACT_EXPLAIN:
        return "explain";
    case TP_ACT_PROFILES:
        return "profiles";
    case TP_ACT_POWER:
        return "power";
    }
    return "unknown";
}

bool tp_role_allows(tp_role_t r, tp_action_t a)
{
    (void)r, (void)a;
    return false;
}

tp_tokens_t *tp_tokens_new(void)
{
    return calloc(1, sizeof(tp_tokens_t));
}

int tp_tokens_load(const char *path, tp_tokens_t **out, tp_error_t *err)
{
    *out = NULL;
    return tp_error_set(err, TP_EUNSUPPORTED, "%s: not implemented yet", path);
}

int tp_tokens_load_buffer(const char *name, const char *text, size_t len,
                          tp_tokens_t **out, tp_error_t *err)
{
    (void)text, (void)len;
    *out = NULL;
    return tp_error_set(err, TP_EUNSUPPORTED, "%s: not implemented yet", name);
}

void tp_tokens_free(tp_tokens_t *t)
{
    free(t);
}

int tp_tokens_count(const tp_tokens_t *t)
{
    return t ? t->n : 0;
}

const char *tp_tokens_name(const tp_tokens_t *t, int i)
{
    (void)t, (void)i;
    return NULL;
}

tp_role_t tp_tokens_role(const tp_tokens_t *t, int i)
{
    (void)t, (void)i;
    return TP_ROLE_NONE;
}

tp_role_t tp_tokens_check(const tp_tokens_t *t, const char *hv, size_t len,
                          const char **name_out)
{
    (void)t, (void)hv, (void)len;
    if (name_out)
        *name_out = NULL;
    return TP_ROLE_NONE;
}

int tp_tokens_issue(tp_tokens_t *t, const char *name, tp_role_t r, char *secret_out,
                    size_t secret_size, tp_error_t *err)
{
    (void)t, (void)r, (void)secret_out, (void)secret_size;
    return tp_error_set(err, TP_EUNSUPPORTED, "%s: not implemented yet", name);
}

int tp_tokens_remove(tp_tokens_t *t, const char *name, tp_error_t *err)
{
    (void)t;
    return tp_error_set(err, TP_EUNSUPPORTED, "%s: not implemented yet", name);
}

int tp_tokens_save(const tp_tokens_t *t, const char *path, tp_error_t *err)
{
    (void)t;
    return tp_error_set(err, TP_EUNSUPPORTED, "%s: not implemented yet", path);
}
