"""tests/serve/vtn.py DIR — a tiny OpenADR 3 VTN emulator on loopback for the
serve tests: the endpoints a VEN polls (POST /auth/token with OAuth2 client
credentials, GET /programs, GET /events?programID&skip&limit), shaped as the
OpenADR 3.1.1 OpenAPI spec says (grid-coordination/openadr3-specification,
3.1.1/openadr3.yaml: event = objectMetadata + eventRequest, interval,
intervalPeriod, valuesMap, clientCredentialResponse).

It serves whatever DIR/events.json holds at each request (the test rewrites
it), so documents can change between polls (while DIR/redirect exists, GET
/events answers 302 to the URL it holds); DIR/vtn.log gets one line per
request. It binds 127.0.0.1 on a free port (written to DIR/vtn.port), answers
at most 2000 requests and stops by itself after 180 s."""
import json
import os
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

D = sys.argv[1]
CLIENT_ID, CLIENT_SECRET = "ven-trustplace", "s3cret-ven"
issued = set()
served = [0]


def meta(obj_type, oid):
    return {"id": oid, "createdDateTime": "2026-01-01T00:00:00Z",
            "modificationDateTime": "2026-01-01T00:00:00Z", "objectType": obj_type}


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self, code, doc):
        raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def note(self, what):
        served[0] += 1
        with open(os.path.join(D, "vtn.log"), "a") as f:
            f.write(what + "\n")

    def authorized(self):
        h = self.headers.get("Authorization", "")
        return h.startswith("Bearer ") and h[7:] in issued

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        self.note("POST " + self.path)
        if self.path != "/auth/token":
            return self.answer(404, {"title": "not found"})
        if (form.get("grant_type") != ["client_credentials"] or
                form.get("client_id") != [CLIENT_ID] or
                form.get("client_secret") != [CLIENT_SECRET]):
            return self.answer(401, {"error": "invalid_client"})
        tok = "tok-%d" % (len(issued) + 1)
        issued.add(tok)
        self.answer(200, {"access_token": tok, "token_type": "Bearer", "expires_in": 3600})

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        self.note("GET " + self.path + (" bearer" if self.authorized() else " anonymous"))
        if not self.authorized():
            return self.answer(401, {"title": "unauthorized"})
        if u.path == "/programs":
            return self.answer(200, [dict(meta("PROGRAM", "44"), programName="Capacity")])
        if u.path == "/events" and os.path.exists(os.path.join(D, "redirect")):
            # a VTN (or something on its path) redirecting the VEN elsewhere
            self.send_response(302)
            self.send_header("Location", open(os.path.join(D, "redirect")).read().strip())
            self.send_header("Content-Length", "0")
            return self.end_headers()
        if u.path == "/events":
            raw = open(os.path.join(D, "events.json"), "rb").read()
            try:
                evs = json.loads(raw)
            except ValueError:
                return self.answer(200, raw)  # malformed on purpose: served as is
            if isinstance(evs, list):
                evs = [e for e in evs if not isinstance(e, dict) or
                       e.get("programID") == q.get("programID", [None])[0]]
                skip = int(q.get("skip", ["0"])[0])
                limit = int(q.get("limit", ["50"])[0])
                evs = evs[skip:skip + limit]
            return self.answer(200, evs)
        self.answer(404, {"title": "not found"})


srv = HTTPServer(("127.0.0.1", 0), H)
srv.timeout = 0.5
with open(os.path.join(D, "vtn.port.tmp"), "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(os.path.join(D, "vtn.port.tmp"), os.path.join(D, "vtn.port"))
deadline = time.time() + 180
while time.time() < deadline and served[0] < 2000:
    srv.handle_request()
