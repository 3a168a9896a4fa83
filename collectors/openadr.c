/*
 * collectors/openadr.c — the OpenADR 3 poller (see openadr.h): its strict
 * configuration, OAuth2 client credentials, GET /programs and /events with
 * libcurl's easy interface (on a pool thread), and the events → orders rules.
 */
#include "collectors/openadr.h"

#include "collectors/collectors.h"
#include "collectors/http.h"
#include "util/json_in.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define PAGE 50              /* the spec's maximum `limit` */
#define MAX_PAGES 40         /* 2000 events per poll at most */
#define MAX_ORDERS 1000      /* more orders than this from one poll: refused */
#define TIME_MAX (1LL << 40) /* as POST /v1/power/events */

/* The spec's objectID: 1..128 of [a-zA-Z0-9_-] (it goes into a query). */
static bool object_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= 128 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789_-") == n;
}
#define SECRET_MAX 4096

struct tp_adr {
    char *vtn, *ca_file, *token_url, *client_id;
    char *program_id, *program_name, *payload, *default_domain;
    char *token_file, *secret_file;
    json_t *domains; /* target → domain */
    bool allow_http;
    int poll_ms;
    /* the poll thread's cache */
    char token[SECRET_MAX + 1];
    int64_t token_expires; /* 0: does not expire (token_file) */
    char *resolved_program;
};

void tp_adr_free(tp_adr_t *a)
{
    if (!a)
        return;
    free(a->vtn);
    free(a->ca_file);
    free(a->token_url);
    free(a->client_id);
    free(a->program_id);
    free(a->program_name);
    free(a->payload);
    free(a->default_domain);
    free(a->token_file);
    free(a->secret_file);
    free(a->resolved_program);
    json_decref(a->domains);
    explicit_bzero(a->token, sizeof a->token);
    free(a);
}

int tp_adr_poll_ms(const tp_adr_t *a)
{
    return a->poll_ms;
}

const char *tp_adr_vtn(const tp_adr_t *a)
{
    return a->vtn;
}

json_t *tp_adr_domains(const tp_adr_t *a)
{
    json_t *out = json_array();
    const char *k;
    json_t *v;
    if (a->default_domain)
        json_array_append_new(out, json_string(a->default_domain));
    json_object_foreach (a->domains, k, v)
        json_array_append(out, v);
    return out;
}

static int dup_opt(jr_t *r, const char *s, char **out)
{
    return s ? jr_strdup(r, s, out) : 0;
}

/* An http(s) URL; https unless allow_http. */
static int check_url(jr_t *r, const char *path, const char *url, bool allow_http)
{
    tp_http_url_t u;
    if (tp_http_url_parts(url, &u) < 0 || u.userinfo)
        return jr_fail(r, TP_EINVAL, path,
                       "expected an absolute http(s) URL without credentials, got "
                       "\"%.200s\"",
                       url);
    if (!u.https && !allow_http)
        return jr_fail(r, TP_EINVAL, path,
                       "expected an https URL (http only with \"allow_http\": true, for "
                       "tests), got \"%.200s\"",
                       url);
    return 0;
}

int tp_adr_load(const char *path, tp_adr_t **out, tp_error_t *err)
{
    static const char *const keys[] = {"vtn",        "allow_http", "ca_file",
                                       "token_file", "client_id",  "client_secret_file",
                                       "token_url",  "program_id", "program_name",
                                       "payload",    "domains",    "default_domain",
                                       "poll_s",     NULL};
    jr_t r = {path, err};
    const char *vtn = NULL, *ca = NULL, *tf = NULL, *cid = NULL, *sf = NULL, *turl = NULL,
               *pid = NULL, *pname = NULL, *payload = "IMPORT_CAPACITY_LIMIT", *dd = NULL;
    double poll = 30;
    bool allow_http = false;
    int rc;
    tp_adr_t *a = NULL;
    *out = NULL;
    json_t *root = jr_parse_file(&r, path);
    if (!root)
        return err->code;
    if ((rc = jr_object(&r, root, "$", keys)) < 0 ||
        (rc = jr_string(&r, root, "$", "vtn", true, &vtn)) < 0 ||
        (rc = jr_bool(&r, root, "$", "allow_http", false, &allow_http)) < 0 ||
        (rc = jr_string(&r, root, "$", "ca_file", false, &ca)) < 0 ||
        (rc = jr_string(&r, root, "$", "token_file", false, &tf)) < 0 ||
        (rc = jr_string(&r, root, "$", "client_id", false, &cid)) < 0 ||
        (rc = jr_string(&r, root, "$", "client_secret_file", false, &sf)) < 0 ||
        (rc = jr_string(&r, root, "$", "token_url", false, &turl)) < 0 ||
        (rc = jr_id(&r, root, "$", "program_id", false, &pid)) < 0 ||
        (rc = jr_string(&r, root, "$", "program_name", false, &pname)) < 0 ||
        (rc = jr_id(&r, root, "$", "payload", false, &payload)) < 0 ||
        (rc = jr_id(&r, root, "$", "default_domain", false, &dd)) < 0 ||
        (rc = jr_number(&r, root, "$", "poll_s", false, 0.1, 86400, &poll)) < 0)
        goto out;
    if ((rc = check_url(&r, "$.vtn", vtn, allow_http)) < 0 ||
        (turl && (rc = check_url(&r, "$.token_url", turl, allow_http)) < 0))
        goto out;
    if (!tf == !cid) {
        rc = jr_fail(&r, TP_EINVAL, "$",
                     "expected exactly one of \"token_file\" (a bearer token) and "
                     "\"client_id\" with \"client_secret_file\" (OAuth2 client "
                     "credentials)");
        goto out;
    }
    if (!cid != !sf) {
        rc = jr_fail(&r, TP_EINVAL, cid ? "$" : "$.client_secret_file",
                     "\"client_id\" and \"client_secret_file\" go together");
        goto out;
    }
    if (!pid == !pname) {
        rc = jr_fail(&r, TP_EINVAL, "$",
                     "expected exactly one of \"program_id\" and \"program_name\"");
        goto out;
    }
    if (pid && !object_id(pid)) {
        rc = jr_fail(
            &r, TP_EINVAL, "$.program_id",
            "expected an OpenADR objectID (1..128 of [a-zA-Z0-9_-]), got \"%.80s\"", pid);
        goto out;
    }
    if (pname && (!*pname || strlen(pname) > 128)) {
        rc = jr_fail(&r, TP_EINVAL, "$.program_name", "expected 1..128 characters");
        goto out;
    }
    json_t *dm = json_object_get(root, "domains");
    if (dm) {
        const char *k;
        json_t *v;
        char kp[JR_PATH];
        if (!json_is_object(dm)) {
            rc = jr_fail(&r, TP_EINVAL, "$.domains",
                         "expected an object of target → power domain, got %s",
                         jr_type_name(dm));
            goto out;
        }
        json_object_foreach (dm, k, v) {
            jr_key_path(kp, "$.domains", k);
            if ((rc = jr_check_id(&r, kp, k)) < 0)
                goto out;
            if (!json_is_string(v)) {
                rc = jr_fail(&r, TP_EINVAL, kp, "expected a power domain id, got %s",
                             jr_type_name(v));
                goto out;
            }
            if ((rc = jr_check_id(&r, kp, json_string_value(v))) < 0)
                goto out;
        }
    }
    if (!dd && !json_object_size(dm)) {
        rc = jr_fail(&r, TP_EINVAL, "$",
                     "expected \"default_domain\" or \"domains\": which power domain an "
                     "event limits");
        goto out;
    }
    if (!(a = calloc(1, sizeof *a))) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto out;
    }
    size_t n = strlen(vtn);
    while (n && vtn[n - 1] == '/')
        n--;
    if (!(a->vtn = strndup(vtn, n))) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = dup_opt(&r, ca, &a->ca_file)) < 0 ||
        (rc = dup_opt(&r, tf, &a->token_file)) < 0 ||
        (rc = dup_opt(&r, cid, &a->client_id)) < 0 ||
        (rc = dup_opt(&r, sf, &a->secret_file)) < 0 ||
        (rc = dup_opt(&r, turl, &a->token_url)) < 0 ||
        (rc = dup_opt(&r, pid, &a->program_id)) < 0 ||
        (rc = dup_opt(&r, pname, &a->program_name)) < 0 ||
        (rc = dup_opt(&r, payload, &a->payload)) < 0 ||
        (rc = dup_opt(&r, dd, &a->default_domain)) < 0)
        goto out;
    a->domains = dm ? json_incref(dm) : json_object();
    a->allow_http = allow_http;
    a->poll_ms = (int)(poll * 1000 + 0.5);
    *out = a;
    a = NULL;
    rc = 0;
out:
    tp_adr_free(a);
    json_decref(root);
    return rc;
}

/* ---- times ---- */

int tp_adr_time(const char *s, int64_t *out, bool *is_now)
{
    int y, mo, d, h = 0, mi = 0, n = 0;
    double sec = 0;
    struct tm tm = {0};
    *is_now = false;
    if (!s || sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -1;
    const char *p = s + 10;
    if (*p == 'T' || *p == 't') {
        int m = 0;
        if (sscanf(p + 1, "%2d:%2d:%lf%n", &h, &mi, &sec, &m) != 3 || m < 8)
            return -1;
        p += 1 + m;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om, k = 0;
            if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5 || oh > 23 ||
                om > 59)
                return -1;
            int off = (oh * 60 + om) * 60;
            if (sec >= 61)
                return -1;
            sec -= *p == '+' ? off : -off; /* to UTC */
            p += 6;
        } else if (*p) {
            return -1;
        }
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec >= 61 + 86400 || !isfinite(sec))
        return -1;
    if (y == 1 && mo == 1 && d == 1) { /* "the beginning of time": now */
        *is_now = true;
        *out = 0;
        return 0;
    }
    if (y < 1970)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    *out = (int64_t)timegm(&tm) + (int64_t)floor(sec);
    return 0;
}

int tp_adr_duration(const char *s, int64_t *out)
{
    static const struct {
        char unit;
        bool time;
        int64_t secs;
    } units[] = {{'Y', false, 365 * 86400LL},
                 {'M', false, 30 * 86400LL},
                 {'W', false, 7 * 86400LL},
                 {'D', false, 86400},
                 {'H', true, 3600},
                 {'M', true, 60},
                 {'S', true, 1}};
    if (!s || s[0] != 'P' || !s[1])
        return -1;
    if (!strcmp(s, "P9999Y")) {
        *out = INT64_MAX;
        return 0;
    }
    const char *p = s + 1;
    bool in_time = false, any = false;
    size_t next = 0; /* units appear in order */
    double total = 0;
    while (*p) {
        if (*p == 'T') {
            if (in_time || !p[1])
                return -1;
            in_time = true;
            while (next < sizeof units / sizeof *units && !units[next].time)
                next++;
            p++;
            continue;
        }
        /* ISO 8601: decimal digits, a fraction only on seconds; strtod alone
         * would also take "1e3", "0x10" and "1." */
        size_t nd = strspn(p, "0123456789"), nf = 0;
        if (!nd || nd > 12)
            return -1;
        if (p[nd] == '.' && !(nf = strspn(p + nd + 1, "0123456789")))
            return -1;
        char *end;
        double v = strtod(p, &end);
        if (end != p + nd + (nf ? nf + 1 : 0))
            return -1;
        if (end == p || !isfinite(v) || v > 1e7)
            return -1;
        size_t u = next;
        while (u < sizeof units / sizeof *units &&
               (units[u].unit != *end || units[u].time != in_time))
            u++;
        if (u == sizeof units / sizeof *units || (units[u].unit != 'S' && v != floor(v)))
            return -1;
        total += v * (double)units[u].secs;
        next = u + 1;
        any = true;
        p = end + 1;
    }
    if (!any || total > 1e12)
        return -1;
    *out = (int64_t)total;
    return 0;
}

/* ---- events → orders ---- */

/* Watts per unit of the payloadDescriptor for payload in descs (an array, may
 * be NULL): 1000 (KW) when none names it; -1 with err for units we cannot use. */
static double unit_factor(jr_t *r, const json_t *descs, const char *path,
                          const char *payload)
{
    size_t i;
    const json_t *d;
    json_array_foreach (descs, i, d) {
        const char *pt = json_string_value(json_object_get(d, "payloadType"));
        if (!pt || strcmp(pt, payload))
            continue;
        const json_t *u = json_object_get(d, "units");
        const char *us = json_string_value(u);
        if (!u || json_is_null(u))
            return 1000;
        char p[JR_PATH], up[JR_PATH];
        jr_index_path(p, path, i);
        jr_key_path(up, p, "units");
        if (us && !strcmp(us, "W"))
            return 1;
        if (us && !strcmp(us, "KW"))
            return 1000;
        if (us && !strcmp(us, "MW"))
            return 1e6;
        jr_fail(r, TP_EPARSE, up, "expected the units W, KW or MW for %s, got %s%.40s%s",
                payload, us ? "\"" : "", us ? us : jr_type_name(u), us ? "\"" : "");
        return -1;
    }
    return 1000;
}

/* An intervalPeriod (may be NULL) → its start/duration if present. */
static int period(jr_t *r, const json_t *ip, const char *path, bool *has_start,
                  int64_t *start, bool *start_now, bool *has_dur, int64_t *dur)
{
    char p[JR_PATH];
    *has_start = *has_dur = false;
    if (!ip || json_is_null(ip))
        return 0;
    if (!json_is_object(ip))
        return jr_fail(r, TP_EPARSE, path, "expected an intervalPeriod object, got %s",
                       jr_type_name(ip));
    const json_t *s = json_object_get(ip, "start"), *d = json_object_get(ip, "duration");
    if (s) {
        jr_key_path(p, path, "start");
        if (!json_is_string(s) || tp_adr_time(json_string_value(s), start, start_now) < 0)
            return jr_fail(r, TP_EPARSE, p,
                           "expected an RFC 3339 date-time, got %s%.60s%s",
                           json_is_string(s) ? "\"" : "",
                           json_is_string(s) ? json_string_value(s) : jr_type_name(s),
                           json_is_string(s) ? "\"" : "");
        *has_start = true;
    }
    if (d) {
        jr_key_path(p, path, "duration");
        if (!json_is_string(d) || tp_adr_duration(json_string_value(d), dur) < 0)
            return jr_fail(r, TP_EPARSE, p,
                           "expected an ISO 8601 duration (e.g. PT1H), got %s%.60s%s",
                           json_is_string(d) ? "\"" : "",
                           json_is_string(d) ? json_string_value(d) : jr_type_name(d),
                           json_is_string(d) ? "\"" : "");
        *has_dur = true;
    }
    return 0;
}

/* The domain an event limits: its first target the configuration maps, else
 * the default domain when it has no targets; NULL: not ours. */
static const char *event_domain(const tp_adr_t *a, const json_t *targets)
{
    size_t i;
    const json_t *t;
    json_array_foreach (targets, i, t) {
        const char *s = json_string_value(t);
        /* OpenADR 3.0 targets were {type, values} maps */
        if (!s && json_is_object(t))
            s = json_string_value(json_array_get(json_object_get(t, "values"), 0));
        const char *d = s ? json_string_value(json_object_get(a->domains, s)) : NULL;
        if (d)
            return d;
    }
    return json_array_size(targets) ? NULL : a->default_domain;
}

static int one_event(const tp_adr_t *a, jr_t *r, const json_t *ev, const char *path,
                     int64_t now, json_t *orders)
{
    char p[JR_PATH], ip[JR_PATH], q[JR_PATH];
    const char *id = NULL, *program = NULL, *modified = NULL;
    if (!json_is_object(ev))
        return jr_fail(r, TP_EPARSE, path, "expected an event object, got %s",
                       jr_type_name(ev));
    if (jr_id(r, ev, path, "id", true, &id) < 0 ||
        jr_id(r, ev, path, "programID", true, &program) < 0 ||
        jr_string(r, ev, path, "modificationDateTime", true, &modified) < 0)
        return r->err->code;
    int64_t mod;
    bool mod_now;
    jr_key_path(p, path, "modificationDateTime");
    if (tp_adr_time(modified, &mod, &mod_now) < 0)
        return jr_fail(r, TP_EPARSE, p, "expected an RFC 3339 date-time, got \"%.60s\"",
                       modified);
    if (strcmp(program, a->resolved_program ? a->resolved_program : a->program_id))
        return 0; /* another program's */
    const json_t *targets = json_object_get(ev, "targets");
    jr_key_path(p, path, "targets");
    if (targets && !json_is_null(targets) && !json_is_array(targets))
        return jr_fail(r, TP_EPARSE, p, "expected an array or null, got %s",
                       jr_type_name(targets));
    const json_t *descs = json_object_get(ev, "payloadDescriptors");
    jr_key_path(p, path, "payloadDescriptors");
    if (descs && !json_is_null(descs) && !json_is_array(descs))
        return jr_fail(r, TP_EPARSE, p, "expected an array or null, got %s",
                       jr_type_name(descs));
    double factor = unit_factor(r, descs, p, a->payload);
    if (factor < 0)
        return r->err->code;
    bool ev_has_start, ev_now, ev_has_dur, has_start, now_start, has_dur;
    int64_t ev_start = 0, ev_dur = 0, start = 0, dur = 0;
    jr_key_path(p, path, "intervalPeriod");
    if (period(r, json_object_get(ev, "intervalPeriod"), p, &ev_has_start, &ev_start,
               &ev_now, &ev_has_dur, &ev_dur) < 0)
        return r->err->code;
    const json_t *ivs = json_object_get(ev, "intervals"); /* optional in the spec */
    jr_key_path(p, path, "intervals");
    if (ivs && !json_is_null(ivs) && jr_array(r, ivs, p) < 0)
        return r->err->code;
    const char *domain = event_domain(a, targets);
    int64_t prev_end = ev_has_start && !ev_now ? ev_start : now;
    size_t i;
    const json_t *iv;
    json_array_foreach (ivs, i, iv) {
        long long iid = 0;
        jr_index_path(ip, p, i);
        if (!json_is_object(iv))
            return jr_fail(r, TP_EPARSE, ip, "expected an interval object, got %s",
                           jr_type_name(iv));
        if (jr_int(r, iv, ip, "id", true, INT32_MIN, INT32_MAX, &iid) < 0)
            return r->err->code;
        jr_key_path(q, ip, "intervalPeriod");
        if (period(r, json_object_get(iv, "intervalPeriod"), q, &has_start, &start,
                   &now_start, &has_dur, &dur) < 0)
            return r->err->code;
        if (!has_start || now_start) /* follows the previous interval (or the event) */
            start = prev_end;
        if (!has_dur && !ev_has_dur)
            return jr_fail(r, TP_EPARSE, q,
                           "no duration: neither the interval nor the event has an "
                           "intervalPeriod.duration");
        if (!has_dur)
            dur = ev_dur;
        if (start > TIME_MAX) /* also: after an open-ended (P9999Y) interval */
            return jr_fail(r, TP_EPARSE, q,
                           "expected a start before %lld (does it follow an open-ended "
                           "interval?)",
                           TIME_MAX);
        int64_t end = dur == INT64_MAX ? 0 : start + dur; /* both <= 2^40: no overflow */
        if (end > TIME_MAX)
            return jr_fail(r, TP_EPARSE, q, "expected a window that ends before %lld",
                           TIME_MAX);
        prev_end = end ? end : INT64_MAX;
        const json_t *pls = json_object_get(iv, "payloads"), *pl;
        jr_key_path(q, ip, "payloads");
        if (jr_array(r, pls, q) < 0)
            return r->err->code;
        size_t k;
        json_array_foreach (pls, k, pl) {
            char pp[JR_PATH], vp[JR_PATH];
            const char *type = NULL;
            jr_index_path(pp, q, k);
            if (!json_is_object(pl))
                return jr_fail(r, TP_EPARSE, pp, "expected a valuesMap object, got %s",
                               jr_type_name(pl));
            if (jr_string(r, pl, pp, "type", true, &type) < 0)
                return r->err->code;
            if (strcmp(type, a->payload))
                continue;
            const json_t *vals = json_object_get(pl, "values");
            jr_key_path(vp, pp, "values");
            if (jr_array(r, vals, vp) < 0)
                return r->err->code;
            const json_t *v0 = json_array_get(vals, 0);
            double limit = json_number_value(v0);
            if (json_array_size(vals) != 1 || !json_is_number(v0) || !isfinite(limit) ||
                limit < 0 || limit * factor > 1e12)
                return jr_fail(r, TP_EPARSE, vp,
                               "expected one non-negative number (%s is a float), got %s",
                               a->payload,
                               json_array_size(vals) != 1 ? "another count"
                                                          : jr_type_name(v0));
            if (!domain || (end && end <= now) || dur == 0)
                continue; /* not ours, over, or cancelled (PT0S) */
            char source[400];
            snprintf(source, sizeof source, "openadr:%s/%lld@%s", id, iid, modified);
            json_t *o = json_pack("{s:s,s:s,s:f,s:I,s:I,s:s,s:I}", "source", source,
                                  "domain", domain, "cap_w", limit * factor, "start",
                                  (json_int_t)start, "end", (json_int_t)end, "event", id,
                                  "interval", (json_int_t)iid);
            if (!o || json_array_append_new(orders, o) < 0)
                return tp_error_set(r->err, TP_ENOMEM, "out of memory");
            if (json_array_size(orders) > MAX_ORDERS)
                return jr_fail(r, TP_ERANGE, pp,
                               "more than %d capacity limits in force or ahead: refused",
                               MAX_ORDERS);
        }
    }
    return 0;
}

int tp_adr_orders(const tp_adr_t *a, const char *what, const json_t *events, int64_t now,
                  json_t *orders, tp_error_t *err)
{
    jr_t r = {what, err};
    size_t i;
    const json_t *ev;
    char path[JR_PATH];
    if (!json_is_array(events))
        return jr_fail(&r, TP_EPARSE, "$", "expected an array of events, got %s",
                       jr_type_name(events));
    json_array_foreach (events, i, ev) {
        jr_index_path(path, "$", i);
        if (one_event(a, &r, ev, path, now, orders) < 0)
            return err->code ? err->code : TP_EPARSE;
    }
    return 0;
}

/* ---- the VTN over HTTP ---- */

/* One request: GET (form NULL) or POST form; *body: a new string. */
static int call(tp_adr_t *a, const char *url, const char *form, bool bearer, int *status,
                char **body, tp_error_t *err)
{
    tp_post_tls_t tls = {.ca_file = a->ca_file};
    tp_http_once_t q = {.url = url,
                        .bearer = bearer ? a->token : NULL,
                        .body = form,
                        .content_type = "application/x-www-form-urlencoded",
                        .tls = &tls,
                        .https_only = !a->allow_http,
                        .max_body = 8u << 20};
    return tp_http_once(&q, status, body, err);
}

/* The first line of a file (a token or a secret), refused when other users may
 * read it. */
static int read_secret(const char *path, const char *what, char *out, size_t cap,
                       tp_error_t *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077))
        return tp_error_set(err, TP_EINVAL,
                            "%s %s: mode %04o lets other users read it (chmod 600)", what,
                            path, (unsigned)(st.st_mode & 07777));
    FILE *f = fopen(path, "r");
    if (!f || !fgets(out, (int)cap, f)) {
        if (f)
            fclose(f);
        return tp_error_set(err, TP_EIO, "%s %s: cannot read it", what, path);
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return out[0] ? 0 : tp_error_set(err, TP_EINVAL, "%s %s: empty", what, path);
}

static int get_token(tp_adr_t *a, int64_t now, tp_error_t *err)
{
    if (a->token_file)
        return read_secret(a->token_file, "token_file", a->token, sizeof a->token, err);
    if (a->token[0] && a->token_expires > now + 30)
        return 0;
    char secret[SECRET_MAX + 1], url[600];
    int rc =
        read_secret(a->secret_file, "client_secret_file", secret, sizeof secret, err);
    if (rc < 0)
        return rc;
    CURL *c = curl_easy_init();
    char *eid = c ? curl_easy_escape(c, a->client_id, 0) : NULL;
    char *esec = c ? curl_easy_escape(c, secret, 0) : NULL;
    char *form = NULL, *body = NULL;
    int status = 0;
    explicit_bzero(secret, sizeof secret);
    size_t flen = eid && esec ? strlen(eid) + strlen(esec) + 64 : 0;
    if (flen && (form = malloc(flen)))
        snprintf(form, flen,
                 "grant_type=client_credentials&client_id=%s&client_secret=%s", eid,
                 esec);
    if (esec)
        explicit_bzero(esec, strlen(esec));
    curl_free(eid);
    curl_free(esec);
    if (c)
        curl_easy_cleanup(c);
    if (!form)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    snprintf(url, sizeof url, "%s", a->token_url ? a->token_url : "");
    if (!a->token_url)
        snprintf(url, sizeof url, "%s/auth/token", a->vtn);
    rc = call(a, url, form, false, &status, &body, err);
    explicit_bzero(form, strlen(form));
    free(form);
    if (rc < 0)
        return rc;
    tp_error_t perr = {0};
    jr_t r = {"VTN token response", &perr};
    json_t *doc = status == 200 ? jr_parse_buffer(&r, body, strlen(body)) : NULL;
    const char *tok = NULL, *type = NULL;
    long long exp = 3600;
    if (status != 200)
        rc = tp_error_set(err, TP_EIO, "POST %s: HTTP %d (client credentials refused?)",
                          url, status);
    else if (!doc || jr_string(&r, doc, "$", "access_token", true, &tok) < 0 ||
             jr_string(&r, doc, "$", "token_type", true, &type) < 0 ||
             jr_int(&r, doc, "$", "expires_in", false, 1, 1LL << 31, &exp) < 0)
        rc = tp_error_set(err, TP_EPARSE, "%s", perr.text);
    else if (strcasecmp(type, "Bearer") || !*tok || strlen(tok) > SECRET_MAX ||
             strpbrk(tok, " \r\n\t"))
        rc = tp_error_set(err, TP_EPARSE,
                          "VTN token response: expected a Bearer access_token of 1..4096 "
                          "printable characters");
    else {
        snprintf(a->token, sizeof a->token, "%s", tok);
        a->token_expires = now + exp;
    }
    json_decref(doc);
    if (body)
        explicit_bzero(body, strlen(body));
    free(body);
    return rc;
}

/* GET url → a parsed JSON array (what names it in errors). */
static int get_array(tp_adr_t *a, const char *url, const char *what, json_t **out,
                     tp_error_t *err)
{
    int status = 0;
    char *body = NULL;
    int rc = call(a, url, NULL, true, &status, &body, err);
    *out = NULL;
    if (rc < 0)
        return rc;
    if (status == 401 || status == 403)
        a->token_expires = 0; /* fetch a fresh token next time */
    if (status != 200) {
        rc = tp_error_set(err, TP_EIO, "%s: HTTP %d", what, status);
    } else {
        jr_t r = {what, err};
        *out = jr_parse_buffer(&r, body, strlen(body));
        if (!*out)
            rc = err->code;
        else if (!json_is_array(*out)) {
            rc = jr_fail(&r, TP_EPARSE, "$", "expected an array, got %s",
                         jr_type_name(*out));
            json_decref(*out);
            *out = NULL;
        }
    }
    free(body);
    return rc;
}

static int resolve_program(tp_adr_t *a, tp_error_t *err)
{
    if (a->program_id || a->resolved_program)
        return 0;
    char url[700], what[64] = "VTN GET /programs";
    json_t *progs = NULL;
    snprintf(url, sizeof url, "%s/programs", a->vtn);
    int rc = get_array(a, url, what, &progs, err);
    size_t i;
    json_t *p;
    json_array_foreach (progs, i, p) {
        const char *name = json_string_value(json_object_get(p, "programName"));
        const char *id = json_string_value(json_object_get(p, "id"));
        if (name && id && !strcmp(name, a->program_name)) {
            jr_t r = {what, err};
            char ipath[JR_PATH];
            jr_index_path(ipath, "$", i);
            strcat(ipath, ".id");
            if (!object_id(id))
                rc = jr_fail(&r, TP_EPARSE, ipath,
                             "expected an OpenADR objectID (1..128 of [a-zA-Z0-9_-])");
            else if (!(a->resolved_program = strdup(id)))
                rc = tp_error_set(err, TP_ENOMEM, "out of memory");
            break;
        }
    }
    if (!rc && !a->resolved_program)
        rc = tp_error_set(err, TP_ENOENT, "%s: no program named \"%s\"", what,
                          a->program_name);
    json_decref(progs);
    return rc;
}

int tp_adr_poll(tp_adr_t *a, int64_t now, json_t **orders, tp_error_t *err)
{
    int rc;
    *orders = NULL;
    if ((rc = get_token(a, now, err)) < 0 || (rc = resolve_program(a, err)) < 0)
        return rc;
    json_t *all = json_array();
    const char *prog = a->resolved_program ? a->resolved_program : a->program_id;
    for (int page = 0; page < MAX_PAGES; page++) {
        char url[800], what[80];
        json_t *evs = NULL;
        snprintf(url, sizeof url, "%s/events?programID=%s&skip=%d&limit=%d", a->vtn, prog,
                 page * PAGE, PAGE);
        snprintf(what, sizeof what, "VTN GET /events (skip %d)", page * PAGE);
        if ((rc = get_array(a, url, what, &evs, err)) < 0 ||
            (rc = tp_adr_orders(a, what, evs, now, all, err)) < 0) {
            json_decref(evs);
            json_decref(all);
            return rc;
        }
        size_t n = json_array_size(evs);
        json_decref(evs);
        if (n < PAGE)
            break;
    }
    *orders = all;
    return 0;
}
