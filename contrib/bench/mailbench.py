"""
contrib/bench/mailbench.py - what contrib/bench/imap, imap_idle and jmap
share: a synthetic mail corpus written as a Maildir, a private Postern
serving IMAP (plain and implicit TLS) and JMAP (plain HTTP on loopback)
from it, a private Dovecot serving the same Maildir, a raw-socket IMAP
client, per-process-tree memory and CPU figures, and the summary rows
(median of runs, paired ratio).

The corpus (make_corpus): N messages, deterministic for a seed; sizes
log-uniform between 2 and 50 KiB (median ~10 KiB, mean ~15 KiB, like a
mailbox where most mail is short text and some carries an attachment);
one in four is multipart/mixed with a text part and a base64 attachment
(application/pdf or image/jpeg, random bytes) that makes up most of its
size, the rest text/plain; a tenth answer an earlier message
(In-Reply-To/References, "Re:"), so threads exist; 70% are \\Seen.  A
few (one in 2,000, at least 3) carry the rare word RARE_WORD once in
their text, which nothing else contains: SEARCH TEXT and Email/query
for it have a known answer.  The text is made of pseudo-words from a
syllable table (no 'x' or 'z', so RARE_WORD cannot occur by chance).
The files are written LF-terminated, as Dovecot's LDA writes them,
named "<time>.M<n>P1.bench,S=<bytes>,W=<bytes with CRLF>:2,<flags>"
in cur/ (names sort in message order, and Dovecot, like `postern
import maildir`, gives UIDs in name order).

Clients: LOGIN answered NO [UNAVAILABLE] (Postern refuses a login whose
password check would wait past auth.max_check_wait, 10 s, or beyond
auth.max_checks, 1000, checks queued) is retried after 0.1 s, as a mail
client would.

Both servers read the same bytes: Dovecot serves the Maildir itself,
Postern gets it through `postern import maildir` (its migration path,
the same mailbox contents and flags).  Logins use one SHA512-CRYPT hash
with rounds=1000 on both sides (passwd-file for Dovecot, `postern import
passwd-file` for Postern), so a login costs both the same hashing.

Standard library only; run with /usr/bin/python3.
"""

import base64
import hashlib
import math
import multiprocessing
import os
import pwd
import random
import re
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import time

import benchlib  # noqa: E402
from benchlib import free_port, say, tail, warn

RARE_WORD = "quobbleviqk"
DOMAIN = "bench.test"
PASSWORD = "bench-password"
NOFILE = 200000                 # RLIMIT_NOFILE for servers and clients

SYLLABLES = ("ka ri to me na lo su pe di ba ro mi ne ta fu ho ki le ma "
             "so gu ra ve ni tu po de sa wi ly an en in on ar er or al "
             "el il us ent ion ter ver con pro").split()
FIRST = ["Anna", "Bernd", "Chloe", "David", "Emma", "Farid", "Greta",
         "Hugo", "Ines", "Jonas", "Kira", "Lars", "Mona", "Nils", "Olga",
         "Paul", "Rita", "Sven", "Tara", "Uwe", "Vera", "Wim"]
LAST = ["Meyer", "Schmidt", "Dubois", "Rossi", "Novak", "Jensen",
        "Garcia", "Kowalski", "Smith", "Tanaka", "Silva", "Berg"]


# ---- the corpus -----------------------------------------------------------

class Corpus:
    """What make_corpus wrote: dir (the Maildir), count, sizes (CRLF size
    of message i+1, the value of RFC822.SIZE and Email.size), rare (the
    1-based numbers of the messages holding RARE_WORD), seen."""

    def __init__(self, d):
        self.dir = d
        self.sizes = []
        self.rare = []
        self.seen = 0

    @property
    def count(self):
        return len(self.sizes)

    @property
    def total(self):
        return sum(self.sizes)

    def describe(self):
        s = sorted(self.sizes)
        return (f"{self.count} messages, {self.total / 2**20:.1f} MiB, "
                f"sizes {s[0] / 1024:.1f}-{s[-1] / 1024:.1f} KiB (median "
                f"{s[len(s) // 2] / 1024:.1f} KiB), {len(self.rare)} "
                f"holding {RARE_WORD!r}, {self.seen} \\Seen")


def _words(rng, n):
    return [rng.choice(SYLLABLES) + rng.choice(SYLLABLES) +
            (rng.choice(SYLLABLES) if rng.random() < 0.4 else "")
            for _ in range(n)]


def _paragraphs(rng, vocab, count):
    """A pool of text paragraphs (~300-900 bytes) to build bodies from:
    making every body word by word would take minutes for 20,000."""
    out = []
    weights = [1 / (i + 1) for i in range(len(vocab))]     # Zipf-like
    for _ in range(count):
        lines, line = [], []
        for w in rng.choices(vocab, weights, k=rng.randint(50, 140)):
            line.append(w)
            if sum(len(x) + 1 for x in line) > 68:
                lines.append(" ".join(line))
                line = []
        lines.append(" ".join(line) + ".")
        out.append("\n".join(lines).capitalize())
    return out


def _text(rng, paras, size):
    parts, n = [], 0
    while n < size:
        p = rng.choice(paras)
        parts.append(p)
        n += len(p) + 2
    return "\n\n".join(parts)


def make_corpus(maildir, count, seed=1):
    """Write count messages into maildir/{cur,new,tmp}; a Corpus."""
    rng = random.Random(seed)
    vocab = _words(rng, 4000)
    paras = _paragraphs(rng, vocab, 1500)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    c = Corpus(maildir)
    nrare = max(3, count // 2000)
    rare = set(rng.sample(range(count), min(nrare, count)))
    t0 = 1700000000 - count * 600
    subjects = []
    for i in range(count):
        target = int(2048 * math.exp(rng.random() * math.log(25)))
        sender = (f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                  f"user{rng.randint(1, 400)}@example{rng.randint(1, 40)}"
                  f".org")
        date = t0 + i * 600
        msgid = f"<{i}.{seed}@bench.invalid>"
        subj = " ".join(rng.choices(vocab[:800], k=rng.randint(2, 7)))
        reply = bool(subjects) and rng.random() < 0.1
        if reply:
            j = rng.randrange(len(subjects))
            subj = "Re: " + subjects[j][1]
            refs = f"<{subjects[j][0]}.{seed}@bench.invalid>"
        subjects.append((i, subj))
        hdr = [f"Return-Path: <{sender[1]}>",
               f"Received: from mx.example.org (mx.example.org "
               f"[192.0.2.{i % 250 + 1}])\n\tby mx.bench.test with ESMTPS"
               f" id B{i:08d}\n\tfor <u1@{DOMAIN}>; "
               f"{time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(date))}",
               f"From: {sender[0]} <{sender[1]}>",
               f"To: Bench User <u1@{DOMAIN}>",
               f"Subject: {subj}",
               f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(date))}",
               f"Message-ID: {msgid}", "MIME-Version: 1.0"]
        if reply:
            hdr += [f"In-Reply-To: {refs}", f"References: {refs}"]
        head_len = sum(len(h) + 1 for h in hdr) + 200
        multipart = rng.random() < 0.25 and target > 6000
        text_size = (rng.randint(400, 2500) if multipart
                     else max(200, target - head_len))
        text = _text(rng, paras, text_size)
        if i in rare:
            cut = text.find(" ", len(text) // 2)
            text = text[:cut] + " " + RARE_WORD + text[cut:]
        if multipart:
            b = f"=_bench_{i}_{seed}"
            kind, ext = rng.choice([("application/pdf", "pdf"),
                                    ("image/jpeg", "jpg")])
            raw = rng.randbytes(max(100, (target - head_len - len(text))
                                    * 3 // 4))
            att = base64.encodebytes(raw).decode()
            hdr.append(f'Content-Type: multipart/mixed; boundary="{b}"')
            body = (f"This is a multi-part message in MIME format.\n\n"
                    f"--{b}\nContent-Type: text/plain; charset=utf-8\n"
                    f"Content-Transfer-Encoding: 8bit\n\n{text}\n\n"
                    f"--{b}\nContent-Type: {kind}; name=\"file{i}.{ext}\""
                    f"\nContent-Disposition: attachment; filename="
                    f"\"file{i}.{ext}\"\nContent-Transfer-Encoding: "
                    f"base64\n\n{att}\n--{b}--\n")
        else:
            hdr += ["Content-Type: text/plain; charset=utf-8",
                    "Content-Transfer-Encoding: 8bit"]
            body = text + "\n"
        data = ("\n".join(hdr) + "\n\n" + body).encode()
        crlf = len(data) + data.count(b"\n")
        seen = rng.random() < 0.7
        c.seen += seen
        name = (f"{date}.M{i}P1.bench,S={len(data)},W={crlf}:2,"
                f"{'S' if seen else ''}")
        with open(os.path.join(maildir, "cur", name), "wb") as f:
            f.write(data)
        os.utime(os.path.join(maildir, "cur", name), (date, date))
        c.sizes.append(crlf)
        if i in rare:
            c.rare.append(i + 1)
    return c


def copy_maildir(src, dst):
    """A copy of a Maildir for another account (hard links: the servers
    only read the files; Dovecot renames, never rewrites them)."""
    shutil.copytree(src, dst, copy_function=os.link)


def sha512_crypt(password, rounds=1000):
    """{SHA512-CRYPT} hash: crypt(3) through the crypt module (deprecated
    in 3.11, still there) or `openssl passwd -6` (rounds 5000)."""
    salt = hashlib.sha256(password.encode()).hexdigest()[:16]
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import crypt
        h = crypt.crypt(password, f"$6$rounds={rounds}${salt}$")
        if h and h.startswith("$6$"):
            return h
    except ImportError:
        pass
    r = subprocess.run(["openssl", "passwd", "-6", "-salt", salt,
                        password], capture_output=True, text=True,
                       check=True)
    return r.stdout.strip()


def raise_nofile(n=NOFILE):
    """Raise RLIMIT_NOFILE (as root the hard limit too); the limit set."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, n)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        want = hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return want


def ensure_user(name):
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell",
                        "/usr/sbin/nologin", name], check=True)


# ---- process figures ------------------------------------------------------

def proc_tree(root):
    """root and all its descendants (pids)."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def mem_kib(pids):
    """Memory of pids in KiB, summed: {"rss", "pss", "anon"}.  RSS
    counts each process's shared pages (libraries) again; PSS splits
    them between the processes that map them, so it moves when other
    processes on the machine start or exit; anon is the PSS of anonymous
    and shared memory only (heap, stacks: what grows per connection),
    without file pages."""
    out = {"rss": 0, "pss": 0, "anon": 0}
    keys = {"Rss:": "rss", "Pss:": "pss", "Pss_Anon:": "anon",
            "Pss_Shmem:": "anon"}
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for ln in f:
                    k = keys.get(ln.split(None, 1)[0])
                    if k:
                        out[k] += int(ln.split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return out


def cpu_seconds(pids):
    """user+system CPU seconds of pids and of the children they have
    reaped (Dovecot's master reaps an imap process at logout: its time
    moves into the master's cutime/cstime, so a difference of two calls
    still counts it)."""
    tick = os.sysconf("SC_CLK_TCK")
    t = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
            fl = st[st.rindex(")") + 2:].split()
            t += int(fl[11]) + int(fl[12]) + int(fl[13]) + int(fl[14])
        except (OSError, ValueError, IndexError):
            pass
    return t / tick


def comm_counts(pids):
    """{process name: count} of pids, to say what a tree holds."""
    out = {}
    for p in pids:
        try:
            with open(f"/proc/{p}/comm") as f:
                n = f.read().strip()
        except OSError:
            continue
        out[n] = out.get(n, 0) + 1
    return out


# ---- a raw IMAP client ----------------------------------------------------

LITERAL_RE = re.compile(rb"\{(\d+)\+?\}$")


class ImapError(Exception):
    pass


def tls_client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Imap:
    """One IMAP connection over a plain socket (optionally TLS).  Reads
    whole responses, literals included, from one bytearray: imaplib's
    line-by-line reading would make the Python client the bottleneck on
    20,000-message FETCHes.  cmd() returns (tagged status line, untagged
    responses (each with its literals' bytes left out unless keep=True),
    literal bytes seen)."""

    def __init__(self, port, host="127.0.0.1", src=None, tls=False,
                 timeout=120, ctx=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        if src:
            s.bind((src, 0))
        s.connect((host, port))
        if tls:
            s = (ctx or tls_client_context()).wrap_socket(s)
        self.sock = s
        self.buf = bytearray()
        self.pos = 0
        self.n = 0
        self.greeting = self._line()[0]
        if not self.greeting.startswith(b"* OK"):
            raise ImapError(f"greeting {self.greeting[:200]!r}")

    def _fill(self):
        if self.pos > 1 << 20:
            del self.buf[:self.pos]
            self.pos = 0
        d = self.sock.recv(1 << 18)
        if not d:
            raise ImapError("connection closed by the server")
        self.buf += d

    def _line(self, keep=False):
        """One response: (text without literals' contents, literal
        bytes); with keep, literal contents stay in the text."""
        parts, lit = [], 0
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            while i < 0:
                self._fill()
                i = self.buf.find(b"\r\n", self.pos)
            seg = bytes(self.buf[self.pos:i])
            self.pos = i + 2
            parts.append(seg)
            m = LITERAL_RE.search(seg[-16:]) if seg.endswith(b"}") else None
            if m is None:
                return b"".join(parts), lit
            n = int(m.group(1))
            while len(self.buf) - self.pos < n:
                self._fill()
            if keep:
                parts.append(bytes(self.buf[self.pos:self.pos + n]))
            self.pos += n
            lit += n

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, text, keep=False, ok=True):
        self.n += 1
        tag = b"a%d" % self.n
        self.send(tag + b" " + text.encode() + b"\r\n")
        untagged, lit = [], 0
        while True:
            line, n = self._line(keep)
            lit += n
            if line.startswith(tag + b" "):
                if ok and not line.startswith(tag + b" OK"):
                    raise ImapError(f"{text[:60]!r}: {line[:300]!r}")
                return line, untagged, lit
            untagged.append(line)

    def login(self, user, password, tries=100):
        """LOGIN; a NO [UNAVAILABLE] (Postern: password checks under way
        past auth.max_check_wait or max_checks) is tried again after
        0.1 s, as a client would, up to tries times; self.retries counts
        them."""
        self.retries = 0
        while True:
            line, untagged, lit = self.cmd(f'LOGIN "{user}" "{password}"',
                                           ok=False)
            if b" OK" in line[:12]:
                return line, untagged, lit
            if b"[UNAVAILABLE]" not in line or self.retries >= tries:
                raise ImapError(f"LOGIN: {line[:300]!r}")
            self.retries += 1
            time.sleep(0.1)

    def idle(self):
        self.n += 1
        self.idle_tag = b"a%d" % self.n
        self.send(self.idle_tag + b" IDLE\r\n")
        while True:
            line, _ = self._line()
            if line.startswith(b"+"):
                return
            if line.startswith(self.idle_tag):
                raise ImapError(f"IDLE: {line[:200]!r}")

    def done(self):
        self.send(b"DONE\r\n")
        while True:
            line, _ = self._line()
            if line.startswith(self.idle_tag):
                return line

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def search_numbers(untagged):
    """The numbers of the "* SEARCH" responses."""
    out = []
    for u in untagged:
        if u.startswith(b"* SEARCH"):
            out += [int(x) for x in u[8:].split()]
    return sorted(out)


def fetch_count(untagged):
    return sum(1 for u in untagged if b" FETCH " in u[:24])


# ---- servers --------------------------------------------------------------

def wait_banner(port, alive, prefix=b"* OK", timeout=60):
    """An IMAP greeting on port (benchlib.wait_banner)."""
    return benchlib.wait_banner(port, alive, prefix, timeout)


def _preexec_nofile():
    raise_nofile()
    os.setsid()


class Postern:
    """A private `postern serve`: IMAP on imap_port (plain, LOGIN
    allowed on loopback through auth.plaintext_loopback) and on
    imaps_port (implicit TLS, the self-signed certificate), JMAP on
    http_port (plain HTTP, Basic auth on loopback); no SMTP client
    traffic (smtp listens on a loopback port nobody uses), no filters.
    imap_extra and jmap_extra go into the imap and jmap groups (limits),
    conf_extra at the end of the file (a log group replaces the
    warning-level one)."""

    name = "postern"

    def __init__(self, tmp, build, imap_extra="", conf_extra="",
                 jmap_extra=""):
        self.bin = os.path.join(build, "postern")
        self.dir = os.path.join(tmp, "postern")
        self.data = os.path.join(self.dir, "var")
        self.conf = os.path.join(self.dir, "postern.conf")
        self.log = os.path.join(self.dir, "postern.log")
        self.smtp_port = free_port()
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.http_port = free_port()
        self.imap_extra = imap_extra
        self.jmap_extra = jmap_extra
        self.conf_extra = conf_extra
        self.proc = None
        self.logf = None
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)

    def describe(self):
        return (f"postern  {self.bin}: IMAP 127.0.0.1:{self.imap_port} "
                f"(TLS {self.imaps_port}), JMAP http://127.0.0.1:"
                f"{self.http_port}, store sqlite (default), log {self.log}")

    def cli(self, *args, stdin=None, timeout=3600):
        return subprocess.run([self.bin, "-c", self.conf, *args],
                              input=stdin, capture_output=True, text=True,
                              timeout=timeout)

    def write_conf(self):
        user = "postern"
        if os.geteuid() == 0:
            ensure_user(user)
        with open(self.conf, "w") as f:
            f.write(f"""# written by contrib/bench (mailbench.py)
server = {{
  data_dir = "{self.data}";
  hostname = "mx.postern.bench.invalid";
  user = "{user}";
}};
{self.log_conf()}
smtp = {{
  listen = [ "127.0.0.1:{self.smtp_port}" ];
  local_domains = [ "{DOMAIN}" ];
}};
submission = {{ listen = []; listen_tls = []; }};
imap = {{
  listen = [ "127.0.0.1:{self.imap_port}" ];
  listen_tls = [ "127.0.0.1:{self.imaps_port}" ];
  {self.imap_extra}
}};
jmap = {{
  listen = [ "127.0.0.1:{self.http_port}" ];
  listen_tls = [];
  {self.jmap_extra}
}};
auth = {{ plaintext_loopback = true; }};
filters = {{ stages = [ ]; }};
{self.conf_extra}
""")

    def log_conf(self):
        if "log =" in self.conf_extra:
            return ""
        return 'log = { level = "warning"; };'

    def add_users(self, users):
        """Accounts users (addresses) with PASSWORD, through `postern
        import passwd-file` (a SHA512-CRYPT hash, as Dovecot's)."""
        h = sha512_crypt(PASSWORD)
        pf = os.path.join(self.dir, "passwd")
        with open(pf, "w") as f:
            for u in users:
                f.write(f"{u}:{{SHA512-CRYPT}}{h}::::::\n")
        os.chmod(pf, 0o644)
        r = self.cli("import", "passwd-file", pf)
        if r.returncode != 0:
            raise RuntimeError(f"postern import passwd-file: "
                               f"{r.stdout}{r.stderr}"[-2000:])

    def import_maildir(self, user, maildir):
        """`postern import maildir`; under eatmydata(1) when installed
        (BENCH_LOAD_FSYNC=1: not), as loading is not what is measured
        and the import fsyncs every message (~150 msg/s with, ~200
        without, on a busy 2-core machine)."""
        pre = []
        if shutil.which("eatmydata") and \
                os.environ.get("BENCH_LOAD_FSYNC", "") in ("", "0"):
            pre = ["eatmydata"]
        r = subprocess.run(pre + [self.bin, "-c", self.conf, "import",
                                  "maildir", user, maildir],
                           capture_output=True, text=True, timeout=7200)
        if r.returncode != 0:
            raise RuntimeError(f"postern import maildir {user}: exit "
                               f"{r.returncode}: {r.stdout}{r.stderr}"
                               [-2000:])
        return r.stdout

    def start(self):
        if not os.access(self.bin, os.X_OK):
            raise RuntimeError(f"{self.bin} not found (run make)")
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen([self.bin, "-c", self.conf, "serve"],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf,
                                     preexec_fn=_preexec_nofile)
        if not wait_banner(self.imap_port, self.alive):
            raise RuntimeError(f"postern did not answer on IMAP port "
                               f"{self.imap_port}; log:\n{tail(self.log)}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def health(self):
        if self.proc is not None and self.proc.poll() is not None:
            return (f"postern exited with status {self.proc.returncode};"
                    f" log:\n{tail(self.log)}")
        return None

    def pids(self):
        return [self.proc.pid] if self.alive() else []

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                warn("postern did not stop in 60s; killing it")
                self.proc.kill()
                self.proc.wait()
        if self.logf is not None:
            self.logf.close()
            self.logf = None

    def log_problems(self):
        """Lines in the (warning-level) log: worth a look."""
        try:
            with open(self.log, errors="replace") as f:
                lines = f.readlines()
        except OSError:
            return None
        if not lines:
            return None
        return f"{len(lines)} lines in {self.log}, the last: " \
            f"{lines[-1].strip()[:300]}"


DOVECOT = "/usr/sbin/dovecot"
XAPIAN_PLUGIN = "/usr/lib/dovecot/modules/lib21_fts_xapian_plugin.so"


def dovecot_version():
    r = subprocess.run([DOVECOT, "--version"], capture_output=True,
                       text=True)
    return "Dovecot " + (r.stdout.strip() or "?")


class Dovecot:
    """A private Dovecot (needs root: its master starts the login
    processes as dovenull and the mail processes as the mail user):
    base_dir, state, log and mail in the temp dir, IMAP on 127.0.0.1
    (plain, and implicit TLS on imaps_port with tls=(cert, key)), users
    from a passwd-file with the same SHA512-CRYPT hash as Postern's,
    mail as the user `nobody`, mail_location maildir:<mail>/<user>
    (INBOX at the Maildir's root).  FTS through fts-xapian when the
    plugin is installed (fts_autoindex, so a delivery, or here the
    warm-up, builds the index).  extra: more config lines (limits)."""

    name = "dovecot"

    def __init__(self, tmp, extra="", tls=None, fts=False,
                 xapian="partial=3 full=20"):
        self.dir = os.path.join(tmp, "dovecot")
        self.mail = os.path.join(self.dir, "mail")
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.log = os.path.join(self.dir, "dovecot.log")
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.extra = extra
        self.tls = tls
        self.fts = fts
        self.xapian = xapian
        if fts and not os.path.exists(XAPIAN_PLUGIN):
            raise RuntimeError(f"{XAPIAN_PLUGIN} missing (Debian package "
                               "dovecot-fts-xapian; contrib/install-deps)")
        self.proc = None
        os.makedirs(self.mail)
        os.chmod(self.dir, 0o755)

    def describe(self):
        fts = (f"fts-xapian ({self.xapian}, fts_autoindex)" if self.fts
               else "no FTS plugin: SEARCH TEXT reads every message")
        return (f"dovecot  {dovecot_version()}: IMAP 127.0.0.1:"
                f"{self.imap_port}" +
                (f" (TLS {self.imaps_port})" if self.tls else "") +
                f", Maildir under {self.mail}, {fts}, log {self.log}")

    def maildir(self, user):
        return os.path.join(self.mail, user)

    def chown_mail(self):
        nobody = pwd.getpwnam("nobody")
        for root, dirs, files in os.walk(self.mail):
            os.chown(root, nobody.pw_uid, nobody.pw_gid)
            for f in files:
                os.chown(os.path.join(root, f), nobody.pw_uid,
                         nobody.pw_gid)

    def write_conf(self, users):
        if not os.access(DOVECOT, os.X_OK):
            raise RuntimeError(f"{DOVECOT} missing (Debian package "
                               "dovecot-imapd; contrib/install-deps)")
        if os.geteuid() != 0:
            raise RuntimeError("the private Dovecot needs root")
        nobody = pwd.getpwnam("nobody")
        h = sha512_crypt(PASSWORD)
        pf = os.path.join(self.dir, "passwd")
        with open(pf, "w") as f:
            for u in users:
                f.write(f"{u}:{{SHA512-CRYPT}}{h}:{nobody.pw_uid}:"
                        f"{nobody.pw_gid}::{self.maildir(u)}::\n")
        tls = "ssl = no\n"
        if self.tls:
            tls = (f"ssl = yes\nssl_cert = <{self.tls[0]}\n"
                   f"ssl_key = <{self.tls[1]}\n"
                   f"ssl_min_protocol = TLSv1.2\n")
        fts = ""
        if self.fts:
            fts = """mail_plugins = $mail_plugins fts fts_xapian
plugin {
  fts = xapian
  fts_xapian = {XP} verbose=0
  fts_autoindex = yes
  fts_enforced = yes
}
""".replace("{XP}", self.xapian)
        with open(self.conf, "w") as f:
            f.write(f"""# written by contrib/bench (mailbench.py)
base_dir = {self.dir}/run
state_dir = {self.dir}/state
instance_name = dovecot-bench-{self.imap_port}
log_path = {self.log}
info_log_path = {self.log}
protocols = imap
listen = 127.0.0.1
{tls}disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {pf}
}}
userdb {{
  driver = passwd-file
  args = {pf}
}}
mail_location = maildir:~
first_valid_uid = 1
mail_fsync = optimized
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port if self.tls else 0}
    ssl = yes
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100000
}}
{fts}{self.extra}
""")
        os.makedirs(os.path.join(self.dir, "run"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "state"), exist_ok=True)

    def doveadm(self, *args, timeout=3600):
        return subprocess.run(["doveadm", "-c", self.conf, *args],
                              capture_output=True, text=True,
                              timeout=timeout)

    def start(self):
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.log + ".stderr", "w"),
                                     preexec_fn=_preexec_nofile)
        if not wait_banner(self.imap_port, self.alive):
            raise RuntimeError(f"dovecot did not answer on port "
                               f"{self.imap_port}; log:\n{tail(self.log)}"
                               f"{tail(self.log + '.stderr')}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def health(self):
        if self.proc is not None and self.proc.poll() is not None:
            return (f"dovecot exited with status {self.proc.returncode};"
                    f" log:\n{tail(self.log)}")
        return None

    def pids(self):
        return proc_tree(self.proc.pid) if self.alive() else []

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                warn("dovecot did not stop in 60s; killing it")
                self.proc.kill()
                self.proc.wait()
            # children (login, imap) exit with the master; stragglers
            try:
                os.killpg(self.proc.pid, 9)
            except OSError:
                pass

    def log_problems(self):
        try:
            with open(self.log, errors="replace") as f:
                bad = [ln for ln in f if " Error: " in ln or
                       " Fatal: " in ln or " Panic: " in ln]
        except OSError:
            return None
        if not bad:
            return None
        return f"{len(bad)} error lines in {self.log}, the last: " \
            f"{bad[-1].strip()[:300]}"


# ---- parallel clients -----------------------------------------------------

def run_parallel(fn, args_list, timeout=3600):
    """Run fn(*args) in one forked process each, all released at once;
    returns (wall seconds from the release to the last finish, [result of
    each], client CPU seconds in all).  fn returns a picklable value; an
    exception in a worker is raised here as RuntimeError."""
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    go = ctx.Event()

    def worker(i, args):
        try:
            go.wait()
            r = fn(*args)
            t = time.monotonic()
            c = os.times()
            q.put((i, True, r, t, c.user + c.system))
        except BaseException as e:             # noqa: report everything
            q.put((i, False, f"{type(e).__name__}: {e}", time.monotonic(),
                   0.0))

    procs = [ctx.Process(target=worker, args=(i, a), daemon=True)
             for i, a in enumerate(args_list)]
    for p in procs:
        p.start()
    time.sleep(0.2)         # let them reach go.wait()
    t0 = time.monotonic()
    go.set()
    results = [None] * len(procs)
    end, cpu, errors = t0, 0.0, []
    deadline = t0 + timeout
    for _ in procs:
        left = deadline - time.monotonic()
        try:
            i, ok, r, t, c = q.get(timeout=max(1, left))
        except Exception:
            errors.append(f"a worker did not finish in {timeout}s")
            break
        end = max(end, t)
        cpu += c
        if ok:
            results[i] = r
        else:
            errors.append(r)
    for p in procs:
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join()
    if errors:
        raise RuntimeError("; ".join(errors[:3]))
    return end - t0, results, cpu


# ---- summaries ------------------------------------------------------------

def median(xs):
    return statistics.median(xs) if xs else None


def paired(a, b):
    """Median, min and max of a[i] / b[i] (runs taken side by side)."""
    r = [x / y for x, y in zip(a, b) if x and y]
    if not r:
        return ""
    return f"{statistics.median(r):.2f}x ({min(r):.2f}-{max(r):.2f})"


def fmt(x, unit=""):
    if x is None:
        return "n/a"
    if x >= 100:
        return f"{x:.0f}{unit}"
    if x >= 10:
        return f"{x:.1f}{unit}"
    return f"{x:.2f}{unit}"


def row(label, values, unit, higher_better=True, note=""):
    """One summary row: label, each server's median, the ratio of the
    first server to the second (paired), which way is better."""
    names = list(values)
    cells = [f"{n} {fmt(median(values[n]), unit):>9}" for n in names]
    ratio = ""
    if len(names) == 2:
        ratio = paired(values[names[0]], values[names[1]])
        ratio = f"{names[0]}/{names[1]} {ratio}" if ratio else ""
    better = "higher is better" if higher_better else "lower is better"
    say(f"  {label:38} " + "  ".join(cells) + f"  {ratio}  ({better})"
        + (f"  {note}" if note else ""))
