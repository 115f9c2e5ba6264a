"""Delivery status notifications (RFC 3464) end to end.

A message accepted for a local user who is then deleted fails for good
at delivery (5.1.1): its sender, a local user too, finds a
multipart/report in her mailbox, from <> through the queue, that
Python's email module reads back with the right delivery-status fields
and the original attached.  A message from the null sender that fails
the same way produces nothing (no bounce loops).  A message the local
transport keeps deferring (over quota) gets one delay warning once
queue.delay_warning_time has passed, recorded in its queue file.
"""
import email
import email.policy
import re
import signal
import smtplib
import subprocess
import time

from conftest import BIN
import spool


def setup_dir(p):
    for cmd in (["domain", "add", "test.example"],
                ["user", "add", "alice@test.example", "--no-password"],
                ["user", "add", "bob@test.example", "--no-password"],
                ["user", "add", "carol@test.example", "--no-password",
                 "--quota", "4K"]):
        p.cli(*cmd)


def message(subject, size=0, sender="alice@test.example"):
    body = "x" * 70 + "\r\n"
    return ("From: %s\r\nTo: bob@test.example\r\nSubject: %s\r\n"
            "Message-ID: <%s@test.example>\r\n\r\n%s"
            % (sender or "nobody@test.example", subject, subject,
               body * (size // 72 + 1))).encode()


def inbox(p, user):
    """UIDs in user's INBOX, in order."""
    r = p.cli("mail", "list", user, check=False)
    if r.returncode != 0:
        assert "unknown mailbox" in r.stderr, r.stderr
        return []
    return [int(l.split()[0]) for l in r.stdout.splitlines()[1:]
            if l.strip()]


def fetch(p, user, uid):
    r = subprocess.run([BIN, "-c", p.conf, "mail", "show", user, "INBOX",
                        str(uid)], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return email.message_from_bytes(r.stdout, policy=email.policy.default)


def wait_for(cond, p, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s:\n%s"
                         % (what, p.log()[-4000:]))


def start_delivering(p):
    """Start the stopped server again, the local transport running, and
    make the deferred mail due now (SIGUSR1: a queue flush)."""
    with open(p.conf) as f:
        conf = f.read()
    with open(p.conf, "w") as f:
        f.write(conf.replace('"local", ', ""))
    p.start()
    p.proc.send_signal(signal.SIGUSR1)


def report_parts(m):
    assert m.get_content_type() == "multipart/report"
    parts = list(m.iter_parts())
    return parts, [x.get_content_type() for x in parts]


def test_failed_delivery_bounces_to_sender(postern_factory):
    p = postern_factory(directory=False)        # local transport held
    setup_dir(p)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
        s.sendmail("alice@test.example", ["bob@test.example"],
                   message("lost"))
        s.sendmail("", ["bob@test.example"], message("fromnull", sender=""))
    assert len(p.queued()) == 2
    # bob goes between acceptance and delivery
    assert p.stop() == 0
    p.cli("user", "del", "bob@test.example")
    start_delivering(p)

    wait_for(lambda: not p.queued() and inbox(p, "alice@test.example"), p,
             what="the bounce")
    time.sleep(0.5)                     # nothing else is on its way
    uids = inbox(p, "alice@test.example")
    assert len(uids) == 1, uids         # the null sender's got none
    assert not p.queued()

    m = fetch(p, "alice@test.example", uids[0])
    assert m.get_param("report-type") == "delivery-status"
    assert m["Subject"] == "Undelivered Mail Returned to Sender"
    assert m["From"].addresses[0].addr_spec == "MAILER-DAEMON@mx.test.example"
    assert m["To"].addresses[0].addr_spec == "alice@test.example"
    assert m["Auto-Submitted"] == "auto-replied"
    assert m["Message-ID"] and m["Date"]
    parts, types = report_parts(m)
    assert types == ["text/plain", "message/delivery-status",
                     "message/rfc822"], types
    assert "<bob@test.example>: user unknown" in parts[0].get_content()

    fields = parts[1].get_payload()     # per-message, then per-recipient
    assert len(fields) == 2
    assert fields[0]["Reporting-MTA"] == "dns; mx.test.example"
    assert fields[0]["Arrival-Date"]
    rcpt = fields[1]
    assert rcpt["Final-Recipient"] == "rfc822; bob@test.example"
    assert rcpt["Action"] == "failed"
    assert rcpt["Status"] == "5.1.1"
    assert rcpt["Diagnostic-Code"] == "X-Postern; user unknown"
    assert rcpt["Original-Recipient"] is None    # no ORCPT was given

    orig = parts[2].get_payload()[0]
    assert orig["Subject"] == "lost"
    assert orig["Message-ID"] == "<lost@test.example>"
    assert "x" * 70 in orig.get_content()

    log = p.log()
    qid = re.search(r"sender non-delivery notification: ([0-9A-F]{14})",
                    log).group(1)
    assert "%s: from=<>, " % qid in log
    assert "%s: to=<alice@test.example>, relay=local" % qid in log
    assert "1 failed recipient, no notification to the null sender" in log


def test_delay_warning_once(postern_factory):
    p = postern_factory(
        directory=False, deliver=True,
        queue_extra='delay_warning_time = "2s"; min_backoff = "1s"; '
                    'max_backoff = "1s";')
    setup_dir(p)
    with smtplib.SMTP("127.0.0.1", p.port, timeout=10) as s:
        s.ehlo()
        # no SIZE=: accepted, then deferred by the full mailbox
        assert s.mail("alice@test.example")[0] == 250
        assert s.rcpt("carol@test.example")[0] == 250
        assert s.data(message("toobig", 6000))[0] == 250
    wait_for(lambda: inbox(p, "alice@test.example"), p, what="the warning")
    qid = p.queued()[0]
    # more retries, no second warning
    n = p.log().count("%s: to=<carol@test.example>" % qid)
    wait_for(lambda: p.log().count("%s: to=<carol@test.example>" % qid)
             >= n + 2, p, what="two more retries")
    uids = inbox(p, "alice@test.example")
    assert len(uids) == 1, uids
    assert p.log().count("sender delay notification") == 1

    m = fetch(p, "alice@test.example", uids[0])
    assert m["Subject"] == "Delayed Mail (still being retried)"
    parts, types = report_parts(m)
    assert types == ["text/plain", "message/delivery-status",
                     "text/rfc822-headers"], types
    rcpt = parts[1].get_payload()[1]
    assert rcpt["Final-Recipient"] == "rfc822; carol@test.example"
    assert rcpt["Action"] == "delayed"
    assert rcpt["Status"] == "4.2.2"
    assert rcpt["Will-Retry-Until"]
    assert "Subject: toobig" in parts[2].get_content()
    # remembered in the queue file, for a restart
    with open("%s/msg/%s" % (p.queue_dir, qid), "rb") as f:
        recs = spool.records(f.read())
    assert [t for t, _ in recs].count("W") == 1
