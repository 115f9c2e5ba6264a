"""`postern mailbox list`, `postern mail list|show`: what an account's
mailboxes hold, read from the real store.  The mail gets there with
`postern import maildir` (SMTP does not deliver into mailboxes yet)."""
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

import conftest
from conftest import BIN, ensure_user  # noqa: F401


def CLI(conf_extra=""):
    return conftest.CLI(conf_extra, prefix="postern-mail-")


@pytest.fixture
def pc():
    c = CLI()
    yield c
    c.cleanup()


def put(path, data, mtime=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def rows(out):
    """the lines after the header, split on white space (last column whole)"""
    lines = out.splitlines()
    n = len(lines[0].split())
    return [l.split(None, n - 1) for l in lines[1:]]


BIG = (b"From: Big <big@example.net>\r\nSubject: big\r\n\r\n" +
       b"".join(b"%06d %s\r\n" % (i, b"y" * 70) for i in range(14000)))


CAFE = (b"From: =?utf-8?q?Ren=C3=A9?= <rene@example.net>\r\n"
        b"Subject: =?utf-8?q?caf=C3=A9_=E2=98=95?=\r\n\r\nbody\r\n")


def populate(pc, root):
    put(root / "cur/1000000001.a:2,S", CAFE, mtime=1700000000)
    put(root / "cur/1000000002.a:2,FS",
        b"From: x@example.net\r\nSubject: =?utf-8?q?bell=07ring_=1B[31mred?=\r\n"
        b"\r\nbody\r\n", mtime=1700000060)
    put(root / "cur/1000000003.a:2,", b"no header at all\r\n")
    put(root / "cur/1000000004.a:2,S", BIG)
    put(root / ".Lists.Postfix/cur/1000000005.a:2,S",
        b"From: list@example.org\r\nSubject: [pf] hello\r\n\r\nhi\r\n")
    pc("domain", "add", "example.com")       # may exist already
    pc("user", "add", "alice@example.com", "--no-password", "--quota", "10M",
       check=0)
    pc("import", "maildir", "alice@example.com", root, check=0)


def test_mailbox_and_mail_list(pc):
    pc("domain", "add", "example.com", check=0)
    pc("user", "add", "new@example.com", "--no-password", check=0)
    # an account that never received mail has no mailboxes yet
    assert rows(pc("mailbox", "list", "new@example.com", check=0).stdout) == []
    r = pc("mail", "list", "new@example.com", check=1)
    assert 'unknown mailbox "INBOX"' in r.stderr

    populate(pc, pc.tmp / "md")
    mb = {r[7]: r for r in rows(pc("mailbox", "list", "alice@example.com",
                                   check=0).stdout)}
    assert list(mb)[0] == "INBOX"            # INBOX first, then by name
    assert list(mb) == ["INBOX", "Archive", "Drafts", "Junk", "Lists",
                        "Lists/Postfix", "Sent", "Trash"]
    assert mb["INBOX"][:2] == ["4", "1"] and mb["INBOX"][5] == "inbox"
    assert int(mb["INBOX"][2]) > len(BIG)
    assert mb["Lists/Postfix"][:2] == ["1", "0"] and mb["Lists"][0] == "0"
    assert mb["Lists/Postfix"][4] == "2"     # UIDNEXT
    assert int(mb["Sent"][3]) > 1700000000 and mb["Sent"][5] == "sent"

    out = pc("mail", "list", "alice@example.com", check=0).stdout
    assert out.splitlines()[0].split() == ["UID", "FLAGS", "SIZE", "RECEIVED",
                                           "FROM", "SUBJECT"]
    msgs = rows(out)
    assert [m[0] for m in msgs] == ["1", "2", "3", "4"]
    assert msgs[0][1:] == [r"\Seen", str(len(CAFE)), "2023-11-14T22:13:20Z",
                           "rene@example.net", "café ☕"]
    assert msgs[1][1] == r"\Seen,\Flagged" and msgs[1][3] == "2023-11-14T22:14:20Z"
    assert msgs[1][5] == "bell?ring ?[31mred"      # no control characters
    assert msgs[2][1] == "-" and msgs[2][4] == "-" and len(msgs[2]) == 5
    assert msgs[3][2] == str(len(BIG))
    # INBOX in any case; nested names with '/'
    assert rows(pc("mail", "list", "alice@example.com", "inbox",
                   check=0).stdout) == msgs
    sub = rows(pc("mail", "list", "alice@example.com", "Lists/Postfix",
                  check=0).stdout)
    assert sub[0][4:] == ["list@example.org", "[pf] hello"]
    assert rows(pc("mail", "list", "alice@example.com", "Trash",
                   check=0).stdout) == []

    used = pc("user", "show", "alice@example.com", check=0).stdout
    total = sum(int(r[2]) for r in mb.values())
    assert "quota used: %d bytes (%d%%)" % (total, total * 100 // (10 << 20)) in used


def test_mail_show(pc):
    populate(pc, pc.tmp / "md")
    r = pc.raw("mail", "show", "alice@example.com", "INBOX", "4")
    assert r.returncode == 0 and r.stdout == BIG      # streamed, exact
    r = pc.raw("mail", "show", "alice@example.com", "Lists/Postfix", "1")
    assert r.stdout.startswith(b"From: list@example.org\r\n")
    r = pc("mail", "show", "alice@example.com", "INBOX", "9", check=1)
    assert "no message with UID 9" in r.stderr
    r = pc("mail", "show", "alice@example.com", "Nope", "1", check=1)
    assert 'unknown mailbox "Nope"' in r.stderr
    r = pc("mail", "show", "ghost@example.com", "INBOX", "1", check=1)
    assert "unknown account ghost@example.com" in r.stderr
    for bad in ("0", "x", "4294967296", "-1", "1x"):
        r = pc("mail", "show", "alice@example.com", "INBOX", bad, check=2)
        assert "UID" in r.stderr


def test_usage(pc):
    for args in (["mail"], ["mailbox"], ["mailbox", "list"],
                 ["mailbox", "frob", "a@example.com"],
                 ["mail", "show", "a@example.com", "INBOX"],
                 ["mail", "list", "a@example.com", "INBOX", "extra"],
                 ["mail", "frob", "a@example.com"]):
        r = pc(*args, check=2)
        assert "usage: postern mailbox list USER" in r.stderr, args
    r = pc("mailbox", "list", "ghost@example.com", check=1)
    assert "unknown account" in r.stderr
    r = subprocess.run([BIN, "-h"], capture_output=True, text=True)
    for cmd in ("import passwd-file", "import maildir", "mailbox list",
                "mail list", "mail show"):
        assert cmd in r.stdout


def test_next_to_running_server(postern):
    """SQLite (WAL): the commands work while the server runs."""
    md = pathlib.Path(postern.dir) / "md"
    put(md / "new/1.a", b"Subject: live\r\n\r\nx\r\n")
    os.chmod(md, 0o755)
    for d in (md, md / "new"):
        os.chmod(d, 0o755)
    postern.cli("domain", "add", "test.example", check=False)  # may exist
    postern.cli("user", "add", "imp@test.example", "--no-password")
    r = postern.cli("import", "maildir", "imp@test.example", str(md))
    assert "INBOX: 1 imported" in r.stdout
    out = postern.cli("mail", "list", "imp@test.example").stdout
    assert rows(out)[0][0] == "1" and rows(out)[0][5] == "live"


def test_what_smtp_delivered(postern_factory):
    """The commands show what local delivery filed."""
    import smtplib
    import time
    p = postern_factory(deliver=True)
    body = b"From: a@example.net\r\nSubject: via smtp\r\n\r\nhello\r\n"
    with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
        s.ehlo("client.example")
        s.sendmail("a@example.net", ["u@test.example"], body)
    deadline = time.time() + 20
    while time.time() < deadline:
        out = p.cli("mail", "list", "u@test.example", check=False).stdout
        if "via smtp" in out:
            break
        time.sleep(0.1)
    m = rows(out)
    assert len(m) == 1 and m[0][0] == "1" and m[0][1] == "-"
    assert m[0][4:] == ["a@example.net", "via smtp"]
    raw = subprocess.run([BIN, "-c", p.conf, "mail", "show", "u@test.example",
                          "INBOX", "1"], capture_output=True, timeout=60)
    assert raw.returncode == 0 and raw.stdout.endswith(body)
    assert raw.stdout.startswith(b"Received: ")
    assert int(m[0][2]) == len(raw.stdout)
    mb = {r[7]: r for r in rows(p.cli("mailbox", "list", "u@test.example")
                                .stdout)}
    assert mb["INBOX"][:2] == ["1", "1"]
