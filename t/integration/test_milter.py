"""External milters as pipeline stages, end to end: Postern's milter
client against Debian's OpenDKIM (a real milter, started here on a
loopback port) signing a message, the signature then verified with
python3-dkim against the key OpenDKIM used; and against milters that
misbehave (never answer, hang up, talk nonsense), each giving the
configured failure action and never losing a message.
"""
import os
import shutil
import signal
import smtplib
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

import spool
from conftest import BIN, free_port

dkim = pytest.importorskip("dkim")

OPENDKIM = "/usr/sbin/opendkim"
GENKEY = "/usr/sbin/opendkim-genkey"


def setup_dir(p):
    for cmd in (["domain", "add", "test.example"],
                ["user", "add", "alice@test.example", "--no-password"]):
        p.cli(*cmd)


def show_first(p, user, mailbox="INBOX"):
    """The raw bytes of the first message of a mailbox."""
    deadline = time.time() + 10
    while True:
        r = p.cli("mail", "list", user, mailbox, check=False)
        rows = [l for l in r.stdout.splitlines()[1:] if l.strip()]
        if rows or time.time() > deadline:
            break
        time.sleep(0.05)
    assert rows, r.stdout + r.stderr
    uid = rows[0].split()[0]
    out = subprocess.run([BIN, "-c", p.conf, "mail", "show", user, mailbox,
                          uid], capture_output=True, check=True)
    return out.stdout


MESSAGE = (b"From: Alice Sender <alice@example.org>\r\n"
           b"To: alice@test.example\r\n"
           b"Subject: signed by the milter\r\n"
           b"Date: Mon, 30 Nov 2026 03:00:00 +0000\r\n"
           b"Message-ID: <m1@example.org>\r\n"
           b"\r\n"
           b"Hello,\r\nthis goes through OpenDKIM.\r\n")


@pytest.fixture
def opendkim():
    """OpenDKIM signing for example.org on a loopback port."""
    if not os.access(OPENDKIM, os.X_OK):
        pytest.skip("opendkim not installed")
    d = tempfile.mkdtemp(prefix="postern-opendkim-")
    os.chmod(d, 0o755)
    subprocess.run([GENKEY, "-b", "2048", "-d", "example.org", "-s", "sel",
                    "-D", d], check=True)
    port = free_port()
    conf = os.path.join(d, "opendkim.conf")
    with open(conf, "w") as f:
        f.write(f"""Syslog no
Background no
Mode sv
Domain example.org
Selector sel
KeyFile {d}/sel.private
Socket inet:{port}@127.0.0.1
Canonicalization relaxed/relaxed
InternalHosts 127.0.0.1
PidFile {d}/opendkim.pid
UserID root
RequireSafeKeys no
""")
    proc = subprocess.Popen([OPENDKIM, "-f", "-x", conf],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read().decode())
            time.sleep(0.05)
    with open(os.path.join(d, "sel.txt")) as f:
        txt = f.read()
    # the TXT record as published: the quoted strings joined
    record = "".join(part for i, part in enumerate(txt.split('"'))
                     if i % 2 == 1)
    yield port, record.encode()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(d, ignore_errors=True)


def test_opendkim_signs_through_our_client(postern_factory, opendkim):
    port, record = opendkim
    p = postern_factory(deliver=True, directory=False, extra_conf=f"""
log = {{ level = "debug"; }};
filters = {{ stages = ["milter:opendkim"]; }};
milter = {{ servers = ["opendkim=inet:{port}@127.0.0.1,timeout=10s"]; }};
""")
    setup_dir(p)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
        s.sendmail("alice@example.org", ["alice@test.example"], MESSAGE)
    raw = show_first(p, "alice@test.example")
    assert b"DKIM-Signature:" in raw, raw[:2000]
    assert b"X-Spam-Status: No" in raw
    # verified with the key OpenDKIM signed with, as a receiver would

    def dnsfunc(name, timeout=5):
        assert name.startswith(b"sel._domainkey.example.org")
        return record
    # the stored message: our Received first, then the fields we added
    assert dkim.verify(raw, dnsfunc=dnsfunc), raw[:3000]
    log = p.log()
    assert "milter" not in log or "failed" not in log


class BadMilter:
    """A milter that misbehaves: 'silent' never answers the negotiation,
    'hangup' closes right after it, 'garbage' answers with nonsense."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            try:
                hdr = c.recv(5)
                if self.mode == "hangup":
                    c.close()
                elif self.mode == "garbage" and hdr:
                    n = struct.unpack(">I", hdr[:4])[0]
                    c.recv(n - 1)
                    c.sendall(struct.pack(">I", 0xffffff) + b"Z")
                # silent: keep it open, say nothing
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


@pytest.mark.parametrize("mode", ["silent", "hangup", "garbage"])
def test_broken_milter_default_tempfails(postern_factory, mode):
    """Before DATA a failed stage tempfails (the default policy): the
    client is told to come back, nothing is accepted, nothing is lost."""
    m = BadMilter(mode)
    try:
        p = postern_factory(deliver=True, directory=False, extra_conf=f"""
filters = {{ stages = ["milter:bad"]; stage_timeout = 3; }};
milter = {{ servers = ["bad=inet:{m.port}@127.0.0.1,timeout=1s"]; }};
""")
        setup_dir(p)
        t0 = time.time()
        with pytest.raises(smtplib.SMTPConnectError) as e:
            smtplib.SMTP("127.0.0.1", p.port, timeout=10)
        assert e.value.smtp_code == 421
        assert time.time() - t0 < 5
        assert "stage milter:bad failed" in p.log()
    finally:
        m.close()


def test_broken_milter_fail_accept(postern_factory):
    """fail=accept: the message goes through with a symbol saying so."""
    m = BadMilter("hangup")
    try:
        p = postern_factory(deliver=True, directory=False, extra_conf=f"""
filters = {{ stages = ["milter:bad"]; }};
milter = {{ servers = ["bad=inet:{m.port}@127.0.0.1,timeout=1s,fail=accept"]; }};
""")
        setup_dir(p)
        with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
            s.sendmail("alice@example.org", ["alice@test.example"], MESSAGE)
        raw = show_first(p, "alice@test.example")
        assert b"MILTER_BAD_ERROR=0.0" in raw
        assert b"Authentication-Results:" in raw
    finally:
        m.close()


def test_unknown_milter_refuses_to_start(postern_factory):
    p = None
    with pytest.raises(Exception):
        p = postern_factory(extra_conf="""
filters = { stages = ["milter:nope"]; };
""")
    assert p is None


# ---- `postern milter`: our pipeline served to another MTA ----

MILTERTEST = "/usr/bin/miltertest"


class MilterServer:
    """`postern milter` on a loopback port, with its own data dir.  No
    filter stages unless extra has a filters group: the clients it is
    handed (miltertest's 192.0.2.7) are not loopback, and the default
    stages would ask the machine's DNS about them."""

    def __init__(self, extra="", milter_extra=""):
        if "filters" not in extra:
            extra = "filters = { stages = []; };\n" + extra
        self.dir = tempfile.mkdtemp(prefix="postern-milter-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "p.conf")
        with open(self.conf, "w") as f:
            f.write(f"""
server = {{ data_dir = "{self.dir}/var"; hostname = "milter.test.example"; }};
milter = {{ listen = "inet:{self.port}@127.0.0.1"; {milter_extra} }};
log = {{ level = "debug"; }};
{extra}
""")
        self.logf = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen([BIN, "-c", self.conf, "milter"],
                                     stdout=self.logf, stderr=self.logf)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError("postern milter did not start:\n" + self.log())

    def log(self):
        with open(os.path.join(self.dir, "log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = None
        self.logf.close()
        log = self.log()
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc, log


@pytest.fixture
def milter_server():
    servers = []

    def make(extra="", milter_extra=""):
        s = MilterServer(extra, milter_extra)
        servers.append(s)
        return s
    yield make
    for s in servers:
        rc, log = s.stop()
        assert "ERROR: AddressSanitizer" not in log, log[-3000:]
        assert "runtime error:" not in log, log[-3000:]


MILTERTEST_SCRIPT = """
conn = mt.connect("inet:%(port)d@127.0.0.1")
if conn == nil then error "connect failed" end
if mt.conninfo(conn, "client.example", "192.0.2.7") ~= nil then
  error "conninfo failed" end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error "connect reply" end
if mt.helo(conn, "client.example") ~= nil then error "helo failed" end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error "helo reply" end
mt.macro(conn, SMFIC_MAIL, "i", "QID7")
if mt.mailfrom(conn, "<alice@example.org>") ~= nil then error "mail" end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error "mail reply" end
if mt.rcptto(conn, "<bob@example.net>") ~= nil then error "rcpt" end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error "rcpt reply" end
if mt.header(conn, "From", "alice@example.org") ~= nil then error "hdr" end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error "hdr reply" end
if mt.header(conn, "X-Spam-Flag", "YES") ~= nil then error "hdr2" end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error "hdr2 reply" end
if mt.header(conn, "Subject", "via miltertest") ~= nil then error "hdr3" end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error "hdr3 reply" end
if mt.eoh(conn) ~= nil then error "eoh" end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error "eoh reply" end
if mt.bodystring(conn, "hello\\r\\n") ~= nil then error "body" end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error "body reply" end
if mt.eom(conn) ~= nil then error "eom" end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error "eom reply" end
if not mt.eom_check(conn, MT_HDRINSERT, "Authentication-Results") then
  error "no Authentication-Results inserted" end
if not mt.eom_check(conn, MT_HDRINSERT, "X-Spam-Status") then
  error "no X-Spam-Status inserted" end
if not mt.eom_check(conn, MT_HDRDELETE, "X-Spam-Flag") then
  error "the forged X-Spam-Flag was not deleted" end
mt.disconnect(conn)
mt.echo("miltertest: all checks passed")
"""


def test_postern_milter_with_miltertest(milter_server):
    """Debian's miltertest drives `postern milter` as Postfix would."""
    if not os.access(MILTERTEST, os.X_OK):
        pytest.skip("miltertest not installed")
    m = milter_server()
    script = os.path.join(m.dir, "t.lua")
    with open(script, "w") as f:
        f.write(MILTERTEST_SCRIPT % {"port": m.port})
    r = subprocess.run([MILTERTEST, "-s", script], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr + m.log()[-2000:]
    assert "all checks passed" in r.stdout + r.stderr
    assert "QID7: from=<alice@example.org>, client=192.0.2.7" in m.log()


def test_our_client_against_postern_milter(postern_factory, milter_server):
    """Postern's own milter client drives `postern milter`: the fields
    the milter inserted (with its own authserv-id) reach the mailbox."""
    m = milter_server()
    p = postern_factory(deliver=True, directory=False, extra_conf=f"""
filters = {{ stages = ["milter:pm"]; }};
milter = {{ servers = ["pm=inet:{m.port}@127.0.0.1,timeout=10s"]; }};
""")
    setup_dir(p)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
        s.sendmail("alice@example.org", ["alice@test.example"], MESSAGE)
    raw = show_first(p, "alice@test.example")
    assert b"Authentication-Results: milter.test.example; none" in raw, \
        raw[:2000]
    assert b"Authentication-Results: mx.test.example; none" in raw
    assert raw.count(b"X-Spam-Status: No") == 2


# ---- milters that replace the body and change the envelope ----

SMFIF_ADDHDRS = 0x01
SMFIF_CHGBODY = 0x02
SMFIF_ADDRCPT = 0x04
SMFIF_DELRCPT = 0x08
SMFIF_CHGFROM = 0x40
SMFIF_ADDRCPT_PAR = 0x80
CHANGES = (SMFIF_ADDHDRS | SMFIF_CHGBODY | SMFIF_ADDRCPT | SMFIF_DELRCPT |
           SMFIF_CHGFROM | SMFIF_ADDRCPT_PAR)


class ScriptMilter:
    """A milter written here, speaking the protocol (version 6) on a
    loopback port: it asks for the actions given, answers every step
    with continue, remembers the actions it was offered and the body it
    was sent, and at the end of message sends the packets of its script,
    (command, data) pairs, before its continue."""

    def __init__(self, script, actions=CHANGES):
        self.script = script
        self.actions = actions
        self.offered = None
        self.bodies = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,),
                             daemon=True).start()

    @staticmethod
    def recv(c, n):
        b = b""
        while len(b) < n:
            more = c.recv(n - len(b))
            if not more:
                raise OSError("closed")
            b += more
        return b

    @staticmethod
    def send(c, cmd, data=b""):
        c.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    def serve(self, c):
        body = b""
        with c:
            try:
                while True:
                    hdr = self.recv(c, 5)
                    n = struct.unpack(">I", hdr[:4])[0]
                    cmd, data = hdr[4:5], self.recv(c, n - 1)
                    if cmd == b"O":
                        self.offered = struct.unpack(">I", data[4:8])[0]
                        self.send(c, b"O", struct.pack(">III", 6,
                                                       self.actions, 0))
                    elif cmd in (b"D", b"A"):     # macros, abort
                        continue
                    elif cmd == b"Q":
                        return
                    elif cmd == b"B":
                        body += data
                        self.send(c, b"c")
                    elif cmd == b"E":
                        self.bodies.append(body)
                        body = b""
                        for k, d in self.script:
                            self.send(c, k, d)
                        self.send(c, b"c")
                    else:
                        self.send(c, b"c")
            except OSError:
                return

    def close(self):
        self.sock.close()


def milter_conf(m, fail="", extra=""):
    return f"""
filters = {{ stages = ["milter:t"]; {extra} }};
milter = {{ servers = ["t=inet:{m.port}@127.0.0.1,timeout=10s{fail}"]; }};
"""


# the new body, in two packets as libmilter splits it: bare LF, a line
# that is a dot, lines that start with one, no CRLF at the very end
NEW_BODY = [b"Replaced by the milter.\nline two\r\n.\r\n",
            b"..two dots\r\n.one dot\r\nno newline at the end"]
NEW_BODY_STORED = (b"Replaced by the milter.\r\nline two\r\n.\r\n"
                   b"..two dots\r\n.one dot\r\nno newline at the end\r\n")


def test_milter_replaces_body_and_adds_a_recipient(postern_factory):
    """Delivered straight into the mailboxes: the new body (CRLF, dots
    as they were) for the RCPT TO recipient and for the one the milter
    added; an unknown local address it added is dropped, not bounced."""
    m = ScriptMilter([(b"b", NEW_BODY[0]), (b"b", NEW_BODY[1]),
                      (b"+", b"<bob@test.example>\0"),
                      (b"+", b"<nobody@test.example>\0")])
    try:
        p = postern_factory(deliver=True, directory=False,
                            extra_conf=milter_conf(m))
        setup_dir(p)
        p.cli("user", "add", "bob@test.example", "--no-password")
        with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
            s.sendmail("alice@example.org", ["alice@test.example"], MESSAGE)
        assert m.offered & CHANGES == CHANGES, hex(m.offered)
        assert m.bodies == [b"Hello,\r\nthis goes through OpenDKIM.\r\n"]
        for user in ("alice@test.example", "bob@test.example"):
            raw = show_first(p, user)
            head, body = raw.split(b"\r\n\r\n", 1)
            assert body == NEW_BODY_STORED, raw
            assert b"Subject: signed by the milter\r\n" in head
            assert b"X-Spam-Status: No" in head
        log = p.log()
        assert "milter:t replaced the body (" in log
        assert "<bob@test.example> added as a recipient" in log
        assert "<nobody@test.example> not added: user unknown" in log
        assert "failed" not in log
    finally:
        m.close()


def test_milter_changes_the_envelope_in_the_queue(postern_factory):
    """Held in the queue: the milter's sender, its recipients (one added
    with ESMTP parameters, one deleted with its domain in another case,
    a duplicate and a remote one not added: no relaying for a milter)."""
    m = ScriptMilter([(b"2", b"<c@test.example>\0NOTIFY=NEVER\0"),
                      (b"-", b"<a@TEST.EXAMPLE>\0"),
                      (b"+", b"b@test.example\0"),
                      (b"+", b"<x@remote.example>\0"),
                      (b"e", b"<bounces@example.org>\0"),
                      (b"b", b"short\r\n")])
    try:
        p = postern_factory(extra_conf=milter_conf(m))
        with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
            s.sendmail("alice@example.org",
                       ["a@test.example", "b@test.example"], MESSAGE)
        q = p.queued()
        assert len(q) == 1, q
        msg = spool.load(p.queue_dir, q[0])
        assert msg["sender"] == "bounces@example.org"
        assert msg["rcpts"] == ["b@test.example", "c@test.example"]
        assert msg["content"].endswith(b"\r\n\r\nshort\r\n")
        log = p.log()
        assert "<x@remote.example> not added: relay access denied" in log
        assert "<b@test.example> not added: a recipient already" in log
        assert "<a@TEST.EXAMPLE> removed as a recipient" in log
        assert 'ignoring ESMTP parameters "NOTIFY=NEVER"' in log
        assert "from=<alice@example.org> changed by milter:t" in log
        assert "from=<bounces@example.org>, size=" in log
    finally:
        m.close()


def test_milter_removes_every_recipient(postern_factory):
    """No recipient left: accepted and dropped, as a discard."""
    m = ScriptMilter([(b"-", b"<a@test.example>\0")])
    try:
        p = postern_factory(extra_conf=milter_conf(m))
        with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
            s.sendmail("alice@example.org", ["a@test.example"], MESSAGE)
        assert p.queued() == []
        assert "the filters removed every recipient" in p.log()
    finally:
        m.close()


@pytest.mark.parametrize("case", ["too-big", "not-negotiated"])
def test_milter_body_failures(postern_factory, case):
    """A body over filters.max_scan_size, or one the milter did not ask
    to send: the milter is broken, its fail action applies (accept: the
    message as it was, with the symbol), its other changes are undone."""
    if case == "too-big":
        m = ScriptMilter([(b"+", b"<c@test.example>\0"),
                          (b"b", b"x" * 60000 + b"\r\n"),
                          (b"b", b"y" * 10000 + b"\r\n")])
    else:
        m = ScriptMilter([(b"+", b"<c@test.example>\0"),
                          (b"b", b"new\r\n")],
                         actions=CHANGES & ~SMFIF_CHGBODY)
    try:
        p = postern_factory(extra_conf=milter_conf(
            m, ",fail=accept", 'max_scan_size = "64K";'))
        with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
            s.sendmail("alice@example.org", ["a@test.example"], MESSAGE)
        q = p.queued()
        assert len(q) == 1, q
        msg = spool.load(p.queue_dir, q[0])
        assert msg["rcpts"] == ["a@test.example"]
        assert msg["content"].endswith(MESSAGE.split(b"\r\n\r\n", 1)[1])
        assert b"MILTER_T_ERROR=0.0" in msg["content"]
        log = p.log()
        assert "stage milter:t failed" in log
        if case == "too-big":
            assert "milter:t: the new body is over 65536 bytes" in log
        else:
            assert "made a change it did not negotiate" in log
    finally:
        m.close()


def test_postern_milter_passes_changes_on(postern_factory, milter_server):
    """`postern milter` with a milter as its stage, in front of Postern's
    own client: the body and recipient its milter changed are passed on
    through libmilter (smfi_replacebody, smfi_addrcpt) and stored."""
    m = ScriptMilter([(b"b", NEW_BODY[0]), (b"b", NEW_BODY[1]),
                      (b"+", b"<c@test.example>\0")])
    try:
        pm = milter_server(
            extra='filters = { stages = ["milter:t"]; };',
            milter_extra=f'servers = ["t=inet:{m.port}@127.0.0.1"];')
        p = postern_factory(extra_conf=f"""
filters = {{ stages = ["milter:pm"]; }};
milter = {{ servers = ["pm=inet:{pm.port}@127.0.0.1,timeout=10s"]; }};
""")
        with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
            s.sendmail("alice@example.org", ["a@test.example"], MESSAGE)
        # what `postern milter` offered its milter: what we offered it
        assert m.offered & CHANGES == CHANGES, hex(m.offered)
        q = p.queued()
        assert len(q) == 1, q
        msg = spool.load(p.queue_dir, q[0])
        assert msg["rcpts"] == ["a@test.example", "c@test.example"]
        assert msg["content"].endswith(b"\r\n\r\n" + NEW_BODY_STORED), \
            msg["content"][-300:]
        assert "milter:pm replaced the body (" in p.log()
    finally:
        m.close()


def test_lmtp_milter_may_replace_the_body_only(postern_factory):
    """LMTP answers once per RCPT: a milter there (filters.lmtp) is
    offered the body but no envelope change, and its body is stored."""
    m = ScriptMilter([(b"b", b"new body over LMTP\n")])
    port = free_port()
    try:
        p = postern_factory(deliver=True, directory=False, extra_conf=(
            milter_conf(m, extra="lmtp = true;") +
            'lmtp = { listen = [ "127.0.0.1:%d" ]; };' % port))
        setup_dir(p)
        with smtplib.LMTP("127.0.0.1", port, timeout=20) as s:
            s.sendmail("alice@example.org", ["alice@test.example"], MESSAGE)
        assert m.offered & SMFIF_CHGBODY
        assert m.offered & (SMFIF_ADDRCPT | SMFIF_DELRCPT | SMFIF_CHGFROM |
                            SMFIF_ADDRCPT_PAR) == 0, hex(m.offered)
        raw = show_first(p, "alice@test.example")
        assert raw.endswith(b"\r\n\r\nnew body over LMTP\r\n"), raw
    finally:
        m.close()
