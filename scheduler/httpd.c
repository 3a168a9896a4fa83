/*
 * scheduler/httpd.c — H2O on libuv: accept with a connection limit, hand each
 * request to the service's handler, answer it now or later; optionally over
 * TLS with verified client certificates (OpenSSL under H2O's TLS layer).
 */
#include "scheduler/httpd.h"

#include <h2o.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tp_httpd {
    uv_loop_t *loop;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    uv_tcp_t listener;
    bool listening;
    int port;
    int nconn;
    tp_httpd_opts_t o;
    SSL_CTX *ssl_ctx; /* NULL: cleartext */
    unsigned long long tls_refused;
};

typedef struct {
    h2o_handler_t super;
    tp_httpd_t *http;
} handler_t;

/* Outlives the h2o request: the pool's dispose hook clears req when the client
 * goes away; whichever of respond and dispose comes second frees it. */
struct tp_httpd_req {
    h2o_req_t *req;
    bool responded, disposed;
    tp_httpd_t *h;
    uint64_t t0_ns;           /* for the observe hook */
    char method[8], path[64]; /* copies (truncated) for the observe hook */
};

static void req_dispose(void *p)
{
    tp_httpd_req_t *r = *(tp_httpd_req_t **)p;
    r->req = NULL;
    r->disposed = true;
    if (r->responded)
        free(r);
}

bool tp_httpd_alive(const tp_httpd_req_t *r)
{
    return r->req != NULL;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Content";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

static void respond(tp_httpd_req_t *r, int status, const char *ctype, const char *json,
                    size_t len, const char *extra_header, const char *extra_value)
{
    h2o_req_t *req = r->req;
    r->responded = true;
    if (r->h && r->h->o.observe)
        r->h->o.observe(r->h->o.arg, r->method, r->path, status,
                        (double)(uv_hrtime() - r->t0_ns) / 1e9);
    if (req) {
        req->res.status = status;
        req->res.reason = reason(status);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
                       strlen(ctype));
        if (status == 401)
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE,
                           NULL, H2O_STRLIT("Bearer"));
        if (extra_header && extra_value)
            h2o_add_header_by_str(&req->pool, &req->res.headers, extra_header,
                                  strlen(extra_header), 0, NULL, extra_value,
                                  strlen(extra_value));
        h2o_send_inline(req, json, len); /* copies */
    }
    if (r->disposed)
        free(r);
}

void tp_httpd_respond_hdr(tp_httpd_req_t *r, int status, const char *json, size_t len,
                          const char *extra_header, const char *extra_value)
{
    respond(r, status, "application/json", json, len, extra_header, extra_value);
}

void tp_httpd_respond_typed(tp_httpd_req_t *r, int status, const char *content_type,
                            const char *body, size_t len)
{
    respond(r, status, content_type, body, len, NULL, NULL);
}

void tp_httpd_respond(tp_httpd_req_t *r, int status, const char *json, size_t len)
{
    tp_httpd_respond_hdr(r, status, json, len, NULL, NULL);
}

/* s itself when it is valid UTF-8; else every byte >= 0x80 replaced by '?'. */
static char *utf8_or_ascii(char *s)
{
    json_t *probe = json_string(s);
    if (probe) {
        json_decref(probe);
        return s;
    }
    for (char *p = s; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    return s;
}

void tp_httpd_error(tp_httpd_req_t *r, int status, const char *code, const char *path,
                    const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char pbuf[256];
    if (path)
        snprintf(pbuf, sizeof pbuf, "%s", path);
    /* Messages quote client bytes (ids, paths), possibly not UTF-8 or cut
     * mid-character: JSON cannot carry those, so they become '?'. */
    utf8_or_ascii(msg);
    json_t *doc = json_pack("{s:{s:s,s:s,s:s?}}", "error", "code", code, "message", msg,
                            "path", path ? utf8_or_ascii(pbuf) : NULL);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text)
        tp_httpd_respond(r, status, text, strlen(text));
    else
        tp_httpd_respond(r, 500,
                         "{\"error\":{\"code\":\"internal\",\"message\":\"out of "
                         "memory\"}}",
                         strlen("{\"error\":{\"code\":\"internal\",\"message\":\"out of "
                                "memory\"}}"));
    free(text);
    json_decref(doc);
}

static const char *header(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0)
        return NULL;
    h2o_iovec_t v = req->headers.entries[i].value;
    return h2o_strdup(&req->pool, v.base, v.len).base;
}

/* The SSL object under req's connection, or NULL. libh2o 2.2 has no accessor
 * for it; its struct st_h2o_socket_ssl_t begins {SSL_CTX *ssl_ctx; SSL *ossl;}
 * (lib/common/socket.c). tp_httpd_ssl_of() checks what it finds there. */
static SSL *req_ssl(const tp_httpd_t *h, h2o_req_t *req)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket
                             ? req->conn->callbacks->get_socket(req->conn)
                             : NULL;
    if (!h->ssl_ctx || !sock || !sock->ssl)
        return NULL;
    return tp_httpd_ssl_of(sock->ssl, sock, h->ssl_ctx);
}

SSL *tp_httpd_ssl_of(const void *head_, const void *sock, const SSL_CTX *ctx)
{
    const struct {
        SSL_CTX *ctx;
        SSL *ossl;
    } *head = head_;
    /* Our context alone would also match another connection's SSL (they all
     * share it); H2O's setup_bio() gives each SSL a BIO whose data is its own
     * socket, so that proves the SSL is this connection's. */
    BIO *rb;
    if (!head || !ctx || !sock || head->ctx != ctx || !head->ossl ||
        SSL_get_SSL_CTX(head->ossl) != ctx || !(rb = SSL_get_rbio(head->ossl)) ||
        BIO_get_data(rb) != sock)
        return NULL;
    return head->ossl;
}

/* The SHA-256 of the verified client certificate of req's connection into
 * out; false when there is none (or it did not verify). */
static bool client_digest(const tp_httpd_t *h, h2o_req_t *req, unsigned char out[32])
{
    unsigned int n = 0;
    SSL *ssl = h->o.tls_client_ca ? req_ssl(h, req) : NULL;
    X509 *peer = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
    return peer && SSL_get_verify_result(ssl) == X509_V_OK &&
           X509_digest(peer, EVP_sha256(), out, &n) == 1 && n == 32;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    tp_httpd_t *h = ((handler_t *)self)->http;
    tp_httpd_req_t *r = calloc(1, sizeof *r);
    tp_httpd_req_t **slot;
    if (!r || !(slot = h2o_mem_alloc_shared(&req->pool, sizeof *slot, req_dispose))) {
        free(r);
        return -1;
    }
    r->req = req;
    *slot = r;
    r->h = h;
    r->t0_ns = uv_hrtime();
    snprintf(r->method, sizeof r->method, "%.*s", (int)req->method.len, req->method.base);
    snprintf(r->path, sizeof r->path, "%.*s",
             (int)(req->query_at == SIZE_MAX ? req->path.len : req->query_at),
             req->path.base);

    size_t hdr_bytes = 0;
    for (size_t i = 0; i < req->headers.size; i++)
        hdr_bytes +=
            req->headers.entries[i].name->len + req->headers.entries[i].value.len;
    if (hdr_bytes + req->path.len > h->o.max_headers) {
        tp_httpd_error(r, 413, "headers_too_large", NULL,
                       "request line and headers are %zu bytes; the limit is %zu",
                       hdr_bytes + req->path.len, h->o.max_headers);
        return 0;
    }
    size_t plen = req->query_at == SIZE_MAX ? req->path.len : req->query_at;
    tp_httpd_view_t v = {0};
    v.method = h2o_strdup(&req->pool, req->method.base, req->method.len).base;
    v.path = h2o_strdup(&req->pool, req->path.base, plen).base;
    if (req->query_at != SIZE_MAX)
        v.query =
            h2o_strdup(&req->pool, req->path.base + plen + 1, req->path.len - plen - 1)
                .base;
    if (req->entity.base) {
        v.body = h2o_strdup(&req->pool, req->entity.base, req->entity.len).base;
        v.body_len = req->entity.len;
    }
    v.authorization = header(req, "authorization");
    v.idempotency_key = header(req, "idempotency-key");
    v.accept = header(req, "accept");
    unsigned char fp[32];
    if (client_digest(h, req, fp)) {
        unsigned char *copy = h2o_mem_alloc_pool(&req->pool, sizeof fp);
        memcpy(copy, fp, sizeof fp);
        v.client_sha256 = copy;
    }
    h->o.handler(h->o.arg, r, &v);
    return 0;
}

/* H2O owns the handle's data pointer; the server is found through this. */
typedef struct {
    uv_tcp_t tcp; /* first: the close callback gets &conn->tcp */
    tp_httpd_t *h;
} conn_t;

static void on_conn_close(uv_handle_t *hd)
{
    conn_t *c = (conn_t *)hd;
    c->h->nconn--;
    free(c);
}

static void on_reject_close(uv_handle_t *hd)
{
    free(hd);
}

static void on_accept(uv_stream_t *listener, int status)
{
    tp_httpd_t *h = listener->data;
    if (status != 0)
        return;
    conn_t *conn = malloc(sizeof *conn);
    if (!conn)
        return;
    uv_tcp_init(h->loop, &conn->tcp);
    if (uv_accept(listener, (uv_stream_t *)&conn->tcp) != 0 ||
        h->nconn >= h->o.max_connections || !h->listening) {
        uv_close((uv_handle_t *)&conn->tcp,
                 on_reject_close); /* over the limit: refused */
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    conn->h = h;
    h->nconn++;
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&conn->tcp, on_conn_close);
    h2o_accept(&h->accept_ctx, sock);
}

/* Counts handshakes this side ends with a fatal alert. */
static void on_tls_info(const SSL *ssl, int where, int ret)
{
    if ((where & SSL_CB_ALERT) && (where & SSL_CB_WRITE) && (ret >> 8) == SSL3_AL_FATAL) {
        tp_httpd_t *h = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
        if (h)
            h->tls_refused++;
    }
}

/* The first OpenSSL error's text after what. */
static int tls_fail(tp_error_t *err, const char *what, const char *file)
{
    char buf[256] = "no detail";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return tp_error_set(err, TP_EINVAL, "%s %s: %s", what, file, buf);
}

static SSL_CTX *tls_context(tp_httpd_t *h, tp_error_t *err)
{
    const tp_httpd_opts_t *o = &h->o;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        tls_fail(err, "TLS:", "cannot create a context");
        return NULL;
    }
    SSL_CTX_set_app_data(ctx, h);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
    /* No resumption: every connection presents and proves its certificate. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_info_callback(ctx, on_tls_info);
    if (SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert) != 1) {
        tls_fail(err, "--tls-cert", o->tls_cert);
        goto error;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, o->tls_key, SSL_FILETYPE_PEM) != 1) {
        tls_fail(err, "--tls-key", o->tls_key);
        goto error;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        tls_fail(err, "--tls-key does not match --tls-cert:", o->tls_key);
        goto error;
    }
    if (o->tls_client_ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->tls_client_ca);
        if (!names || SSL_CTX_load_verify_locations(ctx, o->tls_client_ca, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            tls_fail(err, "--tls-client-ca", o->tls_client_ca);
            goto error;
        }
        SSL_CTX_set_client_CA_list(ctx, names); /* steals names */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        SSL_CTX_set_verify_depth(ctx, 4);
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    return ctx;
error:
    SSL_CTX_free(ctx);
    return NULL;
}

unsigned long long tp_httpd_tls_refused(const tp_httpd_t *h)
{
    return h->tls_refused;
}

tp_httpd_t *tp_httpd_new(uv_loop_t *loop, const tp_httpd_opts_t *o, tp_error_t *err)
{
    tp_httpd_t *h = calloc(1, sizeof *h);
    struct sockaddr_storage addr;
    int rc;
    if (!h) {
        tp_error_set(err, TP_ENOMEM, "out of memory");
        return NULL;
    }
    h->loop = loop;
    h->o = *o;
    if (h->o.max_connections <= 0)
        h->o.max_connections = 1024;
    if (!h->o.max_body)
        h->o.max_body = 1 << 20;
    if (!h->o.max_headers)
        h->o.max_headers = 16 << 10;
    if (h->o.request_timeout_ms <= 0)
        h->o.request_timeout_ms = 10000;
    if (h->o.idle_timeout_ms <= 0)
        h->o.idle_timeout_ms = 30000;

    if (uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&addr) != 0) {
        tp_error_set(err, TP_EINVAL, "--listen: \"%s\" is not a numeric IP address",
                     o->host);
        free(h);
        return NULL;
    }
    if (!o->tls_cert != !o->tls_key || (o->tls_client_ca && !o->tls_cert)) {
        tp_error_set(err, TP_EUSAGE,
                     "--tls-cert and --tls-key go together, and --tls-client-ca needs "
                     "them");
        free(h);
        return NULL;
    }
    if (o->tls_cert && !(h->ssl_ctx = tls_context(h, err))) {
        free(h);
        return NULL;
    }
    h2o_config_init(&h->config);
    h->config.max_request_entity_size = h->o.max_body;
    h->config.http1.req_timeout = (uint64_t)h->o.request_timeout_ms;
    h->config.http2.idle_timeout = (uint64_t)h->o.idle_timeout_ms;
    h->config.server_name = h2o_iovec_init(H2O_STRLIT("trustplace"));
    h2o_hostconf_t *host = h2o_config_register_host(
        &h->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    handler_t *hd = (handler_t *)h2o_create_handler(pc, sizeof *hd);
    hd->super.on_req = on_req;
    hd->http = h;
    h2o_context_init(&h->ctx, loop, &h->config);
    h->accept_ctx.ctx = &h->ctx;
    h->accept_ctx.hosts = h->config.hosts;
    h->accept_ctx.ssl_ctx = h->ssl_ctx;

    uv_tcp_init(loop, &h->listener);
    h->listener.data = h;
    if ((rc = uv_tcp_bind(&h->listener, (struct sockaddr *)&addr, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&h->listener, 511, on_accept)) != 0) {
        tp_error_set(err, TP_EIO, "cannot listen on %s:%d: %s", o->host, o->port,
                     uv_strerror(rc));
        uv_close((uv_handle_t *)&h->listener, NULL);
        h2o_context_dispose(&h->ctx);
        h2o_config_dispose(&h->config);
        uv_run(loop, UV_RUN_NOWAIT);
        SSL_CTX_free(h->ssl_ctx);
        free(h);
        return NULL;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&h->listener, (struct sockaddr *)&bound, &blen);
    h->port =
        ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                          : ((struct sockaddr_in *)&bound)->sin_port);
    h->listening = true;
    return h;
}

int tp_httpd_port(const tp_httpd_t *h)
{
    return h->port;
}

int tp_httpd_connections(const tp_httpd_t *h)
{
    return h->nconn;
}

void tp_httpd_stop_accepting(tp_httpd_t *h)
{
    if (!h->listening)
        return;
    h->listening = false;
    uv_close((uv_handle_t *)&h->listener, NULL);
    h2o_context_request_shutdown(&h->ctx);
}

void tp_httpd_free(tp_httpd_t *h)
{
    /* Open keep-alive connections still reference the context; the process is
     * exiting, so the context and configuration are left to it rather than torn
     * down under live sockets. */
    (void)h;
}
