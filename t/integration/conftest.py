"""Fixtures for integration tests: a real `postern serve` on loopback.

Each test that asks for `postern` gets a fresh server in a temporary
directory, listening on a free 127.0.0.1 port, with its own spool.  At
teardown the server is stopped with SIGTERM; it must exit 0 and its log
must hold no sanitizer report, so a crash or a leak fails the test.
"""
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("POSTERN_BIN", os.path.join(ROOT, "build", "postern"))

SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|postern/panic")


_ports_given = set()


def free_port():
    """A port nothing listens on now, and never one this run handed out
    before: the kernel may offer a port again once it is closed, and two
    listeners of one server must not get the same one."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def ensure_user():
    """As root the server drops to user `postern`; make sure it exists."""
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam("postern")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell",
                        "/usr/sbin/nologin", "postern"], check=True)


class Postern:
    """A running server: .port, .dir, .queue_dir, .log(), .stop()."""

    def __init__(self, extra_conf="", smtp_extra="", port=None, dir=None,
                 listen=None, deliver=False, queue_extra="", directory=True,
                 stages=None, submission=None, outbound=False,
                 host="127.0.0.1", imap=None, jmap=None):
        """deliver=False holds the local transport (the SMTP and queue
        tests look at the spool); directory=True makes the domains
        test.example and example.org, the account u@test.example and
        catch-alls of both domains to it, so any recipient there is
        accepted.  stages=None runs the default filter stages (skipped
        for our loopback client, but the message gets
        Authentication-Results and X-Spam-Status, and up to
        filters.max_scan_size stays in memory); a list is written as
        filters.stages, [] for none: a test that compares the stored
        bytes with what it sent.  submission=None turns the submission
        listeners (587/465 by default) off; a string is the body of the
        submission group (imap=None turns the IMAP listeners, 143/993
        by default, off the same way; a string is the imap group's
        body; jmap=None likewise for the JMAP listeners, 443 by
        default).  outbound=False holds the smtp transport (mail
        for other domains stays queued); the outbound tests
        (test_outbound.py) give their own DNS and smtp_client group.
        host is the loopback address of the port-25 listener (another
        one, 127.0.0.2, for a second instance on the same port); a
        listen= list must include host:port, where start() checks."""
        ensure_user()
        if stages is not None:
            assert "filters" not in extra_conf, "stages= or a filters group"
            extra_conf = "filters = { stages = [ %s ]; };\n%s" % (
                ", ".join('"%s"' % st for st in stages),
                extra_conf or 'log = { level = "debug"; };')
        self.dir = dir or tempfile.mkdtemp(prefix="postern-it-")
        os.chmod(self.dir, 0o755)
        self.host = host
        self.port = port or free_port()
        self.data_dir = os.path.join(self.dir, "var")
        self.queue_dir = os.path.join(self.data_dir, "queue")
        self.conf = os.path.join(self.dir, "postern.conf")
        self.logfile = os.path.join(self.dir, "postern.log")
        listen = listen or ["%s:%d" % (host, self.port)]
        holds = ([] if deliver else ["local"]) + ([] if outbound else ["smtp"])
        hold = ("hold_transports = [ %s ];" % ", ".join(
            '"%s"' % h for h in holds)) if holds and \
            "hold_transports" not in queue_extra else ""
        with open(self.conf, "w") as f:
            f.write(f"""
server = {{
  hostname = "mx.test.example";
  data_dir = "{self.data_dir}";
  io_threads = 2;
  job_threads = 8;
}}
smtp = {{
  listen = [ {", ".join('"%s"' % a for a in listen)} ];
  local_domains = [ "test.example", "example.org" ];
  {smtp_extra}
}}
submission = {{
  {submission if submission is not None else 'listen = []; listen_tls = [];'}
}}
imap = {{
  {imap if imap is not None else 'listen = []; listen_tls = [];'}
}}
jmap = {{
  {jmap if jmap is not None else 'listen = []; listen_tls = [];'}
}}
queue = {{
  {hold}
  {queue_extra}
}}
{extra_conf or 'log = { level = "debug"; };'}
""")
        self.proc = None
        if directory and not dir:
            for cmd in (["domain", "add", "test.example"],
                        ["domain", "add", "example.org"],
                        ["user", "add", "u@test.example", "--no-password"],
                        ["alias", "add", "@test.example", "u@test.example"],
                        ["alias", "add", "@example.org", "u@test.example"]):
                self.cli(*cmd)
        self.start()

    def start(self):
        self.logf = open(self.logfile, "ab")
        self.proc = subprocess.Popen([BIN, "-c", self.conf, "serve"],
                                     stdout=self.logf, stderr=self.logf)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("postern exited at start:\n" + self.log())
            try:
                with socket.create_connection((self.host, self.port), 0.2) as s:
                    s.settimeout(5)
                    # any greeting: a filter may refuse clients (421/554)
                    if re.match(rb"[245]\d\d[ -]", s.recv(512)):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("postern did not start:\n" + self.log())

    def log(self):
        with open(self.logfile, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM):
        """Stop the server; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("postern did not stop on signal %d" % sig)
        finally:
            self.logf.close()
            self.proc = None
        return rc

    def kill(self):
        """SIGKILL, as a crash would."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.logf.close()
            self.proc = None

    def queued(self):
        """Queue IDs of committed messages."""
        d = os.path.join(self.queue_dir, "msg")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def cli(self, *args, check=True):
        return subprocess.run([BIN, "-c", self.conf] + list(args),
                              capture_output=True, text=True, check=check,
                              timeout=60)


class CLI:
    """`postern -c CONF ...` against a fresh data_dir of its own, no
    server: c("user", "add", ...) returns the CompletedProcess with text
    stdout/stderr; check=N asserts the exit status."""

    def __init__(self, conf_extra="", prefix="postern-cli-"):
        ensure_user()
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
        os.chmod(self.tmp, 0o755)     # the CLI runs as user postern
        self.conf = self.tmp / "p.conf"
        self.conf.write_text(
            'server = { data_dir = "%s"; hostname = "mx.test.example"; };\n%s'
            % (self.tmp / "var", conf_extra))

    def __call__(self, *args, stdin=None, check=None):
        r = self.raw(*args, stdin=stdin)
        r.stdout = r.stdout.decode("utf-8", "replace")
        r.stderr = r.stderr.decode("utf-8", "replace")
        if check is not None:
            assert r.returncode == check, (args, r.stdout, r.stderr)
        return r

    def raw(self, *args, stdin=None):
        return subprocess.run([BIN, "-c", str(self.conf)] + [str(a) for a in args],
                              input=stdin, capture_output=True, timeout=120)

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture
def postern_factory():
    servers = []

    def make(**kw):
        p = Postern(**kw)
        servers.append(p)
        return p

    yield make
    for p in servers:
        rc = p.stop()
        log = p.log()
        m = SANITIZER_RE.search(log)
        assert m is None, "sanitizer or panic report in the server log:\n" + log[-4000:]
        assert rc in (0, None), "postern exited %s:\n%s" % (rc, log[-4000:])
        shutil.rmtree(p.dir, ignore_errors=True)


@pytest.fixture
def postern(postern_factory):
    return postern_factory()
