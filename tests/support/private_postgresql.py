"""A PostgreSQL cluster of one test alone, to restart and to cut off.

The machine's PostgreSQL is shared by every test run (and by CI), so a test
that stops the server or partitions it from a client starts its own:
``initdb`` into a temporary directory, trust authentication, a free port,
``pg_ctl`` to start it and to stop it (``-m fast`` for the restart fault).
PostgreSQL refuses to run as root, so as root the cluster belongs to the
``postgres`` user and its commands run through ``runuser``.

Children reach it through :meth:`PrivateCluster.database` (merged into their
``DATABASES["default"]``); the test process itself only holds raw psycopg
connections (:meth:`PrivateCluster.connect`), never Django's.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.support.ports import free_port

#: The database the test's schema is migrated into.
DATABASE = "faults"

#: Server settings the faults need. Keepalives and the connection check make
#: the server notice a client that is cut off (not one that hung up: a silent
#: partition) within seconds, and roll its transaction back; fsync is off
#: because no fault here crashes the machine (a fast shutdown checkpoints).
SERVER_SETTINGS = {
    "tcp_keepalives_idle": "1",
    "tcp_keepalives_interval": "1",
    "tcp_keepalives_count": "3",
    "client_connection_check_interval": "1000",
    "fsync": "off",
    "max_connections": "60",
}


def bin_dir() -> Path | None:
    """The newest PostgreSQL server's binaries on this machine, if any."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]),
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivateCluster:
    """An initdb'd cluster in a temporary directory, started and stopped at will."""

    def __init__(
        self, listen: tuple[str, ...] = ("127.0.0.1",), clients: tuple[str, ...] = ()
    ) -> None:
        """``listen``: the addresses to serve on; ``clients``: networks
        (CIDR) trusted besides the loopback one initdb trusts."""
        binaries = bin_dir()
        assert binaries, "the PostgreSQL server binaries (initdb) are not installed"
        self.bin = binaries
        self.listen = listen
        self.clients = clients
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="private-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        # cwd: the postgres user may not enter the caller's directory.
        result = subprocess.run(
            command,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, (
            f"{program} failed ({result.returncode}):\n{result.stdout}\n"
            f"{result.stderr}\n{self.server_log()}"
        )

    def server_log(self) -> str:
        """The server's log (its last part), for failure reports."""
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def create(self) -> None:
        """initdb, start, and create the test's database."""
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.writelines(
                f"host all all {network} trust\n" for network in self.clients
            )
        self.start()
        with self.connect("postgres") as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = [
            f"-p {self.port}",
            f"-k {self.root}",
            f"-c listen_addresses='{','.join(self.listen)}'",
            *(f"-c {name}={value}" for name, value in SERVER_SETTINGS.items()),
        ]
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            " ".join(options),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m mode``: fast rolls back open transactions and
        disconnects every client, then checkpoints; it waits for the end."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        """Stop the server (immediately) if it runs, and delete every file."""
        if self.running():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def connect(self, dbname: str = DATABASE, **options: Any) -> Any:
        """A raw autocommit psycopg connection over 127.0.0.1 (unless told otherwise)."""
        import psycopg

        options.setdefault("autocommit", True)
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            dbname=dbname,
            application_name="fault-test-controller",
            connect_timeout=10,
            **options,
        )

    def database(self, host: str = "127.0.0.1", **options: Any) -> dict[str, Any]:
        """What a child merges into ``DATABASES["default"]`` to use this cluster."""
        return {
            "HOST": host,
            "PORT": str(self.port),
            "NAME": DATABASE,
            "USER": "postgres",
            "OPTIONS": {"connect_timeout": 3, **options},
        }
