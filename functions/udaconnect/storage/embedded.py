"""An embedded PostgreSQL + PostGIS cluster run from the system binaries, for a machine with no database set up.

Only its owner gets in: the superuser `postgres` has a random password (data/password, 0600, inside the 0700 data
directory, made at initdb and kept across restarts), pg_hba.conf asks for it (scram-sha-256) on loopback TCP and
on the unix socket, and the socket lives in the cluster's own 0700 directory. A cluster made by an older version
with `trust` is given a password and the same pg_hba.conf at its next start. The URL `start()` returns carries
the password, so whoever holds it (the local stack's processes, through DATABASE_URL) connects as before.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from udaconnect.errors import InfrastructureError
from udaconnect.ports import answers, free_port

POSTGIS_APT = "apt-get install -y postgresql-15-postgis-3"
DATABASE = "udaconnect"
#: Tuned for a laptop-sized machine holding a few million locations; durability stays on.
SERVER_OPTIONS = {
    "shared_buffers": "512MB",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
    "effective_cache_size": "4GB",
    "random_page_cost": "1.1",
    "max_connections": "200",
    "jit": "off",
    "listen_addresses": "127.0.0.1",
    "timezone": "UTC",
    "password_encryption": "scram-sha-256",
}
#: Every way in asks for the owner's password; nothing is trusted, not even the unix socket.
PG_HBA = """\
# Written by udaconnect (storage/embedded.py): only the owner, with the password in this directory's password file.
local all all scram-sha-256
host  all all 127.0.0.1/32 scram-sha-256
host  all all ::1/128 scram-sha-256
"""


class PostgresNotInstalled(InfrastructureError):
    """The PostgreSQL server binaries or PostGIS are missing on this machine."""


def _bindir() -> Path:
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise PostgresNotInstalled(f"PostgreSQL server binaries not found; install them with: {POSTGIS_APT}")


def postgis_installed(bindir: Path | None = None) -> bool:
    bindir = bindir or _bindir()
    share = subprocess.run(
        [str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if not share:
        version = bindir.parent.name
        share = f"/usr/share/postgresql/{version}"
    return Path(share, "extension", "postgis.control").exists()




@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster under `directory`, started on a free loopback port and reused across starts."""

    directory: Path
    fsync: bool = True

    def __post_init__(self) -> None:
        # the server runs with its data directory as cwd: every path it is given must be absolute
        self.directory = Path(self.directory).resolve()

    @property
    def _port_file(self) -> Path:
        return self.directory / "port"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def password_file(self) -> Path:
        return self.data / "password"

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    @property
    def url(self) -> str:
        # hex: nothing in it needs escaping in a URL, an Alembic config or a libpq keyword string
        return f"postgresql+psycopg2://postgres:{self.password}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def port(self) -> int:
        return int(self._port_file.read_text())

    def _run(self, *args: str, check: bool = True, stdin: str | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a server binary, as the postgres user when we are root (PostgreSQL refuses to run as root), in a
        process session of its own: a Ctrl-C (SIGINT to the terminal's group) reaches the stack, which drains into
        the database and then stops it, never the database first (the server `pg_ctl start` leaves running); nor
        a `pg_ctl status` under way, whose death by that signal read as "not running" and had the stack start a
        second server over the live one (pg_ctl: could not start server, seen in CI)."""
        cmd = [str(_bindir() / args[0]), *args[1:]]
        kwargs: dict[str, object] = {"start_new_session": True}
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            kwargs.update(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, input=stdin,  # type: ignore[call-overload]
                              env=env, **kwargs)
        if check and proc.returncode != 0:
            raise InfrastructureError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}")
        return proc

    def _owner(self) -> tuple[int, int] | None:
        """uid and gid the server runs as when it is not us (we are root), else None."""
        if os.geteuid() != 0:
            return None
        user = pwd.getpwnam("postgres")
        return user.pw_uid, user.pw_gid

    def _prepare_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # the unix socket lives here: no other user may reach it (nor the port file, nor the log)
        os.chmod(self.directory, 0o700)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.directory, user.pw_uid, user.pw_gid)
            # postgres must be able to reach its data through every parent directory
            for parent in self.directory.resolve().parents:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)

    def start(self) -> str:
        """Start (initialising on first use) and return the SQLAlchemy URL."""
        bindir = _bindir()
        if not postgis_installed(bindir):
            raise PostgresNotInstalled(f"PostGIS is not installed; install it with: {POSTGIS_APT}")
        self._prepare_directory()
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        if self.running():
            self._secure()
            return self.url
        port = self.port if self._port_file.exists() and not answers("127.0.0.1", self.port) else free_port()
        self._port_file.write_text(str(port))
        options = dict(SERVER_OPTIONS, port=str(port), unix_socket_directories=str(self.directory))
        if not self.fsync:
            options.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        opts = " ".join(f"-c {k}={v}" for k, v in options.items())
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.directory / "server.log"), "-o", opts,
                  "-w", "-t", "60", "start")
        self._secure()
        self._ensure_database()
        return self.url

    def _write_secret(self, path: Path, text: str) -> None:
        """`text` in a file only the server's user (and root) can read, created with that mode (no window)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(path, 0o600)
        owner = self._owner()
        if owner:
            os.chown(path, *owner)

    def _initdb(self) -> None:
        password = secrets.token_hex(24)
        pwfile = self.directory / "initdb.password"  # initdb wants an empty data directory: moved in after
        self._write_secret(pwfile, password + "\n")
        try:
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=scram-sha-256",
                      f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync", "--locale=C.UTF-8")
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_secret(self.password_file, password + "\n")
        self._write_secret(self.data / "pg_hba.conf", PG_HBA)

    def _secure(self) -> None:
        """Upgrade a cluster made with `trust` by an older version (the server is running): set a password,
        then write our pg_hba.conf and reload. Connecting over the socket still works under trust for the first
        step; after the reload every connection needs the password."""
        hba = self.data / "pg_hba.conf"
        if self.password_file.exists() and hba.read_text() == PG_HBA:
            return
        if not self.password_file.exists():
            password = secrets.token_hex(24)
            # on stdin, never on a command line other users could read in `ps`
            self._run("psql", "-h", str(self.directory), "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                      "-v", "ON_ERROR_STOP=1", "-Atq", "-f", "-", env=self._env(),
                      stdin=f"SET password_encryption = 'scram-sha-256';\n"
                            f"ALTER ROLE postgres PASSWORD '{password}';\n")
            self._write_secret(self.password_file, password + "\n")
        self._write_secret(hba, PG_HBA)
        self._run("pg_ctl", "-D", str(self.data), "reload")

    def _env(self) -> dict[str, str]:
        """The environment of a client binary: the password (if any yet), no password file of the caller's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if self.password_file.exists():
            env["PGPASSWORD"] = self.password
        return env

    def running(self, patience: float = 15.0) -> bool:
        """Whether our server is up: its postmaster alive (pg_ctl status) and its port answering. A live postmaster
        whose port does not answer at once (starting, or a machine so busy that a connect takes longer than
        `answers`' half second) is given `patience` seconds: a false "not running" made the caller start a second
        server over the live pid file (pg_ctl: could not start server), which failed a stack's stop."""
        if not (self.data / "postmaster.pid").exists() or not self._port_file.exists():
            return False
        status = self._run("pg_ctl", "-D", str(self.data), "status", check=False)
        if status.returncode != 0:
            return False
        deadline = time.monotonic() + patience
        while not answers("127.0.0.1", self.port, timeout=2.0):
            if time.monotonic() > deadline or not (self.data / "postmaster.pid").exists():
                return False
            time.sleep(0.2)
        return True

    def _ensure_database(self) -> None:
        psql = [str(_bindir() / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-Atq"]
        exists = subprocess.run([*psql, "-d", "postgres", "-c",
                                 f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
                                capture_output=True, text=True, check=True, env=self._env(),
                                start_new_session=True).stdout.strip()  # as _run: a Ctrl-C is the stack's
        if not exists:
            subprocess.run([*psql, "-d", "postgres", "-c", f"CREATE DATABASE {DATABASE}"], check=True,
                           capture_output=True, env=self._env(), start_new_session=True)

    def stop(self, mode: str = "fast", timeout: int = 60) -> None:
        """Stop the server; one that is not down within `timeout` seconds in `mode` is stopped immediately."""
        if not (self.data / "postmaster.pid").exists():
            return
        done = self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(timeout), "stop", check=False)
        if done.returncode != 0 and mode != "immediate" and (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", str(timeout), "stop",
                      check=False)

    def wait_stopped(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while (self.data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
