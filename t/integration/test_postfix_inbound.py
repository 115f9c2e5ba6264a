"""Debian's Postfix as a remote peer sending to Postern's inbound SMTP
(port 25), the other direction of test_outbound.py's
test_postfix_receives (and of test_delivery.py's LMTP hand-over).

A private Postfix (contrib/bench/benchlib.py's PostfixInstance) on
loopback takes mail from the test for test.example and relays it with
its smtp(8) client to [127.0.0.1]:PORT, Postern's port-25 listener
(default_transport = smtp:[127.0.0.1]:PORT): no DNS.  Its TLS level is
"fingerprint" with the SHA-256 of the self-signed certificate Postern
made under <data_dir>/tls, so STARTTLS is not only used but bound to
Postern's certificate; a delivery without it would be deferred, not
sent in clear.  Postfix's bounces (to a sender of test.example) come
back the same way.
"""
import contextlib
import email
import email.policy
import hashlib
import os
import re
import shutil
import smtplib
import ssl
import tempfile
import time

import pytest

import test_outbound as outbound
from test_outbound import PostfixInstance

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("postfix") is None,
    reason="a private Postfix needs root and the package")

SENDER = "sender@test.example"


def postern_server(postern_factory):
    """Postern for test.example with accounts alice, bob and sender, an
    alias with a UTF-8 local part (j\u00f6rg -> alice), no catch-all
    (an unknown recipient is refused at RCPT), no filter stages (what is
    stored is what Postfix sent, under our Received:)."""
    p = postern_factory(deliver=True, directory=False, stages=[])
    for cmd in (["domain", "add", "test.example"],
                ["user", "add", "alice@test.example", "--no-password"],
                ["user", "add", "bob@test.example", "--no-password"],
                ["user", "add", SENDER, "--no-password"],
                ["alias", "add", "j\u00f6rg@test.example",
                 "alice@test.example"]):
        p.cli(*cmd)
    return p


def cert_sha256(p):
    """SHA-256 of the DER of Postern's (self-signed) certificate, as
    Postfix's smtp_tls_fingerprint_cert_match wants it"""
    with open(os.path.join(p.data_dir, "tls", "cert.pem")) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    h = hashlib.sha256(der).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


def postfix_relay(base, port, fingerprint):
    """Postfix relaying everything from loopback (mynetworks) to
    [127.0.0.1]:port (its default_transport: benchlib's main.cf has
    relayhost already), STARTTLS required and pinned to fingerprint;
    SMTPUTF8 on (its default, said out loud)."""
    pf = PostfixInstance(base, "relay.test")
    pf.start(f"""mydestination =
local_recipient_maps =
relay_domains =
default_transport = smtp:[127.0.0.1]:{port}
smtp_tls_security_level = fingerprint
smtp_tls_fingerprint_digest = sha256
smtp_tls_fingerprint_cert_match = {fingerprint}
smtp_tls_loglevel = 1
smtputf8_enable = yes
""", """\
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
""")
    return pf


def maillog(pf):
    try:
        with open(pf.log) as f:
            return f.read()
    except OSError:
        return ""


def wait_for(cond, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def stored(p, user):
    """The messages of user's INBOX, parsed, by Subject"""
    out = {}
    for uid in outbound.inbox(p, user):
        raw = outbound.fetch(p, uid, user)
        m = email.message_from_bytes(raw, policy=email.policy.default)
        out[str(m["Subject"])] = (raw, m)
    return out


def received(raw):
    """The Received: fields of raw, top first, unfolded"""
    head = raw[:raw.index(b"\r\n\r\n")].decode("utf-8", "replace")
    return [re.sub(r"\r\n[ \t]+", " ", v) for v in re.findall(
        r"^Received: ([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head, re.M)]


@contextlib.contextmanager
def postfix_to_postern(postern_factory):
    """(Postern, the Postfix relaying to it), Postfix stopped at the end"""
    base = tempfile.mkdtemp(prefix="postern-pfin-")
    os.chmod(base, 0o755)        # Postfix's daemons must enter it
    pf = None
    try:
        p = postern_server(postern_factory)
        pf = postfix_relay(os.path.join(base, "postfix"), p.port,
                           cert_sha256(p))
        yield p, pf
    finally:
        if pf is not None:
            pf.stop()
        shutil.rmtree(base, ignore_errors=True)


def wait_delivered(p, pf, cond):
    try:
        wait_for(cond, "Postfix's deliveries to Postern")
    except AssertionError:
        raise AssertionError("Postfix:\n%s\nPostern:\n%s" % (
            maillog(pf)[-4000:], p.log()[-4000:]))


MULTI = (b"From: Sender <sender@test.example>\r\n"
         b"To: alice@test.example, bob@test.example\r\n"
         b"Subject: pfmulti\r\n"
         b"Message-ID: <pfmulti@test.example>\r\n"
         b"Date: Mon, 30 Nov 2026 00:00:00 +0000\r\n\r\n"
         b"Dear Postern,\r\n.a line that starts with a dot\r\n")
UTF8 = ("From: J\u00f6rg <sender@test.example>\r\n"
        "To: Alice <alice@test.example>\r\n"
        "Subject: Gr\u00fc\u00dfe\r\n"
        "Message-ID: <pfutf8@test.example>\r\n"
        "Date: Mon, 30 Nov 2026 00:00:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        "\u00dcber Stra\u00dfen, caf\u00e9 \u2603\r\n").encode()


def test_postfix_sends_to_postern(postern_factory):
    """Postfix relays two messages to Postern over STARTTLS (Postern's
    certificate pinned): one to alice, bob and an unknown ghost in one
    transaction (two accepted, ghost refused with 550 5.1.1 at RCPT,
    which Postfix bounces to the sender: its DSN, from the null sender,
    lands in the sender's mailbox here), and one with SMTPUTF8 and
    BODY=8BITMIME, UTF-8 in its header fields and 8-bit body, which
    arrives byte for byte under Received: "with UTF8SMTPS".  Each stored
    message has Postfix's Received: under ours."""
    with postfix_to_postern(postern_factory) as (p, pf):
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as s:
            s.ehlo("client.example")
            assert s.sendmail(SENDER, ["alice@test.example",
                                       "bob@test.example",
                                       "ghost@test.example"], MULTI) == {}
            assert s.sendmail(SENDER, ["alice@test.example"], UTF8,
                              mail_options=["SMTPUTF8",
                                            "BODY=8BITMIME"]) == {}
        wait_delivered(p, pf, lambda: len(outbound.inbox(
            p, "alice@test.example")) == 2 and outbound.inbox(
            p, "bob@test.example") and outbound.inbox(p, SENDER))
        pflog = maillog(pf)
        log = p.log()

        # Postfix's side: TLS verified by fingerprint, three deliveries
        # (alice's two, bob's), ghost refused by Postern and bounced
        assert re.search(r"Verified TLS connection established to 127\.0"
                         r"\.0\.1\[127\.0\.0\.1\]:%d: TLSv1\.3" % p.port,
                         pflog), pflog
        sent = re.findall(r"to=<([^>]*)>, relay=127\.0\.0\.1\[127\.0\.0\."
                          r"1\]:%d, .*status=sent \(250 2\.0\.0 Ok: queued "
                          r"as [0-9A-F]+\)" % p.port, pflog)
        assert sorted(sent) == ["alice@test.example", "alice@test.example",
                                "bob@test.example", SENDER], pflog
        assert re.search(r"to=<ghost@test\.example>, relay=127\.0\.0\.1"
                         r"\[127\.0\.0\.1\]:%d, .*dsn=5\.1\.1, status="
                         r"bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: "
                         r"550 5\.1\.1 " % p.port, pflog), pflog

        # Postern's side: the sessions came from relay.test over TLS;
        # the first message had two recipients, the second SMTPUTF8
        assert re.search(r"from=<sender@test\.example>, size=\d+, nrcpt=2, "
                         r"proto=ESMTPS, helo=<relay\.test>", log), log
        assert re.search(r"from=<sender@test\.example>, size=\d+, nrcpt=1, "
                         r"proto=UTF8SMTPS, helo=<relay\.test>", log), log
        assert re.search(r"from=<>, size=\d+, nrcpt=1, proto=\w*ESMTPS, "
                         r"helo=<relay\.test>", log), log

        alice = stored(p, "alice@test.example")
        bob = stored(p, "bob@test.example")
        assert sorted(alice) == ["Gr\u00fc\u00dfe", "pfmulti"], alice.keys()
        assert list(bob) == ["pfmulti"]
        for raw, _ in (alice["pfmulti"], bob["pfmulti"]):
            assert raw.endswith(MULTI), raw
            rcv = received(raw)
            assert len(rcv) == 2, rcv
            assert re.match(r"from relay\.test \(unknown \[127\.0\.0\.1\]\) "
                            r"\(using TLSv1\.3 .*\) by mx\.test\.example "
                            r"\(Postern\) with ESMTPS id ", rcv[0]), rcv
            assert re.match(r"from client\.example \(unknown \[127\.0\.0\.1"
                            r"\]\) by relay\.test \(Postfix\) with ESMTP id "
                            r"[0-9A-F]+;", rcv[1]), rcv
        raw, _ = alice["Gr\u00fc\u00dfe"]
        assert raw.endswith(UTF8), raw          # 8 bits, unconverted
        rcv = received(raw)
        assert re.match(r"from relay\.test .* by mx\.test\.example "
                        r"\(Postern\) with UTF8SMTPS id ", rcv[0]), rcv
        assert re.match(r"from client\.example .* by relay\.test \(Postfix\)"
                        r" with UTF8SMTP id [0-9A-F]+ for "
                        r"<alice@test\.example>;", rcv[1]), rcv

        # Postfix's bounce for ghost, from the null sender, in RFC 3464
        # form
        (raw, dsn), = stored(p, SENDER).values()
        assert dsn.get_content_type() == "multipart/report"
        assert dsn.get_param("report-type") == "delivery-status"
        assert "MAILER-DAEMON@relay.test" in str(dsn["From"])
        status = list(dsn.iter_parts())[1].get_payload()
        assert status[1]["Final-Recipient"] == "rfc822; ghost@test.example"
        assert status[1]["Action"] == "failed"
        assert status[1]["Status"] == "5.1.1"
        assert " with ESMTPS id " in received(raw)[0]


def test_postfix_utf8_recipient(postern_factory):
    """A UTF-8 recipient (an alias, j\u00f6rg -> alice) through Postfix,
    which keeps the original recipient in ORCPT as it always does:
    ORCPT=rfc822;j+C3+B6rg@test.example, xtext of UTF-8 octets rather than
    RFC 6533's utf-8 type (Postfix's own smtpd accepts it, with or without
    SMTPUTF8); Postern once answered 501 and Postfix bounced the mail."""
    with postfix_to_postern(postern_factory) as (p, pf):
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as s:
            s.ehlo("client.example")
            assert s.sendmail(SENDER, ["j\u00f6rg@test.example"], UTF8,
                              mail_options=["SMTPUTF8",
                                            "BODY=8BITMIME"]) == {}
        wait_delivered(p, pf, lambda: "to=<j\u00f6rg@test.example>" in
                       maillog(pf))
        assert re.search(r"to=<j\u00f6rg@test\.example>, relay=127\.0\.0\.1"
                         r"\[127\.0\.0\.1\]:%d, .*status=sent" % p.port,
                         maillog(pf)), maillog(pf)
        wait_delivered(p, pf, lambda: outbound.inbox(p, "alice@test.example"))
        (raw, _), = stored(p, "alice@test.example").values()
        assert raw.endswith(UTF8)
        assert re.search(r"by relay\.test \(Postfix\) with UTF8SMTP id "
                         r"[0-9A-F]+ for <j\u00f6rg@test\.example>;",
                         received(raw)[1])
