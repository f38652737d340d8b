"""Backups of the database and the data directory together, and restores.

A backup is one archive (`.tar.gz`) or one directory holding:

    manifest.json        rerate version, alembic revision, creation instant, dialect,
                         the database file's and every data file's size and SHA-256
    database.sqlite3     SQLite: a copy taken with SQLite's online backup API
    database.pgdump      PostgreSQL: `pg_dump --format=custom`
    data/<path>          every file of the data directory (usage, runs, diffs)

Consistency without stopping anything: the database is snapshotted first, the
data directory copied after. rerate writes a file (synced, renamed into place)
before it commits the row that refers to it, never edits a file afterwards and
deletes only files no row refers to (docs/operations.md, "Backups"). So every
file the snapshot refers to existed before the snapshot and is still there when
the files are copied; what committed after the snapshot leaves files in the
backup that its database does not know: orphans, which readers ignore and
`rerate check --repair` removes. No lock is held, so publishing, imports and
the workers carry on during a backup. The other order could lose data: a run
published between copying the files and the snapshot would be current in the
restored database with no files behind it.

SQLite is copied through its online backup API (a plain copy of a live file,
with its WAL, can be torn); PostgreSQL through `pg_dump`, which reads one
snapshot of the whole database (it must be on PATH, at the server's major
version or newer).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

import rerate
from rerate.kit.db import make_engine
from rerate.kit.errors import Conflict, Invalid, RerateError

FORMAT = "rerate-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATA = "data"
BACKUPS_FOLDER = "backups"
"""`<data dir>/backups/`: where backups go by default; never itself backed up."""

_SQLITE_FILE = "database.sqlite3"
_PG_FILE = "database.pgdump"
_SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


class BackupError(RerateError):
    """A backup or restore could not be made; the detail says why and what to do."""

    status_code = 409


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    manifest: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RestoreResult:
    revision: str | None
    files: int
    removed: int
    relocated_runs: int
    notes: list[str] = field(default_factory=list)


# --- revisions ---------------------------------------------------------------------------


def current_revision(url: str) -> str | None:
    """The database's alembic revision; None for a database never migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
            return None if revision is None else str(revision)
    finally:
        engine.dispose()


def _script(url: str) -> Any:
    from alembic.script import ScriptDirectory

    from rerate.kit.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config(url))


def head_revision(url: str) -> str:
    head: str = _script(url).get_current_head()
    return head


def is_known_revision(url: str, revision: str) -> bool:
    """Whether this version's migrations know `revision` (an unknown one was
    written by a newer rerate)."""
    from alembic.util import CommandError

    try:
        return _script(url).get_revision(revision) is not None
    except CommandError:
        return False


def pending_migration(url: str, target: str = "head") -> bool:
    """True when `rerate db upgrade <target>` would change an existing schema
    (a database never migrated has nothing worth backing up)."""
    current = current_revision(url)
    if current is None:
        return False
    wanted = head_revision(url) if target == "head" else target
    return current != wanted


# --- backup ------------------------------------------------------------------------------


def default_path(data_dir: Path, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Path(data_dir).resolve() / BACKUPS_FOLDER / f"rerate-{stamp}.tar.gz"


def is_archive(path: Path) -> bool:
    return path.name.endswith((".tar.gz", ".tgz"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise Invalid("an in-memory SQLite database cannot be backed up")
    return Path(parsed.database).resolve()


def _excluded(data_dir: Path, url: str, out: Path | None) -> set[Path]:
    """Paths under the data directory that are not data: the SQLite files
    (backed up through the API), the backups folder, the backup being written."""
    skip = {data_dir / BACKUPS_FOLDER}
    db_file = _sqlite_path(url)
    if db_file is not None:
        skip |= {Path(f"{db_file}{suffix}") for suffix in _SQLITE_SUFFIXES}
    if out is not None:
        skip |= {out, Path(f"{out}.partial")}
    return skip


def data_files(data_dir: Path, skip: set[Path]) -> Iterator[tuple[str, Path]]:
    """(relative name, path) of every data file, sorted. Hidden entries are
    skipped: they are files being written (a run's staging directory, an
    import's temporary file) or the import lock, none of them data yet."""
    for root, dirs, files in os.walk(data_dir):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and here / d not in skip)
        for name in sorted(files):
            path = here / name
            if name.startswith(".") or path in skip or not path.is_file():
                continue
            yield path.relative_to(data_dir).as_posix(), path


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL for pg_dump/pg_restore (no SQLAlchemy driver suffix) and an
    environment carrying the password (kept off the command line, which `ps`
    shows to every user)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not on PATH: backups of a PostgreSQL database need the PostgreSQL client "
            "tools (Debian: apt install postgresql-client), at the server's major version or newer"
        )
    return found


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tool = Path(args[0]).name
        message = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(f"{tool} failed: {message[-1] if message else done.returncode}")


def _snapshot_database(url: str, folder: Path) -> tuple[str, str, str | None]:
    """Write the database snapshot into `folder`: (dialect, file name, revision)."""
    db_file = _sqlite_path(url)
    if db_file is not None:
        if not db_file.exists():
            raise BackupError(f"no SQLite database at {db_file}")
        target = folder / _SQLITE_FILE
        src = sqlite3.connect(f"{db_file.as_uri()}?mode=ro", uri=True)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # one consistent snapshot, whatever writers do meanwhile
        finally:
            dst.close()
            src.close()
        check = sqlite3.connect(target)
        try:
            row = check.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name='alembic_version'"
            ).fetchone()
            revision = (
                check.execute("SELECT version_num FROM alembic_version").fetchone()[0]
                if row
                else None
            )
        finally:
            check.close()
        return "sqlite", _SQLITE_FILE, revision
    if not make_url(url).drivername.startswith("postgresql"):
        raise Invalid(f"backups support SQLite and PostgreSQL, not {make_url(url).drivername}")
    before = current_revision(url)
    target = folder / _PG_FILE
    dsn, env = _libpq(url)
    _run([_tool("pg_dump"), "--format=custom", "--no-password", f"--file={target}", dsn], env)
    after = current_revision(url)
    if before != after:  # a migration ran while pg_dump read: which schema is it?
        raise BackupError(
            f"the schema changed during the backup ({before} -> {after}); take it again"
        )
    return "postgresql", _PG_FILE, before


def create_backup(url: str, data_dir: Path, out: Path | None = None) -> BackupResult:
    """Back up the database, then the data directory, into `out` (a `.tar.gz`
    archive, or else a directory); default `<data dir>/backups/rerate-<UTC>.tar.gz`."""
    data_dir = Path(data_dir).resolve()
    out = (Path(out) if out else default_path(data_dir)).resolve()
    if out.exists():
        raise BackupError(f"{out} exists already; name a new file or directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(f"{out}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        # 1. the database snapshot, 2. the files (see the module docstring).
        dialect, db_name, revision = _snapshot_database(url, staging)
        files: dict[str, dict[str, Any]] = {}
        skip = _excluded(data_dir, url, out)
        for name, path in data_files(data_dir, skip):
            target = staging / DATA / name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                _copy(path, target, link=is_archive(out))
            except FileNotFoundError:
                continue  # an orphan swept meanwhile: nothing the snapshot refers to
            files[name] = _entry(target)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "rerate_version": rerate.__version__,
            "alembic_revision": revision,
            "created_at": datetime.now(UTC).isoformat(),
            "dialect": dialect,
            "data_dir": str(data_dir),
            "database": {"file": db_name, **_entry(staging / db_name)},
            "files": files,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        if is_archive(out):
            _write_archive(staging, out)
            shutil.rmtree(staging)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        Path(f"{out}.tmp").unlink(missing_ok=True)
        raise
    return BackupResult(out, manifest)


def _copy(source: Path, target: Path, *, link: bool) -> None:
    """Data files are immutable, so a staging area that is about to be archived
    may hard-link them (no copy); a directory backup gets real copies, so that
    it does not share its bytes with the live files."""
    if link:
        try:
            os.link(source, target)
            return
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise
    shutil.copy2(source, target)


def _write_archive(staging: Path, out: Path) -> None:
    tmp = Path(f"{out}.tmp")
    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        tar.add(staging / MANIFEST, arcname=MANIFEST)  # first: readable without the rest
        for entry in sorted(staging.iterdir()):
            if entry.name != MANIFEST:
                tar.add(entry, arcname=entry.name)
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, out)


# --- restore -----------------------------------------------------------------------------


def read_manifest(source: Path) -> dict[str, Any]:
    """The manifest of a backup archive or directory, checked for its format."""
    source = Path(source)
    if not source.exists():
        raise Invalid(f"no backup at {source}")
    try:
        if source.is_dir():
            data = json.loads((source / MANIFEST).read_text())
        else:
            with tarfile.open(source, "r:*") as tar:
                member = tar.extractfile(MANIFEST)
                if member is None:
                    raise KeyError(MANIFEST)
                data = json.loads(member.read())
    except (OSError, KeyError, ValueError, tarfile.TarError) as exc:
        raise Invalid(f"{source} is not a rerate backup (no readable {MANIFEST})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise Invalid(f"{source} is not a rerate backup")
    if data.get("format_version") != FORMAT_VERSION:
        raise Invalid(
            f"{source} is a backup of format {data.get('format_version')}; this rerate reads "
            f"format {FORMAT_VERSION}"
        )
    return data


def _unpack(source: Path, into: Path) -> Path:
    if source.is_dir():
        return source
    with tarfile.open(source, "r:*") as tar:
        tar.extractall(into, filter="data")  # no absolute paths, no escaping links
    return into


def _verify(root: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists, with its size and SHA-256: a damaged
    backup is refused before anything is overwritten."""
    listed = {manifest["database"]["file"]: manifest["database"]}
    listed |= {f"{DATA}/{name}": entry for name, entry in manifest["files"].items()}
    for name, entry in listed.items():
        path = root / name
        if not path.is_file():
            raise BackupError(f"the backup is incomplete: {name} is missing")
        if path.stat().st_size != entry["bytes"] or _sha256(path) != entry["sha256"]:
            raise BackupError(f"the backup is damaged: {name} does not match its checksum")


def _has_rows(url: str) -> bool:
    from rerate.models import Base

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            for table in Base.metadata.sorted_tables:
                if (
                    table.name in present
                    and conn.execute(text(f'SELECT 1 FROM "{table.name}" LIMIT 1')).first()
                ):
                    return True
        return False
    finally:
        engine.dispose()


def restore_backup(
    url: str, data_dir: Path, source: Path, *, overwrite: bool = False
) -> RestoreResult:
    """Replace the database and the data directory with the backup's.

    Refused: a backup of another dialect, one written by a newer rerate (its
    revision is unknown to these migrations), a damaged one, and, without
    `overwrite`, a target database that holds rows or a data directory that
    holds files. Stop `serve` and the workers first.
    """
    source = Path(source).resolve()
    data_dir = Path(data_dir).resolve()
    manifest = read_manifest(source)
    dialect = "sqlite" if _sqlite_path(url) is not None else "postgresql"
    if manifest["dialect"] != dialect:
        raise Invalid(
            f"this backup is of a {manifest['dialect']} database; the configured database is "
            f"{dialect}"
        )
    revision = manifest.get("alembic_revision")
    if revision is not None and not is_known_revision(url, revision):
        raise Invalid(
            f"the backup's schema revision {revision} is newer than this rerate "
            f"({rerate.__version__}, head {head_revision(url)}) knows; restore it with the "
            f"version that wrote it ({manifest.get('rerate_version')}) or newer"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    skip = _excluded(data_dir, url, None)
    present = [name for name, _ in data_files(data_dir, skip)]
    if not overwrite and (_has_rows(url) or present):
        raise Conflict(
            "the database or the data directory is not empty; restoring replaces them "
            "(confirm with --yes)"
        )
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=data_dir) as tmp:
        root = _unpack(source, Path(tmp))
        _verify(root, manifest)
        _restore_database(url, root / manifest["database"]["file"], dialect)
        wanted = set(manifest["files"])
        removed = 0
        for name, path in data_files(data_dir, skip | {Path(tmp)}):
            if name not in wanted:
                path.unlink()  # written after the backup: nothing restored refers to it
                removed += 1
        for name in sorted(wanted):
            target = data_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.restore")
            shutil.copy2(root / DATA / name, partial)
            os.replace(partial, target)
    relocated = _relocate_runs(url, Path(manifest["data_dir"]), data_dir)
    if relocated:
        notes.append(
            f"{relocated} billing runs pointed at {manifest['data_dir']}; now at {data_dir}"
        )
    if revision is not None and revision != head_revision(url):
        notes.append(f"the backup is at revision {revision}: run `rerate db upgrade`")
    return RestoreResult(revision, len(wanted), removed, relocated, notes)


def _restore_database(url: str, dump: Path, dialect: str) -> None:
    if dialect == "sqlite":
        db_file = _sqlite_path(url)
        assert db_file is not None
        db_file.parent.mkdir(parents=True, exist_ok=True)
        src = sqlite3.connect(f"{dump.as_uri()}?mode=ro", uri=True)
        dst = sqlite3.connect(db_file)
        try:
            # Page by page under SQLite's own lock (WAL included), not a file
            # copy over a database another process may have open.
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        return
    _drop_schema_objects(url)
    dsn, env = _libpq(url)
    _run(
        [
            _tool("pg_restore"),
            "--no-owner",  # the restoring role owns what it creates
            "--no-acl",  # grants: `rerate db grant-app-role` after the restore
            "--no-comments",  # COMMENT ON EXTENSION needs a superuser
            "--exit-on-error",
            "--single-transaction",
            "--no-password",
            f"--dbname={dsn}",
            str(dump),
        ],
        env,
    )


def _drop_schema_objects(url: str) -> None:
    """Empty the current schema of rerate's objects (tables, sequences, views,
    functions), so that pg_restore recreates exactly the backup's schema, even
    when the database was upgraded past it. Extensions and their objects stay."""
    engine = make_engine(url)
    member = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"
    try:
        with engine.begin() as conn:
            for (name,) in conn.execute(
                text(
                    "SELECT c.oid::regclass::text FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm') "
                    f"AND {member.format(oid='c.oid')}"
                )
            ):
                conn.execute(text(f"DROP TABLE IF EXISTS {name} CASCADE"))
            for (name,) in conn.execute(
                text(
                    "SELECT c.oid::regclass::text FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relkind = 'S' "
                    f"AND {member.format(oid='c.oid')}"
                )
            ):
                conn.execute(text(f"DROP SEQUENCE IF EXISTS {name} CASCADE"))
            for (signature,) in conn.execute(
                text(
                    "SELECT p.oid::regprocedure::text FROM pg_proc p "
                    "JOIN pg_namespace n ON n.oid = p.pronamespace "
                    f"WHERE n.nspname = current_schema() AND {member.format(oid='p.oid')}"
                )
            ):
                conn.execute(text(f"DROP FUNCTION IF EXISTS {signature} CASCADE"))
    finally:
        engine.dispose()


def _relocate_runs(url: str, old: Path, new: Path) -> int:
    """Billing runs record their directory's absolute path: a backup restored
    into another data directory (a test copy of production) points them there."""
    if old == new:
        return 0
    from sqlalchemy import select, update

    from rerate.models import BillingRun

    engine = make_engine(url)
    prefix = f"{old}/"
    moved = 0
    try:
        with engine.begin() as conn:
            rows = conn.execute(
                select(BillingRun.id, BillingRun.path).where(
                    BillingRun.path.startswith(prefix, autoescape=True)
                )
            ).all()
            for run_id, path in rows:
                conn.execute(
                    update(BillingRun)
                    .where(BillingRun.id == run_id)
                    .values(path=f"{new}/{path[len(prefix) :]}")
                )
                moved += 1
    finally:
        engine.dispose()
    return moved
