"""`postern import passwd-file|maildir`: accounts from a Dovecot
passwd-file and mail from a real Maildir++ tree, checked through
`postern user show`, `postern mailbox list` and `postern mail list|show`.

That the imported hashes authenticate is checked by the unit test
t/unit/cli_import_test.c (dir_authenticate): no protocol reaches the
directory yet.
"""
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

import conftest
from conftest import BIN, ensure_user  # noqa: F401

# hashes of known passwords (openssl passwd -6, Python's crypt with
# bcrypt, the argon2 CLI); the unit test logs in with them
SHA512 = ("$6$saltsalt$d574LmfMyQnEYNioegmwjPSZf7ow4NFX5FZoc2y2bcS40Ewc554K6V9"
          "ItMeLzi8a1/cxWnKeK1p9.I8yzxa2y0")
BLF = "$2b$05$abcdefghijklmnopqrstuu3RHPf5aNcwPJX4mkqeBvXXURfbImCbm"
ARGON = ("$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
         "paTytiKx8QxI0DL3rvMIJWO5YodMUsmF9TFmCU4grC4")


def CLI():
    """The CLI against a fresh data_dir; messages over 4 KiB are refused."""
    return conftest.CLI('smtp = { max_message_size = "4k"; };\n', prefix="postern-imp-")


@pytest.fixture
def pc():
    c = CLI()
    yield c
    c.cleanup()


def mailboxes(pc, user):
    """name -> dict of the `mailbox list` columns"""
    lines = pc("mailbox", "list", user, check=0).stdout.splitlines()
    assert lines[0].split() == ["MESSAGES", "UNSEEN", "SIZE", "UIDVALIDITY",
                                "UIDNEXT", "ROLE", "SUB", "NAME"]
    out = {}
    for line in lines[1:]:
        f = line.split(None, 7)
        out[f[7]] = dict(messages=int(f[0]), unseen=int(f[1]), size=int(f[2]),
                         uidvalidity=int(f[3]), uidnext=int(f[4]), role=f[5],
                         sub=f[6])
    return out


def messages(pc, user, mailbox="INBOX"):
    """list of dicts of the `mail list` columns, in UID order"""
    lines = pc("mail", "list", user, mailbox, check=0).stdout.splitlines()
    assert lines[0].split() == ["UID", "FLAGS", "SIZE", "RECEIVED", "FROM",
                                "SUBJECT"]
    out = []
    for line in lines[1:]:
        f = line.split(None, 5)
        out.append(dict(uid=int(f[0]), flags=f[1], size=int(f[2]), date=f[3],
                        frm=f[4], subject=f[5] if len(f) > 5 else ""))
    return out


def msg(subject, sender="a@example.net", body="hello\n", crlf=False):
    text = "From: Sender <%s>\nTo: alice@example.com\nSubject: %s\n\n%s" % (
        sender, subject, body)
    if crlf:
        text = text.replace("\n", "\r\n")
    return text.encode()


def put(path, data, mtime=None, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    if mode is not None:
        os.chmod(path, mode)


def build_maildir(root):
    """A Dovecot Maildir++: INBOX with uidlist order, flags, keywords, new/
    mail and broken files; .Sent, .Spam, .Work.Projects &ZeVnLIqe- (日本語)."""
    for d in ("cur", "new", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "dovecot-uidlist").write_text(
        "3 V1234567890 N3 G1a2b3c\n"
        "1 :1000000020.M2P1.host\n"
        "2 W60 S58 :1000000010.M1P1.host,S=58\n")
    (root / "dovecot-keywords").write_text("0 $Forwarded\n1 work\n2 bad word\n")
    (root / "dovecot.index").write_bytes(b"\0\1binary")
    (root / "dovecot.index.log").write_bytes(b"\0\2binary")
    (root / "subscriptions").write_text(
        "V\t2\n\nINBOX\nSent\nWork\tProjects &ZeVnLIqe-\n")
    put(root / "cur/1000000010.M1P1.host,S=58:2,S", msg("first", crlf=True),
        mtime=1000000010)
    put(root / "cur/1000000020.M2P1.host:2,RFabc", msg("second"),
        mtime=1000000020)
    put(root / "cur/1000000005.M3P1.host:2,PT", msg("third"), mtime=1000000005)
    put(root / "new/1000000030.M4P1.host", msg("fourth", body="line1\nline2\n"),
        mtime=1000000030)
    put(root / "new/1000000031.M5P1.host:2,S", msg("fifth"), mtime=1000000031)
    put(root / "tmp/1000000032.M6P1.host", msg("in tmp"))
    # broken: empty, too big, unreadable, a directory, a symlink
    put(root / "cur/1000000040.M7P1.host:2,S", b"")
    put(root / "cur/1000000041.M8P1.host:2,S", msg("big", body="x" * 5000 + "\n"))
    put(root / "cur/1000000042.M9P1.host:2,S", msg("secret"), mode=0)
    (root / "cur/1000000043.M10P1.host:2,").mkdir()
    os.symlink("/etc/passwd", root / "cur/1000000044.M11P1.host:2,S")

    put(root / ".Sent/cur/1000000100.M1P2.host:2,S", msg("sent one"))
    (root / ".Sent/maildirfolder").write_bytes(b"")
    put(root / ".Spam/new/1000000200.M1P3.host", msg("buy now"))
    proj = root / ".Work.Projects &ZeVnLIqe-"
    put(proj / "cur/1000000300.M1P4.host:2,Sa", msg("project"))
    (proj / "dovecot-keywords").write_text("0 Urgent\n")
    (root / ".NotAFolder").mkdir()          # no cur/ or new/: ignored


def test_maildir_import(pc):
    pc("domain", "add", "example.com", check=0)
    pc("user", "add", "alice@example.com", "--no-password", check=0)
    md = pc.tmp / "Maildir"
    build_maildir(md)

    r = pc("import", "maildir", "alice@example.com", md, check=1)
    out = r.stdout.splitlines()
    assert "INBOX: 5 imported, 5 failed" in out
    assert "Sent (into Sent): 1 imported" in out
    assert "Spam (into Junk): 1 imported" in out
    assert "Work/Projects 日本語: 1 imported" in out
    assert out[-1] == ("total: 8 messages imported into 4 mailboxes, "
                       "0 already there, 5 failed")
    for what in ("1000000040.M7P1.host:2,S: empty",
                 "1000000041.M8P1.host:2,S: larger than smtp.max_message_size",
                 "1000000042.M9P1.host:2,S: Permission denied",
                 "1000000043.M10P1.host:2,: not a regular file",
                 "1000000044.M11P1.host:2,S: a symbolic link",
                 'keyword "bad word" is not a valid IMAP keyword'):
        assert what in r.stderr, (what, r.stderr)
    assert "in tmp" not in r.stdout

    mb = mailboxes(pc, "alice@example.com")
    assert mb["INBOX"]["messages"] == 5 and mb["INBOX"]["unseen"] == 4
    assert mb["INBOX"]["role"] == "inbox" and mb["INBOX"]["uidnext"] == 6
    assert mb["INBOX"]["size"] > 0
    assert mb["Sent"]["messages"] == 1 and mb["Sent"]["role"] == "sent"
    assert mb["Junk"]["messages"] == 1 and mb["Junk"]["unseen"] == 1
    assert "Spam" not in mb
    assert mb["Work"]["messages"] == 0 and mb["Work"]["role"] == "-"
    proj = mb["Work/Projects 日本語"]
    assert proj["messages"] == 1 and proj["unseen"] == 0
    # subscriptions file: INBOX, Sent and the project folder only
    assert mb["INBOX"]["sub"] == "yes" and mb["Sent"]["sub"] == "yes"
    assert proj["sub"] == "yes" and mb["Junk"]["sub"] == "no"
    assert {"Drafts", "Trash", "Archive"} <= set(mb)

    inbox = messages(pc, "alice@example.com")
    # dovecot-uidlist order first, then the unlisted ones by name
    assert [m["subject"] for m in inbox] == [
        "second", "first", "third", "fourth", "fifth"]
    assert [m["uid"] for m in inbox] == [1, 2, 3, 4, 5]
    flags = {m["subject"]: m["flags"] for m in inbox}
    assert flags["second"] == r"\Answered,\Flagged,$Forwarded,work"
    assert flags["first"] == r"\Seen"
    assert flags["third"] == r"\Deleted,$Forwarded"
    assert flags["fourth"] == "-" and flags["fifth"] == "-"   # new/: unseen
    dates = {m["subject"]: m["date"] for m in inbox}
    assert dates["first"] == "2001-09-09T01:46:50Z"          # the mtime
    assert dates["second"] == "2001-09-09T01:47:00Z"
    assert all(m["frm"] == "a@example.net" for m in inbox)
    p = messages(pc, "alice@example.com", "Work/Projects 日本語")
    assert p[0]["flags"] == r"\Seen,urgent" and p[0]["subject"] == "project"

    # LF line ends were stored as CRLF
    raw = pc.raw("mail", "show", "alice@example.com", "INBOX", "4")
    assert raw.returncode == 0
    assert raw.stdout == msg("fourth", body="line1\nline2\n", crlf=True)
    assert len(raw.stdout) == inbox[3]["size"]

    used = [l for l in pc("user", "show", "alice@example.com", check=0)
            .stdout.splitlines() if l.startswith("quota used:")]
    assert used and int(used[0].split()[2]) == sum(
        v["size"] for v in mb.values())

    # a second run finds every message already there
    r = pc("import", "maildir", "alice@example.com", md, check=1)
    assert "INBOX: 0 imported, 5 already there, 5 failed" in r.stdout
    assert r.stdout.splitlines()[-1] == (
        "total: 0 messages imported into 4 mailboxes, 8 already there, "
        "5 failed")
    assert mailboxes(pc, "alice@example.com") == mb

    # once the broken files are gone, a run succeeds (exit 0)
    for name in ("1000000040.M7P1.host:2,S", "1000000041.M8P1.host:2,S",
                 "1000000042.M9P1.host:2,S", "1000000044.M11P1.host:2,S"):
        os.unlink(md / "cur" / name)
    os.rmdir(md / "cur/1000000043.M10P1.host:2,")
    put(md / "cur/1000000050.M12P1.host:2,F", msg("late"))
    r = pc("import", "maildir", "alice@example.com", md, check=0)
    assert "INBOX: 1 imported, 5 already there" in r.stdout
    assert messages(pc, "alice@example.com")[-1]["subject"] == "late"


def test_maildir_plain(pc):
    """No uidlist, no keywords, no subscriptions: name order, defaults."""
    pc("domain", "add", "example.com", check=0)
    pc("user", "add", "bob@example.com", "--no-password", check=0)
    md = pc.tmp / "md"
    put(md / "cur/1500000002.x:2,S", msg("b"))
    put(md / "cur/999999999.x:2,S", msg("a"))       # fewer digits: older
    put(md / "cur/1500000001.x:2,Sz", msg("c"))     # keyword without file
    put(md / ".Archives/new/1.x", msg("old"))
    put(md / ".A&-B/cur/2.x:2,S", msg("amp"))
    put(md / ".Caf\u00e9/cur/3.x:2,S", msg("utf8 name"))
    r = pc("import", "maildir", "bob@example.com", md, check=0)
    assert "INBOX: 3 imported" in r.stdout
    assert "Archives (into Archive): 1 imported" in r.stdout
    assert "A&B: 1 imported" in r.stdout
    assert "Café: 1 imported" in r.stdout
    assert "not modified UTF-7" in r.stderr
    assert [m["subject"] for m in messages(pc, "bob@example.com")] == [
        "a", "c", "b"]
    assert [m["flags"] for m in messages(pc, "bob@example.com")] == [
        r"\Seen"] * 3
    mb = mailboxes(pc, "bob@example.com")
    assert mb["Archive"]["messages"] == 1 and mb["A&B"]["sub"] == "yes"


def test_maildir_errors(pc):
    pc("domain", "add", "example.com", check=0)
    pc("user", "add", "alice@example.com", "--no-password", check=0)
    empty = pc.tmp / "empty"
    empty.mkdir()
    os.chmod(empty, 0o755)
    r = pc("import", "maildir", "ghost@example.com", empty, check=1)
    assert "unknown account ghost@example.com" in r.stderr
    r = pc("import", "maildir", "alice@example.com", empty, check=1)
    assert "not a Maildir" in r.stderr
    r = pc("import", "maildir", "alice@example.com", pc.tmp / "nope", check=1)
    assert "not a Maildir" in r.stderr and "No such file" in r.stderr
    locked = pc.tmp / "locked"
    (locked / "cur").mkdir(parents=True)
    os.chmod(locked, 0o700)
    if os.geteuid() == 0:       # the CLI is user postern: cannot enter it
        r = pc("import", "maildir", "alice@example.com", locked, check=1)
        assert "Permission denied" in r.stderr
    assert pc("import", check=2).returncode == 2
    assert pc("import", "maildir", "alice@example.com", check=2).returncode == 2
    r = pc("import", "frob", "x", check=2)
    assert "usage: postern import" in r.stderr
    assert "already there" in r.stderr    # the help says what a re-run does


def test_passwd_file(pc):
    gen = subprocess.run(["openssl", "passwd", "-6", "fresh-secret"],
                         capture_output=True, text=True)
    fresh = gen.stdout.strip() if gen.returncode == 0 else SHA512
    users = pc.tmp / "users"
    users.write_text(
        "# exported from Dovecot\n"
        "\n"
        "alice@example.com:{SHA512-CRYPT}%s::::::userdb_quota_rule=*:storage=1G\n"
        "bob@example.com:{BLF-CRYPT}%s:1000:1000:Bob B,,,:/home/bob:/bin/sh:"
        "quota_rule=*:storage=2048\n"
        "carol@example.org:{ARGON2ID}%s\n"
        "dave@example.org:{PLAIN}secret\n"
        "eve:{SHA512-CRYPT}%s\n"
        "frank@example.org:{CLEARTEXT}secret::::::\n"
        "gina@example.org:{SSHA}abcdef\n"
        "hank@example.org:%s\n"
        "nologin@example.org:\n" % (SHA512, BLF, ARGON, SHA512, fresh))
    os.chmod(users, 0o600)      # read before the privileges are dropped
    r = pc("import", "passwd-file", users, check=1)
    assert r.stdout.splitlines()[-1] == (
        "passwd-file %s: 5 imported, 0 updated, 0 skipped (exist), "
        "4 failed; 2 domains created" % users)
    assert "%s:6: dave@example.org: password not imported: plaintext password " \
        "scheme PLAIN refused" % users in r.stderr
    assert '%s:7: user "eve" has no domain' % users in r.stderr
    assert "%s:8: frank@example.org" % users in r.stderr
    assert "scheme CLEARTEXT refused" in r.stderr
    assert "%s:9: gina@example.org" % users in r.stderr
    assert "nologin@example.org: imported (no password: login disabled)" in r.stdout
    assert pc("domain", "list", check=0).stdout.split() == [
        "example.com", "example.org"]
    assert pc("user", "list", check=0).stdout.split() == [
        "alice@example.com", "bob@example.com", "carol@example.org",
        "hank@example.org", "nologin@example.org"]

    alice = pc("user", "show", "alice@example.com", check=0).stdout
    assert "quota: 1073741824 bytes" in alice and "login: enabled" in alice
    assert "quota used: 0 bytes" in alice
    bob = pc("user", "show", "bob@example.com", check=0).stdout
    assert "quota: 2097152 bytes" in bob and "display name: Bob B\n" in bob
    assert "quota: none" in pc("user", "show", "carol@example.org", check=0).stdout
    assert "disabled" in pc("user", "show", "nologin@example.org", check=0).stdout
    pc("user", "show", "dave@example.org", check=1)

    # again: existing accounts are reported and left alone
    good = pc.tmp / "good"
    good.write_text("alice@example.com:{BLF-CRYPT}%s::::::quota_rule=*:bytes=5M\n"
                    "ivy@example.com:{ARGON2ID}%s\n" % (BLF, ARGON))
    r = pc("import", "passwd-file", good, check=0)
    assert "alice@example.com: exists, skipped" in r.stdout
    assert "1 imported, 0 updated, 1 skipped (exist), 0 failed" in r.stdout
    assert "quota: 1073741824 bytes" in pc("user", "show", "alice@example.com",
                                           check=0).stdout
    r = pc("import", "passwd-file", "--update", good, check=0)
    assert "alice@example.com: updated" in r.stdout
    assert "0 imported, 2 updated, 0 skipped" in r.stdout
    assert "quota: 5242880 bytes" in pc("user", "show", "alice@example.com",
                                        check=0).stdout

    r = pc("import", "passwd-file", pc.tmp / "missing", check=1)
    assert "No such file" in r.stderr
    assert pc("import", "passwd-file", check=2).returncode == 2
    assert pc("import", "passwd-file", "--frob", good, check=2).returncode == 2


def test_passwd_file_quota_rules(pc):
    users = pc.tmp / "users"
    users.write_text(
        "a@example.com:%s::::::userdb_quota_rule=*:storage=10M\n"
        "b@example.com:%s::::::userdb_quota_rule=*:storage=512b\n"
        "c@example.com:%s::::::userdb_quota_rule=*:storage=+10%%\n"
        "d@example.com:%s::::::userdb_quota_rule=Trash:storage=1G "
        "userdb_quota_rule2=*:storage=1M mail=maildir:~/Maildir\n"
        "e@example.com:%s::::::quota_rule=*:storage=0\n"
        % (SHA512, SHA512, SHA512, SHA512, SHA512))
    r = pc("import", "passwd-file", users, check=1)
    assert 'quota limit "storage=+10%" not imported' in r.stderr
    assert 'quota rule "Trash:storage=1G" ignored' in r.stderr

    def quota(u):
        return [l for l in pc("user", "show", u, check=0).stdout.splitlines()
                if l.startswith("quota:")][0]
    assert quota("a@example.com") == "quota: 10485760 bytes"
    assert quota("b@example.com") == "quota: 512 bytes"
    assert quota("d@example.com") == "quota: none"   # quota_rule2: not read
    assert quota("e@example.com") == "quota: none"
    pc("user", "show", "c@example.com", check=1)
