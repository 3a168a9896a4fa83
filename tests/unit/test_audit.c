/*
 * tests/unit/test_audit.c — scheduler/audit.c: the hash chain and signatures
 * verify; a flipped byte, a deleted record and a reordered pair are each
 * reported at the right record; a wrong key is refused; a torn last line is
 * cut at open; query and the SIEM export (JSON lines, RFC 5424 over TCP and a
 * Unix datagram socket on loopback).
 */
#include "scheduler/audit.h"
#include "tests/unit/tp_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define NREC 6

typedef struct {
    char dir[32], log[64], key[64], pub[64], key2[64], pub2[64], eckey[64], ecpub[64];
} fx_t;

static int write_key(EVP_PKEY *k, const char *priv, const char *pub)
{
    FILE *a = fopen(priv, "w"), *b = fopen(pub, "w");
    int ok = a && b && PEM_write_PrivateKey(a, k, NULL, NULL, 0, NULL, NULL) &&
             PEM_write_PUBKEY(b, k);
    if (a)
        fclose(a);
    if (b)
        fclose(b);
    EVP_PKEY_free(k);
    return ok ? 0 : -1;
}

static int setup(fx_t *f)
{
    strcpy(f->dir, "/tmp/tp-audit-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->log, sizeof f->log, "%s/audit.jsonl", f->dir);
    snprintf(f->key, sizeof f->key, "%s/k.pem", f->dir);
    snprintf(f->pub, sizeof f->pub, "%s/k.pub", f->dir);
    snprintf(f->key2, sizeof f->key2, "%s/k2.pem", f->dir);
    snprintf(f->pub2, sizeof f->pub2, "%s/k2.pub", f->dir);
    snprintf(f->eckey, sizeof f->eckey, "%s/ec.pem", f->dir);
    snprintf(f->ecpub, sizeof f->ecpub, "%s/ec.pub", f->dir);
    if (write_key(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), f->key, f->pub) < 0 ||
        write_key(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), f->key2, f->pub2) < 0 ||
        write_key(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), f->eckey, f->ecpub) < 0)
        return -1;
    return 0;
}

static void cleanup(fx_t *f)
{
    const char *files[] = {f->log, f->key, f->pub, f->key2, f->pub2, f->eckey, f->ecpub};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(files[i]);
    char p[96];
    snprintf(p, sizeof p, "%s/out.jsonl", f->dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/sock", f->dir);
    unlink(p);
    rmdir(f->dir);
}

/* NREC records: w1..w6 on nodes n1, n2, n1, … at 1000, 1010, … */
static int write_log(const char *log, const char *key)
{
    tp_audit_t *a = NULL;
    tp_error_t err = {0};
    unlink(log);
    if (tp_audit_open(log, key, &a, &err) < 0)
        return -1;
    int rc = 0;
    for (int i = 1; i <= NREC && !rc; i++) {
        char body[160];
        snprintf(
            body, sizeof body,
            "{\"kind\":\"decision\",\"workload\":\"w%d\",\"node\":\"n%d\",\"gpus\":%d}",
            i, 1 + (i + 1) % 2, i);
        rc = tp_audit_append(a, i, 1000 + 10 * i, body, &err);
    }
    if (!rc)
        rc = tp_audit_sync(a, &err);
    tp_audit_close(a);
    return rc;
}

/* The file's lines (at most 16), each without its newline. */
static int read_lines(const char *path, char **lines)
{
    char *text = tp_test_slurp(path, NULL);
    int n = 0;
    for (char *save = NULL, *l = text ? strtok_r(text, "\n", &save) : NULL; l && n < 16;
         l = strtok_r(NULL, "\n", &save))
        lines[n++] = strdup(l);
    free(text);
    return n;
}

static void write_lines(const char *path, char **lines, int n)
{
    FILE *f = fopen(path, "w");
    for (int i = 0; f && i < n; i++)
        fprintf(f, "%s\n", lines[i]);
    if (f)
        fclose(f);
}

static void free_lines(char **lines, int n)
{
    for (int i = 0; i < n; i++)
        free(lines[i]);
}

/* A fixture with a signed log of NREC records, read into lines; their number
 * (-1 when the fixture could not be made). */
static int signed_log(fx_t *f, char **lines)
{
    if (setup(f) < 0 || write_log(f->log, f->key) < 0)
        return -1;
    return read_lines(f->log, lines);
}

static int verify(const char *log, const char *pub, tp_error_t *err, int64_t *records)
{
    tp_audit_report_t rep;
    int rc = tp_audit_verify(log, pub, &rep, err);
    if (records)
        *records = rep.records;
    return rc;
}

TP_TEST(audit_chain_verifies_signed_and_unsigned)
{
    fx_t f;
    tp_error_t err = {0};
    int64_t n = 0;
    TP_ASSERT(setup(&f) == 0);
    TP_ASSERT(write_log(f.log, f.key) == 0);
    TP_CHECK_EQ_INT(verify(f.log, f.pub, &err, &n), 0);
    TP_CHECK_EQ_INT(n, NREC);
    tp_audit_report_t rep;
    TP_CHECK_EQ_INT(tp_audit_verify(f.log, NULL, &rep, &err), 0);
    TP_CHECK(rep.signed_all && !rep.sigs_checked);
    /* the first record links to 64 zeros; every record names its predecessor */
    char *lines[16];
    int nl = read_lines(f.log, lines);
    TP_CHECK_EQ_INT(nl, NREC);
    TP_CHECK_CONTAINS(
        lines[0],
        "\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\"");
    TP_CHECK_CONTAINS(lines[0], "\"alg\":\"Ed25519\"");
    free_lines(lines, nl);
    /* ECDSA P-256 */
    TP_ASSERT(write_log(f.log, f.eckey) == 0);
    TP_CHECK_EQ_INT(verify(f.log, f.ecpub, &err, &n), 0);
    TP_CHECK_EQ_INT(n, NREC);
    /* unsigned: verifies without a key; with one, record 1 is "not signed" */
    TP_ASSERT(write_log(f.log, NULL) == 0);
    TP_CHECK_EQ_INT(verify(f.log, NULL, &err, &n), 0);
    TP_CHECK_EQ_INT(verify(f.log, f.pub, &err, NULL), TP_EVIOLATION);
    TP_CHECK_CONTAINS(err.text, "audit.jsonl:1: record seq 1: not signed");
    cleanup(&f);
}

TP_TEST(audit_wrong_key_refused)
{
    fx_t f;
    tp_error_t err = {0};
    TP_ASSERT(setup(&f) == 0);
    TP_ASSERT(write_log(f.log, f.key) == 0);
    TP_CHECK_EQ_INT(verify(f.log, f.pub2, &err, NULL), TP_EVIOLATION);
    TP_CHECK_CONTAINS(err.text,
                      "audit.jsonl:1: record seq 1: the signature does not verify");
    /* an EC key for an Ed25519 log */
    TP_CHECK_EQ_INT(verify(f.log, f.ecpub, &err, NULL), TP_EVIOLATION);
    TP_CHECK_CONTAINS(err.text, ":1: record seq 1: the signature");
    TP_CHECK(verify(f.log, "/nonexistent/key.pem", &err, NULL) == TP_EIO);
    /* a forger rewrites records 4..6 with a consistent chain under its own key:
     * the chain alone holds, the signature check names record 4 */
    char *lines[16];
    int n = read_lines(f.log, lines);
    TP_ASSERT(n == NREC);
    write_lines(f.log, lines, 3);
    free_lines(lines, n);
    tp_audit_t *a = NULL;
    TP_ASSERT(tp_audit_open(f.log, f.key2, &a, &err) == 0);
    for (int i = 4; i <= NREC; i++)
        TP_CHECK_EQ_INT(tp_audit_append(a, i, 2000,
                                        "{\"kind\":\"decision\",\"node\":\"evil\"}",
                                        &err),
                        0);
    tp_audit_close(a);
    TP_CHECK_EQ_INT(verify(f.log, NULL, &err, NULL), 0);
    TP_CHECK_EQ_INT(verify(f.log, f.pub, &err, NULL), TP_EVIOLATION);
    TP_CHECK_CONTAINS(err.text,
                      "audit.jsonl:4: record seq 4: the signature does not verify");
    cleanup(&f);
}

TP_TEST(audit_flipped_byte_detected_at_its_record)
{
    fx_t f;
    tp_error_t err = {0};
    char *lines[16];
    int n = signed_log(&f, lines);
    TP_ASSERT(n == NREC);
    /* record 3's workload "w3" → "w8": still JSON, its hash no longer matches */
    char *p = strstr(lines[2], "\"workload\":\"w3\"");
    TP_ASSERT(p);
    p[13] = '8';
    write_lines(f.log, lines, n);
    TP_CHECK_EQ_INT(verify(f.log, f.pub, &err, NULL), TP_EVIOLATION);
    TP_CHECK_CONTAINS(err.text, "audit.jsonl:3: record seq 3: its hash does not match");
    p[13] = '3';
    /* one bit of record 5's "at" flipped ('0' ^ 1 = '1') */
    p = strstr(lines[4], "\"at\":1050");
    TP_ASSERT(p);
    p[8] ^= 1;
    write_lines(f.log, lines, n);
    TP_CHECK_EQ_INT(verify(f.log, NULL, &err, NULL), TP_EVIOLATION);
    TP_CHECK_CONTAINS(err.text, "audit.jsonl:5: record seq 5: its hash does not match");
    p[8] ^= 1;
    /* a byte that breaks the JSON of record 2 */
    lines[1][0] = 'x';
    write_lines(f.log, lines, n);
    TP_CHECK_EQ_INT(verify(f.log, NULL, &err, NULL), TP_EVIOLATION);
    TP_CHECK_CONTAINS(err.text, "audit.jsonl:2: not a JSON object");
    lines[1][0] = '{';
    /* a flipped hex digit of record 6's own hash */
    p = strstr(lines[5], "\"hash\":\"");
    TP_ASSERT(p);
    p[8] = p[8] == '0' ? '1' : '0';
    write_lines(f.log, lines, n);
    TP_CHECK_EQ_INT(verify(f.log, NULL, &err, NULL), TP_EVIOLATION);
    TP_CHECK_CONTAINS(err.text, "audit.jsonl:6: record seq 6: its hash does not match");
    free_lines(lines, n);
    cleanup(&f);
}

TP_TEST(audit_deleted_and_reordered_records_detected)
{
    fx_t f;
    tp_error_t err = {0};
    char *lines[16];
    int n = signed_log(&f, lines);
    TP_ASSERT(n == NREC);
    /* record 4 deleted: line 4 now holds seq 5, whose prev is record 4's hash */
    char *del[16];
    for (int i = 0, k = 0; i < n; i++)
        if (i != 3)
            del[k++] = lines[i];
    write_lines(f.log, del, n - 1);
    TP_CHECK_EQ_INT(verify(f.log, f.pub, &err, NULL), TP_EVIOLATION);
    TP_CHECK_CONTAINS(err.text, "audit.jsonl:4: record seq 5: prev is not the hash");
    /* the first record deleted */
    write_lines(f.log, lines + 1, n - 1);
    TP_CHECK_EQ_INT(verify(f.log, f.pub, &err, NULL), TP_EVIOLATION);
    TP_CHECK_CONTAINS(err.text, "audit.jsonl:1: record seq 2: prev is not the hash");
    /* records 2 and 3 swapped: line 2 (seq 3) does not follow record 1 */
    char *t = lines[1];
    lines[1] = lines[2];
    lines[2] = t;
    write_lines(f.log, lines, n);
    TP_CHECK_EQ_INT(verify(f.log, f.pub, &err, NULL), TP_EVIOLATION);
    TP_CHECK_CONTAINS(err.text, "audit.jsonl:2: record seq 3: prev is not the hash");
    /* the last two swapped */
    lines[2] = lines[1];
    lines[1] = t;
    t = lines[4];
    lines[4] = lines[5];
    lines[5] = t;
    write_lines(f.log, lines, n);
    TP_CHECK_EQ_INT(verify(f.log, NULL, &err, NULL), TP_EVIOLATION);
    TP_CHECK_CONTAINS(err.text, "audit.jsonl:5: record seq 6: prev is not the hash");
    free_lines(lines, n);
    cleanup(&f);
}

TP_TEST(audit_open_cuts_a_torn_line_and_refuses_a_damaged_one)
{
    fx_t f;
    tp_error_t err = {0};
    tp_audit_t *a = NULL;
    TP_ASSERT(setup(&f) == 0);
    TP_ASSERT(write_log(f.log, NULL) == 0);
    FILE *fp = fopen(f.log, "a");
    TP_ASSERT(fp);
    fputs("{\"at\":1070,\"kind\":\"decis", fp); /* a write cut by kill -9 */
    fclose(fp);
    TP_ASSERT(tp_audit_open(f.log, NULL, &a, &err) == 0);
    TP_CHECK_EQ_INT(tp_audit_last_seq(a), NREC);
    TP_CHECK_EQ_INT(tp_audit_append(a, NREC, 1, "{\"kind\":\"x\"}", &err), TP_EINVAL);
    TP_CHECK_EQ_INT(tp_audit_append(a, NREC + 1, 1070, "{\"kind\":\"release\"}", &err),
                    0);
    TP_CHECK_EQ_INT(tp_audit_append(a, NREC + 2, 1080, "[1]", &err), TP_EPARSE);
    tp_audit_close(a);
    int64_t n = 0;
    TP_CHECK_EQ_INT(verify(f.log, NULL, &err, &n), 0);
    TP_CHECK_EQ_INT(n, NREC + 1);
    fp = fopen(f.log, "a");
    fputs("{\"kind\":\"forged\"}\n", fp);
    fclose(fp);
    TP_CHECK(tp_audit_open(f.log, NULL, &a, &err) == TP_EPARSE);
    TP_CHECK_CONTAINS(err.text, "the last record is damaged");
    cleanup(&f);
}

TP_TEST(audit_query_and_time)
{
    fx_t f;
    tp_error_t err = {0};
    int m = 0;
    TP_ASSERT(setup(&f) == 0);
    TP_ASSERT(write_log(f.log, NULL) == 0);
    char out[96];
    snprintf(out, sizeof out, "%s/out.jsonl", f.dir);
    FILE *o = fopen(out, "w");
    tp_audit_filter_t q = {.node = "n1"};
    TP_CHECK_EQ_INT(tp_audit_query(f.log, &q, o, &m, &err), 0);
    TP_CHECK_EQ_INT(m, 3); /* w2, w4, w6 */
    tp_audit_filter_t q2 = {.workload = "w4", .since = 1000};
    TP_CHECK_EQ_INT(tp_audit_query(f.log, &q2, o, &m, &err), 0);
    TP_CHECK_EQ_INT(m, 1);
    tp_audit_filter_t q3 = {.since = 1045};
    TP_CHECK_EQ_INT(tp_audit_query(f.log, &q3, o, &m, &err), 0);
    TP_CHECK_EQ_INT(m, 2); /* at 1050, 1060 */
    fclose(o);
    int64_t t;
    TP_CHECK(tp_audit_parse_time("2026-01-01T00:00:00Z", &t) == 0 && t == 1767225600);
    TP_CHECK(tp_audit_parse_time("1767225600", &t) == 0 && t == 1767225600);
    TP_CHECK(tp_audit_parse_time("2026-01-01", &t) < 0);
    TP_CHECK(tp_audit_parse_time("-5", &t) < 0);
    cleanup(&f);
}

TP_TEST(audit_syslog_export)
{
    fx_t f;
    tp_error_t err = {0};
    int sent = 0;
    TP_ASSERT(setup(&f) == 0);
    TP_ASSERT(write_log(f.log, NULL) == 0);
    char *m = tp_audit_syslog_line("{\"at\":1767225600,\"kind\":\"decision\",\"seq\":1}",
                                   "host a", 42);
    TP_CHECK_STR(m, "<85>1 2026-01-01T00:00:00Z host_a trustplace 42 decision "
                    "[origin software=\"trustplace\"] "
                    "{\"at\":1767225600,\"kind\":\"decision\",\"seq\":1}");
    free(m);
    TP_CHECK(tp_audit_syslog_line("{\"kind\":1}", "h", 1) == NULL);

    /* TCP on loopback: octet-counted frames */
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    TP_ASSERT(bind(ls, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(ls, 1) == 0 &&
              getsockname(ls, (struct sockaddr *)&sa, &sl) == 0);
    char target[160];
    snprintf(target, sizeof target, "syslog+tcp:127.0.0.1:%d", ntohs(sa.sin_port));
    TP_CHECK_EQ_INT(tp_audit_export(f.log, target, 1040, &sent, &err), 0);
    TP_CHECK_EQ_INT(sent, 3); /* at 1040, 1050, 1060 */
    int c = accept(ls, NULL, NULL);
    static char buf[16384];
    size_t got = 0;
    ssize_t r;
    while (c >= 0 && (r = read(c, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = '\0';
    if (c >= 0)
        close(c);
    close(ls);
    int frames = 0;
    for (char *p = buf; *p; frames++) {
        char *end;
        long len = strtol(p, &end, 10);
        TP_ASSERT(*end == ' ' && len > 0 && (size_t)(end + 1 - buf) + (size_t)len <= got);
        TP_CHECK(!strncmp(end + 1, "<85>1 ", 6));
        p = end + 1 + len;
    }
    TP_CHECK_EQ_INT(frames, 3);
    TP_CHECK_CONTAINS(buf, "\"workload\":\"w4\"");

    /* Unix datagram socket: one message per record */
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    snprintf(su.sun_path, sizeof su.sun_path, "%s/sock", f.dir);
    int us = socket(AF_UNIX, SOCK_DGRAM, 0);
    TP_ASSERT(bind(us, (struct sockaddr *)&su, sizeof su) == 0);
    snprintf(target, sizeof target, "syslog+unix:%s", su.sun_path);
    TP_CHECK_EQ_INT(tp_audit_export(f.log, target, 0, &sent, &err), 0);
    TP_CHECK_EQ_INT(sent, NREC);
    r = recv(us, buf, sizeof buf - 1, MSG_DONTWAIT);
    TP_ASSERT(r > 0);
    buf[r] = '\0';
    TP_CHECK(!strncmp(buf, "<85>1 1970-01-01T00:16:50Z ", 27)); /* at 1010 */
    TP_CHECK_CONTAINS(buf, "\"workload\":\"w1\"");
    close(us);

    /* JSON lines: the records unchanged */
    snprintf(target, sizeof target, "jsonl:%s/out.jsonl", f.dir);
    TP_CHECK_EQ_INT(tp_audit_export(f.log, target, 0, &sent, &err), 0);
    TP_CHECK_EQ_INT(sent, NREC);
    char *a = tp_test_slurp(f.log, NULL), *b = tp_test_slurp(target + 6, NULL);
    TP_CHECK(a && b && !strcmp(a, b));
    free(a);
    free(b);
    TP_CHECK_EQ_INT(tp_audit_export(f.log, "syslog+udp:x", 0, &sent, &err), TP_EUSAGE);
    cleanup(&f);
}
