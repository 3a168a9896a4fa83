/*
 * collectors/http.h — internal to collectors/: an HTTP client on one libuv loop,
 * libcurl's multi-socket interface driven by uv_poll and uv_timer handles (the
 * pattern of curl's docs/examples/multi-uv.c). No thread per host, no blocking
 * call on the loop.
 *
 * Requests queue per host; a host runs at most its own limit at once and all
 * hosts together at most the global limit, served round robin. Transport
 * failures, 5xx and 429 are retried after a jittered exponential backoff; a
 * callback may ask for a retry of a response it cannot use (a truncated body).
 */
#ifndef TP_COLLECTORS_HTTP_H
#define TP_COLLECTORS_HTTP_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct tp_http tp_http_t;
typedef struct tp_http_host tp_http_host_t;

typedef enum { TP_HTTP_GET, TP_HTTP_POST, TP_HTTP_DELETE } tp_http_method_t;

typedef struct {
    int status;        /* HTTP status; 0 when no response came */
    const char *error; /* why no (usable) response came, else NULL */
    const char *body;  /* NUL-terminated; empty when none */
    size_t len;
    const char *auth_token; /* response header X-Auth-Token, or NULL */
    const char *location;   /* response header Location, or NULL */
    int attempt;            /* 0 for the first */
    bool last;              /* no retry left: a TP_HTTP_RETRY is ignored */
    bool cancelled;         /* the client is closing: free arg, start nothing */
} tp_http_resp_t;

enum { TP_HTTP_DONE = 0, TP_HTTP_RETRY = 1 };
/* Called once per request (after its retries), on the loop. */
typedef int (*tp_http_cb)(void *arg, const tp_http_resp_t *r);

typedef struct {
    int limit;      /* requests in flight to this host */
    int timeout_ms; /* whole request */
    int connect_timeout_ms;
    int retries;                 /* after the first attempt */
    const char *ca_file;         /* borrowed; NULL: system CAs */
    bool insecure;               /* no TLS verification */
    const char *user, *password; /* HTTP Basic, borrowed; NULL: none */
} tp_http_host_opts_t;

typedef struct {
    uint64_t requests, failures, retries, bytes;
    uint64_t connects; /* new connections (CURLINFO_NUM_CONNECTS) */
    double latency_sum_s;
    int inflight, max_inflight;
} tp_http_stats_t;

tp_http_t *tp_http_new(uv_loop_t *loop, int global_limit, int backoff_ms,
                       int backoff_max_ms, long max_body, uint64_t seed, tp_error_t *err);
/* origin: "scheme://host[:port]" that paths are appended to (copied). The host
 * belongs to the client. NULL on ENOMEM. */
tp_http_host_t *tp_http_host_new(tp_http_t *h, const char *origin,
                                 const tp_http_host_opts_t *o);
/* X-Auth-Token sent instead of Basic auth (copied; NULL clears). The token and
 * the Basic credentials go only with requests to the host's own origin: an
 * absolute URL on another scheme, host or port gets neither. */
void tp_http_host_set_token(tp_http_host_t *host, const char *token);
const char *tp_http_host_origin(const tp_http_host_t *host);
/* Queues a request; `target` is a path ("/redfish/v1") or an absolute URL. body
 * (POST) is copied. TP_EINVAL when closing, TP_ENOMEM. */
int tp_http_request(tp_http_host_t *host, tp_http_method_t m, const char *target,
                    const char *body, tp_http_cb cb, void *arg);
const tp_http_stats_t *tp_http_stats(const tp_http_t *h);
/* Every later request goes through this proxy (copied; NULL: none). Without one,
 * no request uses a proxy, whatever http_proxy / ALL_PROXY say. TP_ENOMEM. */
int tp_http_set_proxy(tp_http_t *h, const char *proxy);

/* An absolute http(s) URL, taken apart by libcurl's URL parser. */
typedef struct {
    char origin[300]; /* "scheme://host:port": lower case, the port always given */
    bool https;
    bool userinfo; /* a user name or password in the URL */
} tp_http_url_t;
/* 0, or -1 when url is not an absolute http(s) URL libcurl accepts. */
int tp_http_url_parts(const char *url, tp_http_url_t *out);
/* Do url and origin name the same scheme, host and port, exactly? False when
 * either does not parse. */
bool tp_http_same_origin(const char *url, const char *origin);
/* Why a response is not usable, for log lines: the transport error, or
 * "HTTP <status>" formatted into buf. */
const char *tp_http_why(const tp_http_resp_t *r, char *buf, size_t len);
void tp_http_stats_reset(tp_http_t *h);
/* Cancels everything (callbacks see cancelled), closes every handle and, once
 * the loop has released them, frees the client and calls done(arg). */
void tp_http_close(tp_http_t *h, void (*done)(void *arg), void *arg);

#endif
