/*
 * scheduler/openadr.c — `serve --openadr FILE`: polls the OpenADR 3 VTN
 * (collectors/openadr.h) on a pool thread every poll_s and turns what it
 * returns into power events through the same operation as POST
 * /v1/power/events (journaled, planned at their start). Each order carries
 * its source "openadr:EVENT/INTERVAL@MODIFIED" in the journaled body, so a
 * re-poll, a restart or a follower never orders it twice; an order the VTN no
 * longer returns (event deleted, modified, or cancelled with PT0S) is ended.
 * A poll that fails or returns a bad document changes nothing and is logged.
 */
#include "collectors/openadr.h"
#include "scheduler/leader.h"
#include "scheduler/serve_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct adr {
    tp_adr_t *cfg;
    uv_timer_t timer;
    uv_work_t work;
    bool busy;
    int64_t now;
    json_t *orders; /* the poll's result */
    tp_error_t err;
    int rc;
};

static void poll_work(uv_work_t *w)
{
    struct adr *a = w->data;
    a->err = (tp_error_t){0};
    a->rc = tp_adr_poll(a->cfg, a->now, &a->orders, &a->err);
}

static pevent_t *event_by_id(svc_t *s, int64_t id)
{
    for (int i = 0; i < s->nevents; i++)
        if (s->events[i].id == id)
            return &s->events[i];
    return NULL;
}

static void order(svc_t *s, const json_t *o)
{
    const char *src = json_string_value(json_object_get(o, "source"));
    op_t *op = calloc(1, sizeof *op);
    if (!op)
        return;
    op->kind = OP_POWER;
    op->ev.cap_w = json_number_value(json_object_get(o, "cap_w"));
    op->ev.start = json_integer_value(json_object_get(o, "start"));
    op->ev.end = json_integer_value(json_object_get(o, "end"));
    json_t *body =
        json_pack("{s:O,s:f,s:I,s:I,s:s}", "domain", json_object_get(o, "domain"),
                  "cap_w", op->ev.cap_w, "start", (json_int_t)op->ev.start, "end",
                  (json_int_t)op->ev.end, "source", src);
    if (!(op->body = json_text(body)) ||
        !(op->ev.domain_id = strdup(json_string_value(json_object_get(o, "domain"))))) {
        op_free(op);
        return;
    }
    json_object_set_new(s->adr_orders, src, json_integer(0)); /* id once journaled */
    svc_log(s, "openadr: %s: cap %.0f W on %s from %lld to %lld", src, op->ev.cap_w,
            op->ev.domain_id, (long long)op->ev.start, (long long)op->ev.end);
    op_enqueue(s, op);
}

static void cancel(svc_t *s, const char *src, pevent_t *e)
{
    op_t *op = calloc(1, sizeof *op);
    if (!op)
        return;
    op->kind = OP_POWER_END;
    op->event_id = e->id;
    op->ev = *e;
    if (!(op->ev.domain_id = strdup(e->domain_id))) {
        free(op);
        return;
    }
    e->queued = true;
    svc_log(s, "openadr: %s is no longer announced: power event %lld ends", src,
            (long long)e->id);
    op_enqueue(s, op);
}

static void poll_done(uv_work_t *w, int status)
{
    struct adr *a = w->data;
    svc_t *s = a->timer.data;
    a->busy = false;
    (void)status;
    if (a->rc < 0 || !a->orders) {
        svc_log(s, "openadr: %s; nothing changed", a->err.text);
        return;
    }
    if (s->draining || !tp_leader_may_write(s)) {
        json_decref(a->orders);
        a->orders = NULL;
        return;
    }
    const char *src;
    json_t *v, *tmp;
    if (!s->busy && !s->qhead) /* nothing queued: an order still at 0 failed; retry it */
        json_object_foreach_safe (s->adr_orders, tmp, src, v)
            if (json_integer_value(v) == 0)
                json_object_del(s->adr_orders, src);
    json_t *now_src = json_object();
    size_t i;
    json_t *o;
    json_array_foreach (a->orders, i, o) {
        const char *os = json_string_value(json_object_get(o, "source"));
        json_object_set_new(now_src, os, json_true());
        if (!json_object_get(s->adr_orders, os))
            order(s, o);
    }
    json_object_foreach_safe (s->adr_orders, tmp, src, v) {
        if (json_object_get(now_src, src))
            continue;
        pevent_t *e = event_by_id(s, json_integer_value(v));
        if (e && !e->ended && !e->queued && (!e->end || e->end > a->now))
            cancel(s, src, e);
        else if (!e || e->ended)
            json_object_del(s->adr_orders, src); /* over: forget it */
    }
    json_decref(now_src);
    json_decref(a->orders);
    a->orders = NULL;
}

static void on_timer(uv_timer_t *t)
{
    svc_t *s = t->data;
    struct adr *a = s->adr;
    if (a->busy || s->draining || !tp_leader_may_write(s))
        return;
    a->busy = true;
    a->now = (int64_t)time(NULL);
    a->work.data = a;
    if (uv_queue_work(s->loop, &a->work, poll_work, poll_done) != 0)
        a->busy = false;
}

void adr_note(svc_t *s, const op_t *op)
{
    json_t *b = op->body ? json_loads(op->body, 0, NULL) : NULL;
    const char *src = json_string_value(json_object_get(b, "source"));
    if (src)
        json_object_set_new(s->adr_orders, src, json_integer(op->ev.id));
    json_decref(b);
}

int adr_start(svc_t *s, tp_error_t *err)
{
    if (!s->o.openadr)
        return 0;
    struct adr *a = calloc(1, sizeof *a);
    if (!a)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    int rc = tp_adr_load(s->o.openadr, &a->cfg, err);
    if (rc < 0) {
        free(a);
        return rc;
    }
    json_t *ds = tp_adr_domains(a->cfg);
    size_t i;
    json_t *d;
    json_array_foreach (ds, i, d)
        if (tp_strmap_get(s->fleet->domain_ix, json_string_value(d)) < 0 && !rc)
            rc = tp_error_set(err, TP_EINVAL,
                              "%s: the power domain \"%s\" is not in the fleet file",
                              s->o.openadr, json_string_value(d));
    json_decref(ds);
    if (rc < 0) {
        tp_adr_free(a->cfg);
        free(a);
        return rc;
    }
    s->adr = a;
    uv_timer_init(s->loop, &a->timer);
    a->timer.data = s;
    uv_timer_start(&a->timer, on_timer, 0, (uint64_t)tp_adr_poll_ms(a->cfg));
    svc_log(s, "openadr: polling %s every %g s", tp_adr_vtn(a->cfg),
            tp_adr_poll_ms(a->cfg) / 1000.0);
    return 0;
}

void adr_stop(svc_t *s)
{
    if (s->adr)
        uv_timer_stop(&s->adr->timer);
}

void adr_free(svc_t *s)
{
    /* a poll still on a pool thread uses the configuration: left to the exit */
    if (!s->adr || s->adr->busy)
        return;
    tp_adr_free(s->adr->cfg);
    json_decref(s->adr->orders);
    free(s->adr);
    s->adr = NULL;
}
