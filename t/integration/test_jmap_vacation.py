"""JMAP VacationResponse (RFC 8621 8) and its RFC 3834 auto-replies,
against a real `postern serve` on loopback, with http.client, json and
smtplib only.

The vacationer is u@test.example (A1).  Mail to it comes over SMTP; an
auto-reply to a remote sender (example.net) stays in the queue, whose
outbound transport the fixture holds, and is read back from the spool
file (envelope sender, recipient, content); one to the local user
v@test.example is delivered to v's mailbox and read over JMAP as v.

Covered: the capability in the session; /get of the default and of a
set response (ids, notFound, properties); /set update with every
property, ifInState, the "singleton" SetError for create and destroy,
notFound for another id, invalidPatch, invalidProperties naming each bad
property, an update that changes nothing keeping the state; the reply's
headers exactly, its null envelope sender and multipart/alternative
body; the date window (before fromDate, after toDate); one reply per
sender per period, and another once the period (delivery.vacation_period
= 2 seconds here) has passed; no reply to <>, Auto-Submitted,
Precedence: bulk, List-Id, Bcc-only mail, mailer-daemon, or spam-less
but self-sent mail; disabling stops replies."""
import email
import email.policy
import json
import re
import smtplib
import time

import pytest

from conftest import free_port
import spool
from test_jmap import Client, PW, PW_V, add_user, set_password, wait_for

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
VAC = "urn:ietf:params:jmap:vacationresponse"
USING = (CORE, MAIL, VAC)


def make(postern_factory, period=None):
    """JMAP on a plain-HTTP loopback port; users u (A1) and v (A2); SMTP
    delivers straight into the mailboxes; remote mail stays queued."""
    port, tls_port = free_port(), free_port()
    extra = 'log = { level = "debug"; };\n' \
        'auth = { plaintext_loopback = true; };\n'
    if period is not None:
        extra += 'delivery = { vacation_period = %d; };\n' % period
    p = postern_factory(
        jmap='listen = [ "127.0.0.1:%d" ]; listen_tls = [ "127.0.0.1:%d" ];'
        % (port, tls_port), extra_conf=extra, deliver=True, stages=[])
    p.http_port, p.https_port = port, tls_port
    set_password(p, "u@test.example", PW)
    add_user(p, "v@test.example", PW_V)
    return p


def vget(c, **kw):
    args = {"accountId": "A1"}
    args.update(kw)
    return c.ok("VacationResponse/get", args, USING)


def vset(c, **kw):
    args = {"accountId": "A1"}
    args.update(kw)
    return c.ok("VacationResponse/set", args, USING)


def enable(c, **props):
    obj = {"isEnabled": True}
    obj.update(props)
    r = vset(c, update={"singleton": obj})
    assert r["updated"] == {"singleton": None}, r
    return r


def smtp_send(p, sender, rcpts, subject, extra="", to="u@test.example",
              msgid=None):
    msgid = msgid or "%s.%f@origin.example" % (subject.replace(" ", "-"),
                                                time.time())
    raw = ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n%s"
           "\r\nHello, are you there?\r\n" % (sender or "daemon@x.example",
                                              to, subject, msgid, extra))
    with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
        s.sendmail(sender, rcpts, raw)
    return msgid


def replies(p, to):
    """Queued messages to `to` (held outbound): spool dicts."""
    out = []
    for qid in p.queued():
        try:
            m = spool.load(p.queue_dir, qid)
        except (OSError, AssertionError):
            continue        # delivered and removed meanwhile
        if m["rcpts"] == [to]:
            out.append(m)
    return out


def wait_log(p, pattern, timeout=20):
    rx = re.compile(pattern)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if rx.search(p.log()):
            return
        time.sleep(0.05)
    raise AssertionError("no log line /%s/:\n%s" % (pattern,
                                                     p.log()[-3000:]))


def no_reply_logged(p, sender, reason):
    wait_log(p, r"from=<%s>, no auto-reply: %s" % (re.escape(sender),
                                                    re.escape(reason)))


def parse(content):
    return email.message_from_bytes(content, policy=email.policy.default)


# ---- the methods ----

def test_session_and_default(postern_factory):
    p = make(postern_factory)
    c = Client(p)
    st, r, body = c.request("GET", "/jmap/session")
    s = json.loads(body)
    assert s["capabilities"][VAC] == {}
    assert s["accounts"]["A1"]["accountCapabilities"][VAC] == {}
    assert s["primaryAccounts"][VAC] == "A1"
    g = vget(c)
    assert g["accountId"] == "A1" and g["notFound"] == []
    assert g["list"] == [{"id": "singleton", "isEnabled": False,
                          "fromDate": None, "toDate": None, "subject": None,
                          "textBody": None, "htmlBody": None}]
    g2 = vget(c, ids=["singleton", "other", "other"],
              properties=["isEnabled"])
    assert g2["list"] == [{"id": "singleton", "isEnabled": False}]
    assert g2["notFound"] == ["other"]
    assert g2["state"] == g["state"]
    assert vget(c, ids=[])["list"] == []
    assert c.error("VacationResponse/get",
                   {"accountId": "A1", "properties": ["nope"]},
                   USING) == "invalidArguments"
    assert c.error("VacationResponse/get", {"accountId": "A9"},
                   USING) == "accountNotFound"
    assert c.error("VacationResponse/get", {}, USING) == "invalidArguments"
    # the capability must be named in "using"
    assert c.error("VacationResponse/get", {"accountId": "A1"},
                   (CORE, MAIL)) == "unknownMethod"


def test_set_semantics(postern_factory):
    p = make(postern_factory)
    c = Client(p)
    s0 = vget(c)["state"]
    r = vset(c, ifInState=s0, update={"singleton": {
        "isEnabled": True, "fromDate": "2030-01-02T03:04:05Z",
        "toDate": "2030-02-01T00:00:00.000Z", "subject": "Away",
        "textBody": "Back soon.", "htmlBody": "<p>Back soon.</p>"}})
    assert r["oldState"] == s0 and r["newState"] != s0
    assert r["updated"] == {"singleton": None}
    for k in ("created", "destroyed", "notCreated", "notUpdated",
              "notDestroyed"):
        assert r[k] is None, (k, r)
    g = vget(c)
    assert g["state"] == r["newState"]
    assert g["list"][0] == {
        "id": "singleton", "isEnabled": True,
        "fromDate": "2030-01-02T03:04:05Z", "toDate": "2030-02-01T00:00:00Z",
        "subject": "Away", "textBody": "Back soon.",
        "htmlBody": "<p>Back soon.</p>"}
    s1 = g["state"]
    # stale ifInState
    assert c.error("VacationResponse/set",
                   {"accountId": "A1", "ifInState": s0,
                    "update": {"singleton": {"isEnabled": False}}},
                   USING) == "stateMismatch"
    # a singleton: no create, no destroy; no other id
    r = vset(c, create={"k1": {"isEnabled": True}},
             destroy=["singleton", "x1"],
             update={"x2": {"isEnabled": False}})
    assert r["notCreated"]["k1"]["type"] == "singleton"
    assert r["notDestroyed"]["singleton"]["type"] == "singleton"
    assert r["notDestroyed"]["x1"]["type"] == "notFound"
    assert r["notUpdated"]["x2"]["type"] == "notFound"
    assert r["created"] is None and r["destroyed"] is None
    assert r["newState"] == s1
    # bad values: every bad property named, nothing written
    r = vset(c, update={"singleton": {
        "isEnabled": "yes", "fromDate": "2030-01-02T03:04:05+01:00",
        "toDate": "yesterday", "subject": "two\r\nlines", "textBody": 7,
        "htmlBody": ["x"], "color": "red", "id": "other"}})
    e = r["notUpdated"]["singleton"]
    assert e["type"] == "invalidProperties"
    assert sorted(e["properties"]) == sorted([
        "isEnabled", "fromDate", "toDate", "subject", "textBody",
        "htmlBody", "color", "id"])
    assert r["newState"] == s1
    r = vset(c, update={"singleton": {"subject": "x" * 901}})
    assert r["notUpdated"]["singleton"]["properties"] == ["subject"]
    r = vset(c, update={"singleton": {"isEnabled": None}})
    assert r["notUpdated"]["singleton"]["properties"] == ["isEnabled"]
    r = vset(c, update={"singleton": ["isEnabled"]})
    assert r["notUpdated"]["singleton"]["type"] == "invalidPatch"
    r = vset(c, update={"singleton": {"subject/x": "y"}})
    assert r["notUpdated"]["singleton"]["type"] == "invalidPatch"
    assert vget(c)["state"] == s1
    # the same values again: success, no new state
    r = vset(c, update={"singleton": {"subject": "Away", "id": "singleton"}})
    assert r["updated"] == {"singleton": None} and r["newState"] == s1
    # null clears; wrong argument types are method errors
    r = vset(c, update={"singleton": {"subject": None, "fromDate": None}})
    g = vget(c)["list"][0]
    assert g["subject"] is None and g["fromDate"] is None
    assert g["toDate"] == "2030-02-01T00:00:00Z"
    assert c.error("VacationResponse/set",
                   {"accountId": "A1", "update": ["singleton"]},
                   USING) == "invalidArguments"
    # another account's response is its own
    cv = Client(p, "v@test.example", PW_V)
    gv = cv.ok("VacationResponse/get", {"accountId": "A2"}, USING)
    assert gv["list"][0]["isEnabled"] is False
    assert cv.error("VacationResponse/get", {"accountId": "A1"},
                    USING) == "accountNotFound"


# ---- the auto-replies ----

def test_reply_headers_and_once_per_period(postern_factory):
    p = make(postern_factory)
    c = Client(p)
    enable(c, subject="Out of office", textBody="I am away until Monday.",
           htmlBody="<p>I am away until <b>Monday</b>.</p>")
    sender = "alice@example.net"
    mid = smtp_send(p, sender, ["u@test.example"], "Budget",
                    extra="References: <root@origin.example>\r\n")
    wait_for(lambda: replies(p, sender), timeout=20)
    [m] = replies(p, sender)
    assert m["sender"] == ""            # RFC 3834 3.3: MAIL FROM:<>
    msg = parse(m["content"])
    assert msg["From"] == "u@test.example"
    assert msg["To"] == sender
    assert msg["Subject"] == "Out of office"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["In-Reply-To"] == "<%s>" % mid
    assert msg["References"].split() == ["<root@origin.example>",
                                         "<%s>" % mid]
    assert msg["Message-ID"].endswith("@test.example>")
    assert msg["Date"]
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert plain.strip() == "I am away until Monday."
    assert html.strip() == "<p>I am away until <b>Monday</b>.</p>"
    # the same sender again, within the period: no second reply
    smtp_send(p, sender, ["u@test.example"], "Budget 2")
    no_reply_logged(p, sender, "one was sent within the period")
    assert len(replies(p, sender)) == 1
    # another sender gets one; no subject set: "Auto: " + the original's
    vset(c, update={"singleton": {"subject": None, "htmlBody": None}})
    smtp_send(p, "bob@example.net", ["u@test.example"], "Lunch plans")
    wait_for(lambda: replies(p, "bob@example.net"), timeout=20)
    m = parse(replies(p, "bob@example.net")[0]["content"])
    assert m["Subject"] == "Auto: Lunch plans"
    assert m.get_content_type() == "text/plain"
    assert m.get_content().strip() == "I am away until Monday."
    # writing the response again forgets who was answered
    smtp_send(p, sender, ["u@test.example"], "Budget 3")
    wait_for(lambda: len(replies(p, sender)) == 2, timeout=20)


def test_reply_to_local_sender_over_jmap(postern_factory):
    p = make(postern_factory)
    c = Client(p)
    enable(c, textBody="Away.")
    mid = smtp_send(p, "v@test.example", ["u@test.example"], "Ping")
    cv = Client(p, "v@test.example", PW_V)

    def v_emails():
        return cv.ok("Email/query", {"accountId": "A2"})["ids"]
    ids = wait_for(v_emails, timeout=20)
    e = cv.ok("Email/get", {"accountId": "A2", "ids": ids, "properties": [
        "from", "to", "subject", "inReplyTo", "header:Auto-Submitted",
        "textBody", "bodyValues"], "fetchTextBodyValues": True})["list"][0]
    assert e["from"] == [{"name": None, "email": "u@test.example"}]
    assert e["to"] == [{"name": None, "email": "v@test.example"}]
    assert e["subject"] == "Auto: Ping"
    assert e["inReplyTo"] == [mid]
    assert e["header:Auto-Submitted"] == " auto-replied"
    part = e["textBody"][0]["partId"]
    assert e["bodyValues"][part]["value"].strip() == "Away."
    # the reply itself reached v, whose response is off: nothing more,
    # and u never hears back from its own reply
    time.sleep(0.5)
    assert len(v_emails()) == 1


def test_no_reply_cases(postern_factory):
    p = make(postern_factory)
    c = Client(p)
    enable(c, textBody="Away.")
    smtp_send(p, "", ["u@test.example"], "bounce")
    no_reply_logged(p, "", "null sender")
    smtp_send(p, "auto@example.net", ["u@test.example"], "auto",
              extra="Auto-Submitted: auto-generated\r\n")
    no_reply_logged(p, "auto@example.net", "Auto-Submitted")
    smtp_send(p, "bulk@example.net", ["u@test.example"], "bulk",
              extra="Precedence: bulk\r\n")
    no_reply_logged(p, "bulk@example.net", "Precedence")
    smtp_send(p, "list@example.net", ["u@test.example"], "list",
              extra="List-Id: <team.example.net>\r\n")
    no_reply_logged(p, "list@example.net", "mailing list")
    # Bcc: the envelope reaches u, the header names someone else
    smtp_send(p, "bcc@example.net", ["u@test.example"], "bcc",
              to="someone@example.net")
    no_reply_logged(p, "bcc@example.net", "the user is not in To or Cc")
    smtp_send(p, "MAILER-DAEMON@example.net", ["u@test.example"], "dsn")
    no_reply_logged(p, "MAILER-DAEMON@example.net", "system or list sender")
    smtp_send(p, "u@test.example", ["u@test.example"], "note to self")
    no_reply_logged(p, "u@test.example", "the user's own message")
    # and a plain message still gets its reply: the rules are not blanket
    smtp_send(p, "ok@example.net", ["u@test.example"], "plain",
              extra="Auto-Submitted: no\r\n")
    wait_for(lambda: replies(p, "ok@example.net"), timeout=20)
    for s in ("auto@example.net", "bulk@example.net", "list@example.net",
              "bcc@example.net", "MAILER-DAEMON@example.net"):
        assert replies(p, s) == [], s


def test_dates_and_disable(postern_factory):
    p = make(postern_factory)
    c = Client(p)
    now = time.time()

    def utc(t):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    enable(c, textBody="Away.", fromDate=utc(now + 3600))
    smtp_send(p, "early@example.net", ["u@test.example"], "early")
    wait_log(p, r"to=<u@test.example>, from=<early@example.net>, no "
             r"auto-reply: the response is off or outside its dates")
    enable(c, fromDate=utc(now - 7200), toDate=utc(now - 3600))
    smtp_send(p, "late@example.net", ["u@test.example"], "late")
    wait_log(p, r"from=<late@example.net>, no auto-reply: the response is "
             r"off or outside its dates")
    enable(c, fromDate=utc(now - 60), toDate=utc(now + 3600))
    smtp_send(p, "during@example.net", ["u@test.example"], "during")
    wait_for(lambda: replies(p, "during@example.net"), timeout=20)
    vset(c, update={"singleton": {"isEnabled": False}})
    smtp_send(p, "after@example.net", ["u@test.example"], "after")
    wait_log(p, r"from=<after@example.net>, no auto-reply: the response is "
             r"off or outside its dates")
    for s in ("early@example.net", "late@example.net", "after@example.net"):
        assert replies(p, s) == [], s


def test_period_from_config(postern_factory):
    p = make(postern_factory, period=2)
    c = Client(p)
    enable(c, textBody="Away.")
    s = "again@example.net"
    smtp_send(p, s, ["u@test.example"], "one")
    wait_for(lambda: len(replies(p, s)) == 1, timeout=20)
    smtp_send(p, s, ["u@test.example"], "two")
    no_reply_logged(p, s, "one was sent within the period")
    time.sleep(2.2)
    smtp_send(p, s, ["u@test.example"], "three")
    wait_for(lambda: len(replies(p, s)) == 2, timeout=20)
