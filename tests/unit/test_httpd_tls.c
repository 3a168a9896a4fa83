/*
 * tests/unit/test_httpd_tls.c — scheduler/httpd.c's reach into H2O's private
 * TLS state (tp_httpd_ssl_of): it yields a connection's own SSL and nothing
 * else — not another connection's (all share one context), not one of another
 * context, not when the layout is other than assumed.
 */
#include "scheduler/httpd.h"
#include "tests/unit/tp_test.h"

#include <openssl/bio.h>
#include <openssl/ssl.h>

typedef struct { /* the head of H2O's struct st_h2o_socket_ssl_t */
    SSL_CTX *ctx;
    SSL *ossl;
} head_t;

/* As H2O's setup_bio(): the SSL's BIO carries its socket. */
static void bind_bio(SSL *ssl, BIO_METHOD *m, void *sock)
{
    BIO *bio = BIO_new(m);
    BIO_set_data(bio, sock);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl, bio, bio);
}

TP_TEST(httpd_tls_ssl_of_binds_the_connection)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method()),
            *other = SSL_CTX_new(TLS_server_method());
    TP_ASSERT(ctx && other);
    int sock_a, sock_b; /* stand-ins for two h2o_socket_t */
    SSL *a = SSL_new(ctx), *b = SSL_new(ctx), *c = SSL_new(other);
    TP_ASSERT(a && b && c);
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "h2o-like");
    TP_ASSERT(m);
    bind_bio(a, m, &sock_a); /* what H2O's setup_bio does */
    bind_bio(b, m, &sock_b);
    bind_bio(c, m, &sock_a);

    head_t ha = {ctx, a}, hb = {ctx, b};
    TP_CHECK(tp_httpd_ssl_of(&ha, &sock_a, ctx) == a);
    TP_CHECK(tp_httpd_ssl_of(&hb, &sock_b, ctx) == b);
    /* connection A's socket whose head (a wrong offset, a reused slot) holds
     * connection B's SSL: the same context, so only the binding refuses it */
    TP_CHECK(tp_httpd_ssl_of(&hb, &sock_a, ctx) == NULL);
    /* an SSL of another context, even bound to this socket */
    head_t hc = {ctx, c};
    TP_CHECK(tp_httpd_ssl_of(&hc, &sock_a, ctx) == NULL);
    /* a socket whose SSL has no BIO */
    SSL *bare = SSL_new(ctx);
    head_t hbare = {ctx, bare};
    TP_CHECK(tp_httpd_ssl_of(&hbare, &sock_a, ctx) == NULL);
    SSL_free(bare);
    /* a layout that is not {SSL_CTX *, SSL *}: the first word is not our context */
    head_t swapped = {(SSL_CTX *)a, (SSL *)ctx};
    TP_CHECK(tp_httpd_ssl_of(&swapped, &sock_a, ctx) == NULL);
    head_t empty = {ctx, NULL};
    TP_CHECK(tp_httpd_ssl_of(&empty, &sock_a, ctx) == NULL);
    TP_CHECK(tp_httpd_ssl_of(NULL, &sock_a, ctx) == NULL);
    TP_CHECK(tp_httpd_ssl_of(&ha, &sock_a, NULL) == NULL);

    SSL_free(a);
    SSL_free(b);
    SSL_free(c);
    SSL_CTX_free(ctx);
    SSL_CTX_free(other);
    BIO_meth_free(m);
}
