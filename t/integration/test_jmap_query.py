"""Email/query's two ways to an answer (imap-jmap/jmap_email_query.c)
give the same answers on the same data: the mailbox walk over the
receivedAt index (store/mail_order.c), which stops at the end of the
window, and the general path, which reads every candidate, sorts and
cuts.  The same question is asked three ways - inMailbox alone (the walk,
no email read), inMailbox in an AND with a condition every email meets
(the walk, each email checked), and an OR around inMailbox with the
receivedAt comparator given twice (the general path) - over a grid of
position, anchor and anchorOffset, limit, calculateTotal and
collapseThreads, newest and oldest first.  The data has receivedAt out
of import order, ties in one second, threads, and emails added to the
mailbox long after they were received (Email/set mailboxIds).  The
server's debug log shows which way each query took and how much it
read.

Email/queryChanges: a client that applies removed/added to its old
results gets the new results, also where a thread moves an email that
did not change itself (collapseThreads, someInThreadHaveKeyword)."""
import itertools
import json
import re

from test_jmap import Client, make_server

HOUR = 3600


def stamp(t):
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def raw(i, thread):
    h = ("From: s%d@example.net\r\nTo: u@test.example\r\n"
         "Subject: %sthread %d\r\nMessage-ID: <q%d@x>\r\n" %
         (i, "Re: " if i != thread else "", thread, i))
    if i != thread:
        h += "In-Reply-To: <q%d@x>\r\n" % thread
    return (h + "\r\nBody %d.\r\n" % i).encode()


def import_all(c, mbox, plan):
    """plan: [(i, thread root, receivedAt, keywords)] -> {i: email id}"""
    emails = {}
    for i, root, when, kws in plan:
        st, r, body = c.request("POST", "/jmap/upload/A1/",
                                body=raw(i, root),
                                headers={"Content-Type": "message/rfc822"})
        assert st == 201, body
        emails["k%d" % i] = {"blobId": json.loads(body)["blobId"],
                             "mailboxIds": {mbox: True},
                             "keywords": {k: True for k in kws},
                             "receivedAt": stamp(when)}
    got = c.ok("Email/import", {"accountId": "A1", "emails": emails})
    assert not got.get("notCreated"), got
    return {int(k[1:]): v["id"] for k, v in got["created"].items()}


def boxes(c):
    mb = c.ok("Mailbox/get", {"accountId": "A1"})["list"]
    return {m["role"] or m["name"]: m["id"] for m in mb}


def shapes(mbox, asc):
    """the same question, three ways: (name, filter, sort)"""
    rec = {"property": "receivedAt", "isAscending": asc}
    one = None if not asc else [rec]
    return [
        ("walk", {"inMailbox": mbox}, one),
        ("walk+filter", {"operator": "AND", "conditions": [
            {"inMailbox": mbox}, {"minSize": 0}]}, [rec]),
        ("general", {"operator": "OR", "conditions": [
            {"inMailbox": mbox}]}, [rec, rec]),
    ]


def answer(c, args):
    n, a = c.call("Email/query", dict(args, accountId="A1"))
    if n == "error":
        return ("error", a["type"])
    return (a["ids"], a["position"], a.get("total"), a.get("limit"))


def paths_taken(p, since):
    log = p.log()[since:]
    return re.findall(r"Email/query: path=(\w+), mailbox=\d+(?:, "
                      r"scanned=(\d+))?, loaded=(\d+), results=(\d+)(\+?)",
                      log)


def test_walk_and_general_paths_agree(postern_factory):
    p = make_server(postern_factory)
    c = Client(p)
    mb = boxes(c)
    inbox, archive = mb["inbox"], mb["archive"]
    t0 = 1750000000
    plan = []
    # 40 emails in threads of up to 4; receivedAt not in import order,
    # every fifth pair in the same second
    for i in range(1, 41):
        root = i - (i - 1) % 4
        when = t0 + ((i * 37) % 40) * HOUR
        if i % 5 == 0:
            when = t0 + ((i - 1) * 37 % 40) * HOUR      # a tie
        plan.append((i, root, when, ["$seen"] if i % 3 == 0 else []))
    ids = import_all(c, inbox, plan)
    # old emails filed into the inbox after newer ones arrived: UID order
    # there is not receivedAt order
    late = import_all(c, archive, [(100 + k, 100 + k - k % 2,
                                    t0 - k * HOUR, []) for k in range(6)])
    c.ok("Email/set", {"accountId": "A1", "update": {
        late[100 + k]: {"mailboxIds/" + inbox: True} for k in range(6)}})
    # a thread spanning both: one of its emails only in the archive
    c.ok("Email/set", {"accountId": "A1", "update": {
        ids[2]: {"mailboxIds/" + inbox: None,
                 "mailboxIds/" + archive: True}}})
    total = c.ok("Email/query", {"accountId": "A1", "filter": {
        "inMailbox": inbox}, "calculateTotal": True})["total"]
    assert total == 40 - 1 + 6

    everything = c.ok("Email/query", {"accountId": "A1", "filter": {
        "inMailbox": inbox}})["ids"]
    anchors = [everything[0], everything[7], everything[-1],
               ids[2], "Mnope"]          # not in the results; not an id
    windows = []
    for pos in (None, 0, 3, 17, 44, 45, 1000, -1, -5, -1000):
        for lim in (None, 0, 1, 5):
            windows.append({"position": pos, "limit": lim})
    for anc, off in itertools.product(anchors, (None, -3, 0, 2, 1000,
                                                -1000)):
        for lim in (None, 4):
            windows.append({"anchor": anc, "anchorOffset": off,
                            "limit": lim})
    since = len(p.log())
    n = 0
    for asc, collapse, want_total in itertools.product(
            (False, True), (False, True), (False, True)):
        for w in windows:
            args = {k: v for k, v in w.items() if v is not None}
            if collapse:
                args["collapseThreads"] = True
            if want_total:
                args["calculateTotal"] = True
            got = {}
            for name, filt, sort in shapes(inbox, asc):
                a = dict(args, filter=filt)
                if sort is not None:
                    a["sort"] = sort
                got[name] = answer(c, a)
            assert got["walk"] == got["general"] == got["walk+filter"], \
                (asc, collapse, want_total, w, got)
            n += 1
    assert n == 8 * len(windows)
    # the answers are right, not only equal: spot checks against Python
    w = answer(c, {"filter": {"inMailbox": inbox}, "position": 3,
                   "limit": 5, "calculateTotal": True})
    assert w == (everything[3:8], 3, 45, None)
    got = c.ok("Email/get", {"accountId": "A1", "ids": everything,
                             "properties": ["receivedAt"]})["list"]
    when = {g["id"]: g["receivedAt"] for g in got}
    key = [(when[i], -int(i[1:])) for i in everything]
    assert key == sorted(key, reverse=True)     # newest first, ties by id

    # each way was taken, and a page read a page
    taken = paths_taken(p, since)
    kinds = {t[0] for t in taken}
    # deep windows (position 1000, from the end, anchors) of the walk
    # without collapse read the whole order once and then take it from
    # the order cache, reading no key (jmap_order_cache.c)
    assert kinds == {"index", "general", "cache"}, kinds
    assert sum(1 for t in taken if t[0] == "general") == n
    assert all(t[1] == "0" and t[3] == "45" for t in taken
               if t[0] == "cache"), taken
    page = [t for t in paths_taken(p, 0) if t[0] == "index" and t[4] == "+"]
    assert page, "no walk stopped at the end of its window"
    since = len(p.log())
    answer(c, {"filter": {"inMailbox": inbox}, "limit": 5})
    (kind, scanned, loaded, results, more), = paths_taken(p, since)
    assert (kind, scanned, loaded, results, more) == \
        ("index", "6", "0", "6", "+")
    since = len(p.log())
    answer(c, {"filter": {"operator": "AND", "conditions": [
        {"inMailbox": inbox}, {"notKeyword": "$seen"}]}, "limit": 5})
    (kind, scanned, loaded, results, more), = paths_taken(p, since)
    assert kind == "index" and results == "6" and more == "+"
    assert int(loaded) == int(scanned) < 15


def test_filtered_walk_matches_general(postern_factory):
    """Conditions checked on the walk: keywords, sizes, dates, text."""
    p = make_server(postern_factory)
    c = Client(p)
    inbox = boxes(c)["inbox"]
    t0 = 1750000000
    plan = [(i, i - (i - 1) % 3, t0 + ((i * 11) % 24) * HOUR,
             ["$seen"] if i % 2 else ["$flagged"] if i % 5 == 0 else [])
            for i in range(1, 25)]
    import_all(c, inbox, plan)
    conds = [{"notKeyword": "$seen"}, {"hasKeyword": "$flagged"},
             {"after": stamp(t0 + 10 * HOUR)},
             {"someInThreadHaveKeyword": "$flagged"},
             {"noneInThreadHaveKeyword": "$seen"},
             {"text": "Body"}, {"subject": "thread"},
             {"operator": "NOT", "conditions": [{"from": "s7"}]}]
    for cond, asc, collapse, pos in itertools.product(
            conds, (False, True), (False, True), (0, 2, -3)):
        rec = {"property": "receivedAt", "isAscending": asc}
        base = {"limit": 4, "position": pos, "calculateTotal": True}
        if collapse:
            base["collapseThreads"] = True
        walk = answer(c, dict(base, filter={"operator": "AND", "conditions":
                                            [{"inMailbox": inbox}, cond]},
                              sort=[rec]))
        gen = answer(c, dict(base, filter={"operator": "OR", "conditions": [
            {"operator": "AND", "conditions": [{"inMailbox": inbox},
                                               cond]}]},
                             sort=[rec, rec]))
        assert walk == gen, (cond, asc, collapse, pos, walk, gen)


def apply_changes(old, qc):
    """What a client does with /queryChanges (RFC 8620 5.6)."""
    removed = set(qc["removed"])
    ids = [i for i in old if i not in removed]
    for a in sorted(qc["added"], key=lambda a: a["index"]):
        ids.insert(a["index"], a["id"])
    return ids


def test_query_changes_follow_threads(postern_factory):
    p = make_server(postern_factory)
    c = Client(p)
    inbox = boxes(c)["inbox"]
    t0 = 1750000000
    e = import_all(c, inbox, [(1, 1, t0, []), (2, 2, t0 + HOUR, []),
                              (3, 3, t0 + 2 * HOUR, [])])
    queries = [
        {"filter": {"inMailbox": inbox}, "collapseThreads": True},
        {"filter": {"someInThreadHaveKeyword": "$flagged"}},
        {"filter": {"inMailbox": inbox}, "sort": [{
            "property": "someInThreadHaveKeyword", "keyword": "$flagged",
            "isAscending": False}, {"property": "receivedAt"}]},
        {"filter": {"inMailbox": inbox}},
    ]
    olds = []
    for q in queries:
        r = c.ok("Email/query", dict(q, accountId="A1"))
        olds.append((r["ids"], r["queryState"]))
    # a newer reply in thread 1 pushes email 1 out of the collapsed list;
    # flagging it puts its (unchanged) thread sibling 1 into the others
    e.update(import_all(c, inbox, [(4, 1, t0 + 5 * HOUR, [])]))
    c.ok("Email/set", {"accountId": "A1", "update": {
        e[4]: {"keywords/$flagged": True}}})
    for q, (old, state) in zip(queries, olds):
        new = c.ok("Email/query", dict(q, accountId="A1"))["ids"]
        qc = c.ok("Email/queryChanges", dict(
            {k: v for k, v in q.items()}, accountId="A1",
            sinceQueryState=state, calculateTotal=True))
        assert apply_changes(old, qc) == new, (q, old, qc, new)
        assert qc["total"] == len(new)
    assert olds[0][0][-1] == e[1] and e[1] not in c.ok("Email/query", dict(
        queries[0], accountId="A1"))["ids"]


def test_order_cache_follows_the_mailbox(postern_factory):
    """A deep page is cut from the cached whole order while the mailbox
    stands still; any change to the mailbox (an email in, an email out,
    a flag) makes the next one read the index again, and the answers
    are those of the general path throughout."""
    p = make_server(postern_factory)
    c = Client(p)
    mb = boxes(c)
    inbox, archive = mb["inbox"], mb["archive"]
    t0 = 1750000000
    ids = import_all(c, inbox, [(i, i, t0 + i * HOUR, [])
                                for i in range(1, 31)])
    deep = {"filter": {"inMailbox": inbox}, "position": 1000, "limit": 5,
            "calculateTotal": True}
    tail = {"filter": {"inMailbox": inbox}, "position": -4, "limit": 3}

    def general(args):
        a = dict(args, filter={"operator": "OR", "conditions": [
            {"inMailbox": inbox}]}, sort=[{"property": "receivedAt",
                                           "isAscending": False}] * 2)
        return answer(c, a)

    def kinds(since):
        return [t[0] for t in paths_taken(p, since)]

    since = len(p.log())
    first = answer(c, tail)
    again = answer(c, tail)
    assert kinds(since) == ["index", "cache"]
    assert first == again == general(tail)
    assert answer(c, deep) == general(deep)
    changes = [
        lambda: import_all(c, inbox, [(40, 40, t0 + 5 * HOUR + 1, [])]),
        lambda: c.ok("Email/set", {"accountId": "A1", "update": {
            ids[7]: {"mailboxIds/" + inbox: None,
                     "mailboxIds/" + archive: True}}}),
        lambda: c.ok("Email/set", {"accountId": "A1", "update": {
            ids[9]: {"keywords/$flagged": True}}}),
    ]
    for change in changes:
        change()
        since = len(p.log())
        got = answer(c, tail)
        assert kinds(since) == ["index"], kinds(since)
        assert got == general(tail)
        since = len(p.log())
        assert answer(c, tail) == got
        assert kinds(since) == ["cache"]
