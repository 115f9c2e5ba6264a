"""SMTP inbound with real clients: smtplib, swaks and a raw socket."""
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import pytest

import spool
from smtpclient import Raw
from conftest import BIN

MSG = (b"From: a@example.net\r\nTo: u@test.example\r\nSubject: hi\r\n"
       b"Message-ID: <1@example.net>\r\n\r\nHello\r\n.leading dot\r\nbye\r\n")


def only_message(p):
    q = p.queued()
    assert len(q) == 1, q
    return spool.load(p.queue_dir, q[0])


def test_happy_path_smtplib(postern_factory):
    # no filter stages: they would add their fields to the stored bytes
    postern = postern_factory(stages=[])
    with smtplib.SMTP("127.0.0.1", postern.port) as s:
        code, ehlo = s.ehlo("client.example")
        assert code == 250
        for ext in (b"PIPELINING", b"SIZE", b"8BITMIME", b"SMTPUTF8",
                    b"CHUNKING", b"ENHANCEDSTATUSCODES", b"STARTTLS"):
            assert ext in ehlo
        s.mail("a@example.net")
        s.rcpt("u@test.example")
        s.rcpt("v@EXAMPLE.org")
        code, text = s.data(MSG)
        assert code == 250 and text.startswith(b"2.0.0 Ok: queued as ")
        qid = text.split()[-1].decode()
    m = only_message(postern)
    assert m["qid"] == qid
    assert m["sender"] == "a@example.net"
    assert m["rcpts"] == ["u@test.example", "v@EXAMPLE.org"]
    assert spool.body_after_received(m["content"]) == MSG
    assert f"{qid}: from=<a@example.net>, size=" in postern.log()


def test_null_sender_and_postmaster(postern):
    r = Raw(postern.port)
    assert r.cmd("HELO client.example")[0] == 250
    assert r.cmd("MAIL FROM:<>")[0] == 250
    assert r.cmd("RCPT TO:<Postmaster>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    assert r.cmd("Subject: x\r\n\r\nbody\r\n.")[0] == 250
    r.close()
    m = only_message(postern)
    assert m["sender"] == "" and m["rcpts"] == ["Postmaster"]


def test_pipelining(postern):
    r = Raw(postern.port)
    r.cmd("EHLO client.example")
    r.send("MAIL FROM:<a@example.net>\r\nRCPT TO:<u@test.example>\r\n"
           "RCPT TO:<x@elsewhere.example>\r\nRCPT TO:<w@test.example>\r\n"
           "DATA\r\n")
    codes = [r.reply()[0] for _ in range(5)]
    assert codes == [250, 250, 554, 250, 354]
    r.send("Subject: p\r\n\r\nbody\r\n.\r\nMAIL FROM:<b@example.net>\r\n"
           "RCPT TO:<u@test.example>\r\nDATA\r\n")
    codes = [r.reply()[0] for _ in range(4)]
    assert codes == [250, 250, 250, 354]
    r.send("second\r\n.\r\nQUIT\r\n")
    assert r.reply()[0] == 250
    assert r.reply()[0] == 221
    assert r.closed()
    assert len(postern.queued()) == 2


def test_chunking_bdat(postern_factory):
    postern = postern_factory(stages=[])    # the stored bytes are compared
    r = Raw(postern.port)
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@example.net> BODY=8BITMIME")
    r.cmd("RCPT TO:<u@test.example>")
    part1 = b"Subject: bdat\r\n\r\nfirst chunk\r\n.\r\n"
    part2 = "second chunk \u00e9\r\n".encode()
    r.send(b"BDAT %d\r\n" % len(part1) + part1)
    code, lines = r.reply()
    assert code == 250, lines
    # pipelined: last chunk and a following command in one write
    r.send(b"BDAT %d LAST\r\n" % len(part2) + part2 + b"NOOP\r\n")
    code, lines = r.reply()
    assert code == 250 and "queued as" in lines[0], lines
    assert r.reply()[0] == 250  # NOOP
    r.cmd("QUIT")
    m = only_message(postern)
    # BDAT content is taken as is: no dot-unstuffing, no end marker
    assert spool.body_after_received(m["content"]) == part1 + part2


def test_bdat_zero_last_and_errors(postern):
    r = Raw(postern.port)
    r.cmd("EHLO client.example")
    # BDAT without a transaction: the octets are consumed, then 503
    r.send(b"BDAT 5\r\nhello")
    assert r.reply()[0] == 503
    assert r.cmd("NOOP")[0] == 250
    r.cmd("MAIL FROM:<a@example.net>")
    r.cmd("RCPT TO:<u@test.example>")
    r.send(b"BDAT 8\r\nX: y\r\n\r\n")
    assert r.reply()[0] == 250
    assert r.cmd("DATA")[0] == 503        # DATA after BDAT
    code, lines = r.cmd("BDAT 0 LAST")
    assert code == 250 and "queued as" in lines[0]
    r.close()
    assert len(postern.queued()) == 1


def test_starttls_and_send(postern):
    with smtplib.SMTP("127.0.0.1", postern.port) as s:
        s.ehlo("client.example")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        code, _ = s.starttls(context=ctx)
        assert code == 220
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
        code, ehlo = s.ehlo("client.example")
        assert b"STARTTLS" not in ehlo     # not offered twice
        s.sendmail("a@example.net", ["u@test.example"], MSG)
    m = only_message(postern)
    assert b"with ESMTPS id" in m["content"]
    assert "TLS connection established" in postern.log()


def test_tls_1_1_refused(postern):
    r = Raw(postern.port)
    r.cmd("EHLO client.example")
    assert r.cmd("STARTTLS")[0] == 220
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        ctx.wrap_socket(r.sock, server_hostname="mx.test.example")


def test_starttls_discards_pipelined_plaintext(postern):
    """CVE-2011-0411: commands sent with STARTTLS must not run after it."""
    r = Raw(postern.port)
    r.cmd("EHLO client.example")
    r.send("STARTTLS\r\nMAIL FROM:<evil@example.net>\r\n")
    code, _ = r.reply()
    assert code == 220
    r.starttls()
    # the injected MAIL was discarded: a MAIL now needs EHLO (state reset)
    r.send("NOOP\r\n")
    assert r.reply()[0] == 250
    assert r.cmd("MAIL FROM:<a@example.net>")[0] == 503
    assert r.cmd("EHLO client.example")[0] == 250
    assert r.cmd("MAIL FROM:<a@example.net>")[0] == 250
    r.close()
    assert "discarding" in postern.log()


def test_smtputf8(postern):
    with smtplib.SMTP("127.0.0.1", postern.port) as s:
        s.ehlo("client.example")
        body = "From: j\u00f6rg@example.net\r\nSubject: \u00fcber\r\n\r\nGr\u00fc\u00dfe\r\n".encode()
        s.sendmail("j\u00f6rg@example.net", ["\u00fcser@test.example"], body,
                   mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    m = only_message(postern)
    assert m["sender"] == "j\u00f6rg@example.net"
    assert m["rcpts"] == ["\u00fcser@test.example"]
    assert b"with UTF8SMTP id" in m["content"]


def test_utf8_address_needs_smtputf8(postern):
    r = Raw(postern.port)
    r.cmd("EHLO client.example")
    code, lines = r.cmd("MAIL FROM:<j\u00f6rg@example.net>")
    assert code == 553 and "5.6.7" in lines[0]


def test_swaks_happy_path_pipelining_tls(postern):
    swaks = shutil.which("swaks")
    assert swaks, "swaks is installed by contrib/install-deps"
    for extra in ([], ["--pipeline"], ["-tls"]):
        out = subprocess.run(
            [swaks, "--server", "127.0.0.1", "--port", str(postern.port),
             "--from", "a@example.net", "--to", "u@test.example",
             "--helo", "client.example", "--body", "via swaks"] + extra,
            capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "queued as" in out.stdout
    assert len(postern.queued()) == 3


def test_relay_denied(postern):
    with smtplib.SMTP("127.0.0.1", postern.port) as s:
        s.ehlo("client.example")
        s.mail("a@example.net")
        code, text = s.rcpt("victim@gmail.example")
        assert code == 554 and text.startswith(b"5.7.1")
        code, text = s.rcpt("u@[127.0.0.1]")
        assert code == 554
        code, text = s.rcpt("u@sub.test.example")
        assert code == 554
        # the session goes on
        assert s.rcpt("u@test.example")[0] == 250
    assert "Relay access denied" in postern.log()


def test_command_line_too_long(postern):
    r = Raw(postern.port)
    r.cmd("EHLO client.example")
    code, lines = r.cmd("NOOP " + "x" * 600)
    assert code == 500 and "5.5.2" in lines[0]
    # exactly 512 octets with CRLF is fine
    assert r.cmd("NOOP " + "y" * (510 - 5))[0] == 250
    assert r.cmd("MAIL FROM:<a@example.net>")[0] == 250


def test_bare_lf_command(postern):
    r = Raw(postern.port)
    r.send("EHLO client.example\n")
    code, lines = r.reply()
    assert code == 500
    assert r.cmd("EHLO client.example")[0] == 250


def test_text_line_too_long(postern):
    r = Raw(postern.port)
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@example.net>")
    r.cmd("RCPT TO:<u@test.example>")
    assert r.cmd("DATA")[0] == 354
    code, lines = r.cmd("Subject: x\r\n\r\n" + "z" * 1200 + "\r\n.")
    assert code == 554 and "5.6.0" in lines[0]
    # a line of exactly 998 octets + CRLF is fine
    r.cmd("MAIL FROM:<a@example.net>")
    r.cmd("RCPT TO:<u@test.example>")
    r.cmd("DATA")
    assert r.cmd("Subject: y\r\n\r\n" + "w" * 998 + "\r\n.")[0] == 250
    assert len(postern.queued()) == 1


@pytest.mark.parametrize("smuggle", [
    b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r.\r\n",
])
def test_smuggling_rejected(postern, smuggle):
    """CVE-2023-51764 class: a fake end of data must not end the message
    nor start a second one; with bare_newline = reject the message is
    refused after its real end, and nothing is queued."""
    r = Raw(postern.port)
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@example.net>")
    r.cmd("RCPT TO:<u@test.example>")
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: one\r\n\r\nfirst" + smuggle +
           b"MAIL FROM:<spoof@example.net>\r\nRCPT TO:<u@test.example>\r\n"
           b"DATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n")
    code, lines = r.reply()
    assert code == 554 and "bare" in lines[0], lines
    assert r.cmd("NOOP")[0] == 250     # nothing else was answered
    r.close()
    assert postern.queued() == []


def test_smuggling_normalized(postern_factory):
    p = postern_factory(smtp_extra='bare_newline = "normalize";')
    r = Raw(p.port)
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@example.net>")
    r.cmd("RCPT TO:<u@test.example>")
    r.cmd("DATA")
    r.send(b"Subject: one\r\n\r\nfirst\n.\nMAIL FROM:<spoof@example.net>\r\n"
           b"RCPT TO:<u@test.example>\r\nDATA\r\nSubject: smuggled\r\n\r\n"
           b"evil\r\n.\r\n")
    code, lines = r.reply()
    assert code == 250, lines
    assert r.cmd("NOOP")[0] == 250
    r.close()
    m = only_message(p)     # one message, holding the smuggled text
    body = spool.body_after_received(m["content"])
    assert b"\n" not in body.replace(b"\r\n", b"")
    assert b"Subject: smuggled" in body


def test_size_limits(postern_factory):
    p = postern_factory(smtp_extra='max_message_size = "10k";')
    r = Raw(p.port)
    code, lines = r.cmd("EHLO client.example")
    assert "250-SIZE 10240" in lines
    code, lines = r.cmd("MAIL FROM:<a@example.net> SIZE=20000")
    assert code == 552 and "5.3.4" in lines[0]
    r.cmd("MAIL FROM:<a@example.net> SIZE=100")
    r.cmd("RCPT TO:<u@test.example>")
    r.cmd("DATA")
    code, lines = r.cmd("Subject: big\r\n\r\n" + ("a" * 70 + "\r\n") * 200 + ".")
    assert code == 552 and "5.3.4" in lines[0]
    # BDAT over the limit
    r.cmd("MAIL FROM:<a@example.net>")
    r.cmd("RCPT TO:<u@test.example>")
    r.send(b"BDAT 20000 LAST\r\n" + b"b" * 20000)
    code, lines = r.reply()
    assert code == 552
    assert r.cmd("NOOP")[0] == 250
    assert p.queued() == []


def test_recipient_limit(postern_factory):
    p = postern_factory(smtp_extra="max_recipients = 3;")
    r = Raw(p.port)
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@example.net>")
    codes = [r.cmd(f"RCPT TO:<u{i}@test.example>")[0] for i in range(5)]
    assert codes == [250, 250, 250, 452, 452]


def test_command_timeout(postern_factory):
    p = postern_factory(smtp_extra='command_timeout = "2s";')
    r = Raw(p.port)
    assert r.closed(wait=6)
    assert b"421 4.4.2" in r.buf
    assert "timeout after command" in p.log()


def test_data_timeout(postern_factory):
    p = postern_factory(smtp_extra='data_timeout = "2s";')
    r = Raw(p.port)
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@example.net>")
    r.cmd("RCPT TO:<u@test.example>")
    r.cmd("DATA")
    r.send("Subject: slow\r\n")
    assert r.closed(wait=8)
    assert b"421 4.4.2" in r.buf
    assert p.queued() == []


def test_error_cap(postern_factory):
    p = postern_factory(smtp_extra="max_errors = 5;")
    r = Raw(p.port)
    for _ in range(4):
        assert r.cmd("BOGUS")[0] == 500
    r.send("BOGUS\r\n")
    assert r.reply()[0] == 500
    code, lines = r.reply()
    assert code == 421
    assert r.closed()


def test_connection_limits(postern_factory):
    p = postern_factory(smtp_extra="max_connections_per_ip = 3; max_connections = 5;")
    conns = [Raw(p.port) for _ in range(3)]
    assert all(c.greeting[0] == 220 for c in conns)
    extra = Raw(p.port)
    assert extra.greeting[0] == 421
    assert extra.closed()
    conns[0].cmd("QUIT")
    conns[0].closed()
    time.sleep(0.3)
    again = Raw(p.port)
    assert again.greeting[0] == 220


def test_abuse_does_not_stall_others(postern):
    """A slow client, a huge line, a pipelining flood and a dropped
    connection, while a well-behaved client still gets mail through."""
    slow = Raw(postern.port)
    slow.send("EHLO slow")          # never finishes its line
    huge = Raw(postern.port)
    huge.send(b"NOOP " + b"x" * 2_000_000 + b"\r\n")
    flood = Raw(postern.port)
    flood.send(b"NOOP\r\n" * 20000)  # and never reads the replies
    drop = Raw(postern.port)
    drop.cmd("EHLO x")
    drop.cmd("MAIL FROM:<a@example.net>")
    drop.cmd("RCPT TO:<u@test.example>")
    drop.cmd("DATA")
    drop.send("Subject: cut\r\n\r\npartial")
    drop.close()
    t0 = time.time()
    with smtplib.SMTP("127.0.0.1", postern.port, timeout=10) as s:
        s.sendmail("a@example.net", ["u@test.example"], MSG)
    assert time.time() - t0 < 5
    assert len(postern.queued()) == 1
    for c in (slow, huge, flood):
        c.close()


def test_vrfy_help_noop_rset_quit(postern):
    r = Raw(postern.port)
    assert r.cmd("EHLO client.example")[0] == 250
    assert r.cmd("VRFY u")[0] == 252
    assert r.cmd("HELP")[0] == 214
    assert r.cmd("EXPN list")[0] == 502
    assert r.cmd("MAIL FROM:<a@example.net>")[0] == 250
    assert r.cmd("MAIL FROM:<a@example.net>")[0] == 503
    assert r.cmd("RSET")[0] == 250
    assert r.cmd("RCPT TO:<u@test.example>")[0] == 503
    assert r.cmd("DATA")[0] == 503
    assert r.cmd("QUIT")[0] == 221
    assert r.closed()


def test_order_and_syntax_errors(postern):
    r = Raw(postern.port)
    assert r.cmd("MAIL FROM:<a@example.net>")[0] == 503    # before HELO
    assert r.cmd("EHLO")[0] == 501
    assert r.cmd("EHLO client.example")[0] == 250
    assert r.cmd("MAIL FROM:a@example.net")[0] == 501      # no brackets
    assert r.cmd("MAIL FROM:<a@example.net> AUTH=<>")[0] == 555  # AUTH not offered
    assert r.cmd("MAIL FROM:<a@example.net> RET=FULL")[0] == 250  # DSN
    assert r.cmd("RSET")[0] == 250
    assert r.cmd("MAIL FROM:<a@example.net> FOO=1")[0] == 555
    assert r.cmd("MAIL FROM:<a@example.net>")[0] == 250
    assert r.cmd("DATA")[0] == 554                            # no recipients
    assert r.cmd("RCPT TO:<" + "l" * 65 + "@test.example>")[0] == 501
    assert r.cmd("NOOP")[0] == 250


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no ::1 on this machine")
def test_ipv4_and_ipv6_listeners(postern_factory):
    from conftest import free_port
    port = free_port()
    p = postern_factory(port=port,
                        listen=["127.0.0.1:%d" % port, "[::1]:%d" % port])
    for host in ("127.0.0.1", "::1"):
        with smtplib.SMTP(host, port) as s:
            s.sendmail("a@example.net", ["u@test.example"], MSG)
    assert len(p.queued()) == 2
    assert "[::1]" in p.log()


def test_address_in_use_refused(postern_factory):
    """SO_REUSEPORT must not let a second server, or a second listener
    of the same one, share a port quietly (each would take part of the
    connections): the server refuses to start, as any other would."""
    from conftest import free_port
    p = postern_factory()
    conf = p.conf + ".2"
    with open(p.conf) as f:
        text = f.read()
    other = os.path.join(p.dir, "var2")
    with open(conf, "w") as f:
        f.write(text.replace(p.data_dir, other))
    r = subprocess.run([BIN, "-c", conf, "serve"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0
    assert "127.0.0.1:%d" % p.port in r.stderr + r.stdout
    assert "Address already in use" in r.stderr + r.stdout
    # one config, SMTP and JMAP on one port
    port = free_port()
    with open(conf, "w") as f:
        f.write(text.replace(p.data_dir, other).replace(
            "127.0.0.1:%d" % p.port, "127.0.0.1:%d" % port).replace(
            "jmap = {\n  listen = []",
            'jmap = {\n  listen = [ "127.0.0.1:%d" ]' % port))
    r = subprocess.run([BIN, "-c", conf, "serve"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0, r.stderr
    assert "Address already in use" in r.stderr + r.stdout
    assert "jmap.listen 127.0.0.1:%d" % port in r.stderr + r.stdout
    # the first server still has its port to itself
    with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
        assert s.noop()[0] == 250


def test_overall_connection_limit(postern_factory):
    """max_connections counts every client; other source addresses on
    the loopback net are other clients for the per-IP limit."""
    p = postern_factory(smtp_extra="max_connections_per_ip = 2; max_connections = 4;")
    conns = []
    for i in range(4):
        s = socket.socket()
        s.bind(("127.0.0.%d" % (2 + i // 2), 0))
        s.connect(("127.0.0.1", p.port))
        s.settimeout(5)
        assert s.recv(512).startswith(b"220")
        conns.append(s)
    s = socket.socket()
    s.bind(("127.0.0.9", 0))
    s.connect(("127.0.0.1", p.port))
    s.settimeout(5)
    assert s.recv(512).startswith(b"421 4.7.0")
    s.close()
    for c in conns:
        c.close()
