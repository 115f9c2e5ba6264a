"""Real IMAP sync clients against a real `postern serve` on loopback:
mbsync (Debian isync) and offlineimap (offlineimap3) mirror the mailboxes
into a local Maildir, then changes made on each side - flags set and
cleared, messages added and deleted, a folder created - are reconciled
by the next run, in both directions, and a run after that finds nothing
to do.  Plaintext LOGIN on loopback (auth.plaintext_loopback).

What the server side is checked with is a raw IMAP session (test_imap's
Imap); the local side by reading the Maildir files (flags after ":2,")."""
import os
import re
import shutil
import subprocess
import time

import pytest

from test_imap import Imap, PW, appended, make_server, mail


def server_view(p, mbox):
    """{subject: set(flags)} of mbox on the server"""
    c = Imap(p.imap_port)
    c.login()
    lines, tagged = c.cmd("EXAMINE " + mbox)
    out = {}
    if " OK " in tagged:
        lines, _ = c.ok("FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS "
                        "(SUBJECT)])")
        for l in lines:
            if " FETCH (" not in l:
                continue
            subj = re.search(r"Subject: ([^\r\n]*)", l).group(1)
            flags = re.search(r"FLAGS \(([^)]*)\)", l).group(1).split()
            out[subj] = set(flags)
    else:
        out = None
    c.ok("LOGOUT")
    c.close()
    return out


def maildir_view(path):
    """{subject: (flags, file)} of the Maildir at path"""
    out = {}
    for sub in ("cur", "new"):
        d = os.path.join(path, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                m = re.search(rb"^Subject: ([^\r\n]*)", f.read(), re.M)
            flags = name.split(":2,")[1] if ":2," in name else ""
            out[m.group(1).decode()] = (flags, os.path.join(d, name))
    return out


def set_local_flags(entry, flags):
    """rename a Maildir file to carry flags (sorted, as Maildir wants)"""
    path = entry[1]
    base = path.split(":2,")[0]
    new = os.path.join(os.path.dirname(os.path.dirname(base)), "cur",
                       os.path.basename(base)) + ":2," + "".join(sorted(flags))
    os.rename(path, new)


def drop_local(path, subject, data):
    """a new message delivered into the local Maildir"""
    name = "%d.%d_%s.localhost" % (time.time(), os.getpid(),
                                   re.sub(r"\W", "", subject))
    with open(os.path.join(path, "tmp", name), "wb") as f:
        f.write(data)
    os.rename(os.path.join(path, "tmp", name), os.path.join(path, "new", name))


def make_maildir(path):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)


def seed(p):
    """the server side before the first sync"""
    appended(p, "u@test.example", PW, "INBOX",
             [(None, mail("one")), ("(\\Flagged)", mail("two")),
              ("(\\Seen)", mail("three"))])
    c = Imap(p.imap_port)
    c.login()
    c.ok("CREATE Work")
    c.ok("LOGOUT")
    appended(p, "u@test.example", PW, "Work", [(None, mail("w1"))])


def change_server(p):
    """changes on the server between syncs"""
    c = Imap(p.imap_port)
    c.login()
    c.ok("SELECT INBOX")
    uid = {}
    for l in c.ok("FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[0]:
        uid[re.search(r"Subject: (\S+)", l).group(1)] = int(
            re.search(r"UID (\d+)", l).group(1))
    c.ok("UID STORE %d -FLAGS (\\Flagged)" % uid["two"])
    c.ok("UID STORE %d +FLAGS (\\Answered)" % uid["two"])
    c.ok("CREATE Projects")
    c.ok("LOGOUT")
    appended(p, "u@test.example", PW, "INBOX", [(None, mail("four"))])
    appended(p, "u@test.example", PW, "Projects", [(None, mail("p1"))])


def check_server_after(p):
    inbox = server_view(p, "INBOX")
    assert set(inbox) == {"one", "two", "four"}, inbox    # three deleted
    assert "\\Seen" in inbox["one"]                         # seen locally
    assert inbox["two"] >= {"\\Answered"} and "\\Flagged" not in inbox["two"]
    assert set(server_view(p, "Work")) == {"w1", "local-new"}
    assert set(server_view(p, "Mine")) == {"mine1"}         # a local folder


# ---- mbsync ----

MBSYNCRC = """IMAPAccount postern
Host 127.0.0.1
Port %(port)d
User u@test.example
Pass "%(pw)s"
SSLType None
AuthMechs LOGIN
PipelineDepth 10

IMAPStore remote
Account postern

MaildirStore local
Path %(dir)s/
Inbox %(dir)s/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
"""


def mbsync(conf):
    """one run; its IMAP commands (-Dn traces the protocol)"""
    r = subprocess.run(["mbsync", "-Dn", "-c", conf, "-a"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return re.findall(r"^>>> \d+ (.*)$", r.stdout + r.stderr, re.M)


@pytest.mark.skipif(shutil.which("mbsync") is None,
                    reason="isync is not installed (contrib/install-deps)")
def test_mbsync_both_ways(postern_factory, tmp_path):
    p = make_server(postern_factory)
    seed(p)
    local = str(tmp_path / "mail")
    os.makedirs(local)
    conf = str(tmp_path / "mbsyncrc")
    with open(conf, "w") as f:
        f.write(MBSYNCRC % {"port": p.imap_port, "pw": PW, "dir": local})
    mbsync(conf)
    inbox = maildir_view(os.path.join(local, "INBOX"))
    assert set(inbox) == {"one", "two", "three"}, inbox
    assert inbox["one"][0] == "" and "F" in inbox["two"][0]
    assert "S" in inbox["three"][0]
    assert set(maildir_view(os.path.join(local, "Work"))) == {"w1"}
    # local changes: seen, deleted (trashed), a new message, a new folder
    set_local_flags(inbox["one"], "S")
    set_local_flags(inbox["three"], "ST")
    drop_local(os.path.join(local, "Work"), "local-new",
               mail("local-new"))
    make_maildir(os.path.join(local, "Mine"))
    drop_local(os.path.join(local, "Mine"), "mine1", mail("mine1"))
    # server changes
    change_server(p)
    mbsync(conf)
    check_server_after(p)
    inbox = maildir_view(os.path.join(local, "INBOX"))
    assert set(inbox) == {"one", "two", "four"}, inbox
    assert "R" in inbox["two"][0] and "F" not in inbox["two"][0]
    assert set(maildir_view(os.path.join(local, "Projects"))) == {"p1"}
    # a third run has nothing left to do: it reads, writes nothing
    cmds = mbsync(conf)
    assert [c for c in cmds if c.startswith("SELECT")], cmds
    assert not [c for c in cmds if re.match(
        r"(UID )?(STORE|EXPUNGE|APPEND|COPY|MOVE|CREATE)|.*BODY\.PEEK\[\]",
        c)], cmds
    assert maildir_view(os.path.join(local, "INBOX")).keys() == inbox.keys()
    assert set(server_view(p, "INBOX")) == {"one", "two", "four"}


# ---- offlineimap ----

OFFLINEIMAPRC = """[general]
accounts = test
metadata = %(dir)s/meta
ui = basic

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = %(dir)s/mail

[Repository remote]
type = IMAP
remotehost = 127.0.0.1
remoteport = %(port)d
remoteuser = u@test.example
remotepass = %(pw)s
ssl = no
starttls = no
maxconnections = 1
"""


def offlineimap(conf):
    r = subprocess.run(["offlineimap", "-c", conf, "-o", "-u", "basic"],
                       capture_output=True, text=True, timeout=180)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "ERROR" not in out, out[-4000:]
    return out


@pytest.mark.skipif(shutil.which("offlineimap") is None,
                    reason="offlineimap3 is not installed "
                    "(contrib/install-deps)")
def test_offlineimap_both_ways(postern_factory, tmp_path):
    p = make_server(postern_factory)
    seed(p)
    conf = str(tmp_path / "offlineimaprc")
    with open(conf, "w") as f:
        f.write(OFFLINEIMAPRC % {"port": p.imap_port, "pw": PW,
                                 "dir": str(tmp_path)})
    local = str(tmp_path / "mail")
    offlineimap(conf)
    inbox = maildir_view(os.path.join(local, "INBOX"))
    assert set(inbox) == {"one", "two", "three"}, inbox
    assert inbox["one"][0] == "" and "F" in inbox["two"][0]
    assert "S" in inbox["three"][0]
    assert set(maildir_view(os.path.join(local, "Work"))) == {"w1"}
    # local changes: seen, deleted, a new message, a new folder
    set_local_flags(inbox["one"], "S")
    os.unlink(inbox["three"][1])
    drop_local(os.path.join(local, "Work"), "local-new",
               mail("local-new"))
    make_maildir(os.path.join(local, "Mine"))
    drop_local(os.path.join(local, "Mine"), "mine1", mail("mine1"))
    change_server(p)
    offlineimap(conf)
    check_server_after(p)
    inbox = maildir_view(os.path.join(local, "INBOX"))
    assert set(inbox) == {"one", "two", "four"}, inbox
    assert "R" in inbox["two"][0] and "F" not in inbox["two"][0]
    assert set(maildir_view(os.path.join(local, "Projects"))) == {"p1"}
    # the uploaded messages kept their UIDs: a run after changes nothing
    before = {k: v[0] for k, v in maildir_view(
        os.path.join(local, "Work")).items()}
    out = offlineimap(conf)
    assert not re.search(r"Copy message|Adding flag|Deleting", out), out
    assert {k: v[0] for k, v in maildir_view(
        os.path.join(local, "Work")).items()} == before
    assert set(server_view(p, "Work")) == {"w1", "local-new"}
    assert set(server_view(p, "INBOX")) == {"one", "two", "four"}
