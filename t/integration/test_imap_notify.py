"""IMAP NOTIFY (RFC 5465, imap-jmap/imap_notify.c): one session asks to
be told, others change the account - another IMAP session, SMTP
delivery, JMAP - and the first one's exact unsolicited responses are
checked, between commands and in IDLE: EXISTS and the MessageNew FETCH,
flag FETCHes, EXPUNGE (held back under SELECTED-DELAYED), STATUS of
other mailboxes (and the SET STATUS burst), LIST for created, renamed
(OLDNAME, descendants too), deleted (\\NonExistent) and (un)subscribed
mailboxes; NOTIFY NONE; what the session did itself is not told back;
the errors (BAD, NO [BADEVENT (...)], NO and OK [NOTIFICATIONOVERFLOW]).

Driven with the raw client of test_imap.py (imaplib cannot wait for
untagged responses outside a command)."""
import re
import socket
import time

import pytest

from test_imap import Imap, MSG, deliver, make_server
from test_jmap import Client as JmapClient
from test_jmap import make_server as make_jmap_server

NOTIFY_MAIN = ("NOTIFY SET (SELECTED (MessageNew (UID FLAGS) MessageExpunge "
               "FlagChange)) (PERSONAL (MessageNew MessageExpunge "
               "MailboxName SubscriptionChange))")


@pytest.fixture
def srv(postern_factory):
    return make_server(postern_factory)


def session(p):
    c = Imap(p.imap_port)
    c.login()
    return c


def lines(c, n):
    """the next n lines, as they come"""
    return [c.line() for _ in range(n)]


def quiet(c, secs=0.7):
    """nothing more arrives for a while"""
    assert c.buf == b"", c.buf
    c.sock.settimeout(secs)
    try:
        data = c.sock.recv(65536)
    except socket.timeout:
        return
    finally:
        c.sock.settimeout(15)
    raise AssertionError("unexpected output: %r" % data)


def append(c, mbox, flags="", msg=MSG):
    t = c.tag()
    c.send("%s APPEND %s %s{%d+}\r\n" % (t, mbox, flags + " " if flags
                                         else "", len(msg)))
    c.send(msg + b"\r\n")
    _, tagged = c.until(t)
    assert " OK " in tagged, tagged
    return int(re.search(r"APPENDUID \d+ (\d+)", tagged).group(1))


def uidvalidity(c, mbox):
    st = c.ok("STATUS %s (UIDVALIDITY)" % mbox)[0][0]
    return int(re.search(r"UIDVALIDITY (\d+)", st).group(1))


def test_capability_and_errors(srv):
    a = session(srv)
    caps = a.ok("CAPABILITY")[0][0].split()
    assert "NOTIFY" in caps
    metadata = "METADATA" in caps
    supported = ("MessageNew MessageExpunge FlagChange MailboxName "
                 "SubscriptionChange")
    if metadata:
        supported += " MailboxMetadataChange ServerMetadataChange"
    badevent = "NO [BADEVENT (%s)] Unsupported NOTIFY event" % supported
    # events not served: NO (not BAD) listing the ones served (3.1)
    for cmd in ["NOTIFY SET (PERSONAL (MessageNew MessageExpunge "
                "AnnotationChange))",
                "NOTIFY SET (SELECTED (MessageNew MessageExpunge "
                "FlagChange AnnotationChange))",
                "NOTIFY SET (PERSONAL (QuotaChange))",
                "NOTIFY SET (INBOXES (MailboxName FooBar))"]:
        _, tagged = a.cmd(cmd)
        assert tagged.split(" ", 1)[1] == badevent, (cmd, tagged)
    for cmd in ["NOTIFY SET (PERSONAL (MailboxMetadataChange))",
                "NOTIFY SET (PERSONAL (ServerMetadataChange))"]:
        _, tagged = a.cmd(cmd)
        if metadata:
            assert " OK " in tagged, tagged
        else:
            assert tagged.split(" ", 1)[1] == badevent, (cmd, tagged)
    # combinations the RFC forbids: BAD (5, 6.1)
    for cmd in ["NOTIFY SET (SELECTED (MessageNew))",
                "NOTIFY SET (PERSONAL (FlagChange))",
                "NOTIFY SET (SELECTED (MessageNew MessageExpunge "
                "MailboxName))",
                "NOTIFY SET (SELECTED (MessageNew MessageExpunge)) "
                "(SELECTED-DELAYED (MessageNew MessageExpunge))",
                "NOTIFY SET (PERSONAL (MessageNew (UID) MessageExpunge))",
                "NOTIFY SET (NOWHERE (MessageNew MessageExpunge))",
                "NOTIFY SET",
                "NOTIFY FOO"]:
        _, tagged = a.cmd(cmd)
        assert re.match(r"t\d+ BAD ", tagged), (cmd, tagged)
    # prohibitively many mailboxes (3.1)
    names = " ".join("m%d" % i for i in range(1001))
    _, tagged = a.cmd("NOTIFY SET (MAILBOXES (%s) (MailboxName))" % names)
    assert re.match(r"t\d+ NO \[NOTIFICATIONOVERFLOW\] ", tagged), tagged
    # a refused NOTIFY changed nothing: no notification is on
    b = session(srv)
    b.ok("CREATE Quiet")
    quiet(a)
    a.ok("NOTIFY NONE")
    a.ok("LOGOUT")


def test_selected_and_personal_from_another_session(srv):
    a = session(srv)
    b = session(srv)
    append(b, "INBOX")
    a.ok("SELECT INBOX")
    lines_, tagged = a.ok(NOTIFY_MAIN)
    assert lines_ == [] and tagged.endswith("OK NOTIFY completed")
    quiet(a)

    # MessageNew in the selected mailbox: EXISTS, then the FETCH asked for
    uid = append(b, "INBOX")
    assert lines(a, 2) == ["* 2 EXISTS", "* 2 FETCH (UID %d FLAGS ())" % uid]
    quiet(a)
    # FlagChange
    b.ok("SELECT INBOX")
    b.ok("STORE 1 +FLAGS (\\Flagged)")
    assert lines(a, 1) == ["* 1 FETCH (UID 1 FLAGS (\\Flagged))"]
    # MessageExpunge, at once: no command of a's is running
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert lines(a, 1) == ["* 1 FETCH (UID 1 FLAGS (\\Flagged \\Deleted))"]
    b.ok("EXPUNGE")
    assert lines(a, 1) == ["* 1 EXPUNGE"]
    quiet(a)

    # MailboxName: create (the store subscribes new mailboxes), rename
    # (with a child), delete
    b.ok("CREATE Work")
    assert lines(a, 1) == ['* LIST (\\HasNoChildren \\Subscribed) "/" Work']
    b.ok("CREATE Work/Sub")
    assert lines(a, 1) == ['* LIST (\\HasNoChildren \\Subscribed) "/" '
                           'Work/Sub']
    b.ok("UNSUBSCRIBE Work")
    assert lines(a, 1) == ['* LIST (\\HasChildren) "/" Work']
    b.ok("RENAME Work Play")
    assert lines(a, 2) == [
        '* LIST (\\HasChildren) "/" Play ("OLDNAME" (Work))',
        '* LIST (\\HasNoChildren \\Subscribed) "/" Play/Sub ("OLDNAME" '
        '(Work/Sub))']
    # SubscriptionChange
    b.ok("UNSUBSCRIBE Play/Sub")
    assert lines(a, 1) == ['* LIST (\\HasNoChildren) "/" Play/Sub']
    b.ok("SUBSCRIBE Play/Sub")
    assert lines(a, 1) == ['* LIST (\\HasNoChildren \\Subscribed) "/" '
                           'Play/Sub']
    b.ok("SUBSCRIBE Play/Sub")      # no change: nothing to tell
    quiet(a)
    # MessageNew in another mailbox: STATUS
    v = uidvalidity(b, "Play/Sub")
    append(b, "Play/Sub")
    assert lines(a, 1) == ["* STATUS Play/Sub (MESSAGES 1 UIDNEXT 2 "
                           "UIDVALIDITY %d UNSEEN 1)" % v]
    append(b, "Play/Sub", "(\\Seen)")
    assert lines(a, 1) == ["* STATUS Play/Sub (MESSAGES 2 UIDNEXT 3 "
                           "UIDVALIDITY %d UNSEEN 1)" % v]
    # a flag change there: PERSONAL has no FlagChange, nothing to say
    b.ok("SELECT Play/Sub")
    b.ok("STORE 1 +FLAGS (\\Answered)")
    quiet(a)
    # MessageExpunge there
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    assert lines(a, 1) == ["* STATUS Play/Sub (MESSAGES 1 UIDNEXT 3 "
                           "UIDVALIDITY %d UNSEEN 0)" % v]
    b.ok("UNSELECT")
    b.ok("DELETE Play/Sub")
    assert lines(a, 1) == ['* LIST (\\NonExistent) "/" Play/Sub']
    b.ok("DELETE Play")
    assert lines(a, 1) == ['* LIST (\\NonExistent) "/" Play']
    quiet(a)

    # SMTP delivery into the selected mailbox
    deliver(srv, subject="over smtp")
    got = lines(a, 2)
    assert got[0] == "* 2 EXISTS"
    assert re.fullmatch(r"\* 2 FETCH \(UID (\d+) FLAGS \(\)\)", got[1]), got
    quiet(a)

    # the session's own changes are not told back (RFC 5465 5)
    a.ok("CREATE Mine")
    a.ok("RENAME Mine Ours")
    a.ok("SUBSCRIBE Ours")
    a.ok("DELETE Ours")
    _, tagged = a.cmd("APPEND INBOX {%d+}\r\n%s" % (len(MSG), MSG.decode()))
    assert " OK " in tagged
    quiet(a)
    # ... but its commands still answer with what changed
    assert a.ok("NOOP")[0] == []

    # NOTIFY NONE: nothing more, until a command asks
    a.ok("NOTIFY NONE")
    append(b, "INBOX")
    b.ok("CREATE Later")
    quiet(a)
    assert a.ok("NOOP")[0] == ["* 4 EXISTS"]
    a.ok("LOGOUT")
    b.ok("LOGOUT")


def test_set_status_and_flag_changes_elsewhere(srv):
    a = session(srv)
    b = session(srv)
    b.ok("CREATE Lists")
    b.ok("CREATE Other")
    append(b, "Lists")
    append(b, "Lists", "(\\Seen)")
    a.ok("ENABLE CONDSTORE")
    a.ok("SELECT INBOX")
    va, vo = uidvalidity(a, "Lists"), uidvalidity(a, "Other")
    hms = int(re.search(r"HIGHESTMODSEQ (\d+)",
                        a.ok("STATUS Lists (HIGHESTMODSEQ)")[0][0]).group(1))
    # STATUS: one for each watched mailbox with message events, before
    # the OK; not for the selected one; MAILBOXES names a mailbox
    got, tagged = a.ok("NOTIFY SET STATUS (SELECTED (MessageNew "
                       "MessageExpunge)) (MAILBOXES (Lists Nowhere) "
                       "(MessageNew MessageExpunge FlagChange)) (MAILBOXES "
                       "Other (MessageNew MessageExpunge))")
    assert got == [
        "* STATUS Lists (MESSAGES 2 UIDNEXT 3 UIDVALIDITY %d UNSEEN 1 "
        "HIGHESTMODSEQ %d)" % (va, hms),
        "* STATUS Other (MESSAGES 0 UIDNEXT 1 UIDVALIDITY %d UNSEEN 0 "
        "HIGHESTMODSEQ 1)" % vo], got
    # FlagChange elsewhere: STATUS with the new UNSEEN and HIGHESTMODSEQ
    b.ok("SELECT Lists")
    b.ok("STORE 1 +FLAGS (\\Seen)")
    st = lines(a, 1)[0]
    m = re.fullmatch(r"\* STATUS Lists \(MESSAGES 2 UIDNEXT 3 UIDVALIDITY "
                     r"%d UNSEEN 0 HIGHESTMODSEQ (\d+)\)" % va, st)
    assert m and int(m.group(1)) > hms, st
    # the MAILBOXES watch follows the mailbox through a rename
    b.ok("UNSELECT")
    b.ok("RENAME Lists Lists2")
    quiet(a)        # MailboxName was not asked for
    append(b, "Lists2")
    assert lines(a, 1)[0].startswith("* STATUS Lists2 (MESSAGES 3 UIDNEXT 4")
    # mailboxes not named are not watched
    append(b, "Trash")
    quiet(a)
    a.ok("LOGOUT")


def test_selected_delayed_holds_expunges_until_a_command(srv):
    a = session(srv)
    b = session(srv)
    for _ in range(3):
        append(b, "INBOX")
    a.ok("SELECT INBOX")
    a.ok("NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge "
         "FlagChange))")
    b.ok("SELECT INBOX")
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert lines(a, 1) == ["* 1 FETCH (UID 1 FLAGS (\\Deleted))"]
    b.ok("EXPUNGE")
    quiet(a)        # held: message numbers stay as the client knows them
    append(b, "INBOX")
    assert lines(a, 1) == ["* 4 EXISTS"]
    quiet(a)
    # a command that may announce it does
    assert a.ok("NOOP")[0] == ["* 1 EXPUNGE"]
    # in IDLE, expunges are told at once
    t = a.tag()
    a.send("%s IDLE\r\n" % t)
    assert a.line() == "+ idling"
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert lines(a, 1) == ["* 1 FETCH (UID 2 FLAGS (\\Deleted))"]
    b.ok("EXPUNGE")
    assert lines(a, 1) == ["* 1 EXPUNGE"]
    a.send("DONE\r\n")
    assert a.until(t) == ([], "%s OK IDLE terminated" % t)
    a.ok("LOGOUT")


def test_notify_in_idle(srv):
    a = session(srv)
    b = session(srv)
    b.ok("CREATE Other")
    v = uidvalidity(b, "Other")
    a.ok("SELECT INBOX")
    # no SELECTED group: no events for the selected mailbox (3.1)
    a.ok("NOTIFY SET (PERSONAL (MessageNew MessageExpunge MailboxName))")
    t = a.tag()
    a.send("%s IDLE\r\n" % t)
    assert a.line() == "+ idling"
    append(b, "INBOX")
    quiet(a)        # IDLE says what NOTIFY asked for, no more (4)
    append(b, "Other")
    assert lines(a, 1) == ["* STATUS Other (MESSAGES 1 UIDNEXT 2 "
                           "UIDVALIDITY %d UNSEEN 1)" % v]
    b.ok("CREATE New")
    assert lines(a, 1) == ['* LIST (\\HasNoChildren \\Subscribed) "/" New']
    deliver(srv, subject="to the inbox")
    quiet(a)
    a.send("DONE\r\n")
    assert a.until(t) == ([], "%s OK IDLE terminated" % t)
    # the selected mailbox's changes come with the next command
    assert a.ok("NOOP")[0] == ["* 2 EXISTS"]
    a.ok("LOGOUT")


def test_jmap_changes_are_notified(postern_factory):
    p = make_jmap_server(postern_factory, imap=True)
    a = session(p)
    a.ok("SELECT INBOX")
    a.ok(NOTIFY_MAIN)
    j = JmapClient(p)
    r = j.ok("Mailbox/set", {"accountId": "A1",
                             "create": {"k": {"name": "FromJmap"}}})
    mid = r["created"]["k"]["id"]
    assert lines(a, 1) == ['* LIST (\\HasNoChildren \\Subscribed) "/" '
                           'FromJmap']
    j.ok("Mailbox/set", {"accountId": "A1",
                         "update": {mid: {"name": "Renamed"}}})
    assert lines(a, 1) == ['* LIST (\\HasNoChildren \\Subscribed) "/" '
                           'Renamed ("OLDNAME" (FromJmap))']
    # a flag change made over JMAP to a message of the selected mailbox
    uid = append(a, "INBOX")
    assert a.ok("NOOP")[0] == []
    ids = j.ok("Email/query", {"accountId": "A1"})["ids"]
    assert len(ids) == 1
    j.ok("Email/set", {"accountId": "A1",
                       "update": {ids[0]: {"keywords/$flagged": True}}})
    assert lines(a, 1) == ["* 1 FETCH (UID %d FLAGS (\\Flagged))" % uid]
    j.ok("Mailbox/set", {"accountId": "A1", "destroy": [mid]})
    assert lines(a, 1) == ['* LIST (\\NonExistent) "/" Renamed']
    quiet(a)
    a.ok("LOGOUT")


def test_notification_overflow(srv):
    a = session(srv)
    b = session(srv)
    # a big tree, made before a asks to be told
    b.ok("CREATE P")
    t0 = b.n
    b.send("".join("t%d CREATE P/c%d\r\n" % (t0 + 1 + i, i)
                   for i in range(1000)))
    b.n += 1000
    b.until("t%d" % b.n)
    a.ok("NOTIFY SET (PERSONAL (MailboxName))")
    # renaming it renames 1001 mailboxes: over the queue limit
    b.ok("RENAME P Q")
    assert a.line() == ("* OK [NOTIFICATIONOVERFLOW] Too many changes at "
                        "once; NOTIFY is off")
    quiet(a)
    # and NOTIFY is off, as after NOTIFY NONE
    b.ok("CREATE R")
    quiet(a)
    assert a.ok("NOOP")[0] == []
    # a new NOTIFY SET works again
    a.ok("NOTIFY SET (PERSONAL (MailboxName))")
    b.ok("CREATE S")
    assert lines(a, 1) == ['* LIST (\\HasNoChildren \\Subscribed) "/" S']
    a.ok("LOGOUT")


def test_message_new_fetch_attributes_and_no_flag_change(srv):
    a = session(srv)
    b = session(srv)
    a.ok("SELECT INBOX")
    # no FlagChange: flag changes wait for a command; a FETCH of the
    # text (not PEEK) in a notification does not set \Seen
    a.ok("NOTIFY SET (SELECTED (MessageNew (UID BODY.PEEK[HEADER.FIELDS "
         "(SUBJECT)] BODY[TEXT] RFC822.SIZE) MessageExpunge))")
    deliver(srv, subject="pushed", body="Body text.\r\n")
    assert a.line() == "* 1 EXISTS"
    got = a.line()
    m = re.fullmatch(r"\* 1 FETCH \(UID 1 BODY\[HEADER\.FIELDS \(SUBJECT\)\] "
                     r"\{19\}\r\nSubject: pushed\r\n\r\n BODY\[TEXT\] "
                     r"\{12\}\r\nBody text\.\r\n RFC822\.SIZE (\d+)\)", got)
    assert m, got
    quiet(a)
    b.ok("SELECT INBOX")
    b.ok("STORE 1 +FLAGS (\\Answered)")
    quiet(a)
    assert a.ok("NOOP")[0] == ["* 1 FETCH (UID 1 FLAGS (\\Answered))"]
    assert a.ok("NOOP")[0] == []
    # the next new message: only it is fetched
    uid = append(b, "INBOX", "(\\Flagged)")
    assert a.line() == "* 2 EXISTS"
    assert a.line().startswith("* 2 FETCH (UID %d BODY[HEADER.FIELDS "
                               "(SUBJECT)] {" % uid)
    quiet(a)
    a.ok("LOGOUT")


def test_push_reads_only_what_changed(srv):
    """A push re-reads the mailboxes the change log names, not the
    account: one mailbox of 46 for a delivery or a flag change there."""
    a = session(srv)
    b = session(srv)
    t0 = b.n
    b.send("".join("t%d CREATE Box%d\r\n" % (t0 + 1 + i, i)
                   for i in range(40)))
    b.n += 40
    b.until("t%d" % b.n)
    a.ok("NOTIFY SET (PERSONAL (MessageNew MessageExpunge FlagChange "
         "MailboxName))")
    before = len(re.findall(r"notify: read ", srv.log()))
    append(b, "Box7")
    assert lines(a, 1)[0].startswith("* STATUS Box7 (MESSAGES 1 UIDNEXT 2 ")
    b.ok("SELECT Box7")
    b.ok("STORE 1 +FLAGS (\\Seen)")
    assert re.fullmatch(r"\* STATUS Box7 \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY "
                        r"\d+ UNSEEN 0 HIGHESTMODSEQ \d+\)", lines(a, 1)[0])
    time.sleep(0.3)
    reads = re.findall(r"notify: read (\d+) of (\d+) mailboxes(.*)",
                       srv.log())[before:]
    assert reads, srv.log()[-2000:]
    assert any(r == "1" for r, _, _ in reads), reads
    for r, total, full in reads:
        assert int(r) <= 1 and total == "46" and full == "", reads
    a.ok("LOGOUT")


def test_metadata_changes(srv):
    a = session(srv)
    b = session(srv)
    caps = a.ok("CAPABILITY")[0][0].split()
    if "METADATA" not in caps:
        pytest.skip("METADATA is not offered")
    b.ok("CREATE Notes")
    a.ok("SELECT INBOX")
    a.ok("NOTIFY SET (SELECTED (MessageNew MessageExpunge)) (MAILBOXES "
         "Notes (MailboxMetadataChange)) (PERSONAL (ServerMetadataChange))")
    # names only, no values (RFC 5465 5.6, 5.7; RFC 5464 4.4)
    b.ok('SETMETADATA Notes (/private/comment "a note")')
    assert lines(a, 1) == ["* METADATA Notes /private/comment"]
    b.ok('SETMETADATA "" (/shared/comment "the server")')
    assert lines(a, 1) == ['* METADATA "" /shared/comment']
    # a mailbox no group asks about for metadata
    b.ok('SETMETADATA INBOX (/private/comment "inbox")')
    quiet(a)
    # the session's own changes are not told back
    a.ok('SETMETADATA Notes (/private/comment "mine")')
    quiet(a)
    a.ok("LOGOUT")


def test_subtree_subscribed_and_big_messages(srv):
    a = session(srv)
    b = session(srv)
    for name in ("Lists", "Lists/a", "Lists/a/deep", "Listsx", "Misc"):
        b.ok("CREATE %s" % name)
    b.ok("UNSUBSCRIBE Misc")
    a.ok("SELECT INBOX")
    a.ok("NOTIFY SET (SELECTED (MessageNew (UID BODY.PEEK[]) "
         "MessageExpunge)) (SUBTREE Lists (MessageNew MessageExpunge)) "
         "(SUBSCRIBED (MailboxName))")
    # SUBTREE: the root and everything below, not a sibling of like name
    for name in ("Lists", "Lists/a/deep", "Listsx", "Misc"):
        append(b, name)
    got = lines(a, 2)
    assert [g.split(" (")[0] for g in got] == ["* STATUS Lists",
                                               "* STATUS Lists/a/deep"], got
    quiet(a)
    # SUBSCRIBED: a rename is told for a subscribed mailbox only
    b.ok("RENAME Misc Misc2")
    quiet(a)
    b.ok("RENAME Listsx Listsy")
    assert lines(a, 1) == ['* LIST (\\HasNoChildren \\Subscribed) "/" '
                           'Listsy ("OLDNAME" (Listsx))']
    # a message too big to push: the client is told to fetch it itself
    big = b"Subject: big\r\n\r\n" + b"x" * (1100 * 1024) + b"\r\n"
    uid = append(b, "INBOX", msg=big)
    assert lines(a, 2) == [
        "* 1 EXISTS",
        "* NO [TOOBIG] UID %d: too big to send with NOTIFY; fetch it" % uid]
    small = append(b, "INBOX")
    assert a.line() == "* 2 EXISTS"
    assert a.line() == "* 2 FETCH (UID %d BODY[] {%d}\r\n%s)" % (
        small, len(MSG), MSG.decode())
    quiet(a)
    a.ok("LOGOUT")
