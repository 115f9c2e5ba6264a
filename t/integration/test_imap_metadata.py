"""IMAP METADATA (RFC 5464) and MESSAGELIMIT (RFC 9738) against a real
`postern serve`, with imaplib and the raw client of test_imap.py.

METADATA: server ("") and mailbox annotations, /private and /shared,
string and binary (literal8, NUL) values, NIL deleting, GETMETADATA
MAXSIZE ([METADATA LONGENTRIES]) and DEPTH 0/1/infinity, the limits
([METADATA MAXSIZE], [METADATA TOOMANY], a command being all or
nothing), /private/specialuse, a restart keeping everything, RENAME
keeping and DELETE dropping a mailbox's entries, two users apart.

MESSAGELIMIT with imap.message_limit = 5 over 8 messages: FETCH, STORE,
MOVE, SEARCH and UID EXPUNGE (MSN and UID forms) work on the 5 highest
UIDs and answer [MESSAGELIMIT 5 4] (untagged NO beside another code);
COPY is refused whole; SORT over the limit is refused; EXPUNGE and a
set within the limit are not cut; the client goes on below the UID."""
import imaplib
import re

import pytest

from test_imap import (Imap, PW, PW_V, appended, imaplib_login, mail,
                       make_server, sel)


@pytest.fixture
def srv(postern_factory):
    return make_server(postern_factory)


def login(p, user="u@test.example", password=PW):
    c = Imap(p.imap_port)
    c.login(user, password)
    return c


def no(c, text):
    lines, tagged = c.cmd(text)
    assert re.match(r"t\d+ NO ", tagged), (text, lines, tagged)
    return lines, tagged


def metadata(lines):
    """the one METADATA response of lines"""
    got = [l for l in lines if l.startswith("* METADATA ")]
    assert len(got) == 1, lines
    return got[0]


# ---- METADATA ----

def test_capability_and_server_and_mailbox_entries(srv):
    c = login(srv)
    caps = c.ok("CAPABILITY")[0][0].split()
    assert "METADATA" in caps and "METADATA-SERVER" not in caps
    assert "MESSAGELIMIT=100000" in caps      # the default
    # nothing yet: a named entry is answered NIL
    lines, tagged = c.ok('GETMETADATA "" /shared/comment')
    assert metadata(lines) == '* METADATA "" (/shared/comment NIL)'
    assert tagged.endswith("OK GETMETADATA completed")
    c.ok('SETMETADATA "" (/private/comment "server note" '
         '/shared/comment "shared note")')
    c.ok('SETMETADATA INBOX (/private/comment "inbox note" '
         '/shared/vendor/acme/x "42")')
    lines, _ = c.ok('GETMETADATA "" (/private/comment /shared/comment)')
    assert metadata(lines) == ('* METADATA "" (/private/comment '
                               '"server note" /shared/comment "shared note")')
    # names are case-insensitive and come back lowercase
    lines, _ = c.ok("GETMETADATA INBOX (/Private/Comment "
                    "/SHARED/VENDOR/ACME/X /private/none)")
    assert metadata(lines) == ('* METADATA INBOX (/private/comment '
                               '"inbox note" /shared/vendor/acme/x "42" '
                               '/private/none NIL)')
    # server and mailbox entries do not mix
    lines, _ = c.ok("GETMETADATA INBOX /shared/comment")
    assert metadata(lines) == "* METADATA INBOX (/shared/comment NIL)"
    # replace, then imaplib reads it like any client
    c.ok('SETMETADATA INBOX (/private/comment "second")')
    m = imaplib_login(srv)
    typ, data = m.xatom("GETMETADATA", "INBOX", "/private/comment")
    assert typ == "OK", data
    typ, data = m._untagged_response(typ, data, "METADATA")
    assert data == [b'INBOX (/private/comment "second")'], data
    m.logout()
    # a mailbox that does not exist; an entry that is no entry
    _, tagged = no(c, "GETMETADATA Nosuch /private/comment")
    assert "[NONEXISTENT]" in tagged
    _, tagged = no(c, 'SETMETADATA Nosuch (/private/comment "x")')
    assert "[NONEXISTENT]" in tagged
    _, tagged = c.cmd('SETMETADATA INBOX (/private "x")')
    assert " BAD " in tagged
    _, tagged = c.cmd('SETMETADATA INBOX (/other/x "x")')
    assert " BAD " in tagged


def test_binary_values_and_nil(srv):
    c = login(srv)
    value = b"a\x00b\r\nc\x00"
    t = c.tag()
    c.send(b"%s SETMETADATA INBOX (/private/vendor/x/bin ~{%d+}\r\n"
           % (t.encode(), len(value)) + value + b" /shared/text {5+}\r\n"
           b"l1\r\nl /shared/empty \"\")\r\n")
    lines, tagged = c.until(t)
    assert tagged.endswith("OK SETMETADATA completed"), (lines, tagged)
    lines, _ = c.ok("GETMETADATA INBOX (/private/vendor/x/bin /shared/text "
                    "/shared/empty)")
    got = metadata(lines)
    # NUL goes out as a literal8, a CRLF as a literal, "" quoted
    want = ("* METADATA INBOX (/private/vendor/x/bin ~{%d}\r\n%s "
            "/shared/text {5}\r\nl1\r\nl /shared/empty \"\")"
            % (len(value), value.decode()))
    assert got == want, got
    # NIL removes, twice is fine
    c.ok("SETMETADATA INBOX (/private/vendor/x/bin NIL /shared/text NIL)")
    c.ok("SETMETADATA INBOX (/private/vendor/x/bin NIL)")
    lines, _ = c.ok("GETMETADATA INBOX (/private/vendor/x/bin /shared/text)")
    assert metadata(lines) == ("* METADATA INBOX (/private/vendor/x/bin NIL "
                               "/shared/text NIL)")


def test_depth_and_maxsize(srv):
    c = login(srv)
    long_value = "L" * 100
    c.ok('SETMETADATA INBOX (/private/a "1" /private/a/b "%s" '
         '/private/a/b/c "3" /private/ab "4" /shared/a/z "5")' % long_value)
    lines, _ = c.ok("GETMETADATA INBOX /private/a")
    assert metadata(lines) == '* METADATA INBOX (/private/a "1")'
    lines, _ = c.ok("GETMETADATA (DEPTH 1) INBOX /private/a")
    assert metadata(lines) == ('* METADATA INBOX (/private/a "1" '
                               '/private/a/b "%s")' % long_value)
    lines, tagged = c.ok("GETMETADATA (DEPTH infinity) INBOX /private/a")
    assert metadata(lines) == ('* METADATA INBOX (/private/a "1" '
                               '/private/a/b "%s" /private/a/b/c "3")'
                               % long_value)
    assert "LONGENTRIES" not in tagged
    # MAXSIZE leaves the long one out and says how long it was
    lines, tagged = c.ok("GETMETADATA (MAXSIZE 10 DEPTH infinity) INBOX "
                         "/private/a")
    assert metadata(lines) == ('* METADATA INBOX (/private/a "1" '
                               '/private/a/b/c "3")')
    assert "OK [METADATA LONGENTRIES 100] " in tagged
    # below the top: a root that is no entry is NIL, then what is there
    lines, _ = c.ok("GETMETADATA (DEPTH 1) INBOX /shared")
    assert metadata(lines) == "* METADATA INBOX (/shared NIL)"
    lines, _ = c.ok("GETMETADATA (DEPTH infinity) INBOX /shared")
    assert metadata(lines) == '* METADATA INBOX (/shared NIL /shared/a/z "5")'
    # nothing under MAXSIZE at all: no METADATA response
    lines, tagged = c.ok("GETMETADATA (MAXSIZE 5) INBOX /private/a/b")
    assert lines == [] and "[METADATA LONGENTRIES 100]" in tagged


def test_limits(postern_factory):
    p = make_server(postern_factory, imap_extra="metadata_max_size = 64; "
                    "metadata_max_entries = 3;")
    c = login(p)
    _, tagged = no(c, 'SETMETADATA INBOX (/private/big "%s")' % ("x" * 65))
    assert "NO [METADATA MAXSIZE 64]" in tagged
    c.ok('SETMETADATA INBOX (/private/big "%s")' % ("x" * 64))
    c.ok('SETMETADATA INBOX (/private/a "1" /shared/b "2")')
    # a fourth entry: refused, and the whole command with it
    _, tagged = no(c, 'SETMETADATA INBOX (/private/a "new" /private/c "3")')
    assert "NO [METADATA TOOMANY]" in tagged
    lines, _ = c.ok("GETMETADATA INBOX (/private/a /private/c)")
    assert metadata(lines) == '* METADATA INBOX (/private/a "1" /private/c NIL)'
    # a value over the limit spoils the command too
    no(c, 'SETMETADATA INBOX (/private/a "2" /private/big "%s")' % ("y" * 65))
    lines, _ = c.ok("GETMETADATA INBOX /private/a")
    assert metadata(lines) == '* METADATA INBOX (/private/a "1")'
    # replacing is no new entry; removing makes room; the server has its own
    c.ok('SETMETADATA INBOX (/private/a "one")')
    c.ok('SETMETADATA INBOX (/shared/b NIL /private/c "3")')
    c.ok('SETMETADATA "" (/private/s1 "1" /private/s2 "2" /private/s3 "3")')
    _, tagged = no(c, 'SETMETADATA "" (/private/s4 "4")')
    assert "[METADATA TOOMANY]" in tagged
    caps = c.ok("CAPABILITY")[0][0]
    assert "METADATA" in caps


def test_persistence_rename_delete_and_users(srv):
    c = login(srv)
    c.ok("CREATE Proj")
    c.ok('SETMETADATA Proj (/private/comment "plans" /shared/comment "s")')
    c.ok('SETMETADATA "" (/private/comment "mine" /shared/comment "ours")')
    c.close()
    # a restart keeps everything
    assert srv.stop() == 0
    srv.start()
    c = login(srv)
    lines, _ = c.ok("GETMETADATA Proj (/private/comment /shared/comment)")
    assert metadata(lines) == ('* METADATA Proj (/private/comment "plans" '
                               '/shared/comment "s")')
    # RENAME keeps them with the mailbox
    c.ok("RENAME Proj Proj2")
    lines, _ = c.ok("GETMETADATA Proj2 /private/comment")
    assert metadata(lines) == '* METADATA Proj2 (/private/comment "plans")'
    _, tagged = no(c, "GETMETADATA Proj /private/comment")
    assert "[NONEXISTENT]" in tagged
    # DELETE drops them: the same name again starts empty
    c.ok("DELETE Proj2")
    c.ok("CREATE Proj2")
    lines, _ = c.ok("GETMETADATA (DEPTH infinity) Proj2 (/private /shared)")
    assert metadata(lines) == "* METADATA Proj2 (/private NIL /shared NIL)"
    lines, _ = c.ok('GETMETADATA "" /private/comment')
    assert metadata(lines) == '* METADATA "" (/private/comment "mine")'
    # another user sees none of it, and has their own
    v = login(srv, "v@test.example", PW_V)
    lines, _ = v.ok('GETMETADATA "" (/private/comment /shared/comment)')
    assert metadata(lines) == ('* METADATA "" (/private/comment NIL '
                               '/shared/comment NIL)')
    lines, _ = v.ok("GETMETADATA (DEPTH infinity) INBOX /private")
    assert metadata(lines) == "* METADATA INBOX (/private NIL)"
    v.ok('SETMETADATA "" (/private/comment "v\'s")')
    lines, _ = c.ok('GETMETADATA "" /private/comment')
    assert metadata(lines) == '* METADATA "" (/private/comment "mine")'


def test_specialuse_entry(srv):
    c = login(srv)
    lines, _ = c.ok("GETMETADATA Sent /private/specialuse")
    assert metadata(lines) == '* METADATA Sent (/private/specialuse "\\\\Sent")'
    lines, _ = c.ok("GETMETADATA INBOX /private/specialuse")
    assert metadata(lines) == "* METADATA INBOX (/private/specialuse NIL)"
    lines, _ = c.ok("GETMETADATA (DEPTH 1) Junk /private")
    assert metadata(lines) == ('* METADATA Junk (/private NIL '
                               '/private/specialuse "\\\\Junk")')
    # set: only to what it is
    _, tagged = no(c, 'SETMETADATA Sent (/private/specialuse "\\\\Trash")')
    assert "NO [USEATTR]" in tagged
    _, tagged = no(c, "SETMETADATA Sent (/private/specialuse NIL)")
    assert "NO [USEATTR]" in tagged
    c.ok('SETMETADATA Sent (/private/specialuse "\\\\sent")')
    c.ok("SETMETADATA INBOX (/private/specialuse NIL)")
    # on the server it is an entry like another
    c.ok('SETMETADATA "" (/private/specialuse "x")')
    lines, _ = c.ok('GETMETADATA "" /private/specialuse')
    assert metadata(lines) == '* METADATA "" (/private/specialuse "x")'


def test_changes_reach_notify_sessions(srv):
    """RFC 5465 MailboxMetadataChange / ServerMetadataChange: another
    session of the account hears of each entry set, at once; the one
    that set it does not, nor does another account"""
    a = login(srv)
    b = login(srv)
    v = login(srv, "v@test.example", PW_V)
    for c in (b, v):
        c.ok("NOTIFY SET (personal (MailboxMetadataChange "
             "ServerMetadataChange))")
    lines, _ = a.ok('SETMETADATA INBOX (/private/comment "x" /shared/y "1")')
    assert lines == []
    a.ok('SETMETADATA "" (/shared/comment NIL)')
    got = [b.line() for _ in range(3)]      # unsolicited, no command sent
    assert got == ["* METADATA INBOX /private/comment",
                   "* METADATA INBOX /shared/y",
                   '* METADATA "" /shared/comment'], got
    assert v.ok("NOOP")[0] == []
    assert a.ok("NOOP")[0] == []


# ---- MESSAGELIMIT ----

@pytest.fixture
def lim(postern_factory):
    """message_limit 5; INBOX holds UIDs 1..8 ("m1".."m8"), Dest exists"""
    p = make_server(postern_factory, imap_extra="message_limit = 5;")
    appended(p, "u@test.example", PW, "INBOX",
             [(None, mail("m%d" % i)) for i in range(1, 9)])
    c = login(p)
    c.ok("CREATE Dest")
    c.close()
    return p


def uids_of(lines):
    return [int(m.group(1)) for m in
            (re.search(r"UID (\d+)", l) for l in lines) if m]


def test_messagelimit_fetch_store(lim):
    c = sel(lim)
    caps = c.ok("CAPABILITY")[0][0].split()
    assert "MESSAGELIMIT=5" in caps
    # MSN FETCH over the limit: the 5 highest, and where it stopped
    lines, tagged = c.ok("FETCH 1:* (UID)")
    assert lines == ["* %d FETCH (UID %d)" % (i, i) for i in range(4, 9)]
    assert tagged.endswith("OK [MESSAGELIMIT 5 4] FETCH completed"), tagged
    # within the limit: all, no code
    lines, tagged = c.ok("FETCH 1:5 (UID)")
    assert len(lines) == 5 and tagged.endswith("OK FETCH completed")
    # UID FETCH in parts: go on below the UID given
    lines, tagged = c.ok("UID FETCH 1:* (FLAGS)")
    assert uids_of(lines) == [4, 5, 6, 7, 8]
    assert "OK [MESSAGELIMIT 5 4] UID FETCH completed" in tagged
    lines, tagged = c.ok("UID FETCH 1:3 (FLAGS)")
    assert uids_of(lines) == [1, 2, 3] and "MESSAGELIMIT" not in tagged
    # STORE: only those 5 change
    lines, tagged = c.ok("STORE 1:* +FLAGS (\\Flagged)")
    assert len(lines) == 5 and all("\\Flagged" in l for l in lines)
    assert "OK [MESSAGELIMIT 5 4] STORE completed" in tagged
    lines, _ = c.ok("FETCH 1:3 (FLAGS)")
    assert all("\\Flagged" not in l for l in lines), lines
    lines, tagged = c.ok("UID STORE 1:* +FLAGS.SILENT (\\Seen)")
    assert lines == [] and "OK [MESSAGELIMIT 5 4] UID STORE" in tagged
    # beside [MODIFIED] the limit goes in an untagged NO
    lines, tagged = c.ok("UID STORE 1:* (UNCHANGEDSINCE 1) +FLAGS (\\Answered)")
    assert "* NO [MESSAGELIMIT 5 4] Only the last 5 messages were " \
        "processed" in lines, lines
    assert "OK [MODIFIED " in tagged and "MESSAGELIMIT" not in tagged


def test_messagelimit_copy_move(lim):
    c = sel(lim)
    # COPY is all or nothing: refused, with or without UID
    _, tagged = no(c, "COPY 1:* Dest")
    assert "NO [MESSAGELIMIT 5 4] " in tagged
    _, tagged = no(c, "UID COPY 1:* Dest")
    assert "NO [MESSAGELIMIT 5 4] " in tagged
    lines, _ = c.ok("STATUS Dest (MESSAGES)")
    assert lines == ["* STATUS Dest (MESSAGES 0)"]
    c.ok("CREATE Other")
    _, tagged = c.ok("UID COPY 2:6 Other")
    assert "[COPYUID " in tagged and "MESSAGELIMIT" not in tagged
    # UID MOVE moves the 5 highest, then the rest
    lines, tagged = c.ok("UID MOVE 1:* Dest")
    assert re.match(r"\* OK \[COPYUID \d+ 4:8 1:5\] Moved", lines[0]), lines
    assert lines[1:] == ["* %d EXPUNGE" % i for i in range(8, 3, -1)], lines
    assert tagged.endswith("OK [MESSAGELIMIT 5 4] UID MOVE completed")
    lines, tagged = c.ok("MOVE 1:* Dest")
    assert tagged.endswith("OK MOVE completed") and len(lines) == 4
    lines, _ = c.ok("STATUS Dest (MESSAGES)")
    assert lines == ["* STATUS Dest (MESSAGES 8)"]


def test_messagelimit_search_and_sort(lim):
    c = sel(lim)
    lines, tagged = c.ok("SEARCH ALL")
    assert lines == ["* SEARCH 4 5 6 7 8"]
    assert tagged.endswith("OK [MESSAGELIMIT 5 4] SEARCH completed")
    # what is looked at counts, not what matches
    lines, tagged = c.ok("UID SEARCH SUBJECT m2")
    assert lines == ["* SEARCH"] and "MESSAGELIMIT 5 4" in tagged
    lines, tagged = c.ok("UID SEARCH UID 1:3 SUBJECT m2")
    assert lines == ["* SEARCH 2"] and "MESSAGELIMIT" not in tagged
    lines, tagged = c.ok("UID SEARCH 1:3 ALL")
    assert lines == ["* SEARCH 1 2 3"] and "MESSAGELIMIT" not in tagged
    lines, tagged = c.ok("SEARCH RETURN (COUNT MIN) ALL")
    assert lines[0].endswith("MIN 4 COUNT 5"), lines
    # "$" holds what was found
    c.ok("SEARCH RETURN (SAVE) ALL")
    lines, _ = c.ok("FETCH $ (UID)")
    assert uids_of(lines) == [4, 5, 6, 7, 8]
    # SORT and THREAD over the limit are refused, within it answered
    _, tagged = no(c, "SORT (ARRIVAL) UTF-8 ALL")
    assert "NO [MESSAGELIMIT 5]" in tagged
    _, tagged = no(c, "THREAD REFERENCES UTF-8 ALL")
    assert "NO [MESSAGELIMIT 5]" in tagged
    lines, tagged = c.ok("UID SORT (ARRIVAL) UTF-8 UID 1:4")
    assert lines == ["* SORT 1 2 3 4"] and "MESSAGELIMIT" not in tagged


def test_messagelimit_expunge(lim):
    c = sel(lim)
    c.ok("STORE 1:4 +FLAGS.SILENT (\\Deleted)")
    c.ok("STORE 5:8 +FLAGS.SILENT (\\Deleted)")
    # UID EXPUNGE counts the \Deleted messages of its set
    lines, tagged = c.ok("UID EXPUNGE 1:*")
    assert lines == ["* %d EXPUNGE" % i for i in range(8, 3, -1)], lines
    assert tagged.endswith("OK [MESSAGELIMIT 5 4] UID EXPUNGE completed")
    lines, tagged = c.ok("UID EXPUNGE 1:*")
    assert len(lines) == 3 and "MESSAGELIMIT" not in tagged
    # EXPUNGE is never cut
    appended(lim, "u@test.example", PW, "INBOX",
             [(None, mail("n%d" % i)) for i in range(7)])
    c.ok("NOOP")
    c.ok("STORE 1:4 +FLAGS.SILENT (\\Deleted)")
    c.ok("STORE 5:7 +FLAGS.SILENT (\\Deleted)")
    lines, tagged = c.ok("EXPUNGE")
    assert len(lines) == 7 and tagged.endswith("OK EXPUNGE completed")
    # imaplib copes with the code
    m = imaplib_login(lim)
    m.select("Dest")
    typ, _ = m.uid("SEARCH", "ALL")
    assert typ == "OK"
    m.logout()


def test_messagelimit_multiappend(lim):
    """MULTIAPPEND files all or nothing (RFC 3502), so more messages
    than the limit are refused whole; up to it they go in"""
    c = login(lim)

    def multiappend(n):
        t = c.tag()
        msgs = [mail("a%d" % i) for i in range(n)]
        parts = b"".join(b" {%d+}\r\n" % len(m) + m for m in msgs)
        c.send(t.encode() + b" APPEND Dest" + parts + b"\r\n")
        return c.until(t)

    _, tagged = multiappend(6)
    assert " NO [MESSAGELIMIT 5] " in tagged, tagged
    lines, _ = c.ok("STATUS Dest (MESSAGES)")
    assert lines == ["* STATUS Dest (MESSAGES 0)"]
    _, tagged = multiappend(5)
    assert " OK [APPENDUID " in tagged, tagged
    lines, _ = c.ok("STATUS Dest (MESSAGES)")
    assert lines == ["* STATUS Dest (MESSAGES 5)"]
