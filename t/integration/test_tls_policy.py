"""The outbound TLS policy end to end (mta/smtp_tlspolicy.h applied by
the SMTP client): a real Postern delivers to a real TLS peer on
127.0.0.1 (smtpsink.py, its certificate chosen by the test), routed by a
real DNS server and, for MTA-STS, a real HTTPS server; nothing mocked.

The helpers are t/unit/tlspolicy_fx.py's, the same the module's unit test
runs against:
  - certificates: a test CA ("ca", trusted: smtp_client.tls_ca_file) and
    an untrusted one ("evil"), leaves for the names the tests need;
  - DNS: unbound serving dane.test signed with fresh keys (ldns-signzone;
    its DS is Postern's dns.trust_anchor) and sts.test unsigned, both
    written per test, since a TLSA name holds the sink's port;
  - MTA-STS: an HTTPS server with a certificate of the test CA serving
    the policy of sts.test (tls_policy.mta_sts_port is its port).

What is proven, per requirement of the policy:
  - MTA-STS enforce: a peer whose certificate does not verify (unknown
    CA, then the wrong name) gets no mail and never a MAIL command in
    cleartext: deferred 4.7.5 with the reason; once it presents a good
    certificate the next retry delivers, over TLS, "Verified".
  - DANE: a TLSA 3 1 1 record that matches the peer's key delivers
    ("dane: DANE-EE(3) 1 1 matched"); one that does not defers 4.7.5 and
    the connection the first delivery left in the cache is not reused
    for the other host; a TLSA RRset whose signature is broken (bogus)
    defers before any connection; a relay named "[mx.dane.test]" gets
    DANE from its secure address lookup.
  - A peer that does not offer STARTTLS: deferred (4.7.4) where a policy
    requires TLS (DANE, MTA-STS enforce), delivered in cleartext under
    the default opportunistic policy (no TLSA, no MTA-STS policy).
"""
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import pytest

import dnsfix
from conftest import ROOT
from smtpsink import SmtpSink

FX = os.path.join(ROOT, "t", "unit", "tlspolicy_fx.py")
SENDER = "alice@test.example"
STS_POLICY = ("version: STSv1\nmode: enforce\nmx: mx.sts.test\n"
              "max_age: 86400\n")


def _wait_file(path, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                text = f.read().strip()
            if text:
                return text
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError("%s never came (helper exited %s)"
                       % (path, proc.poll()))


def _stop(proc):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except OSError:
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class Pki:
    """The certificates and the MTA-STS HTTPS server, once per module."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="postern-tlsp-")
        os.chmod(self.dir, 0o755)     # read by the server's user
        subprocess.run(
            [sys.executable, FX, "certs", self.dir,
             "https:ca:mta-sts.sts.test",
             "good:ca:mx.sts.test,mx.dane.test,mxbad.dane.test",
             "evil:evil:mx.sts.test", "wrong:ca:other.test"],
            check=True, capture_output=True)
        for f in os.listdir(self.dir):
            os.chmod(os.path.join(self.dir, f), 0o644)
        policy = os.path.join(self.dir, "www", "mta-sts.sts.test",
                              ".well-known")
        os.makedirs(policy)
        with open(os.path.join(policy, "mta-sts.txt"), "w") as f:
            f.write(STS_POLICY)
        out = open(os.path.join(self.dir, "https.out"), "ab")
        self.https = subprocess.Popen(
            [sys.executable, FX, "https", self.dir, self.path("https.crt"),
             self.path("https.key")], stdout=out, stderr=out,
            start_new_session=True)
        out.close()
        self.https_port = int(_wait_file(self.path("https.port"),
                                         self.https))

    def path(self, name):
        return os.path.join(self.dir, name)

    def spki(self, name):
        with open(self.path(name + ".spki256")) as f:
            return f.read().strip()

    def ctx(self, name):
        """A server context presenting leaf `name` and its CA."""
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        c.load_cert_chain(self.path(name + ".chain"), self.path(name + ".key"))
        return c

    def policy_fetches(self):
        try:
            with open(self.path("requests.log")) as f:
                return f.read().count("mta-sts.sts.test ")
        except OSError:
            return 0

    def stop(self):
        _stop(self.https)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pki():
    p = Pki()
    yield p
    p.stop()


class SignedDns:
    """unbound with dane.test (signed; the TLSA records of `port`) and
    sts.test (unsigned) on a free 127.0.0.1 port; .forwarder and .ta (the
    trust anchor file) for Postern's dns group.  tamper: the owner name
    whose TLSA signature is broken (bogus)."""

    def __init__(self, pki, port):
        self.dir = tempfile.mkdtemp(prefix="postern-tlsp-dns-")
        os.chmod(self.dir, 0o755)
        good, wrong = pki.spki("good"), pki.spki("wrong")
        with open(os.path.join(self.dir, "dane.test.zone"), "w") as f:
            f.write(f"""$ORIGIN dane.test.
$TTL 60
@ SOA ns.dane.test. h.dane.test. 1 3600 600 86400 60
@ NS ns
ns A 127.0.0.1
@ MX 10 mx
mx A 127.0.0.1
_{port}._tcp.mx TLSA 3 1 1 {good}
bad MX 10 mxbad
mxbad A 127.0.0.1
_{port}._tcp.mxbad TLSA 3 1 1 {wrong}
bogus MX 10 mxbogus
mxbogus A 127.0.0.1
_{port}._tcp.mxbogus TLSA 3 1 1 {good}
notlsa MX 10 mxn
mxn A 127.0.0.1
""")
        with open(os.path.join(self.dir, "sts.test.zone"), "w") as f:
            f.write("""$ORIGIN sts.test.
$TTL 60
@ SOA ns.sts.test. h.sts.test. 1 3600 600 86400 60
@ NS ns
ns A 127.0.0.1
@ MX 10 mx
mx A 127.0.0.1
_mta-sts TXT "v=STSv1; id=1"
mta-sts A 127.0.0.1
opp MX 10 mx
""")
        out = open(os.path.join(self.dir, "helper.out"), "ab")
        self.proc = subprocess.Popen(
            [sys.executable, FX, "dnssec", self.dir, "dane.test", "sts.test",
             "_%d._tcp.mxbogus.dane.test." % port],
            cwd=ROOT, stdout=out, stderr=out, start_new_session=True)
        out.close()
        self.port = int(_wait_file(os.path.join(self.dir, "unbound.port"),
                                   self.proc))
        self.forwarder = "127.0.0.1@%d" % self.port
        self.ta = os.path.join(self.dir, "ta.ds")
        os.chmod(self.ta, 0o644)
        # signing the zones and starting unbound take long on a loaded
        # machine (the sanitizer run): a minute before giving up
        deadline = time.time() + 60
        while time.time() < deadline:
            rcode, _ = dnsfix.query(self.port, "dane.test", "SOA", 0.2)
            if rcode == 0:
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("unbound did not answer")

    def stop(self):
        _stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def signed_dns(pki):
    made = []

    def make(port):
        d = SignedDns(pki, port)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()


def server(postern_factory, pki, dns, port, smtp_client=""):
    """A Postern delivering outbound mail to 127.0.0.1:port by MX, its
    TLS policy on (the default level, auto) over the signed DNS."""
    conf = ('log = { level = "debug"; };\n'
            'dns = { servers = [ "%s" ]; forward_special_zones = true; '
            'timeout = "2s"; trust_anchor = "%s"; };\n'
            'tls_policy = { mta_sts_port = %d; mta_sts_timeout = "5s"; };\n'
            'smtp_client = { port = %d; tls_ca_file = "%s"; '
            'connect_timeout = "2s"; helo_timeout = "2s"; '
            'mail_timeout = "2s"; data_init_timeout = "2s"; '
            'data_xfer_timeout = "2s"; data_done_timeout = "2s"; %s };\n'
            % (dns.forwarder, dns.ta, pki.https_port, port,
               pki.path("ca.crt"), smtp_client))
    return postern_factory(outbound=True, deliver=True, stages=[],
                           extra_conf=conf,
                           queue_extra='min_backoff = "1s"; '
                           'max_backoff = "1s";')


def message(subject):
    return ("From: Alice <%s>\r\nTo: someone@elsewhere.test\r\n"
            "Subject: %s\r\nMessage-ID: <%s@test.example>\r\n\r\n"
            "secret\r\n" % (SENDER, subject, subject)).encode()


def send_to(p, subject, *targets):
    """Mail through a local alias forwarding to targets (port 25 relays
    only for smtp.relay_networks, which these tests leave empty)."""
    name = "out-%s@test.example" % subject
    p.cli("alias", "add", name, *targets)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
        s.sendmail(SENDER, [name], message(subject))


def wait_log(p, pattern, timeout=30, count=1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(re.findall(pattern, p.log())) >= count:
            return
        time.sleep(0.05)
    raise AssertionError("no %r (x%d) in the log:\n%s"
                         % (pattern, count, p.log()[-6000:]))


def mail_commands(sink):
    """Sessions in which the transaction began: (tls, verbs)"""
    out = []
    for sess in sink.sessions:
        verbs = [c.split(" ")[0].upper() for c in sess["commands"]]
        if any(v in ("MAIL", "RCPT", "DATA", "BDAT") for v in verbs):
            out.append((sess["tls"], verbs))
    return out


def delivered_to(sink, addr):
    return [m for m in sink.messages if addr in m.rcpt_addrs]


def test_mta_sts_enforce(postern_factory, pki, signed_dns):
    """sts.test publishes an enforce policy for mx.sts.test.  Its MX
    presents a certificate of an unknown CA, then one of our CA for
    another name: each time deferred (4.7.5), the reason logged, no MAIL
    ever sent, no cleartext retry.  With a good certificate the next
    retry delivers over TLS."""
    with SmtpSink(tls=True, name="mx.sts.test") as sink:
        sink.ctx = pki.ctx("evil")
        dns = signed_dns(sink.port)
        fetched = pki.policy_fetches()
        p = server(postern_factory, pki, dns, sink.port)
        send_to(p, "sts", "bob@sts.test")
        relay = r"mx\.sts\.test\[127\.0\.0\.1\]:%d" % sink.port
        wait_log(p, r"to=<bob@sts.test>, relay=%s, .*dsn=4\.7\.5, "
                 r"status=deferred \(server certificate not verified for "
                 r"%s \(TLS policy mta-sts, verify\): the certificate of "
                 r"mx\.sts\.test is not verified \(mta-sts\): [a-z -]*"
                 r"certificate[a-z -]*\)" % (relay, relay))
        assert pki.policy_fetches() > fetched        # fetched over HTTPS
        sink.ctx = pki.ctx("wrong")
        wait_log(p, r"to=<bob@sts.test>, .*dsn=4\.7\.5, status=deferred "
                 r"\(server certificate not verified .*hostname mismatch")
        assert not sink.messages and not mail_commands(sink), \
            sink.sessions
        assert all(s["commands"][:2] == ["EHLO mx.test.example",
                                         "STARTTLS"]
                   for s in sink.sessions), sink.sessions
        assert "without TLS" not in p.log()
        assert p.queued()

        sink.ctx = pki.ctx("good")
        assert sink.wait_messages(1), p.log()[-6000:]
        m = sink.messages[0]
        assert m.tls and m.rcpt_addrs == ["bob@sts.test"]
        assert all(tls for tls, _ in mail_commands(sink))
        wait_log(p, r"Verified TLS connection established to %s" % relay)
        wait_log(p, r"TLS with %s: mta-sts: certificate verified for "
                 r"mx\.sts\.test" % relay)
        wait_log(p, r"to=<bob@sts.test>, relay=%s, .*status=sent" % relay)
        # the policy came from the cache for the retries
        assert pki.policy_fetches() == fetched + 1


def test_dane(postern_factory, pki, signed_dns):
    """dane.test's MX has a TLSA 3 1 1 record of the peer's key:
    delivered, DANE-authenticated.  bad.dane.test's MX (the same address)
    has the record of another key: deferred, and the connection kept
    from the first delivery is not reused for it.  A relay "[host]" with
    a secure address lookup gets DANE too.  A bogus TLSA RRset defers
    with no connection."""
    with SmtpSink(tls=True, name="mx.dane.test") as sink:
        sink.ctx = pki.ctx("good")
        dns = signed_dns(sink.port)
        p = server(postern_factory, pki, dns, sink.port, smtp_client=(
            'cache_idle_time = "30s"; domains = [ '
            '"viagood.test=[mx.dane.test]", "viabad.test=[mxbad.dane.test]"'
            ' ];'))
        relay = r"mx\.dane\.test\[127\.0\.0\.1\]:%d" % sink.port
        send_to(p, "dane1", "bob@dane.test")
        assert sink.wait_messages(1), p.log()[-6000:]
        wait_log(p, r"Verified TLS connection established to %s" % relay)
        wait_log(p, r"TLS with %s: dane: DANE-EE\(3\) 1 1 matched at "
                 r"depth 0" % relay)
        wait_log(p, r"to=<bob@dane.test>, relay=%s, .*status=sent" % relay)
        assert sink.connections == 1

        send_to(p, "dane2", "eve@bad.dane.test", "carol@viagood.test",
                "dave@viabad.test", "zed@bogus.dane.test")
        badrelay = r"mxbad\.dane\.test\[127\.0\.0\.1\]:%d" % sink.port
        wait_log(p, r"to=<eve@bad.dane.test>, relay=%s, .*dsn=4\.7\.5, "
                 r"status=deferred \(server certificate not verified for "
                 r"%s \(TLS policy dane, dane\): DANE authentication of "
                 r"mxbad\.dane\.test failed: " % (badrelay, badrelay))
        wait_log(p, r"to=<dave@viabad.test>, relay=%s, .*dsn=4\.7\.5, "
                 r"status=deferred \(server certificate not verified"
                 % badrelay)
        wait_log(p, r"to=<zed@bogus.dane.test>, relay=smtp, .*dsn=4\.7\.5, "
                 r"status=deferred \(TLS policy of bogus\.dane\.test "
                 r"allows none of its MX hosts: TLSA lookup of _%d\._tcp\."
                 r"mxbogus\.dane\.test failed" % sink.port)
        assert sink.wait_messages(2), p.log()[-6000:]
        wait_log(p, r"to=<carol@viagood.test>, relay=%s, .*status=sent"
                 % relay)
        assert [m.rcpt_addrs for m in sink.messages] == [
            ["bob@dane.test"], ["carol@viagood.test"]]
        assert all(m.tls for m in sink.messages)
        assert not delivered_to(sink, "eve@bad.dane.test")
        assert not delivered_to(sink, "dave@viabad.test")
        assert all(tls for tls, _ in mail_commands(sink))
        # mxbad failed in a session of its own: the cached one was not
        # taken for it
        assert sink.connections >= 2


def test_no_starttls(postern_factory, pki, signed_dns):
    """A peer that does not offer STARTTLS: where a policy requires TLS
    (DANE at mx.dane.test, MTA-STS enforce at sts.test) deferred 4.7.4
    and no MAIL command; under the default opportunistic policy (a
    signed zone without TLSA, a domain without MTA-STS) delivered in
    cleartext."""
    with SmtpSink(tls=False, name="mx.dane.test") as sink:
        dns = signed_dns(sink.port)
        p = server(postern_factory, pki, dns, sink.port)
        send_to(p, "plain", "bob@dane.test", "carol@sts.test",
                "dave@notlsa.dane.test", "erin@opp.sts.test")
        for rcpt, host in (("bob@dane.test", r"mx\.dane\.test"),
                           ("carol@sts.test", r"mx\.sts\.test")):
            wait_log(p, r"to=<%s>, relay=%s\[127\.0\.0\.1\]:%d, .*"
                     r"dsn=4\.7\.4, status=deferred \(TLS is required, but "
                     r"was not offered by host %s"
                     % (rcpt, host, sink.port, host))
        assert sink.wait_messages(2), p.log()[-6000:]
        for rcpt in ("dave@notlsa.dane.test", "erin@opp.sts.test"):
            wait_log(p, r"to=<%s>, .*status=sent" % rcpt)
            assert [m.tls for m in delivered_to(sink, rcpt)] == [False]
        assert not delivered_to(sink, "bob@dane.test")
        assert not delivered_to(sink, "carol@sts.test")
        for _, verbs in mail_commands(sink):
            assert verbs[0] in ("EHLO", "HELO")
        assert len(sink.messages) == 2
