"""A real distributed Airflow 3.3 deployment on loopback, started and torn down by the ``make e2e`` tests.

PostgreSQL (metadata DB, a private cluster in a temp dir) and Redis (Celery broker) are Debian's, installed
with apt-get when missing. Airflow runs as separate processes: api-server, scheduler, dag-processor, two
triggerers and two Celery workers; the emulator runs in its own process with its admin endpoint. Every
process logs to its own file under ``.e2e/logs/``; :meth:`Deployment.stop` stops exactly the processes it
started (their process groups) and removes the data directories, keeping logs and screenshots.

The clone may sit anywhere, even in a folder only its owner can enter (``mktemp -d``, root's home): what
runs as another user (PostgreSQL runs as ``postgres`` when the harness is root) writes only inside the
temp data directory, in a folder that user owns; PostgreSQL's log is copied into ``.e2e/logs/`` when the
deployment stops. A service that fails to start is reported with its own output (stderr, log tail).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
E2E_DAGS = Path(__file__).resolve().parent / "dags"
OUT = Path(os.environ.get("E2E_OUT", ROOT / ".e2e"))
BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"

#: Canary secrets: the API token the emulator accepts, and storage credentials the DAGs send.
CANARY_TOKEN = "e2e-canary-token-" + secrets.token_hex(8)
CANARY_STORAGE_SECRET = "e2e-canary-storage-secret-" + secrets.token_hex(8)
CANARY_ACCESS_KEY = "E2ECANARYACCESSKEY" + secrets.token_hex(4).upper()
ADMIN_USER, ADMIN_PASSWORD = "admin", "e2e-admin-" + secrets.token_hex(6)
#: Domain of the host names the triggerers report (``triggerer-1.localhost``): see ``hostname.py``.
HOST_DOMAIN = "localhost"
#: Poll interval of the waits in the test DAGs (the triggerers' shared poller ticks at it).
POLL_SECONDS = 10


def log(message: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as exc:
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s (last: {last!r})")


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ("" if it cannot be read)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class ServiceError(RuntimeError):
    """A service of the deployment failed to start; the message carries its own output."""


def run_step(what: str, argv: list[str], log_path: Path | None = None, **kwargs: Any) -> str:
    """Run one setup command; on failure raise :class:`ServiceError` with its exit status, its stderr and
    stdout, and the tail of ``log_path`` (the service's own log), so the cause is on screen."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if done.returncode:
        parts = [f"{what} failed: `{' '.join(argv)}` exited with status {done.returncode}"]
        for name, text in (("stderr", done.stderr), ("stdout", done.stdout)):
            if text.strip():
                parts.append(f"--- its {name}:\n{text.strip()[-4000:]}")
        if log_path is not None and (logged := tail(log_path)):
            parts.append(f"--- last lines of {log_path}:\n{logged}")
        raise ServiceError("\n".join(parts))
    return done.stdout


def ensure_debian_packages(binaries: dict[str, str]) -> None:
    """apt-get install the packages whose binary is missing (apt-get update once)."""
    missing = [pkg for binary, pkg in binaries.items() if not _which(binary)]
    if not missing:
        return
    log(f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


def _which(binary: str) -> str | None:
    if found := shutil.which(binary):
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{binary}"))
    return str(candidates[-1]) if candidates else None


@dataclass
class Proc:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    #: Environment of this process only, over the deployment's.
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Deployment:
    workers: int = 2
    worker_concurrency: int = 4
    triggerers: int = 2
    out: Path = OUT
    procs: dict[str, Proc] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.logs = self.out / "logs"
        self.screenshots = self.out / "screenshots"
        self.data = Path(tempfile.mkdtemp(prefix="rtk-e2e-"))
        self.data.chmod(0o755)  # the postgres user must reach its cluster inside
        self.archive = self.data / "archive"
        self.home = self.data / "airflow-home"
        # Everything PostgreSQL writes (cluster, socket, log) is in a folder its user owns, inside
        # ``data``: the clone's own folders may be closed to that user.
        self.pg_root = self.data / "postgres"
        self.pg_data = self.pg_root / "data"
        self.pg_log = self.pg_root / "postgres.log"
        self.api_port = free_port()
        self.pg_port = free_port()
        self.redis_port = free_port()
        self.api_url = f"http://{LOOPBACK}:{self.api_port}"
        self.emulator_url = ""
        self.admin_url = ""
        self._token: str | None = None
        self._stopped = False
        self._session = requests.Session()

    # Start

    def start(self) -> None:
        began = time.monotonic()
        if self.out.exists():
            shutil.rmtree(self.out)
        self.logs.mkdir(parents=True)
        self.screenshots.mkdir()
        self.archive.mkdir(parents=True)
        self.home.mkdir()
        ensure_debian_packages({"initdb": "postgresql", "redis-server": "redis-server"})
        self._start_postgres()
        self._start_redis()
        self._start_emulator()
        self._write_config()
        migrated = subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"], env=self.env, capture_output=True, text=True, check=False
        )
        (self.logs / "db-migrate.log").write_text(migrated.stdout + migrated.stderr)
        if migrated.returncode:
            raise ServiceError(
                f"airflow db migrate exited with status {migrated.returncode}; last lines of "
                f"{self.logs / 'db-migrate.log'}:\n{tail(self.logs / 'db-migrate.log')}"
            )
        self._spawn("api-server", "api-server", "--host", LOOPBACK, "--port", str(self.api_port), "-w", "2")
        self._spawn("scheduler", "scheduler")
        self._spawn("dag-processor", "dag-processor")
        for n in range(1, self.triggerers + 1):
            self._spawn(
                f"triggerer-{n}", "triggerer", "--skip-serve-logs", env=self._host_named(f"triggerer-{n}")
            )
        for n in range(1, self.workers + 1):
            self._spawn(
                f"worker-{n}",
                "celery",
                "worker",
                "--skip-serve-logs",
                "--celery-hostname",
                f"worker{n}@localhost",
                "--concurrency",
                str(self.worker_concurrency),
                "--without-gossip",
                "--without-mingle",
            )
        airflow = [name for name in self.procs if name not in ("redis", "emulator")]
        health = f"{self.api_url}/api/v2/monitor/health"
        self._await_started("api-server", lambda: self._session.get(health).ok, 180, 1, airflow)
        self._await_started("all components healthy", self._healthy, 180, 2, airflow)
        self._await_started("celery workers", self._workers_up, 180, 2, airflow)
        log(f"deployment up in {time.monotonic() - began:.0f} s: API {self.api_url}, logs in {self.logs}")

    def _start_postgres(self) -> None:
        initdb, pg_ctl = _which("initdb"), _which("pg_ctl")
        if not (initdb and pg_ctl):
            raise RuntimeError("PostgreSQL's initdb/pg_ctl not found after installing postgresql")
        self.pg_root.mkdir()
        self.pg_data.mkdir()
        self.pg_log.touch()
        as_postgres: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as Debian's postgres user
            for path in (self.pg_root, self.pg_data, self.pg_log):
                shutil.chown(path, "postgres", "postgres")
            self.pg_data.chmod(0o700)
            as_postgres = ["runuser", "-u", "postgres", "--"]
        # Run from a folder that user can enter: the harness's working directory (the clone) may be closed
        # to it, and PostgreSQL's tools complain when they cannot enter their working directory.
        in_pg_root = {"cwd": self.pg_root}
        run_step(
            "PostgreSQL initdb",
            [*as_postgres, initdb, "-D", str(self.pg_data), "-A", "trust", "-U", "airflow", "-E", "UTF8"],
            **in_pg_root,
        )
        options = (
            f"-p {self.pg_port} -c listen_addresses={LOOPBACK} -k {self.pg_data} -c max_connections=300 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._pg_stop = [*as_postgres, pg_ctl, "-D", str(self.pg_data), "-m", "fast", "-w", "stop"]
        try:
            run_step(
                "PostgreSQL start",
                [
                    *as_postgres,
                    pg_ctl,
                    "-D",
                    str(self.pg_data),
                    "-o",
                    options,
                    "-l",
                    str(self.pg_log),
                    "-w",
                    "start",
                ],
                self.pg_log,
                **in_pg_root,
            )
        finally:
            self._copy_pg_log()
        run_step(
            "creating the airflow database",
            [
                "psql",
                "-h",
                LOOPBACK,
                "-p",
                str(self.pg_port),
                "-U",
                "airflow",
                "-d",
                "postgres",
                "-c",
                "CREATE DATABASE airflow",
            ],
            self.pg_log,
        )

    def _stop_postgres(self) -> None:
        """Stop the cluster (if started) and keep its log in ``logs``."""
        if getattr(self, "_pg_stop", None):
            subprocess.run(self._pg_stop, capture_output=True, check=False, cwd=self.pg_root)
            self._pg_stop = []
        self._copy_pg_log()

    def _copy_pg_log(self) -> None:
        if self.pg_log.is_file() and self.logs.is_dir():
            with contextlib.suppress(OSError):
                shutil.copyfile(self.pg_log, self.logs / "postgres.log")

    def _start_redis(self) -> None:
        redis_dir = self.data / "redis"
        redis_dir.mkdir()
        self._popen(
            Proc(
                "redis",
                [
                    "redis-server",
                    "--bind",
                    LOOPBACK,
                    "--port",
                    str(self.redis_port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(redis_dir),
                    "--protected-mode",
                    "yes",
                ],
                self.logs / "redis.log",
            )
        )
        self._await_started("redis", lambda: _redis_ping(self.redis_port), 30, 0.3, ["redis"])

    def _start_emulator(self) -> None:
        proc = Proc(
            "emulator",
            [
                str(BIN / "rtk-emulator"),
                "--admin",
                "--port",
                "0",
                "--token",
                CANARY_TOKEN,
                "--invoked-seconds",
                "1",
                "--upload-seconds",
                "30",
                "--file-size",
                str(256 * 1024),
                "--audio-file-size",
                str(64 * 1024),
            ],
            self.logs / "emulator.log",
        )
        self._popen(proc)

        def ready() -> str | None:
            for line in proc.log_path.read_text().splitlines():
                if line.startswith("RealtimeKit emulator listening on "):
                    return line.rsplit(" ", 1)[1]
            return None

        self.emulator_url = self._await_started("emulator", ready, 60, 0.3, ["emulator"])
        self.admin_url = self.emulator_url.removesuffix("/client/v4")
        log(f"emulator {self.emulator_url} (rtk-emulator --admin)")

    def _write_config(self) -> None:
        dags = self.data / "dags"
        dags.mkdir()
        for source in [*sorted((ROOT / "example_dags").glob("rtk_*.py")), *sorted(E2E_DAGS.glob("*.py"))]:
            shutil.copy(source, dags / source.name)
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps({ADMIN_USER: ADMIN_PASSWORD}))
        database = f"postgresql+psycopg://airflow@{LOOPBACK}:{self.pg_port}/airflow"
        connection = {
            "conn_type": "realtimekit",
            "host": self.emulator_url,
            "password": CANARY_TOKEN,
            "extra": {
                "account_id": "023e105f4ecef8ad9ca31a8372d0c353",
                "app_id": "2a95132c15732412d22c1476fa83f27a",
            },
        }
        base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        self.env = {
            **base,
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "64",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "1000",
            "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG": "1000",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__FERNET_KEY": "",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "3",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{LOOPBACK}:{self.redis_port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://airflow@{LOOPBACK}:{self.pg_port}/airflow",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__HOST": LOOPBACK,
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": "10000",  # the harness reads hundreds of runs per request
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs / "tasks"),
            "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(
                self.logs / "dag-processor-files"
            ),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
            "AIRFLOW_CONN_REALTIMEKIT_DEFAULT": json.dumps(connection),
            "AIRFLOW_VAR_RTK_ARCHIVE_ROOT": str(self.archive),
            "AIRFLOW_VAR_E2E_STORAGE_SECRET": CANARY_STORAGE_SECRET,
            "AIRFLOW_VAR_E2E_ACCESS_KEY": CANARY_ACCESS_KEY,
            "NO_PROXY": "*",
        }

    def _spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        self._popen(Proc(name, [str(BIN / "airflow"), *args], self.logs / f"{name}.log", env=env or {}))

    @staticmethod
    def _host_named(name: str) -> dict[str, str]:
        """Environment giving a component a host name of its own (see ``tests/e2e/hostname.py``)."""
        return {
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.e2e.hostname.component_hostname",
            "E2E_HOSTNAME": f"{name}.{HOST_DOMAIN}",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }

    def _popen(self, proc: Proc) -> None:
        handle = proc.log_path.open("ab")
        proc.popen = subprocess.Popen(  # own process group: kill/stop reach its children too
            proc.argv,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**self.env, **proc.env} if self.env else None,
            cwd=self.data,
            start_new_session=True,
        )
        handle.close()
        self.procs[proc.name] = proc

    def _await_started(
        self, what: str, check: Callable[[], Any], timeout: float, interval: float, names: list[str]
    ) -> Any:
        """Like :func:`wait_for`, but fail at once when one of the processes ``names`` exits, and fail
        with their own output (exit status, log tail) rather than only a timeout."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            exited = [name for name in names if self._exit_status(name) is not None]
            if exited:
                reports = "\n".join(self._report(name) for name in exited)
                raise ServiceError(f"{what}: {', '.join(exited)} exited while starting\n{reports}")
            try:
                last = check()
                if last:
                    return last
            except Exception as exc:
                last = exc
            time.sleep(interval)
        reports = "\n".join(self._report(name, 15) for name in names)
        raise ServiceError(f"{what}: not ready after {timeout:.0f} s (last: {last!r})\n{reports}")

    def _exit_status(self, name: str) -> int | None:
        popen = self.procs[name].popen
        return None if popen is None else popen.poll()

    def _report(self, name: str, lines: int = 40) -> str:
        proc = self.procs[name]
        status = self._exit_status(name)
        state = "running" if status is None else f"exited with status {status}"
        return f"--- {name} ({state}), last lines of {proc.log_path}:\n{tail(proc.log_path, lines)}"

    def _healthy(self) -> bool:
        health = self._session.get(f"{self.api_url}/api/v2/monitor/health").json()
        return all(
            (health.get(part) or {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
        )

    def _workers_up(self) -> bool:
        pings = subprocess.run(
            [
                str(BIN / "celery"),
                "--broker",
                self.env["AIRFLOW__CELERY__BROKER_URL"],
                "inspect",
                "ping",
                "--timeout",
                "3",
            ],
            capture_output=True,
            text=True,
            check=False,
            env=self.env,
        ).stdout
        return sum(f"worker{n}@localhost" in pings for n in range(1, self.workers + 1)) == self.workers

    # Process control

    def pid(self, name: str) -> int:
        popen = self.procs[name].popen
        assert popen is not None
        return popen.pid

    def kill9(self, name: str) -> None:
        """``kill -9`` a component: every process of its tree (a worker's task processes run in sessions
        of their own) and of its process group."""
        root = self.pid(name)
        victims = {pid for pid, (_, pgid) in _processes().items() if pgid == root} | tree(root)
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        popen = self.procs[name].popen
        assert popen is not None
        popen.wait(30)

    def restart(self, name: str) -> None:
        proc = self.procs[name]
        proc.restarts += 1
        self._popen(proc)

    def rss_mib(self, name: str) -> float:
        """Resident memory of a component's process tree now (its processes summed), MiB."""
        total = 0
        for pid in tree(self.pid(name)):
            try:
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, IndexError, ValueError):
                continue
        return total / 2**20

    # Metadata database

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only query on the metadata database (what the REST API does not show)."""
        import psycopg

        dsn = f"host={LOOPBACK} port={self.pg_port} user=airflow dbname=airflow"
        with psycopg.connect(dsn, autocommit=True) as conn:
            return list(conn.execute(query, params).fetchall())  # type: ignore[arg-type]

    def triggerer_jobs(self) -> dict[int, str]:
        """Triggerer job id -> the name of the process that runs (or ran) it, from the job's host name."""
        rows = self.sql("SELECT id, hostname FROM job WHERE job_type = 'TriggererJob'")
        suffix = f".{HOST_DOMAIN}"
        return {int(job): str(host).removesuffix(suffix) for job, host in rows if str(host).endswith(suffix)}

    def trigger_holders(self, trigger_ids: Iterable[int]) -> dict[int, str | None]:
        """Trigger id -> the triggerer process its row is assigned to now (None: unassigned)."""
        wanted = sorted(set(trigger_ids))
        if not wanted:
            return {}
        jobs = self.triggerer_jobs()
        rows = self.sql("SELECT id, triggerer_id FROM trigger WHERE id = ANY(%s)", (wanted,))
        return {int(t): (jobs.get(int(job), f"job {job}") if job is not None else None) for t, job in rows}

    # Teardown

    def stop(self) -> None:
        """Stop every process this deployment started (SIGTERM, then SIGKILL), then remove data dirs."""
        if self._stopped:
            return
        self._stopped = True
        order = [n for n in self.procs if n not in ("redis", "emulator")] + ["emulator", "redis"]
        for name in order:
            popen = self.procs[name].popen if name in self.procs else None
            if popen is not None and popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for name in order:
            popen = self.procs[name].popen if name in self.procs else None
            if popen is None:
                continue
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)  # stragglers in the group, if any
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(5)
        self._stop_postgres()
        shutil.rmtree(self.data, ignore_errors=True)
        log(f"deployment stopped; data removed; logs kept in {self.logs}")

    # REST API

    def token(self) -> str:
        if self._token is None:
            answer = self._session.post(
                f"{self.api_url}/auth/token", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
            )
            answer.raise_for_status()
            self._token = str(answer.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token()}"}
        answer = self._session.request(
            method, f"{self.api_url}/api/v2{path}", headers=headers, timeout=60, **kwargs
        )
        if answer.status_code == 401:
            self._token = None
            headers = {"Authorization": f"Bearer {self.token()}"}
            answer = self._session.request(
                method, f"{self.api_url}/api/v2{path}", headers=headers, timeout=60, **kwargs
            )
        if not answer.ok:
            raise RuntimeError(f"{method} {path}: HTTP {answer.status_code} {answer.text[:500]}")
        return answer.json() if answer.content else None

    def wait_dag_parsed(self, dag_ids: Iterable[str], timeout: float = 180) -> None:
        wanted = set(dag_ids)

        def parsed() -> bool:
            dags = self.api("GET", "/dags", params={"limit": 100})["dags"]
            return wanted <= {d["dag_id"] for d in dags}

        wait_for(f"DAGs parsed: {sorted(wanted)}", parsed, timeout, 2)
        errors = self.api("GET", "/importErrors")
        if errors.get("import_errors"):
            log(f"import errors: {json.dumps(errors['import_errors'])[:2000]}")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, **extra: Any) -> str:
        body = {"conf": conf or {}, "logical_date": None, **extra}
        return str(self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_runs(self, dag_id: str, run_ids: list[str], timeout: float) -> dict[str, str]:
        """Wait until every run is finished; return run_id -> state."""
        states: dict[str, str] = {}

        def finished() -> bool:
            wanted = set(run_ids)
            for offset in range(0, 100_000, 1000):
                page = self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 1000, "offset": offset})[
                    "dag_runs"
                ]
                for run in page:
                    if run["dag_run_id"] in wanted:
                        states[run["dag_run_id"]] = run["state"]
                if len(page) < 1000:
                    break
            return all(states.get(r) in ("success", "failed") for r in run_ids)

        try:
            wait_for(f"{len(run_ids)} runs of {dag_id}", finished, timeout, 3)
        except TimeoutError:
            log(f"not finished: {[r for r in run_ids if states.get(r) not in ('success', 'failed')][:5]}")
        return states

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"])

    def task_states(self, dag_id: str, task_id: str | None = None) -> dict[str, int]:
        """Counts of task-instance states across all runs of a DAG (optionally one task)."""
        body: dict[str, Any] = {"dag_ids": [dag_id], "page_limit": 10000}
        if task_id:
            body["task_ids"] = [task_id]
        found = self.api("POST", "/dags/~/dagRuns/~/taskInstances/list", json=body)["task_instances"]
        counts: dict[str, int] = {}
        for ti in found:
            counts[str(ti["state"])] = counts.get(str(ti["state"]), 0) + 1
        return counts

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")[
            "value"
        ]

    # Emulator admin endpoint

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = requests.request(method, f"{self.admin_url}/_emulator{path}", timeout=60, **kwargs)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def emulator_requests(self) -> list[dict[str, Any]]:
        return [
            r for r in self.admin("GET", "/requests")["requests"] if not r["path"].startswith("/_emulator")
        ]


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) of every process now."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            found[int(stat.parent.name)] = (int(fields[1]), int(fields[2]))
        except (OSError, IndexError, ValueError):
            continue
    return found


def tree(root: int) -> set[int]:
    """``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in _processes().items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def _redis_ping(port: int) -> bool:
    with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")
