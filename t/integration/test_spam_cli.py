"""`postern spam train|forget|classify|stats`: the Bayes classifier
trained from a Maildir, an mbox (with mboxrd ">From " quoting) and a
directory of message files, then held-out messages classified, the
counts shown by stats, training again and relearning, forgetting, and
the errors (missing paths, usage, a memory lookup store without a
server).

The state lives in the kv lookup store over the data store (SQLite), so
each command is a process of its own that finds what the last one
learned.

Where the CLI cannot open the lookup store itself it asks the running
server over its control socket (<data_dir>/control.sock): RocksDB held
by the server (train and forget; stats and classify open it read-only),
and the "memory" backend (everything).  Those tests run a real server,
compare its answers with the local path's, and speak the socket's
protocol directly to feed it bad input."""
import os
import pathlib
import random
import re
import socket
import stat
import struct
import time

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


def test_memory_without_a_server():
    """lookup.backend "memory" lives in the server: without one, every
    command says it cannot be reached, naming the socket, and exits 1."""
    c = conftest.CLI('lookup = { backend = "memory"; };\n',
                     prefix="postern-spam-")
    try:
        m = c.tmp / "m.eml"
        m.write_bytes(message(True, 1, random.Random(1)))
        for args in (("stats",), ("train", "--spam", m), ("classify", m),
                     ("forget", "--ham", m)):
            r = c("spam", *args, check=1)
            assert 'lookup.backend is "memory"' in r.stderr, r.stderr
            assert "cannot connect to %s" % (c.tmp / "var" / "control.sock") \
                in r.stderr, r.stderr
            assert "is `postern serve` running?" in r.stderr
            assert r.stdout == ""
    finally:
        c.cleanup()


def corpus(root, rnd, n_spam, n_ham, start=0):
    """A Maildir of spam and an mbox of ham under root."""
    md = root / "Junk"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    for i in range(n_spam):
        (md / ("cur" if i % 2 else "new") / ("17%08d.M1P1.h:2,S" % i)) \
            .write_bytes(message(True, start + i, rnd))
    with open(root / "ham.mbox", "wb") as f:
        for i in range(n_ham):
            f.write(b"From colleague@work.example Mon Jan  1 00:00:00 2024\n")
            f.write(message(False, start + n_spam + i, rnd) + b"\n")
    return md, root / "ham.mbox"


def test_rocksdb_next_to_a_server(postern_factory):
    """RocksDB admits one process: with the server running, train and
    forget go through the control socket; stats and classify open the
    store read-only and see what the server learned.  Once the server is
    gone, the CLI opens the store itself and finds the same state."""
    p = postern_factory(extra_conf='store = { backend = "rocksdb"; };\n'
                        'bayes = { min_learned = 1; };\n'
                        'log = { level = "info"; };\n')
    root = pathlib.Path(p.dir)                 # the CLI runs as postern
    md, mbox = corpus(root, random.Random(3), 30, 20)
    r = p.cli("spam", "train", "--spam", str(md), "--ham", str(mbox),
              check=False)
    assert r.returncode == 0, r.stderr
    assert learned(r.stdout, "spam") == (30, 0, 0)
    assert learned(r.stdout, "ham") == (20, 0, 0)
    assert "50 messages in" in r.stdout
    assert "uid=" in p.log() and "requests=" in p.log()
    r = p.cli("spam", "stats", check=False)
    assert r.returncode == 0, r.stderr
    assert "spam learned: 30" in r.stdout and "ham learned:  20" in r.stdout
    held = root / "held.eml"
    held.write_bytes(message(True, 999, random.Random(4)))
    r = p.cli("spam", "classify", str(held), check=False)
    assert r.returncode == 0, r.stderr
    assert re.match(r"\S+held.eml: spam prob=", r.stdout), r.stdout
    # again: already learned; then forget the ham, through the server
    r = p.cli("spam", "train", "--spam", str(md), check=False)
    assert learned(r.stdout, "spam") == (0, 0, 30)
    r = p.cli("spam", "forget", "--ham", str(mbox), check=False)
    assert r.returncode == 0, r.stderr
    assert "ham: 20 forgotten, 0 not learned, 0 learned as spam" in r.stdout
    assert "ham learned:  0" in p.cli("spam", "stats").stdout
    # once the server is gone, the CLI opens the store itself
    assert p.stop() == 0
    assert not os.path.exists(os.path.join(p.data_dir, "control.sock"))
    r = p.cli("spam", "train", "--spam", str(md), check=False)
    assert r.returncode == 0, r.stderr
    assert learned(r.stdout, "spam") == (0, 0, 30)


def test_memory_through_the_server(postern_factory):
    """lookup.backend "memory": every command through the server, with
    the local path's output: the same counts, tokens, verdicts and
    probabilities as a CLI over SQLite trained on the same messages,
    classify's lines in the input's order, progress on stderr."""
    conf = 'bayes = { min_learned = 5; };\n'
    p = postern_factory(extra_conf=conf + 'lookup = { backend = "memory"; };'
                        '\nlog = { level = "info"; };\n')
    local = conftest.CLI(conf, prefix="postern-spam-")
    try:
        root = pathlib.Path(p.dir)
        md, mbox = corpus(root, random.Random(7), 700, 600)
        held = root / "held"
        held.mkdir()
        rnd = random.Random(8)
        for i in range(40):
            (held / ("%03d-%s" % (i, "spam" if i % 3 == 0 else "ham"))) \
                .write_bytes(message(i % 3 == 0, 5000 + i, rnd))

        r = p.cli("spam", "classify", str(held / "000-spam"), check=False)
        assert r.returncode == 0 and "untrained prob=0.500000" in r.stdout
        r = p.cli("spam", "train", "--spam", str(md), "--ham", str(mbox),
                  check=False)
        assert r.returncode == 0, r.stderr
        assert learned(r.stdout, "spam") == (700, 0, 0)
        assert learned(r.stdout, "ham") == (600, 0, 0)
        assert "postern spam train: 1000 messages" in r.stderr
        rl = local("spam", "train", "--spam", md, "--ham", mbox, check=0)
        assert learned(rl.stdout, "spam") == (700, 0, 0)

        sr = p.cli("spam", "stats", check=False)
        assert sr.returncode == 0, sr.stderr
        assert sr.stdout == local("spam", "stats", check=0).stdout
        assert "judging:      yes (min_learned 5)" in sr.stdout

        r = p.cli("spam", "classify", "--top", "3", str(held), check=False)
        assert r.returncode == 0, r.stderr
        rl = local("spam", "classify", "--top", "3", held, check=0)
        strip = lambda out: out.rsplit("\n", 2)[0]  # noqa: E731 (timing)
        assert strip(r.stdout) == strip(rl.stdout)
        names = [l.split(": ")[0].rsplit("/", 1)[1]
                 for l in r.stdout.splitlines()[:-1] if not l.startswith(" ")]
        assert names == sorted(names) and len(names) == 40
        assert r.stdout.splitlines()[-1].startswith(
            "classified 40 messages: 14 spam, 26 ham, 0 unsure")

        # a user's set, relearning and forgetting, as locally
        r = p.cli("spam", "train", "--user", "Bob@Example.org", "--ham",
                  str(md / "cur"), check=False)
        assert learned(r.stdout, "ham") == (350, 0, 0)
        out = p.cli("spam", "stats", "--user", "bob@example.org").stdout
        assert "user bob@example.org:\n  spam learned: 0\n" \
            "  ham learned:  350" in out
        r = p.cli("spam", "train", "--ham", str(md / "new"), check=False)
        assert learned(r.stdout, "ham") == (0, 350, 0)
        r = p.cli("spam", "forget", "--spam", str(md), check=False)
        assert "spam: 350 forgotten, 0 not learned, 350 learned as ham" \
            in r.stdout
        r = p.cli("spam", "train", "--spam", str(root / "missing"),
                  check=False)
        assert r.returncode == 1
        assert "missing: No such file or directory" in r.stderr
    finally:
        local.cleanup()


def frame(t, body):
    return t + struct.pack(">I", len(body)) + body


def request(t, body_msg, cls=0, user=b""):
    return frame(t, bytes([cls]) + struct.pack(">H", len(user)) + user +
                 body_msg)


def read_frames(s):
    """Every frame until the server closes: [(type, body)]."""
    data = b""
    s.settimeout(10)
    while True:
        try:
            got = s.recv(65536)
        except ConnectionResetError:
            break
        if not got:
            break
        data += got
    out = []
    while len(data) >= 5:
        n = struct.unpack(">I", data[1:5])[0]
        out.append((data[:1], data[5:5 + n]))
        data = data[5 + n:]
    assert data == b""
    return out


def test_control_socket_protocol(postern_factory):
    """The control socket itself: mode and owner, greeting, pipelined
    requests answered in order, and bad input - garbage, a frame over
    the limit, a bad request, a client gone mid-request, too many
    connections, a stale socket after a crash - refused with an error
    frame or survived, the server serving on."""
    p = postern_factory(extra_conf='lookup = { backend = "memory"; };\n'
                        'bayes = { min_learned = 1; };\n'
                        'log = { level = "info"; };\n')
    path = os.path.join(p.data_dir, "control.sock")
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == conftest.pwd.getpwnam("postern").pw_uid

    def conn():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.settimeout(10)
        g = s.recv(9)
        assert g == frame(b"g", struct.pack(">I", 1)), g
        return s

    # pipelined: three requests in one write, three replies in order
    rnd = random.Random(2)
    m1, m2 = message(True, 1, rnd), message(False, 2, rnd)
    s = conn()
    s.sendall(request(b"T", m1, cls=1) + request(b"T", m2, cls=0) +
              request(b"T", m1, cls=1) + request(b"S", b""))
    s.shutdown(socket.SHUT_WR)
    f = read_frames(s)
    s.close()
    assert f[:3] == [(b"o", b"\0"), (b"o", b"\0"), (b"o", b"\2")], f
    assert f[3][0] == b"s" and struct.unpack(">Bqqq", f[3][1])[:3] == \
        (1, 1, 1)

    cases = [
        (b"GET / HTTP/1.0\r\n\r\n", "unknown request type 0x47"),
        (b"T\xff\xff\xff\xff", "request over the limit of"),
        (request(b"T", b"x", user=b"u" * 400), "user of 400 bytes"),
        (request(b"S", b"", cls=1), "bad class 1"),
        (request(b"C", b""), "a message of 0 bytes"),
        # a good request first: answered before the refusal
        (request(b"C", m1) + b"\0", "unknown request type 0x00"),
    ]
    for data, want in cases:
        s = conn()
        s.sendall(data)
        f = read_frames(s)
        s.close()
        assert f[-1][0] == b"e" and want in f[-1][1].decode(), (data, f)
        assert len(f) == 1 or f[0][0] == b"r"

    # a client gone in the middle of a request
    s = conn()
    s.sendall(b"T" + struct.pack(">I", 100000) + b"x" * 5000)
    s.close()
    # too many at once: the one over the limit is told so (the threads
    # of the connections above may take a moment to be gone)
    held = []
    deadline = time.time() + 10
    while len(held) < 16 and time.time() < deadline:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.settimeout(10)
        if s.recv(9) == frame(b"g", struct.pack(">I", 1)):
            held.append(s)
        else:
            s.close()
            time.sleep(0.05)
    assert len(held) == 16
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    f = read_frames(s)
    s.close()
    assert f == [(b"e", b"busy: too many control connections at once")], f
    for h in held:
        h.close()

    # the server serves on, and a crash leaves a stale socket that the
    # next start replaces
    r = p.cli("spam", "stats", check=False)
    assert r.returncode == 0 and "spam learned: 1" in r.stdout, r.stderr
    assert "left in the middle of a request (5005 bytes)" in p.log()
    p.kill()
    assert os.path.exists(path)
    r = p.cli("spam", "stats", check=False)
    assert r.returncode == 1 and "Connection refused" in r.stderr, r.stderr
    p.start()
    r = p.cli("spam", "stats", check=False)
    assert r.returncode == 0 and "spam learned: 0" in r.stdout, r.stderr
