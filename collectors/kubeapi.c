/*
 * collectors/kubeapi.c — the Kubernetes API server client (collectors/kubeapi.h).
 */
#include "collectors/kubeapi.h"
#include "util/file.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_TOKEN 16384
#define MAX_ANSWER (1u << 20)

struct tp_kubeapi {
    char *server, *token_file, *ca_file, *proxy;
    int timeout_ms;
    bool allow_http, in_cluster;
};

void tp_kubeapi_free(tp_kubeapi_t *k)
{
    if (!k)
        return;
    free(k->server);
    free(k->token_file);
    free(k->ca_file);
    free(k->proxy);
    free(k);
    curl_global_cleanup();
}

const char *tp_kubeapi_server(const tp_kubeapi_t *k)
{
    return k->server;
}
const char *tp_kubeapi_token_file(const tp_kubeapi_t *k)
{
    return k->token_file;
}
bool tp_kubeapi_in_cluster(const tp_kubeapi_t *k)
{
    return k->in_cluster;
}

/* The token of file, without its trailing newline, in buf (explicit_bzero it
 * after use). It must be 1..16 KiB of visible ASCII: a control character
 * would end the header it is sent in. Messages name the file, never content. */
static int read_token(const char *file, char **out, tp_error_t *err)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = tp_file_read(file, MAX_TOKEN, &text, &len, err);
    if (rc < 0)
        return rc;
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' ||
                   text[len - 1] == ' ' || text[len - 1] == '\t'))
        text[--len] = '\0';
    bool ok = len > 0;
    for (size_t i = 0; ok && i < len; i++)
        ok = text[i] > 0x20 && text[i] < 0x7f;
    if (!ok) {
        explicit_bzero(text, len);
        free(text);
        return tp_error_set(err, TP_EINVAL,
                            "%s: expected a bearer token (visible ASCII, no blanks)",
                            file);
    }
    *out = text;
    return 0;
}

/* url must be scheme://host[:port][/], scheme https (or http with allow_http). */
static int check_url(const char *url, bool allow_http, tp_error_t *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *user = NULL, *pass = NULL, *query = NULL, *frag = NULL,
         *path = NULL, *host = NULL;
    int rc = 0;
    if (!u)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        rc = tp_error_set(err, TP_EUSAGE, "--kube-api: \"%s\" is not a URL", url);
        goto out;
    }
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_USER, &user, 0);
    curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
    curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (!scheme ||
        !(strcmp(scheme, "https") == 0 || (allow_http && !strcmp(scheme, "http"))))
        rc = tp_error_set(err, TP_EUSAGE,
                          "--kube-api: expected an https:// URL, got \"%s\"%s", url,
                          allow_http ? "" : " (http:// only with --kube-insecure-http)");
    else if (user || pass)
        rc = tp_error_set(err, TP_EUSAGE,
                          "--kube-api: the URL may not carry a user or password "
                          "(the token comes from --kube-token-file)");
    else if (query || frag || (path && strcmp(path, "/") && *path))
        rc = tp_error_set(err, TP_EUSAGE,
                          "--kube-api: expected only scheme://host[:port], got \"%s\"",
                          url);
    else if (!host || !*host)
        rc = tp_error_set(err, TP_EUSAGE, "--kube-api: no host in \"%s\"", url);
out:
    curl_free(scheme);
    curl_free(user);
    curl_free(pass);
    curl_free(query);
    curl_free(frag);
    curl_free(path);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

static int dup_into(char **dst, const char *src)
{
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : TP_ENOMEM;
}

int tp_kubeapi_new(const tp_kubeapi_opts_t *o, tp_kubeapi_t **out, tp_error_t *err)
{
    static const tp_kubeapi_opts_t none = {0};
    const char *sa = o && o->sa_dir ? o->sa_dir : SA_DIR;
    char server[300], token_file[4096], ca_file[4096];
    const char *tf, *ca;
    bool in_cluster = false;
    int rc;
    *out = NULL;
    if (!o)
        o = &none;
    tf = o->token_file;
    ca = o->ca_file;
    if (o->server) {
        if (snprintf(server, sizeof server, "%s", o->server) >= (int)sizeof server)
            return tp_error_set(err, TP_EUSAGE, "--kube-api: URL too long");
        size_t n = strlen(server);
        if (n && server[n - 1] == '/')
            server[n - 1] = '\0';
        if (!tf)
            return tp_error_set(err, TP_EUSAGE,
                                "--kube-api needs --kube-token-file (the bearer token "
                                "of an account allowed to create pods/binding)");
    } else {
        const char *h = getenv("KUBERNETES_SERVICE_HOST");
        const char *p = getenv("KUBERNETES_SERVICE_PORT");
        if (!h || !*h) {
            if (tf || ca || o->proxy)
                return tp_error_set(
                    err, TP_EUSAGE,
                    "--kube-token-file, --kube-ca and --kube-proxy need "
                    "--kube-api (or KUBERNETES_SERVICE_HOST in a cluster)");
            return 0; /* not configured, not in a cluster */
        }
        if (!p || !*p)
            p = "443";
        bool v6 = strchr(h, ':') != NULL;
        if (snprintf(server, sizeof server, "https://%s%s%s:%s", v6 ? "[" : "", h,
                     v6 ? "]" : "", p) >= (int)sizeof server)
            return tp_error_set(err, TP_EUSAGE, "KUBERNETES_SERVICE_HOST: too long");
        in_cluster = true;
        if (!tf) {
            snprintf(token_file, sizeof token_file, "%s/token", sa);
            tf = token_file;
        }
        if (!ca) {
            snprintf(ca_file, sizeof ca_file, "%s/ca.crt", sa);
            ca = ca_file;
        }
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return tp_error_set(err, TP_EIO, "curl_global_init failed");
    tp_kubeapi_t *k = calloc(1, sizeof *k);
    if (!k) {
        curl_global_cleanup();
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    k->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 2000;
    k->allow_http = o->allow_http;
    k->in_cluster = in_cluster;
    if ((rc = check_url(server, o->allow_http, err)) < 0)
        goto fail;
    if (o->proxy && (rc = check_url(o->proxy, true, err)) < 0)
        goto fail;
    char *tok = NULL;
    if ((rc = read_token(tf, &tok, err)) < 0)
        goto fail;
    explicit_bzero(tok, strlen(tok));
    free(tok);
    if (ca && access(ca, R_OK) != 0) {
        rc = tp_error_set(err, TP_EIO, "%s: cannot read the API server's CA file", ca);
        goto fail;
    }
    if (dup_into(&k->server, server) < 0 || dup_into(&k->token_file, tf) < 0 ||
        dup_into(&k->ca_file, ca) < 0 || dup_into(&k->proxy, o->proxy) < 0) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto fail;
    }
    *out = k;
    return 0;
fail:
    tp_kubeapi_free(k);
    return rc;
}

size_t tp_curl_sink(char *p, size_t size, size_t n, void *sink)
{
    tp_curl_sink_t *a = sink;
    size_t add = size * n;
    if (a->len + add > a->max)
        return 0;
    if (a->len + add + 1 > a->cap) {
        size_t cap = a->cap ? a->cap : 4096;
        while (cap < a->len + add + 1)
            cap *= 2;
        char *b = realloc(a->buf, cap);
        if (!b)
            return 0;
        a->buf = b;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, p, add);
    a->len += add;
    a->buf[a->len] = '\0';
    return add;
}

int tp_kubeapi_call(const tp_kubeapi_t *k, const char *method, const char *path,
                    const char *body, int *status, char **response, tp_error_t *err)
{
    char url[4096], *auth = NULL, *tok = NULL;
    tp_curl_sink_t a = {.max = MAX_ANSWER};
    struct curl_slist *h = NULL, *h2;
    CURL *c = NULL;
    int rc;
    *status = 0;
    *response = NULL;
    if (path[0] != '/' ||
        snprintf(url, sizeof url, "%s%s", k->server, path) >= (int)sizeof url)
        return tp_error_set(err, TP_EINVAL, "API path must begin with / and fit 4 KiB");
    if ((rc = read_token(k->token_file, &tok, err)) < 0)
        return rc;
    size_t alen = strlen(tok) + 32;
    if (!(auth = malloc(alen)) || !(c = curl_easy_init())) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(auth, alen, "Authorization: Bearer %s", tok);
    const char *hdrs[] = {"Accept: application/json", "Content-Type: application/json",
                          "User-Agent: trustplace", auth};
    for (size_t i = 0; i < sizeof hdrs / sizeof *hdrs; i++) {
        if (!(h2 = curl_slist_append(h, hdrs[i]))) {
            rc = tp_error_set(err, TP_ENOMEM, "out of memory");
            goto out;
        }
        h = h2;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, k->allow_http ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROXY,
                     k->proxy ? k->proxy : ""); /* "": no proxy at all */
    if (k->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, k->ca_file);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (!strcmp(method, "POST"))
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    else
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)k->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tp_curl_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rc = tp_error_set(err, TP_EIO, "%s %s: %s", method, url, curl_easy_strerror(cc));
        goto out;
    }
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    *status = (int)code;
    *response = a.buf ? a.buf : strdup("");
    a.buf = NULL;
    if (!*response)
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
out:
    if (auth) {
        explicit_bzero(auth, strlen(auth));
        free(auth);
    }
    explicit_bzero(tok, strlen(tok));
    free(tok);
    free(a.buf);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}
