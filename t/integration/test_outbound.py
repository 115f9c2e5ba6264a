"""The outbound SMTP transport (mta/smtp_client.h) end to end, on
loopback: mail for other domains, routed by MX records that dnsmasq
serves (dnsfix.py), handed to a scripted SMTP server (smtpsink.py), to a
second Postern, and to a private Debian Postfix.

How mail gets out: three ways lead to the queue's smtp transport.  Most
tests send to a local alias whose targets are remote addresses: the
delivery agent forwards those into the queue with the original sender
and MAIL parameters (BODY, SMTPUTF8, RET, ENVID; delivery/ forwarding,
cli/serve.c), and the sender is a local address, so bounces land in a
local mailbox where the test reads them.  test_two_instances sends the
way a user does: AUTH on the submission port, then any domain.  Relaying
for smtp.relay_networks on port 25 is test_relay.py's; a few tests put
a queue file in place directly (spool.py) for envelopes no client makes.

Short timeouts (smtp_client.*_timeout = 2s) and a short retry schedule
(queue.min_backoff = max_backoff = 1s) keep the failure tests quick.
"""
import email
import email.policy
import os
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import dkim
import pytest

import dnsfix
import spool
from conftest import BIN, free_port
from smtpsink import DROP, GARBAGE, LONG, STALL, SmtpSink, make_cert

# the private Postfix instance of the benchmarks (test_delivery.py too)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))), "contrib", "bench"))
from benchlib import PostfixInstance  # noqa: E402

SENDER = "alice@test.example"

# MX records: remote.test and friends point at 127.0.0.1, where the sink
# listens on the port smtp_client.port names; b.test at 127.0.0.2, where
# a second Postern listens on the same port as the first one on 127.0.0.1
RECORDS = """mx-host=remote.test,mx.remote.test,10
host-record=mx.remote.test,127.0.0.1
mx-host=other.test,mx.remote.test,10
mx-host=twomx.test,dead.twomx.test,5
mx-host=twomx.test,mx.remote.test,10
host-record=dead.twomx.test,127.0.0.2
dns-rr=nullmx.test,15,000000
mx-host=pf.test,mx.remote.test,10
mx-host=b.test,mx.b.test,10
host-record=mx.b.test,127.0.0.2
"""

RECORD_RE = re.compile(
    r'^([A-Za-z0-9._-]+)\._domainkey\.([a-z0-9.-]+)\. IN TXT((?: "[^"]*")+)$',
    re.M)


@pytest.fixture(scope="module")
def dns():
    d = dnsfix.DnsFix(RECORDS).start()
    yield d
    d.stop()


def server(postern_factory, dns, port, smtp_client="", queue_extra="",
           extra="", listen_port=None, **kw):
    """A Postern delivering outbound mail by MX to port (smtp_client.port)
    of the MX host's address; its own port 25 is listen_port, or a free
    one."""
    conf = ('log = { level = "debug"; };\n'
            'dns = { servers = [ "%s" ]; forward_special_zones = true; '
            'timeout = "2s"; };\n'
            'smtp_client = { port = %d; connect_timeout = "2s"; '
            'helo_timeout = "2s"; mail_timeout = "2s"; '
            'data_init_timeout = "2s"; data_xfer_timeout = "2s"; '
            'data_done_timeout = "2s"; %s };\n%s'
            % (dns.forwarder, port, smtp_client, extra))
    p = postern_factory(outbound=True, deliver=True, stages=[],
                        extra_conf=conf, port=listen_port,
                        queue_extra='min_backoff = "1s"; max_backoff = "1s"; '
                        + queue_extra, **kw)
    return p


def message(subject, sender=SENDER, extra_headers="", body="hello\r\n"):
    return ("From: Alice <%s>\r\nTo: someone@remote.test\r\n"
            "Subject: %s\r\nMessage-ID: <%s@test.example>\r\n%s\r\n%s"
            % (sender, subject, subject, extra_headers, body)).encode()


def send(p, rcpts, msg, sender=SENDER):
    with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
        s.sendmail(sender, rcpts, msg)


def alias(p, name, *targets):
    p.cli("alias", "add", name, *targets)


def wait_log(p, pattern, timeout=30, count=1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(re.findall(pattern, p.log())) >= count:
            return
        time.sleep(0.05)
    raise AssertionError("no %r (x%d) in the log:\n%s"
                         % (pattern, count, p.log()[-5000:]))


def wait_queue_empty(p, timeout=30):
    deadline = time.time() + timeout
    while p.queued() and time.time() < deadline:
        time.sleep(0.05)
    assert not p.queued(), p.log()[-5000:]


def inbox(p, user="u@test.example"):
    r = p.cli("mail", "list", user, check=False)
    if r.returncode != 0:
        return []
    return [int(l.split()[0]) for l in r.stdout.splitlines()[1:]
            if l.strip()]


def fetch(p, uid, user="u@test.example"):
    r = subprocess.run([BIN, "-c", p.conf, "mail", "show", user, "INBOX",
                        str(uid)], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_delivered_by_mx(postern_factory, dns):
    with SmtpSink() as sink:
        p = server(postern_factory, dns, sink.port)
        alias(p, "out@test.example", "bob@remote.test")
        send(p, ["out@test.example"], message("first"))
        assert sink.wait_messages(1), p.log()[-5000:]
        m = sink.messages[0]
        assert m.mail == SENDER
        assert m.rcpt_addrs == ["bob@remote.test"]
        assert b"Subject: first" in m.data
        assert m.session["ehlo"] == "mx.test.example"
        wait_log(p, r"to=<bob@remote.test>, relay=mx\.remote\.test"
                 r"\[127\.0\.0\.1\]:%d, delay=[0-9.]+, dsn=2\.0\.0, "
                 r"status=sent \(250 2\.0\.0 Ok: queued as SINK0\)"
                 % sink.port)
        wait_queue_empty(p)


def test_recipients_in_one_transaction_pipelined(postern_factory, dns):
    """Three recipients of one domain: one job, one connection, one
    pipelined transaction, one BDAT LAST (the sink offers CHUNKING)."""
    with SmtpSink() as sink:
        p = server(postern_factory, dns, sink.port)
        alias(p, "team@test.example", "a@remote.test", "b@remote.test",
              "c@remote.test")
        body = "line\r\n.starts with a dot\r\n" + "x" * 70 + "\r\n"
        send(p, ["team@test.example"], message("three", body=body))
        assert sink.wait_messages(1), p.log()[-5000:]
        wait_queue_empty(p)
        m = sink.messages[0]
        assert sorted(m.rcpt_addrs) == ["a@remote.test", "b@remote.test",
                                        "c@remote.test"]
        assert m.bdat and not m.tls
        assert m.data.endswith(body.encode())
        assert "SIZE=%d" % len(m.data) in m.mail_params
        assert len(sink.messages) == 1 and sink.connections == 1
        cmds = m.session["commands"]
        assert [c.split()[0] for c in cmds[:6]] == [
            "EHLO", "MAIL", "RCPT", "RCPT", "RCPT", "BDAT"], cmds
        assert p.log().count("status=sent (250 2.0.0 Ok: queued as "
                             "SINK0)") == 3


def test_data_dot_stuffing_without_extensions(postern_factory, dns):
    """A peer with no PIPELINING and no CHUNKING gets MAIL, RCPT and DATA
    one by one, the body dot-stuffed; what it reads back is the message."""
    with SmtpSink(ehlo=("8BITMIME",)) as sink:
        p = server(postern_factory, dns, sink.port)
        alias(p, "out@test.example", "bob@remote.test", "carol@remote.test")
        body = ".\r\n..two\r\n.three\r\nend\r\n"
        send(p, ["out@test.example"], message("dots", body=body))
        assert sink.wait_messages(1), p.log()[-5000:]
        m = sink.messages[0]
        assert not m.bdat
        assert m.data.endswith(body.encode()), m.data
        assert "SIZE=" not in m.mail_params
        verbs = [c.split()[0] for c in m.session["commands"]]
        assert verbs[:5] == ["EHLO", "MAIL", "RCPT", "RCPT", "DATA"]
        wait_queue_empty(p)


def test_connection_reused(postern_factory, dns):
    """A second message to the same host, and one to another domain with
    the same MX, go over the first connection (smtp_client.cache_idle_time
    5s by default); after the idle time it is closed with QUIT."""
    with SmtpSink() as sink:
        p = server(postern_factory, dns, sink.port,
                   smtp_client='cache_idle_time = "3s";')
        alias(p, "one@test.example", "bob@remote.test")
        alias(p, "two@test.example", "carol@other.test")
        send(p, ["one@test.example"], message("m1"))
        assert sink.wait_messages(1), p.log()[-5000:]
        send(p, ["one@test.example"], message("m2"))
        assert sink.wait_messages(2), p.log()[-5000:]
        send(p, ["two@test.example"], message("m3"))
        assert sink.wait_messages(3), p.log()[-5000:]
        assert sink.connections == 1, p.log()[-5000:]
        assert [m.rcpt_addrs for m in sink.messages] == [
            ["bob@remote.test"], ["bob@remote.test"], ["carol@other.test"]]
        assert "reusing the connection to mx.remote.test" in p.log()
        # idle past cache_idle_time: QUIT
        deadline = time.time() + 10
        while time.time() < deadline and \
                "QUIT" not in sink.sessions[0]["commands"]:
            time.sleep(0.1)
        assert sink.sessions[0]["commands"][-1] == "QUIT"
        # the next message opens a new connection
        send(p, ["one@test.example"], message("m4"))
        assert sink.wait_messages(4)
        assert sink.connections == 2


def test_4xx_then_2xx_retried(postern_factory, dns):
    with SmtpSink(script={"rcpt": ["451 4.3.0 try again later",
                                   "250 2.1.5 ok"]}) as sink:
        p = server(postern_factory, dns, sink.port)
        alias(p, "out@test.example", "bob@remote.test")
        send(p, ["out@test.example"], message("later"))
        wait_log(p, r"to=<bob@remote.test>, relay=mx\.remote\.test\[127\."
                 r"0\.0\.1\]:\d+, delay=[0-9.]+, dsn=4\.3\.0, "
                 r"status=deferred \(451 4\.3\.0 try again later\)")
        assert p.queued()
        p.cli("queue", "flush")
        assert sink.wait_messages(1), p.log()[-5000:]
        wait_log(p, r"to=<bob@remote.test>, .*status=sent")
        wait_queue_empty(p)
        assert len(sink.messages) == 1


def test_5xx_bounces_to_the_sender(postern_factory, dns):
    """One recipient refused with 550 (bounced, a DSN naming the remote
    MTA and its reply), the other accepted (delivered once)."""
    def rcpt(sess, addr):
        return "550 5.1.1 <%s>: no such user" % addr \
            if addr.startswith("ghost") else "250 2.1.5 ok"

    with SmtpSink(script={"rcpt": [rcpt]}) as sink:
        p = server(postern_factory, dns, sink.port)
        alias(p, "out@test.example", "ghost@remote.test", "bob@remote.test")
        send(p, ["out@test.example"], message("bounce"))
        assert sink.wait_messages(1), p.log()[-5000:]
        wait_log(p, r"to=<ghost@remote.test>, relay=mx\.remote\.test\[.*"
                 r"dsn=5\.1\.1, status=bounced \(550 5\.1\.1 "
                 r"<ghost@remote\.test>: no such user\)")
        wait_queue_empty(p)
        assert sink.messages[0].rcpt_addrs == ["bob@remote.test"]
        deadline = time.time() + 20
        while not inbox(p) and time.time() < deadline:
            time.sleep(0.1)
        uids = inbox(p)
        assert len(uids) == 1, p.log()[-5000:]
        m = email.message_from_bytes(fetch(p, uids[0]),
                                     policy=email.policy.default)
        assert m.get_content_type() == "multipart/report"
        assert m["To"].addresses[0].addr_spec == SENDER
        parts = list(m.iter_parts())
        fields = parts[1].get_payload()
        rcpt = fields[1]
        assert rcpt["Final-Recipient"] == "rfc822; ghost@remote.test"
        assert rcpt["Action"] == "failed"
        assert rcpt["Status"] == "5.1.1"
        assert rcpt["Remote-MTA"] == "dns; mx.remote.test"
        assert rcpt["Diagnostic-Code"] == \
            "smtp; 550 5.1.1 <ghost@remote.test>: no such user"


@pytest.mark.parametrize("step,reply,text", [
    ("greeting", STALL, r"conversation with mx\.remote\.test\[127\.0\.0\.1"
     r"\]:\d+ timed out while receiving the initial server greeting"),
    ("mail", STALL, r"timed out while sending MAIL FROM"),
    ("end", STALL, r"timed out while sending end of data -- message may "
     r"be sent more than once"),
    ("greeting", DROP, r"lost connection with mx\.remote\.test\[127\.0\.0"
     r"\.1\]:\d+ while receiving the initial server greeting"),
    ("greeting", GARBAGE, r"mx\.remote\.test\[127\.0\.0\.1\]:\d+ sent a "
     r"malformed reply while receiving the initial server greeting"),
    ("rcpt", GARBAGE, r"sent a malformed reply while sending RCPT TO"),
    ("rcpt", LONG, r"sent a malformed reply while sending RCPT TO: "
     r"over-long"),
    ("ehlo", "421 4.3.2 busy", r"\(421 4\.3\.2 busy\)"),
])
def test_faults_are_temporary(postern_factory, dns, step, reply, text):
    """A peer that stalls, drops the connection, answers garbage or an
    over-long reply: a temporary failure and a log line; the next try
    (the sink behaves by then) delivers the message exactly once."""
    with SmtpSink(script={step: [reply, None]}) as sink:
        p = server(postern_factory, dns, sink.port)
        alias(p, "out@test.example", "bob@remote.test")
        send(p, ["out@test.example"], message("fault"))
        wait_log(p, r"to=<bob@remote.test>, .*dsn=4\.[0-9.]+, "
                 r"status=deferred .*" + text)
        assert sink.wait_messages(1, timeout=30), p.log()[-5000:]
        wait_queue_empty(p)
        time.sleep(0.5)
        assert len(sink.messages) == 1


@pytest.mark.parametrize("chunking", [True, False])
def test_drop_mid_data_retried_delivered_once(postern_factory, dns,
                                              chunking):
    ext = ("PIPELINING", "8BITMIME", "CHUNKING") if chunking else \
        ("PIPELINING", "8BITMIME")
    with SmtpSink(ehlo=ext, drop_in_body=1, drop_after=200) as sink:
        p = server(postern_factory, dns, sink.port)
        alias(p, "out@test.example", "bob@remote.test")
        send(p, ["out@test.example"],
             message("dropped", body=("z" * 70 + "\r\n") * 100))
        wait_log(p, r"to=<bob@remote.test>, .*status=deferred \(lost "
                 r"connection with mx\.remote\.test\[127\.0\.0\.1\]:\d+ "
                 r"while sending (message body|end of data)")
        assert sink.wait_messages(1), p.log()[-5000:]
        wait_queue_empty(p)
        time.sleep(0.5)
        assert len(sink.messages) == 1
        assert len(sink.attempts) == 1      # the dropped one never ended


def test_dns_outcomes(postern_factory, dns):
    """Null MX and NXDOMAIN bounce; SERVFAIL and a DNS timeout defer."""
    with SmtpSink() as sink:
        p = server(postern_factory, dns, sink.port)
        alias(p, "out@test.example", "a@nullmx.test", "b@nx.test",
              "c@servfail.test", "d@timeout.test")
        send(p, ["out@test.example"], message("dns"))
        wait_log(p, r"to=<a@nullmx.test>, relay=smtp, .*dsn=5\.1\.10, "
                 r"status=bounced \(.*null MX")
        wait_log(p, r"to=<b@nx.test>, relay=smtp, .*dsn=5\.1\.2, "
                 r"status=bounced")
        wait_log(p, r"to=<c@servfail.test>, relay=smtp, .*dsn=4\.4\.3, "
                 r"status=deferred")
        wait_log(p, r"to=<d@timeout.test>, relay=smtp, .*dsn=4\.4\.3, "
                 r"status=deferred")
        assert len(p.queued()) == 1         # c and d wait for a retry
        assert sink.connections == 0


def test_second_mx_when_the_first_is_down(postern_factory, dns):
    """twomx.test: its best MX (127.0.0.2) refuses connections; the
    next one takes the mail."""
    with SmtpSink() as sink:
        p = server(postern_factory, dns, sink.port)
        alias(p, "out@test.example", "bob@twomx.test")
        send(p, ["out@test.example"], message("twomx"))
        assert sink.wait_messages(1), p.log()[-5000:]
        log = p.log()
        assert re.search(r"connect to dead\.twomx\.test\[127\.0\.0\.2\]:"
                         r"\d+: Connection refused", log), log[-3000:]
        wait_log(p, r"to=<bob@twomx.test>, relay=mx\.remote\.test.*"
                 r"status=sent")


def test_starttls_used_when_offered(postern_factory, dns):
    with SmtpSink(tls=True) as sink:
        p = server(postern_factory, dns, sink.port)
        alias(p, "out@test.example", "bob@remote.test")
        send(p, ["out@test.example"], message("secret"))
        assert sink.wait_messages(1), p.log()[-5000:]
        assert sink.messages[0].tls
        # EHLO again after STARTTLS (RFC 3207 4.2)
        assert [c.split()[0] for c in sink.sessions[0]["commands"][:3]] \
            == ["EHLO", "STARTTLS", "EHLO"]
        assert re.search(r"Untrusted TLS connection established to "
                         r"mx\.remote\.test\[127\.0\.0\.1\]:\d+: TLSv1\.[23]"
                         r" with cipher .*; certificate: self-signed "
                         r"certificate", p.log()), p.log()[-3000:]


def test_tls_policies(postern_factory, dns):
    """encrypt: no STARTTLS, no delivery (4.7.4); verify: a self-signed
    certificate is refused (4.7.5); per domain (smtp_client.domains)."""
    with SmtpSink(tls=True) as tsink, SmtpSink() as plain:
        p = server(postern_factory, dns, plain.port,
                   smtp_client='domains = [ "remote.test=,tls=encrypt", '
                   '"other.test=[127.0.0.1]:%d,tls=verify" ];' % tsink.port)
        alias(p, "out@test.example", "bob@remote.test", "eve@other.test")
        send(p, ["out@test.example"], message("policy"))
        wait_log(p, r"to=<bob@remote.test>, relay=mx\.remote\.test\[127\."
                 r"0\.0\.1\]:\d+, .*dsn=4\.7\.4, status=deferred \(TLS is "
                 r"required, but was not offered by host")
        wait_log(p, r"to=<eve@other.test>, relay=127\.0\.0\.1\[127\.0\.0\."
                 r"1\]:%d, .*dsn=4\.7\.5, status=deferred \(server "
                 r"certificate not verified" % tsink.port)
        assert not plain.messages and not tsink.messages


def test_size_8bit_smtputf8_refused_by_the_peer(postern_factory, dns):
    """What the next hop cannot take bounces: over its SIZE (5.3.4),
    8-bit content without 8BITMIME (5.6.3), an SMTPUTF8 message with a
    UTF-8 header without SMTPUTF8 (5.6.7, RFC 6531 3.4).  All three go
    out through an alias's forward, which keeps the envelope's BODY and
    SMTPUTF8: had the flag been lost on the way, the UTF-8 header would
    bounce as 8-bit content (5.6.3), not as 5.6.7."""
    with SmtpSink(ehlo=("PIPELINING", "SIZE 2000")) as sink:
        p = server(postern_factory, dns, sink.port)
        alias(p, "big@test.example", "bob@remote.test")
        alias(p, "eight@test.example", "carol@remote.test")
        alias(p, "utf@test.example", "dave@remote.test")
        with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
            s.sendmail(SENDER, ["utf@test.example"],
                       message("utf", extra_headers="X-Name: J\u00f6rg\r\n"),
                       mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        send(p, ["big@test.example"], message("big", body=("x" * 70 +
                                                            "\r\n") * 40))
        with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
            s.sendmail(SENDER, ["eight@test.example"],
                       message("eight", body="caf\u00e9\r\n"),
                       mail_options=["BODY=8BITMIME"])
        wait_log(p, r"to=<bob@remote.test>, .*dsn=5\.3\.4, status=bounced "
                 r"\(message size \d+ exceeds size limit 2000 of server "
                 r"mx\.remote\.test")
        wait_log(p, r"to=<carol@remote.test>, .*dsn=5\.6\.3, "
                 r"status=bounced \(8-bit message content")
        wait_log(p, r"to=<dave@remote.test>, .*dsn=5\.6\.7, "
                 r"status=bounced \(SMTPUTF8 is required")
        assert not sink.messages


def test_dsn_passed_on(postern_factory, dns):
    """A peer that offers DSN gets NOTIFY, ORCPT, RET and ENVID, and the
    success report is left to it; one that does not gets none of them and
    the sender gets a "relayed" report from us."""
    with SmtpSink() as dsn_sink, \
            SmtpSink(ehlo=("PIPELINING", "8BITMIME")) as plain:
        p = server(postern_factory, dns, dsn_sink.port,
                   smtp_client='domains = [ "other.test=[127.0.0.1]:%d" ];'
                   % plain.port)
        assert p.stop() == 0
        content = message("dsn")
        spool.write(p.queue_dir, SENDER,
                    [("bob@remote.test", "NOTIFY=SUCCESS,FAILURE "
                      "ORCPT=rfc822;bob+2Borig@remote.test"),
                     ("carol@other.test", "NOTIFY=SUCCESS")],
                    content, sender_params="RET=HDRS ENVID=env+2B1")
        p.start()
        assert dsn_sink.wait_messages(1) and plain.wait_messages(1), \
            p.log()[-5000:]
        m = dsn_sink.messages[0]
        assert "RET=HDRS" in m.mail_params and "ENVID=env+2B1" in \
            m.mail_params, m.mail_params
        assert m.rcpts == [("bob@remote.test", "NOTIFY=SUCCESS,FAILURE "
                            "ORCPT=rfc822;bob+2Borig@remote.test")]
        assert plain.messages[0].rcpts == [("carol@other.test", "")]
        assert "ENVID" not in plain.messages[0].mail_params
        wait_queue_empty(p)
        wait_log(p, r"to=<bob@remote.test>: success notification left to "
                 r"mx\.remote\.test")
        deadline = time.time() + 20
        while not inbox(p) and time.time() < deadline:
            time.sleep(0.1)
        uids = inbox(p)
        assert len(uids) == 1, p.log()[-5000:]
        r = email.message_from_bytes(fetch(p, uids[0]),
                                     policy=email.policy.default)
        fields = list(r.iter_parts())[1].get_payload()
        assert len(fields) == 2             # carol only
        assert fields[1]["Final-Recipient"] == "rfc822; carol@other.test"
        assert fields[1]["Action"] == "relayed"


def keygen(p, domain):
    """A DKIM key for domain (the server stopped: keys are read at its
    start); (DNS name, TXT value) of the record `postern dkim keygen`
    prints."""
    r = p.cli("dkim", "keygen", domain)
    m = RECORD_RE.search(r.stdout)
    assert m, r.stdout
    value = "".join(re.findall(r'"([^"]*)"', m.group(3)))
    return "%s._domainkey.%s" % (m.group(1), m.group(2)), value


def test_dkim_signed_when_the_from_domain_has_a_key(postern_factory, dns):
    """test.example has a key: its mail is signed (the signature verifies
    with python3-dkim, an implementation independent of libopendkim);
    mail From another domain is sent unsigned."""
    with SmtpSink() as sink:
        p = server(postern_factory, dns, sink.port)
        assert p.stop() == 0
        name, value = keygen(p, "test.example")
        p.start()
        alias(p, "out@test.example", "bob@remote.test")
        send(p, ["out@test.example"], message("signed", body="Hello,\r\n"
                                               "\r\nsigned.\r\n"))
        send(p, ["out@test.example"], message("unsigned",
                                               sender="x@example.net"),
             sender="x@example.net")
        assert sink.wait_messages(2), p.log()[-5000:]
        by_subject = {re.search(rb"Subject: (\w+)", m.data).group(1): m
                      for m in sink.messages}
        data = by_subject[b"signed"].data
        assert data.startswith(b"DKIM-Signature: "), data[:200]
        assert b"d=test.example" in data

        def txt(qname, timeout=5):
            qname = qname.decode() if isinstance(qname, bytes) else qname
            return value.encode() if qname.rstrip(".") == name else None
        assert dkim.verify(data, dnsfunc=txt)
        # a changed body fails: the check means something
        assert not dkim.verify(data.replace(b"signed.", b"forged."),
                               dnsfunc=txt)
        assert b"DKIM-Signature" not in by_subject[b"unsigned"].data


def dns_txt(d, qname):
    """TXT of qname from the fixture, its character-strings joined"""
    rcode, rdatas = d.query(qname.rstrip("."), "TXT")
    if rcode != 0 or not rdatas:
        return None
    out, rd = b"", rdatas[0]
    while rd:
        out += rd[1:1 + rd[0]]
        rd = rd[1 + rd[0]:]
    return out


def free_port_on(*hosts):
    """A TCP port free on each of hosts (loopback addresses)"""
    for _ in range(50):
        port = free_port()
        try:
            for h in hosts:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.bind((h, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on all of %s" % (hosts,))


def test_two_instances(postern_factory):
    """Two Postern instances on one port of two loopback addresses, A on
    127.0.0.1 and B on 127.0.0.2, as two hosts' port 25.  alice, a user
    of A, logs in on A's submission port (STARTTLS, AUTH PLAIN) and
    sends to bob@b.test; A adds Message-ID and Date, signs with its DKIM
    key for test.example, finds b.test's MX (mx.b.test, 127.0.0.2) in
    the test's DNS and delivers over STARTTLS; B files the message in
    bob's mailbox.  There the signature verifies with python3-dkim
    against the key published in the test's DNS (and with B's own dkim
    stage, which says so in Authentication-Results); a changed Subject
    fails, so the check means something."""
    port = free_port_on("127.0.0.1", "127.0.0.2")
    d = dnsfix.DnsFix(RECORDS).start()
    try:
        # B: b.test, bob's mailbox, the dkim stage also for loopback
        # clients (A connects from 127.0.0.1); no DNSSEC validation: the
        # key's name is under example., which the test's DNS cannot prove
        # insecure (test. is forward_special_zones' own)
        b = postern_factory(
            deliver=True, host="127.0.0.2", port=port,
            extra_conf='log = { level = "debug"; };\n'
            'dns = { servers = [ "%s" ]; forward_special_zones = true; '
            'trust_anchor = ""; };\n'
            'filters = { stages = [ "dkim" ]; trust_loopback = false; };'
            % d.forwarder)
        b.cli("domain", "add", "b.test")
        b.cli("user", "add", "bob@b.test", "--no-password")
        # A: port 25 on 127.0.0.1, submission, MX hosts' port is B's
        sub_port = free_port()
        a = server(postern_factory, d, port, listen_port=port,
                   submission='listen = [ "127.0.0.1:%d" ]; '
                   'listen_tls = [];' % sub_port)
        assert a.stop() == 0
        name, value = keygen(a, "test.example")
        d.restart(RECORDS + 'txt-record=%s,"%s"\n' % (name, value))
        a.start()
        subprocess.run([BIN, "-c", a.conf, "user", "add",
                        "alice@test.example"], input="alice's secret\n",
                       text=True, check=True, capture_output=True,
                       timeout=60)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP("127.0.0.1", sub_port, timeout=30) as s:
            s.starttls(context=ctx)
            s.login("alice@test.example", "alice's secret")
            # no Message-ID, no Date: A adds them (RFC 6409 8)
            assert s.sendmail(SENDER, ["bob@b.test"], (
                "From: Alice <%s>\r\nTo: Bob <bob@b.test>\r\n"
                "Subject: twins\r\n\r\nFrom A to B.\r\n" % SENDER)
                .encode()) == {}
        wait_log(a, r"to=<bob@b.test>, relay=mx\.b\.test\[127\.0\.0\.2\]:"
                 r"%d, .*status=sent \(250 2\.0\.0 Ok: queued as" % port)
        assert re.search(r"TLS connection established to mx\.b\.test"
                         r"\[127\.0\.0\.2\]:%d" % port, a.log()), \
            a.log()[-3000:]
        deadline = time.time() + 20
        while not inbox(b, "bob@b.test") and time.time() < deadline:
            time.sleep(0.1)
        uids = inbox(b, "bob@b.test")
        assert len(uids) == 1, b.log()[-5000:]
        raw = fetch(b, uids[0], "bob@b.test")
        assert b"Subject: twins" in raw and b"From A to B." in raw
        # on top B's Received: (from A's 127.0.0.1, over TLS) and B's
        # verdict, then A's signature over A's Received: for alice's
        # session and her message, which A gave a Message-ID and a Date
        head = raw[:raw.index(b"\r\n\r\n")].decode()
        names = [f.split(":")[0] for f in re.split(r"\r\n(?![ \t])", head)]
        assert names[:5] == ["Received", "Authentication-Results",
                             "X-Spam-Status", "DKIM-Signature",
                             "Received"], head
        assert sorted(names[5:]) == ["Date", "From", "Message-ID",
                                     "Subject", "To"], head
        received = re.findall(r"^Received: ([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)",
                              head, re.M)
        assert re.match(r"from mx\.test\.example \(unknown \[127\.0\.0\.1"
                        r"\]\)\r\n\t\(using TLSv1\.3 .*\r\n\tby mx\.test\."
                        r"example \(Postern\) with ESMTPS id ", received[0]), \
            received[0]
        assert " with ESMTPSA id " in received[1], received[1]
        assert re.search(r"Authentication-Results: mx\.test\.example;\s+"
                         r"dkim=pass [^;]*header\.d=test\.example", head), \
            head

        def txt(qname, timeout=5):
            qname = qname.decode() if isinstance(qname, bytes) else qname
            return dns_txt(d, qname)
        assert dkim.verify(raw, dnsfunc=txt), raw[:2000]
        assert not dkim.verify(raw.replace(b"Subject: twins",
                                           b"Subject: twin"), dnsfunc=txt)
    finally:
        d.stop()


def postfix_peer(base, tls_dir):
    """A private Postfix for pf.test on loopback: virtual(8) mailboxes
    bob and carol (Maildirs under base/mail), STARTTLS offered with a
    self-signed certificate; nothing leaves the machine."""
    import pwd
    nobody = pwd.getpwnam("nobody")
    pf = PostfixInstance(os.path.join(base, "postfix"), "mx.pf.test")
    mail = os.path.join(base, "mail")
    os.makedirs(pf.conf)
    os.makedirs(mail)
    os.chown(mail, nobody.pw_uid, nobody.pw_gid)
    vmap = os.path.join(pf.conf, "vmailbox")
    with open(vmap, "w") as f:
        f.write("bob@pf.test pf.test/bob/\ncarol@pf.test pf.test/carol/\n")
    cert, key = make_cert(tls_dir, "mx.pf.test")
    pf.start(f"""mydestination =
local_recipient_maps =
virtual_mailbox_domains = pf.test
virtual_mailbox_maps = texthash:{vmap}
virtual_mailbox_base = {mail}
virtual_uid_maps = static:{nobody.pw_uid}
virtual_gid_maps = static:{nobody.pw_gid}
virtual_minimum_uid = 1
smtpd_tls_security_level = may
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_loglevel = 1
default_transport = error:no remote delivery in tests
""", """\
virtual   unix  -       n       n       -       -       virtual
local     unix  -       n       n       -       -       discard
smtp      unix  -       -       n       -       -       discard
relay     unix  -       -       n       -       -       discard
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
""")
    return pf, mail


def maildir_files(mail, user):
    d = os.path.join(mail, "pf.test", user, "new")
    return [os.path.join(d, f) for f in os.listdir(d)] \
        if os.path.isdir(d) else []


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("postfix") is None,
                    reason="a private Postfix needs root and the package")
def test_postfix_receives(postern_factory, dns):
    """Debian's Postfix on loopback as the next hop: STARTTLS, PIPELINING,
    CHUNKING, DSN as Postfix offers them; two recipients delivered into
    its Maildirs in one transaction, an unknown one refused at RCPT and
    bounced by Postern with Postfix's reply."""
    base = tempfile.mkdtemp(prefix="postern-pf-")
    os.chmod(base, 0o755)
    pf = None
    try:
        pf, mail = postfix_peer(base, base)
        p = server(postern_factory, dns, pf.port)
        alias(p, "out@test.example", "bob@pf.test", "carol@pf.test",
              "ghost@pf.test")
        send(p, ["out@test.example"], message("topostfix",
                                               body="Dear Postfix,\r\n"))
        deadline = time.time() + 30
        while time.time() < deadline and not (
                maildir_files(mail, "bob") and maildir_files(mail, "carol")):
            time.sleep(0.1)
        with open(pf.log) as f:
            pflog = f.read()
        for user in ("bob", "carol"):
            files = maildir_files(mail, user)
            assert len(files) == 1, (user, pflog[-3000:], p.log()[-3000:])
            with open(files[0], "rb") as f:
                got = f.read()
            assert b"Subject: topostfix" in got and b"Dear Postfix," in got
        wait_log(p, r"to=<ghost@pf.test>, relay=mx\.remote\.test\[127\.0\."
                 r"0\.1\]:%d, .*dsn=5\.1\.1, status=bounced \(550 5\.1\.1 "
                 r"<ghost@pf\.test>: Recipient address rejected" % pf.port)
        wait_log(p, r"to=<bob@pf.test>, .*status=sent \(250 2\.0\.0 Ok")
        log = p.log()
        assert re.search(r"TLS connection established to mx\.remote\.test"
                         r"\[127\.0\.0\.1\]:%d: TLSv1\.3" % pf.port, log)
        # one TLS session (the other connection is benchlib's probe),
        # one transaction for both recipients
        assert pflog.count("TLS connection established from") == 1, pflog
        assert re.search(r"nrcpt=2 \(queue active\)", pflog), pflog
    finally:
        if pf is not None:
            pf.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_relay_with_auth(postern_factory, dns):
    """smtp_client.relay with relay_user: everything goes to the relay,
    AUTH PLAIN only after STARTTLS; a relay without STARTTLS gets no
    password (and no mail); wrong credentials defer."""
    pwdir = tempfile.mkdtemp(prefix="postern-pw-")
    os.chmod(pwdir, 0o755)
    pw = os.path.join(pwdir, "relay.pass")
    with open(pw, "w") as f:
        f.write("s3cret pass\n")
    os.chmod(pw, 0o644)             # readable by the server's user
    with SmtpSink(tls=True, auth={"relayuser": "s3cret pass"}) as relay, \
            SmtpSink(auth={"relayuser": "s3cret pass"}) as plain:
        for sink, expect in ((relay, "ok"), (plain, "notls")):
            p = server(postern_factory, dns, 1, smtp_client=(
                'relay = "[127.0.0.1]:%d"; relay_user = "relayuser"; '
                'relay_password_file = "%s";' % (sink.port, pw)))
            alias(p, "out@test.example", "bob@remote.test", "x@nx.test")
            send(p, ["out@test.example"], message("relayed"))
            if expect == "ok":
                assert sink.wait_messages(1), p.log()[-5000:]
                m = sink.messages[0]
                assert sorted(m.rcpt_addrs) == ["bob@remote.test",
                                                "x@nx.test"]
                assert m.tls and m.session["auth"] == "relayuser"
                cmds = [c.split()[0] for c in m.session["commands"]]
                assert cmds[:4] == ["EHLO", "STARTTLS", "EHLO", "AUTH"]
                wait_log(p, r"to=<x@nx.test>, relay=127\.0\.0\.1\[127\.0"
                         r"\.0\.1\]:%d, .*status=sent" % sink.port)
            else:
                wait_log(p, r"to=<bob@remote.test>, .*dsn=4\.7\.4, "
                         r"status=deferred \(TLS is required, but was not "
                         r"offered by host 127\.0\.0\.1")
                assert not sink.messages
                assert not any(c.startswith("AUTH") for sess in
                               sink.sessions for c in sess["commands"])
    with SmtpSink(tls=True, auth={"relayuser": "other"}) as relay:
        p = server(postern_factory, dns, 1, smtp_client=(
            'relay = "[127.0.0.1]:%d"; relay_user = "relayuser"; '
            'relay_password_file = "%s";' % (relay.port, pw)))
        alias(p, "out@test.example", "bob@remote.test")
        send(p, ["out@test.example"], message("refused"))
        wait_log(p, r"to=<bob@remote.test>, .*dsn=4\.7\.0, status=deferred "
                 r"\(SASL authentication failed; server 127\.0\.0\.1\["
                 r"127\.0\.0\.1\]:\d+ said: 535 5\.7\.8")
        assert not relay.messages
    shutil.rmtree(pwdir)


def test_destination_concurrency(postern_factory, dns):
    """destination_concurrency = 1: ten messages to one domain, never two
    connections to it at once; without the cache, one connection each."""
    with SmtpSink(script={"end": [lambda sess, msg: time.sleep(0.2)]}) \
            as sink:
        p = server(postern_factory, dns, sink.port, smtp_client=(
            "destination_concurrency = 1; cache_idle_time = 0;"))
        alias(p, "out@test.example", "bob@remote.test")
        with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
            for i in range(10):
                s.sendmail(SENDER, ["out@test.example"],
                           message("c%d" % i))
        assert sink.wait_messages(10, timeout=60), p.log()[-5000:]
        wait_queue_empty(p)
        assert sink.max_concurrent == 1
        assert sink.connections == 10


def test_damaged_queue_file_sends_nothing(postern_factory, dns):
    """A queue file whose content fails its checksum: the client reads
    the whole content (and its SHA-256 is checked) before it connects:
    no connection is made; the queue moves the file aside (corrupt/)."""
    with SmtpSink() as sink:
        p = server(postern_factory, dns, sink.port)
        assert p.stop() == 0
        qid = spool.write(p.queue_dir, SENDER, [("bob@remote.test", "")],
                          message("damaged"))
        path = os.path.join(p.queue_dir, "msg", qid)
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data.replace(b"hello", b"jello"))
        p.start()
        wait_log(p, r"%s: queue file content is damaged; moved to corrupt/"
                 % qid)
        assert os.path.exists(os.path.join(p.queue_dir, "corrupt", qid))
        assert sink.connections == 0 and not sink.attempts
