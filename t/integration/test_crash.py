"""Crash test: SIGKILL the server at random moments while clients send.

Every message that got a 250 must be in the queue afterwards, intact
(byte-compared) and exactly once; nothing half-written may remain.
"""
import os
import random
import smtplib
import threading
import time

import spool

CLIENTS = 6
KILLS = 6


def make_body(rnd, n):
    token = "%08x-%d" % (rnd.getrandbits(32), n)
    size = rnd.choice([200, 3000, 3000, 40000, 300000])  # 300k crosses a flush
    line = ("%s " % token) * 10 + "\r\n"
    body = ("Message-ID: <%s@crash.test>\r\nSubject: crash %s\r\n\r\n" % (token, token)
            + line * (size // len(line) + 1))
    return token, body.encode()


def client(port, seed, acked, stop, lock):
    rnd = random.Random(seed)
    n = 0
    while not stop.is_set():
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
                s.ehlo("crash.client")
                while not stop.is_set():
                    n += 1
                    token, body = make_body(rnd, n)
                    s.mail("c%d@example.net" % seed)
                    s.rcpt("u@test.example")
                    code, text = s.data(body)
                    if code == 250:
                        qid = text.split()[-1].decode()
                        with lock:
                            acked.append((qid, token, body))
        except (OSError, smtplib.SMTPException):
            time.sleep(0.02)     # server down: retry


def test_sigkill_loses_nothing(postern_factory):
    # no filter stages: the stored bytes are compared with what was sent,
    # and with a pipeline up to filters.max_scan_size (2M) stays in
    # memory, so 300k would not cross a flush
    postern = postern_factory(stages=[])
    acked, lock, stop = [], threading.Lock(), threading.Event()
    threads = [threading.Thread(target=client,
                                args=(postern.port, i, acked, stop, lock))
               for i in range(CLIENTS)]
    for t in threads:
        t.start()
    rnd = random.Random(1234)
    try:
        for _ in range(KILLS):
            time.sleep(rnd.uniform(0.3, 1.5))
            postern.kill()
            postern.start()
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    # one last crash with nothing in flight, then a clean restart runs
    # recovery over whatever the earlier kills left
    postern.kill()
    postern.start()

    assert len(acked) > 50, "too little traffic to mean anything"
    print("crash test: %d kills, %d messages acknowledged, %d in the queue"
          % (KILLS + 1, len(acked), len(postern.queued())))
    assert os.listdir(os.path.join(postern.queue_dir, "tmp")) == []
    contents, copies = {}, {}
    for qid in postern.queued():
        m = spool.load(postern.queue_dir, qid)     # complete, parseable
        body = spool.body_after_received(m["content"])
        contents[qid] = body
        tok = body.split(b"@crash.test>", 1)[0].split(b"<", 1)[1]
        copies[tok] = copies.get(tok, 0) + 1
    for qid, token, body in acked:
        assert qid in contents, "acknowledged %s lost" % qid
        assert contents[qid] == body, "acknowledged %s damaged" % qid
        n = copies.get(token.encode(), 0)
        assert n == 1, "%s queued %d times" % (token, n)
    corrupt = os.path.join(postern.queue_dir, "corrupt")
    assert not os.path.isdir(corrupt) or os.listdir(corrupt) == []
