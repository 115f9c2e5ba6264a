"""`postern dkim keygen|show|sign`: keys made for RSA and Ed25519 where
the signer finds them (mode 0600, the server's user), the TXT record
printed (one zone-file line, strings of at most 255 bytes, k=, p= the
SubjectPublicKeyInfo for RSA and the raw 32-byte key for Ed25519, both
matching the private key), --selector, --bits, --force and the usage
errors; then messages signed by `postern dkim sign` and verified by
python3-dkim, an implementation independent of libopendkim, with the
printed records served by a DNS stub (its dnsfunc): both signatures of
a dual-signed message pass (the RSA one made by libopendkim, the Ed25519
one by our own signer: the same bh= and h=), h= lists From twice, a
changed header, a changed body, an added From or a record with another
key fails, a message with two From fields is not signed, and a key
readable by others is refused."""
import base64
import datetime
import os
import pwd
import re
import stat
import subprocess

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

import conftest

RECORD_RE = re.compile(
    r'^([A-Za-z0-9._-]+)\._domainkey\.([a-z0-9.-]+)\. IN TXT((?: "[^"]*")+)\n$')

MESSAGE = (b"From: Alice <alice@example.org>\n"
           b"To: Bob <bob@example.net>\n"
           b"Subject: signed by postern\n"
           b"Date: Mon, 30 Nov 2026 00:00:00 +0000\n"
           b"Message-ID: <dkim-1@example.org>\n"
           b"\n"
           b"Hello Bob,\n"
           b"\n"
           b"this message is signed twice.\n")


@pytest.fixture
def pc():
    # no LeakSanitizer suppression: Ed25519 signatures are not made by
    # libopendkim (whose 2.11 leaks the key of each), see
    # mta/dkim_sign_ed25519.c
    c = conftest.CLI(prefix="postern-dkim-")
    yield c
    c.cleanup()


def parse_record(line):
    """(selector, domain, strings, tags) of a record line"""
    m = RECORD_RE.match(line)
    assert m, repr(line)
    strings = re.findall(r'"([^"]*)"', m.group(3))
    for s in strings:
        assert 0 < len(s) <= 255
    value = "".join(strings)
    tags = dict(t.strip().split("=", 1) for t in value.split(";"))
    assert value.startswith("v=DKIM1; ")
    return m.group(1), m.group(2), strings, tags


def key_path(pc, domain, selector):
    return pc.tmp / "var" / "dkim" / domain / (selector + ".key")


def keygen(pc, *args, check=0):
    r = pc("dkim", "keygen", *args, check=check)
    return r


def test_keygen_rsa(pc):
    r = keygen(pc, "Example.ORG")
    month = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m")
    sel, dom, strings, tags = parse_record(r.stdout)
    assert (sel, dom) == (month + "-rsa", "example.org")
    assert "wrote" in r.stderr and "2048 bits" in r.stderr
    assert len(strings) == 2            # ~410 characters: two strings
    assert tags["k"] == "rsa"
    pub = serialization.load_der_public_key(base64.b64decode(tags["p"]))
    assert isinstance(pub, rsa.RSAPublicKey) and pub.key_size == 2048
    path = key_path(pc, "example.org", sel)
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    if os.geteuid() == 0:               # written as the server's user
        assert st.st_uid == pwd.getpwnam("postern").pw_uid
    priv = serialization.load_pem_private_key(path.read_bytes(), None)
    assert priv.public_key().public_numbers() == pub.public_numbers()
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    # 3072 bits and a selector of our own: three strings
    r = keygen(pc, "example.org", "--selector", "big", "--bits", "3072")
    sel, _, strings, tags = parse_record(r.stdout)
    assert sel == "big" and len(strings) == 3
    pub = serialization.load_der_public_key(base64.b64decode(tags["p"]))
    assert pub.key_size == 3072


def test_keygen_ed25519(pc):
    r = keygen(pc, "example.org.", "--algo", "ed25519")
    month = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m")
    sel, dom, strings, tags = parse_record(r.stdout)
    assert (sel, dom) == (month + "-ed25519", "example.org")
    assert len(strings) == 1 and tags["k"] == "ed25519"
    raw = base64.b64decode(tags["p"])
    assert len(raw) == 32               # RFC 8463: the raw key, no SPKI
    path = key_path(pc, "example.org", sel)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    priv = serialization.load_pem_private_key(path.read_bytes(), None)
    assert isinstance(priv, ed25519.Ed25519PrivateKey)
    assert priv.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw


def test_keygen_force_and_errors(pc):
    r1 = keygen(pc, "example.org", "--selector", "s1", "--algo", "ed25519")
    path = key_path(pc, "example.org", "s1")
    before = path.read_bytes()
    r = keygen(pc, "example.org", "--selector", "s1", "--algo", "ed25519",
               check=1)
    assert "exists" in r.stderr and "--force" in r.stderr and r.stdout == ""
    assert path.read_bytes() == before
    r2 = keygen(pc, "example.org", "--selector", "s1", "--algo", "ed25519",
                "--force")
    assert path.read_bytes() != before and r2.stdout != r1.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if ".tmp" in p.name]
    for args, rc, text in (
            (("not_a_domain",), 1, "not a domain name"),
            (("example.org", "--selector", "bad sel"), 1, "not a selector"),
            (("example.org", "--bits", "512"), 1, "--bits"),
            (("example.org", "--bits", "8192"), 1, "--bits"),
            (("example.org", "--algo", "dsa"), 2, "usage"),
            (("example.org", "--algo", "ed25519", "--bits", "2048"), 2,
             "usage"),
            (("example.org", "--bits"), 2, "usage"),
            ((), 2, "usage")):
        r = keygen(pc, *args, check=rc)
        assert text in r.stderr, (args, r.stderr)
        assert r.stdout == ""
    r = pc("dkim", "frobnicate", check=2)


def signed_pair(pc):
    """keys of both kinds for example.org: {dns name: record value}"""
    recs = {}
    for algo in ("rsa", "ed25519"):
        r = keygen(pc, "example.org", "--algo", algo)
        sel, dom, strings, _ = parse_record(r.stdout)
        recs["%s._domainkey.%s." % (sel, dom)] = "".join(strings)
    return recs


def dnsfunc(recs):
    def get_txt(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        v = recs.get(name.rstrip(".") + ".")
        return v.encode() if v is not None else None
    return get_txt


def sigs_of(msg):
    return [m.group(0) for m in re.finditer(
        rb"^DKIM-Signature:.*\r\n(?:[ \t].*\r\n)*", msg, re.M)]


def tag(sig, name):
    m = re.search(rb"[;\s]" + name + rb"=([^;]*)", sig)
    return re.sub(rb"\s+", b"", m.group(1)) if m else None


def verify_all(msg, recs):
    """python3-dkim's verdict on each signature, in order"""
    def one(i):
        try:
            return dkim.DKIM(msg).verify(idx=i, dnsfunc=dnsfunc(recs))
        except dkim.DKIMException:      # what dkim.verify() makes False
            return False
    return [one(i) for i in range(len(sigs_of(msg)))]


def test_show_prints_the_records(pc):
    recs = signed_pair(pc)
    r = pc("dkim", "show", check=0)
    lines = r.stdout.splitlines(keepends=True)
    records = [ln for ln in lines if not ln.startswith(";")]
    comments = [ln for ln in lines if ln.startswith(";")]
    assert len(records) == 2 and len(comments) == 2
    assert "rsa-sha256, 2048 bits" in comments[0]      # RSA first
    assert "ed25519-sha256, 256 bits" in comments[1]
    for ln in records:
        sel, dom, strings, _ = parse_record(ln)
        assert recs["%s._domainkey.%s." % (sel, dom)] == "".join(strings)
    assert pc("dkim", "show", "example.org", check=0).stdout == r.stdout
    r = pc("dkim", "show", "example.net", check=1)
    assert "no DKIM key for example.net" in r.stderr


def test_sign_dual_verified_by_python_dkim(pc):
    recs = signed_pair(pc)
    msgfile = pc.tmp / "m.eml"
    msgfile.write_bytes(MESSAGE)
    r = pc.raw("dkim", "sign", "example.org", str(msgfile))
    assert r.returncode == 0, r.stderr
    signed = r.stdout
    # what was given, CRLF, after the signature fields
    assert signed.endswith(MESSAGE.replace(b"\n", b"\r\n"))
    sigs = sigs_of(signed)
    assert len(sigs) == 2
    assert [tag(s, b"a") for s in sigs] == [b"rsa-sha256", b"ed25519-sha256"]
    for s in sigs:
        assert tag(s, b"c") == b"relaxed/relaxed"
        assert tag(s, b"d") == b"example.org"
        assert tag(s, b"i") is None
        h = [x.lower() for x in tag(s, b"h").split(b":")]
        assert h.count(b"from") == 2            # over-signed
        assert h.count(b"subject") == 2
        assert h.count(b"reply-to") == 1        # absent, over-signed
        assert b"message-id" in h
    # libopendkim (RSA) and our Ed25519 signer hash the same: one body
    # hash, one list of fields
    assert tag(sigs[0], b"bh") == tag(sigs[1], b"bh")
    assert tag(sigs[0], b"h") == tag(sigs[1], b"h")
    assert verify_all(signed, recs) == [True, True]
    # standard input works the same
    r = pc.raw("dkim", "sign", "example.org", stdin=MESSAGE)
    assert r.returncode == 0 and verify_all(r.stdout, recs) == [True, True]
    # tampering: each signature fails
    for old, new in ((b"Subject: signed by postern",
                      b"Subject: signed by someone"),
                     (b"this message is signed twice.",
                      b"this message is changed."),
                     (b"To: Bob <bob@example.net>\r\n",
                      b"To: Bob <bob@example.net>\r\n"
                      b"From: Mallory <m@example.org>\r\n")):
        bad = signed.replace(old, new, 1)
        assert bad != signed
        assert verify_all(bad, recs) == [False, False], old
    # the RSA name publishing another RSA key: that signature fails
    r = keygen(pc, "example.org", "--selector", "other")
    other = "".join(parse_record(r.stdout)[2])
    wrong = {k: (other if "-rsa." in k else v) for k, v in recs.items()}
    assert verify_all(signed, wrong) == [False, True]
    # and the Ed25519 name publishing another Ed25519 key: that one fails
    r = keygen(pc, "example.org", "--selector", "other-ed", "--algo",
               "ed25519")
    other = "".join(parse_record(r.stdout)[2])
    wrong = {k: (other if "-ed25519." in k else v) for k, v in recs.items()}
    assert verify_all(signed, wrong) == [True, False]


def test_sign_refusals(pc):
    signed_pair(pc)
    two_from = b"From: a@example.org\nFrom: b@example.org\nSubject: x\n\nx\n"
    r = pc("dkim", "sign", "example.org", stdin=two_from, check=1)
    assert "not signed: several From fields" in r.stderr and r.stdout == ""
    r = pc("dkim", "sign", "example.org", stdin=b"Subject: x\n\nx\n",
           check=1)
    assert "not signed: no From field" in r.stderr
    r = pc("dkim", "sign", "example.com", stdin=MESSAGE, check=1)
    assert "no DKIM key for example.com" in r.stderr
    # mail from a subdomain: signed d=example.org
    sub = MESSAGE.replace(b"alice@example.org", b"alice@news.example.org")
    r = pc.raw("dkim", "sign", "news.example.org", stdin=sub)
    assert r.returncode == 0
    assert {tag(s, b"d") for s in sigs_of(r.stdout)} == {b"example.org"}
    # a key others may read stops every command that loads keys
    key = next((pc.tmp / "var" / "dkim" / "example.org").glob("*-rsa.key"))
    os.chmod(key, 0o644)
    r = pc("dkim", "sign", "example.org", stdin=MESSAGE, check=1)
    assert "mode 0644" in r.stderr and "chmod 600" in r.stderr
    r = pc("dkim", "show", check=1)
    assert "mode 0644" in r.stderr
    os.chmod(key, 0o640)                # group-readable is fine
    pc("dkim", "show", check=0)


def test_config_keys_checked(tmp_path):
    conf = tmp_path / "p.conf"
    conf.write_text('dkim_sign = {\n  keys = [ "example.org:sel" ];\n'
                    '  headers = [ "From", "X Bad" ];\n};\n')
    r = subprocess.run([conftest.BIN, "config", "check", str(conf)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "%s:2:" % conf in r.stderr + r.stdout
    assert "%s:3:" % conf in r.stderr + r.stdout
