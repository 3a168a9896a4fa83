/*
 * collectors/sampler.c — one node's power draw, sampled through its BMC for the
 * Redfish energy meter of `trustplace bench` (workload/meter.c integrates the
 * samples). A sample is one collector cycle restricted to the node's BMC, run
 * on a loop of the sampler's own: the same discovery, sessions, retries and TLS
 * settings as `trustplace collect`, and the session survives from sample to
 * sample. The meter calls it from its polling thread, which runs no other
 * loop; the loop is created and closed on the thread that owns the sampler,
 * which the meter's begin/end (thread create/join) order with the samples.
 */
#include "collectors/collectors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct tp_power_sampler {
    uv_loop_t loop;
    tp_collector_t *c;
    const tp_fleet_t *f;
    int node;
    tp_log_fn log;
    void *log_arg;
};

static void filter_log(void *arg, tp_log_level_t lv, const char *msg)
{
    tp_power_sampler_t *s = arg;
    if (lv >= TP_LOG_WARN && s->log)
        s->log(s->log_arg, lv, msg);
}

static void on_cycle(tp_collector_t *c, void *arg)
{
    (void)c;
    *(bool *)arg = true;
}

static void on_closed(void *arg)
{
    *(bool *)arg = true;
}

int tp_power_sampler_new(const tp_fleet_t *f, const tp_collect_cfg_t *cfg,
                         const char *node_id, tp_log_fn log, void *log_arg,
                         tp_power_sampler_t **out, tp_error_t *err)
{
    tp_power_sampler_t *s;
    int node = -1;
    *out = NULL;
    for (int n = 0; n < f->nnodes; n++)
        if (!strcmp(f->nodes[n].id, node_id))
            node = n;
    if (node < 0)
        return tp_error_set(err, TP_ENOENT, "no node \"%s\" in the fleet", node_id);
    if (!f->nodes[node].bmc_url)
        return tp_error_set(err, TP_EINVAL, "node %s has no bmc.url", node_id);
    if (!(s = calloc(1, sizeof *s)))
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    s->f = f;
    s->node = node;
    s->log = log;
    s->log_arg = log_arg;
    if (uv_loop_init(&s->loop) < 0) {
        free(s);
        return tp_error_set(err, TP_EIO, "uv_loop_init failed");
    }
    if (!(s->c = tp_collector_new(&s->loop, f, cfg, err))) {
        uv_loop_close(&s->loop);
        free(s);
        return err && err->code ? err->code : TP_ENOMEM;
    }
    tp_collector_set_log(s->c, filter_log, s);
    tp_collector_restrict(s->c, node); /* cannot fail: the node has a BMC */
    *out = s;
    return 0;
}

int tp_power_sampler_read(void *ctx, double *watts, tp_error_t *err)
{
    tp_power_sampler_t *s = ctx;
    bool done = false;
    int rc = tp_collector_cycle(s->c, on_cycle, &done);
    if (rc < 0)
        return tp_error_set(err, rc, "redfish: a sample is already running");
    while (!done)
        uv_run(&s->loop, UV_RUN_ONCE);
    *watts = tp_collector_draw_now(s->c, s->node);
    if (isnan(*watts))
        return tp_error_set(err, TP_EIO,
                            "redfish: node %s: the BMC gave no power reading this sample",
                            s->f->nodes[s->node].id);
    return 0;
}

void tp_power_sampler_free(tp_power_sampler_t *s)
{
    bool closed = false;
    if (!s)
        return;
    tp_collector_close(s->c, on_closed, &closed);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    free(s);
}
