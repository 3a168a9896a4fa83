/*
 * collectors/kubeapi.h — a minimal client of the Kubernetes API server: what
 * `trustplace serve` needs to bind the pods its extender placed (POST a
 * v1.Binding, GET a pod). libcurl's easy interface, one handle per call, so a
 * call blocks its thread: run it off the service's loop (scheduler/worker.c
 * does, in its thread-pool job). collectors/ stays the only module that
 * includes curl.h.
 *
 * Configuration (docs/k8s.md "Binding pods"): an explicit server URL, or, when
 * none is given and KUBERNETES_SERVICE_HOST/PORT are set, the in-cluster one
 * with the service account's token and CA. https only (http:// only with
 * allow_http, for tests), no userinfo, query or path in the URL; no proxy
 * unless one is configured (the *_proxy environment is ignored); redirects are
 * not followed. The token is read from its file on every call (projected
 * service-account tokens rotate), sent only in the Authorization header and
 * never written into an error message.
 *
 * A tp_kubeapi_t is immutable once made: calls from several threads are safe.
 */
#ifndef TP_COLLECTORS_KUBEAPI_H
#define TP_COLLECTORS_KUBEAPI_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *server;     /* "https://HOST[:PORT]"; NULL: in-cluster autodetection */
    const char *token_file; /* bearer token; NULL: in-cluster, the service account's */
    const char *ca_file;    /* PEM CA bundle; NULL: in-cluster ca.crt, else system CAs */
    const char *proxy;      /* proxy URL; NULL: none */
    const char *sa_dir;     /* NULL: /var/run/secrets/kubernetes.io/serviceaccount */
    int timeout_ms;         /* per call; 0: 2000 */
    bool allow_http;        /* accept an http:// server (tests only; the caller warns) */
} tp_kubeapi_opts_t;

typedef struct tp_kubeapi tp_kubeapi_t;

/* Validates the options (URL, readable token and CA files) and copies them.
 * Returns 0 with *out NULL when nothing is configured and the process is not
 * in a cluster (no KUBERNETES_SERVICE_HOST): there is no API server to use.
 * Otherwise 0 with a client the caller frees with tp_kubeapi_free(), or a
 * negative TP_E* code with err set (TP_EUSAGE for bad options, TP_EIO for
 * unreadable files). Call from the main thread before other threads run
 * (curl_global_init). */
int tp_kubeapi_new(const tp_kubeapi_opts_t *o, tp_kubeapi_t **out, tp_error_t *err);
void tp_kubeapi_free(tp_kubeapi_t *k); /* accepts NULL */
/* The server URL ("https://HOST:PORT"), the token file and whether they were
 * autodetected in a cluster; borrowed. */
const char *tp_kubeapi_server(const tp_kubeapi_t *k);
const char *tp_kubeapi_token_file(const tp_kubeapi_t *k);
bool tp_kubeapi_in_cluster(const tp_kubeapi_t *k);

/* One request: method "GET" or "POST", path beginning with "/" (built by the
 * caller from checked names, e.g. tp_k8s_binding()), body JSON or NULL. 0 with
 * *status the HTTP status and *response the body (malloc'd, NUL-terminated,
 * at most 1 MiB; the caller frees it) — any status, 201 or 409 alike; or a
 * negative code with err set when no answer came (connection, TLS, timeout,
 * unreadable token), *response NULL. */
int tp_kubeapi_call(const tp_kubeapi_t *k, const char *method, const char *path,
                    const char *body, int *status, char **response, tp_error_t *err);

/* A libcurl write callback (collectors/, scheduler/etcd.c) collecting an answer
 * of at most max bytes into buf (malloc'd, grown geometrically, NUL-terminated;
 * the caller frees it). Setting len to 0 reuses buf for the next answer. */
typedef struct {
    char *buf;
    size_t len, cap, max;
} tp_curl_sink_t;
size_t tp_curl_sink(char *p, size_t size, size_t n, void *sink);

#endif
