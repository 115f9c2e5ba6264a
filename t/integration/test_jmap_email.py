"""JMAP Email (RFC 8621 4, 5) against a real `postern serve` on loopback:
Email/get of a delivered multipart message (every property family,
bodyValues truncation, header:... forms), Email/query filters, sorts and
collapseThreads, Email/changes paging, Email/set keywords/mailboxIds
(patch paths too), destroy, ifInState, create, Email/import of an
upload, Email/parse, Email/copy, SearchSnippet/get, and IMAP <-> JMAP
consistency (EMAILID, a STORE seen by Email/changes, an Email/set seen
by an IMAP IDLE session)."""

import base64
import imaplib
import json
import re
import smtplib
import socket
import time

from test_jmap import (Client, PW, make_server, wait_for)

MULTI = (
    "From: \"Alice Example\" <alice@example.net>\r\n"
    "Sender: bot@example.net\r\n"
    "To: u@test.example, Team: bob@example.org, carol@example.org;\r\n"
    "Cc: =?UTF-8?Q?Ren=C3=A9?= <rene@example.com>\r\n"
    "Reply-To: replies@example.net\r\n"
    "Subject: =?UTF-8?Q?Quarterly_r=C3=A9port?=\r\n"
    "Date: Tue, 03 Nov 2026 10:20:30 +0100\r\n"
    "Message-ID: <multi-1@example.net>\r\n"
    "In-Reply-To: <prev@example.net>\r\n"
    "References: <root@example.net> <prev@example.net>\r\n"
    "List-Unsubscribe: <mailto:unsub@example.net>, <https://example.net/u>\r\n"
    "X-Custom: one\r\n"
    "X-Custom: two\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=\"alt\"\r\n"
    "\r\n"
    "--alt\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "The quarterly numbers are in. Revenue is up.\r\n"
    "--alt\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<p>The <b>quarterly</b> numbers are in.</p>\r\n"
    "--alt--\r\n"
    "--outer\r\n"
    "Content-Type: application/pdf; name=\"report.pdf\"\r\n"
    "Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0xLjQKJcfsj6IK\r\n"
    "--outer--\r\n")


def send(p, raw, rcpt="u@test.example"):
    with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
        s.sendmail("sender@example.net", [rcpt], raw)


def simple(subject, frm="x@example.net", body="Hello.\r\n", msgid=None,
           extra=""):
    h = "From: %s\r\nTo: u@test.example\r\nSubject: %s\r\n" % (frm, subject)
    if msgid:
        h += "Message-ID: <%s>\r\n" % msgid
    return h + extra + "\r\n" + body


def mailboxes(c):
    mb = c.ok("Mailbox/get", {"accountId": "A1"})["list"]
    return {m["role"] or m["name"]: m["id"] for m in mb}


def all_ids(c):
    return c.ok("Email/query", {"accountId": "A1"})["ids"]


def wait_count(c, n):
    return wait_for(lambda: len(all_ids(c)) == n)


def test_session_advertises_email(postern_factory):
    p = make_server(postern_factory)
    c = Client(p)
    st, r, body = c.request("GET", "/jmap/session")
    s = json.loads(body)
    cap = s["accounts"]["A1"]["accountCapabilities"][
        "urn:ietf:params:jmap:mail"]
    assert "receivedAt" in cap["emailQuerySortOptions"]
    assert "subject" in cap["emailQuerySortOptions"]
    assert cap["maxMailboxesPerEmail"] >= 1
    assert cap["mayCreateTopLevelMailbox"] is True


def test_email_get_every_property_family(postern_factory):
    p = make_server(postern_factory)
    c = Client(p)
    send(p, MULTI)
    wait_count(c, 1)
    eid = all_ids(c)[0]
    assert eid.startswith("M")
    g = c.ok("Email/get", {"accountId": "A1", "ids": [eid, "M999"]})
    assert g["notFound"] == ["M999"]
    e = g["list"][0]
    assert e["id"] == eid and e["blobId"] == "R" + eid[1:]
    assert e["threadId"].startswith("T")
    assert e["mailboxIds"] == {mailboxes(c)["inbox"]: True}
    assert e["keywords"] == {}
    assert e["size"] == len(MULTI.encode()) or e["size"] > 1000
    assert e["receivedAt"].endswith("Z")
    assert e["messageId"] == ["multi-1@example.net"]
    assert e["inReplyTo"] == ["prev@example.net"]
    assert e["references"] == ["root@example.net", "prev@example.net"]
    assert e["from"] == [{"name": "Alice Example",
                          "email": "alice@example.net"}]
    assert e["sender"] == [{"name": None, "email": "bot@example.net"}]
    assert {"name": None, "email": "bob@example.org"} in e["to"]
    assert e["cc"] == [{"name": "René", "email": "rene@example.com"}]
    assert e["bcc"] is None
    assert e["replyTo"][0]["email"] == "replies@example.net"
    assert e["subject"] == "Quarterly réport"
    assert e["sentAt"] == "2026-11-03T10:20:30+01:00"
    assert e["hasAttachment"] is True
    assert "quarterly numbers" in e["preview"]
    assert e["bodyValues"] == {}
    assert [p_["type"] for p_ in e["textBody"]] == ["text/plain"]
    assert [p_["type"] for p_ in e["htmlBody"]] == ["text/html"]
    att = e["attachments"]
    assert len(att) == 1 and att[0]["name"] == "report.pdf"
    assert att[0]["type"] == "application/pdf"
    assert att[0]["disposition"] == "attachment"
    assert att[0]["size"] == 15
    assert "headers" not in e and "bodyStructure" not in e

    # bodyStructure, headers, header forms
    g = c.ok("Email/get", {
        "accountId": "A1", "ids": [eid],
        "properties": [
            "bodyStructure", "headers", "header:X-Custom",
            "header:x-custom:all", "header:Subject:asText",
            "header:To:asAddresses", "header:To:asGroupedAddresses",
            "header:References:asMessageIds", "header:Date:asDate",
            "header:List-Unsubscribe:asURLs", "header:X-Missing"],
        "bodyProperties": ["partId", "type", "subParts", "headers"]})
    e = g["list"][0]
    bs = e["bodyStructure"]
    assert bs["type"] == "multipart/mixed" and bs["partId"] is None
    alt = bs["subParts"][0]
    assert alt["type"] == "multipart/alternative"
    assert [s["type"] for s in alt["subParts"]] == ["text/plain",
                                                     "text/html"]
    assert {"name": "Content-Type",
            "value": " text/plain; charset=utf-8"} in \
        alt["subParts"][0]["headers"]
    names = [h["name"] for h in e["headers"]]
    assert "From" in names and names.count("X-Custom") == 2
    assert e["header:X-Custom"] == " two"
    assert e["header:x-custom:all"] == [" one", " two"]
    assert e["header:Subject:asText"] == "Quarterly réport"
    assert {"name": None, "email": "u@test.example"} in \
        e["header:To:asAddresses"]
    grouped = e["header:To:asGroupedAddresses"]
    assert {"name": "Team", "addresses": [
        {"name": None, "email": "bob@example.org"},
        {"name": None, "email": "carol@example.org"}]} in grouped
    assert e["header:References:asMessageIds"] == ["root@example.net",
                                                    "prev@example.net"]
    assert e["header:Date:asDate"] == "2026-11-03T10:20:30+01:00"
    assert e["header:List-Unsubscribe:asURLs"] == [
        "mailto:unsub@example.net", "https://example.net/u"]
    assert e["header:X-Missing"] is None

    # a form the field does not allow, an unknown property
    assert c.error("Email/get", {"accountId": "A1", "ids": [eid],
                                 "properties": ["header:From:asDate"]}) \
        == "invalidArguments"
    assert c.error("Email/get", {"accountId": "A1", "ids": [eid],
                                 "properties": ["nope"]}) == \
        "invalidArguments"

    # body values, truncated
    g = c.ok("Email/get", {"accountId": "A1", "ids": [eid],
                           "properties": ["bodyValues", "textBody"],
                           "fetchTextBodyValues": True,
                           "maxBodyValueBytes": 10})
    e = g["list"][0]
    pid = e["textBody"][0]["partId"]
    bv = e["bodyValues"][pid]
    assert bv["value"] == "The quarte" and bv["isTruncated"] is True
    assert bv["isEncodingProblem"] is False
    g = c.ok("Email/get", {"accountId": "A1", "ids": [eid],
                           "properties": ["bodyValues", "htmlBody"],
                           "fetchHTMLBodyValues": True})
    e = g["list"][0]
    hv = e["bodyValues"][e["htmlBody"][0]["partId"]]
    assert "<b>quarterly</b>" in hv["value"] and not hv["isTruncated"]
    g = c.ok("Email/get", {"accountId": "A1", "ids": [eid],
                           "properties": ["bodyValues"],
                           "fetchAllBodyValues": True})
    assert len(g["list"][0]["bodyValues"]) == 2

    # the raw message blob downloads, and a part, transfer-decoded
    st, r, body = c.request("GET", "/jmap/download/A1/R%s/m.eml" % eid[1:])
    assert st == 200 and b"multi-1@example.net" in body
    g = c.ok("Email/get", {"accountId": "A1", "ids": [eid],
                           "properties": ["attachments"]})
    pb = g["list"][0]["attachments"][0]["blobId"]
    assert pb.startswith("P")
    st, r, body = c.request("GET", "/jmap/download/A1/%s/report.pdf" % pb)
    assert st == 200 and body == base64.b64decode("JVBERi0xLjQKJcfsj6IK")
    st, r, body = c.request("GET", "/jmap/download/A1/%s.99/x" % pb)
    assert st == 404
    v = Client(p, "v@test.example", "battery staple")
    st, r, body = v.request("GET", "/jmap/download/A2/%s/x" % pb)
    assert st == 404


def test_query_filters_sorts_collapse(postern_factory):
    p = make_server(postern_factory)
    c = Client(p)
    send(p, simple("apple pie", frm="zed@example.net",
                   body="A recipe with cinnamon.\r\n", msgid="a@x"))
    time.sleep(1.1)
    send(p, simple("banana bread", frm="amy@example.net",
                   body="Bake at 180 degrees.\r\n" + ("x" * 70 + "\r\n") * 30,
                   msgid="b@x"))
    time.sleep(1.1)
    send(p, simple("Re: apple pie", frm="bob@example.net",
                   body="More cinnamon please.\r\n", msgid="c@x",
                   extra="In-Reply-To: <a@x>\r\nX-Tag: urgent\r\n"))
    wait_count(c, 3)
    ids = c.ok("Email/query", {"accountId": "A1", "sort": [
        {"property": "receivedAt", "isAscending": True}]})["ids"]
    a, b, r = ids
    mb = mailboxes(c)

    def q(filt=None, sort=None, **kw):
        args = {"accountId": "A1"}
        if filt is not None:
            args["filter"] = filt
        if sort is not None:
            args["sort"] = sort
        args.update(kw)
        return c.ok("Email/query", args)

    assert q()["ids"] == [r, b, a]      # default: newest first
    assert q({"inMailbox": mb["inbox"]}, calculateTotal=True)["total"] == 3
    assert q({"inMailbox": mb["trash"]})["ids"] == []
    assert set(q({"inMailboxOtherThan": [mb["trash"]]})["ids"]) == \
        {a, b, r}
    assert q({"inMailboxOtherThan": [mb["inbox"]]})["ids"] == []
    assert q({"minSize": 1500})["ids"] == [b]
    assert set(q({"maxSize": 1500})["ids"]) == {a, r}
    assert q({"text": "cinnamon"}, [{"property": "receivedAt",
                                     "isAscending": True}])["ids"] == [a, r]
    assert q({"subject": "banana"})["ids"] == [b]
    assert q({"from": "amy"})["ids"] == [b]
    assert q({"body": "degrees"})["ids"] == [b]
    assert q({"header": ["X-Tag"]})["ids"] == [r]
    assert q({"header": ["X-Tag", "URGENT"]})["ids"] == [r]
    assert q({"header": ["X-Tag", "nope"]})["ids"] == []
    assert q({"operator": "NOT", "conditions": [{"text": "cinnamon"}]}
             )["ids"] == [b]
    assert set(q({"operator": "OR", "conditions": [
        {"subject": "banana"}, {"from": "zed"}]})["ids"]) == {a, b}
    assert q({"operator": "AND", "conditions": [
        {"text": "cinnamon"}, {"from": "bob"}]})["ids"] == [r]
    assert q({"after": "2000-01-01T00:00:00Z",
              "before": "2100-01-01T00:00:00Z"}, calculateTotal=True
             )["total"] == 3
    assert q({"before": "2000-01-01T00:00:00Z"})["ids"] == []
    assert q({"hasAttachment": False}, calculateTotal=True)["total"] == 3
    # sorts
    assert q(sort=[{"property": "from"}])["ids"] == [b, r, a]
    assert q(sort=[{"property": "subject"}, {"property": "receivedAt"}]
             )["ids"] == [a, r, b]
    assert q(sort=[{"property": "size", "isAscending": False}]
             )["ids"][0] == b
    assert q(sort=[{"property": "sentAt"}])["ids"] == [a, b, r]
    # keywords, thread keywords, collapseThreads
    c.ok("Email/set", {"accountId": "A1", "update": {
        a: {"keywords/$flagged": True}}})
    assert q({"hasKeyword": "$flagged"})["ids"] == [a]
    assert set(q({"notKeyword": "$flagged"})["ids"]) == {b, r}
    assert set(q({"someInThreadHaveKeyword": "$flagged"})["ids"]) == {a, r}
    assert q({"allInThreadHaveKeyword": "$flagged"})["ids"] == [a] or \
        q({"allInThreadHaveKeyword": "$flagged"})["ids"] == []
    assert q({"noneInThreadHaveKeyword": "$flagged"})["ids"] == [b]
    assert q(sort=[{"property": "hasKeyword", "keyword": "$flagged",
                    "isAscending": False}])["ids"][0] == a
    coll = q(collapseThreads=True, calculateTotal=True)
    assert coll["ids"] == [r, b] and coll["total"] == 2
    # window
    w = q(sort=[{"property": "receivedAt", "isAscending": True}],
          position=1, limit=1)
    assert w["ids"] == [b] and w["position"] == 1
    w = q(sort=[{"property": "receivedAt", "isAscending": True}],
          anchor=b, anchorOffset=1)
    assert w["ids"] == [r]
    # errors
    n, e = c.call("Email/query", {"accountId": "A1",
                                  "filter": {"bogus": 1}})
    assert n == "error" and e["type"] == "unsupportedFilter"
    n, e = c.call("Email/query", {"accountId": "A1",
                                  "sort": [{"property": "nope"}]})
    assert n == "error" and e["type"] == "unsupportedSort"
    # queryChanges: a new email shows up as added
    q0 = q(sort=[{"property": "receivedAt", "isAscending": False}])
    time.sleep(1.1)     # receivedAt has seconds: be the newest
    send(p, simple("cherry", msgid="d@x"))
    wait_count(c, 4)
    qc = c.ok("Email/queryChanges", {
        "accountId": "A1", "sinceQueryState": q0["queryState"],
        "sort": [{"property": "receivedAt", "isAscending": False}]})
    assert len(qc["added"]) == 1 and qc["added"][0]["index"] == 0


def test_changes_paging(postern_factory):
    p = make_server(postern_factory)
    c = Client(p)
    s0 = c.ok("Email/get", {"accountId": "A1", "ids": []})["state"]
    for i in range(5):
        send(p, simple("m%d" % i))
    wait_count(c, 5)
    seen, state = [], s0
    for _ in range(10):
        ch = c.ok("Email/changes", {"accountId": "A1", "sinceState": state,
                                    "maxChanges": 2})
        assert len(ch["created"]) <= 2
        seen += ch["created"]
        state = ch["newState"]
        if not ch["hasMoreChanges"]:
            break
    assert sorted(seen) == sorted(all_ids(c))
    assert c.ok("Email/get", {"accountId": "A1", "ids": []})["state"] == \
        state
    assert c.error("Email/changes", {"accountId": "A1",
                                     "sinceState": "bogus"}) == \
        "cannotCalculateChanges"


def test_set_keywords_mailboxes_destroy_ifinstate(postern_factory):
    p = make_server(postern_factory)
    c = Client(p)
    send(p, simple("one"))
    wait_count(c, 1)
    eid = all_ids(c)[0]
    mb = mailboxes(c)
    g = c.ok("Email/get", {"accountId": "A1", "ids": [eid]})
    s0 = g["state"]
    # patch paths
    r = c.ok("Email/set", {"accountId": "A1", "ifInState": s0, "update": {
        eid: {"keywords/$seen": True, "keywords/custom": True}}})
    assert eid in r["updated"] and r["oldState"] == s0
    e = c.ok("Email/get", {"accountId": "A1", "ids": [eid],
                           "properties": ["keywords"]})["list"][0]
    assert e["keywords"] == {"$seen": True, "custom": True}
    assert c.ok("Mailbox/get", {"accountId": "A1", "ids": [mb["inbox"]]}
                )["list"][0]["unreadEmails"] == 0
    # ifInState mismatch
    assert c.error("Email/set", {"accountId": "A1", "ifInState": s0,
                                 "update": {eid: {"keywords": {}}}}) == \
        "stateMismatch"
    # replace keywords, remove one by null
    c.ok("Email/set", {"accountId": "A1", "update": {
        eid: {"keywords/custom": None}}})
    e = c.ok("Email/get", {"accountId": "A1", "ids": [eid],
                           "properties": ["keywords"]})["list"][0]
    assert e["keywords"] == {"$seen": True}
    # mailboxIds: add Archive by patch, then move to Junk by replacement
    c.ok("Email/set", {"accountId": "A1", "update": {
        eid: {"mailboxIds/" + mb["archive"]: True}}})
    e = c.ok("Email/get", {"accountId": "A1", "ids": [eid],
                           "properties": ["mailboxIds"]})["list"][0]
    assert e["mailboxIds"] == {mb["inbox"]: True, mb["archive"]: True}
    c.ok("Email/set", {"accountId": "A1", "update": {
        eid: {"mailboxIds": {mb["junk"]: True}}}})
    e = c.ok("Email/get", {"accountId": "A1", "ids": [eid],
                           "properties": ["mailboxIds"]})["list"][0]
    assert e["mailboxIds"] == {mb["junk"]: True}
    # refusals
    r = c.ok("Email/set", {"accountId": "A1", "update": {
        eid: {"mailboxIds": {}},
        "M999": {"keywords": {}}}})
    assert r["notUpdated"][eid]["type"] == "invalidProperties"
    assert r["notUpdated"]["M999"]["type"] == "notFound"
    r = c.ok("Email/set", {"accountId": "A1", "update": {
        eid: {"size": 1}}})
    assert r["notUpdated"][eid]["type"] == "invalidProperties"
    r = c.ok("Email/set", {"accountId": "A1", "update": {
        eid: {"keywords": {"bad kw": True}}}})
    assert r["notUpdated"][eid]["type"] == "invalidProperties"
    # destroy
    r = c.ok("Email/set", {"accountId": "A1", "destroy": [eid, "M999"]})
    assert r["destroyed"] == [eid]
    assert r["notDestroyed"]["M999"]["type"] == "notFound"
    assert c.ok("Email/get", {"accountId": "A1", "ids": [eid]}
                )["notFound"] == [eid]
    ch = c.ok("Email/changes", {"accountId": "A1", "sinceState": s0})
    assert ch["destroyed"] == [eid]


def test_create_import_parse_copy(postern_factory):
    p = make_server(postern_factory)
    c = Client(p)
    mb = mailboxes(c)
    raw = simple("imported", frm="imp@example.net", msgid="imp@x",
                 body="Imported body.\r\n").encode()
    st, r, body = c.request("POST", "/jmap/upload/A1/", body=raw,
                            headers={"Content-Type": "message/rfc822"})
    assert st == 201
    blob = json.loads(body)["blobId"]
    # parse without storing
    pr = c.ok("Email/parse", {"accountId": "A1", "blobIds": [blob, "Bnope"],
                              "fetchTextBodyValues": True})
    e = pr["parsed"][blob]
    assert e["subject"] == "imported" and e["id"] is None
    assert e["from"] == [{"name": None, "email": "imp@example.net"}]
    pid = e["textBody"][0]["partId"]
    assert e["bodyValues"][pid]["value"] == "Imported body.\n"
    assert pr["notFound"] == ["Bnope"]
    assert all_ids(c) == []
    # import
    s0 = c.ok("Email/get", {"accountId": "A1", "ids": []})["state"]
    im = c.ok("Email/import", {"accountId": "A1", "ifInState": s0,
                               "emails": {"k1": {
                                   "blobId": blob,
                                   "mailboxIds": {mb["inbox"]: True,
                                                  mb["archive"]: True},
                                   "keywords": {"$seen": True},
                                   "receivedAt": "2025-01-02T03:04:05Z"},
                                   "k2": {"blobId": "Bnope",
                                          "mailboxIds": {mb["inbox"]:
                                                         True}}}})
    made = im["created"]["k1"]
    assert im["notCreated"]["k2"]["type"] == "blobNotFound"
    assert made["size"] == len(raw) and made["threadId"].startswith("T")
    e = c.ok("Email/get", {"accountId": "A1", "ids": [made["id"]]}
             )["list"][0]
    assert e["receivedAt"] == "2025-01-02T03:04:05Z"
    assert e["keywords"] == {"$seen": True}
    assert e["mailboxIds"] == {mb["inbox"]: True, mb["archive"]: True}
    assert e["subject"] == "imported"
    assert c.error("Email/import", {"accountId": "A1", "ifInState": s0,
                                    "emails": {}}) == "stateMismatch"
    # create from structured properties, then a back-reference to it
    resp = c.api([
        ["Email/set", {"accountId": "A1", "create": {"d1": {
            "mailboxIds": {mb["drafts"]: True},
            "keywords": {"$draft": True},
            "from": [{"name": "Ü User", "email": "u@test.example"}],
            "to": [{"name": None, "email": "x@example.net"}],
            "subject": "Draft ✓",
            "header:X-Client": " test",
            "textBody": [{"partId": "t", "type": "text/plain"}],
            "htmlBody": [{"partId": "h", "type": "text/html"}],
            "bodyValues": {"t": {"value": "plain text\nline two"},
                           "h": {"value": "<p>html</p>"}}}}}, "0"],
        ])["methodResponses"]
    assert "d1" in resp[0][1]["created"], resp
    resp = c.api([
        ["Email/get", {"accountId": "A1",
                       "ids": [resp[0][1]["created"]["d1"]["id"]],
                       "properties": ["subject", "from", "keywords",
                                      "header:X-Client", "textBody",
                                      "htmlBody", "bodyValues"],
                       "fetchAllBodyValues": True}, "1"]])["methodResponses"]
    assert resp[0][0] == "Email/get", resp
    e = resp[0][1]["list"][0]
    assert e["subject"] == "Draft ✓"
    assert e["from"] == [{"name": "Ü User", "email": "u@test.example"}]
    assert e["keywords"] == {"$draft": True}
    assert e["header:X-Client"] == " test"
    tv = e["bodyValues"][e["textBody"][0]["partId"]]["value"]
    assert tv.startswith("plain text\nline two")
    # create from a blob
    r = c.ok("Email/set", {"accountId": "A1", "create": {"b": {
        "blobId": blob, "mailboxIds": {mb["trash"]: True}}}})
    assert r["created"]["b"]["blobId"].startswith("R")
    r = c.ok("Email/set", {"accountId": "A1", "create": {"b": {
        "mailboxIds": {}}}})
    assert r["notCreated"]["b"]["type"] == "invalidProperties"
    # Email/copy within one account is what RFC 8620 5.4 forbids
    assert c.error("Email/copy", {"fromAccountId": "A1", "accountId": "A1",
                                  "create": {}}) == "invalidArguments"
    assert c.error("Email/copy", {"fromAccountId": "A2", "accountId": "A1",
                                  "create": {}}) == "fromAccountNotFound"


def test_search_snippet(postern_factory):
    p = make_server(postern_factory)
    c = Client(p)
    send(p, simple("Budget <draft> review", body="The budget looks fine "
                   "& approved.\r\n"))
    wait_count(c, 1)
    eid = all_ids(c)[0]
    r = c.ok("SearchSnippet/get", {"accountId": "A1",
                                   "filter": {"text": "budget"},
                                   "emailIds": [eid, "M99"]})
    s = r["list"][0]
    assert s["emailId"] == eid
    assert s["subject"] == "<mark>Budget</mark> &lt;draft&gt; review"
    assert "<mark>budget</mark>" in s["preview"]
    assert "&amp;" in s["preview"]
    assert r["notFound"] == ["M99"]
    r = c.ok("SearchSnippet/get", {"accountId": "A1",
                                   "filter": {"subject": "zzz"},
                                   "emailIds": [eid]})
    assert r["list"][0]["subject"] is None
    assert r["list"][0]["preview"] is None


def test_other_account_emails_are_not_found(postern_factory):
    p = make_server(postern_factory)
    u = Client(p)
    v = Client(p, "v@test.example", "battery staple")
    send(p, simple("private"))
    wait_count(u, 1)
    eid = all_ids(u)[0]
    g = v.ok("Email/get", {"accountId": "A2", "ids": [eid]})
    assert g["notFound"] == [eid]
    assert v.ok("Email/query", {"accountId": "A2"})["ids"] == []
    assert v.error("Email/get", {"accountId": "A1", "ids": [eid]}) in (
        "accountNotFound", "forbidden")


def test_imap_and_jmap_agree(postern_factory):
    p = make_server(postern_factory, imap=True)
    c = Client(p)
    send(p, simple("shared"))
    wait_count(c, 1)
    eid = all_ids(c)[0]
    e = c.ok("Email/get", {"accountId": "A1", "ids": [eid],
                           "properties": ["threadId"]})["list"][0]
    s0 = c.ok("Email/get", {"accountId": "A1", "ids": []})["state"]
    m = imaplib.IMAP4("127.0.0.1", p.imap_port, timeout=30)
    m.login("u@test.example", PW)
    m.select("INBOX")
    typ, data = m.fetch("1", "(EMAILID THREADID)")
    if typ == "OK" and data and data[0]:
        line = data[0].decode() if isinstance(data[0], bytes) else \
            data[0][0].decode()
        if "EMAILID" in line:
            assert "EMAILID (%s)" % eid in line, line
            assert "THREADID (%s)" % e["threadId"] in line, line
    # a STORE over IMAP shows up in Email/changes (when STORE is wired)
    typ, _ = m.store("1", "+FLAGS", "(\\Flagged)")
    if typ == "OK":
        ch = wait_for(lambda: c.ok("Email/changes", {
            "accountId": "A1", "sinceState": s0})["updated"])
        assert ch == [eid]
        e = c.ok("Email/get", {"accountId": "A1", "ids": [eid],
                               "properties": ["keywords"]})["list"][0]
        assert e["keywords"].get("$flagged") is True
    m.logout()

    # an Email/set seen by an IDLE session
    sock = socket.create_connection(("127.0.0.1", p.imap_port), timeout=30)
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(b"a LOGIN u@test.example \"%s\"\r\n" % PW.encode())
    while not f.readline().startswith(b"a "):
        pass
    sock.sendall(b"b SELECT INBOX\r\n")
    while not f.readline().startswith(b"b "):
        pass
    sock.sendall(b"c IDLE\r\n")
    assert f.readline().startswith(b"+")
    c.ok("Email/set", {"accountId": "A1", "update": {
        eid: {"keywords/$seen": True}}})
    deadline = time.time() + 10
    got = b""
    while time.time() < deadline:
        line = f.readline()
        got += line
        if b"FETCH" in line and b"\\Seen" in line:
            break
    assert b"FETCH" in got and b"\\Seen" in got, got
    sock.sendall(b"DONE\r\n")
    sock.close()


def spam_stats(p):
    out = p.cli("spam", "stats").stdout
    return (int(re.search(r"spam learned: (\d+)", out).group(1)),
            int(re.search(r"ham learned: +(\d+)", out).group(1)))


def test_mailbox_moves_train_the_classifier(postern_factory):
    p = make_server(postern_factory)
    c = Client(p)
    send(p, simple("cheap pills", body="Buy cheap pills now\r\n"))
    wait_count(c, 1)
    eid = all_ids(c)[0]
    mb = mailboxes(c)
    assert spam_stats(p) == (0, 0)

    def move(*to):
        c.ok("Email/set", {"accountId": "A1", "update": {
            eid: {"mailboxIds": {m: True for m in to}}}})

    move(mb["junk"])                          # into Junk: spam
    assert spam_stats(p) == (1, 0)
    c.ok("Email/set", {"accountId": "A1", "update": {
        eid: {"keywords/$seen": True}}})     # no move: nothing
    assert spam_stats(p) == (1, 0)
    move(mb["inbox"])                         # out of Junk: ham now
    assert spam_stats(p) == (0, 1)
    move(mb["junk"])
    move(mb["trash"])                         # into Trash: nothing
    assert spam_stats(p) == (1, 0)
