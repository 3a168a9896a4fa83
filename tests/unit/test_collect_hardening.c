/*
 * tests/unit/test_collect_hardening.c — what the collectors refuse before any
 * request goes out: origins compared exactly (scheme, host, port; never by
 * prefix), URLs with a user name or password, nodes sharing a BMC origin with
 * conflicting insecure/credentials settings, a proxy key that is not a proxy URL;
 * and the state file written through a fresh temporary (a symlink planted at the
 * old predictable PATH.tmp is neither followed nor overwritten).
 */
#include "collectors/collectors.h"
#include "collectors/http.h"
#include "model/state_json.h"
#include "tp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

TP_TEST(http_same_origin_is_exact)
{
    static const struct {
        const char *url, *origin;
        bool same;
    } cases[] = {
        {"https://bmc.example/redfish/v1/SessionService/Sessions/1",
         "https://bmc.example", true},
        {"https://BMC.Example:443/x", "https://bmc.example", true},
        {"http://bmc.example:80/x", "http://bmc.example", true},
        {"HTTPS://bmc.example/x", "https://bmc.example", true},
        /* a prefix is not an origin */
        {"https://bmc.example.evil.test/x", "https://bmc.example", false},
        {"https://bmc.example:8443/x", "https://bmc.example", false},
        {"http://127.0.0.1:40001/x", "http://127.0.0.1:4000", false},
        /* userinfo that spells the origin, then another host */
        {"http://127.0.0.1:4000@127.0.0.1:4001/x", "http://127.0.0.1:4000", false},
        {"https://bmc.example@evil.test/x", "https://bmc.example", false},
        /* scheme */
        {"http://bmc.example/x", "https://bmc.example", false},
        {"http://bmc.example:443/x", "https://bmc.example", false},
        /* not absolute http(s) URLs */
        {"/redfish/v1/x", "https://bmc.example", false},
        {"//evil.test/x", "https://bmc.example", false},
        {"ftp://bmc.example/x", "ftp://bmc.example", false},
        {"https://[::1]:443/x", "https://[::1]", true},
        {"https://[::1]:8443/x", "https://[::1]", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (tp_http_same_origin(cases[i].url, cases[i].origin) != cases[i].same)
            tp_test_fail(__FILE__, __LINE__, "%s vs %s: want %s", cases[i].url,
                         cases[i].origin, cases[i].same ? "same" : "different");
    tp_http_url_t u;
    TP_ASSERT(tp_http_url_parts("https://root:pw@bmc.example/redfish", &u) == 0);
    TP_CHECK(u.userinfo && u.https);
    TP_CHECK(!strcmp(u.origin, "https://bmc.example:443"));
    TP_ASSERT(tp_http_url_parts("http://bmc.example/redfish", &u) == 0);
    TP_CHECK(!u.userinfo && !u.https);
}

/* A two-node fleet: node b's bmc object and the collectors section vary. */
static int load_cfg(const char *dir, const char *bmc_a, const char *bmc_b,
                    const char *collectors_extra, tp_error_t *err)
{
    char text[4096], src[256];
    tp_fleet_t *f = NULL;
    tp_collect_cfg_t *c = NULL;
    int rc;
    snprintf(
        text, sizeof text,
        "{\"version\":1,\"regions\":{\"eu-de\":{\"countries\":[\"DE\"]}},"
        "\"power_domains\":[{\"id\":\"site\",\"cap_w\":1e6}],\"nodes\":["
        "{\"id\":\"a\",\"power_domain\":\"site\",\"region\":\"eu-de\",\"gpu_model\":"
        "\"H100\",\"gpus\":8,\"cap_w\":10000,\"idle_w\":100,\"gpu_w\":500,\"bmc\":%s},"
        "{\"id\":\"b\",\"power_domain\":\"site\",\"region\":\"eu-de\",\"gpu_model\":"
        "\"H100\",\"gpus\":8,\"cap_w\":10000,\"idle_w\":100,\"gpu_w\":500,\"bmc\":%s}],"
        "\"policy\":{\"classes\":{\"public\":{}}},"
        "\"collectors\":{\"credentials\":{\"c1\":{\"file\":\"cred.json\"},"
        "\"c2\":{\"file\":\"cred.json\"}}%s}}",
        bmc_a, bmc_b, collectors_extra);
    snprintf(src, sizeof src, "%s/fleet.json", dir);
    rc = tp_fleet_load_buffer(src, text, strlen(text), &f, err);
    if (rc == 0)
        rc = tp_collect_config_load(f, &c, err);
    tp_collect_config_free(c);
    tp_fleet_free(f);
    return rc;
}

typedef struct {
    const char *a, *b, *extra;
    const char *want; /* NULL: loads; else a substring of the error */
} cfg_case_t;

/* Loads each case's two-node fleet (with a credentials file c1/c2 point at)
 * and checks it loads or fails with the wanted error. */
static void check_cfg_cases(const cfg_case_t *cases, size_t n)
{
    char dir[] = "/tmp/tp-harden-XXXXXX", path[128];
    FILE *fp;
    if (!mkdtemp(dir)) {
        tp_test_fail(__FILE__, __LINE__, "mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/cred.json", dir);
    if ((fp = fopen(path, "w")) != NULL) {
        fputs("{\"username\": \"admin\", \"password\": \"secret\"}", fp);
        fclose(fp);
    }
    for (size_t i = 0; i < n; i++) {
        tp_error_t err = {0};
        int rc = load_cfg(dir, cases[i].a, cases[i].b, cases[i].extra, &err);
        bool ok = cases[i].want ? rc < 0 && strstr(err.text, cases[i].want) : rc == 0;
        if (!ok)
            tp_test_fail(__FILE__, __LINE__, "case %zu: rc %d, \"%s\"; want %s", i, rc,
                         err.text, cases[i].want ? cases[i].want : "it loads");
    }
    unlink(path);
    rmdir(dir);
}

TP_TEST(collect_config_refuses_userinfo_and_origin_conflicts)
{
    static const char verifier[] =
        ",\"verifiers\":{\"v\":{\"url\":\"https://u:p@v.example/{node}\","
        "\"jwks_url\":\"https://v.example/jwks\",\"algs\":[\"ES256\"]}}";
    const cfg_case_t cases[] = {
        /* fine: distinct origins, or one origin with one setting */
        {"{\"url\":\"https://10.0.0.1\",\"credentials\":\"c1\",\"insecure\":true}",
         "{\"url\":\"https://10.0.0.2\",\"credentials\":\"c1\"}", "", NULL},
        {"{\"url\":\"https://10.0.0.1\",\"credentials\":\"c1\",\"insecure\":true}",
         "{\"url\":\"https://10.0.0.1:8443\",\"credentials\":\"c1\"}", "", NULL},
        {"{\"url\":\"https://10.0.0.1\",\"credentials\":\"c1\",\"insecure\":true}",
         "{\"url\":\"https://10.0.0.1/redfish/v1\",\"credentials\":\"c1\","
         "\"insecure\":true}",
         "", NULL},
        /* one origin, two insecure settings: however the URL is spelled */
        {"{\"url\":\"https://10.0.0.1\",\"credentials\":\"c1\",\"insecure\":true}",
         "{\"url\":\"https://10.0.0.1\",\"credentials\":\"c1\"}", "",
         "$.nodes[1].bmc.insecure: conflicts with $.nodes[0].bmc.insecure"},
        {"{\"url\":\"https://bmc.example\",\"credentials\":\"c1\",\"insecure\":true}",
         "{\"url\":\"https://BMC.example:443/redfish/v1\",\"credentials\":\"c1\"}", "",
         "$.nodes[1].bmc.insecure"},
        {"{\"url\":\"https://10.0.0.1\",\"credentials\":\"c1\"}",
         "{\"url\":\"https://10.0.0.1\",\"credentials\":\"c2\"}", "",
         "$.nodes[1].bmc.credentials: conflicts with $.nodes[0].bmc.credentials"},
        /* userinfo, anywhere */
        {"{\"url\":\"https://root:calvin@10.0.0.1\",\"credentials\":\"c1\"}",
         "{\"url\":\"https://10.0.0.2\",\"credentials\":\"c1\"}", "",
         "$.nodes[0].bmc.url: a user name or password"},
        {"{\"url\":\"https://10.0.0.1\",\"credentials\":\"c1\"}",
         "{\"url\":\"http://admin@10.0.0.2\",\"credentials\":\"c1\"}", "",
         "$.nodes[1].bmc.url: a user name or password"},
        {"{\"url\":\"https://10.0.0.1\",\"credentials\":\"c1\"}",
         "{\"url\":\"https://10.0.0.2\",\"credentials\":\"c1\"}", verifier,
         "$.collectors.verifiers.v.url: user:password@ in a URL is not allowed"},
        {"{\"url\":\"https://10.0.0.1\",\"credentials\":\"c1\"}",
         "{\"url\":\"https://10.0.0.2\",\"credentials\":\"c1\"}",
         ",\"telemetry\":{\"url\":\"http://u:p@{bmc_host}:9400/metrics\"}",
         "$.collectors.telemetry.url: a user name or password"},
        /* the proxy: a plain http(s) URL, no credentials in it */
        {"{\"url\":\"https://10.0.0.1\",\"credentials\":\"c1\"}",
         "{\"url\":\"https://10.0.0.2\",\"credentials\":\"c1\"}",
         ",\"proxy\":\"http://proxy.example:3128\"", NULL},
        {"{\"url\":\"https://10.0.0.1\",\"credentials\":\"c1\"}",
         "{\"url\":\"https://10.0.0.2\",\"credentials\":\"c1\"}",
         ",\"proxy\":\"http://u:p@proxy.example:3128\"",
         "$.collectors.proxy: a user name or password"},
        {"{\"url\":\"https://10.0.0.1\",\"credentials\":\"c1\"}",
         "{\"url\":\"https://10.0.0.2\",\"credentials\":\"c1\"}",
         ",\"proxy\":\"socks5://proxy.example\"", "$.collectors.proxy: expected"},
    };
    check_cfg_cases(cases, sizeof cases / sizeof cases[0]);
}

/* URL spellings an adversary (or a typo) might use: one origin however it is
 * written (default port, IPv6 zeros, IDN or punycode), userinfo however it is
 * encoded, '@' where it is not userinfo, ports no server listens on, and
 * verifier identities that would bind one node's result to another. */
TP_TEST(collect_config_url_forms_attack)
{
#define V(url, more)                                                                     \
    ",\"verifiers\":{\"v\":{\"url\":\"" url "\",\"jwks_url\":\"https://v.example/j\","   \
    "\"algs\":[\"ES256\"]" more "}}"
#define B(url, more) "{\"url\":\"" url "\",\"credentials\":\"c1\"" more "}"
    const cfg_case_t cases[] = {
        /* one origin, however spelled: the insecure settings must agree */
        {B("https://[::1]", ",\"insecure\":true"),
         B("https://[0:0::1]:443/redfish/v1", ""), "", "$.nodes[1].bmc.insecure"},
        {B("https://xn--bcher-kva.example", ",\"insecure\":true"),
         B("https://XN--BCHER-KVA.example:443", ""), "", "$.nodes[1].bmc.insecure"},
        /* an IDN host is refused (libidn2 cannot convert it in the C locale,
         * so it could never be reached either): the xn-- form is one spelling */
        {B("https://bücher.example", ""), B("https://10.0.0.2", ""), "",
         "$.nodes[0].bmc.url: not a URL"},
        /* an upper-case scheme is refused outright, never compared */
        {B("HTTPS://bmc.example", ""), B("https://10.0.0.2", ""), "",
         "$.nodes[0].bmc.url: expected an http:// or https:// URL"},
        /* ports no server listens on */
        {B("https://10.0.0.1:0", ""), B("https://10.0.0.2", ""), "",
         "$.nodes[0].bmc.url: not a URL"},
        {B("https://10.0.0.1:65536", ""), B("https://10.0.0.2", ""), "",
         "$.nodes[0].bmc.url: not a URL"},
        /* userinfo percent-encoded is still userinfo; '@' in the query is not */
        {B("https://ro%6Ft:pw@10.0.0.1", ""), B("https://10.0.0.2", ""), "",
         "$.nodes[0].bmc.url: a user name or password"},
        {B("https://10.0.0.1/redfish/v1?x=@y", ""), B("https://10.0.0.2/#@z", ""), "",
         NULL},
        /* verifier URLs: https only, parsed as libcurl will */
        {B("https://10.0.0.1", ""), B("https://10.0.0.2", ""),
         V("HTTPS://v.example/{node}", ""), "expected an https:// URL"},
        {B("https://10.0.0.1", ""), B("https://10.0.0.2", ""),
         V("https:/v.example/{node}", ""), "expected an https:// URL"},
        {B("https://10.0.0.1", ""), B("https://10.0.0.2", ""),
         V("https://v.example:0/{node}", ""), "v.url: not a URL libcurl can use"},
        {B("https://10.0.0.1", ""), B("https://10.0.0.2", ""),
         V("https://v.example:65536/{node}", ""), "v.url: not a URL libcurl can use"},
        {B("https://10.0.0.1", ""), B("https://10.0.0.2", ""),
         V("https://v.example/{node}?q=@x", ""), NULL},
        {B("https://10.0.0.1", ""), B("https://10.0.0.2", ""),
         V("https://[2001:db8::1]:8443/{node}", ""), NULL},
        {B("https://10.0.0.1", ""), B("https://10.0.0.2", ""),
         V("https://{node}.v.example/r", ""), NULL},
        {B("https://10.0.0.1", ""), B("https://10.0.0.2", ""),
         V("https://v%2eexample%40evil.example/{node}", ""), "v.url: not a URL"},
        /* identities: one identity names one node */
        {B("https://10.0.0.1", ""), B("https://10.0.0.2", ""),
         V("https://v.example/{node}",
           ",\"bind\":\"ueid\",\"identities\":{\"a\":[\"u1\"],\"b\":[\"u1\"]}"),
         "\"u1\" is also listed for a"},
        {B("https://10.0.0.1", ""), B("https://10.0.0.2", ""),
         V("https://v.example/{node}", ",\"identities\":{\"a\":[\"b\"]}"),
         "\"b\" is another node's id"},
        {B("https://10.0.0.1", ""), B("https://10.0.0.2", ""),
         V("https://v.example/{node}",
           ",\"identities\":{\"a\":[\"a\",\"u1\"],\"b\":[\"u2\"]}"),
         NULL},
    };
#undef V
#undef B
    check_cfg_cases(cases, sizeof cases / sizeof cases[0]);
    {
        tp_http_url_t u;
        TP_CHECK(tp_http_url_parts("https://bücher.example/x", &u) < 0 ||
                 tp_http_same_origin("https://bücher.example/x",
                                     "https://xn--bcher-kva.example"));
    }
    TP_CHECK(!tp_http_same_origin("https://h:0/x", "https://h:0"));
    /* A link-local address on another interface is another machine. */
    TP_CHECK(
        !tp_http_same_origin("https://[fe80::1%25eth1]/x", "https://[fe80::1%25eth0]"));
    TP_CHECK(!tp_http_same_origin("https://[fe80::1]/x", "https://[fe80::1%25eth0]"));
    TP_CHECK(tp_http_same_origin("https://[fe80::1%25eth0]:443/x",
                                 "https://[fe80::1%25eth0]"));
}

/* The old writer opened PATH.tmp with fopen(): a symlink planted there made it
 * overwrite the link's target. The state now goes through mkstemp in the same
 * directory and is renamed over PATH; nothing else is touched or left behind. */
TP_TEST(state_save_ignores_planted_tmp_symlink)
{
    char dir[] = "/tmp/tp-state-XXXXXX", out[128], tmp[140], victim[128];
    static const char fleet[] =
        "{\"version\":1,\"regions\":{\"eu-de\":{\"countries\":[\"DE\"]}},"
        "\"power_domains\":[{\"id\":\"site\",\"cap_w\":1e6}],\"nodes\":["
        "{\"id\":\"a\",\"power_domain\":\"site\",\"region\":\"eu-de\",\"gpu_model\":"
        "\"H100\",\"gpus\":8,\"cap_w\":10000,\"idle_w\":100,\"gpu_w\":500}],"
        "\"policy\":{\"classes\":{\"public\":{}}}}";
    tp_fleet_t *f = NULL;
    tp_error_t err = {0};
    TP_ASSERT(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/state.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    FILE *fp = fopen(victim, "w");
    TP_ASSERT(fp);
    fputs("precious\n", fp);
    fclose(fp);
    TP_ASSERT(symlink(victim, tmp) == 0);
    TP_ASSERT(tp_fleet_load_buffer("fleet", fleet, strlen(fleet), &f, &err) == 0);
    tp_state_t *s = tp_state_new_empty(f);
    TP_ASSERT(s);
    for (int k = 0; k < 2; k++) /* twice: the second replaces the first */
        TP_CHECK_EQ_INT(tp_state_save(out, f, s, &err), 0);
    char *v = tp_test_slurp(victim, NULL), *o = tp_test_slurp(out, NULL);
    TP_CHECK(v && !strcmp(v, "precious\n"));
    TP_CHECK(o && strstr(o, "\"nodes\""));
    struct stat st;
    TP_CHECK(lstat(tmp, &st) == 0 && S_ISLNK(st.st_mode)); /* left as it was */
    TP_CHECK(lstat(out, &st) == 0 && S_ISREG(st.st_mode));
    /* Nothing else in the directory: no temporaries left behind. */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 3", dir);
    TP_CHECK(system(cmd) == 0);
    /* A directory that cannot be written: an error naming the path, no crash. */
    TP_CHECK(tp_state_save("/nonexistent-dir/state.json", f, s, &err) < 0);
    TP_CHECK(strstr(err.text, "/nonexistent-dir/") != NULL);
    free(v);
    free(o);
    tp_state_free(s);
    tp_fleet_free(f);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    TP_CHECK(system(cmd) == 0);
}
