"""A real PostgreSQL server for the tests, on 127.0.0.1 in a temporary directory, then stopped.

Debian's `postgresql` package provides the binaries (`.ci/run` installs it). The server refuses
to run as root, so as root it runs as the package's `postgres` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def postgres_binaries() -> Path | None:
    """The directory of `initdb` and `pg_ctl`, newest version first; None when not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(found[0]).parent if found else None


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A fresh server with trust authentication on a free local port; yields its SQLAlchemy URL.

    Its directory is a temporary one of its own: pytest's are private to root, where the
    `postgres` user may not enter.
    """
    binaries = postgres_binaries()
    assert binaries is not None, "PostgreSQL is not installed (apt-get install postgresql)"
    root = Path(tempfile.mkdtemp(prefix="streamflow-postgres-"))
    data, sockets = root / "pgdata", root / "pgsockets"
    data.mkdir()
    sockets.mkdir()
    user = _run_as()
    if user is not None:
        for path in (root, data, sockets):
            shutil.chown(path, user.pw_name, user.pw_gid)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _run(user, [binaries / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    _run(user, [binaries / "pg_ctl", "-D", data, "-o", options, "-l", root / "postgres.log", "-w", "start"])
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        _run(user, [binaries / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)


def _run_as() -> pwd.struct_passwd | None:
    return pwd.getpwnam("postgres") if os.geteuid() == 0 else None


def _run(user: pwd.struct_passwd | None, command: list) -> None:
    command = [str(part) for part in command]
    if user is not None:
        command = ["runuser", "-u", user.pw_name, "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
