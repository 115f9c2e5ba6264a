"""A real DNS server for integration tests: dnsmasq on a free 127.0.0.1
port, answering only from the records the test gives.  The twin of
t/unit/dns_fixture.h (same zones, same tricks), for pytest.

    with DnsFix('txt-record=a.test,"v=spf1 -all"\\n'
                'host-record=mx.test,192.0.2.1\\n') as dns:
        ... configure postern with dns.forwarder ("127.0.0.1@PORT") ...
        dns.restart('...new records...')      # same port
        rcode, rdatas = dns.query("a.test", "TXT")

or the pytest fixture `dns_server` (import it into the test module, or
into conftest.py to have it everywhere): a started DnsFix with no records;
call .restart(records) to give it some.

`records` are dnsmasq configuration lines: txt-record=, host-record=,
mx-host=, ptr-record=, cname=, address=, srv-host=, dns-rr=NAME,TYPE,HEX
(any rdata, e.g. a null MX "dns-rr=x.test,15,000000").  One line may not
be longer than about 1000 characters (dnsmasq's limit); a long TXT
string is cut into character-strings of 255 by dnsmasq itself.

What the fixture adds around them:
  - no upstream servers (no-resolv, no-hosts, only the two server= lines
    below): nothing leaves 127.0.0.1, a name outside the local zones is
    REFUSED;
  - local zones test, in-addr.arpa, ip6.arpa: a name there without records
    is NXDOMAIN, a name with records of other types NODATA;
  - SERVFAIL_ZONE (servfail.test) is forwarded to a UDP socket of the
    fixture that answers every query with RCODE SERVFAIL, which dnsmasq
    passes on: a real SERVFAIL on the wire;
  - TIMEOUT_ZONE (timeout.test) is forwarded to a bound UDP socket nobody
    reads (a black hole): no answer ever comes; blackhole_forwarder is
    that socket itself, a forwarder that never answers anything;
  - local-ttl=TTL, cache-size=0: dnsmasq caches nothing;
  - dnsmasq runs in the foreground (--keep-in-foreground; not
    --no-daemon, which answers TCP in the main process and stalls for a
    minute on a resolver that keeps its TCP connection open), as root
    when run as root (user=root), in a session of its own; the test
    process is made a subreaper so that the processes dnsmasq forks per
    TCP connection are reaped too when it stops (they ignore SIGTERM);
  - TXT dnsfix-probe.test holding .dir: how the fixture knows the server
    on its port is its own (tests running in parallel).
Resolvers must be told to send test., in-addr.arpa and friends to the
server at all (libunbound answers test. itself): Postern's dns options
have forward_special_zones for that.
"""
import ctypes
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

DNSMASQ = "/usr/sbin/dnsmasq"
SERVFAIL_ZONE = "servfail.test"
TIMEOUT_ZONE = "timeout.test"
TTL = 60

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15,
         "TXT": 16, "AAAA": 28, "SRV": 33, "TLSA": 52}


def _udp_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


class _ServfailServer(threading.Thread):
    """Answers each query with its own header and question, QR and RA set,
    RCODE 2, no records."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = _udp_socket()
        self.port = self.sock.getsockname()[1]
        self.stop_r, self.stop_w = os.pipe()

    def run(self):
        while True:
            r, _, _ = select.select([self.sock, self.stop_r], [], [])
            if self.stop_r in r:
                return
            q, peer = self.sock.recvfrom(4096)
            if len(q) < 12 or q[2] & 0x80 or q[4:6] != b"\0\1":
                continue
            end = 12
            while end < len(q) and 0 < q[end] < 64:
                end += q[end] + 1
            end += 5            # root label, QTYPE, QCLASS
            if end > len(q):
                continue
            flags = bytes([0x80 | (q[2] & 0x79), 0x80 | 2])
            self.sock.sendto(q[:2] + flags + b"\0\1" + b"\0" * 6 + q[12:end],
                             peer)

    def stop(self):
        os.write(self.stop_w, b"x")
        self.join(5)
        for fd in (self.stop_r, self.stop_w):
            os.close(fd)
        self.sock.close()


def _encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def _skip_name(msg, off):
    while True:
        n = msg[off]
        if n & 0xc0 == 0xc0:
            return off + 2
        off += n + 1
        if n == 0:
            return off


def query(port, name, qtype, timeout=2.0, tcp=False):
    """One query to 127.0.0.1:port over UDP (or TCP): (rcode, [rdata
    bytes of the answer records of that type]); (None, []) when no answer
    came in time."""
    qtype = TYPES.get(qtype, qtype)
    qid = int.from_bytes(os.urandom(2), "big")
    msg = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + \
        _encode_name(name) + struct.pack(">HH", qtype, 1)
    try:
        if tcp:
            with socket.create_connection(("127.0.0.1", port), timeout) as s:
                s.sendall(struct.pack(">H", len(msg)) + msg)
                r = b""
                while len(r) < 2 or len(r) < 2 + struct.unpack(">H", r[:2])[0]:
                    chunk = s.recv(65536)
                    if not chunk:
                        return None, []
                    r += chunk
                r = r[2:]
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(timeout)
                s.sendto(msg, ("127.0.0.1", port))
                while True:
                    r = s.recv(65535)
                    if len(r) >= 12 and r[:2] == msg[:2]:
                        break
    except socket.timeout:
        return None, []
    flags, qd, an = struct.unpack(">HHH", r[2:8])
    off = 12
    for _ in range(qd):
        off = _skip_name(r, off) + 4
    rdatas = []
    for _ in range(an):
        off = _skip_name(r, off)
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", r[off:off + 10])
        off += 10
        if rtype == qtype:
            rdatas.append(r[off:off + rdlen])
        off += rdlen
    return flags & 0xf, rdatas


def _become_subreaper():
    """prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants (dnsmasq's TCP
    children once it stopped) become our children, so we can reap them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)          # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


class DnsFix:
    """dnsmasq on 127.0.0.1:.port answering from `records`; see the module
    docstring.  .forwarder and .blackhole_forwarder are "127.0.0.1@PORT"
    strings for Postern's dns forwarders option."""

    def __init__(self, records="", dir=None):
        _become_subreaper()
        self.records = records
        self.dir = dir or tempfile.mkdtemp(prefix="postern-dnsfix-")
        self.proc = None
        self.port = None
        self.blackhole = _udp_socket()
        self.blackhole_port = self.blackhole.getsockname()[1]
        self.blackhole_forwarder = "127.0.0.1@%d" % self.blackhole_port
        self.servfail = _ServfailServer()
        self.servfail.start()

    @property
    def forwarder(self):
        return "127.0.0.1@%d" % self.port

    def _conf(self):
        lines = [
            "port=%d" % self.port, "listen-address=127.0.0.1",
            "bind-interfaces", "no-resolv", "no-hosts", "no-poll",
            "pid-file=", "log-facility=%s" % os.path.join(self.dir, "dnsmasq.log"),
            "log-queries", "cache-size=0", "local-ttl=%d" % TTL,
            "local=/test/", "local=/in-addr.arpa/", "local=/ip6.arpa/",
            "server=/%s/127.0.0.1#%d" % (SERVFAIL_ZONE, self.servfail.port),
            "server=/%s/127.0.0.1#%d" % (TIMEOUT_ZONE, self.blackhole_port),
        ]
        # what _spawn asks: the answer proves the server is ours
        lines.append('txt-record=dnsfix-probe.test,"%s"' % self.dir)
        if os.geteuid() == 0:
            lines.append("user=root")   # nothing here is for "nobody"
        path = os.path.join(self.dir, "dnsmasq.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n" + self.records + "\n")
        return path

    def _spawn(self):
        conf = self._conf()
        out = open(os.path.join(self.dir, "dnsmasq.out"), "ab")
        try:
            self.proc = subprocess.Popen(
                [DNSMASQ, "--keep-in-foreground", "--conf-file=" + conf],
                stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                start_new_session=True)
        finally:
            out.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            rcode, txt = query(self.port, "dnsfix-probe.test", "TXT", 0.1)
            if rcode == 0 and txt and self.dir.encode() in txt[0]:
                return True
        self._kill()
        return False

    def _kill(self):
        if self.proc is None:
            return
        pgid = self.proc.pid
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        # the TCP children: orphans now, ours as subreaper
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
        while True:
            try:
                os.waitpid(-pgid, 0)
            except ChildProcessError:
                break
            except InterruptedError:
                continue

    def start(self):
        """Start on a free port; tries again if another process took it."""
        for _ in range(5):
            s = _udp_socket()
            self.port = s.getsockname()[1]
            s.close()
            if self._spawn():
                return self
        text = self.output()
        self.stop()
        raise RuntimeError("dnsmasq did not start:\n" + text)

    def restart(self, records=None):
        """dnsmasq again on the same port, with new records if given."""
        if records is not None:
            self.records = records
        self._kill()
        for _ in range(5):
            if self._spawn():
                return self
        raise RuntimeError("dnsmasq did not restart:\n" + self.output())

    def query(self, name, qtype, timeout=2.0, tcp=False):
        return query(self.port, name, qtype, timeout, tcp)

    def output(self):
        """dnsmasq's own messages and its query log."""
        text = ""
        for f in ("dnsmasq.out", "dnsmasq.log"):
            p = os.path.join(self.dir, f)
            if os.path.exists(p):
                with open(p, "rb") as fh:
                    text += fh.read().decode("utf-8", "replace")
        return text

    def stop(self):
        self._kill()
        if self.servfail is not None:
            self.servfail.stop()
            self.servfail = None
        if self.blackhole is not None:
            self.blackhole.close()
            self.blackhole = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


@pytest.fixture
def dns_server():
    """A started DnsFix with no records; .restart(records) gives some."""
    d = DnsFix().start()
    yield d
    d.stop()
