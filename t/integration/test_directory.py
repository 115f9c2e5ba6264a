"""`postern domain|user|alias`: the internal directory from the CLI,
against the real SQLite data store in a temporary data_dir."""
import os
import subprocess
import tempfile

import pytest

from conftest import BIN, ensure_user


@pytest.fixture
def pc():
    import pathlib
    import shutil
    ensure_user()
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="postern-dir-"))
    os.chmod(tmp_path, 0o755)     # the CLI runs as user postern
    conf = tmp_path / "p.conf"
    conf.write_text('server = { data_dir = "%s"; hostname = "mx.test.example"; };\n'
                    % (tmp_path / "var"))

    def run(*args, stdin=None, check=None):
        r = subprocess.run([BIN, "-c", str(conf)] + list(args), input=stdin,
                           capture_output=True, text=True, timeout=120)
        if check is not None:
            assert r.returncode == check, (args, r.stdout, r.stderr)
        return r
    yield run
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_domains_users_aliases(pc):
    pc("domain", "add", "Example.com", check=0)
    r = pc("domain", "add", "example.com", check=1)
    assert "already exists" in r.stderr
    pc("domain", "add", "example.org", check=0)
    assert pc("domain", "list", check=0).stdout.split() == ["example.com", "example.org"]

    r = pc("user", "add", "alice@nowhere.example", stdin="pw\n", check=1)
    assert "unknown domain" in r.stderr
    pc("user", "add", "Alice@Example.com", "--quota", "2G", "--name", "Alice A",
       stdin="s3cret\n", check=0)
    r = pc("user", "add", "alice@example.com", stdin="x\n", check=1)
    assert "already exists" in r.stderr
    pc("user", "add", "bob@example.com", "--no-password", check=0)
    r = pc("user", "add", "carol@example.com", stdin="\n", check=1)
    assert "empty password" in r.stderr
    assert pc("user", "list", check=0).stdout.split() == [
        "alice@example.com", "bob@example.com"]
    assert pc("user", "list", "example.org", check=0).stdout == ""
    show = pc("user", "show", "alice@example.com", check=0).stdout
    assert "quota: 2147483648 bytes" in show and "Alice A" in show
    assert "login: enabled" in show
    assert "disabled" in pc("user", "show", "bob@example.com", check=0).stdout
    pc("user", "passwd", "bob@example.com", stdin="n3w\n", check=0)
    assert "login: enabled" in pc("user", "show", "bob@example.com", check=0).stdout
    r = pc("user", "passwd", "ghost@example.com", stdin="x\n", check=1)
    assert "unknown account" in r.stderr
    r = pc("user", "show", "ghost@example.com", check=1)

    pc("alias", "add", "team@example.com", "alice@example.com",
       "bob@example.com", check=0)
    r = pc("alias", "add", "team@example.com", "bob@example.com", check=1)
    assert "already exists" in r.stderr
    pc("alias", "add", "@example.org", "alice@example.com", check=0)
    lines = pc("alias", "list", check=0).stdout.splitlines()
    assert "team@example.com -> bob@example.com" in lines
    assert "@example.org -> alice@example.com" in lines
    r = pc("domain", "del", "example.com", check=1)
    assert "delete them first" in r.stderr
    pc("alias", "del", "team@example.com", "bob@example.com", check=0)
    pc("alias", "del", "team@example.com", check=0)
    r = pc("alias", "del", "team@example.com", check=1)
    assert "unknown alias" in r.stderr
    pc("user", "del", "bob@example.com", check=0)
    r = pc("user", "del", "bob@example.com", check=1)
    assert "unknown account" in r.stderr


def test_usage_errors(pc):
    assert pc("user", check=2).returncode == 2
    assert pc("domain", "frob", "x", check=2).returncode == 2
    r = pc("user", "add", "a@example.com", "--quota", "lots", check=2)
    assert "not a size" in r.stderr
