"""Message submission (RFC 6409) on 587 with STARTTLS and 465 with
implicit TLS (RFC 8314), SMTP AUTH PLAIN and LOGIN (RFC 4954) against
the directory, failed-login throttling, authenticated relaying and the
sender rule, the RFC 6409 8 header fixes, and DSN parameters (RFC 3461)
stored for the queue."""
import base64
import re
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

import spool
from conftest import BIN, free_port
from smtpclient import Raw

PASSWORD = "correct horse"
OTHER_PASSWORD = "battery staple"


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def add_user(p, addr, password):
    subprocess.run([BIN, "-c", p.conf, "user", "add", addr],
                   input=password + "\n", text=True, check=True,
                   capture_output=True, timeout=60)


def make_server(postern_factory, auth_extra="", smtp_extra="", **kw):
    """Submission on 587-like and 465-like loopback ports, users
    sub@test.example (alias sales@test.example, sub-addresses) and
    other@test.example; remote mail and local mail both held in the
    queue so that the tests can read what was stored."""
    sub_port, subs_port = free_port(), free_port()
    p = postern_factory(
        submission='listen = [ "127.0.0.1:%d" ]; listen_tls = [ "127.0.0.1:%d" ];'
        % (sub_port, subs_port),
        extra_conf='log = { level = "debug"; };\nauth = { %s };' % auth_extra,
        smtp_extra=smtp_extra, deliver=True,
        queue_extra='hold_transports = [ "local", "smtp" ];', **kw)
    p.sub_port, p.subs_port = sub_port, subs_port
    add_user(p, "sub@test.example", PASSWORD)
    add_user(p, "other@test.example", OTHER_PASSWORD)
    p.cli("alias", "add", "sales@test.example", "sub@test.example")
    p.cli("alias", "add", "team@test.example", "sub@test.example")
    p.cli("alias", "add", "team@test.example", "other@test.example")
    return p


@pytest.fixture
def sub(postern_factory):
    return make_server(postern_factory)


def submit(p, port=None, implicit=False, user="sub@test.example",
           password=PASSWORD, mech=None):
    """A logged-in smtplib client on the submission port."""
    if implicit:
        s = smtplib.SMTP_SSL("127.0.0.1", p.subs_port, context=tls_context(),
                             timeout=30)
    else:
        s = smtplib.SMTP("127.0.0.1", port or p.sub_port, timeout=30)
        s.ehlo("client.example")
        s.starttls(context=tls_context())
    s.ehlo("client.example")
    s.user, s.password = user, password
    if mech == "LOGIN":
        code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
    else:
        code, _ = s.auth("PLAIN", s.auth_plain)
    assert code == 235
    return s


def queue_show(p, qid):
    return p.cli("queue", "show", qid).stdout


def stored(p, qid):
    return spool.load(p.queue_dir, qid)


def qid_of(reply):
    return reply.split()[-1].decode()


MSG = ("From: Sub <sub@test.example>\r\nTo: x@example.net\r\n"
       "Subject: submitted\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
       "Message-ID: <given@test.example>\r\n\r\nhello\r\n")


def test_starttls_then_auth_plain_and_login(sub):
    s = smtplib.SMTP("127.0.0.1", sub.sub_port, timeout=30)
    code, ehlo = s.ehlo("client.example")
    assert code == 250 and b"STARTTLS" in ehlo and b"DSN" in ehlo
    assert b"AUTH" not in ehlo           # not before TLS
    code, text = s.docmd("AUTH", "PLAIN " + b64("\0sub@test.example\0" + PASSWORD))
    assert (code, text[:6]) == (538, b"5.7.11")
    code, text = s.docmd("MAIL", "FROM:<sub@test.example>")
    assert (code, text[:5]) == (530, b"5.7.0")
    s.starttls(context=tls_context())
    code, ehlo = s.ehlo("client.example")
    assert b"AUTH PLAIN LOGIN" in ehlo and b"STARTTLS" not in ehlo
    s.user, s.password = "sub@test.example", PASSWORD
    code, text = s.auth("PLAIN", s.auth_plain)
    assert (code, text[:5]) == (235, b"2.7.0")
    code, text = s.docmd("AUTH", "PLAIN " + b64("\0sub@test.example\0" + PASSWORD))
    assert (code, text[:5]) == (503, b"5.5.1")     # once only
    assert s.sendmail("sub@test.example", ["u@test.example"], MSG) == {}
    s.quit()
    # LOGIN: two 334 prompts, and with the user name as initial response
    s = submit(sub, mech="LOGIN")
    s.sendmail("sub@test.example", ["u@test.example"], MSG)
    s.quit()
    r = Raw(sub.sub_port)
    r.cmd("EHLO c.example")
    assert r.cmd("STARTTLS")[0] == 220
    r.starttls()
    r.cmd("EHLO c.example")
    code, lines = r.cmd("AUTH LOGIN " + b64("SUB@Test.Example"))
    assert (code, lines[0]) == (334, "334 UGFzc3dvcmQ6")
    assert r.cmd(b64(PASSWORD))[0] == 235
    log = sub.log()
    assert "SASL PLAIN authentication succeeded: user=<sub@test.example>" in log
    assert "SASL LOGIN authentication succeeded" in log
    assert PASSWORD not in log and b64(PASSWORD) not in log
    assert "sasl_method=PLAIN, sasl_username=sub@test.example" in log


def test_bad_password_and_unknown_user(sub):
    s = smtplib.SMTP_SSL("127.0.0.1", sub.subs_port, context=tls_context(),
                         timeout=30)
    s.ehlo("client.example")
    for user, pw in (("sub@test.example", "wrong"),
                     ("nobody@test.example", PASSWORD),
                     ("not-an-address", PASSWORD)):
        code, text = s.docmd("AUTH", "PLAIN " + b64("\0%s\0%s" % (user, pw)))
        assert (code, text[:5]) == (535, b"5.7.8"), (user, code, text)
    s.quit()
    log = sub.log()
    assert "SASL PLAIN authentication failed: user=<sub@test.example>" in log
    assert "user=<nobody@test.example>" in log
    assert "wrong" not in log


def test_sasl_exchange_edges(sub):
    r = Raw(sub.sub_port)
    assert r.cmd("HELO c.example")[0] == 250
    assert r.cmd("STARTTLS")[0] == 220
    r.starttls()
    assert r.cmd("HELO c.example")[0] == 250
    assert r.cmd("AUTH PLAIN")[0] == 503              # needs EHLO
    r.cmd("EHLO c.example")
    assert r.cmd("AUTH CRAM-MD5")[0] == 504
    assert r.cmd("AUTH PLAIN a b")[0] == 501
    assert r.cmd("AUTH PLAIN")[1] == ["334 "]         # empty challenge
    code, lines = r.cmd("*")
    assert (code, lines[0][:9]) == (501, "501 5.0.0")
    assert r.cmd("AUTH PLAIN")[0] == 334
    code, lines = r.cmd("not base64!")
    assert (code, lines[0][:9]) == (501, "501 5.5.2")
    assert r.cmd("AUTH PLAIN " + b64("no nul here"))[0] == 501
    # an authzid other than the authcid is refused
    code, lines = r.cmd("AUTH PLAIN " + b64("other@test.example\0sub@test.example\0"
                                            + PASSWORD))
    assert (code, lines[0][:9]) == (535, "535 5.7.8")
    # a response line over 12288 octets
    assert r.cmd("AUTH PLAIN")[0] == 334
    code, lines = r.cmd("A" * 13000)
    assert (code, lines[0][:9]) == (500, "500 5.5.6")
    # the continuation form, with the authzid equal to the authcid
    assert r.cmd("AUTH PLAIN")[0] == 334
    assert r.cmd(b64("sub@test.example\0sub@test.example\0" + PASSWORD))[0] == 235
    assert r.cmd("STARTTLS")[0] == 503
    assert r.cmd("MAIL FROM:<sub@test.example>")[0] == 250
    assert r.cmd("AUTH PLAIN =")[0] == 503             # authenticated
    r.close()
    r = Raw(sub.sub_port)
    r.cmd("EHLO c.example")
    r.cmd("STARTTLS")
    r.starttls()
    r.cmd("EHLO c.example")
    # "=" is an empty initial response: a malformed PLAIN message
    assert r.cmd("AUTH PLAIN =")[0] == 501
    r.close()


def test_implicit_tls_and_relay(sub):
    s = submit(sub, implicit=True)
    code, ehlo = s.ehlo("client.example")
    assert b"STARTTLS" not in ehlo and b"AUTH PLAIN LOGIN" in ehlo
    s.mail("sub@test.example")
    code, _ = s.rcpt("someone@example.net")          # a remote domain
    assert code == 250
    code, text = s.data(MSG.encode())
    assert code == 250
    qid = qid_of(text)
    s.quit()
    show = queue_show(sub, qid)
    assert "auth_user: sub@test.example" in show
    assert "recipient: someone@example.net" in show
    m = stored(sub, qid)
    assert b"with ESMTPSA id " + qid.encode() in m["content"]
    # unauthenticated, port 25 relays nothing
    with smtplib.SMTP("127.0.0.1", sub.port, timeout=30) as s:
        s.ehlo("client.example")
        s.mail("sub@test.example")
        code, text = s.rcpt("someone@example.net")
        assert (code, text[:5]) == (554, b"5.7.1")
    # and the implicit TLS port wants AUTH too
    s = smtplib.SMTP_SSL("127.0.0.1", sub.subs_port, context=tls_context(),
                         timeout=30)
    s.ehlo("client.example")
    code, text = s.docmd("MAIL", "FROM:<sub@test.example>")
    assert (code, text[:5]) == (530, b"5.7.0")
    s.quit()


def test_port25_offers_no_auth_by_default(sub):
    r = Raw(sub.port)
    r.cmd("EHLO c.example")
    r.cmd("STARTTLS")
    r.starttls()
    code, lines = r.cmd("EHLO c.example")
    assert not any("AUTH" in ln for ln in lines)
    assert r.cmd("AUTH PLAIN =")[0] == 503
    r.close()


def test_sender_must_be_owned(postern_factory):
    p = make_server(postern_factory,
                    auth_extra='sender_wildcards = [ "@example.org=sub@test.example", '
                               '"me@elsewhere.example=sub@test.example" ];')
    s = submit(p)
    for sender, want in (("sub@test.example", 250),
                         ("SUB@TEST.EXAMPLE", 250),
                         ("sub+tag@test.example", 250),   # sub-address
                         ("sales@test.example", 250),     # its alias
                         ("team@test.example", 250),      # list alias
                         ("anyone@example.org", 250),     # wildcard
                         ("me@elsewhere.example", 250),
                         ("other@test.example", 553),     # another account
                         ("boss@test.example", 553),      # only the catch-all
                         ("x@example.net", 553),
                         ("", 553)):                      # no bounces
        code, text = s.docmd("MAIL", "FROM:<%s>" % sender)
        assert code == want, (sender, code, text)
        if code == 553:
            assert text.startswith(b"5.7.1"), text
        s.rset()
    # the From: header is checked too, at the end of DATA
    for frm, want in (("Sales <sales@test.example>", 250),
                      ('"Sub, the" <sub@test.example>, sub+x@test.example', 250),
                      ("other@test.example", 553),
                      ("Sub <sub@test.example>, boss@test.example", 553),
                      ("undisclosed:;", 553),
                      ("Sub <sub@test.example", 553)):
        s.mail("sub@test.example")
        s.rcpt("u@test.example")
        code, text = s.data(("From: %s\r\nSubject: x\r\n\r\nbody\r\n" % frm)
                            .encode())
        assert code == want, (frm, code, text)
        if code == 553:
            assert text.startswith(b"5.7.1"), text
    s.quit()
    log = p.log()
    assert "Sender address rejected: not owned by user sub@test.example" in log
    assert "From: <other@test.example> not owned by user sub@test.example" in log


def test_message_id_and_date_added(sub):
    s = submit(sub)
    bare = b"From: sub@test.example\r\nSubject: bare\r\n\r\nbody\r\n"
    s.mail("sub@test.example")
    s.rcpt("u@test.example")
    code, text = s.data(bare)
    assert code == 250
    qid = qid_of(text)
    s.mail("sub@test.example")
    s.rcpt("u@test.example")
    code, text = s.data(MSG.encode())
    qid_full = qid_of(text)
    s.mail("sub@test.example")
    s.rcpt("u@test.example")
    code, text = s.data(b"Subject: no from\r\n\r\nbody\r\n")
    assert code == 250
    qid_nofrom = qid_of(text)
    s.quit()
    c = stored(sub, qid)["content"]
    hdr = c.split(b"\r\n\r\n", 1)[0]
    assert re.search(rb"\r\nMessage-ID: <%s\.\d+@mx\.test\.example>\r\n"
                     % qid.encode(), hdr), hdr
    assert re.search(rb"\r\nDate: \w{3}, \d{2} \w{3} \d{4} \d\d:\d\d:\d\d "
                     rb"[+-]\d{4}\r\n", hdr), hdr
    assert c.endswith(bare)
    c = stored(sub, qid_full)["content"]
    assert c.count(b"Message-ID:") == 1 and c.count(b"Date:") == 1
    c = stored(sub, qid_nofrom)["content"]
    assert b"\r\nFrom: <sub@test.example>\r\n" in c
    # port 25 leaves messages as they are
    with smtplib.SMTP("127.0.0.1", sub.port, timeout=30) as s:
        s.ehlo("client.example")
        s.mail("a@example.net")
        s.rcpt("u@test.example")
        code, text = s.data(bare)
    c = stored(sub, qid_of(text))["content"]
    assert b"Message-ID:" not in c and b"\r\nDate:" not in c


def test_dsn_parameters_stored(sub):
    r = Raw(sub.port)
    code, lines = r.cmd("EHLO c.example")
    assert "250-DSN" in lines
    assert r.cmd("MAIL FROM:<a@example.net> RET=FULL ENVID=x+2By NOTIFY=NEVER")[0] == 555
    assert r.cmd("MAIL FROM:<a@example.net> RET=NONE")[0] == 501
    assert r.cmd("MAIL FROM:<a@example.net> ENVID=a+0Ab")[0] == 501  # a control
    assert r.cmd("MAIL FROM:<a@example.net> AUTH=<>")[0] == 555   # no AUTH here
    assert r.cmd("MAIL FROM:<a@example.net> RET=HDRS ENVID=QQ314159 SIZE=100")[0] == 250
    assert r.cmd("RCPT TO:<u@test.example> NOTIFY=SUCCESS,DELAY "
                 "ORCPT=rfc822;orig+2Bx@example.org")[0] == 250
    code, lines = r.cmd("RCPT TO:<u@example.org> NOTIFY=NEVER,SUCCESS")
    assert (code, lines[0][:9]) == (501, "501 5.5.4")
    assert r.cmd("RCPT TO:<u@example.org> NOTIFY=NEVER")[0] == 250
    assert r.cmd("DATA")[0] == 354
    code, lines = r.cmd("Subject: dsn\r\n\r\nbody\r\n.")
    assert code == 250
    qid = lines[0].split()[-1]
    r.close()
    show = queue_show(sub, qid)
    assert "sender_params: RET=HDRS ENVID=QQ314159 SIZE=100" in show
    assert "params: NOTIFY=SUCCESS,DELAY ORCPT=rfc822;orig+2Bx@example.org" in show
    assert "params: NOTIFY=NEVER" in show
    # on submission AUTH= is taken and not stored
    s = submit(sub)
    code, _ = s.docmd("MAIL", "FROM:<sub@test.example> AUTH=<> RET=HDRS")
    assert code == 250
    s.rcpt("u@test.example")
    code, text = s.data(MSG.encode())
    s.quit()
    show = queue_show(sub, qid_of(text))
    assert "sender_params: RET=HDRS\n" in show


def test_bruteforce_is_slowed_blocked_and_logged(postern_factory):
    """1,000 wrong passwords from one address: the replies are held back
    (growing delays), the address is blocked after max_failures_per_ip
    and every later attempt gets 421 without a password check; another
    user from another address logs in at once, and so does the attacked
    user (accounts are never locked).  Plaintext AUTH from loopback
    (auth.plaintext_loopback) keeps 1,000 connections cheap."""
    p = make_server(postern_factory, auth_extra=(
        "plaintext_loopback = true; failure_free = 2; failure_delay_ms = 20; "
        "failure_delay_max_ms = 80; max_failures_per_ip = 10; "
        "block_time = \"1h\";"))
    replies = {}
    conn = None
    for i in range(1000):
        if conn is None:
            conn = Raw(p.sub_port)
            conn.cmd("EHLO attacker.example")
        try:
            code, lines = conn.cmd("AUTH PLAIN " + b64(
                "\0sub@test.example\0guess%d" % i))
        except (EOFError, ConnectionResetError, BrokenPipeError):
            conn.close()
            conn = None
            continue
        replies[code] = replies.get(code, 0) + 1
        if code == 421 or conn.buf.startswith(b"421"):
            conn.close()
            conn = None
    if conn is not None:
        conn.close()
    assert replies.get(535) == 10, replies            # then blocked
    assert replies.get(421, 0) >= 900, replies
    log = p.log()
    fails = re.findall(r"SASL PLAIN authentication failed: "
                       r"user=<sub@test\.example>, failures=(\d+) from this "
                       r"address, (\d+) for this user, reply delayed (\d+) ms",
                       log)
    assert len(fails) == 10
    assert [int(f[0]) for f in fails] == list(range(1, 11))
    assert [int(f[2]) for f in fails][:2] == [0, 0]
    assert [int(f[2]) for f in fails][2:5] == [20, 40, 80]
    assert log.count("blocked from AUTH for 3600s after 10 failed") == 1
    assert log.count("AUTH refused: blocked for") >= 900
    # another user from another address: at once
    for src, user, pw in (("127.0.0.2", "other@test.example", OTHER_PASSWORD),
                          ("127.0.0.3", "sub@test.example", PASSWORD)):
        s = socket.socket()
        s.bind((src, 0))
        s.settimeout(30)
        s.connect(("127.0.0.1", p.sub_port))
        r = Raw.__new__(Raw)
        r.sock, r.buf = s, b""
        assert r.reply()[0] == 220
        r.cmd("EHLO c.example")
        assert r.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (user, pw)))[0] == 235
        r.close()
    # the blocked address stays blocked, whoever it claims to be
    r = Raw(p.sub_port)
    r.cmd("EHLO c.example")
    assert r.cmd("AUTH PLAIN " + b64("\0other@test.example\0" +
                                     OTHER_PASSWORD))[0] == 421
    assert r.closed()


def test_notify_success_goes_through_the_queue(postern_factory):
    """Direct delivery would bypass the queue, which sends the success
    report: a recipient with NOTIFY=SUCCESS is queued, delivered, and
    its sender gets an RFC 3464 report with Action: delivered."""
    from test_bounce import fetch, inbox, report_parts, wait_for
    p = postern_factory(deliver=True, directory=False, stages=[])
    for cmd in (["domain", "add", "test.example"],
                ["user", "add", "alice@test.example", "--no-password"],
                ["user", "add", "bob@test.example", "--no-password"]):
        p.cli(*cmd)
    msg = (b"From: alice@test.example\r\nSubject: %s\r\n"
           b"Message-ID: <%s@test.example>\r\n\r\nbody\r\n")
    with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
        s.ehlo("client.example")
        s.mail("alice@test.example", ["ENVID=env1", "RET=HDRS"])
        s.rcpt("bob@test.example", ["NOTIFY=SUCCESS"])
        code, text = s.data(msg % (b"report me", b"r"))
        assert code == 250
        qid = qid_of(text)
        s.mail("alice@test.example")
        s.rcpt("bob@test.example")
        code, text = s.data(msg % (b"quietly", b"q"))
        assert code == 250
    wait_for(lambda: len(inbox(p, "bob@test.example")) == 2, p,
             what="both messages in bob's INBOX")
    wait_for(lambda: len(inbox(p, "alice@test.example")) == 1, p,
             what="the success report")
    log = p.log()
    line = [ln for ln in log.splitlines()
            if "%s: from=<alice@test.example>, size=" % qid in ln]
    assert any("smtpd" in ln and "directly" not in ln for ln in line), line
    assert any("(queue active)" in ln for ln in line), line
    assert "delivered directly" in log          # the other one
    m = fetch(p, "alice@test.example", inbox(p, "alice@test.example")[0])
    text = m.as_string()
    assert "Action: delivered" in text, text
    assert "Original-Envelope-Id: env1" in text, text
    report_parts(m)


def test_big_message_header_checked_at_first_flush(sub):
    """A message bigger than what is kept in memory is checked, and
    completed, before its first bytes go to the spool."""
    body = (b"x" * 70 + b"\r\n") * 10000            # 720 KB
    s = submit(sub)
    s.mail("sub@test.example")
    s.rcpt("u@test.example")
    code, text = s.data(b"From: other@test.example\r\nSubject: big\r\n\r\n"
                        + body)
    assert (code, text[:5]) == (553, b"5.7.1")
    n = len(sub.queued())
    s.mail("sub@test.example")
    s.rcpt("u@test.example")
    code, text = s.data(b"From: sub@test.example\r\nSubject: big\r\n\r\n"
                        + body)
    assert code == 250
    s.quit()
    assert len(sub.queued()) == n + 1
    c = stored(sub, qid_of(text))["content"]
    assert b"\r\nMessage-ID: <" in c.split(b"\r\n\r\n", 1)[0]
    assert c.endswith(body)


def test_client_gone_while_reply_held(postern_factory):
    """A failure's held reply outlives neither its client nor the
    server: a client that hangs up, and a server stopped, while the
    timer runs (the fixture checks the sanitizer log)."""
    import time
    p = make_server(postern_factory, auth_extra=(
        "plaintext_loopback = true; failure_free = 0; "
        "failure_delay_ms = 300; failure_delay_max_ms = 5000;"))
    def wait_log(text):
        deadline = time.time() + 20
        while text not in p.log():
            assert time.time() < deadline, p.log()
            time.sleep(0.02)

    # gone before the password check is done: the failure still counts
    r = Raw(p.sub_port)
    r.cmd("EHLO c.example")
    r.send("AUTH PLAIN " + b64("\0nobody@test.example\0nope") + "\r\n")
    r.close()
    wait_log("user=<nobody@test.example>, failures=1 from this address")
    # gone while the reply is held
    r = Raw(p.sub_port)
    r.cmd("EHLO c.example")
    r.send("AUTH PLAIN " + b64("\0sub@test.example\0nope") + "\r\n")
    wait_log("reply delayed 600 ms")
    r.close()
    time.sleep(0.8)
    r = Raw(p.sub_port)
    r.cmd("EHLO c.example")
    assert r.cmd("AUTH PLAIN " + b64("\0other@test.example\0" +
                                     OTHER_PASSWORD))[0] == 235
    r.close()
    # the next failure is held 1.2 s: stop the server meanwhile
    r = Raw(p.sub_port)
    r.cmd("EHLO c.example")
    r.send("AUTH PLAIN " + b64("\0sub@test.example\0nope") + "\r\n")
    wait_log("reply delayed 1200 ms")
    assert p.stop() == 0
    r.close()


def test_port25_auth_when_configured(postern_factory):
    """smtp.auth = true: port 25 offers AUTH after STARTTLS, and an
    authenticated client relays there, as itself only; MAIL still needs
    no AUTH there."""
    p = make_server(postern_factory, smtp_extra="auth = true;")
    with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
        code, ehlo = s.ehlo("client.example")
        assert b"AUTH" not in ehlo
        s.starttls(context=tls_context())
        code, ehlo = s.ehlo("client.example")
        assert b"AUTH PLAIN LOGIN" in ehlo
        s.login("sub@test.example", PASSWORD)
        code, _ = s.docmd("MAIL", "FROM:<other@test.example>")
        assert code == 553
        s.rset()
        s.mail("sub@test.example")
        assert s.rcpt("far@example.net")[0] == 250
    with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
        s.ehlo("client.example")
        s.mail("a@example.net")
        assert s.rcpt("u@test.example")[0] == 250


def guess_all(p, n, user="sub@test.example"):
    """n connections each send one wrong AUTH PLAIN without waiting;
    returns them, their replies still to be read."""
    conns = []
    for i in range(n):
        r = Raw(p.sub_port, timeout=60)
        r.cmd("EHLO guesser.example")
        conns.append(r)
    for i, r in enumerate(conns):
        r.send("AUTH PLAIN " + b64("\0%s\0guess%d" % (user, i)) + "\r\n")
    return conns


def test_password_checks_do_not_hold_up_mail(postern_factory):
    """Password checks run on their own pool (auth.check_threads): while
    one thread works through 16 Argon2id checks (about 0.3 s each), a
    message on port 25 - a recipient check and a delivery, jobs of the
    shared pool - is not queued behind them.  On the shared pool (8
    threads, 2 cores here) it waited about 3.5 s; now milliseconds, with
    every guess still answered 535 afterwards."""
    p = make_server(postern_factory, auth_extra=(
        "plaintext_loopback = true; failure_free = 1000; "
        "max_failures_per_ip = 0; check_threads = 1; max_checks = 0;"))
    conns = guess_all(p, 16)
    t0 = time.monotonic()
    with smtplib.SMTP("127.0.0.1", p.port, timeout=60) as s:
        s.sendmail("a@example.net", ["u@test.example"],
                   b"Subject: during a guessing crowd\r\n\r\nhi\r\n")
    took = time.monotonic() - t0
    codes = [r.reply()[0] for r in conns]
    all_answered = time.monotonic() - t0
    for r in conns:
        r.close()
    assert codes == [535] * 16
    assert took < 0.8 < all_answered, (took, all_answered)


def test_password_checks_bounded(postern_factory):
    """auth.max_checks: past that many checks under way, AUTH gets 454
    4.7.0 at once, is neither checked nor counted as a failure, and
    logged; once they are done a correct password works."""
    p = make_server(postern_factory, auth_extra=(
        "plaintext_loopback = true; check_threads = 1; max_checks = 2;"))
    conns = guess_all(p, 6)
    replies = [r.reply() for r in conns]
    for r in conns:
        r.close()
    codes = sorted(c for c, _ in replies)
    assert codes.count(535) >= 2 and codes.count(454) >= 1, replies
    assert set(codes) == {454, 535}, replies
    busy = [lines[0] for c, lines in replies if c == 454]
    assert busy[0].startswith("454 4.7.0 Temporary authentication "
                              "failure"), busy
    log = p.log()
    assert log.count("password checks under way") == codes.count(454)
    assert log.count("authentication failed") == codes.count(535)
    r = Raw(p.sub_port)
    r.cmd("EHLO c.example")
    assert r.cmd("AUTH PLAIN " + b64("\0sub@test.example\0" +
                                     PASSWORD))[0] == 235
    r.close()
