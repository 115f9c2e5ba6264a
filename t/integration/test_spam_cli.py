"""`postern spam train|forget|classify|stats`: the Bayes classifier
trained from a Maildir, an mbox (with mboxrd ">From " quoting) and a
directory of message files, then held-out messages classified, the
counts shown by stats, training again and relearning, forgetting, and
the errors (missing paths, usage, a memory lookup store), and RocksDB
held by a running server (train refused with a reason, stats and
classify read-only).

The state lives in the kv lookup store over the data store (SQLite), so
each command is a process of its own that finds what the last one
learned."""
import pathlib
import random
import re

import pytest

import conftest
from conftest import BIN, ensure_user  # noqa: F401

HAM_WORDS = ("meeting project budget report schedule review lunch family "
             "weekend release minutes agenda quarterly deadline colleague "
             "draft notes attached thanks regards kernel patch compile "
             "holiday birthday dinner garden conference slides").split()
SPAM_WORDS = ("viagra pills cheap winner prize casino loan free offer click "
              "urgent million bitcoin lottery discount guaranteed bonus claim "
              "credit investment limited exclusive deal cash rolex replica "
              "pharmacy congratulations").split()
COMMON = ("the and you please today information email now your with this "
          "about will have from more time just here new").split()


def message(spam, i, rnd):
    own = SPAM_WORDS if spam else HAM_WORDS
    words = [rnd.choice(own) if rnd.random() < 0.6 else rnd.choice(COMMON)
             for _ in range(40)]
    body = "\n".join(" ".join(words[k:k + 10]) for k in range(0, 40, 10))
    if spam:
        body += "\nhttp://offer%d.bulk.example/go\n" % rnd.randrange(5)
    return ("From: %s%d@%s\nTo: u@test.example\nMessage-ID: <%s%d@gen.example>\n"
            "Subject: %s %s\n\n%s\n" % (
                "promo" if spam else "colleague", rnd.randrange(50),
                "bulk.example" if spam else "work.example",
                "s" if spam else "h", i, rnd.choice(own), rnd.choice(own),
                body)).encode()


@pytest.fixture
def pc():
    c = conftest.CLI("bayes = { min_learned = 5; };\n", prefix="postern-spam-")
    yield c
    c.cleanup()


def learned(out, cls):
    m = re.search(r"^%s: (\d+) learned, (\d+) relearned, (\d+) already" % cls,
                  out, re.M)
    assert m, out
    return tuple(int(x) for x in m.groups())


def stats(pc):
    out = pc("spam", "stats", check=0).stdout
    get = lambda k: int(re.search(r"%s:\s+(\d+)" % k, out).group(1))  # noqa: E731
    return get("spam learned"), get("ham learned"), get("tokens")


def test_train_classify_stats_forget(pc):
    rnd = random.Random(5)
    # spam: a Maildir (cur/ and new/)
    md = pc.tmp / "Junk"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    for i in range(20):
        sub = "cur" if i % 2 else "new"
        (md / sub / ("17000000%02d.M1P1.host:2,S" % i)).write_bytes(
            message(True, i, rnd))
    # ham: an mbox, one message with a quoted From_ line in its body
    quoted = (b"From: alice@work.example\nMessage-ID: <quoted@work.example>\n"
              b"Subject: minutes\n\nminutes of the meeting\n"
              b">From the agenda: budget review\n>>From twice quoted\n")
    with open(pc.tmp / "ham.mbox", "wb") as f:
        for i in range(10):
            f.write(b"From colleague@work.example Mon Jan  1 00:00:00 2024\n")
            f.write(message(False, i, rnd))
            f.write(b"\n")
        f.write(b"From alice@work.example Mon Jan  1 00:00:00 2024\n" + quoted
                + b"\n")
    # ham: a directory of message files
    hd = pc.tmp / "hamdir"
    hd.mkdir()
    for i in range(10, 20):
        (hd / ("%d.eml" % i)).write_bytes(message(False, i, rnd))
    (hd / ".hidden").write_bytes(b"Subject: not me\n\nignored\n")
    (hd / "sub").mkdir()                      # not entered

    # untrained: no judgement
    r = pc("spam", "classify", md / "new" / "1700000000.M1P1.host:2,S", check=0)
    assert "untrained prob=0.500000" in r.stdout

    r = pc("spam", "train", "--spam", md, "--ham", pc.tmp / "ham.mbox",
           "--ham", hd, check=0)
    assert learned(r.stdout, "spam") == (20, 0, 0)
    assert learned(r.stdout, "ham") == (21, 0, 0)
    assert "41 messages in" in r.stdout
    ns, nh, ntok = stats(pc)
    assert (ns, nh) == (20, 21) and ntok > 100
    assert "judging:      yes (min_learned 5)" in pc("spam", "stats").stdout

    # the mbox message was unquoted one level: the same message as a file
    # (body "From the agenda", ">From twice quoted") is already learned
    unq = pc.tmp / "unquoted.eml"
    unq.write_bytes(quoted.replace(b">From the", b"From the")
                    .replace(b">>From", b">From"))
    r = pc("spam", "train", "--ham", unq, check=0)
    assert learned(r.stdout, "ham") == (0, 0, 1)

    # held-out messages
    held = pc.tmp / "held"
    held.mkdir()
    for i in range(100, 110):
        (held / ("%d-%s" % (i, "spam" if i % 2 else "ham"))).write_bytes(
            message(i % 2 == 1, i, rnd))
    r = pc("spam", "classify", "--top", "5", held, check=0)
    lines = [l for l in r.stdout.splitlines() if not l.startswith("  ")]
    verdicts = {}
    for l in lines[:-1]:
        m = re.match(r"(\S+): (spam|ham|unsure) prob=([0-9.]+) score=(-?[0-9.]+) "
                     r"clues=(\d+) tokens=(\d+)$", l)
        assert m, l
        verdicts[m.group(1).rsplit("/", 1)[1]] = (m.group(2), float(m.group(3)),
                                                  float(m.group(4)))
    assert len(verdicts) == 10
    for name, (v, p, score) in verdicts.items():
        want = name.split("-")[1]
        assert v == want, (name, v, p)
        assert (score > 0) == (want == "spam")
    clues = [l for l in r.stdout.splitlines() if l.startswith("  ")]
    assert len(clues) == 50                     # --top 5, 10 messages
    assert re.match(r"  [01]\.\d{4} spam=\d+ ham=\d+ \S+", clues[0])
    assert lines[-1].startswith("classified 10 messages: 5 spam, 5 ham, "
                                "0 unsure, 0 untrained")
    # one message, default top 10; a URL clue shows the host token
    r = pc("spam", "classify", held / "101-spam", check=0)
    assert r.stdout.count("\n  ") <= 10

    # again: nothing changes; as the other class: relearned
    r = pc("spam", "train", "--spam", md, check=0)
    assert learned(r.stdout, "spam") == (0, 0, 20)
    r = pc("spam", "train", "--ham", md / "cur", check=0)
    assert learned(r.stdout, "ham") == (0, 10, 0)
    assert stats(pc)[:2] == (10, 31)
    r = pc("spam", "train", "--spam", md / "cur", check=0)
    assert learned(r.stdout, "spam") == (0, 10, 0)

    # forget: the Maildir's spam, then the counts are the ham's alone
    r = pc("spam", "forget", "--spam", md, check=0)
    assert "spam: 20 forgotten, 0 not learned, 0 learned as ham" in r.stdout
    r = pc("spam", "forget", "--spam", md, "--ham", md, check=0)
    assert "spam: 0 forgotten, 20 not learned" in r.stdout
    assert "ham: 0 forgotten, 20 not learned" in r.stdout
    ns, nh, ntok2 = stats(pc)
    assert (ns, nh) == (0, 21) and 0 < ntok2 < ntok
    r = pc("spam", "forget", "--ham", pc.tmp / "ham.mbox", "--ham", hd,
           check=0)
    assert "ham: 21 forgotten" in r.stdout
    assert stats(pc) == (0, 0, 0)


def test_user_sets(pc):
    rnd = random.Random(9)
    d = pc.tmp / "s"
    d.mkdir()
    for i in range(6):
        (d / str(i)).write_bytes(message(True, i, rnd))
    pc("spam", "train", "--user", "Alice@Example.org", "--spam", d, check=0)
    out = pc("spam", "stats", "--user", "alice@example.org", check=0).stdout
    assert "global:\n  spam learned: 0" in out
    assert "user alice@example.org:\n  spam learned: 6" in out


def test_errors(pc):
    r = pc("spam", "train", "--spam", pc.tmp / "missing", check=1)
    assert "missing: No such file or directory" in r.stderr
    pc("spam", check=2)
    pc("spam", "bogus", check=2)
    pc("spam", "train", check=2)                   # nothing to train
    pc("spam", "train", pc.tmp, check=2)           # a path without a class
    pc("spam", "classify", check=2)
    pc("spam", "stats", "extra", check=2)
    pc("spam", "classify", "--top", "99", pc.tmp, check=2)
    c = conftest.CLI('lookup = { backend = "memory"; };\n', prefix="postern-spam-")
    try:
        r = c("spam", "stats", check=1)
        assert 'lookup.backend is "memory"' in r.stderr
    finally:
        c.cleanup()


def test_rocksdb_next_to_a_server(postern_factory):
    """RocksDB admits one process: with the server running, train says
    so; stats and classify open it read-only and work."""
    p = postern_factory(extra_conf='store = { backend = "rocksdb"; };\n'
                        'bayes = { min_learned = 1; };\n'
                        'log = { level = "info"; };\n')
    msg = pathlib.Path(p.dir) / "m.eml"      # the CLI runs as postern
    msg.write_bytes(message(True, 1, random.Random(1)))
    msg.chmod(0o644)
    r = p.cli("spam", "train", "--spam", str(msg), check=False)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "RocksDB admits one process" in r.stderr
    r = p.cli("spam", "stats", check=False)
    assert r.returncode == 0, r.stderr
    assert "spam learned: 0" in r.stdout
    r = p.cli("spam", "classify", str(msg), check=False)
    assert r.returncode == 0, r.stderr
    assert "untrained" in r.stdout
    # once the server is gone, training works
    assert p.stop() == 0
    r = p.cli("spam", "train", "--spam", str(msg), check=False)
    assert r.returncode == 0, r.stderr
    assert "spam: 1 learned" in r.stdout
