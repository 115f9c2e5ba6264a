"""JMAP Identity and EmailSubmission (RFC 8621 6, 7) against a real
`postern serve` on loopback, driven with http.client and json only
(test_jmap.Client).

Covered: the submission capability in the session; identities derived
from the directory (own address, aliases, sender wildcards), created for
a permitted address, refused (forbiddenFrom) for another account's, a
catch-all's or a foreign one, updated, destroyed (the primary one
refused), with Identity/changes; sending a draft made in the same
request ("#draft") with onSuccessUpdateEmail moving it from Drafts to
Sent and dropping $draft (the implicit Email/set response, and
Email/changes), the message arriving in two other local users'
mailboxes with its Bcc field stripped, deliveryStatus from the queue;
an envelope given by the client; every SetError of RFC 8621 7.5
(invalidProperties, tooLarge, invalidEmail, forbiddenFrom,
forbiddenMailFrom, noRecipients, invalidRecipients, tooManyRecipients,
forbiddenToSend) and rateLimit; cannotUnsend, destroy,
onSuccessDestroyEmail, EmailSubmission/changes, /query, /queryChanges;
push of both types' states; and mail for a remote domain through the outbound SMTP transport (MX
from dnsmasq, a scripted SMTP sink): the DSN parameters on the wire, no
Bcc, deliveryStatus "queued" with the sink's 451 while deferred, then
relayed ("unknown")."""
import json
import subprocess
import time

import pytest

import dnsfix
from conftest import BIN, free_port
from smtpsink import SmtpSink
from test_jmap import (CORE, MAIL, PW, PW_V, Client, EventSource, add_user,
                       set_password, wait_for)

SUB = "urn:ietf:params:jmap:submission"
USING = (CORE, MAIL, SUB)
PW_W = "wombat wallaby"


def server(postern_factory, auth="", smtp_extra="", stages=(),
           extra="", jmap_extra="", **kw):
    """JMAP on a plain-HTTP loopback port; users u@test.example (A1),
    v@test.example (A2), w@test.example (A3); the alias
    sales@test.example -> u; local delivery on."""
    port = free_port()
    p = postern_factory(
        jmap='listen = [ "127.0.0.1:%d" ]; listen_tls = []; %s'
        % (port, jmap_extra),
        extra_conf='log = { level = "debug"; };\n'
        'auth = { plaintext_loopback = true; %s };\n%s' % (auth, extra),
        deliver=True, stages=list(stages), smtp_extra=smtp_extra, **kw)
    p.http_port = port
    set_password(p, "u@test.example", PW)
    add_user(p, "v@test.example", PW_V)
    subprocess.run([BIN, "-c", p.conf, "user", "add", "w@test.example",
                    "--name", "Wendy W"], input=PW_W + "\n", text=True,
                   check=True, capture_output=True, timeout=60)
    p.cli("alias", "add", "sales@test.example", "u@test.example")
    return p


class Sub(Client):
    """A Client whose calls name the submission capability too."""

    def api(self, calls, using=USING):
        return Client.api(self, calls, using)

    def call(self, name, args, using=USING):
        return Client.call(self, name, args, using)

    def ok(self, name, args, using=USING):
        return Client.ok(self, name, args, using)

    def error(self, name, args, using=USING):
        return Client.error(self, name, args, using)

    def upload(self, raw):
        st, r, body = self.request("POST", "/jmap/upload/A1/",
                                   body=raw.encode(),
                                   headers={"Content-Type": "message/rfc822"})
        assert st == 201, body
        return json.loads(body)["blobId"]


def mailboxes(c, acct="A1"):
    mb = c.ok("Mailbox/get", {"accountId": acct})["list"]
    return {m["role"] or m["name"]: m["id"] for m in mb}


def identities(c):
    return {i["email"]: i for i in c.ok("Identity/get", {
        "accountId": "A1", "ids": None})["list"]}


def primary(c):
    return identities(c)["u@test.example"]["id"]


def draft(c, raw, keywords=None):
    """raw as a new email in Drafts; its id"""
    blob = c.upload(raw)
    r = c.ok("Email/set", {"accountId": "A1", "create": {"d": {
        "blobId": blob, "mailboxIds": {mailboxes(c)["drafts"]: True},
        "keywords": keywords or {"$draft": True}}}})
    assert "d" in (r["created"] or {}), r
    return r["created"]["d"]["id"]


def submit(c, create, **extra):
    args = {"accountId": "A1", "create": {"s": create}}
    args.update(extra)
    return c.ok("EmailSubmission/set", args)


def refused(c, create):
    """the SetError of one create"""
    r = submit(c, create)
    assert r["created"] is None, r
    return r["notCreated"]["s"]


def msg(frm="u@test.example", to="v@test.example", subject="hello",
        extra="", body="Hello there.\r\n"):
    h = ""
    if frm is not None:
        h += "From: %s\r\n" % frm
    if to is not None:
        h += "To: %s\r\n" % to
    return h + "Subject: %s\r\n%s\r\n%s" % (subject, extra, body)


def inbox_of(p, user, password, acct, subject):
    c = Client(p, user, password)

    def got():
        ids = c.ok("Email/query", {"accountId": acct})["ids"]
        if not ids:
            return None
        es = c.ok("Email/get", {"accountId": acct, "ids": ids,
                                "properties": ["subject", "blobId",
                                               "header:Bcc", "from", "to",
                                               "mailboxIds"]})["list"]
        return [e for e in es if e["subject"] == subject] or None
    return c, got


def raw_of(c, acct, blob):
    st, r, body = c.request("GET", "/jmap/download/%s/%s/m.eml"
                            % (acct, blob))
    assert st == 200
    return body.decode()


# ---- the session and identities ----

def test_session_advertises_submission(postern_factory):
    p = server(postern_factory)
    c = Sub(p)
    st, r, body = c.request("GET", "/jmap/session")
    s = json.loads(body)
    assert s["capabilities"][SUB] == {}
    cap = s["accounts"]["A1"]["accountCapabilities"][SUB]
    assert cap["maxDelayedSend"] == 0
    ext = cap["submissionExtensions"]
    assert ext["DSN"] == [] and ext["SIZE"] == [str(50 * 1024 * 1024)]
    assert s["primaryAccounts"][SUB] == "A1"
    # without the capability in "using", the methods are unknown
    assert c.error("Identity/get", {"accountId": "A1"},
                   using=(CORE, MAIL)) == "unknownMethod"


def test_identities_derived_created_updated_destroyed(postern_factory):
    p = server(postern_factory,
               auth='sender_wildcards = [ "@example.org=u@test.example", '
               '"boss@test.example=u@test.example" ];')
    c = Sub(p)
    st0 = c.ok("Identity/get", {"accountId": "A1", "ids": []})["state"]
    ids = identities(c)
    # own address, the alias, both wildcard entries; not the catch-alls
    assert set(ids) == {"u@test.example", "sales@test.example",
                        "*@example.org", "boss@test.example"}, ids
    me = ids["u@test.example"]
    assert me["mayDelete"] is False and me["id"].startswith("I")
    assert ids["sales@test.example"]["mayDelete"] is True
    assert me["replyTo"] is None and me["bcc"] is None
    assert me["textSignature"] == "" and me["htmlSignature"] == ""
    # asking again derives nothing new
    again = c.ok("Identity/get", {"accountId": "A1"})
    assert len(again["list"]) == 4
    ch = c.ok("Identity/changes", {"accountId": "A1", "sinceState": st0})
    assert ch["created"] == [] and ch["newState"] == st0

    r = c.ok("Identity/set", {"accountId": "A1", "create": {
        "sub": {"email": "u+news@test.example", "name": "Newsletter",
                "replyTo": [{"name": "Replies", "email": "sales@test.example"}],
                "textSignature": "-- \nU"},
        "any": {"email": "anyone@example.org"},
        "wild": {"email": "*@example.org", "name": "Org"},
        "other": {"email": "v@test.example"},
        "catchall": {"email": "nobody@test.example"},
        "foreign": {"email": "u@example.net"},
        "nowild": {"email": "*@test.example"},
        "bad": {"email": "not an address"},
        "served": {"email": "u@test.example", "mayDelete": False},
        "unknown": {"email": "u@test.example", "colour": "red"}}})
    assert set(r["created"]) == {"sub", "any", "wild"}, r
    new = r["created"]["sub"]
    assert new["mayDelete"] is True and new["bcc"] is None
    assert new["htmlSignature"] == "" and "name" not in new
    nc = r["notCreated"]
    for k in ("other", "catchall", "foreign", "nowild"):
        assert nc[k]["type"] == "forbiddenFrom", (k, nc[k])
    assert nc["bad"]["type"] == "invalidProperties"
    assert nc["bad"]["properties"] == ["email"]
    assert nc["served"]["properties"] == ["mayDelete"]
    assert nc["unknown"]["properties"] == ["colour"]
    sid = new["id"]
    got = c.ok("Identity/get", {"accountId": "A1", "ids": [sid]})["list"][0]
    assert got["name"] == "Newsletter"
    assert got["replyTo"] == [{"name": "Replies",
                               "email": "sales@test.example"}]
    assert got["textSignature"] == "-- \nU"

    st1 = c.ok("Identity/get", {"accountId": "A1", "ids": []})["state"]
    r = c.ok("Identity/set", {"accountId": "A1", "update": {
        sid: {"name": "News", "bcc": [{"email": "w@test.example"}],
              "htmlSignature": "<p>U</p>"},
        me["id"]: {"email": "sales@test.example"},
        ids["sales@test.example"]["id"]: {"replyTo": "nope"}}})
    assert sid in r["updated"], r
    assert r["notUpdated"][me["id"]]["properties"] == ["email"]
    assert r["notUpdated"][ids["sales@test.example"]["id"]][
        "properties"] == ["replyTo"]
    got = c.ok("Identity/get", {"accountId": "A1", "ids": [sid]})["list"][0]
    assert got["name"] == "News" and got["htmlSignature"] == "<p>U</p>"
    assert got["bcc"] == [{"name": None, "email": "w@test.example"}]

    r = c.ok("Identity/set", {"accountId": "A1", "destroy": [
        me["id"], sid, ids["sales@test.example"]["id"], "I999"]})
    assert sorted(r["destroyed"]) == sorted(
        [sid, ids["sales@test.example"]["id"]]), r
    assert r["notDestroyed"][me["id"]]["type"] == "forbidden"
    assert r["notDestroyed"]["I999"]["type"] == "notFound"
    # a destroyed derived identity is not derived again
    left = identities(c)
    assert "sales@test.example" not in left and "u+news@test.example" \
        not in left and "u@test.example" in left
    ch = c.ok("Identity/changes", {"accountId": "A1", "sinceState": st1})
    assert sorted(ch["destroyed"]) == sorted(
        [sid, ids["sales@test.example"]["id"]])
    assert ch["updated"] == [] and ch["created"] == []

    # an alias removed from the directory takes its identity with it
    p.cli("alias", "add", "help@test.example", "u@test.example")
    assert "help@test.example" in identities(c)
    st2 = c.ok("Identity/get", {"accountId": "A1", "ids": []})["state"]
    p.cli("alias", "del", "help@test.example")
    assert "help@test.example" not in identities(c)
    ch = c.ok("Identity/changes", {"accountId": "A1", "sinceState": st2})
    assert len(ch["destroyed"]) == 1

    # another user sees only theirs
    v = Sub(p, "v@test.example", PW_V)
    vl = v.ok("Identity/get", {"accountId": "A2"})["list"]
    assert [i["email"] for i in vl] == ["v@test.example"]
    # the primary identity is named after the account's display name
    w = Sub(p, "w@test.example", PW_W)
    wl = w.ok("Identity/get", {"accountId": "A3"})["list"]
    assert [(i["email"], i["name"]) for i in wl] == [
        ("w@test.example", "Wendy W")]


# ---- sending ----

def test_send_draft_to_sent_bcc_stripped(postern_factory):
    p = server(postern_factory)
    c = Sub(p)
    mb = mailboxes(c)
    ident = primary(c)
    est = c.ok("Email/get", {"accountId": "A1", "ids": []})["state"]
    sst = c.ok("EmailSubmission/get", {"accountId": "A1",
                                       "ids": []})["state"]
    resp = c.api([
        ["Email/set", {"accountId": "A1", "create": {"draft": {
            "mailboxIds": {mb["drafts"]: True},
            "keywords": {"$draft": True, "$seen": True},
            "from": [{"name": "Ursula", "email": "u@test.example"}],
            "to": [{"name": None, "email": "v@test.example"}],
            "bcc": [{"name": None, "email": "w@test.example"}],
            "subject": "Quarterly figures",
            "bodyValues": {"b": {"value": "Numbers attached.\n"}},
            "textBody": [{"partId": "b", "type": "text/plain"}]}}}, "0"],
        ["EmailSubmission/set", {
            "accountId": "A1",
            "create": {"send": {"identityId": ident, "emailId": "#draft"}},
            "onSuccessUpdateEmail": {"#send": {
                "mailboxIds/" + mb["drafts"]: None,
                "mailboxIds/" + mb["sent"]: True,
                "keywords/$draft": None}}}, "1"],
    ])["methodResponses"]
    # Email/set, EmailSubmission/set, then the implicit Email/set
    assert [x[0] for x in resp] == ["Email/set", "EmailSubmission/set",
                                    "Email/set"], resp
    assert [x[2] for x in resp] == ["0", "1", "1"]
    eid = resp[0][1]["created"]["draft"]["id"]
    created = resp[1][1]["created"]["send"]
    sid = created["id"]
    assert sid.startswith("S") and created["undoStatus"] == "final"
    assert created["threadId"] == resp[0][1]["created"]["draft"]["threadId"]
    env = created["envelope"]
    assert env["mailFrom"] == {"email": "u@test.example",
                               "parameters": None}
    assert [a["email"] for a in env["rcptTo"]] == ["v@test.example",
                                                   "w@test.example"]
    assert created["sendAt"].endswith("Z")
    assert set(created["deliveryStatus"]) == {"v@test.example",
                                              "w@test.example"}
    assert resp[2][1]["updated"] == {eid: None}, resp[2]
    # the draft is in Sent now, without $draft
    e = c.ok("Email/get", {"accountId": "A1", "ids": [eid], "properties": [
        "mailboxIds", "keywords"]})["list"][0]
    assert e["mailboxIds"] == {mb["sent"]: True}
    assert e["keywords"] == {"$seen": True}
    ch = c.ok("Email/changes", {"accountId": "A1", "sinceState": est})
    assert eid in ch["created"] + ch["updated"]
    ch = c.ok("EmailSubmission/changes", {"accountId": "A1",
                                          "sinceState": sst})
    assert ch["created"] == [sid]
    # it arrives for the To and the Bcc recipient, without the Bcc field
    for user, pw, acct in (("v@test.example", PW_V, "A2"),
                           ("w@test.example", PW_W, "A3")):
        vc, got = inbox_of(p, user, pw, acct, "Quarterly figures")
        m = wait_for(got, timeout=30)[0]
        assert m["from"] == [{"name": "Ursula", "email": "u@test.example"}]
        assert m["header:Bcc"] is None
        raw = raw_of(vc, acct, m["blobId"])
        assert "w@test.example" not in raw.split("\r\n\r\n")[0].replace(
            "for <w@test.example>", ""), raw
        assert "Received: by mx.test.example (Postern) with HTTP id " in raw
        assert "Message-ID: " in raw
    # the queue filed both: deliveryStatus says so, and logged the change
    st_before = c.ok("EmailSubmission/get", {"accountId": "A1",
                                             "ids": []})["state"]

    def delivered():
        s = c.ok("EmailSubmission/get", {"accountId": "A1",
                                         "ids": [sid]})["list"][0]
        ds = s["deliveryStatus"]
        return ds if all(d["delivered"] == "yes" for d in ds.values()) \
            else None
    ds = wait_for(delivered, timeout=30)
    for d in ds.values():
        assert d["displayed"] == "unknown"
        assert d["smtpReply"].startswith("250 ")
    ch = c.ok("EmailSubmission/changes", {"accountId": "A1",
                                          "sinceState": st_before})
    assert ch["updated"] == [sid]


def test_envelope_given_and_back_reference(postern_factory):
    p = server(postern_factory)
    c = Sub(p)
    eid = draft(c, msg(to="v@test.example", subject="Only for w"))
    r = c.api([
        ["Identity/get", {"accountId": "A1", "ids": None}, "i"],
        ["EmailSubmission/set", {"accountId": "A1", "create": {"s": {
            "identityId": primary(c),
            "emailId": eid,
            "envelope": {
                "mailFrom": {"email": "sales@test.example",
                             "parameters": {"RET": "HDRS",
                                            "ENVID": "abc123"}},
                "rcptTo": [{"email": "w@test.example",
                            "parameters": {"NOTIFY": "FAILURE"}},
                           {"email": "W@test.example"}]}}}}, "s"],
    ])["methodResponses"]
    assert r[1][0] == "EmailSubmission/set", r
    created = r[1][1]["created"]["s"]
    assert "envelope" not in created    # given, not defaulted
    sub = c.ok("EmailSubmission/get", {"accountId": "A1",
                                       "ids": [created["id"]]})["list"][0]
    assert sub["emailId"] == eid
    assert sub["envelope"]["mailFrom"]["email"] == "sales@test.example"
    # the same address twice is one recipient
    assert [a["email"] for a in sub["envelope"]["rcptTo"]] == [
        "w@test.example"]
    _, got = inbox_of(p, "w@test.example", PW_W, "A3", "Only for w")
    assert wait_for(got, timeout=30)
    # v (the To) gets nothing: the envelope decides
    time.sleep(0.5)
    _, got = inbox_of(p, "v@test.example", PW_V, "A2", "Only for w")
    assert got() is None
    # an Identity created in the same request, referred to by "#id"
    r = c.api([
        ["Identity/set", {"accountId": "A1", "create": {
            "n": {"email": "u+tag@test.example"}}}, "0"],
        ["EmailSubmission/set", {"accountId": "A1", "create": {"s": {
            "identityId": "#n", "emailId": eid}}}, "1"],
    ])["methodResponses"]
    assert "s" in r[1][1]["created"], r
    sub = c.ok("EmailSubmission/get", {
        "accountId": "A1", "ids": [r[1][1]["created"]["s"]["id"]],
        "properties": ["identityId"]})["list"][0]
    assert sub == {"id": r[1][1]["created"]["s"]["id"],
                   "identityId": r[0][1]["created"]["n"]["id"]}


def test_every_set_error(postern_factory):
    p = server(postern_factory,
               smtp_extra='max_message_size = "2k"; max_recipients = 2;')
    c = Sub(p)
    ident = primary(c)
    ok = draft(c, msg())

    def err(create):
        e = refused(c, create)
        return e["type"], e

    # invalidProperties: what names nothing, or is not the client's
    t, e = err({"identityId": "I999", "emailId": ok})
    assert t == "invalidProperties" and e["properties"] == ["identityId"]
    t, e = err({"identityId": ident, "emailId": "M999"})
    assert t == "invalidProperties" and e["properties"] == ["emailId"]
    t, e = err({"identityId": ident, "emailId": ok, "sendAt": "x"})
    assert e["properties"] == ["sendAt"]
    t, e = err({"identityId": ident, "emailId": ok, "undoStatus": "pending"})
    assert e["properties"] == ["undoStatus"]
    t, e = err({"identityId": ident, "emailId": ok, "envelope": {
        "mailFrom": {"email": "u@test.example"}}})
    assert t == "invalidProperties" and e["properties"] == ["envelope"]
    t, e = err({"identityId": ident, "emailId": ok, "envelope": {
        "mailFrom": {"email": "u@test.example",
                     "parameters": {"XFORWARD": "1"}},
        "rcptTo": [{"email": "v@test.example"}]}})
    assert t == "invalidProperties" and e["properties"] == ["envelope"]
    # tooLarge: over smtp.max_message_size
    big = draft(c, msg(body="x" * 3000 + "\r\n"))
    t, e = err({"identityId": ident, "emailId": big})
    assert t == "tooLarge" and e["maxSize"] == 2048
    # invalidEmail: no From, two From fields, two From addresses alone
    t, e = err({"identityId": ident, "emailId": draft(c, msg(frm=None))})
    assert t == "invalidEmail" and e["properties"] == ["from"]
    t, e = err({"identityId": ident, "emailId": draft(c, msg(
        extra="From: u@test.example\r\n"))})
    assert t == "invalidEmail" and e["properties"] == ["from"]
    t, e = err({"identityId": ident, "emailId": draft(c, msg(
        frm="u@test.example, sales@test.example"))})
    assert t == "invalidEmail" and e["properties"] == ["sender"]
    # forbiddenFrom: another account's address, or a catch-all's
    for frm in ("v@test.example", "Someone <anything@test.example>",
                "u@test.example, v@test.example"):
        t, e = err({"identityId": ident, "emailId": draft(c, msg(
            frm=frm, extra="Sender: u@test.example\r\n"))})
        assert t == "forbiddenFrom", (frm, e)
    # ... but the account's alias is fine as From (then relayed? no:
    # refused for the next reason here)
    # forbiddenMailFrom: the envelope sender, by the same rule
    for mf in ("v@test.example", ""):
        t, e = err({"identityId": ident, "emailId": ok, "envelope": {
            "mailFrom": {"email": mf}, "rcptTo": [{
                "email": "v@test.example"}]}})
        assert t == "forbiddenMailFrom", (mf, e)
    # a Sender of someone else is the derived envelope sender
    t, e = err({"identityId": ident, "emailId": draft(c, msg(
        extra="Sender: v@test.example\r\n"))})
    assert t == "forbiddenMailFrom"
    # noRecipients
    t, e = err({"identityId": ident, "emailId": draft(c, msg(to=None))})
    assert t == "noRecipients"
    t, e = err({"identityId": ident, "emailId": ok, "envelope": {
        "mailFrom": {"email": "u@test.example"}, "rcptTo": []}})
    assert t == "noRecipients"
    # invalidRecipients: each bad one named
    t, e = err({"identityId": ident, "emailId": ok, "envelope": {
        "mailFrom": {"email": "u@test.example"}, "rcptTo": [
            {"email": "v@test.example"}, {"email": "not an address"},
            {"email": "<w@test.example>"}]}})
    assert t == "invalidRecipients"
    assert sorted(e["invalidRecipients"]) == ["<w@test.example>",
                                              "not an address"]
    # tooManyRecipients: over smtp.max_recipients
    t, e = err({"identityId": ident, "emailId": draft(c, msg(
        to="v@test.example, w@test.example, x@example.net"))})
    assert t == "tooManyRecipients" and e["maxRecipients"] == 2
    # nothing of that went out
    assert p.queued() == []
    assert c.ok("EmailSubmission/query", {"accountId": "A1"})["ids"] == []
    # and the good one does
    r = submit(c, {"identityId": ident, "emailId": ok})
    assert "s" in r["created"], r


def test_forbidden_to_send_and_rate_limit(postern_factory):
    p = server(postern_factory, jmap_extra="submission = false;")
    c = Sub(p)
    e = refused(c, {"identityId": primary(c), "emailId": draft(c, msg())})
    assert e["type"] == "forbiddenToSend", e
    p2 = server(postern_factory, stages=["ratelimit"],
                extra='ratelimit = { per_sender = 2; window = "1h"; };')
    c = Sub(p2)
    ident, eid = primary(c), draft(c, msg())
    for _ in range(2):
        assert "s" in submit(c, {"identityId": ident,
                                 "emailId": eid})["created"]
    e = refused(c, {"identityId": ident, "emailId": eid})
    assert e["type"] == "rateLimit", e
    assert "submission refused: user=<u@test.example>, rate limit" \
        in p2.log()


def test_update_destroy_query_changes(postern_factory):
    p = server(postern_factory)
    c = Sub(p)
    ident = primary(c)
    st0 = c.ok("EmailSubmission/get", {"accountId": "A1",
                                       "ids": []})["state"]
    e1 = draft(c, msg(subject="one"))
    e2 = draft(c, msg(subject="two", to="w@test.example"))
    s1 = submit(c, {"identityId": ident, "emailId": e1})["created"]["s"]
    time.sleep(1.1)     # sendAt has seconds: a defined order
    q0 = c.ok("EmailSubmission/query", {"accountId": "A1"})
    # onSuccessDestroyEmail destroys what was sent
    r = c.api([["EmailSubmission/set", {
        "accountId": "A1",
        "create": {"x": {"identityId": ident, "emailId": e2}},
        "onSuccessDestroyEmail": ["#x"]}, "d"]])["methodResponses"]
    assert [x[0] for x in r] == ["EmailSubmission/set", "Email/set"], r
    assert r[1][1]["destroyed"] == [e2]
    s2 = r[0][1]["created"]["x"]
    assert c.ok("Email/get", {"accountId": "A1",
                              "ids": [e2]})["notFound"] == [e2]
    # the submission outlives its email
    got = c.ok("EmailSubmission/get", {"accountId": "A1",
                                       "ids": [s2["id"], "S999"]})
    assert got["list"][0]["emailId"] == e2
    assert got["notFound"] == ["S999"]
    # query: filters and sorts
    q = c.ok("EmailSubmission/query", {"accountId": "A1",
                                       "calculateTotal": True})
    assert q["ids"] == [s1["id"], s2["id"]] and q["total"] == 2
    q = c.ok("EmailSubmission/query", {
        "accountId": "A1", "sort": [{"property": "sentAt",
                                     "isAscending": False}]})
    assert q["ids"] == [s2["id"], s1["id"]]
    q = c.ok("EmailSubmission/query", {"accountId": "A1",
                                       "filter": {"emailIds": [e2]}})
    assert q["ids"] == [s2["id"]]
    q = c.ok("EmailSubmission/query", {"accountId": "A1", "filter": {
        "operator": "AND", "conditions": [
            {"identityIds": [ident]}, {"undoStatus": "final"},
            {"before": s2["sendAt"]}]}})
    assert q["ids"] == [s1["id"]]
    q = c.ok("EmailSubmission/query", {"accountId": "A1",
                                       "filter": {"after": s2["sendAt"]}})
    assert q["ids"] == [s2["id"]]
    assert c.error("EmailSubmission/query", {
        "accountId": "A1", "filter": {"subject": "x"}}) == \
        "unsupportedFilter"
    assert c.error("EmailSubmission/query", {
        "accountId": "A1", "sort": [{"property": "subject"}]}) == \
        "unsupportedSort"
    qc = c.ok("EmailSubmission/queryChanges", {
        "accountId": "A1", "sinceQueryState": q0["queryState"]})
    assert [a["id"] for a in qc["added"]] == [s2["id"]]
    # undoStatus: final, so no canceling; the rest is immutable
    r = c.ok("EmailSubmission/set", {"accountId": "A1", "update": {
        s1["id"]: {"undoStatus": "canceled"},
        s2["id"]: {"emailId": e1}}})
    assert r["notUpdated"][s1["id"]]["type"] == "cannotUnsend"
    assert r["notUpdated"][s2["id"]]["properties"] == ["emailId"]
    # destroy: only the record goes; onSuccessUpdateEmail on a destroyed
    # submission patches the email it sent
    mb = mailboxes(c)
    st1 = c.ok("EmailSubmission/get", {"accountId": "A1",
                                       "ids": []})["state"]
    r = c.api([["EmailSubmission/set", {
        "accountId": "A1", "destroy": [s1["id"]],
        "onSuccessUpdateEmail": {s1["id"]: {
            "keywords/$answered": True},
            "S999": {"keywords/$flagged": True}}}, "x"]])["methodResponses"]
    assert r[0][1]["destroyed"] == [s1["id"]]
    assert r[1][0] == "Email/set" and list(r[1][1]["updated"]) == [e1]
    kw = c.ok("Email/get", {"accountId": "A1", "ids": [e1],
                            "properties": ["keywords"]})["list"][0]
    assert kw["keywords"] == {"$draft": True, "$answered": True}
    ch = c.ok("EmailSubmission/changes", {"accountId": "A1",
                                          "sinceState": st1})
    assert ch["destroyed"] == [s1["id"]]
    ch = c.ok("EmailSubmission/changes", {"accountId": "A1",
                                          "sinceState": st0})
    assert ch["created"] == [s2["id"]] and ch["destroyed"] == []
    # nothing asked: no implicit Email/set
    r = c.api([["EmailSubmission/set", {"accountId": "A1",
                                        "destroy": [s2["id"]]}, "y"]])
    assert len(r["methodResponses"]) == 1


def test_push_reports_identity_and_submission(postern_factory):
    p = server(postern_factory)
    c = Sub(p)
    ident, eid = primary(c), draft(c, msg(subject="pushed"))
    es = EventSource(p, "types=Identity,EmailSubmission&closeafter=no"
                     "&ping=0")
    try:
        first = es.event()[1]["changed"]["A1"]
        assert set(first) == {"Identity", "EmailSubmission"}
        c.ok("Identity/set", {"accountId": "A1", "update": {
            ident: {"name": "Pushed"}}})
        sc = es.event()[1]["changed"]["A1"]
        assert set(sc) == {"Identity"} and sc["Identity"] != \
            first["Identity"]
        assert sc["Identity"] == c.ok("Identity/get", {
            "accountId": "A1", "ids": []})["state"]
        submit(c, {"identityId": ident, "emailId": eid})
        sc = es.event()[1]["changed"]["A1"]
        assert "EmailSubmission" in sc
    finally:
        es.close()


# ---- a remote recipient: the outbound transport ----

RECORDS = """mx-host=remote.test,mx.remote.test,10
host-record=mx.remote.test,127.0.0.1
"""


@pytest.fixture(scope="module")
def dns():
    d = dnsfix.DnsFix(RECORDS).start()
    yield d
    d.stop()


def test_remote_recipient_through_the_queue(postern_factory, dns):
    script = {"rcpt": ["451 4.3.0 try again later", "250 2.1.5 ok"]}
    with SmtpSink(script=script) as sink:
        p = server(postern_factory, outbound=True,
                   queue_extra='min_backoff = "3s"; max_backoff = "3s";',
                   extra='dns = { servers = [ "%s" ]; '
                   'forward_special_zones = true; timeout = "2s"; };\n'
                   'smtp_client = { port = %d; connect_timeout = "2s"; };'
                   % (dns.forwarder, sink.port))
        c = Sub(p)
        eid = draft(c, msg(to="Bob <bob@remote.test>", subject="Far away",
                           extra="Bcc: carol@remote.test\r\n"))
        created = submit(c, {"identityId": primary(c), "emailId": eid,
                             "envelope": {
                                 "mailFrom": {"email": "u@test.example",
                                              "parameters": {
                                                  "RET": "HDRS",
                                                  "ENVID": "env42"}},
                                 "rcptTo": [{"email": "bob@remote.test",
                                             "parameters": {
                                                 "NOTIFY": "FAILURE,DELAY",
                                                 "ORCPT":
                                                 "rfc822;bob@remote.test"
                                             }}]}})["created"]["s"]
        sid = created["id"]

        # the first RCPT got 451: the queue holds it, and says why
        def deferred():
            s = c.ok("EmailSubmission/get", {"accountId": "A1",
                                             "ids": [sid]})["list"][0]
            d = s["deliveryStatus"]["bob@remote.test"]
            return d if d["smtpReply"].startswith("451") else None
        d = wait_for(deferred, timeout=30)
        assert d["delivered"] == "queued", d
        assert "try again later" in d["smtpReply"]
        assert sink.wait_messages(1), p.log()[-5000:]
        m = sink.messages[0]
        assert m.mail == "u@test.example"
        assert "RET=HDRS" in m.mail_params and "ENVID=env42" in m.mail_params
        assert m.rcpt_addrs == ["bob@remote.test"]
        assert "NOTIFY=FAILURE,DELAY" in m.rcpts[0][1]
        assert "ORCPT=rfc822;bob@remote.test" in m.rcpts[0][1]
        head = m.data.split(b"\r\n\r\n")[0]
        assert b"Bcc:" not in head and b"carol@remote.test" not in head
        assert b"Subject: Far away" in head
        assert head.startswith(b"Received: by mx.test.example (Postern) "
                               b"with HTTP id ")
        # relayed: the final word is the next hop's, and it is "unknown"

        def final():
            s = c.ok("EmailSubmission/get", {"accountId": "A1",
                                             "ids": [sid]})["list"][0]
            d = s["deliveryStatus"]["bob@remote.test"]
            return d if d["delivered"] != "queued" else None
        d = wait_for(final, timeout=30)
        assert d["delivered"] == "unknown", d
