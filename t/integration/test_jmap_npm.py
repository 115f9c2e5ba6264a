"""A real JMAP client library from the npm registry against a real
`postern serve`: jmap-jam (vendored, exact version, in jmapclient/
node_modules; jmapclient/README says how to refresh it) driven by
jmapclient/client.mjs under Node (Debian's nodejs, which
contrib/install-deps installs: a missing node fails the test rather
than skipping it).

The script fetches the session, lists the mailboxes, queries the inbox
and fetches the emails with their text bodies in one request (a result
reference), then sends one message to a second local user with Email/set
create + EmailSubmission/set create whose onSuccessUpdateEmail moves the
draft to Sent.  What it prints is checked against what Python sees over
JMAP and IMAP, and the sent message must arrive in the other user's
inbox."""
import imaplib
import json
import os
import shutil
import smtplib
import subprocess
import time

from test_jmap import Client, PW, PW_V, make_server, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_DIR = os.path.join(HERE, "jmapclient")
SUBMISSION = "urn:ietf:params:jmap:submission"


def node():
    exe = shutil.which("node") or shutil.which("nodejs")
    assert exe, "node is missing: contrib/install-deps installs nodejs"
    return exe


def send_smtp(p, subject, body, msgid, name="Alice",
              frm="alice@example.net"):
    raw = ("From: %s <%s>\r\nTo: u@test.example\r\nSubject: %s\r\n"
           "Message-ID: <%s>\r\nDate: Tue, 03 Nov 2026 10:20:30 +0000\r\n"
           "\r\n%s" % (name, frm, subject, msgid, body))
    with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
        s.sendmail(frm, ["u@test.example"], raw)


def run_client(p, user, password, rcpt):
    env = dict(os.environ, JMAP_USER=user, JMAP_PASSWORD=password,
               NODE_NO_WARNINGS="1")
    url = "http://127.0.0.1:%d/jmap/session" % p.http_port
    r = subprocess.run([node(), "client.mjs", url, rcpt], cwd=CLIENT_DIR,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 2), (r.returncode, r.stdout, r.stderr)
    return json.loads(r.stdout), r


def test_vendored_package_is_pinned_and_complete():
    """The checkout carries what `npm install --omit=dev` installs, at
    the version package.json pins, with the licenses."""
    with open(os.path.join(CLIENT_DIR, "package.json")) as f:
        pkg = json.load(f)
    assert pkg["dependencies"] == {"jmap-jam": "0.13.1"}
    with open(os.path.join(CLIENT_DIR, "package-lock.json")) as f:
        lock = json.load(f)["packages"]
    for path, meta in lock.items():
        if not path:
            continue
        d = os.path.join(CLIENT_DIR, path)
        with open(os.path.join(d, "package.json")) as f:
            assert json.load(f)["version"] == meta["version"], path
        assert any(n.lower().startswith("license")
                   for n in os.listdir(d)), path + ": no license file"
    assert lock["node_modules/jmap-jam"]["version"] == "0.13.1"
    v = subprocess.run([node(), "--version"], capture_output=True,
                       text=True, check=True).stdout
    assert int(v.lstrip("v").split(".")[0]) >= 18, v


def test_jmap_jam_session_mailboxes_query_send(postern_factory):
    p = make_server(postern_factory, imap=True)
    c = Client(p)
    send_smtp(p, "first note", "The first body.\r\n", "n1@example.net")
    time.sleep(1.1)     # receivedAt has seconds: a defined order
    send_smtp(p, "second note", "The second body.\r\n", "n2@example.net",
              name="Bob", frm="bob@example.net")
    wait_for(lambda: len(c.ok("Email/query", {"accountId": "A1"})["ids"])
             == 2)

    out, proc = run_client(p, "u@test.example", PW, "v@test.example")

    # the session, as the server serves it
    sess = out["session"]
    assert "error" not in sess, sess
    assert sess["username"] == "u@test.example"
    assert sess["primaryMail"] == "A1"
    assert sess["apiUrl"] == "http://127.0.0.1:%d/jmap/api/" % p.http_port
    assert "urn:ietf:params:jmap:mail" in sess["capabilities"]

    # the mailboxes: the same ids, names and counts Python gets
    mine = {m["id"]: m for m in c.ok("Mailbox/get",
                                     {"accountId": "A1"})["list"]}
    assert "error" not in out["mailboxes"], out["mailboxes"]
    assert {m["id"] for m in out["mailboxes"]} == set(mine)
    for m in out["mailboxes"]:
        assert m["name"] == mine[m["id"]]["name"]
        assert m["role"] == mine[m["id"]]["role"]
    inbox = [m for m in out["mailboxes"] if m["role"] == "inbox"][0]
    assert inbox["totalEmails"] == 2 and inbox["unreadEmails"] == 2

    # the query and the fetched emails: newest first, bodies decoded
    assert "error" not in out["query"], out["query"]
    assert out["query"]["total"] == 2 and out["query"]["position"] == 0
    want = c.ok("Email/query", {"accountId": "A1", "filter": {
        "inMailbox": inbox["id"]}})["ids"]
    assert out["query"]["ids"] == want
    em = out["emails"]
    assert [e["id"] for e in em] == want
    assert [e["subject"] for e in em] == ["second note", "first note"]
    assert em[0]["from"] == [{"name": "Bob", "email": "bob@example.net"}]
    assert em[1]["from"] == [{"name": "Alice",
                              "email": "alice@example.net"}]
    assert em[0]["text"] == "The second body.\n"
    assert em[1]["text"] == "The first body.\n"
    assert em[1]["preview"].startswith("The first body")
    assert all(e["mailboxIds"] == [inbox["id"]] for e in em)
    assert all(e["keywords"] == [] for e in em)
    # the emails are the ones IMAP sees, by EMAILID (RFC 8474)
    im = imaplib.IMAP4("127.0.0.1", p.imap_port)
    try:
        im.login("u@test.example", PW)
        im.select("INBOX", readonly=True)
        typ, data = im.uid("FETCH", "1:*", "(EMAILID)")
        assert typ == "OK"
        imap_ids = {x.decode().split("EMAILID (")[1].split(")")[0]
                    for x in data if isinstance(x, bytes)}
        assert imap_ids == set(want)
    finally:
        im.logout()

    # sending: needs EmailSubmission and Identity (RFC 8621 6, 7)
    assert SUBMISSION in sess["capabilities"], \
        "the server does not advertise %s" % SUBMISSION
    assert "error" not in out["send"], out["send"]
    assert out["ok"] is True and proc.returncode == 0
    snd = out["send"]
    assert snd["identity"] == "u@test.example"
    # onSuccessUpdateEmail moved the draft from Drafts to Sent
    assert snd["mailboxIds"] == [snd["sent"]], snd
    assert "$draft" not in snd["keywords"] and "$seen" in snd["keywords"]
    e = c.ok("Email/get", {"accountId": "A1", "ids": [snd["emailId"]],
                           "properties": ["mailboxIds", "keywords",
                                          "subject"]})["list"][0]
    assert e["mailboxIds"] == {snd["sent"]: True}
    assert e["subject"] == snd["subject"]
    sub = c.ok("EmailSubmission/get", {
        "accountId": "A1", "ids": [snd["submissionId"]]},
        using=("urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail",
               SUBMISSION))["list"]
    assert len(sub) == 1 and sub[0]["emailId"] == snd["emailId"]
    # and it arrived in v@test.example's inbox, seen over JMAP as A2
    v = Client(p, "v@test.example", PW_V)

    def arrived():
        ids = v.ok("Email/query", {"accountId": "A2"})["ids"]
        if not ids:
            return None
        got = v.ok("Email/get", {"accountId": "A2", "ids": ids,
                                 "properties": ["subject", "from", "to",
                                                "mailboxIds"]})["list"]
        return [g for g in got if g["subject"] == snd["subject"]]
    got = wait_for(arrived, timeout=30)
    assert got[0]["from"][0]["email"] == "u@test.example"
    assert got[0]["to"] == [{"name": None, "email": "v@test.example"}]
    vin = [m for m in v.ok("Mailbox/get", {"accountId": "A2"})["list"]
           if m["role"] == "inbox"][0]
    assert got[0]["mailboxIds"] == {vin["id"]: True}


def test_jmap_jam_bad_password_is_reported(postern_factory):
    """A wrong password: the session step fails, nothing else runs."""
    p = make_server(postern_factory)
    out, proc = run_client(p, "u@test.example", "wrong", "v@test.example")
    assert proc.returncode == 2 and out["ok"] is False
    assert "error" in out["session"], out
    assert "mailboxes" not in out and "send" not in out
