"""
contrib/bench/benchlib.py - helpers for the bench scripts in this
directory: output, ports, waiting for an SMTP greeting, counting files,
and a private Postfix instance (own config_directory, queue_directory and
data_directory in a temp dir, logging to a file through postlogd) that a
script configures with its own main.cf lines and delivery transports.

XXX contrib/bench/delivery uses these; contrib/bench/run predates them
and still has its own copies (same code): moving it onto PostfixInstance
would drop ~150 duplicated lines.

Standard library only; run with /usr/bin/python3.
"""

import os
import pwd
import signal
import socket
import subprocess
import sys
import time

POSTFIX = "/usr/sbin/postfix"
SMTP_SOURCE = "/usr/sbin/smtp-source"


def say(msg=""):
    print(msg, flush=True)


def warn(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def env_int(name, default):
    v = os.environ.get(name, "")
    try:
        return int(v) if v else default
    except ValueError:
        sys.exit(f"bench: {name}={v!r} is not a number")


def env_flag(name):
    return os.environ.get(name, "") not in ("", "0")


def free_port():
    """A loopback port nobody listens on right now (tiny race, fine)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_banner(port, alive, prefix, timeout=60, bye=None):
    """Wait until 127.0.0.1:port sends a greeting starting with prefix
    (then bye, if given); alive() must stay true meanwhile (the server
    has not exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as s:
                s.settimeout(5)
                if s.recv(512).startswith(prefix):
                    if bye is not None:
                        s.sendall(bye)
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def wait_smtp(port, alive, timeout=30):
    """Wait until 127.0.0.1:port sends an SMTP greeting (wait_banner)."""
    return wait_banner(port, alive, b"220", timeout, b"QUIT\r\n")


def count_files(*dirs):
    """Regular files under dirs (recursively); missing dirs count 0."""
    n = 0
    for d in dirs:
        for _, _, files in os.walk(d):
            n += len(files)
    return n


def count_entries(d):
    """Entries of one directory (not recursive): cheap enough to poll."""
    try:
        with os.scandir(d) as it:
            return sum(1 for _ in it)
    except FileNotFoundError:
        return 0


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def fs_type(path):
    r = subprocess.run(["stat", "-f", "-c", "%T", path],
                       capture_output=True, text=True)
    return r.stdout.strip() or "?"


def make_temp(prefix):
    """A temp dir on disk (BENCH_TMPDIR, else TMPDIR, else /var/tmp) that
    the servers' unprivileged users can enter."""
    import tempfile
    base = os.environ.get("BENCH_TMPDIR") or os.environ.get("TMPDIR") \
        or "/var/tmp"
    tmp = tempfile.mkdtemp(prefix=prefix, dir=base)
    os.chmod(tmp, 0o755)
    return tmp


def postfix_version():
    r = subprocess.run(["postconf", "-d", "-h", "mail_version"],
                       capture_output=True, text=True)
    return "Postfix " + (r.stdout.strip() or "?")


# master.cf lines every private instance has; the delivery transports
# (local, virtual, smtp, relay) come from the caller
MASTER_BASE = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixInstance:
    """A private Postfix under base/: start() writes main.cf (common
    settings, then main_extra) and master.cf (smtpd on 127.0.0.1:port, the
    base services, then transports), runs `postfix check` and `postfix
    start`.  Needs root (the master runs as root, its daemons as the
    `postfix` user of the Debian package).  No chroot anywhere."""

    def __init__(self, base, hostname):
        self.base = base
        self.conf = os.path.join(base, "conf")
        self.queue = os.path.join(base, "queue")
        self.data = os.path.join(base, "data")
        self.log = os.path.join(base, "maillog")
        self.hostname = hostname
        self.port = free_port()
        self.started = False

    def pf(self, *args, check=True):
        r = subprocess.run([POSTFIX, "-c", self.conf, *args],
                           capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"postfix {' '.join(args)} failed:\n"
                               f"{r.stdout}{r.stderr}{tail(self.log)}")
        return r

    def start(self, main_extra, transports):
        if os.geteuid() != 0:
            raise RuntimeError("the private Postfix needs root "
                               "(its master runs as root)")
        for d in (self.conf, self.data, self.queue):
            os.makedirs(d, exist_ok=True)
        pw = pwd.getpwnam("postfix")            # mail_owner
        os.chown(self.data, pw.pw_uid, pw.pw_gid)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(f"""# written by contrib/bench: a private instance
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.data}
mail_owner = postfix
setgid_group = postdrop
myhostname = {self.hostname}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
relayhost =
biff = no
# log to a file through postlogd: no syslog daemon needed
maillog_file = {self.log}
maillog_file_prefixes = {self.base}
# nothing may throttle the benchmark
default_process_limit = 100
in_flow_delay = 0s
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_client_new_tls_session_rate_limit = 0
smtpd_peername_lookup = no
{main_extra}
""")
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write("# written by contrib/bench\n"
                    f"127.0.0.1:{self.port} inet n - n - - smtpd\n"
                    + MASTER_BASE + transports)
        self.pf("check")        # creates the queue subdirectories
        self.started = True     # from here on, stop() must run
        self.pf("start")
        if not wait_smtp(self.port, self.alive):
            raise RuntimeError(f"postfix did not answer on port "
                               f"{self.port}; log:\n{tail(self.log)}")

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def alive(self):
        pid = self.master_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False

    def health(self):
        if self.started and not self.alive():
            return f"postfix master is gone; log:\n{tail(self.log)}"
        return None

    def qdir(self, name):
        return os.path.join(self.queue, name)

    def stop(self):
        if not self.started:
            return
        pid = self.master_pid()
        self.pf("stop", check=False)
        # postfix stop returns at once; make sure the master really exits
        deadline = time.monotonic() + 15
        while pid is not None and time.monotonic() < deadline:
            # a master that became our child (a subreaper test process)
            # stays a zombie until reaped: reap it, or kill(0) says alive
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:
                pass
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.1)
        else:
            if pid is not None:
                warn("postfix master did not stop in 15s; killing it")
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        # daemons the master started exit when it does; stragglers
        # (same process group as the master) get SIGKILL
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        self.started = False
