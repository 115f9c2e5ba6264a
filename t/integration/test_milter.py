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
    """`postern milter` on a loopback port, with its own data dir."""

    def __init__(self, extra=""):
        self.dir = tempfile.mkdtemp(prefix="postern-milter-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "p.conf")
        with open(self.conf, "w") as f:
            f.write(f"""
server = {{ data_dir = "{self.dir}/var"; hostname = "milter.test.example"; }};
milter = {{ listen = "inet:{self.port}@127.0.0.1"; }};
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

    def make(extra=""):
        s = MilterServer(extra)
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
