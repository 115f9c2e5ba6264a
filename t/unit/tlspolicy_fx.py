#!/usr/bin/python3
"""tlspolicy_fx.py - the servers and files t/unit/smtp_tlspolicy_test.c
needs that are easier made in Python; run by the test, never by hand.

  certs DIR SPEC...   two CAs (DIR/ca.crt, DIR/evil.crt) and, per SPEC
                      "FILE:CA:NAME[,NAME...]", a leaf for those names
                      signed by CA ("ca" or "evil"): DIR/FILE.key,
                      FILE.crt (leaf), FILE.chain (leaf + CA),
                      FILE.spki256 (hex SHA-256 of its SubjectPublicKeyInfo,
                      for TLSA 3 1 1); and DIR/CA.cert256 (hex SHA-256 of
                      the CA certificate, for TLSA 2 0 1).
  https DIR CERT KEY  an HTTPS server on 127.0.0.1 (port in
                      DIR/https.port once it listens) serving
                      DIR/www/<Host>/<path> as text/plain; a REDIRECT file
                      in DIR/www/<Host> answers 301 instead; each request
                      appends "<Host> <path>" to DIR/requests.log first.
  dnssec DIR ZONE PLAIN TAMPER
                      sign DIR/ZONE.zone with fresh ECDSA P-256 keys
                      (ldns-keygen, ldns-signzone: NSEC), then change the
                      TLSA data of owner TAMPER in the signed copy so its
                      signature fails; write the zone's DS to DIR/ta.ds;
                      serve it and DIR/PLAIN.zone (unsigned) with unbound
                      (auth-zone) on a free 127.0.0.1 port, written to
                      DIR/unbound.port just before unbound is exec'd.
"""
import datetime
import hashlib
import http.server
import os
import socket
import ssl
import subprocess
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def make_cert(subject_cn, key, issuer_name, issuer_key, names, ca):
    now = datetime.datetime.utcnow()
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                     subject_cn)]))
         .issuer_name(issuer_name)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                        critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True,
            content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(
            key.public_key()), critical=False)
    else:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(n) for n in names]), critical=False)
        b = b.add_extension(x509.ExtendedKeyUsage(
            [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def certs(d, specs):
    cas = {}
    for name in ("ca", "evil"):
        key = ec.generate_private_key(ec.SECP256R1())
        cn = "Postern test CA " + name
        cert = make_cert(cn, key, x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, cn)]), key, [], True)
        cas[name] = (key, cert)
        write(os.path.join(d, name + ".crt"), pem(cert))
        der = cert.public_bytes(serialization.Encoding.DER)
        write(os.path.join(d, name + ".cert256"),
              hashlib.sha256(der).hexdigest().encode())
    for spec in specs:
        fname, ca, names = spec.split(":")
        names = names.split(",")
        key = ec.generate_private_key(ec.SECP256R1())
        cakey, cacert = cas[ca]
        cert = make_cert(names[0], key, cacert.subject, cakey, names, False)
        write(os.path.join(d, fname + ".key"), key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        write(os.path.join(d, fname + ".crt"), pem(cert))
        write(os.path.join(d, fname + ".chain"), pem(cert) + pem(cacert))
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        write(os.path.join(d, fname + ".spki256"),
              hashlib.sha256(spki).hexdigest().encode())


def https(d, cert, key):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            host = (self.headers.get("Host") or "").split(":")[0]
            with open(os.path.join(d, "requests.log"), "a") as f:
                f.write("%s %s\n" % (host, self.path))
            base = os.path.join(d, "www", os.path.basename(host))
            if os.path.exists(os.path.join(base, "REDIRECT")):
                self.send_response(301)
                self.send_header("Location", "https://%s/x" % host)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            try:
                with open(os.path.join(base, self.path.lstrip("/")),
                          "rb") as f:
                    data = f.read()
            except OSError:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    write(os.path.join(d, "https.port"),
          str(srv.server_address[1]).encode())
    srv.serve_forever()


def dnssec(d, zone, plain, tamper):
    def run(*args):
        return subprocess.run(args, cwd=d, check=True, capture_output=True,
                              text=True).stdout.strip()

    ksk = run("ldns-keygen", "-a", "ECDSAP256SHA256", "-k", zone)
    zsk = run("ldns-keygen", "-a", "ECDSAP256SHA256", zone)
    src = os.path.join(d, zone + ".zone")
    signed = src + ".signed"
    run("ldns-signzone", "-f", signed, src, ksk, zsk)
    lines = []
    with open(signed) as f:
        for line in f:
            fields = line.split()
            if (len(fields) > 4 and fields[0] == tamper and
                    fields[3] == "TLSA"):
                last = fields[-1]
                fields[-1] = last[:-1] + ("0" if last[-1] != "0" else "1")
                line = "\t".join(fields) + "\n"
            lines.append(line)
    write(signed, "".join(lines).encode())
    write(os.path.join(d, "ta.ds"),
          run("ldns-key2ds", "-n", "-2", signed).encode() + b"\n")

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    conf = os.path.join(d, "unbound.conf")
    with open(conf, "w") as f:
        f.write("""server:
	interface: 127.0.0.1
	port: %d
	do-daemonize: no
	username: ""
	chroot: ""
	directory: "%s"
	pidfile: ""
	use-syslog: no
	logfile: ""
	verbosity: 1
	do-ip6: no
	module-config: "iterator"
	access-control: 127.0.0.0/8 allow
	local-zone: "test." nodefault
auth-zone:
	name: "%s."
	zonefile: "%s"
	for-downstream: yes
	for-upstream: no
	fallback-enabled: no
auth-zone:
	name: "%s."
	zonefile: "%s"
	for-downstream: yes
	for-upstream: no
	fallback-enabled: no
""" % (port, d, zone, signed, plain, os.path.join(d, plain + ".zone")))
    write(os.path.join(d, "unbound.port"), str(port).encode())
    os.execv("/usr/sbin/unbound", ["unbound", "-d", "-c", conf])


def main():
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "certs":
        certs(d, sys.argv[3:])
    elif cmd == "https":
        https(d, sys.argv[3], sys.argv[4])
    elif cmd == "dnssec":
        dnssec(d, sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
