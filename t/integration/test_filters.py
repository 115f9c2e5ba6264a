"""The anti-spam pipeline end to end: `postern serve` with real stages,
DNS from a real dnsmasq on loopback (dnsfix), the lookup store in the
data store, clients speaking SMTP.  What a postmaster sees: SPF refusals
at MAIL, greylisting at RCPT and on doubt, rate limits, a DNS-listed
client refused for its score, a DKIM-signed message delivered with its
Authentication-Results, a spammy one into Junk, and the default stages
of a configuration that names none.
"""
import base64
import smtplib
import subprocess
import time

import pytest

from conftest import BIN
from dnsfix import dns_server  # noqa: F401  (the fixture)

dkim = pytest.importorskip("dkim")


def conf(dns, stages, extra=""):
    return f"""
log = {{ level = "debug"; }};
dns = {{ servers = ["{dns.forwarder}"]; forward_special_zones = true;
        timeout = 2; }};
filters = {{ stages = [{", ".join('"%s"' % s for s in stages)}];
            trust_loopback = false; }};
{extra}
"""


def setup_dir(p):
    for cmd in (["domain", "add", "test.example"],
                ["user", "add", "alice@test.example", "--no-password"]):
        p.cli(*cmd)


def rows(p, user, mailbox="INBOX"):
    r = p.cli("mail", "list", user, mailbox, check=False)
    if r.returncode != 0:
        return []
    return [l for l in r.stdout.splitlines()[1:] if l.strip()]


def raw(p, user, mailbox, uid):
    return subprocess.run([BIN, "-c", p.conf, "mail", "show", user, mailbox,
                           uid], capture_output=True, check=True).stdout


def message(frm="a@sender.test", subject="hello", body="Hello there.\r\n"):
    return (f"From: {frm}\r\nTo: alice@test.example\r\n"
            f"Subject: {subject}\r\nDate: Mon, 30 Nov 2026 03:00:00 +0000\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@sender.test>\r\n\r\n"
            + body).encode()


def test_spf_results_in_the_message(postern_factory, dns_server):
    """The SPF verdict reaches the stored message.  (Refusals on fail
    are covered by t/unit/stage_spf_test.c with non-loopback clients:
    libspf2 always passes a loopback client, and test traffic stays on
    127.0.0.1.)"""
    dns_server.restart('txt-record=good.test,"v=spf1 ip4:127.0.0.1 -all"\n')
    p = postern_factory(deliver=True, directory=False, extra_conf=conf(
        dns_server, ["spf"], 'spf = { reject_fail = true; };'))
    setup_dir(p)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
        s.ehlo("client.test")
        assert s.mail("x@good.test")[0] == 250
        assert s.rcpt("alice@test.example")[0] == 250
        assert s.data(message("x@good.test", "spfpass"))[0] == 250
    (row,) = rows(p, "alice@test.example")
    m = raw(p, "alice@test.example", "INBOX", row.split()[0])
    assert b"spf=pass smtp.mailfrom=x@good.test" in m, m[:1500]
    assert b"SPF_PASS" in m


def test_greylist_at_rcpt(postern_factory, dns_server):
    p = postern_factory(deliver=True, directory=False, extra_conf=conf(
        dns_server, ["greylist"],
        'greylist = { mode = "always"; delay = 1; };'))
    setup_dir(p)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
        s.ehlo("client.test")
        assert s.mail("a@sender.test")[0] == 250
        code, text = s.rcpt("alice@test.example")
        assert code == 451 and b"4.7.1" in text, (code, text)
        s.rset()
        assert s.mail("a@sender.test")[0] == 250
        assert s.rcpt("alice@test.example")[0] == 451   # too early
    time.sleep(1.2)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
        s.sendmail("a@sender.test", ["alice@test.example"],
                   message(subject="greylisted"))
    assert len(rows(p, "alice@test.example")) == 1
    # a passed triplet stays passed, even across a restart: the lookup
    # store is the data store
    p.stop()
    p.start()
    with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
        s.sendmail("a@sender.test", ["alice@test.example"],
                   message(subject="again"))
    assert len(rows(p, "alice@test.example")) == 2


def test_ratelimit(postern_factory, dns_server):
    p = postern_factory(deliver=True, directory=False, extra_conf=conf(
        dns_server, ["ratelimit"], 'ratelimit = { per_ip = 2; };'))
    setup_dir(p)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
        for i in range(2):
            s.sendmail("a@sender.test", ["alice@test.example"],
                       message(subject="n%d" % i))
        code, text = s.mail("a@sender.test")
        assert code == 450 and b"4.7.1" in text, (code, text)


def test_dnsbl_score_refuses_message(postern_factory, dns_server):
    """127.0.0.1 listed in a zone worth 20 points: over reject_score the
    message is refused at the end of DATA (550 5.7.1), nothing stored."""
    dns_server.restart("host-record=1.0.0.127.bl.test,127.0.0.2\n")
    p = postern_factory(deliver=True, directory=False, extra_conf=conf(
        dns_server, ["dnsbl"], 'dnsbl = { zones = ["bl.test=20"]; };'))
    setup_dir(p)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
        s.ehlo("client.test")
        assert s.mail("a@sender.test")[0] == 250
        assert s.rcpt("alice@test.example")[0] == 250
        code, text = s.data(message(subject="listed"))
        assert code == 550 and b"5.7.1" in text, (code, text)
    assert rows(p, "alice@test.example") == []
    assert "action=reject" in p.log()


def test_junk_threshold_files_into_junk(postern_factory, dns_server):
    dns_server.restart("host-record=1.0.0.127.bl.test,127.0.0.2\n")
    p = postern_factory(deliver=True, directory=False, extra_conf=conf(
        dns_server, ["dnsbl"], 'dnsbl = { zones = ["bl.test=7"]; };'))
    setup_dir(p)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
        s.sendmail("a@sender.test", ["alice@test.example"],
                   message(subject="junky"))
    assert rows(p, "alice@test.example") == []
    (row,) = rows(p, "alice@test.example", "Junk")
    m = raw(p, "alice@test.example", "Junk", row.split()[0])
    assert b"X-Spam-Flag: YES" in m
    assert b"X-Postern-Spam: junk" in m


def dkim_key():
    """An RSA key, and the dnsmasq line that publishes it as
    sel._domainkey.sender.test."""
    key = subprocess.run(["openssl", "genrsa", "2048"], capture_output=True,
                         check=True).stdout
    pub = subprocess.run(["openssl", "rsa", "-pubout", "-outform", "DER"],
                         input=key, capture_output=True, check=True).stdout
    record = "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode()
    # dnsmasq: a long TXT as several quoted strings of at most 255
    parts = ",".join('"%s"' % record[i:i + 250]
                     for i in range(0, len(record), 250))
    return key, f"txt-record=sel._domainkey.sender.test,{parts}\n"


def test_dkim_signed_message(postern_factory, dns_server, tmp_path):
    """A message signed by sender.test (RSA key published in dnsmasq)
    arrives with dkim=pass; the same message tampered gets dkim=fail."""
    key, record = dkim_key()
    dns_server.restart(record)
    p = postern_factory(deliver=True, directory=False, extra_conf=conf(
        dns_server, ["dkim"]))
    setup_dir(p)
    msg = message(subject="signed")
    sig = dkim.sign(msg, b"sel", b"sender.test", key,
                    include_headers=[b"From", b"To", b"Subject", b"Date"])
    with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
        s.sendmail("a@sender.test", ["alice@test.example"], sig + msg)
        s.sendmail("a@sender.test", ["alice@test.example"],
                   sig + msg.replace(b"Hello there", b"Hello thERE"))
    r = rows(p, "alice@test.example")
    assert len(r) == 2
    good = raw(p, "alice@test.example", "INBOX", r[0].split()[0])
    bad = raw(p, "alice@test.example", "INBOX", r[1].split()[0])
    assert b"dkim=pass header.d=sender.test header.s=sel" in good, good[:2000]
    assert b"dkim=fail" in bad, bad[:2000]


def test_dmarc_reject(postern_factory, dns_server):
    """From: a domain with p=reject, neither SPF (another envelope
    domain) nor DKIM aligned: refused at the end of DATA; an aligned
    envelope passes."""
    dns_server.restart('txt-record=_dmarc.strict.test,"v=DMARC1; p=reject"\n'
                       'txt-record=strict.test,"v=spf1 ip4:127.0.0.1 -all"\n'
                       'txt-record=other.test,"v=spf1 ip4:127.0.0.1 -all"\n')
    p = postern_factory(deliver=True, directory=False, extra_conf=conf(
        dns_server, ["spf", "dkim", "dmarc"]))
    setup_dir(p)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
        s.ehlo("client.test")
        assert s.mail("x@other.test")[0] == 250
        assert s.rcpt("alice@test.example")[0] == 250
        code, text = s.data(message("boss@strict.test", "spoofed"))
        assert code == 550 and b"DMARC" in text, (code, text)
        s.sendmail("x@strict.test", ["alice@test.example"],
                   message("boss@strict.test", "aligned"))
    (row,) = rows(p, "alice@test.example")
    m = raw(p, "alice@test.example", "INBOX", row.split()[0])
    assert b"dmarc=pass" in m and b"header.from=strict.test" in m, m[:2000]


def test_default_stages(postern_factory, dns_server):
    """No filters.stages in the file: the default pipeline (iprev, spf,
    dkim, dmarc, greylist, bayes) checks a client that is not trusted.
    A signed, aligned message passes every check and is delivered; a
    spoof of a p=reject domain is refused; a message whose DKIM and
    DMARC fail (p=none: scored) is over filters.greylist_score and is
    greylisted on doubt.  (libspf2 passes a loopback client, and
    127.0.0.1's reverse name is libunbound's "localhost".)"""
    key, record = dkim_key()
    dns_server.restart(
        record
        + 'txt-record=sender.test,"v=spf1 ip4:127.0.0.1 -all"\n'
        + 'txt-record=_dmarc.sender.test,"v=DMARC1; p=reject"\n'
        + 'txt-record=_dmarc.lax.test,"v=DMARC1; p=none"\n')
    p = postern_factory(deliver=True, directory=False, extra_conf=f"""
log = {{ level = "debug"; }};
dns = {{ servers = ["{dns_server.forwarder}"]; forward_special_zones = true;
        timeout = 2; }};
filters = {{ trust_loopback = false; }};
""")
    setup_dir(p)
    assert "filters: 6 stages" in p.log()

    def signed(frm, subject, tamper=False):
        msg = message(frm, subject)
        sig = dkim.sign(msg, b"sel", b"sender.test", key,
                        include_headers=[b"From", b"To", b"Subject",
                                         b"Date"])
        return sig + (msg.replace(b"Hello there", b"Hello thERE")
                      if tamper else msg)

    with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
        s.ehlo("client.test")
        s.sendmail("x@sender.test", ["alice@test.example"],
                   signed("a@sender.test", "good"))

        assert s.mail("x@other.test")[0] == 250
        assert s.rcpt("alice@test.example")[0] == 250
        code, text = s.data(message("boss@sender.test", "spoofed"))
        assert code == 550 and b"DMARC" in text, (code, text)

        assert s.mail("x@other.test")[0] == 250
        assert s.rcpt("alice@test.example")[0] == 250
        code, text = s.data(signed("a@lax.test", "doubtful", tamper=True))
        assert code == 451 and b"Greylisted" in text, (code, text)
    (row,) = rows(p, "alice@test.example")
    m = raw(p, "alice@test.example", "INBOX", row.split()[0])
    for clause in (b"iprev=pass", b"spf=pass smtp.mailfrom=x@sender.test",
                   b"dkim=pass header.d=sender.test", b"dmarc=pass"):
        assert clause in m, (clause, m[:2000])
    assert b"X-Spam-Status: No, score=0.0" in m, m[:2000]
    log = p.log()
    assert "DKIM_FAIL=2.0" in log and "DMARC_FAIL=3.0" in log, log[-3000:]


def test_trusted_client_is_not_filtered(postern_factory):
    """With the default (inbound-only) stages, a trusted client -- here
    loopback, trusted by default -- gets no filter session at all: no
    stage runs, nothing is held for a data step, and the message is
    stored as sent, without Authentication-Results or X-Spam-Status."""
    p = postern_factory(deliver=True, directory=False)
    setup_dir(p)
    assert "filters: 6 stages" in p.log()
    with smtplib.SMTP("127.0.0.1", p.port, timeout=20) as s:
        s.ehlo("client.test")
        s.sendmail("x@sender.test", ["alice@test.example"],
                   message("a@sender.test", "trusted"))
    (row,) = rows(p, "alice@test.example")
    m = raw(p, "alice@test.example", "INBOX", row.split()[0])
    assert b"Subject: trusted" in m, m[:2000]
    assert b"Authentication-Results:" not in m, m[:2000]
    assert b"X-Spam-Status:" not in m, m[:2000]
