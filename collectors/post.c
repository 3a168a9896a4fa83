/*
 * collectors/post.c — one blocking JSON POST with a bearer token (libcurl's easy
 * interface): how `trustplace bench --report-to` hands its profiles to the
 * service. collectors/ stays the only module that includes curl.h.
 */
#include "collectors/collectors.h"
#include "collectors/kubeapi.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tp_post_json(const char *url, const char *bearer, const tp_post_tls_t *tls,
                 const char *body, int timeout_ms, int *status, char **response,
                 tp_error_t *err)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    tp_curl_sink_t s = {.max = 1u << 20}; /* an answer over 1 MiB is not ours */
    char auth[512];
    int rc = 0;
    *status = 0;
    *response = NULL;
    if (!c)
        return tp_error_set(err, TP_ENOMEM, "curl: out of memory");
    h = curl_slist_append(h, "Content-Type: application/json");
    if (bearer) {
        if (snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer) >=
            (int)sizeof auth) {
            curl_easy_cleanup(c);
            curl_slist_free_all(h);
            return tp_error_set(err, TP_EINVAL, "the token is too long");
        }
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (tls && tls->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, tls->ca_file);
    if (tls && tls->cert_file) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, tls->cert_file);
        curl_easy_setopt(c, CURLOPT_SSLKEY, tls->key_file);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tp_curl_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rc = tp_error_set(err, TP_EIO, "POST %s: %s", url, curl_easy_strerror(cc));
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
