"""Smoke test of the DNS fixture itself (dnsfix.py): the records given are
served, unknown names are NXDOMAIN, other types NODATA, servfail.test is a
real SERVFAIL, timeout.test and the black hole never answer, a restart
serves new records on the same port, big answers come over TCP and the
processes dnsmasq forks for TCP are gone after a stop."""
import os
import socket
import time

from dnsfix import DnsFix, SERVFAIL_ZONE, TIMEOUT_ZONE, query, dns_server  # noqa: F401

NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3


def test_records_and_failures():
    with DnsFix('txt-record=a.test,"v=spf1 ","-all"\n'
                "host-record=h.test,192.0.2.1,2001:db8::1\n"
                "mx-host=m.test,h.test,10\n"
                "ptr-record=1.2.0.192.in-addr.arpa,h.test\n"
                "dns-rr=null.test,15,000000\n") as d:
        assert d.forwarder == "127.0.0.1@%d" % d.port
        assert d.query("a.test", "TXT") == (NOERROR, [b"\x07v=spf1 \x04-all"])
        assert d.query("h.test", "A") == (NOERROR, [bytes([192, 0, 2, 1])])
        rcode, aaaa = d.query("h.test", "AAAA")
        assert rcode == NOERROR and aaaa[0][:4] == b"\x20\x01\x0d\xb8"
        rcode, mx = d.query("m.test", "MX")
        assert rcode == NOERROR and mx[0][:2] == b"\0\x0a"
        assert d.query("null.test", "MX") == (NOERROR, [b"\0\0\0"])
        rcode, ptr = d.query("1.2.0.192.in-addr.arpa", "PTR")
        assert rcode == NOERROR and len(ptr) == 1
        assert d.query("nx.test", "A") == (NXDOMAIN, [])
        assert d.query("h.test", "TXT") == (NOERROR, [])      # NODATA
        assert d.query("x." + SERVFAIL_ZONE, "A") == (SERVFAIL, [])
        t0 = time.monotonic()
        assert d.query("x." + TIMEOUT_ZONE, "A", timeout=0.3) == (None, [])
        assert time.monotonic() - t0 >= 0.3
        assert query(d.blackhole_port, "a.test", "TXT", 0.2) == (None, [])
        port = d.port
        d.restart('txt-record=a.test,"new"\n')
        assert d.port == port
        assert d.query("a.test", "TXT") == (NOERROR, [b"\x03new"])
        assert d.query("h.test", "A") == (NXDOMAIN, [])


def test_fixture(dns_server):
    assert dns_server.query("anything.test", "A") == (NXDOMAIN, [])
    dns_server.restart("host-record=x.test,192.0.2.9\n")
    assert dns_server.query("x.test", "A") == (NOERROR, [bytes([192, 0, 2, 9])])


def _dnsmasq_pids(conf_dir):
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    if conf_dir.encode() in f.read():
                        pids.append(int(p))
            except OSError:
                pass
    return pids


def test_tcp_and_stop():
    d = DnsFix("".join('txt-record=big.test,"%s"\n' % (chr(97 + i) * 900)
                       for i in range(3))).start()
    conf_dir = d.dir
    pids = []
    try:
        rcode, txt = d.query("big.test", "TXT")
        assert rcode == NOERROR and txt == []       # truncated over UDP
        # a connection kept open, as a resolver does: dnsmasq forks for it
        s = socket.create_connection(("127.0.0.1", d.port))
        rcode, txt = d.query("big.test", "TXT", tcp=True)
        assert rcode == NOERROR and len(txt) == 3
        assert b"".join(t[1:256] for t in txt).count(b"a") == 255
        pids = _dnsmasq_pids(conf_dir)
        assert len(pids) >= 2
    finally:
        d.stop()
        s.close()
    # gone, not even zombies (a zombie keeps /proc/PID)
    assert [p for p in pids if os.path.exists("/proc/%d" % p)] == []
