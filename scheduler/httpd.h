/*
 * scheduler/httpd.h — the service's HTTP front: H2O (libh2o, built on libuv) on
 * the caller's loop, HTTP/1.1 keep-alive and HTTP/2 over cleartext, with limits
 * on connections, header bytes, body bytes (413 from H2O itself), request and
 * idle time.
 *
 * One callback receives every request as a tp_httpd_view_t (borrowed, valid for
 * the duration of the call) and a tp_httpd_req_t handle. The handler answers at
 * once or later, from the loop thread, with exactly one tp_httpd_respond(); a
 * client that went away in between is handled here (the answer is dropped).
 * Only scheduler/httpd.c includes h2o.h. Everything runs on the loop thread.
 *
 * TLS (optional): with a certificate and key the listener speaks only TLS 1.2
 * or 1.3 (OpenSSL's defaults for ciphers, no compression, no renegotiation, no
 * session resumption, so each connection's client certificate is checked
 * afresh), HTTP/2 chosen by ALPN ("h2") or HTTP/1.1. With a client CA a
 * client certificate is required and verified against it (chain, validity
 * dates); a connection without one, or with one the CA did not issue or that
 * has expired, fails in the handshake and is counted (tp_httpd_tls_refused).
 * Each request carries the SHA-256 of its connection's verified certificate.
 */
#ifndef TP_SCHEDULER_HTTPD_H
#define TP_SCHEDULER_HTTPD_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct tp_httpd tp_httpd_t;
typedef struct tp_httpd_req tp_httpd_req_t;

typedef struct {
    const char *method; /* "GET", … (NUL-terminated, borrowed) */
    const char *path;   /* "/v1/nodes/a1" without the query */
    const char *query;  /* after '?', or NULL */
    const char *body;   /* NULL when none; body_len bytes, NUL after them */
    size_t body_len;
    const char *authorization;   /* the Authorization header, or NULL */
    const char *idempotency_key; /* the Idempotency-Key header, or NULL */
    const char *accept;          /* the Accept header, or NULL */
    /* The SHA-256 of the DER of the client certificate this connection's
     * handshake verified (32 bytes), or NULL (no TLS, no client CA). */
    const unsigned char *client_sha256;
} tp_httpd_view_t;

typedef void (*tp_httpd_handler_fn)(void *arg, tp_httpd_req_t *req,
                                    const tp_httpd_view_t *v);

typedef struct {
    const char *host;          /* numeric IPv4/IPv6 address to bind */
    int port;                  /* 0: any free port (see tp_httpd_port) */
    int max_connections;       /* more are closed at accept (default 1024) */
    size_t max_body;           /* bytes (default 1 MiB); larger gets 413 */
    size_t max_headers;        /* total header bytes (default 16 KiB); larger gets 413 */
    int request_timeout_ms;    /* HTTP/1 time to receive a request (default 10000) */
    int idle_timeout_ms;       /* HTTP/2 idle (default 30000) */
    const char *tls_cert;      /* PEM certificate chain: TLS on; NULL: cleartext */
    const char *tls_key;       /* PEM private key of tls_cert */
    const char *tls_client_ca; /* PEM CA(s): client certificates required; or NULL */
    tp_httpd_handler_fn handler;
    void *arg;
    /* Optional: called (with arg) as each request is answered; path has no
     * query and may be truncated to 63 bytes. */
    void (*observe)(void *arg, const char *method, const char *path, int status,
                    double seconds);
} tp_httpd_opts_t;

/* Binds and listens on loop. NULL with err set on failure. */
tp_httpd_t *tp_httpd_new(uv_loop_t *loop, const tp_httpd_opts_t *o, tp_error_t *err);
int tp_httpd_port(const tp_httpd_t *h); /* the bound port */
int tp_httpd_connections(const tp_httpd_t *h);
/* TLS handshakes this server ended with a fatal alert (no, unknown or expired
 * client certificate, no common protocol …). */
unsigned long long tp_httpd_tls_refused(const tp_httpd_t *h);
/* Stops accepting; open connections are asked to finish (keep-alive ends after
 * the request in flight). */
void tp_httpd_stop_accepting(tp_httpd_t *h);
/* Closes the listener and frees once every connection has closed; call after
 * tp_httpd_stop_accepting and after every pending request was answered. */
void tp_httpd_free(tp_httpd_t *h);

/* Answers req with status and a JSON body (copied); req is invalid afterwards.
 * extra_header/extra_value may be NULL. */
void tp_httpd_respond(tp_httpd_req_t *req, int status, const char *json, size_t len);
void tp_httpd_respond_hdr(tp_httpd_req_t *req, int status, const char *json, size_t len,
                          const char *extra_header, const char *extra_value);
/* Same with another Content-Type (metrics text, the dashboard's HTML). */
void tp_httpd_respond_typed(tp_httpd_req_t *req, int status, const char *content_type,
                            const char *body, size_t len);
/* {"error": {"code", "message", "path"}} with status; path may be NULL. */
void tp_httpd_error(tp_httpd_req_t *req, int status, const char *code, const char *path,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* False once the client is gone (answering is then a no-op). */
bool tp_httpd_alive(const tp_httpd_req_t *req);

/* The SSL of one H2O socket from its private TLS state head (H2O's struct
 * st_h2o_socket_ssl_t, which begins {SSL_CTX *, SSL *}), or NULL unless that
 * SSL is of ctx and its BIO's data is sock — what H2O's setup_bio() sets on
 * each connection's SSL. A layout other than the one assumed, or another connection's
 * SSL, yields NULL (no client identity: fail closed), never a wrong one. Exposed for the
 * unit tests; the pointers are borrowed. */
struct ssl_st;
struct ssl_ctx_st;
struct ssl_st *tp_httpd_ssl_of(const void *head, const void *sock,
                               const struct ssl_ctx_st *ctx);

#endif
