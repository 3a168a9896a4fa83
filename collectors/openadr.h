/*
 * collectors/openadr.h — an OpenADR 3 VEN that only reads: polls a VTN (the
 * open demand-response standard's server; OpenAPI spec oadr3-org, 3.1.x) for
 * the events of one program and turns their capacity-limit intervals into
 * power orders for `trustplace serve` (docs/serve.md, "OpenADR 3").
 *
 * The configuration file (`serve --openadr FILE`; docs/formats.md):
 *
 *   {"vtn": "https://vtn.example/openadr3/3.1.0",   base URL; http only with
 *    "allow_http": false,                           allow_http (tests)
 *    "ca_file": "vtn-ca.pem",                       optional
 *    "token_file": "vtn.token",                     a bearer token, or OAuth2
 *    "client_id": "ven-1", "client_secret_file": F, client credentials at
 *    "token_url": "https://…/auth/token",           (default VTN/auth/token)
 *    "program_id": "44" | "program_name": "Capacity",
 *    "payload": "IMPORT_CAPACITY_LIMIT",            the limit that becomes a cap
 *    "domains": {"group-1": "site-a/row-1"},        event target → power domain
 *    "default_domain": "site-a",                    events without targets
 *    "poll_s": 30}                                   0.1..86400 s
 *
 * Strict like every trustplace file (unknown keys and bad values refused with
 * FILE: $.json.path). The VTN's documents are outside input too, but the spec
 * lets them carry more members than this reader uses: those are ignored; what
 * is used is checked (types, RFC 3339 times, ISO 8601 durations, finite
 * non-negative limits, known units) and one bad event fails the whole poll
 * with "VTN GET /events: $[i].intervals[j]…: expected …", so a poll changes
 * everything or nothing.
 *
 * Intervals follow the User Guide (3.1.1, § "intervalPeriod"): an interval's
 * own intervalPeriod wins over the event's; an interval without a start begins
 * where the previous one ended; a start of 0001-01-01 means "now" (the event's
 * start for the first interval); a duration of P9999Y is open-ended (end 0).
 * Months count as 30 days and years as 365 in durations. Limits are in the
 * units of the event's (or program's) payloadDescriptor for that payload type:
 * W, KW or MW (KW when none is given).
 *
 * The poll is blocking (libcurl's easy interface) and runs on a libuv pool
 * thread, never on the loop. Nothing logs a token or a secret.
 */
#ifndef TP_COLLECTORS_OPENADR_H
#define TP_COLLECTORS_OPENADR_H

#include "util/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct tp_adr tp_adr_t;

/* Loads and checks the configuration. *out: caller frees with tp_adr_free. */
int tp_adr_load(const char *path, tp_adr_t **out, tp_error_t *err);
void tp_adr_free(tp_adr_t *a);         /* accepts NULL */
int tp_adr_poll_ms(const tp_adr_t *a); /* poll_s in milliseconds */
const char *tp_adr_vtn(const tp_adr_t *a);
/* The power domains the configuration names (for checking them against the
 * fleet): a new array of strings. */
json_t *tp_adr_domains(const tp_adr_t *a);

/* One poll (blocking; one thread at a time per tp_adr_t): token, program id,
 * every page of GET /events?programID=…, then tp_adr_orders. *orders: a new
 * array. */
int tp_adr_poll(tp_adr_t *a, int64_t now, json_t **orders, tp_error_t *err);

/* Pure: an array of OpenADR 3 event objects → appends one order per interval
 * that carries the configured payload and is not over at now:
 *   {"source": "openadr:EVENT/INTERVAL@MODIFIED", "domain", "cap_w",
 *    "start", "end" (0: open-ended), "event", "interval"}
 * Events of another program are skipped; events whose targets map to no
 * domain are skipped. 0, or TP_EPARSE with "what: $[i]…: …" in err. */
int tp_adr_orders(const tp_adr_t *a, const char *what, const json_t *events, int64_t now,
                  json_t *orders, tp_error_t *err);

/* RFC 3339 date-time (or a bare date) → unix seconds; 0001-01-01 gives 0 and
 * *is_now. -1 when malformed. */
int tp_adr_time(const char *s, int64_t *out, bool *is_now);
/* ISO 8601 duration → seconds; P9999Y gives INT64_MAX. -1 when malformed. */
int tp_adr_duration(const char *s, int64_t *out);

#endif
