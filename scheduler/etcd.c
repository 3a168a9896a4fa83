/*
 * scheduler/etcd.c — etcd v3 JSON gateway client (libcurl easy, jansson,
 * OpenSSL base64). See etcd.h for the wire rules it follows.
 */
#include "scheduler/etcd.h"
#include "collectors/collectors.h"
#include "collectors/kubeapi.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ENDPOINTS 16
#define MAX_ANSWER (64u << 20)

struct tp_etcd {
    CURL *curl;
    char *urls[MAX_ENDPOINTS];
    int nurls, cur;
    int timeout_ms;
    uint64_t requests, usec;
};

/* ---- base64 ---- */

char *tp_etcd_b64_encode(const void *data, size_t len)
{
    if (len > (size_t)INT32_MAX / 2)
        return NULL;
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

char *tp_etcd_b64_decode(const char *text, size_t *len)
{
    size_t n = strlen(text);
    if (n % 4 || n > (size_t)INT32_MAX / 2)
        return NULL;
    for (size_t i = 0; i < n; i++) { /* EVP_DecodeBlock skips blanks: refuse them */
        char c = text[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '+' || c == '/' || (c == '=' && i >= n - 2)))
            return NULL;
    }
    if (n >= 2 && text[n - 2] == '=' && text[n - 1] != '=')
        return NULL;
    char *out = malloc(3 * (n / 4) + 1);
    if (!out)
        return NULL;
    int got =
        n ? EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)text, (int)n)
          : 0;
    if (got < 0) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes */
    size_t pad = (n && text[n - 1] == '=') + (n > 1 && text[n - 2] == '=');
    *len = (size_t)got - pad;
    out[*len] = '\0';
    return out;
}

/* ---- the client ---- */

/* tp_etcd_tls: set once at start (borrowed), read by every request */
static tp_post_tls_t tls;

int tp_etcd_tls(const char *ca_file, const char *cert_file, const char *key_file,
                tp_error_t *err)
{
    const char *files[3] = {ca_file, cert_file, key_file};
    if (!cert_file != !key_file)
        return tp_error_set(err, TP_EUSAGE,
                            "etcd TLS: a client certificate and its key go together");
    for (int i = 0; i < 3; i++) {
        FILE *f = files[i] ? fopen(files[i], "r") : NULL;
        if (files[i] && !f)
            return tp_error_set(err, TP_EIO, "etcd TLS: %s: %s", files[i],
                                strerror(errno));
        if (f)
            fclose(f);
    }
    tls = (tp_post_tls_t){ca_file, cert_file, key_file};
    return 0;
}

tp_etcd_t *tp_etcd_new(const char *urls, int timeout_ms, tp_error_t *err)
{
    tp_etcd_t *e = calloc(1, sizeof *e);
    if (!e) {
        tp_error_set(err, TP_ENOMEM, "out of memory");
        return NULL;
    }
    e->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    const char *p = urls ? urls : "";
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (tls.cert_file && n > 0 && strncmp(p, "http://", 7) == 0) {
            tp_error_set(err, TP_EUSAGE,
                         "etcd endpoints: a client certificate is configured, so "
                         "every endpoint must be https://, got \"%s\"",
                         urls);
            tp_etcd_free(e);
            return NULL;
        }
        if (n == 0 || e->nurls == MAX_ENDPOINTS ||
            (strncmp(p, "http://", 7) != 0 && strncmp(p, "https://", 8) != 0)) {
            tp_error_set(
                err, TP_EUSAGE,
                "etcd endpoints: expected http(s)://HOST:PORT[,...] (at most %d), "
                "got \"%s\"",
                MAX_ENDPOINTS, urls);
            tp_etcd_free(e);
            return NULL;
        }
        while (n && p[n - 1] == '/')
            n--;
        if (!(e->urls[e->nurls++] = strndup(p, n))) {
            tp_error_set(err, TP_ENOMEM, "out of memory");
            tp_etcd_free(e);
            return NULL;
        }
        p += comma ? (size_t)(comma - p) + 1 : n;
        if (!comma)
            break;
    }
    if (!e->nurls) {
        tp_error_set(err, TP_EUSAGE, "etcd endpoints: none given");
        tp_etcd_free(e);
        return NULL;
    }
    if (!(e->curl = curl_easy_init())) {
        tp_error_set(err, TP_ENOMEM, "curl_easy_init failed");
        tp_etcd_free(e);
        return NULL;
    }
    return e;
}

void tp_etcd_free(tp_etcd_t *e)
{
    if (!e)
        return;
    if (e->curl)
        curl_easy_cleanup(e->curl);
    for (int i = 0; i < e->nurls; i++)
        free(e->urls[i]);
    free(e);
}

const char *tp_etcd_endpoint(const tp_etcd_t *e)
{
    return e->urls[e->cur];
}

void tp_etcd_stats(const tp_etcd_t *e, uint64_t *requests, uint64_t *usec)
{
    *requests = e->requests;
    *usec = e->usec;
}

uint64_t tp_etcd_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* One exchange with one endpoint. 1: could not connect (try another). */
static int exchange(tp_etcd_t *e, const char *method, const char *path, const char *body,
                    long *status, tp_curl_sink_t *sink, tp_error_t *err)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", e->urls[e->cur], path);
    CURL *c = e->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)e->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(e->timeout_ms < 1000 ? e->timeout_ms : 1000));
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    tp_curl_tls(c, &tls); /* etcd's CA and our client certificate */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tp_curl_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    uint64_t t0 = tp_etcd_now_us();
    CURLcode rc = curl_easy_perform(c);
    e->requests++;
    e->usec += tp_etcd_now_us() - t0;
    curl_off_t connected = 0;
    curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connected);
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
        (rc == CURLE_OPERATION_TIMEDOUT && connected == 0)) {
        tp_error_set(err, TP_EIO, "etcd %s: %s", e->urls[e->cur], curl_easy_strerror(rc));
        return 1; /* never sent: safe to try the next member */
    }
    if (rc != CURLE_OK) {
        tp_error_set(err, TP_EIO, "etcd %s%s: %s", e->urls[e->cur], path,
                     curl_easy_strerror(rc));
        e->cur = (e->cur + 1) %
                 e->nurls; /* outcome unknown: not retried, next one next time */
        return err->code;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

/* POSTs body (stolen) to path; *answer gets the parsed JSON object. */
static int call(tp_etcd_t *e, const char *path, json_t *body, json_t **answer,
                tp_error_t *err)
{
    *answer = NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (body && !text)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    tp_curl_sink_t sink = {.max = MAX_ANSWER - 1};
    long status = 0;
    int rc = 1;
    for (int tries = 0; tries < e->nurls && rc == 1; tries++) {
        sink.len = 0;
        rc = exchange(e, text ? "POST" : "GET", path, text ? text : NULL, &status, &sink,
                      err);
        if (rc == 1)
            e->cur = (e->cur + 1) % e->nurls;
    }
    free(text);
    if (rc) {
        free(sink.buf);
        return rc == 1 ? TP_EIO : rc;
    }
    json_error_t je;
    json_t *doc = sink.buf ? json_loadb(sink.buf, sink.len, 0, &je) : NULL;
    if (!json_is_object(doc)) {
        int r =
            tp_error_set(err, TP_EIO, "etcd %s%s: HTTP %ld, not a JSON object: %.120s",
                         e->urls[e->cur], path, status, sink.buf ? sink.buf : "");
        free(sink.buf);
        json_decref(doc);
        return r;
    }
    free(sink.buf);
    if (status != 200) {
        const char *m = json_string_value(json_object_get(doc, "message"));
        if (!m)
            m = json_string_value(json_object_get(doc, "error"));
        int r = tp_error_set(err, TP_EIO, "etcd %s%s: HTTP %ld: %s", e->urls[e->cur],
                             path, status, m ? m : "(no message)");
        if (status >= 500) /* e.g. "no leader" on a cut-off member */
            e->cur = (e->cur + 1) % e->nurls;
        json_decref(doc);
        return r;
    }
    *answer = doc;
    return 0;
}

/* ---- reading the gateway's JSON ---- */

/* An int64 field: a decimal string (protobuf's mapping), a JSON integer, or
 * absent (its default, 0). */
static int get_i64(const json_t *obj, const char *name, int64_t *out, tp_error_t *err)
{
    const json_t *v = json_object_get(obj, name);
    *out = 0;
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    char *end;
    if (s && *s) {
        errno = 0;
        long long n = strtoll(s, &end, 10);
        if (!*end && !errno) {
            *out = n;
            return 0;
        }
    }
    return tp_error_set(err, TP_EPARSE,
                        "etcd answer: %s: expected an int64 (string), got %s", name,
                        s ? s : "a non-string");
}

static bool get_bool(const json_t *obj, const char *name)
{
    return json_is_true(json_object_get(obj, name)); /* absent: false */
}

/* A bytes field (absent: empty). */
static char *get_bytes(const json_t *obj, const char *name, size_t *len, tp_error_t *err)
{
    const json_t *v = json_object_get(obj, name);
    if (!v) {
        *len = 0;
        char *s = strdup("");
        if (!s)
            tp_error_set(err, TP_ENOMEM, "out of memory");
        return s;
    }
    const char *s = json_string_value(v);
    char *out = s ? tp_etcd_b64_decode(s, len) : NULL;
    if (!out)
        tp_error_set(err, TP_EPARSE, "etcd answer: %s: expected base64", name);
    return out;
}

static int read_header_rev(const json_t *ans, int64_t *rev, tp_error_t *err)
{
    int64_t r;
    if (get_i64(json_object_get(ans, "header"), "revision", &r, err) < 0)
        return err->code;
    if (rev)
        *rev = r;
    return 0;
}

void tp_etcd_range_free(tp_etcd_range_t *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++) {
        free(r->kvs[i].key);
        free(r->kvs[i].value);
    }
    free(r->kvs);
    memset(r, 0, sizeof *r);
}

/* One mvccpb.KeyValue; on error k holds what was read (free key, value). */
static int read_kv(const json_t *kv, tp_etcd_kv_t *k, tp_error_t *err)
{
    size_t klen;
    if (!json_is_object(kv) || !(k->key = get_bytes(kv, "key", &klen, err)) ||
        !(k->value = get_bytes(kv, "value", &k->value_len, err)) ||
        get_i64(kv, "create_revision", &k->create_revision, err) < 0 ||
        get_i64(kv, "mod_revision", &k->mod_revision, err) < 0 ||
        get_i64(kv, "version", &k->version, err) < 0 ||
        get_i64(kv, "lease", &k->lease, err) < 0)
        return err->code ? err->code : TP_EPARSE;
    return 0;
}

static int read_range(const json_t *ans, tp_etcd_range_t *out, tp_error_t *err)
{
    memset(out, 0, sizeof *out);
    const json_t *kvs = json_object_get(ans, "kvs");
    if (kvs && !json_is_array(kvs))
        return tp_error_set(err, TP_EPARSE, "etcd answer: kvs: expected an array");
    if (read_header_rev(ans, &out->revision, err) < 0 ||
        get_i64(ans, "count", &out->count, err) < 0)
        return err->code;
    out->more = get_bool(ans, "more");
    size_t n = json_array_size(kvs);
    if (n && !(out->kvs = calloc(n, sizeof *out->kvs)))
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        out->n++;
        if (read_kv(json_array_get(kvs, i), &out->kvs[i], err) < 0) {
            if (!err->code)
                tp_error_set(err, TP_EPARSE, "etcd answer: kvs[%zu]: expected an object",
                             i);
            tp_etcd_range_free(out);
            return err->code;
        }
    }
    return 0;
}

/* ---- requests ---- */

static json_t *b64(const char *s, size_t len)
{
    char *t = tp_etcd_b64_encode(s, len);
    json_t *j = t ? json_string(t) : NULL;
    free(t);
    return j;
}

static json_t *i64s(int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return json_string(buf);
}

char *tp_etcd_prefix_end(const char *prefix)
{
    size_t n = strlen(prefix);
    char *end = strdup(prefix);
    if (!end)
        return NULL;
    while (n) { /* increment the last byte that is not 0xff */
        unsigned char c = (unsigned char)end[n - 1];
        if (c < 0xff) {
            end[n - 1] = (char)(c + 1);
            end[n] = '\0';
            return end;
        }
        n--;
    }
    end[0] = '\0'; /* all 0xff: to the end of the keyspace ("\0") */
    return end;
}

static json_t *range_req(const char *key, const char *range_end,
                         const tp_etcd_range_opts_t *o)
{
    json_t *req = json_object();
    json_object_set_new(req, "key", b64(key, strlen(key)));
    if (range_end)
        json_object_set_new(req, "range_end",
                            *range_end ? b64(range_end, strlen(range_end))
                                       : b64("\0", 1));
    if (o && o->limit)
        json_object_set_new(req, "limit", i64s(o->limit));
    if (o && o->revision)
        json_object_set_new(req, "revision", i64s(o->revision));
    if (o && o->min_mod_revision)
        json_object_set_new(req, "min_mod_revision", i64s(o->min_mod_revision));
    if (o && o->sort_by_create) {
        json_object_set_new(req, "sort_order", json_string("ASCEND"));
        json_object_set_new(req, "sort_target", json_string("CREATE"));
    }
    if (o && o->serializable)
        json_object_set_new(req, "serializable", json_true());
    return req;
}

int tp_etcd_range(tp_etcd_t *e, const char *key, const char *range_end,
                  const tp_etcd_range_opts_t *o, tp_etcd_range_t *out, tp_error_t *err)
{
    json_t *ans;
    memset(out, 0, sizeof *out);
    int rc = call(e, "/v3/kv/range", range_req(key, range_end, o), &ans, err);
    if (rc < 0)
        return rc;
    rc = read_range(ans, out, err);
    json_decref(ans);
    return rc;
}

int tp_etcd_put(tp_etcd_t *e, const char *key, const char *value, size_t len,
                int64_t lease, int64_t *revision, tp_error_t *err)
{
    json_t *req = json_object(), *ans;
    json_object_set_new(req, "key", b64(key, strlen(key)));
    json_object_set_new(req, "value", b64(value, len));
    if (lease)
        json_object_set_new(req, "lease", i64s(lease));
    int rc = call(e, "/v3/kv/put", req, &ans, err);
    if (rc < 0)
        return rc;
    rc = read_header_rev(ans, revision, err);
    json_decref(ans);
    return rc;
}

int tp_etcd_delete(tp_etcd_t *e, const char *key, const char *range_end, int64_t *deleted,
                   tp_error_t *err)
{
    json_t *req = json_object(), *ans;
    json_object_set_new(req, "key", b64(key, strlen(key)));
    if (range_end)
        json_object_set_new(req, "range_end",
                            *range_end ? b64(range_end, strlen(range_end))
                                       : b64("\0", 1));
    int rc = call(e, "/v3/kv/deleterange", req, &ans, err);
    if (rc < 0)
        return rc;
    int64_t d = 0;
    rc = get_i64(ans, "deleted", &d, err);
    if (deleted)
        *deleted = d;
    json_decref(ans);
    return rc;
}

/* ---- transactions ---- */

struct tp_etcd_txn {
    json_t *compare, *success, *failure;
    int ngets[2];
};

tp_etcd_txn_t *tp_etcd_txn_new(void)
{
    tp_etcd_txn_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->compare = json_array();
    t->success = json_array();
    t->failure = json_array();
    if (!t->compare || !t->success || !t->failure) {
        tp_etcd_txn_free(t);
        return NULL;
    }
    return t;
}

void tp_etcd_txn_free(tp_etcd_txn_t *t)
{
    if (!t)
        return;
    json_decref(t->compare);
    json_decref(t->success);
    json_decref(t->failure);
    free(t);
}

int tp_etcd_txn_ops(const tp_etcd_txn_t *t)
{
    size_t a = json_array_size(t->success), b = json_array_size(t->failure);
    return (int)(a > b ? a : b);
}

int tp_etcd_txn_compare(tp_etcd_txn_t *t, const char *key, tp_etcd_target_t target,
                        tp_etcd_cmp_t cmp, int64_t num, const char *value)
{
    static const char *const targets[] = {"VERSION", "CREATE", "MOD", "VALUE", "LEASE"};
    static const char *const fields[] = {"version", "create_revision", "mod_revision",
                                         "value", "lease"};
    static const char *const results[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};
    json_t *c = json_object();
    if (!c)
        return TP_ENOMEM;
    json_object_set_new(c, "key", b64(key, strlen(key)));
    json_object_set_new(c, "target", json_string(targets[target]));
    json_object_set_new(c, "result", json_string(results[cmp]));
    json_object_set_new(c, fields[target],
                        target == TP_ETCD_VALUE ? b64(value, strlen(value)) : i64s(num));
    return json_array_append_new(t->compare, c) ? TP_ENOMEM : 0;
}

static int add_op(tp_etcd_txn_t *t, bool on_success, const char *kind, json_t *req)
{
    json_t *op = json_pack("{so}", kind, req);
    if (!op)
        return TP_ENOMEM;
    return json_array_append_new(on_success ? t->success : t->failure, op) ? TP_ENOMEM
                                                                           : 0;
}

int tp_etcd_txn_put(tp_etcd_txn_t *t, bool on_success, const char *key, const char *value,
                    size_t len, int64_t lease)
{
    json_t *req = json_object();
    if (!req)
        return TP_ENOMEM;
    json_object_set_new(req, "key", b64(key, strlen(key)));
    json_object_set_new(req, "value", b64(value, len));
    if (lease)
        json_object_set_new(req, "lease", i64s(lease));
    return add_op(t, on_success, "request_put", req);
}

int tp_etcd_txn_delete(tp_etcd_txn_t *t, bool on_success, const char *key)
{
    json_t *req = json_object();
    if (!req)
        return TP_ENOMEM;
    json_object_set_new(req, "key", b64(key, strlen(key)));
    return add_op(t, on_success, "request_delete_range", req);
}

int tp_etcd_txn_get(tp_etcd_txn_t *t, bool on_success, const char *key)
{
    t->ngets[on_success]++;
    return add_op(t, on_success, "request_range", range_req(key, NULL, NULL));
}

int tp_etcd_txn_commit(tp_etcd_t *e, const tp_etcd_txn_t *t, bool *succeeded,
                       int64_t *revision, tp_etcd_range_t **gets, int *ngets,
                       tp_error_t *err)
{
    json_t *req = json_pack("{sOsOsO}", "compare", t->compare, "success", t->success,
                            "failure", t->failure),
           *ans;
    if (gets) {
        *gets = NULL;
        *ngets = 0;
    }
    if (!req)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    int rc = call(e, "/v3/kv/txn", req, &ans, err);
    if (rc < 0)
        return rc;
    *succeeded = get_bool(ans, "succeeded");
    if ((rc = read_header_rev(ans, revision, err)) < 0 || !gets) {
        json_decref(ans);
        return rc;
    }
    const json_t *resps = json_object_get(ans, "responses");
    int want = t->ngets[*succeeded];
    if (want && !(*gets = calloc((size_t)want, sizeof **gets))) {
        json_decref(ans);
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    size_t i;
    const json_t *r;
    json_array_foreach (resps, i, r) {
        const json_t *rr = json_object_get(r, "response_range");
        if (!rr)
            continue;
        if (*ngets == want) {
            rc = tp_error_set(err, TP_EPARSE,
                              "etcd answer: more range responses than asked");
            break;
        }
        if ((rc = read_range(rr, &(*gets)[*ngets], err)) < 0)
            break;
        (*ngets)++;
    }
    if (!rc && *ngets != want)
        rc = tp_error_set(err, TP_EPARSE,
                          "etcd answer: %d range response(s), expected %d", *ngets, want);
    if (rc < 0) {
        for (int k = 0; k < *ngets; k++)
            tp_etcd_range_free(&(*gets)[k]);
        free(*gets);
        *gets = NULL;
        *ngets = 0;
    }
    json_decref(ans);
    return rc;
}

/* ---- leases ---- */

int tp_etcd_lease_grant(tp_etcd_t *e, int64_t ttl_s, int64_t *id, int64_t *granted_ttl,
                        tp_error_t *err)
{
    json_t *ans;
    int rc = call(e, "/v3/lease/grant", json_pack("{so}", "TTL", i64s(ttl_s)), &ans, err);
    if (rc < 0)
        return rc;
    int64_t ttl = 0;
    if (get_i64(ans, "ID", id, err) < 0 || get_i64(ans, "TTL", &ttl, err) < 0) {
        json_decref(ans);
        return err->code;
    }
    const char *msg = json_string_value(json_object_get(ans, "error"));
    json_decref(ans);
    if (msg && *msg)
        return tp_error_set(err, TP_EIO, "etcd lease grant: %s", msg);
    if (!*id)
        return tp_error_set(err, TP_EPARSE, "etcd lease grant: no ID in the answer");
    if (granted_ttl)
        *granted_ttl = ttl;
    return 0;
}

int tp_etcd_lease_keepalive(tp_etcd_t *e, int64_t id, int64_t *ttl, tp_error_t *err)
{
    json_t *ans;
    /* The gateway streams LeaseKeepAlive: one request in, one {"result": {...}}
     * out, then the stream ends with the request body. */
    int rc = call(e, "/v3/lease/keepalive", json_pack("{so}", "ID", i64s(id)), &ans, err);
    if (rc < 0)
        return rc;
    const json_t *res = json_object_get(ans, "result");
    if (!json_is_object(res)) {
        const json_t *er = json_object_get(ans, "error");
        const char *m = json_string_value(json_object_get(er, "message"));
        json_decref(ans);
        return tp_error_set(err, TP_EIO, "etcd lease keepalive: %s",
                            m ? m : "no result in the answer");
    }
    rc = get_i64(res, "TTL", ttl, err); /* absent (0): the lease is gone */
    json_decref(ans);
    return rc;
}

int tp_etcd_compact(tp_etcd_t *e, int64_t revision, tp_error_t *err)
{
    json_t *ans;
    int rc = call(e, "/v3/kv/compaction", json_pack("{so}", "revision", i64s(revision)),
                  &ans, err);
    json_decref(ans);
    return rc;
}

int tp_etcd_lease_revoke(tp_etcd_t *e, int64_t id, tp_error_t *err)
{
    json_t *ans;
    int rc = call(e, "/v3/lease/revoke", json_pack("{so}", "ID", i64s(id)), &ans, err);
    json_decref(ans);
    return rc;
}

int tp_etcd_health(tp_etcd_t *e, tp_error_t *err)
{
    json_t *ans;
    int rc = call(e, "/health", NULL, &ans, err);
    if (rc < 0)
        return rc;
    const char *h = json_string_value(json_object_get(ans, "health"));
    rc = h && strcmp(h, "true") == 0
             ? 0
             : tp_error_set(err, TP_EIO, "etcd %s: unhealthy (%s)", e->urls[e->cur],
                            h ? h : "no answer");
    json_decref(ans);
    return rc;
}

int tp_etcd_scan(tp_etcd_t *e, const char *prefix, int64_t min_mod, int page,
                 tp_etcd_kv_t **kvs, int *n, int64_t *revision, tp_error_t *err)
{
    return tp_etcd_scan_from(e, prefix, prefix, min_mod, page, kvs, n, revision, err);
}

int tp_etcd_scan_from(tp_etcd_t *e, const char *from, const char *prefix, int64_t min_mod,
                      int page, tp_etcd_kv_t **kvs, int *n, int64_t *revision,
                      tp_error_t *err)
{
    char start[1024];
    char *end = tp_etcd_prefix_end(prefix);
    tp_etcd_range_opts_t o = {.limit = page, .min_mod_revision = min_mod};
    int rc = 0, cap = 0;
    *kvs = NULL;
    *n = 0;
    *revision = 0;
    if (!end)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    if (strlen(from) + 2 > sizeof start) {
        free(end);
        return tp_error_set(err, TP_EINVAL, "etcd: key prefix too long");
    }
    snprintf(start, sizeof start, "%s", from);
    for (;;) {
        tp_etcd_range_t r;
        if ((rc = tp_etcd_range(e, start, end, &o, &r, err)) < 0)
            break;
        if (!o.revision)
            o.revision = *revision = r.revision;
        if (*n + r.n > cap) {
            int nc = cap ? cap * 2 : 256;
            while (nc < *n + r.n)
                nc *= 2;
            tp_etcd_kv_t *k = realloc(*kvs, (size_t)nc * sizeof *k);
            if (!k) {
                tp_etcd_range_free(&r);
                rc = tp_error_set(err, TP_ENOMEM, "out of memory");
                break;
            }
            *kvs = k;
            cap = nc;
        }
        if (r.n)
            memcpy(*kvs + *n, r.kvs, (size_t)r.n * sizeof *r.kvs);
        *n += r.n;
        bool more = r.more && r.n > 0;
        if (more) { /* the next page starts just after the last key: "key\x01" (keys
                       are C strings of ids without control characters) */
            size_t l = strlen(r.kvs[r.n - 1].key);
            if (l + 2 > sizeof start) {
                free(r.kvs);
                rc = tp_error_set(err, TP_EINVAL, "etcd: key too long");
                break;
            }
            memcpy(start, r.kvs[r.n - 1].key, l);
            start[l] = '\x01';
            start[l + 1] = '\0';
        }
        free(r.kvs);
        if (!more)
            break;
    }
    free(end);
    return rc;
}

/* ---- watch ---- */

typedef struct {
    const tp_etcd_watch_cb_t *cb;
    tp_curl_sink_t line; /* the message being received */
    int64_t *compacted;
    bool created;
    int rc;
    tp_error_t *err;
} wstate_t;

/* One message of the stream: {"result": WatchResponse} or {"error": …}. */
static int watch_message(wstate_t *w, const char *text, size_t len)
{
    json_error_t je;
    json_t *m = json_loadb(text, len, 0, &je);
    json_t *res = json_object_get(m, "result");
    int64_t rev = 0, compact = 0;
    int rc = 0;
    if (!json_is_object(res)) {
        json_t *e = json_object_get(m, "error");
        const char *msg = json_string_value(json_object_get(e, "message"));
        rc = tp_error_set(w->err, TP_EIO, "etcd watch: %s",
                          msg ? msg
                          : m ? "expected {\"result\": …}"
                              : je.text);
        json_decref(m);
        return rc;
    }
    if (read_header_rev(res, &rev, w->err) < 0 ||
        get_i64(res, "compact_revision", &compact, w->err) < 0) {
        json_decref(m);
        return w->err->code;
    }
    if (get_bool(res, "canceled")) {
        *w->compacted = compact;
        json_decref(m);
        return tp_error_set(w->err, TP_EIO, "etcd watch canceled%s",
                            compact ? " (the revision was compacted)" : "");
    }
    w->created |= get_bool(res, "created");
    const json_t *evs = json_object_get(res, "events");
    for (size_t i = 0; rc == 0 && i < json_array_size(evs); i++) {
        const json_t *ev = json_array_get(evs, i);
        const char *type = json_string_value(json_object_get(ev, "type"));
        tp_etcd_kv_t kv = {0};
        if (read_kv(json_object_get(ev, "kv"), &kv, w->err) < 0)
            rc = w->err->code ? w->err->code
                              : tp_error_set(w->err, TP_EPARSE, "etcd watch: bad event");
        else
            rc = w->cb->event(w->cb->arg, &kv, type && !strcmp(type, "DELETE"));
        free(kv.key);
        free(kv.value);
    }
    if (rc == 0 && rev && w->cb->progress)
        w->cb->progress(w->cb->arg, rev);
    json_decref(m);
    return rc;
}

static size_t on_watch_data(char *ptr, size_t size, size_t n, void *arg)
{
    wstate_t *w = arg;
    size_t add = size * n;
    for (size_t i = 0; i < add;) { /* one message per line */
        const char *nl = memchr(ptr + i, '\n', add - i);
        size_t run = nl ? (size_t)(nl - (ptr + i)) : add - i;
        if (run && tp_curl_sink(ptr + i, 1, run, &w->line) != run) /* bounded */
            return 0;
        i += run;
        if (!nl)
            break;
        i++; /* the newline */
        if (w->line.len && (w->rc = watch_message(w, w->line.buf, w->line.len)) < 0)
            return 0;
        w->line.len = 0;
    }
    return add;
}

static int on_watch_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                             curl_off_t un)
{
    wstate_t *w = arg;
    (void)dt, (void)dn, (void)ut, (void)un;
    return w->cb->stop && w->cb->stop(w->cb->arg) ? 1 : 0;
}

int tp_etcd_watch(tp_etcd_t *e, const char *key, const char *range_end,
                  int64_t start_revision, const tp_etcd_watch_cb_t *cb,
                  int64_t *compacted, tp_error_t *err)
{
    json_t *req = json_pack("{s:{s:o,s:o,s:o}}", "create_request", "key",
                            b64(key, strlen(key)), "range_end",
                            range_end ? b64(range_end, strlen(range_end)) : json_null(),
                            "start_revision", i64s(start_revision));
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    *compacted = 0;
    if (!body)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    char url[512];
    snprintf(url, sizeof url, "%s/v3/watch", e->urls[e->cur]);
    wstate_t w = {
        .cb = cb, .compacted = compacted, .err = err, .line = {.max = MAX_ANSWER - 1}};
    CURL *c = e->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(e->timeout_ms < 1000 ? e->timeout_ms : 1000));
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    tp_curl_tls(c, &tls); /* etcd's CA and our client certificate */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_watch_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_watch_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &w);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    free(body);
    free(w.line.buf);
    if (w.rc < 0)
        return w.rc; /* a message said why (compaction, an error) */
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return 0;                     /* stopped */
    e->cur = (e->cur + 1) % e->nurls; /* the next stream tries the next member */
    if (rc != CURLE_OK)
        return tp_error_set(err, TP_EIO, "etcd watch %s: %s", url,
                            curl_easy_strerror(rc));
    return tp_error_set(err, TP_EIO, "etcd watch %s: the stream ended (HTTP %ld)", url,
                        status);
}
