"""The postern command: config check/show/sample and the queue commands."""
import os
import signal
import smtplib
import subprocess
import threading
import time

from conftest import BIN, ROOT


def run(*args, check=False):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True,
                          timeout=60, check=check)


def test_config_check_reports_lines(tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text('server = {\n  hostname = "mx.example.com";\n  bogus = 1;\n}\n'
                   'smtp = {\n  max_recipients = "lots";\n  listen = [ "nowhere:25" ];\n}\n')
    r = run("config", "check", str(bad))
    assert r.returncode == 1
    out = r.stdout + r.stderr
    assert f"{bad}:3:" in out and "bogus" in out
    assert f"{bad}:6:" in out
    assert f"{bad}:7:" in out
    good = tmp_path / "good.conf"
    good.write_text('smtp = { local_domains = [ "example.com" ]; };\n')
    r = run("config", "check", str(good))
    assert r.returncode == 0, r.stderr


def test_config_sample_is_the_shipped_file():
    r = run("config", "sample", check=True)
    with open(os.path.join(ROOT, "contrib", "postern.conf")) as f:
        assert r.stdout == f.read()
    # the sample is itself a valid configuration
    r2 = run("config", "check", os.path.join(ROOT, "contrib", "postern.conf"))
    assert r2.returncode == 0, r2.stdout + r2.stderr


def test_config_show_changed(postern):
    r = postern.cli("config", "show", "--changed")
    assert "mx.test.example" in r.stdout
    assert "max_recipients" not in r.stdout


def send(port, n):
    with smtplib.SMTP("127.0.0.1", port) as s:
        for i in range(n):
            s.sendmail("a@example.net", ["u@test.example", "v@example.org"],
                       b"Subject: q%d\r\n\r\nbody %d\r\n" % (i, i))


def test_queue_commands_running_and_stopped(postern):
    send(postern.port, 3)
    ids = postern.queued()
    assert len(ids) == 3
    r = postern.cli("queue", "list")
    for qid in ids:
        assert qid in r.stdout
    assert "a@example.net" in r.stdout and "u@test.example" in r.stdout
    assert "in 3 Requests" in r.stdout
    r = postern.cli("queue", "show", ids[0])
    assert "Subject: q" in r.stdout and "v@example.org" in r.stdout
    r = postern.cli("queue", "delete", ids[0])
    assert r.returncode == 0
    assert ids[0] not in postern.queued()
    r = postern.cli("queue", "show", ids[0], check=False)
    assert r.returncode == 1
    r = postern.cli("queue", "show", "not-an-id", check=False)
    assert r.returncode != 0
    # flush on a running server: it is signalled
    r = postern.cli("queue", "flush")
    assert r.returncode == 0
    deadline = time.time() + 5
    while "queue flush requested" not in postern.log() and time.time() < deadline:
        time.sleep(0.1)
    assert "queue flush requested" in postern.log()
    # and the same commands against a stopped server
    assert postern.stop() == 0
    r = postern.cli("queue", "list")
    assert "in 2 Requests" in r.stdout
    r = postern.cli("queue", "flush")
    assert r.returncode == 0
    r = postern.cli("queue", "delete", ids[1])
    assert r.returncode == 0
    assert len(postern.queued()) == 1
    postern.start()


def test_undeliverable_mail_is_deferred_not_lost(postern):
    """No transport is registered yet: recipients are deferred, kept."""
    send(postern.port, 1)
    deadline = time.time() + 10
    while "status=deferred" not in postern.log() and time.time() < deadline:
        time.sleep(0.1)
    assert "status=deferred" in postern.log()
    assert len(postern.queued()) == 1
    r = postern.cli("queue", "list")
    assert "deferred" in r.stdout or "transport" in r.stdout


def test_syslog_destination(postern_factory, tmp_path):
    """log.dest = syslog: RFC 3164 datagrams tagged postern/<service>[pid]."""
    import socket as so
    path = str(tmp_path / "log.sock")
    os.chmod(tmp_path, 0o755)
    rx = so.socket(so.AF_UNIX, so.SOCK_DGRAM)
    rx.bind(path)
    os.chmod(path, 0o666)       # the server writes as user postern
    rx.settimeout(0.2)
    # drain as a syslogd does: the server never waits for the reader, so
    # a reader that falls behind would send lines to stderr instead
    lines = []
    done = threading.Event()

    def reader():
        while not done.is_set():
            try:
                lines.append(rx.recv(8192).decode())
            except so.timeout:
                pass
    th = threading.Thread(target=reader)
    th.start()
    try:
        p = postern_factory(extra_conf='log = { dest = "syslog"; syslog_socket = "%s"; facility = "local3"; };' % path)
        send(p.port, 1)
        deadline = time.time() + 5
        while time.time() < deadline and not any("from=<a@example.net>" in l for l in lines):
            time.sleep(0.05)
    finally:
        done.set()
        th.join()
    rx.close()
    # local3 = facility 19; info = 6: <158>
    smtpd = [l for l in lines if "postern/smtpd[" in l]
    assert smtpd, lines
    assert all(l.startswith("<15") for l in lines)   # local3: 152 + severity
    assert any(l.startswith("<158>") and "connect from" in l for l in smtpd)
    assert any("from=<a@example.net>, size=" in l for l in smtpd)
    # what syslog received did not also go to stderr (lines after rx is
    # closed fall back to stderr, by design, so only check those before)
    assert "from=<a@example.net>, size=" not in p.log()
