"""The local Neo4j 5 Community server that guanxi starts by itself.

Its jars come from Maven Central (resolved once by Maven from ``graph/server/pom.xml``
into ``~/.cache/guanxi/neo4j-<version>/lib``); it runs on the local Java 17+
through Neo4j's embedded API with the Bolt connector (``graph/server/GuanxiNeo4j.java``),
listens on 127.0.0.1 only, keeps its data in the data directory, and requires a
password generated at first start (file ``<data-dir>/password``, mode 0600).

Open-source Graph Data Science (GDS) runs inside it by default: its jars are resolved
once by Maven from ``graph/server/gds-pom.xml`` into ``~/.cache/guanxi/gds-<version>/lib``
(without the third-party jars the server already has), put on the classpath and named
as the plugin folder. GDS is optional: ``ServerConfig(gds=False)`` (``db start
--no-gds``) starts a smaller server without it, and a start that cannot fetch it
(offline) starts without it and says so in its note. ``graph/gds.py`` uses it, or
computes the same in Python where a server has none.

Files in the data directory: ``neo4j.conf`` (written at each start), ``server.pid``,
``server.json`` (port, pid, options, version, whether GDS is on), ``password``,
``start.lock``, ``logs/server.log`` (the JVM's output) and Neo4j's own ``data/`` and
``logs/``.

One start or stop at a time acts on a data directory: each holds an exclusive
``flock`` on ``start.lock`` from reading the pid file until the server answers (or
is gone), so a second ``start`` waits for the first and then finds it running.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import psutil

from guanxi.errors import ServerError
from guanxi.graph.settings import DEFAULT_PORT, password_file, state_file
from guanxi.interrupts import uninterrupted
from guanxi.queries import load

__all__ = [
    "GDS_VERSION", "NEO4J_VERSION", "ServerConfig", "ServerStatus", "ensure_gds_jars",
    "ensure_jars", "start", "status", "stop",
]

NEO4J_VERSION = "5.26.30"
GDS_VERSION = "2.13.9"
"""Open-source Graph Data Science; the 2.13 line is the one built for Neo4j 5.26."""
MIN_JAVA = 17
_SERVER_SRC = Path(__file__).resolve().parent / "server"
_LAUNCHER = _SERVER_SRC / "GuanxiNeo4j.java"
_GDS_POM = _SERVER_SRC / "gds-pom.xml"
_GDS_GROUP = "org.neo4j.gds"


DEFAULT_HEAP = "1g"
DEFAULT_PAGECACHE = "512m"


@dataclass(frozen=True)
class ServerConfig:
    """How to run the local server.

    An option left at None takes its default (port 7687, heap 1g, page cache 512m,
    ``DATA_DIR/import``, GDS on) when the server starts, and is not compared with those
    of a server that already runs; an option given must match them.
    """

    data_dir: Path
    port: int | None = None
    heap: str | None = None
    pagecache: str | None = None
    import_dir: Path | None = None
    gds: bool | None = None
    """Run Graph Data Science inside the server (``--no-gds``: False)."""


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    data_dir: str
    pid: int | None = None
    uri: str | None = None
    version: str | None = None
    started_at: str | None = None
    note: str | None = None
    gds: str | None = None
    """The GDS version the server reports over Bolt (``gds.version()``), None without GDS."""

    def as_dict(self) -> dict:
        return asdict(self)


def _cache_root() -> Path:
    return Path(os.environ.get("GUANXI_CACHE", Path.home() / ".cache" / "guanxi"))


def cache_dir(version: str = NEO4J_VERSION) -> Path:
    return _cache_root() / f"neo4j-{version}"


def gds_cache_dir(version: str = GDS_VERSION) -> Path:
    return _cache_root() / f"gds-{version}"


def _launcher(java: str, lib: Path, timeout: float = 300.0) -> tuple[list[str], str]:
    """The launcher to run: the folder of its class, compiled once per source and JDK
    into the cache (``java File.java`` compiles it again at every start, 3-4 s on two
    cores), and its class; or no folder and its source, where the JDK has no ``javac``
    next to ``java``, the cache cannot hold it, or javac fails or takes over
    ``timeout`` seconds."""
    javac = Path(java).resolve().parent / "javac"
    if not javac.exists():
        return [], str(_LAUNCHER)
    # Compiled by this javac (a JDK replaced in place has another) against this Neo4j's
    # API: a new one of either compiles anew.
    made = javac.stat()
    key = hashlib.sha256(_LAUNCHER.read_bytes() + f"{javac}\n{made.st_mtime_ns}\n"
                         f"{made.st_size}\n{lib}".encode()).hexdigest()[:16]
    classes = _cache_root() / "launcher" / key
    if _compiled(classes):
        return [str(classes)], _LAUNCHER.stem
    tmp = None
    try:
        classes.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=classes.parent, prefix=f"{key}."))
        built = subprocess.run([str(javac), "-cp", f"{lib}/*", "-d", str(tmp), str(_LAUNCHER)],
                               capture_output=True, text=True, timeout=max(timeout, 1.0))
        if built.returncode == 0:
            (tmp / "sha256").write_text(_digest(tmp) + "\n")
            tmp.chmod(0o755)  # a shared cache: other users run it too
            if classes.exists():  # damaged (a truncated class): replaced
                shutil.rmtree(classes, ignore_errors=True)
            with contextlib.suppress(OSError):  # two starts at once: the first rename wins
                tmp.rename(classes)
    except (OSError, subprocess.TimeoutExpired):
        pass  # an unwritable cache, or a javac that hangs: the source runs as before
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if _compiled(classes):
        return [str(classes)], _LAUNCHER.stem
    return [], str(_LAUNCHER)


def _digest(classes: Path) -> str:
    return hashlib.sha256((classes / f"{_LAUNCHER.stem}.class").read_bytes()).hexdigest()


def _compiled(classes: Path) -> bool:
    """Whether ``classes`` holds the launcher's class as javac wrote it: a class cut
    short or overwritten would fail every start (``ClassFormatError``)."""
    try:
        return _digest(classes) == (classes / "sha256").read_text().strip()
    except OSError:
        return False


def _copy_dependencies(pom: Path, out: Path, what: str, *props: str) -> None:
    """``mvn dependency:copy-dependencies`` of ``pom`` into ``out``; ``ServerError`` if it fails.

    ``what`` ("Neo4j 5.26.30") names the download in the error.
    """
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServerError(
            f"Maven (mvn) is not on PATH; it is needed once to fetch {what}",
            "install it (e.g. `apt-get install maven`), or set NEO4J_URI to an existing server",
        )
    root = _cache_root()
    if root.exists() and not root.is_dir():
        raise ServerError(f"the cache {root} is not a folder",
                          "set GUANXI_CACHE to a folder (or unset it for ~/.cache/guanxi)")
    shutil.rmtree(out, ignore_errors=True)
    # MAVEN_ARGS (e.g. "-s settings.xml" for a mirror) is honoured as Maven 4 does.
    extra = os.environ.get("MAVEN_ARGS", "").split()
    cmd = [mvn, "-q", "-B", "-Dstyle.color=never", *extra, "-f", str(pom),
           "dependency:copy-dependencies",
           f"-DoutputDirectory={out}", *props]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "ERROR" in ln]
        reason = lines[0].strip() if lines else f"mvn exited with {proc.returncode}"
        raise ServerError(
            f"could not fetch {what} from Maven Central: {reason[:300]}",
            "check network access to Maven Central (or a mirror in ~/.m2/settings.xml) and retry",
        )


def ensure_jars(version: str = NEO4J_VERSION) -> Path:
    """The folder of Neo4j's jars, fetched by Maven on first use and reused after."""
    lib = cache_dir(version) / "lib"
    done = cache_dir(version) / ".complete"
    if done.exists():
        return lib
    tmp = cache_dir(version) / "lib.partial"
    _copy_dependencies(_SERVER_SRC / "pom.xml", tmp, f"Neo4j {version}",
                       f"-Dneo4j.version={version}")
    shutil.rmtree(lib, ignore_errors=True)
    tmp.rename(lib)
    done.write_text(version + "\n")
    return lib


def ensure_gds_jars(version: str = GDS_VERSION, neo4j_lib: Path | None = None) -> Path:
    """The folder of Graph Data Science's jars, fetched by Maven on first use and reused after.

    Maven resolves GDS without what it declares ``provided`` (Neo4j itself). What is
    left still holds third-party jars the server has in another version (jackson,
    caffeine, commons-text, ...); two copies of a class on one classpath break the
    start (a duplicated commons-text gives ``IllegalAccessError``), so each jar outside
    GDS's own group whose artifact the server's lib folder (``neo4j_lib``, by default
    :func:`ensure_jars`) already holds is left out. ``dropped.txt`` beside the folder
    lists them. ``ServerError`` when Maven is missing or cannot fetch.
    """
    home = gds_cache_dir(version)
    lib, done = home / "lib", home / ".complete"
    if done.exists():
        return lib
    neo4j_lib = neo4j_lib or ensure_jars()
    repo, staged = home / "repo.partial", home / "lib.partial"
    # The repository layout (group/path/artifact/version/file.jar) keeps each jar's
    # groupId, so GDS's own jars (one is called annotations-<v>.jar, like a jar of the
    # server's) are told from third-party ones by group, not by a guess at file names.
    _copy_dependencies(_GDS_POM, repo, f"Graph Data Science {version}",
                       f"-Dgds.version={version}", "-DexcludeScope=provided",
                       "-Dmdep.useRepositoryLayout=true")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    server_jars = [p.name for p in neo4j_lib.glob("*.jar")]
    dropped = []
    for jar in sorted(repo.rglob("*.jar")):
        *group_path, artifact, jar_version, _ = jar.relative_to(repo).parts
        group = ".".join(group_path)
        if not (group == _GDS_GROUP or group.startswith(_GDS_GROUP + ".")) \
                and _has_artifact(server_jars, artifact):
            dropped.append(f"{group}:{artifact}:{jar_version}")
            continue
        target = staged / jar.name
        if target.exists():  # one file name in two groups: keep both
            target = staged / f"{group}.{jar.name}"
        shutil.copy2(jar, target)
    shutil.rmtree(repo, ignore_errors=True)
    shutil.rmtree(lib, ignore_errors=True)
    staged.rename(lib)
    (home / "dropped.txt").write_text(
        "# third-party jars of GDS left out because the Neo4j server has them\n"
        + "".join(f"{d}\n" for d in dropped))
    done.write_text(version + "\n")
    return lib


def _has_artifact(jar_names: list[str], artifact: str) -> bool:
    """Whether a jar of ``artifact`` (in any version) is among ``jar_names``.

    Maven names copied jars ``<artifact>-<version>[-<classifier>].jar`` and versions
    start with a digit, so ``jackson-core`` matches ``jackson-core-2.18.2.jar`` but not
    ``jackson-core-asl-1.9.jar``.

    >>> _has_artifact(["jackson-core-2.18.2.jar", "netty-buffer-4.1.jar"], "jackson-core")
    True
    >>> _has_artifact(["jackson-core-asl-1.9.jar", "netty-buffer-4.1.jar"], "jackson-core")
    False
    >>> _has_artifact(["netty-buffer-4.1.jar"], "netty")
    False
    """
    pattern = re.compile(re.escape(artifact) + r"-\d")
    return any(pattern.match(name) for name in jar_names)


def java_binary() -> str:
    """Path of a Java 17+ runtime (``JAVA_HOME`` first, then PATH)."""
    home = os.environ.get("JAVA_HOME")
    fix_home = (f"point JAVA_HOME at a Java {MIN_JAVA}+ installation, or unset it to use "
                "`java` on PATH")
    if home and not (Path(home) / "bin" / "java").exists():
        raise ServerError(f"JAVA_HOME is {home}, which holds no bin/java", fix_home)
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java:
        raise ServerError(
            "Java was not found: JAVA_HOME is not set and there is no `java` on PATH",
            f"install Java {MIN_JAVA}+ (e.g. `apt-get install openjdk-17-jre-headless`)",
        )
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True)
    except OSError as exc:  # not executable, not a program
        raise ServerError(f"{java} cannot be run: {exc.strerror or exc}", fix_home) from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise ServerError(
            f"{java} is Java {major or 'of unknown version'}; Neo4j 5 needs Java {MIN_JAVA}+",
            f"install Java {MIN_JAVA}+ and point JAVA_HOME at it",
        )
    return java


# --- pid and state files ----------------------------------------------------


def _pid_file(data_dir: Path) -> Path:
    return data_dir / "server.pid"


def _log_file(data_dir: Path) -> Path:
    return data_dir / "logs" / "server.log"


_LAUNCH_MARK = "\n--- guanxi db start "
_READY_LINE = "guanxi-neo4j: started"
"""What the launcher prints once the password is set (graph/server/GuanxiNeo4j.java)."""


def _password_set(data_dir: Path) -> bool:
    """Whether the latest launch in ``data_dir`` has set the password, by its log.

    Bolt answers a moment before the launcher sets it, and three failed logins lock the
    user out for five seconds (Neo4j's default): asked too early, a first start waited
    6 s longer."""
    try:
        text = _log_file(data_dir).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True  # nothing to go by: ask Bolt
    at = text.rfind(_LAUNCH_MARK)
    if at < 0 or _READY_LINE in text[at:]:  # no marker (a replaced log): ask Bolt
        return True
    # A log edited by hand may have lost the line: after a minute, ask Bolt anyway.
    try:
        started = datetime.fromisoformat(_read_state(data_dir)["started_at"])
    except (KeyError, TypeError, ValueError):
        return True
    return (datetime.now(UTC) - started).total_seconds() > 60


def _our_process(pid: int, data_dir: Path) -> psutil.Process | None:
    """The live server process ``pid`` if it is our launcher for ``data_dir``."""
    if not _alive(pid):
        return None
    try:
        proc = psutil.Process(pid)
        cmdline = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    if any("GuanxiNeo4j" in arg for arg in cmdline) and str(data_dir) in cmdline:
        return proc
    return None  # a recycled pid now used by some other program


def _running(data_dir: Path, clear_stale: bool = True
             ) -> tuple[psutil.Process | None, str | None]:
    """The running server of ``data_dir``, and a note when a stale pid file was cleared.

    Only the holder of the data dir's lock may clear one (``clear_stale``)."""
    pid_path = _pid_file(data_dir)
    if not pid_path.exists():
        return None, None
    try:
        pid = int(pid_path.read_text().strip())
    except (OSError, ValueError):
        pid = -1
    proc = _our_process(pid, data_dir) if pid > 0 else None
    if proc is None and clear_stale:
        pid_path.unlink(missing_ok=True)
        return None, f"removed a stale pid file (pid {pid} is not a running guanxi Neo4j)"
    return proc, None


def is_running(data_dir: Path) -> bool:
    """Whether a guanxi Neo4j of ``data_dir`` runs (its pid file names a live one)."""
    return _running(data_dir, clear_stale=False)[0] is not None


def _read_state(data_dir: Path) -> dict:
    try:
        return json.loads(state_file(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _lock_file(data_dir: Path) -> Path:
    return data_dir / "start.lock"


def _lock_holder(data_dir: Path) -> str:
    try:
        return _lock_file(data_dir).read_text().strip() or "unknown"
    except OSError:
        return "unknown"


class _Busy(ServerError):
    """Another process holds the data directory's lock."""

    def __init__(self, data_dir: Path, holder: str, waited: float) -> None:
        super().__init__(f"another `guanxi db start` or `stop` (pid {holder}) still works on "
                         f"{data_dir} after {waited:.0f} s",
                         "wait for it to finish and run the command again")
        self.holder = holder


@contextlib.contextmanager
def _exclusive(data_dir: Path, wait: float) -> Iterator[None]:
    """Hold ``start.lock`` of ``data_dir``, waiting up to ``wait`` seconds for it.

    The kernel drops the lock when its holder exits, however it exits, so a
    crashed start never leaves the data directory locked.
    """
    path = _lock_file(data_dir)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ServerError(f"cannot open the lock file {path}: {exc.strerror}",
                          "fix the data directory's permissions or choose another with "
                          "--data-dir") from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _Busy(data_dir, _lock_holder(data_dir), wait) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the lock


# --- start / stop / status --------------------------------------------------


def _check_data_dir(data_dir: Path) -> None:
    if data_dir.is_symlink() and not data_dir.exists():
        raise ServerError(
            f"the data directory {data_dir} is a symlink to {os.readlink(data_dir)}, "
            "which leads nowhere (missing, or a loop)",
            "create the folder it points to, or choose another with --data-dir",
        )
    probe = data_dir
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ServerError(
            f"the data directory {data_dir} cannot be made: {probe} is not a folder",
            "choose another folder with --data-dir (or GUANXI_DATA_DIR)",
        )
    if not os.access(probe, os.R_OK | os.W_OK | os.X_OK):
        raise ServerError(
            f"the data directory {data_dir} is not readable and writable",
            "fix its permissions or choose another with --data-dir",
        )
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ServerError(
            f"cannot create the data directory {data_dir}: {exc.strerror}",
            "choose another with --data-dir",
        ) from None


def _check_port(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            owner = _port_owner(port)
            raise ServerError(
                f"port {port} on 127.0.0.1 is already in use{owner}",
                "pass --port with a free port, or stop the program that holds it",
            ) from None


def _port_owner(port: int) -> str:
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            listening = conn.status == psutil.CONN_LISTEN and conn.pid
            if listening and conn.laddr and conn.laddr.port == port:
                return f" by pid {conn.pid} ({psutil.Process(conn.pid).name()})"
    return ""


def _ensure_password(data_dir: Path) -> Path:
    path = password_file(data_dir)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(24) + "\n")
    os.chmod(path, 0o600)
    return path


def _write_conf(cfg: ServerConfig, gds_lib: Path | None = None) -> Path:
    import_dir = cfg.import_dir or cfg.data_dir / "import"
    import_dir.mkdir(parents=True, exist_ok=True)
    conf = cfg.data_dir / "neo4j.conf"
    conf.write_text(
        "\n".join([
            "# written by `guanxi db start` at every start; edit the command's options instead",
            "server.bolt.enabled=true",
            f"server.bolt.listen_address=127.0.0.1:{cfg.port}",
            f"server.bolt.advertised_address=127.0.0.1:{cfg.port}",
            "dbms.security.auth_enabled=true",
            f"server.memory.pagecache.size={cfg.pagecache}",
            f"server.directories.import={import_dir}",
            "dbms.security.allow_csv_import_from_file_urls=true",
            "db.tx_log.rotation.retention_policy=2 files",
            "dbms.usage_report.enabled=false",
            # GDS's jars are on the classpath too; Neo4j finds its procedures in the
            # plugin folder, and GDS needs unrestricted access to the kernel's API.
            *([f"server.directories.plugins={gds_lib}",
               "dbms.security.procedures.unrestricted=gds.*"] if gds_lib else []),
            "",
        ]),
        encoding="utf-8",
    )
    return conf


def start(cfg: ServerConfig, timeout: float = 180.0) -> ServerStatus:
    """Start the server in the background and wait until Bolt answers.

    Idempotent: when it already runs, returns its status with a note, and raises
    ``ServerError`` if an option given in ``cfg`` differs from the running server's.
    Waits (up to ``timeout``) for a start or stop of the same data dir that is under way.
    """
    data_dir = cfg.data_dir.absolute()
    _check_data_dir(data_dir)
    with _exclusive(data_dir, wait=timeout):
        proc, stale_note = _running(data_dir)
        if proc is not None:
            _check_same_options(cfg, data_dir)
            current = _answering(data_dir, proc, timeout)
            return ServerStatus(**{**current.as_dict(), "note": "already running"})
        cfg = ServerConfig(data_dir, cfg.port or DEFAULT_PORT, cfg.heap or DEFAULT_HEAP,
                           cfg.pagecache or DEFAULT_PAGECACHE,
                           (cfg.import_dir or data_dir / "import").absolute(),
                           cfg.gds is not False)
        launched = _launch(cfg, timeout)
        note = "; ".join(n for n in (stale_note, launched.note) if n) or None
        return replace(launched, note=note)


def _answering(data_dir: Path, proc: psutil.Process, timeout: float) -> ServerStatus:
    """The running ``proc``'s status once its Bolt answers. A start stopped before that
    (Ctrl-C) leaves the server starting: the next start waits for it as its own would."""
    deadline = time.monotonic() + timeout
    while True:
        current = _describe(data_dir, proc)
        if current.version:
            return current
        if not proc.is_running() or time.monotonic() > deadline:
            raise ServerError(
                f"Neo4j (pid {proc.pid}) in {data_dir} did not answer on {current.uri} "
                f"within {timeout:.0f} s",
                f"see {_log_file(data_dir)}; `guanxi db stop`, then `guanxi db start`, "
                "restarts it")
        time.sleep(0.5)


def _check_same_options(cfg: ServerConfig, data_dir: Path) -> None:
    """``ServerError`` naming each option given in ``cfg`` that the running server lacks."""
    state = _read_state(data_dir)
    asked = {"port": cfg.port, "heap": cfg.heap, "pagecache": cfg.pagecache,
             "import_dir": str(cfg.import_dir.absolute()) if cfg.import_dir else None}
    # Sizes compare without case (1G is 1g); a state file from before an option was
    # recorded cannot disagree with it.
    differ = [f"{name} {state[name]}, not {value}" for name, value in asked.items()
              if value is not None and name in state
              and str(state[name]).lower() != str(value).lower()]
    if cfg.gds is not None and "gds" in state and bool(state["gds"]) != cfg.gds:
        on_off = {True: "on", False: "off"}
        differ.append(f"Graph Data Science {on_off[bool(state['gds'])]}, not {on_off[cfg.gds]}")
    if differ:
        raise ServerError(
            f"Neo4j already runs in {data_dir} with {'; '.join(differ)}",
            "stop it first (`guanxi db stop`) to start it with other options",
        )


def _launch(cfg: ServerConfig, timeout: float) -> ServerStatus:
    """Run the launcher for ``cfg`` (every option set) and wait until Bolt answers."""
    data_dir = cfg.data_dir
    _check_port(cfg.port)
    java = java_binary()
    lib = ensure_jars()
    gds_lib, note = None, None
    if cfg.gds:
        try:
            gds_lib = ensure_gds_jars(neo4j_lib=lib)
        except ServerError as exc:
            # GDS is optional (graph/gds.py computes the same in Python): an offline
            # first start still gives a server, and says what it lacks.
            note = (f"started without Graph Data Science: {exc.message}; "
                    "the next `guanxi db start` tries again")
    pw = _ensure_password(data_dir)
    conf = _write_conf(cfg, gds_lib)
    log_path = _log_file(data_dir)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    begun = time.monotonic()
    # A first start compiles the launcher; a javac that hangs costs at most half the
    # start's time, and the source runs instead.
    classes, main = _launcher(java, lib, timeout / 2)
    timeout = max(timeout - (time.monotonic() - begun), 1.0)
    classpath = os.pathsep.join([*classes, f"{lib}/*", *([f"{gds_lib}/*"] if gds_lib else [])])
    cmd = [java, f"-Xmx{cfg.heap}", f"-Xms{cfg.heap}", "-XX:+UseG1GC",
           "-XX:+ExitOnOutOfMemoryError", "-Dfile.encoding=UTF-8",
           "-cp", classpath, main, str(data_dir), str(conf), str(pw)]
    with open(log_path, "ab") as log:
        log.write(f"{_LAUNCH_MARK}{datetime.now(UTC).isoformat()} ---\n".encode())
        log.flush()
        child = subprocess.Popen(cmd, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    _pid_file(data_dir).write_text(f"{child.pid}\n")
    state = {"pid": child.pid, "port": cfg.port, "heap": cfg.heap, "pagecache": cfg.pagecache,
             "import_dir": str(cfg.import_dir),
             "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
             "neo4j_version": NEO4J_VERSION,
             "gds": gds_lib is not None, "gds_version": GDS_VERSION if gds_lib else None}
    state_file(data_dir).write_text(json.dumps(state, indent=2), encoding="utf-8")
    version, gds = _wait_for_bolt(child, cfg.port, pw.read_text().strip(), data_dir, timeout,
                                  with_gds=gds_lib is not None)
    state["version"] = version
    state_file(data_dir).write_text(json.dumps(state, indent=2), encoding="utf-8")
    if gds_lib is not None and gds is None:
        note = (f"Graph Data Science {GDS_VERSION} was installed but does not answer; "
                f"see {data_dir}/logs/debug.log")
    return ServerStatus(True, str(data_dir), child.pid, f"bolt://127.0.0.1:{cfg.port}", version,
                        state["started_at"], note, gds)


class _Versions(NamedTuple):
    """What the server reports over Bolt at one moment."""

    neo4j: str | None
    """None: the server does not answer."""
    gds: str | None
    """None: no GDS, or not known yet (``gds_known``)."""
    gds_known: bool
    """False while the default database is not yet online to ask."""


_NO_PROCEDURE = "Neo.ClientError.Procedure.ProcedureNotFound"
GDS_VERSION_CYPHER = "CALL gds.version() YIELD gdsVersion RETURN gdsVersion AS version"
"""The GDS version of the server (``ProcedureNotFound`` where it has no GDS)."""


def _bolt_version(port: int, password: str) -> _Versions:
    """The Neo4j and GDS versions the server on ``port`` reports over Bolt."""
    from neo4j import GraphDatabase
    from neo4j.exceptions import DriverError, Neo4jError

    uri = f"bolt://127.0.0.1:{port}"
    try:
        # A plain session, not execute_query: its retries would hide a dead server.
        with uninterrupted(), \
                GraphDatabase.driver(uri, auth=("neo4j", password), connection_timeout=2) as drv:
            with drv.session(database="system") as session:
                version = session.run(load("server_version").text).single()["version"]
            try:
                # GDS's procedures live in the user databases, not in `system`.
                with drv.session() as session:
                    record = session.run(GDS_VERSION_CYPHER).single()
                return _Versions(version, record["version"] if record else None, True)
            except Neo4jError as exc:
                return _Versions(version, None, exc.code == _NO_PROCEDURE)
            except DriverError:
                return _Versions(version, None, False)
    except (DriverError, Neo4jError, OSError):
        return _Versions(None, None, False)


def _wait_for_bolt(child: subprocess.Popen, port: int, password: str, data_dir: Path,
                   timeout: float, with_gds: bool = False) -> tuple[str, str | None]:
    """Neo4j's and GDS's versions once Bolt answers (and, ``with_gds``, GDS too)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            _pid_file(data_dir).unlink(missing_ok=True)
            raise ServerError(
                f"Neo4j exited during start (code {child.returncode}); "
                f"last log lines:\n{_log_tail(data_dir)}",
                f"see {_log_file(data_dir)}"
                # GDS is the part most likely to break a start that used to work.
                + ("; `guanxi db start --no-gds` starts it without Graph Data Science"
                   if with_gds else ""),
            )
        if not _password_set(data_dir):
            time.sleep(0.2)
            continue
        version, gds, gds_known = _bolt_version(port, password)
        # With GDS, wait for the default database too, to report GDS's version (or
        # that it did not load); Bolt may answer a moment before that database does.
        if version and (gds_known or not with_gds or time.monotonic() > deadline - 1):
            return version, gds
        time.sleep(0.5)
    _terminate(child.pid)
    _pid_file(data_dir).unlink(missing_ok=True)
    raise ServerError(
        f"Neo4j did not answer on bolt://127.0.0.1:{port} within {timeout:.0f} s and was stopped; "
        f"last log lines:\n{_log_tail(data_dir)}",
        f"see {_log_file(data_dir)} and {data_dir}/logs/debug.log",
    )


def _log_tail(data_dir: Path, lines: int = 15) -> str:
    try:
        text = _log_file(data_dir).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    # Java's stack frames say where, not what: the messages ("Caused by: ...") stay.
    kept = [line for line in text.splitlines()
            if not re.match(r"\s+(at |\.\.\. \d+ more)", line)]
    return "\n".join(kept[-lines:])


def _terminate(pid: int, timeout: float = 60.0) -> bool:
    """SIGTERM (clean shutdown via the JVM's hook), then SIGKILL after ``timeout``.

    Returns True when the process ended within the timeout on its own.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while _alive(pid):
        time.sleep(0.1)
    return False


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (our own exited child) is reaped and counts as gone."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
        return True
    except psutil.NoSuchProcess:
        return False


def stop(data_dir: Path, timeout: float = 60.0) -> ServerStatus:
    """Shut the server down cleanly; idempotent (a stopped server stays stopped).

    Waits (up to ``timeout``) for a start of the same data dir that is under way,
    then stops what it started.
    """
    data_dir = data_dir.absolute()
    if not data_dir.is_dir():
        return ServerStatus(False, str(data_dir), note="not running")
    with _exclusive(data_dir, wait=timeout):
        proc, stale_note = _running(data_dir)
        if proc is None:
            return ServerStatus(False, str(data_dir), note=stale_note or "not running")
        clean = _terminate(proc.pid, timeout)
        _pid_file(data_dir).unlink(missing_ok=True)
    note = "stopped" if clean else f"did not stop within {timeout:.0f} s and was killed"
    return ServerStatus(False, str(data_dir), proc.pid, note=note)


def status(data_dir: Path) -> ServerStatus:
    """Running or stopped, with pid, Bolt URI and the version the server reports.

    While a start or stop holds the data dir's lock, a stale pid file is left to it
    (the start may be about to replace it) and the note says what is under way.
    """
    data_dir = data_dir.absolute()
    if not data_dir.is_dir():
        return ServerStatus(False, str(data_dir))
    try:
        with _exclusive(data_dir, wait=0):
            proc, note = _running(data_dir)
    except _Busy as busy:
        proc, _ = _running(data_dir, clear_stale=False)
        note = f"a `guanxi db start` or `stop` (pid {busy.holder}) is under way"
    except ServerError:  # a data dir this user may read but not write
        proc, note = _running(data_dir, clear_stale=False)
    if proc is None:
        return ServerStatus(False, str(data_dir), note=note)
    return _describe(data_dir, proc, note)


def _describe(data_dir: Path, proc: psutil.Process, note: str | None = None) -> ServerStatus:
    """The status of the running server ``proc``, asking its version over Bolt."""
    state = _read_state(data_dir)
    port = state.get("port", DEFAULT_PORT)
    version = gds = None
    if _password_set(data_dir):  # before that, a login only locks the user out
        with contextlib.suppress(OSError):
            version, gds, _ = _bolt_version(port, password_file(data_dir).read_text().strip())
    if not version:
        note = note or "the process runs but Bolt does not answer (starting, or stuck)"
    return ServerStatus(True, str(data_dir), proc.pid, f"bolt://127.0.0.1:{port}", version,
                        state.get("started_at"), note, gds)
