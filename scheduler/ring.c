/*
 * scheduler/ring.c — rendezvous hashing of node ids over the live replicas
 * (see ring.h). SHA-256 from OpenSSL's EVP.
 */
#include "scheduler/ring.h"

#include <openssl/evp.h>
#include <string.h>

uint64_t tp_ring_score(const char *member, const char *node)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    uint64_t v = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    /* member NUL node: ("ab", "c") and ("a", "bc") hash differently */
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, member, strlen(member) + 1) != 1 ||
        EVP_DigestUpdate(ctx, node, strlen(node)) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen < 8) {
        EVP_MD_CTX_free(ctx);
        return 0; /* OpenSSL failed (ENOMEM): every member scores 0, the name decides */
    }
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 8; i++)
        v = v << 8 | md[i];
    return v;
}

int tp_ring_owner(const char *const *members, int n, const char *node)
{
    int best = -1;
    uint64_t best_score = 0;
    for (int i = 0; i < n; i++) {
        uint64_t sc = tp_ring_score(members[i], node);
        if (best < 0 || sc > best_score ||
            (sc == best_score && strcmp(members[i], members[best]) < 0)) {
            best = i;
            best_score = sc;
        }
    }
    return best;
}
