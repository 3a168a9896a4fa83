/*
 * collectors/post.c — one blocking request with a bearer token (libcurl's easy
 * interface), off any loop: how `trustplace bench --report-to` hands its
 * profiles to the service and how the OpenADR poller (on a pool thread) reads
 * its VTN. collectors/ stays the only module that includes curl.h.
 */
#include "collectors/collectors.h"
#include "collectors/kubeapi.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tp_curl_tls(void *curl, const tp_post_tls_t *tls)
{
    if (tls && tls->ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, tls->ca_file);
    if (tls && tls->cert_file) {
        curl_easy_setopt(curl, CURLOPT_SSLCERT, tls->cert_file);
        curl_easy_setopt(curl, CURLOPT_SSLKEY, tls->key_file);
    }
}

int tp_http_once(const tp_http_once_t *q, int *status, char **response, tp_error_t *err)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    tp_curl_sink_t s = {.max = q->max_body ? q->max_body : 1u << 20};
    char auth[4200], ctype[128];
    int rc = 0;
    *status = 0;
    *response = NULL;
    if (!c)
        return tp_error_set(err, TP_ENOMEM, "curl: out of memory");
    h = curl_slist_append(h, "Accept: application/json");
    if (q->body) {
        snprintf(ctype, sizeof ctype, "Content-Type: %s",
                 q->content_type ? q->content_type : "application/json");
        h = curl_slist_append(h, ctype);
    }
    if (q->bearer) {
        if (snprintf(auth, sizeof auth, "Authorization: Bearer %s", q->bearer) >=
            (int)sizeof auth) {
            curl_easy_cleanup(c);
            curl_slist_free_all(h);
            return tp_error_set(err, TP_EINVAL, "the token is too long");
        }
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, q->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, q->https_only ? "https" : "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION,
                     0L); /* a redirect would carry the bearer token */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (q->body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     (long)(q->timeout_ms > 0 ? q->timeout_ms : 15000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    tp_curl_tls(c, q->tls);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tp_curl_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rc = tp_error_set(err, TP_EIO, "%s %s: %s", q->body ? "POST" : "GET", q->url,
                          curl_easy_strerror(cc));
    } else {
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        *status = (int)code;
        *response = s.buf ? s.buf : strdup("");
        s.buf = NULL;
    }
    explicit_bzero(auth, sizeof auth);
    free(s.buf);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

int tp_post_json(const char *url, const char *bearer, const tp_post_tls_t *tls,
                 const char *body, int timeout_ms, int *status, char **response,
                 tp_error_t *err)
{
    tp_http_once_t q = {
        .url = url, .bearer = bearer, .body = body, .tls = tls, .timeout_ms = timeout_ms};
    return tp_http_once(&q, status, response, err);
}
