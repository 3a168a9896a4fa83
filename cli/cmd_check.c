/*
 * cli/cmd_check.c — the collectors half of `trustplace check-config`: the fleet
 * file's "collectors" section is loaded exactly as `collect` loads it
 * (tp_collect_config_load: unknown keys, https-only trust anchors, binding,
 * credential and verifier names, credentials and JWKS files read), so a file
 * check-config calls valid is one collect accepts. Insecure settings that are
 * allowed are listed as warnings. A fleet without a collectors section (one
 * for planning: sim, place) is valid, with a warning when collect would
 * refuse it.
 */
#include "cli/commands.h"
#include "collectors/collectors.h"

#include <stdio.h>

static const char *bind_name(tp_att_bind_t b)
{
    switch (b) {
    case TP_ATT_BIND_CLAIM:
        return "claim";
    case TP_ATT_BIND_UEID:
        return "ueid";
    case TP_ATT_BIND_URL:
        return "url";
    default:
        return "none";
    }
}

int tp_check_collectors(const tp_fleet_t *f)
{
    tp_collect_cfg_t *c = NULL;
    tp_error_t err = {0};
    int rc = tp_collect_config_load(f, &c, &err);
    if (rc < 0 && !f->collectors) {
        /* A planning fleet (sim, place) need not say how it is collected. */
        fprintf(stderr,
                "trustplace check-config: warning: no \"collectors\" section: `collect` "
                "would refuse this file (%s)\n",
                err.text);
        return TP_EXIT_OK;
    }
    if (rc < 0) {
        fprintf(stderr, "trustplace check-config: %s\n", err.text);
        return TP_EXIT_INPUT;
    }
    tp_collect_config_free(c);
    return TP_EXIT_OK;
}

void tp_check_collectors_summary(const tp_fleet_t *f)
{
    tp_collect_cfg_t *c = NULL;
    tp_error_t err = {0};
    if (tp_collect_config_load(f, &c, &err) < 0)
        return; /* validated just before, or no collectors section */
    printf("  collectors   %d credential%s, %d verifier%s\n", c->ncreds,
           c->ncreds == 1 ? "" : "s", c->nverifiers, c->nverifiers == 1 ? "" : "s");
    for (int i = 0; i < c->nverifiers; i++) {
        const tp_verifier_cfg_t *v = &c->verifiers[i];
        printf("    %-14s %s, bind %s%s%s\n", v->name, tp_att_format_name(v->format),
               bind_name(v->bind), v->nonce ? ", nonce" : "",
               v->issuer ? ", issuer pinned" : "");
        if (v->allow_http)
            fprintf(stderr,
                    "trustplace check-config: warning: verifier %s: plain http "
                    "allowed (allow_http)\n",
                    v->name);
        if (v->insecure)
            fprintf(stderr,
                    "trustplace check-config: warning: verifier %s: TLS "
                    "verification off (insecure)\n",
                    v->name);
        if (v->bind == TP_ATT_BIND_NONE)
            fprintf(stderr,
                    "trustplace check-config: warning: verifier %s: results are "
                    "not bound to nodes (bind \"none\")\n",
                    v->name);
    }
    tp_collect_config_free(c);
}
