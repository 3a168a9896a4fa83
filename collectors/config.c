/*
 * collectors/config.c — the fleet file's "collectors" section: credentials
 * files, verifiers (URL template, pinned JWKS, allowed algorithms, trust
 * anchors), BMC polling limits, TLS and telemetry. Parsed strictly and
 * all-or-nothing: unknown keys, bad ranges, dangling names and unreadable files
 * are errors that name the JSON path. Schema: docs/collectors.md.
 */
#include "collectors/collectors.h"
#include "collectors/http.h"
#include "util/file.h"
#include "util/strmap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILE (4u << 20)

static void cfg_init(tp_collect_cfg_t *c)
{
    c->auth = TP_BMC_AUTH_SESSION;
    c->bmc_concurrency = 2;
    c->global_concurrency = 1024;
    c->timeout_ms = 10000;
    c->connect_timeout_ms = 3000;
    c->retries = 2;
    c->backoff_ms = 200;
    c->backoff_max_ms = 5000;
    c->interval_s = 60;
    c->stale_after_s = 300;
    c->walk_timeout_ms = 60000;
    c->rediscover_s = 240;
    c->max_body = 4L << 20;
    c->seed = 1;
}

void tp_collect_config_free(tp_collect_cfg_t *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->ncreds; i++) {
        free(c->creds[i].name);
        free(c->creds[i].username);
        if (c->creds[i].password) {
            memset(c->creds[i].password, 0, strlen(c->creds[i].password));
            free(c->creds[i].password);
        }
    }
    free(c->creds);
    for (int i = 0; i < c->nverifiers; i++) {
        tp_verifier_cfg_t *v = &c->verifiers[i];
        free(v->name);
        free(v->url);
        free(v->jwks_file);
        free(v->jwks_url);
        json_decref(v->jwks);
        free(v->issuer);
        free(v->roots_file);
        tp_att_roots_free(v->roots);
        free(v->ca_file);
        free(v->node_claim);
        free(v->verifier_developer);
        free(v->verifier_build);
        json_decref(v->identities);
    }
    free(c->verifiers);
    free(c->ca_file);
    free(c->telemetry);
    free(c->proxy);
    for (int i = 0; c->node_system && i < c->nnodes; i++)
        free(c->node_system[i]);
    free(c->node_system);
    free(c->node_cred);
    free(c->node_verifier);
    free(c);
}

/* A relative path is relative to the directory of the fleet file. */
static char *resolve(const tp_fleet_t *f, const char *path)
{
    const char *slash = f->source ? strrchr(f->source, '/') : NULL;
    size_t dl;
    char *out;
    if (path[0] == '/' || !slash)
        return strdup(path);
    dl = (size_t)(slash - f->source) + 1;
    out = malloc(dl + strlen(path) + 1);
    if (out) {
        memcpy(out, f->source, dl);
        strcpy(out + dl, path);
    }
    return out;
}

static int bad(tp_error_t *err, const tp_fleet_t *f, const char *path, const char *fmt,
               ...) __attribute__((format(printf, 4, 5)));
static int bad(tp_error_t *err, const tp_fleet_t *f, const char *path, const char *fmt,
               ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tp_error_set(err, TP_EINVAL, "%s: %s: %s", f->source ? f->source : "fleet",
                        path, msg);
}

static int unpack(tp_error_t *err, const tp_fleet_t *f, const char *path, json_t *v,
                  const char *fmt, ...)
{
    json_error_t je;
    va_list ap;
    int rc;
    if (!json_is_object(v))
        return bad(err, f, path, "expected an object");
    va_start(ap, fmt);
    rc = json_vunpack_ex(v, &je, JSON_STRICT, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return bad(err, f, path, "%s", je.text);
    return 0;
}

static bool http_url(const char *u)
{
    return u && (!strncmp(u, "https://", 8) || !strncmp(u, "http://", 7)) &&
           !strchr(u, ' ');
}

/* A URL with a user name or password in it would carry them into every log line
 * that names the URL: refused wherever a URL is configured. */
static int no_userinfo(tp_error_t *err, const tp_fleet_t *f, const char *path,
                       const char *url)
{
    tp_http_url_t u;
    const char *a = url ? strstr(url, "://") : NULL;
    /* libcurl's parser, and for templates it cannot parse ({bmc_host}) an '@'
     * anywhere in the authority. */
    if (url && ((tp_http_url_parts(url, &u) == 0 && u.userinfo) ||
                (a && memchr(a + 3, '@', strcspn(a + 3, "/?#")))))
        return bad(err, f, path,
                   "a user name or password in the URL is not allowed (it would end up "
                   "in logs); use credentials");
    return 0;
}

static int range(tp_error_t *err, const tp_fleet_t *f, const char *path, const char *key,
                 json_int_t v, json_int_t lo, json_int_t hi, int *out)
{
    if (v < lo || v > hi)
        return bad(err, f, path, "%s %lld is outside [%lld, %lld]", key, (long long)v,
                   (long long)lo, (long long)hi);
    *out = (int)v;
    return 0;
}

static int load_creds(const tp_fleet_t *f, tp_collect_cfg_t *c, json_t *creds,
                      tp_error_t *err)
{
    const char *name;
    json_t *v;
    if (!json_is_object(creds))
        return bad(err, f, "$.collectors.credentials", "expected an object");
    c->creds = calloc(json_object_size(creds) + 1, sizeof *c->creds);
    if (!c->creds)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    json_object_foreach (creds, name, v) {
        char path[256], *file = NULL, *text;
        const char *fname = NULL, *user = NULL, *pass = NULL;
        tp_credential_t *cr = &c->creds[c->ncreds];
        json_t *doc;
        json_error_t je;
        size_t len;
        snprintf(path, sizeof path, "$.collectors.credentials.%s", name);
        if (unpack(err, f, path, v, "{s:s}", "file", &fname) < 0)
            return err->code;
        cr->name = strdup(name);
        c->ncreds++;
        file = resolve(f, fname);
        if (!cr->name || !file) {
            free(file);
            return tp_error_set(err, TP_ENOMEM, "out of memory");
        }
        if (tp_file_read(file, MAX_FILE, &text, &len, err) < 0) {
            free(file);
            return err->code;
        }
        doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        memset(text, 0, len);
        free(text);
        if (!doc || json_unpack_ex(doc, &je, JSON_STRICT, "{s:s,s:s}", "username", &user,
                                   "password", &pass) < 0) {
            /* je.text may quote the file; say only where. */
            tp_error_set(err, TP_EINVAL,
                         "%s (%s): a credentials file holds exactly {\"username\": …, "
                         "\"password\": …}",
                         file, path);
            json_decref(doc);
            free(file);
            return err->code;
        }
        cr->username = strdup(user);
        cr->password = strdup(pass);
        json_decref(doc);
        free(file);
        if (!cr->username || !cr->password)
            return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    return 0;
}

/* A verifier URL: https:// (http:// only with allow_http), no userinfo (it
 * would end up in logs), no spaces. NULL when fine, else why not. */
static const char *verifier_url_problem(const char *u, bool allow_http)
{
    const char *host, *end;
    if (!u || strchr(u, ' ') || strchr(u, '\n'))
        return "expected an https:// URL";
    if (!strncmp(u, "https://", 8))
        host = u + 8;
    else if (!strncmp(u, "http://", 7) && allow_http)
        host = u + 7;
    else if (!strncmp(u, "http://", 7))
        return "plain http:// for a trust anchor: anyone on the path could forge results "
               "(https:// required; \"allow_http\": true for test beds)";
    else
        return "expected an https:// URL";
    end = host + strcspn(host, "/?#\\");
    if (*end == '\\')
        return "a backslash in a URL's authority is not allowed";
    if (memchr(host, '@', (size_t)(end - host)))
        return "user:password@ in a URL is not allowed (it would be logged)";
    if (end == host)
        return "the URL names no host";
    {
        /* The template as the collector will fill it must parse: a port in
         * 1..65535, a host libcurl accepts. */
        char filled[2048];
        size_t n = 0;
        tp_http_url_t parts;
        for (const char *p = u; *p && n + 2 < sizeof filled; p++) {
            const char *close = *p == '{' ? strchr(p, '}') : NULL;
            filled[n++] = close ? 'x' : *p;
            if (close)
                p = close;
        }
        filled[n] = '\0';
        if (strlen(u) >= sizeof filled || tp_http_url_parts(filled, &parts) < 0)
            return "not a URL libcurl can use (port 1-65535; a valid host, an IDN host "
                   "in its xn-- form)";
        if (parts.userinfo)
            return "user:password@ in a URL is not allowed (it would be logged)";
    }
    return NULL;
}

static int load_identities(const tp_fleet_t *f, tp_verifier_cfg_t *vc, const char *path,
                           json_t *ids, tp_error_t *err)
{
    const char *node;
    json_t *list, *x, *seen;
    size_t i;
    int rc = 0;
    if (!json_is_object(ids))
        return bad(err, f, path, "identities: expected {\"node\": [\"id\", …]}");
    if (!(seen = json_object()))
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    json_object_foreach (ids, node, list) {
        if (tp_fleet_node(f, node) < 0) {
            rc = bad(err, f, path, "identities: no node \"%s\" in the fleet", node);
            goto out;
        }
        if (!json_is_array(list) || json_array_size(list) == 0 ||
            json_array_size(list) > 64) {
            rc =
                bad(err, f, path, "identities.%s: expected a list of 1-64 strings", node);
            goto out;
        }
        json_array_foreach (list, i, x) {
            const char *s = json_string_value(x);
            const json_t *first;
            if (!json_is_string(x) || json_string_length(x) == 0 ||
                json_string_length(x) > 256) {
                rc = bad(err, f, path, "identities.%s[%zu]: expected a non-empty string",
                         node, i);
                goto out;
            }
            /* One identity, one node: a result naming it must bind to that node
             * only (a node's id binds with bind "claim" as well). */
            if (tp_fleet_node(f, s) >= 0 && strcmp(s, node) != 0) {
                rc = bad(err, f, path,
                         "identities.%s[%zu]: \"%s\" is another node's id: its results "
                         "would bind to both",
                         node, i, s);
                goto out;
            }
            if ((first = json_object_get(seen, s)) != NULL) {
                rc = bad(err, f, path,
                         "identities.%s[%zu]: \"%s\" is also listed for %s: one identity "
                         "names one node",
                         node, i, s, json_string_value(first));
                goto out;
            }
            if (json_object_set_new(seen, s, json_string(node)) < 0) {
                rc = tp_error_set(err, TP_ENOMEM, "out of memory");
                goto out;
            }
        }
    }
    vc->identities = json_incref(ids);
out:
    json_decref(seen);
    return rc;
}

static int load_verifier(const tp_fleet_t *f, tp_verifier_cfg_t *vc, const char *name,
                         json_t *v, tp_error_t *err)
{
    char path[256], sub[300];
    const char *url = NULL, *jf = NULL, *ju = NULL, *iss = NULL, *roots = NULL,
               *ca = NULL, *fmt = NULL, *bind = NULL, *claim = NULL, *why;
    json_t *algs = NULL, *req = NULL, *a, *vid = NULL, *ids = NULL;
    json_int_t max_age = 3600, refresh = 60, conc = 16;
    int insecure = 0, allow_test = 0, allow_http = 0, nonce = 0;
    size_t i;
    snprintf(path, sizeof path, "$.collectors.verifiers.%s", name);
    if (unpack(err, f, path, v,
               "{s:s,s?s,s?s,s?o,s?s,s?s,s?s,s?b,s?o,s?I,s?I,s?I,s?b,s?b,s?s,s?s,s?s,s?o,"
               "s?b,s?o}",
               "url", &url, "jwks_file", &jf, "jwks_url", &ju, "algs", &algs, "issuer",
               &iss, "roots_file", &roots, "ca_file", &ca, "insecure", &insecure,
               "require", &req, "max_age_s", &max_age, "jwks_refresh_s", &refresh,
               "concurrency", &conc, "allow_test_keys", &allow_test, "allow_http",
               &allow_http, "format", &fmt, "bind", &bind, "node_claim", &claim,
               "verifier_id", &vid, "nonce", &nonce, "identities", &ids) < 0)
        return err->code;
    vc->name = strdup(name);
    if (!vc->name)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    vc->allow_http = allow_http;
    if (fmt) {
        int fm = tp_att_format_parse(fmt);
        if (fm < 0)
            return bad(err, f, path,
                       "format \"%s\": expected \"ear\", \"nras\", \"ita\", \"maa\", "
                       "\"keylime\" or \"auto\"",
                       fmt);
        vc->format = (tp_att_format_t)fm;
    }
    snprintf(sub, sizeof sub, "%s.url", path);
    if ((why = verifier_url_problem(url, allow_http)) != NULL)
        return bad(err, f, sub, "%s", why);
    if (!strstr(url, "{node}"))
        return bad(err, f, sub, "url must be a URL template containing {node}");
    if (vc->format == TP_ATT_FMT_KEYLIME) {
        /* Unsigned: TLS to the verifier is all that protects the result. */
        if (jf || ju || algs || roots || iss || vid)
            return bad(err, f, path,
                       "a keylime verifier returns unsigned JSON: no jwks_file, "
                       "jwks_url, algs, roots_file, issuer or verifier_id");
    } else {
        if (!jf == !ju)
            return bad(err, f, path, "give exactly one of jwks_file and jwks_url");
        snprintf(sub, sizeof sub, "%s.jwks_url", path);
        if (ju && (why = verifier_url_problem(ju, allow_http)) != NULL)
            return bad(err, f, sub, "%s", why);
        if (!json_is_array(algs) || json_array_size(algs) == 0)
            return bad(err, f, path, "algs must be a non-empty list, e.g. [\"ES256\"]");
    }
    json_array_foreach (algs, i, a) {
        int al = tp_jws_alg_parse(json_string_value(a));
        if (al < 0)
            return bad(err, f, path,
                       "algs[%zu]: %s is not allowed (ES256/384/512, PS256/384/512, "
                       "RS256/384/512; never none or HMAC)",
                       i, json_is_string(a) ? json_string_value(a) : "a non-string");
        vc->algs |= 1u << al;
    }
    if (req) {
        if (!json_is_array(req))
            return bad(err, f, path, "require must be a list of \"cpu\" / \"gpu\"");
        json_array_foreach (req, i, a) {
            const char *s = json_string_value(a);
            if (s && !strcmp(s, "cpu"))
                vc->require |= TP_ATT_REQ_CPU;
            else if (s && !strcmp(s, "gpu"))
                vc->require |= TP_ATT_REQ_GPU;
            else
                return bad(err, f, path, "require[%zu]: expected \"cpu\" or \"gpu\"", i);
        }
    }
    /* Binding: how a result names its node. */
    vc->bind = vc->format == TP_ATT_FMT_KEYLIME ? TP_ATT_BIND_URL : TP_ATT_BIND_CLAIM;
    if (bind) {
        if (!strcmp(bind, "claim"))
            vc->bind = TP_ATT_BIND_CLAIM;
        else if (!strcmp(bind, "ueid"))
            vc->bind = TP_ATT_BIND_UEID;
        else if (!strcmp(bind, "url") && vc->format == TP_ATT_FMT_KEYLIME)
            vc->bind = TP_ATT_BIND_URL;
        else if (!strcmp(bind, "none"))
            vc->bind = TP_ATT_BIND_NONE;
        else
            return bad(err, f, path,
                       "bind \"%s\": expected \"claim\", \"ueid\" or \"none\" (\"url\" "
                       "for keylime)",
                       bind);
    }
    if (vc->format == TP_ATT_FMT_KEYLIME && vc->bind != TP_ATT_BIND_URL &&
        vc->bind != TP_ATT_BIND_NONE)
        return bad(err, f, path,
                   "a keylime result names no node: bind \"url\" or \"none\"");
    if (vc->format == TP_ATT_FMT_NRAS && vc->bind == TP_ATT_BIND_CLAIM)
        return bad(err, f, path,
                   "NRAS tokens name their GPUs, not the node: bind \"ueid\" with "
                   "identities");
    if (claim && vc->bind != TP_ATT_BIND_CLAIM)
        return bad(err, f, path, "node_claim is only used with bind \"claim\"");
    if (claim && (!claim[0] || strlen(claim) > 200))
        return bad(err, f, path, "node_claim: a claim name or a JSON pointer \"/a/b\"");
    if (claim && !(vc->node_claim = strdup(claim)))
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    if (ids && load_identities(f, vc, path, ids, err) < 0)
        return err->code;
    if (vc->bind == TP_ATT_BIND_UEID && !ids)
        return bad(err, f, path, "bind \"ueid\" needs identities {\"node\": [ueid, …]}");
    /* Relying-party nonce: sent as {nonce} in the URL, required back. */
    if (nonce != (strstr(url, "{nonce}") != NULL))
        return bad(err, f, path,
                   "\"nonce\": true and {nonce} in url go together (a fresh nonce per "
                   "request, required back in the result)");
    if (nonce && vc->format == TP_ATT_FMT_KEYLIME)
        return bad(err, f, path, "a keylime result carries no nonce");
    vc->nonce = nonce;
    if (vid) {
        const char *dev = NULL, *build = NULL;
        snprintf(sub, sizeof sub, "%s.verifier_id", path);
        if (vc->format != TP_ATT_FMT_AUTO && vc->format != TP_ATT_FMT_EAR)
            return bad(err, f, sub, "only EAR results carry a verifier id");
        if (unpack(err, f, sub, vid, "{s:s,s?s}", "developer", &dev, "build", &build) < 0)
            return err->code;
        if (!(vc->verifier_developer = strdup(dev)) ||
            (build && !(vc->verifier_build = strdup(build))))
            return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    if (max_age < 60 || max_age > 7 * 86400 || refresh < 1 || refresh > 86400 ||
        conc < 1 || conc > 1024)
        return bad(
            err, f, path,
            "max_age_s in [60, 604800], jwks_refresh_s in [1, 86400], concurrency in "
            "[1, 1024]");
    vc->max_age_s = max_age;
    vc->jwks_refresh_s = refresh;
    vc->concurrency = (int)conc;
    vc->insecure = insecure;
    vc->allow_test_keys = allow_test;
    if (!(vc->url = strdup(url)) || (iss && !(vc->issuer = strdup(iss))) ||
        (ju && !(vc->jwks_url = strdup(ju))) || (ca && !(vc->ca_file = resolve(f, ca))))
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    if (jf) {
        size_t len;
        char *text;
        if (!(vc->jwks_file = resolve(f, jf)))
            return tp_error_set(err, TP_ENOMEM, "out of memory");
        if (tp_file_read(vc->jwks_file, MAX_FILE, &text, &len, err) < 0)
            return err->code;
        vc->jwks = tp_jwks_parse(text, len, vc->jwks_file, err);
        free(text);
        if (!vc->jwks)
            return err->code;
    }
    if (roots) {
        if (!(vc->roots_file = resolve(f, roots)))
            return tp_error_set(err, TP_ENOMEM, "out of memory");
        if (!(vc->roots = tp_att_roots_load(vc->roots_file, err)))
            return err->code;
    }
    return 0;
}

static int load_bmc(const tp_fleet_t *f, tp_collect_cfg_t *c, json_t *bmc,
                    tp_error_t *err)
{
    const char *auth = NULL;
    json_int_t conc = c->bmc_concurrency, tmo = c->timeout_ms,
               ctmo = c->connect_timeout_ms, retries = c->retries, bo = c->backoff_ms,
               bomax = c->backoff_max_ms, stale = c->stale_after_s, maxb = c->max_body,
               walk = c->walk_timeout_ms, redisc = c->rediscover_s;
    const char *p = "$.collectors.bmc";
    int tmp = 0;
    if (unpack(err, f, p, bmc, "{s?s,s?I,s?I,s?I,s?I,s?I,s?I,s?I,s?I,s?I,s?I}", "auth",
               &auth, "concurrency", &conc, "timeout_ms", &tmo, "connect_timeout_ms",
               &ctmo, "retries", &retries, "backoff_ms", &bo, "backoff_max_ms", &bomax,
               "stale_after_s", &stale, "max_body_bytes", &maxb, "walk_timeout_ms", &walk,
               "rediscover_s", &redisc) < 0)
        return err->code;
    if (auth) {
        if (!strcmp(auth, "session"))
            c->auth = TP_BMC_AUTH_SESSION;
        else if (!strcmp(auth, "basic"))
            c->auth = TP_BMC_AUTH_BASIC;
        else if (!strcmp(auth, "none"))
            c->auth = TP_BMC_AUTH_NONE;
        else
            return bad(err, f, p, "auth must be \"session\", \"basic\" or \"none\"");
    }
    if (range(err, f, p, "concurrency", conc, 1, 16, &c->bmc_concurrency) < 0 ||
        range(err, f, p, "timeout_ms", tmo, 10, 600000, &c->timeout_ms) < 0 ||
        range(err, f, p, "connect_timeout_ms", ctmo, 10, 600000, &c->connect_timeout_ms) <
            0 ||
        range(err, f, p, "retries", retries, 0, 10, &c->retries) < 0 ||
        range(err, f, p, "backoff_ms", bo, 1, 600000, &c->backoff_ms) < 0 ||
        range(err, f, p, "backoff_max_ms", bomax, 1, 600000, &c->backoff_max_ms) < 0 ||
        range(err, f, p, "stale_after_s", stale, 1, 7 * 86400, &c->stale_after_s) < 0 ||
        range(err, f, p, "max_body_bytes", maxb, 4096, 64 << 20, &tmp) < 0 ||
        range(err, f, p, "walk_timeout_ms", walk, 100, 3600000, &c->walk_timeout_ms) <
            0 ||
        range(err, f, p, "rediscover_s", redisc, 0, 7 * 86400, &c->rediscover_s) < 0)
        return err->code;
    c->max_body = tmp;
    return 0;
}

static int find_cred(const tp_collect_cfg_t *c, const char *name)
{
    for (int i = 0; i < c->ncreds; i++)
        if (!strcmp(c->creds[i].name, name))
            return i;
    return -1;
}

static int find_verifier(const tp_collect_cfg_t *c, const char *name)
{
    for (int i = 0; i < c->nverifiers; i++)
        if (!strcmp(c->verifiers[i].name, name))
            return i;
    return -1;
}

/* Every node's bmc.url parses, carries no user name or password, and nodes that
 * share a BMC origin (scheme, host and port, compared exactly) agree on its
 * settings: the collector keeps one connection set per origin, so a node must not
 * inherit another's insecure flag or credentials. */
static int check_bmc_urls(const tp_fleet_t *f, tp_error_t *err)
{
    tp_http_url_t *u = calloc((size_t)f->nnodes + 1, sizeof *u);
    /* origin → the first node with a BMC there (keys live in u) */
    tp_strmap_t *seen = tp_strmap_new((size_t)f->nnodes);
    char path[96], first[96];
    int rc = 0;
    if (!u || !seen) {
        free(u);
        tp_strmap_free(seen);
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    for (int n = 0; n < f->nnodes && rc == 0; n++) {
        const tp_node_t *nd = &f->nodes[n];
        if (!nd->bmc_url)
            continue;
        snprintf(path, sizeof path, "$.nodes[%d].bmc.url", n);
        if (tp_http_url_parts(nd->bmc_url, &u[n]) < 0) {
            rc = bad(err, f, path,
                     "not a URL libcurl can use (port 1-65535; a valid host, an IDN host "
                     "in its "
                     "xn-- form)");
            break;
        }
        if ((rc = no_userinfo(err, f, path, nd->bmc_url)) < 0)
            break;
        /* Every earlier node of this origin has the first one's settings (a
         * difference was refused when it came), so the first stands for them all:
         * one look-up per node, not a scan of the nodes before it. */
        int m = tp_strmap_get(seen, u[n].origin);
        if (m < 0) {
            if (tp_strmap_put(seen, u[n].origin, n) < 0)
                rc = tp_error_set(err, TP_ENOMEM, "out of memory");
            continue;
        }
        const tp_node_t *o = &f->nodes[m];
        const char *what = NULL;
        if (o->bmc_insecure != nd->bmc_insecure)
            what = "insecure";
        else if ((o->bmc_credentials == NULL) != (nd->bmc_credentials == NULL) ||
                 (o->bmc_credentials &&
                  strcmp(o->bmc_credentials, nd->bmc_credentials) != 0))
            what = "credentials";
        if (what) {
            snprintf(path, sizeof path, "$.nodes[%d].bmc.%s", n, what);
            snprintf(first, sizeof first, "$.nodes[%d].bmc.%s", m, what);
            rc = bad(err, f, path,
                     "conflicts with %s: both nodes' BMC is %s, and one origin has "
                     "one setting",
                     first, u[n].origin);
            break;
        }
    }
    tp_strmap_free(seen);
    free(u);
    return rc;
}

int tp_collect_config_load(const tp_fleet_t *f, tp_collect_cfg_t **out, tp_error_t *err)
{
    tp_collect_cfg_t *c = calloc(1, sizeof *c);
    json_t *sec = f->collectors, *creds = NULL, *vers = NULL, *bmc = NULL, *tls = NULL,
           *tel = NULL, *sys = NULL;
    json_int_t gc = 1024, iv = 60, seed = 1;
    const char *name, *proxy = NULL;
    json_t *v;
    tp_error_clear(err);
    *out = NULL;
    if (!c)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    cfg_init(c);
    c->nnodes = f->nnodes;
    c->node_system = calloc((size_t)f->nnodes + 1, sizeof *c->node_system);
    c->node_cred = malloc(((size_t)f->nnodes + 1) * sizeof *c->node_cred);
    c->node_verifier = malloc(((size_t)f->nnodes + 1) * sizeof *c->node_verifier);
    if (!c->node_system || !c->node_cred || !c->node_verifier) {
        tp_error_set(err, TP_ENOMEM, "out of memory");
        goto fail;
    }
    if (sec) {
        if (unpack(err, f, "$.collectors", sec,
                   "{s?o,s?o,s?o,s?I,s?I,s?o,s?o,s?o,s?I,s?s}", "credentials", &creds,
                   "verifiers", &vers, "bmc", &bmc, "global_concurrency", &gc,
                   "interval_s", &iv, "tls", &tls, "telemetry", &tel, "systems", &sys,
                   "seed", &seed, "proxy", &proxy) < 0)
            goto fail;
        if (proxy &&
            (!http_url(proxy) || no_userinfo(err, f, "$.collectors.proxy", proxy) < 0)) {
            if (!err->code)
                bad(err, f, "$.collectors.proxy", "expected an http(s) proxy URL");
            goto fail;
        }
        if (proxy && !(c->proxy = strdup(proxy))) {
            tp_error_set(err, TP_ENOMEM, "out of memory");
            goto fail;
        }
        if (range(err, f, "$.collectors", "global_concurrency", gc, 1, 65536,
                  &c->global_concurrency) < 0 ||
            range(err, f, "$.collectors", "interval_s", iv, 1, 86400, &c->interval_s) < 0)
            goto fail;
        c->seed = (uint64_t)seed;
        if (creds && load_creds(f, c, creds, err) < 0)
            goto fail;
        if (vers) {
            if (!json_is_object(vers)) {
                bad(err, f, "$.collectors.verifiers", "expected an object");
                goto fail;
            }
            c->verifiers = calloc(json_object_size(vers) + 1, sizeof *c->verifiers);
            if (!c->verifiers) {
                tp_error_set(err, TP_ENOMEM, "out of memory");
                goto fail;
            }
            json_object_foreach (vers, name, v) {
                if (load_verifier(f, &c->verifiers[c->nverifiers++], name, v, err) < 0)
                    goto fail;
            }
        }
        if (bmc && load_bmc(f, c, bmc, err) < 0)
            goto fail;
        if (tls) {
            const char *ca = NULL;
            if (unpack(err, f, "$.collectors.tls", tls, "{s?s}", "ca_file", &ca) < 0)
                goto fail;
            if (ca && !(c->ca_file = resolve(f, ca))) {
                tp_error_set(err, TP_ENOMEM, "out of memory");
                goto fail;
            }
        }
        if (tel) {
            const char *url = NULL;
            if (unpack(err, f, "$.collectors.telemetry", tel, "{s:s}", "url", &url) < 0)
                goto fail;
            if (!http_url(url) ||
                (!strstr(url, "{node}") && !strstr(url, "{bmc_host}"))) {
                bad(err, f, "$.collectors.telemetry.url",
                    "an http(s) URL template with {node} or {bmc_host}");
                goto fail;
            }
            if (no_userinfo(err, f, "$.collectors.telemetry.url", url) < 0)
                goto fail;
            if (!(c->telemetry = strdup(url))) {
                tp_error_set(err, TP_ENOMEM, "out of memory");
                goto fail;
            }
        }
        if (sys) {
            if (!json_is_object(sys)) {
                bad(err, f, "$.collectors.systems", "expected an object");
                goto fail;
            }
            json_object_foreach (sys, name, v) {
                int n = tp_fleet_node(f, name);
                const char *id = json_string_value(v);
                if (n < 0) {
                    bad(err, f, "$.collectors.systems", "no node \"%s\" in the fleet",
                        name);
                    goto fail;
                }
                if (!id || !id[0] || strlen(id) >= 64) {
                    bad(err, f, "$.collectors.systems",
                        "\"%s\": expected a Redfish System Id (1-63 characters)", name);
                    goto fail;
                }
                if (!(c->node_system[n] = strdup(id))) {
                    tp_error_set(err, TP_ENOMEM, "out of memory");
                    goto fail;
                }
            }
        }
    }
    if (check_bmc_urls(f, err) < 0)
        goto fail;
    for (int n = 0; n < f->nnodes; n++) {
        const tp_node_t *nd = &f->nodes[n];
        c->node_cred[n] = -1;
        c->node_verifier[n] = -1;
        if (nd->bmc_credentials) {
            c->node_cred[n] = find_cred(c, nd->bmc_credentials);
            if (c->node_cred[n] < 0) {
                tp_error_set(err, TP_EREF,
                             "%s: $.nodes[%d].bmc.credentials: \"%s\" is not in "
                             "$.collectors.credentials",
                             f->source, n, nd->bmc_credentials);
                goto fail;
            }
        } else if (nd->bmc_url && c->auth != TP_BMC_AUTH_NONE) {
            tp_error_set(err, TP_EREF,
                         "%s: $.nodes[%d].bmc: names no credentials, and "
                         "$.collectors.bmc.auth is not \"none\"",
                         f->source, n);
            goto fail;
        }
        if (nd->verifier) {
            const tp_verifier_cfg_t *vc;
            c->node_verifier[n] = find_verifier(c, nd->verifier);
            if (c->node_verifier[n] < 0) {
                tp_error_set(err, TP_EREF,
                             "%s: $.nodes[%d].verifier: \"%s\" is not in "
                             "$.collectors.verifiers",
                             f->source, n, nd->verifier);
                goto fail;
            }
            vc = &c->verifiers[c->node_verifier[n]];
            if (vc->bind == TP_ATT_BIND_UEID &&
                !json_object_get(vc->identities, nd->id)) {
                tp_error_set(err, TP_EREF,
                             "%s: $.nodes[%d].verifier: \"%s\" binds results by UEID and "
                             "$.collectors.verifiers.%s.identities has none for node "
                             "\"%s\"",
                             f->source, n, nd->verifier, nd->verifier, nd->id);
                goto fail;
            }
        }
    }
    *out = c;
    return 0;
fail:
    tp_collect_config_free(c);
    return err->code ? err->code : TP_EINVAL;
}
