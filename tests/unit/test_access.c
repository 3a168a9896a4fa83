/*
 * tests/unit/test_access.c — scheduler/access.c: the role matrix, the strict
 * tokens-file loader (every error names its JSON path or line:col), the
 * Authorization header check and the atomic save.
 */
#include "scheduler/access.h"
#include "tests/unit/tp_test.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* hex SHA-256 of s, computed independently of access.c's code path. */
static void hex_sha256(const char *s, char out[65])
{
    unsigned char d[32];
    unsigned int n;
    EVP_Digest(s, strlen(s), d, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

TP_TEST(access_role_matrix)
{
    /* The issue's table: orchestrator place/release/power/read; planner read,
     * explain, profiles; viewer read. */
    static const bool want[4][5] = {
        /* READ PLACE EXPLAIN PROFILES POWER */
        {false, false, false, false, false}, /* none */
        {true, false, false, false, false},  /* viewer */
        {true, false, true, true, false},    /* planner */
        {true, true, false, false, true},    /* orchestrator */
    };
    for (int r = 0; r < 4; r++)
        for (int a = 0; a < 5; a++)
            if (tp_role_allows((tp_role_t)r, (tp_action_t)a) != want[r][a])
                tp_test_fail(__FILE__, __LINE__, "role %s action %s: expected %d",
                             tp_role_name((tp_role_t)r), tp_action_name((tp_action_t)a),
                             want[r][a]);
    TP_CHECK_EQ_INT(tp_role_parse("planner"), TP_ROLE_PLANNER);
    TP_CHECK_EQ_INT(tp_role_parse("none"), TP_ROLE_NONE);
    TP_CHECK_EQ_INT(tp_role_parse("Viewer"), TP_ROLE_NONE);
    TP_CHECK_EQ_INT(tp_role_parse(NULL), TP_ROLE_NONE);
}

static tp_tokens_t *load_text(const char *text, tp_error_t *err)
{
    tp_tokens_t *t = NULL;
    tp_tokens_load_buffer("tokens.json", text, strlen(text), &t, err);
    return t;
}

TP_TEST(access_check_header)
{
    char h1[65], h2[65], doc[512], hdr[128];
    tp_error_t err;
    const char *name = "x";
    hex_sha256("secret-one", h1);
    hex_sha256("secret-two", h2);
    snprintf(
        doc, sizeof doc,
        "{\"version\": 1, \"tokens\": [{\"name\": \"argo\", \"role\": \"orchestrator\", "
        "\"sha256\": \"%s\"}, {\"name\": \"grafana\", \"role\": \"viewer\", \"sha256\": "
        "\"%s\"}]}",
        h1, h2);
    tp_tokens_t *t = load_text(doc, &err);
    TP_ASSERT(t != NULL);
    TP_CHECK_EQ_INT(tp_tokens_count(t), 2);
    TP_CHECK_STR(tp_tokens_name(t, 1), "grafana");
    TP_CHECK_EQ_INT(tp_tokens_role(t, 1), TP_ROLE_VIEWER);

    TP_CHECK_EQ_INT(tp_tokens_check(t, "Bearer secret-one", 17, &name),
                    TP_ROLE_ORCHESTRATOR);
    TP_CHECK_STR(name, "argo");
    TP_CHECK_EQ_INT(tp_tokens_check(t, "bearer secret-two", 17, &name), TP_ROLE_VIEWER);
    TP_CHECK_STR(name, "grafana");
    TP_CHECK_EQ_INT(tp_tokens_check(t, " BEARER \t secret-two  ", 22, NULL),
                    TP_ROLE_VIEWER);
    /* Not NUL-terminated: only len bytes count. */
    snprintf(hdr, sizeof hdr, "Bearer secret-onez");
    TP_CHECK_EQ_INT(tp_tokens_check(t, hdr, 17, NULL), TP_ROLE_ORCHESTRATOR);
    TP_CHECK_EQ_INT(tp_tokens_check(t, hdr, 18, NULL), TP_ROLE_NONE);
    /* Everything else is refused, and name_out is cleared. */
    static const char *const bad[] = {"Bearer secret-on",
                                      "Bearer secret-one-",
                                      "Basic secret-one",
                                      "secret-one",
                                      "Bearer",
                                      "Bearer ",
                                      "Bearersecret-one",
                                      "Bearer secret one",
                                      "Bearer: secret-one",
                                      ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        name = "x";
        if (tp_tokens_check(t, bad[i], strlen(bad[i]), &name) != TP_ROLE_NONE || name)
            tp_test_fail(__FILE__, __LINE__, "header \"%s\" was accepted", bad[i]);
    }
    TP_CHECK_EQ_INT(tp_tokens_check(t, NULL, 0, &name), TP_ROLE_NONE);
    TP_CHECK_EQ_INT(tp_tokens_check(NULL, "Bearer secret-one", 17, &name), TP_ROLE_NONE);
    /* A control character inside the credential. */
    TP_CHECK_EQ_INT(tp_tokens_check(t, "Bearer secret-one\0", 18, NULL), TP_ROLE_NONE);
    /* A huge header is refused without trouble. */
    size_t big = 1 << 20;
    char *h = malloc(big);
    TP_ASSERT(h != NULL);
    memset(h, 'a', big);
    memcpy(h, "Bearer ", 7);
    TP_CHECK_EQ_INT(tp_tokens_check(t, h, big, NULL), TP_ROLE_NONE);
    free(h);
    tp_tokens_free(t);
}

TP_TEST(access_load_errors)
{
    char hx[65], doc[1024];
    tp_error_t err;
    hex_sha256("s", hx);
    static const struct {
        const char *body, *msg;
        int code;
    } cases[] = {
        {"{\"version\": 1, \"tokens\": [{\"name\": \"a\", \"role\": \"viewer\", "
         "\"sha256\": "
         "\"%s\", \"secret\": \"x\"}]}",
         "tokens.json: $.tokens[0].secret: unknown key", TP_EINVAL},
        {"{\"version\": 1, \"tokens\": [{\"name\": \"a\", \"role\": \"admin\", "
         "\"sha256\": "
         "\"%s\"}]}",
         "tokens.json: $.tokens[0].role: expected \"orchestrator\", \"planner\" or "
         "\"viewer\", got \"admin\"",
         TP_EINVAL},
        {"{\"version\": 1, \"tokens\": [{\"name\": \"a\", \"role\": \"viewer\", "
         "\"sha256\": "
         "\"%.63s\"}]}",
         "tokens.json: $.tokens[0].sha256: expected the SHA-256 of the secret as 64 "
         "lower-case hex digits, got 63 characters",
         TP_EINVAL},
        {"{\"version\": 1, \"tokens\": [{\"name\": \"a\", \"role\": \"viewer\", "
         "\"sha256\": "
         "\"%.62sZZ\"}]}",
         "tokens.json: $.tokens[0].sha256: expected the SHA-256", TP_EINVAL},
        {"{\"version\": 1, \"tokens\": [{\"name\": \"a\", \"role\": \"viewer\", "
         "\"sha256\": "
         "\"%s\"}, {\"name\": \"b\", \"role\": \"viewer\", \"sha256\": \"%s\"}, "
         "{\"name\": "
         "\"a\", \"role\": \"planner\", \"sha256\": \"%s\"}]}",
         "tokens.json: $.tokens[2].name: duplicate token name \"a\" (first at "
         "$.tokens[0])",
         TP_EDUP},
        {"{\"version\": 1, \"tokens\": [{\"name\": \"a b\", \"role\": \"viewer\", "
         "\"sha256\": \"%s\"}]}",
         "tokens.json: $.tokens[0].name: expected 1..64 characters", TP_EINVAL},
        {"{\"version\": 1, \"tokens\": [{\"role\": \"viewer\", \"sha256\": \"%s\"}]}",
         "tokens.json: $.tokens[0]", TP_EINVAL},
        {"{\"version\": 2, \"tokens\": []}", "tokens.json: $.version", TP_ERANGE},
        {"{\"version\": 1, \"tokens\": {}}", "tokens.json: $.tokens: expected an array",
         TP_EINVAL},
        {"{\"version\": 1, \"tokens\": [],\n \"tokens\": []}",
         "tokens.json:2:", TP_EPARSE},
        {"{\"version\": 1, \"tokens\": [\n  {\"name\": \"a\",}]}",
         "tokens.json:2:", TP_EPARSE},
        {"[]", "tokens.json: $: expected an object", TP_EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(doc, sizeof doc, cases[i].body, hx, hx, hx);
        tp_tokens_t *t = load_text(doc, &err);
        if (t) {
            tp_test_fail(__FILE__, __LINE__, "case %zu loaded", i);
            tp_tokens_free(t);
            continue;
        }
        TP_CHECK_CONTAINS(err.text, cases[i].msg);
        if (err.code != cases[i].code)
            tp_test_fail(__FILE__, __LINE__, "case %zu: code %s, wanted %s", i,
                         tp_err_name(err.code), tp_err_name(cases[i].code));
    }
    /* Upper-case hex is refused (one canonical form). */
    for (char *p = hx; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 32);
    snprintf(doc, sizeof doc,
             "{\"version\": 1, \"tokens\": [{\"name\": \"a\", \"role\": \"viewer\", "
             "\"sha256\": \"%s\"}]}",
             hx);
    tp_tokens_t *t = load_text(doc, &err);
    TP_CHECK(t == NULL);
    tp_tokens_free(t);
}

TP_TEST(access_issue_save_load)
{
    char dir[] = "/tmp/tp-access-XXXXXX", path[64], s1[TP_TOKEN_SECRET_LEN + 1],
         s2[TP_TOKEN_SECRET_LEN + 1], s3[TP_TOKEN_SECRET_LEN + 1], hdr[80];
    tp_error_t err;
    struct stat st;
    TP_ASSERT(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/tokens.json", dir);
    tp_tokens_t *t = tp_tokens_new(), *u = NULL;
    TP_ASSERT(t != NULL);
    TP_CHECK_EQ_INT(tp_tokens_issue(t, "argo", TP_ROLE_ORCHESTRATOR, s1, sizeof s1, &err),
                    0);
    TP_CHECK_EQ_INT(tp_tokens_issue(t, "jupyter", TP_ROLE_PLANNER, s2, sizeof s2, &err),
                    0);
    TP_CHECK_EQ_INT(strlen(s1), TP_TOKEN_SECRET_LEN);
    TP_CHECK(!strncmp(s1, "tp_", 3));
    TP_CHECK(strcmp(s1, s2) != 0);
    /* base64url alphabet only, no padding. */
    TP_CHECK_EQ_INT(strspn(s1 + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_"),
                    TP_TOKEN_SECRET_LEN - 3);
    TP_CHECK(tp_tokens_issue(t, "bad name", TP_ROLE_VIEWER, s3, sizeof s3, &err) ==
             TP_EINVAL);
    TP_CHECK(tp_tokens_issue(t, "x", TP_ROLE_NONE, s3, sizeof s3, &err) == TP_EINVAL);
    TP_CHECK(tp_tokens_issue(t, "x", TP_ROLE_VIEWER, s3, 10, &err) == TP_EINVAL);
    TP_CHECK_EQ_INT(tp_tokens_save(t, path, &err), 0);
    TP_ASSERT(stat(path, &st) == 0);
    TP_CHECK_EQ_INT(st.st_mode & 0777, 0600);
    TP_ASSERT(tp_tokens_load(path, &u, &err) == 0);
    snprintf(hdr, sizeof hdr, "Bearer %s", s2);
    const char *name = NULL;
    TP_CHECK_EQ_INT(tp_tokens_check(u, hdr, strlen(hdr), &name), TP_ROLE_PLANNER);
    TP_CHECK_STR(name, "jupyter");
    /* The file holds digests, never a secret. */
    char *text = tp_test_slurp(path, NULL);
    TP_ASSERT(text != NULL);
    TP_CHECK(strstr(text, s1 + 3) == NULL && strstr(text, s2 + 3) == NULL);
    free(text);
    /* A world-writable file is refused: anyone could add a token to it. */
    tp_tokens_t *ww = NULL;
    TP_ASSERT(chmod(path, 0666) == 0);
    TP_CHECK(tp_tokens_load(path, &ww, &err) == TP_EINVAL);
    TP_CHECK_CONTAINS(err.text, "mode 0666 is writable by every user");
    TP_CHECK(ww == NULL);
    /* So is a group-writable one (as ssh refuses such an authorized_keys). */
    TP_ASSERT(chmod(path, 0620) == 0);
    TP_CHECK(tp_tokens_load(path, &ww, &err) == TP_EINVAL);
    TP_CHECK_CONTAINS(err.text, "mode 0620 is writable by its group");
    TP_CHECK(ww == NULL);
    TP_ASSERT(chmod(path, 0640) == 0);
    TP_CHECK(tp_tokens_load(path, &ww, &err) == 0);
    tp_tokens_free(ww);
    /* Re-issuing a name replaces its secret and role: the old one stops working. */
    TP_CHECK_EQ_INT(tp_tokens_issue(u, "jupyter", TP_ROLE_VIEWER, s3, sizeof s3, &err),
                    0);
    TP_CHECK_EQ_INT(tp_tokens_count(u), 2);
    TP_CHECK_EQ_INT(tp_tokens_check(u, hdr, strlen(hdr), NULL), TP_ROLE_NONE);
    snprintf(hdr, sizeof hdr, "Bearer %s", s3);
    TP_CHECK_EQ_INT(tp_tokens_check(u, hdr, strlen(hdr), NULL), TP_ROLE_VIEWER);
    TP_CHECK_EQ_INT(tp_tokens_remove(u, "argo", &err), 0);
    TP_CHECK_EQ_INT(tp_tokens_remove(u, "argo", &err), TP_ENOENT);
    snprintf(hdr, sizeof hdr, "Bearer %s", s1);
    TP_CHECK_EQ_INT(tp_tokens_check(u, hdr, strlen(hdr), NULL), TP_ROLE_NONE);
    /* Saving into a missing directory fails and leaves nothing behind. */
    char bad[96];
    snprintf(bad, sizeof bad, "%s/nope/tokens.json", dir);
    TP_CHECK(tp_tokens_save(u, bad, &err) == TP_EIO);
    TP_CHECK_CONTAINS(err.text, "nope");
    tp_tokens_free(t);
    tp_tokens_free(u);
    unlink(path);
    TP_CHECK_EQ_INT(rmdir(dir), 0); /* no temporary file was left */
}

/* The --tls-clients file: fingerprints pinned to roles, strict like tokens. */
TP_TEST(access_clients_pinning)
{
    char dir[] = "/tmp/tp-clients-XXXXXX", path[64];
    tp_error_t err;
    TP_ASSERT(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/clients.json", dir);
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"{\"version\":1,\"clients\":[{\"name\":\"a\",\"role\":\"viewer\",\"sha256\":"
         "\"ab\"}]}",
         "$.clients[0].sha256: expected the SHA-256 of the certificate (DER) as 64 "
         "lower-case hex digits, got 2 characters"},
        {"{\"version\":1,\"clients\":[{\"name\":\"a\",\"role\":\"viewer\",\"sha256\":"
         "\"1111111111111111111111111111111111111111111111111111111111111111\"},"
         "{\"name\":\"b\",\"role\":\"planner\",\"sha256\":"
         "\"1111111111111111111111111111111111111111111111111111111111111111\"}]}",
         "$.clients[1].sha256: the same digest as $.clients[0]"},
        {"{\"version\":1,\"tokens\":[]}",
         "$.tokens: unknown key \"tokens\" (expected one of: version, clients)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        FILE *f = fopen(path, "w");
        TP_ASSERT(f != NULL);
        fputs(bad[i].text, f);
        fclose(f);
        chmod(path, 0600);
        tp_tokens_t *t = (tp_tokens_t *)1;
        TP_CHECK(tp_clients_load(path, &t, &err) < 0);
        TP_CHECK(t == NULL);
        TP_CHECK_CONTAINS(err.text, bad[i].want);
    }
    FILE *f = fopen(path, "w");
    TP_ASSERT(f != NULL);
    fputs("{\"version\":1,\"clients\":[{\"name\":\"argo\",\"role\":\"orchestrator\","
          "\"sha256\":"
          "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}]}",
          f);
    fclose(f);
    tp_tokens_t *t = NULL;
    TP_ASSERT(tp_clients_load(path, &t, &err) == 0);
    unsigned char fp[32];
    for (int i = 0; i < 32; i++)
        fp[i] = (unsigned char)((i % 16) * 0x11);
    const char *name = NULL;
    TP_CHECK_EQ_INT(tp_clients_check(t, fp, &name), TP_ROLE_ORCHESTRATOR);
    TP_CHECK_STR(name, "argo");
    fp[31] ^= 1;
    TP_CHECK_EQ_INT(tp_clients_check(t, fp, &name), TP_ROLE_NONE);
    TP_CHECK(name == NULL);
    TP_CHECK_EQ_INT(tp_clients_check(t, NULL, NULL), TP_ROLE_NONE);
    TP_CHECK_EQ_INT(tp_clients_check(NULL, fp, NULL), TP_ROLE_NONE);
    tp_tokens_free(t);
    unlink(path);
    TP_CHECK_EQ_INT(rmdir(dir), 0);
}
