"""An independent reader of Postern queue files, for tests.

Format (queue/queue_spool.c): records "<letter><decimal len>:<payload>\\n";
the first is V "POSTERN-QUEUE 1"; the content is the concatenation of the
C records; an X record ends a complete file; D records come after.
"""
import os


def records(data):
    i = 0
    out = []
    while i < len(data):
        t = chr(data[i])
        j = data.index(b":", i)
        n = int(data[i + 1:j])
        payload = data[j + 1:j + 1 + n]
        if len(payload) != n or data[j + 1 + n:j + 2 + n] != b"\n":
            raise ValueError("torn record at %d" % i)
        out.append((t, payload))
        i = j + 2 + n
    return out


def load(queue_dir, qid):
    with open(os.path.join(queue_dir, "msg", qid), "rb") as f:
        recs = records(f.read())
    assert recs[0] == ("V", b"POSTERN-QUEUE 1"), recs[0]
    assert any(t == "X" for t, _ in recs), "no end record"
    msg = {"sender": None, "rcpts": [], "content": b""}
    for t, p in recs:
        if t == "S":
            msg["sender"] = p.decode()
        elif t == "R":
            msg["rcpts"].append(p.decode())
        elif t == "C":
            msg["content"] += p
        elif t == "I":
            msg["qid"] = p.decode()
    return msg


def body_after_received(content):
    """Content without the Received: header Postern prepends."""
    assert content.startswith(b"Received: "), content[:80]
    i = 0
    while True:
        j = content.index(b"\r\n", i)
        if content[j + 2:j + 3] not in (b" ", b"\t"):
            return content[j + 2:]
        i = j + 2


def _rec(t, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return t.encode() + b"%d:" % len(payload) + payload + b"\n"


def write(queue_dir, sender, rcpts, content, sender_params="",
          arrival_us=None):
    """A committed queue file msg/QID, as the server writes one (format
    above; queue/queue_spool.c): rcpts are (address, params) pairs.  For
    tests that need an envelope no client can give (DSN parameters on an
    alias's forward); start or flush the server after.  Returns the QID."""
    import hashlib
    import random
    import time as _time
    now = int(_time.time())
    qid = "%08X%06X" % (now, random.getrandbits(24))
    out = _rec("V", "POSTERN-QUEUE 1") + _rec("I", qid)
    out += _rec("T", str(arrival_us or now * 1000000))
    out += _rec("A", "127.0.0.1") + _rec("H", "localhost")
    out += _rec("E", "localhost") + _rec("P", "ESMTP")
    out += _rec("S", sender)
    if sender_params:
        out += _rec("s", sender_params)
    for addr, params in rcpts:
        out += _rec("R", addr)
        if params:
            out += _rec("r", params)
    out += _rec("C", content)
    out += _rec("X", "%d %s" % (len(content),
                                hashlib.sha256(content).hexdigest()))
    for sub in ("msg", "tmp", "corrupt"):
        os.makedirs(os.path.join(queue_dir, sub), mode=0o700, exist_ok=True)
    path = os.path.join(queue_dir, "msg", qid)
    with open(path, "wb") as f:
        f.write(out)
    st = os.stat(os.path.join(queue_dir, "msg"))
    os.chmod(path, 0o600)
    if os.geteuid() == 0:           # the server's user owns the spool
        os.chown(path, st.st_uid, st.st_gid)
    return qid
