"""What every service of the local stack shares: folders, pid file, start, stop, state."""

from __future__ import annotations

import abc
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from sitrep.settings import Settings

from . import process
from .tools import StackError, java_binary


@dataclass(frozen=True)
class Layout:
    """Everything the local stack writes lives under one home folder (default ``.sitrep/``)."""

    home: Path
    jars: Path

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def logs(self) -> Path:
        return self.home / "logs"


@dataclass(frozen=True)
class ServiceState:
    name: str
    version: str
    running: bool
    pid: int | None
    port: int
    port_open: bool
    rss_kib: int | None
    log_dir: Path


@dataclass(frozen=True)
class StartResult:
    name: str
    started: bool
    seconds: float
    pid: int


@dataclass(frozen=True)
class Launch:
    """A service process that was started (or found running) and may not serve yet."""

    service: Service
    record: process.PidRecord
    began: float
    started: bool

    def wait_ready(self) -> StartResult:
        self.service.wait_ready(self.record)
        seconds = time.monotonic() - self.began
        return StartResult(self.service.name, self.started, seconds, self.record.pid)


class Service(abc.ABC):
    name: str

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stack = settings.stack
        home = settings.home.resolve()
        jars = settings.stack.jars_dir.resolve() if settings.stack.jars_dir else home / "jars"
        self.layout = Layout(home=home, jars=jars)
        self.log = structlog.get_logger("sitrep.stack").bind(service=self.name)

    @property
    @abc.abstractmethod
    def port(self) -> int: ...

    @property
    @abc.abstractmethod
    def log_dir(self) -> Path: ...

    @property
    @abc.abstractmethod
    def version(self) -> str: ...

    @property
    @abc.abstractmethod
    def marker(self) -> str:
        """A string in the command line that only this stack's process carries."""

    @abc.abstractmethod
    def prepare(self) -> None:
        """Fetch jars, render config, format storage: everything before the first start."""

    @abc.abstractmethod
    def command(self) -> list[str]: ...

    @abc.abstractmethod
    def ready(self) -> bool: ...

    def preflight(self, running: bool) -> None:
        """Raise StackError for settings this service cannot run (or is not running) with,
        before anything is started or waited for."""
        return None

    @property
    def pid_file(self) -> Path:
        return self.layout.run / f"{self.name}.pid"

    @property
    def console_log(self) -> Path:
        return self.log_dir / f"{self.name}.out"

    @property
    def main_log(self) -> Path:
        """The log a user reads first when something is wrong."""
        return self.console_log

    def announce(self, message: str) -> None:
        self.log.info(message)

    def start(self) -> StartResult:
        """Idempotent: a running instance of ours is left alone."""
        return self.launch().wait_ready()

    def launch(self) -> Launch:
        """Start the process if it is not running yet, without waiting for it to serve."""
        began = time.monotonic()
        running = process.running_record(self.pid_file)
        self.preflight(running is not None)
        if running is not None:
            return Launch(self, running, began, started=False)
        if process.port_open("127.0.0.1", self.port):
            raise StackError(
                f"port {self.port} is already taken by a process this stack did not start "
                f"(home {self.layout.home}); stop it or set another port in SITREP_STACK__*"
            )
        self.prepare()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        record = process.spawn(
            self.command(),
            marker=self.marker,
            pid_file=self.pid_file,
            output=self.console_log,
            cwd=self.layout.home,
        )
        self.log.info("started", pid=record.pid, logs=str(self.log_dir))
        return Launch(self, record, began, started=True)

    def stop(self) -> bool:
        record = process.running_record(self.pid_file)
        if record is None:
            return False
        stopped = process.terminate(record, self.pid_file)
        self.log.info("stopped", pid=record.pid)
        return stopped

    def state(self) -> ServiceState:
        record = process.running_record(self.pid_file)
        return ServiceState(
            name=self.name,
            version=self.version,
            running=record is not None,
            pid=record.pid if record else None,
            port=self.port,
            port_open=process.port_open("127.0.0.1", self.port),
            rss_kib=process.rss_kib(record.pid) if record else None,
            log_dir=self.log_dir,
        )

    def run_java_tool(self, args: list[str], classpath: str) -> None:
        log_file = self.log_dir / f"{self.name}-tool.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as sink:
            result = subprocess.run(
                [java_binary(self.stack), "-cp", classpath, *args],
                stdout=sink,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if result.returncode != 0:
            raise StackError(f"{args[0]} failed; see {log_file}:\n{process.tail(log_file, 20)}")

    def wait_ready(self, record: process.PidRecord) -> None:
        deadline = time.monotonic() + self.stack.startup_timeout_s
        while time.monotonic() < deadline:
            if not process.is_running(record):
                self.pid_file.unlink(missing_ok=True)
                raise StackError(
                    f"{self.name} exited during start-up; last lines of {self.console_log}:\n"
                    + process.tail(self.console_log)
                )
            if self.ready():
                return
            time.sleep(0.5)
        raise StackError(
            f"{self.name} did not become ready within {self.stack.startup_timeout_s:.0f}s "
            f"(still running as pid {record.pid}); see {self.log_dir}"
        )
