"""A scripted SMTP server on loopback, for tests of Postern's outbound
transport: it records what it is sent and answers what the test says.

    with SmtpSink(script={"rcpt": ["451 4.3.0 later", "250 2.1.5 ok"]}) as s:
        ... point Postern's MX (or smtp_client.port) at s.port ...
        s.wait_messages(1)
        s.messages[0].rcpts, .data, .tls, .bdat

A session answers the greeting, EHLO/HELO (the extensions of `ehlo`,
STARTTLS added when `tls=True`), STARTTLS (a self-signed certificate made
with openssl(1)), MAIL, RCPT, DATA, BDAT, RSET, NOOP, QUIT.  `script`
maps a step to a list of replies used in turn (the last one repeats),
counted over all sessions: "greeting", "ehlo", "mail", "rcpt", "data"
(the reply to DATA), "end" (the reply to the end of the message, DATA's
dot or BDAT LAST), "starttls".  A reply is the text to send (CRLF added)
or one of:
    STALL    send nothing, keep the connection (until stop)
    DROP     close the connection
    GARBAGE  a line that is no reply
    LONG     one reply line of 100 KB
A callable gets (session, argument) and returns a reply.  `drop_in_body`:
this many sessions close the connection halfway through the message
body (after `drop_after` bytes of it).  `auth`: {user: password}, and
AUTH PLAIN LOGIN is offered; a session that passed has its user in
session["auth"].

What is kept: .connections (accepted), .max_concurrent (sessions open at
once, at most), .sessions (one dict per session: ehlo name, tls, auth,
commands), .messages (one Message per completed
transaction the sink answered 2xx at its end), .attempts (every
transaction that reached its end, whatever the reply).
"""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

STALL, DROP, GARBAGE, LONG = "STALL", "DROP", "GARBAGE", "LONG"

DEFAULT_EHLO = ("PIPELINING", "SIZE 52428800", "8BITMIME", "SMTPUTF8",
                "CHUNKING", "ENHANCEDSTATUSCODES", "DSN")


class Message:
    def __init__(self, mail, mail_params, rcpts, data, tls, bdat, session):
        self.mail, self.mail_params = mail, mail_params
        self.rcpts = rcpts              # [(addr, params)]
        self.data = data                # bytes, dot-unstuffed
        self.tls, self.bdat, self.session = tls, bdat, session

    @property
    def rcpt_addrs(self):
        return [a for a, _ in self.rcpts]


class _Closed(Exception):
    pass


class _Conn:
    """Line and byte reads over a socket that may become TLS."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise _Closed()
        self.buf += chunk

    def line(self, limit=65536):
        while b"\n" not in self.buf:
            if len(self.buf) > limit:
                raise _Closed()
            self._more()
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r")

    def read(self, n):
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, data):
        self.sock.sendall(data)


def make_cert(directory, cn="mx.remote.test"):
    """A self-signed certificate and key under directory."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=" + cn], check=True,
                   capture_output=True)
    return cert, key


class SmtpSink:
    def __init__(self, script=None, ehlo=DEFAULT_EHLO, tls=False,
                 drop_in_body=0, drop_after=100, name="mx.remote.test",
                 auth=None):
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.used = {}
        self.ehlo_ext = list(ehlo)
        self.tls = tls
        self.drop_in_body = drop_in_body
        self.drop_after = drop_after
        self.name = name
        self.auth = auth
        self.active = 0
        self.max_concurrent = 0
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.connections = 0
        self.sessions = []
        self.messages = []
        self.attempts = []
        self.stopping = False
        self.socks = []
        self.tmp = tempfile.mkdtemp(prefix="smtpsink-")
        self.ctx = None
        if tls:
            cert, key = make_cert(self.tmp, name)
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(cert, key)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            socks = list(self.socks)
            self.cond.notify_all()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- waiting ----

    def wait_messages(self, n, timeout=30):
        deadline = time.time() + timeout
        with self.lock:
            while len(self.messages) < n and time.time() < deadline:
                self.cond.wait(0.1)
            return len(self.messages) >= n

    def wait_attempts(self, n, timeout=30):
        deadline = time.time() + timeout
        with self.lock:
            while len(self.attempts) < n and time.time() < deadline:
                self.cond.wait(0.1)
            return len(self.attempts) >= n

    def wait_connections(self, n, timeout=30):
        deadline = time.time() + timeout
        with self.lock:
            while self.connections < n and time.time() < deadline:
                self.cond.wait(0.1)
            return self.connections >= n

    # ---- the server ----

    def _accept(self):
        self.lsock.settimeout(0.1)      # a closed socket does not wake
        while not self.stopping:        # accept(): poll for stopping
            try:
                sock, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.setblocking(True)
            with self.lock:
                self.connections += 1
                self.socks.append(sock)
                self.cond.notify_all()
            threading.Thread(target=self._serve, args=(sock,),
                             daemon=True).start()

    def _next(self, step, default, sess, arg):
        with self.lock:
            replies = self.script.get(step)
            if not replies:
                r = default
            else:
                i = self.used.get(step, 0)
                self.used[step] = i + 1
                r = replies[min(i, len(replies) - 1)]
        if callable(r):
            r = r(sess, arg)
        return r if r is not None else default

    def _reply(self, c, r):
        """Send reply r; False when the session must end."""
        if r == STALL:
            while not self.stopping:
                time.sleep(0.05)
            return False
        if r == DROP:
            return False
        if r == GARBAGE:
            c.send(b"this is not an SMTP reply\r\n")
            return True
        if r == LONG:
            c.send(b"250 " + b"x" * 100000 + b"\r\n")
            return True
        c.send(r.encode() + b"\r\n")
        return True

    def _serve(self, sock):
        sock.settimeout(60)
        c = _Conn(sock)
        sess = {"ehlo": None, "tls": False, "auth": None, "commands": []}
        with self.lock:
            self.sessions.append(sess)
            self.active += 1
            self.max_concurrent = max(self.max_concurrent, self.active)
        try:
            self._session(c, sess)
        except (_Closed, OSError, ssl.SSLError):
            pass
        finally:
            self._leave(sess)
            try:
                c.sock.close()
            except OSError:
                pass

    def _session(self, c, sess):
        if not self._reply(c, self._next("greeting", "220 %s ESMTP sink"
                                         % self.name, sess, None)):
            return
        mail, rcpts = None, []
        while True:
            line = c.line()
            text = line.decode("utf-8", "replace")
            verb = text.split(" ", 1)[0].upper()
            arg = text[len(verb) + 1:]
            sess["commands"].append(text)
            if verb in ("EHLO", "HELO"):
                sess["ehlo"] = arg
                r = self._next("ehlo", None, sess, arg)
                if r is None:
                    ext = list(self.ehlo_ext)
                    if self.tls and not sess["tls"]:
                        ext.append("STARTTLS")
                    if self.auth:
                        ext.append("AUTH PLAIN LOGIN")
                    if verb == "HELO" or not ext:
                        r = "250 %s" % self.name
                    else:
                        r = "\r\n".join(["250-%s" % self.name] +
                                        ["250-%s" % e for e in ext[:-1]] +
                                        ["250 %s" % ext[-1]])
                if not self._reply(c, r):
                    return
            elif verb == "STARTTLS":
                r = self._next("starttls", "220 2.0.0 go ahead", sess, arg)
                if not self._reply(c, r):
                    return
                if r.startswith("220"):
                    c.sock = self.ctx.wrap_socket(c.sock, server_side=True)
                    c.buf = b""
                    sess["tls"] = True
                    mail, rcpts = None, []
            elif verb == "MAIL":
                addr, params = _path(arg)
                r = self._next("mail", "250 2.1.0 ok", sess, addr)
                if r.startswith("250"):
                    mail, mail_params, rcpts = addr, params, []
                if not self._reply(c, r):
                    return
            elif verb == "RCPT":
                addr, params = _path(arg)
                r = self._next("rcpt", "250 2.1.5 ok", sess, addr)
                if mail is None and r.startswith("250"):
                    r = "503 5.5.1 MAIL first"
                if isinstance(r, str) and r.startswith("250"):
                    rcpts.append((addr, params))
                if not self._reply(c, r):
                    return
            elif verb == "DATA":
                if not rcpts:
                    if not self._reply(c, "554 5.5.1 no valid recipients"):
                        return
                    continue
                r = self._next("data", "354 go ahead", sess, None)
                if not self._reply(c, r):
                    return
                if not r.startswith("354"):
                    continue
                data = self._data_body(c)
                if data is None:
                    return
                if not self._end(c, sess, mail, mail_params, rcpts, data,
                                 False):
                    return
                mail, rcpts = None, []
            elif verb == "BDAT":
                parts = arg.split()
                n = int(parts[0])
                if self._drop_now():
                    c.read(min(n, self.drop_after))
                    return
                data = c.read(n)
                if len(parts) > 1 and parts[1].upper() == "LAST":
                    if not rcpts:
                        if not self._reply(c, "554 5.5.1 no recipients"):
                            return
                        continue
                    if not self._end(c, sess, mail, mail_params, rcpts,
                                     data, True):
                        return
                    mail, rcpts = None, []
                else:
                    # chunks: kept until LAST (not used by Postern)
                    c.send(b"250 2.0.0 chunk ok\r\n")
            elif verb == "AUTH" and self.auth:
                c.send(self._auth(sess, arg).encode() + b"\r\n")
            elif verb == "RSET":
                mail, rcpts = None, []
                c.send(b"250 2.0.0 ok\r\n")
            elif verb == "NOOP":
                c.send(b"250 2.0.0 ok\r\n")
            elif verb == "QUIT":
                self._leave(sess)       # before the client can go on
                c.send(b"221 2.0.0 bye\r\n")
                return
            else:
                c.send(b"502 5.5.2 unknown command\r\n")

    def _leave(self, sess):
        with self.lock:
            if not sess.get("left"):
                sess["left"] = True
                self.active -= 1

    def _auth(self, sess, arg):
        import base64
        mech, _, b64 = arg.partition(" ")
        if mech.upper() != "PLAIN" or not b64:
            return "504 5.5.4 PLAIN with an initial response, please"
        try:
            _, user, password = base64.b64decode(b64).split(b"\0")
        except ValueError:
            return "501 5.5.2 bad PLAIN response"
        if self.auth.get(user.decode()) == password.decode():
            sess["auth"] = user.decode()
            return "235 2.7.0 Authentication successful"
        return "535 5.7.8 Authentication credentials invalid"

    def _drop_now(self):
        with self.lock:
            if self.drop_in_body > 0:
                self.drop_in_body -= 1
                return True
        return False

    def _data_body(self, c):
        if self._drop_now():
            c.read(self.drop_after)
            return None
        lines = []
        while True:
            line = c.line(1 << 20)
            if line == b".":
                break
            if line.startswith(b"."):
                line = line[1:]
            lines.append(line)
        return b"".join(l + b"\r\n" for l in lines)

    def _end(self, c, sess, mail, mail_params, rcpts, data, bdat):
        msg = Message(mail, mail_params, list(rcpts), data, sess["tls"],
                      bdat, sess)
        r = self._next("end", "250 2.0.0 Ok: queued as SINK%d"
                       % len(self.attempts), sess, msg)
        with self.lock:
            self.attempts.append(msg)
            if isinstance(r, str) and r.startswith("2"):
                self.messages.append(msg)
            self.cond.notify_all()
        return self._reply(c, r)


def _path(arg):
    """("addr", "params") of "FROM:<addr> PARAMS" / "TO:<addr> ..."."""
    _, _, rest = arg.partition(":")
    rest = rest.strip()
    if rest.startswith("<"):
        addr, _, params = rest[1:].partition(">")
    else:
        addr, _, params = rest.partition(" ")
    return addr, params.strip()
