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
