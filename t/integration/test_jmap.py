"""The JMAP server (imap-jmap/jmap_*.c, RFC 8620 core and the Mailbox and
Thread types of RFC 8621) against a real `postern serve` on loopback,
driven with http.client and json only.

Covered: the session resource and /.well-known/jmap, over HTTPS and the
plain-HTTP test port; HTTP Basic (good, bad, malformed, throttled, and
refused on plain HTTP without auth.plaintext_loopback); every
request-level error (problem details) and the method-level errors;
result references with JSON Pointer and "*"; the advertised limits and
their enforcement; Core/echo; upload/download and Blob/copy with account
isolation; EventSource StateChange on an SMTP delivery (and ping,
closeafter=state); Mailbox get/set/changes/query/queryChanges, Thread
get/changes; a mailbox created over IMAP seen by Mailbox/changes."""
import base64
import http.client
import imaplib
import json
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import BIN, free_port

PW = "correct horse"
PW_V = "battery staple"
CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
ERR = "urn:ietf:params:jmap:error:"


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def set_password(p, addr, password):
    subprocess.run([BIN, "-c", p.conf, "user", "passwd", addr],
                   input=password + "\n", text=True, check=True,
                   capture_output=True, timeout=60)


def add_user(p, addr, password):
    subprocess.run([BIN, "-c", p.conf, "user", "add", addr],
                   input=password + "\n", text=True, check=True,
                   capture_output=True, timeout=60)


def make_server(postern_factory, auth="plaintext_loopback = true;",
                jmap_extra="", imap=False, users=True):
    """JMAP on a plain-HTTP and an HTTPS loopback port; users
    u@test.example (A1) and v@test.example (A2); SMTP delivers straight
    into the mailboxes."""
    port, tls_port = free_port(), free_port()
    imap_port = free_port()
    p = postern_factory(
        jmap='listen = [ "127.0.0.1:%d" ]; listen_tls = [ "127.0.0.1:%d" ]; '
        '%s' % (port, tls_port, jmap_extra),
        imap=('listen = [ "127.0.0.1:%d" ]; listen_tls = [];' % imap_port
              if imap else None),
        extra_conf='log = { level = "debug"; };\nauth = { %s };' % auth,
        deliver=True, stages=[])
    p.http_port, p.https_port, p.imap_port = port, tls_port, imap_port
    if users:
        set_password(p, "u@test.example", PW)
        add_user(p, "v@test.example", PW_V)
    return p


@pytest.fixture
def srv(postern_factory):
    return make_server(postern_factory)


def basic(user, password):
    return "Basic " + base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode()


class Client:
    """One user's HTTP connection: request() gives (status, headers,
    body bytes); api() posts a Request and gives the parsed response."""

    def __init__(self, p, user="u@test.example", password=PW, tls=False):
        self.p = p
        self.tls = tls
        self.auth = basic(user, password) if user is not None else None
        self.conn = None

    def connect(self):
        if self.tls:
            return http.client.HTTPSConnection(
                "127.0.0.1", self.p.https_port, timeout=30,
                context=tls_context())
        return http.client.HTTPConnection("127.0.0.1", self.p.http_port,
                                          timeout=30)

    def request(self, method, path, body=None, headers=None, auth=True):
        h = dict(headers or {})
        if auth and self.auth is not None:
            h.setdefault("Authorization", self.auth)
        if self.conn is None:
            self.conn = self.connect()
        self.conn.request(method, path, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return r.status, r, data

    def post(self, body, ctype="application/json"):
        if not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        return self.request("POST", "/jmap/api/", body=body,
                            headers={"Content-Type": ctype})

    def api(self, calls, using=(CORE, MAIL)):
        st, r, data = self.post({"using": list(using), "methodCalls": calls})
        assert st == 200, (st, data)
        assert r.getheader("Content-Type") == "application/json"
        return json.loads(data)

    def call(self, name, args, using=(CORE, MAIL)):
        """one call: (response name, response arguments)"""
        resp = self.api([[name, args, "c"]], using)["methodResponses"]
        assert len(resp) == 1 and resp[0][2] == "c", resp
        return resp[0][0], resp[0][1]

    def ok(self, name, args, using=(CORE, MAIL)):
        n, a = self.call(name, args, using)
        assert n == name, (n, a)
        return a

    def error(self, name, args, using=(CORE, MAIL)):
        n, a = self.call(name, args, using)
        assert n == "error", (n, a)
        return a["type"]


def problem(st, r, data, type_, status=400):
    assert st == status, (st, data)
    assert r.getheader("Content-Type") == "application/problem+json"
    body = json.loads(data)
    assert body["type"] == type_, body
    assert body["status"] == status
    return body


def deliver(p, rcpt="u@test.example", subject="hello", body="Hi there.\r\n",
            msgid=None):
    hdr = "From: sender@example.net\r\nTo: %s\r\nSubject: %s\r\n" % (
        rcpt, subject)
    if msgid:
        hdr += "Message-ID: <%s>\r\n" % msgid
    with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
        s.sendmail("sender@example.net", [rcpt], hdr + "\r\n" + body)


def inbox(c):
    mb = c.ok("Mailbox/get", {"accountId": "A1"})["list"]
    return [m for m in mb if m["role"] == "inbox"][0]


def wait_for(fn, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out")


# ---- the session resource ----

def test_session_resource_and_well_known(srv):
    c = Client(srv)
    st, r, _ = c.request("GET", "/.well-known/jmap", auth=False)
    assert st == 307
    assert r.getheader("Location") == \
        "http://127.0.0.1:%d/jmap/session" % srv.http_port
    st, r, data = c.request("GET", "/jmap/session")
    assert st == 200 and r.getheader("Content-Type") == "application/json"
    assert r.getheader("Access-Control-Allow-Origin") == "*"
    s = json.loads(data)
    core = s["capabilities"][CORE]
    for k, v in (("maxSizeUpload", 50 << 20), ("maxConcurrentUpload", 4),
                 ("maxSizeRequest", 10 << 20), ("maxConcurrentRequests", 4),
                 ("maxCallsInRequest", 16), ("maxObjectsInGet", 500),
                 ("maxObjectsInSet", 500)):
        assert core[k] == v, (k, core)
    assert "i;ascii-casemap" in core["collationAlgorithms"]
    assert MAIL in s["capabilities"]
    for cap in ("submission", "vacationresponse"):
        assert "urn:ietf:params:jmap:" + cap in s["capabilities"]
    assert set(s["accounts"]) == {"A1"}
    acct = s["accounts"]["A1"]
    assert acct["name"] == "u@test.example" and acct["isPersonal"]
    assert acct["isReadOnly"] is False
    mcap = acct["accountCapabilities"][MAIL]
    assert mcap["maxSizeMailboxName"] == 255
    assert mcap["mayCreateTopLevelMailbox"] is True
    assert s["primaryAccounts"] == {
        MAIL: "A1", "urn:ietf:params:jmap:submission": "A1",
        "urn:ietf:params:jmap:vacationresponse": "A1"}
    assert s["username"] == "u@test.example"
    base = "http://127.0.0.1:%d" % srv.http_port
    assert s["apiUrl"] == base + "/jmap/api/"
    assert s["uploadUrl"] == base + "/jmap/upload/{accountId}/"
    assert s["downloadUrl"] == base + \
        "/jmap/download/{accountId}/{blobId}/{name}?type={type}"
    assert s["eventSourceUrl"] == base + "/jmap/eventsource/" \
        "?types={types}&closeafter={closeafter}&ping={ping}"
    assert s["state"]
    # the API's sessionState is the session's state
    resp = c.api([["Core/echo", {}, "0"]], using=[CORE])
    assert resp["sessionState"] == s["state"]
    # and over HTTPS, with https URLs
    t = Client(srv, tls=True)
    st, r, data = t.request("GET", "/jmap/session")
    assert st == 200
    s2 = json.loads(data)
    assert s2["apiUrl"] == "https://127.0.0.1:%d/jmap/api/" % srv.https_port
    assert s2["state"] == s["state"]
    # v has its own account, named by its own id
    v = json.loads(Client(srv, "v@test.example", PW_V).request(
        "GET", "/jmap/session")[2])
    assert set(v["accounts"]) == {"A2"} and v["username"] == "v@test.example"
    # CORS preflight, unknown paths, wrong methods
    st, r, _ = c.request("OPTIONS", "/jmap/api/", auth=False)
    assert st == 204 and "POST" in r.getheader(
        "Access-Control-Allow-Methods")
    st, r, data = c.request("GET", "/nothing/here")
    problem(st, r, data, "about:blank", 404)
    st, r, data = c.request("GET", "/jmap/api/")
    problem(st, r, data, "about:blank", 405)
    assert "POST" in r.getheader("Allow")


# ---- authentication ----

def test_auth_good_bad_and_malformed(srv):
    c = Client(srv)
    st, r, data = c.request("GET", "/jmap/session", auth=False)
    problem(st, r, data, "about:blank", 401)
    assert r.getheader("WWW-Authenticate").startswith("Basic realm=")
    for h in ("Bearer abcdef", "Basic !!!notbase64", "Basic " +
              base64.b64encode(b"no-colon").decode(),
              basic("u@test.example", "wrong"),
              basic("nobody@test.example", PW)):
        st, r, data = c.request("GET", "/jmap/session",
                                headers={"Authorization": h})
        problem(st, r, data, "about:blank", 401)
        assert r.getheader("WWW-Authenticate")
    # the user name is case-insensitive, the password is not
    st, _, _ = c.request("GET", "/jmap/session", headers={
        "Authorization": basic("U@Test.Example", PW)})
    assert st == 200
    st, _, _ = c.request("GET", "/jmap/session", headers={
        "Authorization": basic("u@test.example", PW.upper())})
    assert st == 401
    # the API and the binary endpoints want it too
    for m, path in (("POST", "/jmap/api/"), ("POST", "/jmap/upload/A1/"),
                    ("GET", "/jmap/download/A1/B00/x"),
                    ("GET", "/jmap/eventsource/?types=*&closeafter=no"
                     "&ping=0")):
        st, r, data = c.request(m, path, body=b"{}" if m == "POST" else None,
                                auth=False)
        assert st == 401, (path, st)
    log = srv.log()
    assert "Basic authentication failed: user=<u@test.example>" in log
    assert PW not in log and "wrong" not in log.split("Basic auth")[0][-50:]


def test_auth_refused_over_plain_http_without_plaintext_loopback(
        postern_factory):
    p = make_server(postern_factory, auth="plaintext_loopback = false;")
    c = Client(p)
    st, r, data = c.request("GET", "/jmap/session")
    problem(st, r, data, "about:blank", 403)
    # the redirect needs no login
    assert c.request("GET", "/.well-known/jmap", auth=False)[0] == 307
    # HTTPS works
    assert Client(p, tls=True).request("GET", "/jmap/session")[0] == 200


def test_auth_throttled(postern_factory):
    p = make_server(postern_factory, auth="plaintext_loopback = true; "
                    "failure_free = 2; failure_delay_ms = 100; "
                    "failure_delay_max_ms = 200; max_failures_per_ip = 4; "
                    "block_time = 60;")
    bad = Client(p, password="nope")
    times = []
    for i in range(3):
        t = time.time()
        st, r, data = bad.request("GET", "/jmap/session")
        times.append(time.time() - t)
        assert st == 401
    assert times[2] >= 0.09, times      # the third failure is delayed
    st, r, data = bad.request("GET", "/jmap/session")
    problem(st, r, data, "about:blank", 429)    # the 4th blocks the IP
    assert int(r.getheader("Retry-After")) > 0
    # now even the right password is refused, without a check
    st, r, data = Client(p).request("GET", "/jmap/session")
    problem(st, r, data, "about:blank", 429)
    assert "blocked from login" in p.log()


# ---- request-level errors ----

def test_request_level_errors(postern_factory):
    p = make_server(postern_factory,
                    jmap_extra='max_size_request = "2k"; '
                    'max_calls_in_request = 3;')
    c = Client(p)
    problem(*c.post('{"using": [', ), ERR + "notJSON")
    problem(*c.post('{"using": [], "using": [], "methodCalls": []}'),
            ERR + "notJSON")      # duplicate names: not I-JSON
    problem(*c.post(b'{"using": ["\xff"], "methodCalls": []}'),
            ERR + "notJSON")      # not UTF-8
    problem(*c.post({"using": [CORE], "methodCalls": []},
                    ctype="text/plain"), ERR + "notJSON")
    for body in ([], 42, {"using": [CORE]}, {"methodCalls": []},
                 {"using": CORE, "methodCalls": []},
                 {"using": [CORE], "methodCalls": [["Core/echo", {}]]},
                 {"using": [CORE], "methodCalls": [["Core/echo", [], "a"]]},
                 {"using": [CORE], "methodCalls": [[1, {}, "a"]]},
                 {"using": [CORE], "methodCalls": [], "extra": 1},
                 {"using": [CORE], "methodCalls": [], "createdIds": []},
                 {"using": [CORE], "methodCalls": [],
                  "createdIds": {"a": "#bad id"}}):
        problem(*c.post(body), ERR + "notRequest")
    b = problem(*c.post({"using": [CORE, "urn:example:nope"],
                         "methodCalls": []}), ERR + "unknownCapability")
    assert "urn:example:nope" in b["detail"]
    problem(*c.post({"using": [CORE, "urn:ietf:params:jmap:calendars"],
                     "methodCalls": []}), ERR + "unknownCapability")
    b = problem(*c.post({"using": [CORE], "methodCalls":
                         [["Core/echo", {}, str(i)] for i in range(4)]}),
                ERR + "limit")
    assert b["limit"] == "maxCallsInRequest"
    b = problem(*c.post({"using": [CORE], "methodCalls":
                         [["Core/echo", {"x": "y" * 3000}, "a"]]}),
                ERR + "limit")
    assert b["limit"] == "maxSizeRequest"
    # the limits are advertised as enforced
    s = json.loads(c.request("GET", "/jmap/session")[2])
    assert s["capabilities"][CORE]["maxSizeRequest"] == 2048
    assert s["capabilities"][CORE]["maxCallsInRequest"] == 3
    # exactly at the limit is fine
    r = c.api([["Core/echo", {}, str(i)] for i in range(3)], using=[CORE])
    assert len(r["methodResponses"]) == 3
    # a body past every limit is refused by the HTTP layer itself, from
    # its Content-Length, before it is read
    with socket.create_connection(("127.0.0.1", p.http_port), 30) as s:
        s.sendall(("POST /jmap/api/ HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n{" % (
                       basic("u@test.example", PW), 60 << 20)).encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 413 ")


# ---- method-level errors, Core/echo ----

def test_core_echo_and_method_errors(srv):
    c = Client(srv)
    args = {"hello": [True, None, 1.5, {"a": "ü"}], "n": -3}
    assert c.ok("Core/echo", args, using=[CORE]) == args
    r = c.api([["Core/echo", {"x": 1}, "a"], ["Core/echo", {"y": 2}, "b"]],
              using=[CORE])
    assert r["methodResponses"] == [["Core/echo", {"x": 1}, "a"],
                                    ["Core/echo", {"y": 2}, "b"]]
    assert "createdIds" not in r
    # createdIds are returned when given
    r = c.post({"using": [CORE], "methodCalls": [], "createdIds": {"k": "M1"}})
    assert json.loads(r[2])["createdIds"] == {"k": "M1"}

    assert c.error("Nope/get", {}) == "unknownMethod"
    # a method whose capability the client did not name
    assert c.error("Mailbox/get", {"accountId": "A1"},
                   using=[CORE]) == "unknownMethod"
    assert c.error("Mailbox/get", {}) == "invalidArguments"
    assert c.error("Mailbox/get", {"accountId": 1}) == "invalidArguments"
    assert c.error("Mailbox/get", {"accountId": "A1", "bogus": 1}) == \
        "invalidArguments"
    assert c.error("Mailbox/get", {"accountId": "A1", "ids": "M1"}) == \
        "invalidArguments"
    assert c.error("Mailbox/get", {"accountId": "A1",
                                   "properties": ["nope"]}) == \
        "invalidArguments"
    # another user's account, an account that does not exist
    assert c.error("Mailbox/get", {"accountId": "A2"}) == "accountNotFound"
    assert c.error("Mailbox/get", {"accountId": "A999"}) == "accountNotFound"
    assert c.error("Mailbox/changes", {"accountId": "A1",
                                       "sinceState": "x"}) == \
        "cannotCalculateChanges"
    assert c.error("Mailbox/changes", {"accountId": "A1",
                                       "sinceState": "999999"}) == \
        "cannotCalculateChanges"
    assert c.error("Mailbox/changes", {"accountId": "A1", "sinceState": "0",
                                       "maxChanges": 0}) == "invalidArguments"
    assert c.error("Mailbox/query", {"accountId": "A1",
                                     "filter": {"color": "red"}}) == \
        "unsupportedFilter"
    assert c.error("Mailbox/query", {"accountId": "A1", "filter": {
        "operator": "XOR", "conditions": []}}) == "invalidArguments"
    assert c.error("Mailbox/query", {"accountId": "A1",
                                     "sort": [{"property": "color"}]}) == \
        "unsupportedSort"
    assert c.error("Mailbox/query", {"accountId": "A1", "sort": [
        {"property": "name", "collation": "i;klingon"}]}) == "unsupportedSort"
    assert c.error("Mailbox/query", {"accountId": "A1",
                                     "anchor": "M999"}) == "anchorNotFound"
    assert c.error("Thread/get", {"accountId": "A1"}) == "invalidArguments"
    st = c.ok("Mailbox/get", {"accountId": "A1", "ids": []})["state"]
    assert c.error("Mailbox/set", {"accountId": "A1", "ifInState": st + "0",
                                   "create": {"a": {"name": "x"}}}) == \
        "stateMismatch"
    assert c.error("Blob/copy", {"fromAccountId": "A2", "accountId": "A1",
                                 "blobIds": []}) == "fromAccountNotFound"
    assert c.error("Blob/copy", {"fromAccountId": "A1", "accountId": "A2",
                                 "blobIds": []}) == "accountNotFound"


def test_max_objects_in_get_and_set(postern_factory):
    p = make_server(postern_factory, jmap_extra="max_objects_in_get = 3; "
                    "max_objects_in_set = 2;")
    c = Client(p)
    # six default mailboxes: more than 3
    assert c.error("Mailbox/get", {"accountId": "A1"}) == "requestTooLarge"
    assert c.error("Mailbox/get", {"accountId": "A1", "ids":
                                   ["M1", "M2", "M3", "M4"]}) == \
        "requestTooLarge"
    r = c.ok("Mailbox/get", {"accountId": "A1", "ids": ["M1", "M2", "M3"],
                             "properties": ["name"]})
    assert [m["id"] for m in r["list"]] == ["M1", "M2", "M3"]
    assert set(r["list"][0]) == {"id", "name"}
    assert c.error("Mailbox/set", {"accountId": "A1", "create": {
        "a": {"name": "a"}, "b": {"name": "b"}}, "destroy": ["M6"]}) == \
        "requestTooLarge"
    s = json.loads(c.request("GET", "/jmap/session")[2])
    assert s["capabilities"][CORE]["maxObjectsInGet"] == 3
    assert s["capabilities"][CORE]["maxObjectsInSet"] == 2


# ---- result references ----

def test_result_references(srv):
    c = Client(srv)
    r = c.api([
        ["Mailbox/query", {"accountId": "A1", "filter": {"role": "inbox"}},
         "q"],
        ["Mailbox/get", {"accountId": "A1", "#ids": {
            "resultOf": "q", "name": "Mailbox/query", "path": "/ids"}},
         "g"],
        ["Core/echo", {"#names": {"resultOf": "g", "name": "Mailbox/get",
                                  "path": "/list/*/name"}}, "e"],
    ])["methodResponses"]
    assert r[1][0] == "Mailbox/get"
    assert [m["name"] for m in r[1][1]["list"]] == ["INBOX"]
    assert r[2] == ["Core/echo", {"names": ["INBOX"]}, "e"]
    # "*" flattens arrays of arrays; escapes ~0 and ~1
    r = c.api([
        ["Core/echo", {"a": [{"b": [1, 2]}, {"b": [3]}, {"b": 4}],
                       "x/y": {"m~n": "esc"}}, "0"],
        ["Core/echo", {"#f": {"resultOf": "0", "name": "Core/echo",
                              "path": "/a/*/b"},
                       "#e": {"resultOf": "0", "name": "Core/echo",
                              "path": "/x~1y/m~0n"},
                       "#w": {"resultOf": "0", "name": "Core/echo",
                              "path": ""},
                       "#i": {"resultOf": "0", "name": "Core/echo",
                              "path": "/a/1/b/0"}}, "1"],
    ], using=[CORE])["methodResponses"]
    assert r[1][1]["f"] == [1, 2, 3, 4]
    assert r[1][1]["e"] == "esc"
    assert r[1][1]["i"] == 3
    assert r[1][1]["w"]["x/y"] == {"m~n": "esc"}
    base = ["Core/echo", {"a": [1, 2], "o": {"k": 1}}, "0"]
    for ref in ({"resultOf": "zz", "name": "Core/echo", "path": "/a"},
                {"resultOf": "0", "name": "Mailbox/get", "path": "/a"},
                {"resultOf": "0", "name": "Core/echo", "path": "/nope"},
                {"resultOf": "0", "name": "Core/echo", "path": "a"},
                {"resultOf": "0", "name": "Core/echo", "path": "/a/2"},
                {"resultOf": "0", "name": "Core/echo", "path": "/a/01"},
                {"resultOf": "0", "name": "Core/echo", "path": "/a/-"},
                {"resultOf": "0", "name": "Core/echo", "path": "/o/*"},
                {"resultOf": "0", "name": "Core/echo", "path": "/o/~2"},
                {"resultOf": "0", "name": "Core/echo"},
                {"resultOf": "0", "name": "Core/echo", "path": "/a",
                 "extra": 1},
                "not an object"):
        r = c.api([base, ["Core/echo", {"#v": ref}, "1"]],
                  using=[CORE])["methodResponses"]
        assert r[1][0] == "error", (ref, r)
        assert r[1][1]["type"] == "invalidResultReference", (ref, r)
    # a reference to a call that failed names "error", not the method
    r = c.api([["Nope/x", {}, "0"],
               ["Core/echo", {"#v": {"resultOf": "0", "name": "Nope/x",
                                     "path": ""}}, "1"]],
              using=[CORE])["methodResponses"]
    assert r[1][1]["type"] == "invalidResultReference"
    # both forms of one argument
    r = c.api([base, ["Core/echo", {"v": 1, "#v": {
        "resultOf": "0", "name": "Core/echo", "path": "/a"}}, "1"]],
        using=[CORE])["methodResponses"]
    assert r[1][1]["type"] == "invalidArguments"


# ---- binary data ----

def test_upload_download_and_account_isolation(postern_factory):
    p = make_server(postern_factory, jmap_extra='max_size_upload = "64k";')
    u, v = Client(p), Client(p, "v@test.example", PW_V)
    data = bytes(range(256)) * 40
    st, r, body = u.request("POST", "/jmap/upload/A1/", body=data,
                            headers={"Content-Type": "image/png"})
    assert st == 201, body
    up = json.loads(body)
    assert up["accountId"] == "A1" and up["type"] == "image/png"
    assert up["size"] == len(data) and up["blobId"].startswith("B")
    blob = up["blobId"]
    st, r, body = u.request("GET", "/jmap/download/A1/%s/caf%%C3%%A9%%20"
                            "report.png?type=image/png" % blob)
    assert st == 200 and body == data
    assert r.getheader("Content-Type") == "image/png"
    cd = r.getheader("Content-Disposition")
    assert cd.startswith('attachment; filename="caf__ report.png"'), cd
    assert "filename*=UTF-8''caf%C3%A9%20report.png" in cd
    # a bad type falls back; the same content again gives the same id
    st, r, body = u.request("GET", "/jmap/download/A1/%s/x?type=%%0d" % blob)
    assert r.getheader("Content-Type") == "application/octet-stream"
    st, r, body = u.request("POST", "/jmap/upload/A1", body=data)
    assert json.loads(body)["blobId"] == blob
    assert json.loads(body)["type"] == "application/octet-stream"
    # v holds no such blob, whatever the content store has
    for path in ("/jmap/download/A2/%s/x" % blob,
                 "/jmap/download/A1/%s/x" % blob,
                 "/jmap/download/A2/R1/x"):
        st, r, body = v.request("GET", path)
        assert st == 404, (path, st)
        assert data not in body
    assert v.request("POST", "/jmap/upload/A1/", body=b"x")[0] == 404
    assert v.error("Blob/copy", {"fromAccountId": "A1", "accountId": "A2",
                                 "blobIds": [blob]}) == "fromAccountNotFound"
    a = v.ok("Blob/copy", {"fromAccountId": "A2", "accountId": "A2",
                           "blobIds": [blob]}, using=[CORE])
    assert a["copied"] is None and a["notCopied"][blob]["type"] == "notFound"
    a = u.ok("Blob/copy", {"fromAccountId": "A1", "accountId": "A1",
                           "blobIds": [blob, "B" + "0" * 64, "Rxyz"]},
             using=[CORE])
    assert a["copied"] == {blob: blob}
    assert set(a["notCopied"]) == {"B" + "0" * 64, "Rxyz"}
    # malformed and unknown ids
    for b in ("B00", "B" + "0" * 64, "R0", "R01", "Q1", "R99"):
        assert u.request("GET", "/jmap/download/A1/%s/x" % b)[0] == 404, b
    # a delivered message is its email's blob "R<n>": u's, not v's
    deliver(p, subject="raw please")
    wait_for(lambda: inbox(u)["totalEmails"] == 1)
    st, r, body = u.request("GET", "/jmap/download/A1/R1/m.eml"
                            "?type=message/rfc822")
    assert st == 200 and b"Subject: raw please" in body
    assert v.request("GET", "/jmap/download/A2/R1/m.eml")[0] == 404
    # the upload limit, advertised and enforced
    st, r, body = u.request("POST", "/jmap/upload/A1/", body=b"x" * 65537)
    b = problem(st, r, body, ERR + "limit", 413)
    assert b["limit"] == "maxSizeUpload"
    s = json.loads(u.request("GET", "/jmap/session")[2])
    assert s["capabilities"][CORE]["maxSizeUpload"] == 65536


# ---- push ----

class EventSource:
    """A raw EventSource reader over HTTP/1.1 chunked encoding."""

    def __init__(self, p, query, user="u@test.example", password=PW,
                 tls=False):
        self.sock = socket.create_connection(
            ("127.0.0.1", p.https_port if tls else p.http_port), 30)
        if tls:
            self.sock = tls_context().wrap_socket(self.sock)
        self.sock.sendall(("GET /jmap/eventsource/?%s HTTP/1.1\r\n"
                           "Host: 127.0.0.1\r\nAuthorization: %s\r\n"
                           "Accept: text/event-stream\r\n\r\n" % (
                               query, basic(user, password))).encode())
        self.raw = b""
        self.text = b""
        while b"\r\n\r\n" not in self.raw:
            self._more()
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        self.head = head.decode()
        self.ended = False

    def _more(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError
        self.raw += d

    def _dechunk(self):
        while True:
            i = self.raw.find(b"\r\n")
            if i < 0:
                return
            n = int(self.raw[:i], 16)
            if len(self.raw) < i + 2 + n + 2:
                return
            if n == 0:
                self.ended = True
            self.text += self.raw[i + 2:i + 2 + n]
            self.raw = self.raw[i + 2 + n + 2:]

    def event(self, timeout=10):
        """(event name, data) of the next event"""
        self.sock.settimeout(timeout)
        while b"\n\n" not in self.text:
            self._dechunk()
            if b"\n\n" in self.text or self.ended:
                break
            self._more()
        if b"\n\n" not in self.text:
            raise EOFError
        ev, self.text = self.text.split(b"\n\n", 1)
        fields = dict(line.split(": ", 1) for line in
                      ev.decode().split("\n"))
        return fields["event"], json.loads(fields["data"])

    def close(self):
        self.sock.close()


def test_eventsource_state_change_on_smtp_delivery(srv):
    c = Client(srv)
    es = EventSource(srv, "types=*&closeafter=no&ping=0")
    assert es.head.startswith("HTTP/1.1 200")
    assert "text/event-stream" in es.head
    name, first = es.event()
    assert name == "state" and first["@type"] == "StateChange"
    before = first["changed"]["A1"]
    assert set(before) == {"Mailbox", "Thread", "Email", "Identity",
                           "EmailSubmission", "VacationResponse"}
    deliver(srv)
    name, sc = es.event()
    assert name == "state"
    after = sc["changed"]["A1"]
    assert after["Mailbox"] != before["Mailbox"]
    assert after["Thread"] != before["Thread"]
    assert after["Email"] != before["Email"]
    # the pushed state is what Mailbox/get says
    assert c.ok("Mailbox/get", {"accountId": "A1", "ids": []})["state"] == \
        after["Mailbox"]
    # only the types asked for, and only those that changed
    es2 = EventSource(srv, "types=Mailbox&closeafter=no&ping=0")
    assert set(es2.event()[1]["changed"]["A1"]) == {"Mailbox"}
    c.ok("Mailbox/set", {"accountId": "A1", "create": {"n": {"name": "N"}}})
    sc = es.event()[1]["changed"]["A1"]
    assert set(sc) == {"Mailbox"}
    assert set(es2.event()[1]["changed"]["A1"]) == {"Mailbox"}
    es.close()
    es2.close()
    # another account's delivery says nothing to u
    es = EventSource(srv, "types=*&closeafter=no&ping=0")
    es.event()
    deliver(srv, rcpt="v@test.example")
    deliver(srv, subject="to u")
    assert es.event()[1]["changed"]["A1"]["Mailbox"]
    es.close()


def test_eventsource_closeafter_and_ping(srv):
    es = EventSource(srv, "types=*&closeafter=state&ping=1")
    name, data = es.event(timeout=5)
    assert (name, data) == ("ping", {"interval": 1})
    deliver(srv)
    name, sc = es.event()
    assert name == "state" and "A1" in sc["changed"]
    with pytest.raises(EOFError):
        es.event(timeout=5)
    assert es.ended
    es.close()
    # the same over HTTPS
    es = EventSource(srv, "types=Mailbox&closeafter=state&ping=0", tls=True)
    assert es.head.startswith("HTTP/1.1 200")
    deliver(srv)
    name, sc = es.event()
    assert name == "state" and set(sc["changed"]["A1"]) == {"Mailbox"}
    with pytest.raises(EOFError):
        es.event(timeout=5)
    es.close()
    # bad parameters
    st, r, data = Client(srv).request(
        "GET", "/jmap/eventsource/?types=*&closeafter=maybe&ping=0")
    problem(st, r, data, "about:blank", 400)
    # a client that goes away is noticed at the next ping
    es = EventSource(srv, "types=*&closeafter=no&ping=1")
    es.event()
    es.close()
    wait_for(lambda: "eventsource closed" in srv.log(), timeout=15)


# ---- Mailbox ----

def test_mailbox_set_get_query(postern_factory):
    srv = make_server(postern_factory, imap=True)
    c = Client(srv)
    st0 = c.ok("Mailbox/get", {"accountId": "A1", "ids": []})["state"]
    a = c.ok("Mailbox/set", {"accountId": "A1", "ifInState": st0, "create": {
        "p": {"name": "Projects", "sortOrder": 5, "isSubscribed": True},
        "k": {"name": "Kids", "parentId": "#p"},
        "bad1": {"name": ""},
        "bad2": {"name": "x", "parentId": "M999"},
        "bad3": {"name": "y", "role": "flagged"},
        "bad4": {"name": "z", "role": "inbox"},
        "bad5": {"name": "w", "totalEmails": 3},
        "bad6": {"name": "a/b"},
        "bad7": {"name": "Inbox"},
        "bad8": {"name": "v", "color": "red"},
    }})
    assert a["oldState"] == st0 and a["newState"] != st0
    p_id, k_id = a["created"]["p"]["id"], a["created"]["k"]["id"]
    assert a["created"]["p"]["totalEmails"] == 0
    assert a["created"]["p"]["myRights"]["mayDelete"] is True
    for k in ("bad%d" % i for i in range(1, 9)):
        assert a["notCreated"][k]["type"] == "invalidProperties", k
    assert a["notCreated"]["bad2"]["properties"] == ["parentId"]
    assert a["notCreated"]["bad3"]["properties"] == ["role"]
    g = c.ok("Mailbox/get", {"accountId": "A1", "ids": [p_id, k_id, "M999",
                                                         p_id]})
    assert g["notFound"] == ["M999"]
    assert len(g["list"]) == 2      # an id asked twice comes once
    p, k = g["list"]
    assert (p["name"], p["sortOrder"], p["isSubscribed"], p["parentId"]) == \
        ("Projects", 5, True, None)
    # RFC 8621 2: a mailbox the user creates is subscribed by default
    assert k["parentId"] == p_id and k["isSubscribed"] is True
    # the same name twice under one parent
    a = c.ok("Mailbox/set", {"accountId": "A1",
                             "create": {"d": {"name": "Projects"}}})
    assert a["notCreated"]["d"]["properties"] == ["name"]
    # a role is held by one mailbox at most
    a = c.ok("Mailbox/set", {"accountId": "A1", "update": {
        p_id: {"role": "archive"}}})
    assert a["notUpdated"][p_id]["properties"] == ["role"]
    c.ok("Mailbox/set", {"accountId": "A1", "update": {"M6": {"role": None}}})
    # updates: rename, move, sortOrder, subscription, role; and refusals
    a = c.ok("Mailbox/set", {"accountId": "A1", "update": {
        k_id: {"name": "Children", "parentId": None},
        p_id: {"sortOrder": 1, "isSubscribed": False, "role": "archive"},
        "M1": {"name": "Renamed"},
        "M2": {"totalEmails": 7},
        "M3": {"myRights/mayDelete": False},
        "M4": {"parentId": "M999"},
        "M999": {"name": "x"},
        "M5": {"nope/deeper": 1},
    }})
    assert set(a["updated"]) == {k_id, p_id}
    assert a["notUpdated"]["M1"]["type"] == "forbidden"
    assert a["notUpdated"]["M2"]["type"] == "invalidProperties"
    assert a["notUpdated"]["M3"]["type"] == "invalidProperties"
    assert a["notUpdated"]["M4"]["type"] == "invalidProperties"
    assert a["notUpdated"]["M999"]["type"] == "notFound"
    assert a["notUpdated"]["M5"]["type"] == "invalidPatch"
    g = {m["id"]: m for m in c.ok("Mailbox/get", {"accountId": "A1"})["list"]}
    assert g[k_id]["name"] == "Children" and g[k_id]["parentId"] is None
    assert g[p_id]["role"] == "archive" and g[p_id]["sortOrder"] == 1
    assert g["M6"]["role"] is None
    # no cycles
    c.ok("Mailbox/set", {"accountId": "A1",
                         "update": {k_id: {"parentId": p_id}}})
    a = c.ok("Mailbox/set", {"accountId": "A1",
                             "update": {p_id: {"parentId": k_id}}})
    assert a["notUpdated"][p_id]["properties"] == ["parentId"]
    # queries: filters, sorts, trees, windows
    q = c.ok("Mailbox/query", {"accountId": "A1",
                               "filter": {"hasAnyRole": True},
                               "sort": [{"property": "name"}]})
    names = {m["id"]: m["name"] for m in c.ok(
        "Mailbox/get", {"accountId": "A1"})["list"]}
    assert [names[i] for i in q["ids"]] == \
        ["Drafts", "INBOX", "Junk", "Projects", "Sent", "Trash"]
    q = c.ok("Mailbox/query", {"accountId": "A1", "filter": {
        "operator": "NOT", "conditions": [{"hasAnyRole": True}]}})
    assert set(q["ids"]) == {"M6", k_id}
    q = c.ok("Mailbox/query", {"accountId": "A1", "sortAsTree": True,
                               "sort": [{"property": "name",
                                         "isAscending": False}]})
    order = q["ids"]
    assert order.index(p_id) + 1 == order.index(k_id)
    q = c.ok("Mailbox/query", {"accountId": "A1", "filterAsTree": True,
                               "filter": {"name": "child"}})
    assert q["ids"] == []   # its parent does not match
    q = c.ok("Mailbox/query", {"accountId": "A1", "filter": {"name": "CHILD"}})
    assert q["ids"] == [k_id]
    q = c.ok("Mailbox/query", {"accountId": "A1", "filter": {"parentId": None},
                               "position": 2, "limit": 2,
                               "calculateTotal": True})
    assert q["total"] == 7 and q["position"] == 2 and len(q["ids"]) == 2
    q2 = c.ok("Mailbox/query", {"accountId": "A1", "position": -1})
    assert len(q2["ids"]) == 1
    q3 = c.ok("Mailbox/query", {"accountId": "A1", "anchor": "M2",
                                "anchorOffset": -1, "limit": 2})
    assert q3["ids"] == ["M1", "M2"] and q3["position"] == 0
    # destroy: refusals, then with onDestroyRemoveEmails
    a = c.ok("Mailbox/set", {"accountId": "A1",
                             "destroy": ["M1", p_id, "M999"]})
    assert a["notDestroyed"]["M1"]["type"] == "forbidden"
    assert a["notDestroyed"][p_id]["type"] == "mailboxHasChild"
    assert a["notDestroyed"]["M999"]["type"] == "notFound"
    c.ok("Mailbox/set", {"accountId": "A1", "update": {
        k_id: {"parentId": None}}})
    # an email in Projects (appended over IMAP): mailboxHasEmail, unless
    # onDestroyRemoveEmails
    m = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=30)
    m.login("u@test.example", PW)
    typ, _ = m.append("Projects", None, None,
                      b"From: a@example.org\r\nSubject: t\r\n\r\nbody\r\n")
    assert typ == "OK"
    m.logout()
    g = c.ok("Mailbox/get", {"accountId": "A1", "ids": [p_id]})["list"][0]
    assert (g["totalEmails"], g["unreadEmails"], g["totalThreads"]) == \
        (1, 1, 1)
    a = c.ok("Mailbox/set", {"accountId": "A1", "destroy": [p_id, k_id]})
    assert a["notDestroyed"][p_id]["type"] == "mailboxHasEmail"
    assert a["destroyed"] == [k_id]
    t0 = c.ok("Thread/get", {"accountId": "A1", "ids": []})["state"]
    a = c.ok("Mailbox/set", {"accountId": "A1", "destroy": [p_id],
                             "onDestroyRemoveEmails": True})
    assert a["destroyed"] == [p_id]
    assert c.ok("Mailbox/get", {"accountId": "A1", "ids": [p_id]})[
        "notFound"] == [p_id]
    # the email went with it (its thread too)
    assert c.ok("Thread/changes", {"accountId": "A1",
                                   "sinceState": t0})["destroyed"]


def test_mailbox_changes_paging_and_query_changes(srv):
    c = Client(srv)
    s0 = c.ok("Mailbox/get", {"accountId": "A1", "ids": []})["state"]
    q0 = c.ok("Mailbox/query", {"accountId": "A1",
                                "sort": [{"property": "name"}]})
    assert q0["queryState"] == s0 and q0["canCalculateChanges"] is True
    created = c.ok("Mailbox/set", {"accountId": "A1", "create": {
        "a": {"name": "Alpha"}, "b": {"name": "Beta"},
        "c": {"name": "Gamma"}}})["created"]
    ids = [created[k]["id"] for k in "abc"]
    c.ok("Mailbox/set", {"accountId": "A1", "update": {ids[0]: {
        "name": "Aleph"}}, "destroy": [ids[2]]})
    # paging with maxChanges 1
    seen, state, pages = {"created": [], "updated": [], "destroyed": []}, \
        s0, 0
    while True:
        a = c.ok("Mailbox/changes", {"accountId": "A1", "sinceState": state,
                                     "maxChanges": 1})
        assert a["oldState"] == state
        n = len(a["created"]) + len(a["updated"]) + len(a["destroyed"])
        assert n <= 1
        for k in seen:
            seen[k] += a[k]
        state = a["newState"]
        pages += 1
        if not a["hasMoreChanges"]:
            break
        assert pages < 20
    # page by page, Gamma is created, then destroyed
    assert sorted(set(seen["created"]) - set(seen["destroyed"])) == \
        sorted(ids[:2])
    assert pages >= 3
    # in one window, it is left out (RFC 8620 5.2 allows it)
    a = c.ok("Mailbox/changes", {"accountId": "A1", "sinceState": s0})
    assert sorted(a["created"]) == sorted(ids[:2])
    assert a["destroyed"] == [] and a["updated"] == []
    assert a["newState"] == state and a["hasMoreChanges"] is False
    assert state == c.ok("Mailbox/get", {"accountId": "A1",
                                         "ids": []})["state"]
    a = c.ok("Mailbox/changes", {"accountId": "A1", "sinceState": state})
    assert (a["created"], a["updated"], a["destroyed"], a["hasMoreChanges"]) \
        == ([], [], [], False)
    # a delivery changes counts only: updatedProperties says so
    deliver(srv)
    wait_for(lambda: inbox(c)["totalEmails"] == 1)
    a = c.ok("Mailbox/changes", {"accountId": "A1", "sinceState": state})
    assert a["updated"] == ["M1"]
    assert set(a["updatedProperties"]) == {"totalEmails", "unreadEmails",
                                           "totalThreads", "unreadThreads"}
    # queryChanges from the first query state
    qc = c.ok("Mailbox/queryChanges", {
        "accountId": "A1", "sort": [{"property": "name"}],
        "sinceQueryState": q0["queryState"], "calculateTotal": True})
    assert qc["oldQueryState"] == q0["queryState"]
    now = c.ok("Mailbox/query", {"accountId": "A1",
                                 "sort": [{"property": "name"}]})
    assert qc["newQueryState"] == now["queryState"]
    assert qc["total"] == len(now["ids"])
    # applying the changes to the old list gives the new one
    lst = [i for i in q0["ids"] if i not in qc["removed"]]
    for add in sorted(qc["added"], key=lambda x: x["index"]):
        lst.insert(add["index"], add["id"])
    assert lst == now["ids"]
    assert c.error("Mailbox/queryChanges", {
        "accountId": "A1", "sinceQueryState": q0["queryState"],
        "maxChanges": 1}) == "tooManyChanges"
    assert c.error("Mailbox/queryChanges", {
        "accountId": "A1", "sinceQueryState": "nope"}) == \
        "cannotCalculateChanges"


# ---- Thread, and IMAP seen by JMAP ----

def test_thread_get_and_changes(srv):
    c = Client(srv)
    t0 = c.ok("Thread/get", {"accountId": "A1", "ids": []})["state"]
    deliver(srv, subject="topic", msgid="first@example.net")
    wait_for(lambda: inbox(c)["totalEmails"] == 1)
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=30) as s:
        s.sendmail("sender@example.net", ["u@test.example"],
                   "From: b@example.net\r\nSubject: Re: topic\r\n"
                   "In-Reply-To: <first@example.net>\r\n"
                   "References: <first@example.net>\r\n\r\nreply\r\n")
    wait_for(lambda: inbox(c)["totalEmails"] == 2)
    a = c.ok("Thread/changes", {"accountId": "A1", "sinceState": t0})
    assert a["created"] == ["T1"]
    g = c.ok("Thread/get", {"accountId": "A1", "ids": ["T1", "T9"]})
    assert g["list"] == [{"id": "T1", "emailIds": ["M1", "M2"]}]
    assert g["notFound"] == ["T9"]
    assert g["state"] == a["newState"]
    assert inbox(c)["totalThreads"] == 1


def test_imap_change_seen_by_mailbox_changes(postern_factory):
    p = make_server(postern_factory, imap=True)
    c = Client(p)
    s0 = c.ok("Mailbox/get", {"accountId": "A1", "ids": []})["state"]
    m = imaplib.IMAP4("127.0.0.1", p.imap_port, timeout=30)
    m.login("u@test.example", PW)
    typ, _ = m.create("FromImap")
    assert typ == "OK"
    m.logout()
    a = c.ok("Mailbox/changes", {"accountId": "A1", "sinceState": s0})
    assert len(a["created"]) == 1
    g = c.ok("Mailbox/get", {"accountId": "A1", "ids": a["created"]})
    assert g["list"][0]["name"] == "FromImap"
