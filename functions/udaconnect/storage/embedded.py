"""An embedded PostgreSQL + PostGIS cluster run from the system binaries, for a machine with no database set up."""

from __future__ import annotations

import glob
import os
import pwd
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
}


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
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def port(self) -> int:
        return int(self._port_file.read_text())

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a server binary, as the postgres user when we are root (PostgreSQL refuses to run as root)."""
        cmd = [str(_bindir() / args[0]), *args[1:]]
        kwargs: dict[str, object] = {}
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
        if check and proc.returncode != 0:
            raise InfrastructureError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}")
        return proc

    def _prepare_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
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
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--no-sync", "--locale=C.UTF-8")
        if self.running():
            return self.url
        port = self.port if self._port_file.exists() and not answers("127.0.0.1", self.port) else free_port()
        self._port_file.write_text(str(port))
        options = dict(SERVER_OPTIONS, port=str(port), unix_socket_directories=str(self.directory))
        if not self.fsync:
            options.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        opts = " ".join(f"-c {k}={v}" for k, v in options.items())
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.directory / "server.log"), "-o", opts,
                  "-w", "-t", "60", "start")
        self._ensure_database()
        return self.url

    def running(self) -> bool:
        if not (self.data / "postmaster.pid").exists() or not self._port_file.exists():
            return False
        status = self._run("pg_ctl", "-D", str(self.data), "status", check=False)
        return status.returncode == 0 and answers("127.0.0.1", self.port)

    def _ensure_database(self) -> None:
        psql = [str(_bindir() / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-Atq"]
        exists = subprocess.run([*psql, "-d", "postgres", "-c",
                                 f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
                                capture_output=True, text=True, check=True).stdout.strip()
        if not exists:
            subprocess.run([*psql, "-d", "postgres", "-c", f"CREATE DATABASE {DATABASE}"], check=True,
                           capture_output=True)

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def wait_stopped(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while (self.data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
