/*
 * tests/unit/test_openadr.c — collectors/openadr.c without a network: RFC 3339
 * times, ISO 8601 durations, and the events → orders rules of the OpenADR 3.1.1
 * User Guide (§ intervalPeriod: defaults from the event, contiguous intervals,
 * "now" and P9999Y, PT0S cancels), units and targets.
 */
#include "collectors/openadr.h"
#include "tests/unit/tp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TP_TEST(openadr_time_and_duration)
{
    static const struct {
        const char *s;
        int rc;
        int64_t t;
    } times[] = {{"2023-02-10T00:00:00.000Z", 0, 1675987200},
                 {"2023-02-10T00:00:00Z", 0, 1675987200},
                 {"2023-02-10T02:00:00+02:00", 0, 1675987200},
                 {"2023-02-09T22:30:00-01:30", 0, 1675987200},
                 {"2023-02-10", 0, 1675987200},
                 {"2023-02-10T00:00:00", 0, 1675987200},
                 {"2023-02-10T00:00Z", -1, 0},
                 {"2023-13-10T00:00:00Z", -1, 0},
                 {"2023-02-10T00:00:00Zjunk", -1, 0},
                 {"yesterday", -1, 0},
                 {"", -1, 0}};
    for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
        int64_t t = -7;
        bool now;
        TP_CHECK_EQ_INT(tp_adr_time(times[i].s, &t, &now), times[i].rc);
        if (!times[i].rc)
            TP_CHECK(t == times[i].t && !now);
    }
    int64_t t;
    bool now;
    TP_CHECK(tp_adr_time("0001-01-01", &t, &now) == 0 && now);
    TP_CHECK(tp_adr_time("0001-01-01T00:00:00", &t, &now) == 0 && now);
    static const struct {
        const char *s;
        int rc;
        int64_t secs;
    } durs[] = {{"PT30M", 0, 1800},
                {"PT1H", 0, 3600},
                {"P1D", 0, 86400},
                {"P1W", 0, 604800},
                {"PT1H30M", 0, 5400},
                {"PT0S", 0, 0},
                {"PT1.5S", 0, 1},
                {"P1DT1H", 0, 90000},
                {"P1M", 0, 30 * 86400},
                {"PT30X", -1, 0},
                {"P", -1, 0},
                {"PT", -1, 0},
                {"30M", -1, 0},
                {"PT1M1H", -1, 0},
                {"P1.5D", -1, 0},
                {"-PT1H", -1, 0},
                {"PT1H ", -1, 0},
                /* strtod's extras are not ISO 8601 */
                {"P1e3D", -1, 0},
                {"P0x10D", -1, 0},
                {"PT1e2S", -1, 0},
                {"PT1.S", -1, 0},
                {"PT.5S", -1, 0},
                {"PT1.5e1S", -1, 0},
                {"P1Y2M", 0, 425 * 86400}};
    for (size_t i = 0; i < sizeof durs / sizeof *durs; i++) {
        int64_t d = -7;
        TP_CHECK_EQ_INT(tp_adr_duration(durs[i].s, &d), durs[i].rc);
        if (!durs[i].rc)
            TP_CHECK(d == durs[i].secs);
    }
    TP_CHECK(tp_adr_duration("P9999Y", &t) == 0 && t == INT64_MAX);
}

static tp_adr_t *config(const char *text)
{
    char path[] = "/tmp/tp-adr-XXXXXX";
    int fd = mkstemp(path);
    tp_adr_t *a = NULL;
    tp_error_t err = {0};
    if (fd < 0)
        return NULL;
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        close(fd);
        return NULL;
    }
    close(fd);
    tp_adr_load(path, &a, &err);
    unlink(path);
    return a;
}

TP_TEST(openadr_orders)
{
    tp_adr_t *a =
        config("{\"vtn\": \"https://vtn.example/oadr3\", \"token_file\": \"t\", "
               "\"program_id\": \"44\", \"domains\": {\"group-1\": \"row-1\"}, "
               "\"default_domain\": \"site\"}");
    TP_ASSERT(a != NULL);
    tp_error_t err = {0};
    const int64_t now = 1675988000; /* 2023-02-10T00:13:20Z */
    json_error_t je;
    /* Example 8.10.1-1 (trimmed), a "do it now" alert-style event in MW with
     * its own interval periods, an event of another program, a cancelled one. */
    json_t *evs = json_loads(
        "[{\"id\": \"e1\", \"programID\": \"44\", \"modificationDateTime\": "
        "\"2023-02-09T00:00:00Z\", \"targets\": [\"group-1\"], \"intervalPeriod\": "
        "{\"start\": \"2023-02-10T00:00:00.000Z\", \"duration\": \"PT30M\"}, "
        "\"payloadDescriptors\": [{\"payloadType\": \"IMPORT_CAPACITY_LIMIT\", "
        "\"units\": "
        "\"KW\"}], \"intervals\": [{\"id\": 0, \"payloads\": [{\"type\": "
        "\"IMPORT_CAPACITY_LIMIT\", \"values\": [10.0]}]}, {\"id\": 1, \"payloads\": "
        "[{\"type\": \"IMPORT_CAPACITY_LIMIT\", \"values\": [8.0]}]}, {\"id\": 2, "
        "\"intervalPeriod\": {\"duration\": \"PT1H\"}, \"payloads\": [{\"type\": "
        "\"IMPORT_CAPACITY_LIMIT\", \"values\": [6.0]}, {\"type\": \"PRICE\", "
        "\"values\": "
        "[0.2]}]}]},"
        " {\"id\": \"e2\", \"programID\": \"44\", \"modificationDateTime\": "
        "\"2023-02-09T00:00:00Z\", \"payloadDescriptors\": [{\"payloadType\": "
        "\"IMPORT_CAPACITY_LIMIT\", \"units\": \"MW\"}], \"intervals\": [{\"id\": 7, "
        "\"intervalPeriod\": {\"start\": \"0001-01-01\", \"duration\": \"P9999Y\"}, "
        "\"payloads\": [{\"type\": \"IMPORT_CAPACITY_LIMIT\", \"values\": [2]}]}]},"
        " {\"id\": \"e3\", \"programID\": \"45\", \"modificationDateTime\": "
        "\"2023-02-09T00:00:00Z\", \"intervals\": []},"
        " {\"id\": \"e4\", \"programID\": \"44\", \"modificationDateTime\": "
        "\"2023-02-09T00:00:00Z\", \"intervalPeriod\": {\"start\": \"0001-01-01\", "
        "\"duration\": \"PT0S\"}, \"intervals\": [{\"id\": 0, \"payloads\": [{\"type\": "
        "\"IMPORT_CAPACITY_LIMIT\", \"values\": [1]}]}]},"
        " {\"id\": \"e5\", \"programID\": \"44\", \"modificationDateTime\": "
        "\"2023-02-09T00:00:00Z\", \"targets\": [\"elsewhere\"], \"intervalPeriod\": "
        "{\"duration\": \"PT1H\"}, \"intervals\": [{\"id\": 0, \"payloads\": [{\"type\": "
        "\"IMPORT_CAPACITY_LIMIT\", \"values\": [1]}]}]}]",
        JSON_REJECT_DUPLICATES, &je);
    TP_ASSERT(evs != NULL);
    json_t *orders = json_array();
    TP_CHECK_EQ_INT(tp_adr_orders(a, "vtn", evs, now, orders, &err), 0);
    TP_CHECK_EQ_INT((int)json_array_size(orders), 4);
    static const struct {
        const char *source, *domain;
        double cap;
        int64_t start, end;
    } want[] = {
        {"openadr:e1/0@2023-02-09T00:00:00Z", "row-1", 10000, 1675987200, 1675989000},
        {"openadr:e1/1@2023-02-09T00:00:00Z", "row-1", 8000, 1675989000, 1675990800},
        {"openadr:e1/2@2023-02-09T00:00:00Z", "row-1", 6000, 1675990800, 1675994400},
        {"openadr:e2/7@2023-02-09T00:00:00Z", "site", 2e6, now, 0}};
    for (size_t i = 0; i < 4; i++) {
        json_t *o = json_array_get(orders, i);
        TP_CHECK_STR(json_string_value(json_object_get(o, "source")), want[i].source);
        TP_CHECK_STR(json_string_value(json_object_get(o, "domain")), want[i].domain);
        TP_CHECK(json_number_value(json_object_get(o, "cap_w")) == want[i].cap);
        TP_CHECK(json_integer_value(json_object_get(o, "start")) == want[i].start);
        TP_CHECK(json_integer_value(json_object_get(o, "end")) == want[i].end);
    }
    /* An interval already over is no order. */
    json_array_clear(orders);
    TP_CHECK_EQ_INT(tp_adr_orders(a, "vtn", evs, 1675989500, orders, &err), 0);
    TP_CHECK_EQ_INT((int)json_array_size(orders), 3);
    json_decref(evs);
    /* Bad documents: every error names the path; nothing is appended. */
    static const struct {
        const char *doc, *want;
    } bad[] = {
        {"{}", "vtn: $: expected an array of events"},
        {"[3]", "vtn: $[0]: expected an event object"},
        {"[{\"id\": \"e\", \"programID\": \"44\"}]", "$[0].modificationDateTime"},
        {"[{\"id\": \"e\", \"programID\": \"44\", \"modificationDateTime\": \"x\", "
         "\"intervals\": []}]",
         "$[0].modificationDateTime: expected an RFC 3339 date-time"},
        {"[{\"id\": \"e f\", \"programID\": \"44\", \"modificationDateTime\": "
         "\"2023-02-09T00:00:00Z\", \"intervals\": []}]",
         "$[0].id"},
        {"[{\"id\": \"e\", \"programID\": \"44\", \"modificationDateTime\": "
         "\"2023-02-09T00:00:00Z\", \"intervals\": [{\"id\": 0, \"payloads\": []}]}]",
         "$[0].intervals[0].intervalPeriod: no duration"},
        {"[{\"id\": \"e\", \"programID\": \"44\", \"modificationDateTime\": "
         "\"2023-02-09T00:00:00Z\", \"intervalPeriod\": {\"duration\": \"PT1H\"}, "
         "\"intervals\": [{\"id\": 0, \"payloads\": [{\"type\": "
         "\"IMPORT_CAPACITY_LIMIT\", \"values\": [-1]}]}]}]",
         "$[0].intervals[0].payloads[0].values: expected one non-negative number"},
        {"[{\"id\": \"e\", \"programID\": \"44\", \"modificationDateTime\": "
         "\"2023-02-09T00:00:00Z\", \"intervalPeriod\": {\"duration\": \"PT1H\"}, "
         "\"intervals\": [{\"id\": 0, \"payloads\": [{\"type\": "
         "\"IMPORT_CAPACITY_LIMIT\", \"values\": [1, 2]}]}]}]",
         "$[0].intervals[0].payloads[0].values: expected one non-negative number"},
        {"[{\"id\": \"e\", \"programID\": \"44\", \"modificationDateTime\": "
         "\"2023-02-09T00:00:00Z\", \"intervalPeriod\": {\"start\": 5}, \"intervals\": "
         "[]}]",
         "$[0].intervalPeriod.start: expected an RFC 3339 date-time"},
        {"[{\"id\": \"e\", \"programID\": \"44\", \"modificationDateTime\": "
         "\"2023-02-09T00:00:00Z\", \"targets\": \"group-1\", \"intervals\": []}]",
         "$[0].targets: expected an array or null"},
        /* found by tests/fuzz/fuzz_openadr.c: an interval after an open-ended one
         * (its start would overflow), a valuesMap without values, no payloads */
        {"[{\"id\": \"e\", \"programID\": \"44\", \"modificationDateTime\": "
         "\"2023-02-09T00:00:00Z\", \"intervalPeriod\": {\"duration\": \"P9999Y\"}, "
         "\"intervals\": [{\"id\": 0, \"payloads\": []}, {\"id\": 1, \"payloads\": "
         "[]}]}]",
         "$[0].intervals[1].intervalPeriod: expected a start before"},
        {"[{\"id\": \"e\", \"programID\": \"44\", \"modificationDateTime\": "
         "\"2023-02-09T00:00:00Z\", \"intervalPeriod\": {\"duration\": \"PT1H\"}, "
         "\"intervals\": [{\"id\": 0, \"payloads\": [{\"type\": "
         "\"IMPORT_CAPACITY_LIMIT\"}]}]}]",
         "$[0].intervals[0].payloads[0].values: expected an array, got nothing"},
        {"[{\"id\": \"e\", \"programID\": \"44\", \"modificationDateTime\": "
         "\"2023-02-09T00:00:00Z\", \"intervalPeriod\": {\"duration\": \"PT1H\"}, "
         "\"intervals\": [{\"id\": 0}]}]",
         "$[0].intervals[0].payloads: expected an array, got nothing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *doc = json_loads(bad[i].doc, 0, &je);
        TP_ASSERT(doc != NULL);
        json_array_clear(orders);
        err = (tp_error_t){0};
        TP_CHECK(tp_adr_orders(a, "vtn", doc, now, orders, &err) < 0);
        TP_CHECK_CONTAINS(err.text, bad[i].want);
        json_decref(doc);
    }
    json_decref(orders);
    tp_adr_free(a);
    /* A program id goes into the query: only the spec's objectID characters. */
    TP_CHECK(config("{\"vtn\": \"https://v.example\", \"token_file\": \"t\", "
                    "\"program_id\": \"44&programID=45\", \"default_domain\": \"s\"}") ==
             NULL);
    TP_CHECK(config("{\"vtn\": \"http://v.example\", \"token_file\": \"t\", "
                    "\"program_id\": \"44\", \"default_domain\": \"s\"}") == NULL);
}
