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
        assert b"MILTER_BAD_FAIL=0.0" in raw
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
