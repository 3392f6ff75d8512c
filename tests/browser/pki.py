"""The test's own certificates, made with the openssl CLI, and the NSS
database chromium trusts them from.

    ca = TestCA(tmpdir)                 # a CA made for this run only
    cert, key = ca.server_cert("192.0.2.1")
        # cert: the server's certificate then the CA's (EPSIP's tls-cert
        # sends the file whole); key: its private key
    home = ca.browser_home("trusting")  # $HOME/.pki/nssdb trusts the CA

chromium on Linux takes the roots a user added from the NSS database in
$HOME/.pki/nssdb, so a HOME made here and given to chromium makes it
check the real chain: server certificate -> this CA, with the IP address
in the subjectAltName.  No --ignore-certificate-errors anywhere.
"""
import os
import subprocess

CA_NAME = "EPSIP browser test CA"


def _run(*cmd, cwd=None):
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                                p.stdout.strip()))
    return p.stdout


def _ec_key(path):
    _run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-out", path)
    os.chmod(path, 0o600)


class TestCA:
    __test__ = False            # not a pytest test class

    def __init__(self, directory):
        self.dir = directory
        self.key = os.path.join(directory, "ca.key")
        self.cert = os.path.join(directory, "ca.pem")
        _ec_key(self.key)
        _run("openssl", "req", "-x509", "-new", "-key", self.key,
             "-out", self.cert, "-days", "2", "-subj", "/CN=" + CA_NAME,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash")

    def server_cert(self, ip):
        """A certificate for `ip` (IP subjectAltName, serverAuth) signed by
        this CA: (chain file: certificate then CA, key file)."""
        key = os.path.join(self.dir, "server.key")
        csr = os.path.join(self.dir, "server.csr")
        leaf = os.path.join(self.dir, "server.pem")
        chain = os.path.join(self.dir, "server-chain.pem")
        ext = os.path.join(self.dir, "server.ext")
        _ec_key(key)
        _run("openssl", "req", "-new", "-key", key, "-out", csr,
             "-subj", "/CN=" + ip)
        with open(ext, "w") as f:
            f.write("basicConstraints = critical,CA:FALSE\n"
                    "keyUsage = critical,digitalSignature\n"
                    "extendedKeyUsage = serverAuth\n"
                    "subjectAltName = IP:%s\n"
                    "subjectKeyIdentifier = hash\n"
                    "authorityKeyIdentifier = keyid\n" % ip)
        _run("openssl", "x509", "-req", "-in", csr, "-CA", self.cert,
             "-CAkey", self.key, "-CAcreateserial", "-days", "1",
             "-extfile", ext, "-out", leaf)
        _run("openssl", "verify", "-CAfile", self.cert, leaf)
        with open(chain, "w") as out:
            for path in (leaf, self.cert):
                with open(path) as f:
                    out.write(f.read())
        return chain, key

    def browser_home(self, name, trust=True):
        """A HOME for chromium with an NSS database in .pki/nssdb; the CA
        is added to it as a trusted issuer of server certificates
        (certutil -t C,,) unless trust=False."""
        home = os.path.join(self.dir, name)
        db = os.path.join(home, ".pki", "nssdb")
        os.makedirs(db, mode=0o700)
        _run("certutil", "-N", "-d", "sql:" + db, "--empty-password")
        if trust:
            _run("certutil", "-A", "-d", "sql:" + db, "-n", CA_NAME,
                 "-t", "C,,", "-i", self.cert)
            listed = _run("certutil", "-L", "-d", "sql:" + db)
            if CA_NAME not in listed:
                raise RuntimeError("certutil -L does not list %r:\n%s"
                                   % (CA_NAME, listed))
        return home
