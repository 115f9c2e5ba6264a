"""Relaying on port 25 and forwarding by aliases, end to end on loopback.

smtp.relay_networks (mta/smtpd_cmd.c): a client in one of those networks
may send to any domain without AUTH, like Postfix's mynetworks; nobody
else may (554 5.7.1), and the default list is empty.  What it relays is
routed by MX (dnsmasq, dnsfix.py) to a scripted server (smtpsink.py).

Forwarding (delivery/ forward hook, cli/serve.c): an alias's remote
targets get a new queue message that keeps the original's MAIL
parameters: BODY=8BITMIME, SMTPUTF8, RET and ENVID reach the next hop.
Both ways a message reaches the delivery agent are covered: directly
from the SMTP session (a small message) and from the queue (one over
the 256 KiB that a session keeps in memory).
"""
import os
import smtplib
import subprocess
import tempfile
import time

import pytest

import dnsfix
import test_outbound as outbound
import test_smtp
from conftest import BIN, free_port
from smtpsink import SmtpSink

MSG = (b"From: App <app@elsewhere.example>\r\nTo: bob@remote.test\r\n"
       b"Subject: relayed\r\nMessage-ID: <relayed@elsewhere.example>\r\n"
       b"\r\nhello\r\n")


@pytest.fixture(scope="module")
def dns():
    d = dnsfix.DnsFix(outbound.RECORDS).start()
    yield d
    d.stop()


def server(postern_factory, dns, mx_port, **kw):
    """Mail for other domains goes by MX to 127.0.0.1:mx_port
    (test_outbound.py's server: no stages, so the stored bytes are the
    sent ones and small messages are delivered directly)."""
    return outbound.server(postern_factory, dns, mx_port, **kw)


def rcpt(port, addr, host="127.0.0.1"):
    """The reply to RCPT TO:<addr> in a fresh session, MAIL from a
    sender that is no account of ours."""
    with smtplib.SMTP(host, port, timeout=10) as s:
        s.ehlo("app.example")
        assert s.mail("app@elsewhere.example")[0] == 250
        return s.rcpt(addr)


# ---- smtp.relay_networks ----

def test_relay_network_relays(postern_factory, dns):
    """From 127.0.0.1 in relay_networks: a remote recipient is taken, with
    a sender that is no account of ours, queued and delivered to the
    domain's MX; a local recipient of the same message is delivered
    here as usual."""
    with SmtpSink() as sink:
        p = server(postern_factory, dns, sink.port,
                   smtp_extra='relay_networks = [ "192.0.2.0/24", '
                   '"127.0.0.0/8" ];')
        with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
            s.ehlo("app.example")
            assert s.mail("app@elsewhere.example")[0] == 250
            assert s.rcpt("bob@remote.test")[0] == 250
            assert s.rcpt("u@test.example")[0] == 250
            code, _ = s.data(MSG)
            assert code == 250
        assert sink.wait_messages(1), p.log()[-5000:]
        m = sink.messages[0]
        assert m.mail == "app@elsewhere.example"
        assert m.rcpt_addrs == ["bob@remote.test"]
        assert m.data.endswith(MSG)
        outbound.wait_log(p, r"to=<bob@remote.test>, relay=mx\.remote\."
                          r"test\[127\.0\.0\.1\]:%d" % sink.port)
        outbound.wait_log(p, r"to=<u@test.example>, relay=local")
        outbound.wait_queue_empty(p)
        assert "Relay access denied" not in p.log()


def test_relay_denied_by_default(postern_factory, dns):
    """No relay_networks (the default): 554 5.7.1 for a remote domain
    even from loopback, and nothing reaches the MX."""
    with SmtpSink() as sink:
        p = server(postern_factory, dns, sink.port)
        assert rcpt(p.port, "bob@remote.test") == (
            554, b"5.7.1 <bob@remote.test>: Relay access denied")
        assert rcpt(p.port, "u@test.example")[0] == 250     # ours: fine
        assert "reject: RCPT from unknown[127.0.0.1]: 554 5.7.1 Relay " \
            "access denied" in p.log()
        time.sleep(0.5)
        assert sink.connections == 0


def test_relay_other_networks_only(postern_factory, dns):
    """relay_networks that do not hold the client change nothing for it;
    an address literal stays refused even from a relay network."""
    with SmtpSink() as sink:
        p = server(postern_factory, dns, sink.port,
                   smtp_extra='relay_networks = [ "192.0.2.0/24", '
                   '"127.0.0.2", "::1" ];')
        code, text = rcpt(p.port, "bob@remote.test")
        assert (code, text[:5]) == (554, b"5.7.1")
        q = server(postern_factory, dns, sink.port,
                   smtp_extra='relay_networks = [ "127.0.0.1/32" ];')
        code, text = rcpt(q.port, "bob@[127.0.0.1]")
        assert (code, text[:5]) == (554, b"5.7.1")
        assert rcpt(q.port, "bob@remote.test")[0] == 250


@pytest.mark.skipif(not test_smtp.ipv6_loopback(), reason="no ::1 here")
def test_relay_network_ipv6(postern_factory):
    """An IPv6 network: its client relays, the IPv4 loopback does not
    (only the RCPT replies: nothing is sent)."""
    port = free_port()
    p = postern_factory(port=port, stages=[],
                        listen=["127.0.0.1:%d" % port, "[::1]:%d" % port],
                        smtp_extra='relay_networks = [ "::1/128" ];')
    assert rcpt(p.port, "bob@remote.test", host="::1")[0] == 250
    assert rcpt(p.port, "bob@remote.test")[0] == 554


def test_relay_network_no_bypass_of_submission(postern_factory, dns):
    """On a submission listener MAIL still wants AUTH first (530), from a
    relay network too."""
    with SmtpSink() as sink:
        sub_port = free_port()
        p = server(postern_factory, dns, sink.port,
                   smtp_extra='relay_networks = [ "127.0.0.0/8" ];',
                   submission='listen = [ "127.0.0.1:%d" ]; '
                   'listen_tls = [];' % sub_port)
        with smtplib.SMTP("127.0.0.1", sub_port, timeout=10) as s:
            s.ehlo("app.example")
            code, text = s.docmd("MAIL", "FROM:<app@elsewhere.example>")
            assert (code, text[:5]) == (530, b"5.7.0")
        assert p.proc.poll() is None


def test_relay_networks_config_checked():
    """A malformed network is a configuration error naming its line."""
    d = tempfile.mkdtemp(prefix="postern-relay-")
    try:
        conf = os.path.join(d, "p.conf")
        with open(conf, "w") as f:
            f.write('server = { data_dir = "%s"; };\nsmtp = {\n'
                    '  relay_networks = [ "192.0.2.0/33" ];\n};\n' % d)
        r = subprocess.run([BIN, "config", "check", conf],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
        assert ":3:" in r.stdout + r.stderr, r.stdout + r.stderr
        assert "relay_networks" in r.stdout + r.stderr
    finally:
        subprocess.run(["rm", "-rf", d], check=False)


# ---- forwarding keeps the MAIL parameters ----

def test_forward_keeps_body_smtputf8_ret_envid(postern_factory, dns):
    """An alias forwards to a remote address: the copy's MAIL FROM at the
    next hop carries the original's SMTPUTF8 and BODY=8BITMIME (with a
    UTF-8 header and ASCII addresses the content alone would not ask for
    SMTPUTF8) and its RET and ENVID, whether the delivery agent got the
    message from the session (small) or from the queue (big)."""
    with SmtpSink() as sink:
        p = server(postern_factory, dns, sink.port)
        p.cli("alias", "add", "fwd@test.example", "carol@remote.test")
        small = ("From: Alice <alice@test.example>\r\n"
                 "To: fwd@test.example\r\nSubject: Gr\u00fc\u00dfe\r\n"
                 "Message-ID: <small@test.example>\r\n\r\n"
                 "caf\u00e9\r\n").encode()
        # ASCII only: BODY= and SMTPUTF8 can come from the envelope alone
        big = (b"From: Alice <alice@test.example>\r\n"
               b"To: fwd@test.example\r\nSubject: big\r\n"
               b"Message-ID: <big@test.example>\r\n\r\n" +
               (b"x" * 78 + b"\r\n") * 4000)
        with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
            s.sendmail("alice@test.example", ["fwd@test.example"], small,
                       mail_options=["SMTPUTF8", "BODY=8BITMIME",
                                     "RET=HDRS", "ENVID=small+2B1"])
            s.sendmail("alice@test.example", ["fwd@test.example"], big,
                       mail_options=["SMTPUTF8", "BODY=8BITMIME",
                                     "RET=FULL", "ENVID=big"])
        assert sink.wait_messages(2), p.log()[-5000:]
        by_id = {}
        for m in sink.messages:
            by_id[b"<small@" in m.data and "small" or "big"] = m
        assert set(by_id) == {"small", "big"}
        for name, ret, envid in (("small", "RET=HDRS", "ENVID=small+2B1"),
                                 ("big", "RET=FULL", "ENVID=big")):
            m = by_id[name]
            params = m.mail_params.split()
            assert m.mail == "alice@test.example"
            assert m.rcpts == [("carol@remote.test", "")]
            assert "SMTPUTF8" in params, (name, m.mail_params)
            assert "BODY=8BITMIME" in params, (name, m.mail_params)
            assert ret in params and envid in params, (name, m.mail_params)
        assert by_id["small"].data.endswith(small)
        assert by_id["big"].data.endswith(big)
        assert "delivered directly" in p.log()      # the small one
        outbound.wait_queue_empty(p)
