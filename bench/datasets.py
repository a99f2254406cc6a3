"""The benchmark's data sets, made once and kept between runs.

A data set is named by its shape and a version: a hash of the migrations (every file's
text, so an edited migration counts too), the generator's version and the shape. SQLite
data sets are files under bench/.data/ (ignored by git); PostgreSQL data sets are
databases named after the database of BENCH_POSTGRES_URL: `<database>_<shape>_<version>`.
A data set is made under a temporary name and renamed when complete, so an interrupted
run never leaves a half-made one; older versions of the same shape are dropped when a new
one is made.

The schema is made by `flask db upgrade`, the rows by bench.generate.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlalchemy as sa

from bench.generate import GENERATOR_VERSION, Shape, generate

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / ".data"

# The shapes: a run compares the small one with the large one.
SMALL = Shape("10k", invoicing_users=20, enrolments=10_000, tickets=10_000, companies=(1_000,))
LARGE = Shape(
    "1m",
    invoicing_users=2_000,
    enrolments=100_000,
    tickets=100_000,
    companies=(100_000, 1_000),
)
QUICK_LARGE = Shape(
    "100k", invoicing_users=200, enrolments=10_000, tickets=10_000, companies=(10_000, 1_000)
)


def version(shape: Shape) -> str:
    """The data set's version: changes with the migrations, the generator and the shape."""
    schema = hashlib.sha256()
    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        schema.update(path.name.encode() + b"\0" + path.read_bytes())
    key = json.dumps(
        {"schema": schema.hexdigest(), "generator": GENERATOR_VERSION, "shape": asdict(shape)}
    )
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def engine_url(url: str) -> str:
    """The SQLAlchemy URL of a database URL (PostgreSQL through psycopg 3, as the app)."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def upgrade(url: str) -> None:
    """Build the schema with `flask db upgrade`, as a deployment does."""
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench-schema"}
    env.pop("FLASK_ENV", None)
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{done.stderr[-3000:]}")


class SqliteStore:
    """Data sets as SQLite files under bench/.data/."""

    label = "SQLite"
    kind = "sqlite"

    def __init__(self, directory: Path = DATA_DIR) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.sqlite3"

    def url(self, name: str) -> str:
        return f"sqlite:///{self.path(name)}"

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def create(self, name: str) -> None:
        self.drop(name)

    def drop(self, name: str) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{self.path(name)}{suffix}").unlink(missing_ok=True)

    def rename(self, old: str, new: str) -> None:
        os.replace(self.path(old), self.path(new))

    def copy(self, source: str, target: str) -> None:
        self.drop(target)
        shutil.copyfile(self.path(source), self.path(target))

    def names(self) -> list[str]:
        return [p.name.removesuffix(".sqlite3") for p in self.directory.glob("*.sqlite3")]

    def describe(self, name: str) -> str:
        return f"bench/.data/{name}.sqlite3"


class PostgresStore:
    """Data sets as databases beside the one of BENCH_POSTGRES_URL, named after it."""

    label = "PostgreSQL"
    kind = "postgresql"

    def __init__(self, url: str) -> None:
        self.base = sa.engine.make_url(engine_url(url))
        self.prefix = self.base.database or "bench"
        self.admin = sa.create_engine(
            self.base, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
        )

    def database(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    def url(self, name: str) -> str:
        url = self.base.set(drivername="postgresql", database=self.database(name))
        return url.render_as_string(hide_password=False)

    def _run(self, statement: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(statement)

    def exists(self, name: str) -> bool:
        with self.admin.connect() as conn:
            return bool(
                conn.scalar(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                    {"name": self.database(name)},
                )
            )

    def create(self, name: str) -> None:
        self.drop(name)
        self._run(f'CREATE DATABASE "{self.database(name)}"')

    def drop(self, name: str) -> None:
        self._run(f'DROP DATABASE IF EXISTS "{self.database(name)}" WITH (FORCE)')

    def rename(self, old: str, new: str) -> None:
        self._run(f'ALTER DATABASE "{self.database(old)}" RENAME TO "{self.database(new)}"')

    def copy(self, source: str, target: str) -> None:
        self.drop(target)
        self._run(f'CREATE DATABASE "{self.database(target)}" TEMPLATE "{self.database(source)}"')

    def names(self) -> list[str]:
        with self.admin.connect() as conn:
            names = conn.scalars(sa.text("SELECT datname FROM pg_database")).all()
        start = f"{self.prefix}_"
        return [n.removeprefix(start) for n in names if n.startswith(start)]

    def describe(self, name: str) -> str:
        return f"database {self.database(name)}"


Store = SqliteStore | PostgresStore


@dataclass
class DataSet:
    shape: Shape
    name: str
    url: str
    where: str
    generated_now: bool
    seconds: float  # how long its generation took
    generated_at: str


def _meta(url: str) -> dict[str, str]:
    engine = sa.create_engine(engine_url(url), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sa.text("SELECT key, value FROM bench_dataset")).all())
    finally:
        engine.dispose()


def ensure(store: Store, shape: Shape, log=print) -> DataSet:
    """The current data set of the shape: the cached one, or one made now."""
    name = f"{shape.name}_{version(shape)}"
    generated_now = False
    if not store.exists(name):
        partial = f"{name}_partial"
        log(f"  making the {shape.name} data set in {store.label} ({store.describe(name)}) …")
        started = time.perf_counter()
        store.create(partial)
        upgrade(store.url(partial))
        schema = time.perf_counter() - started
        log(f"    schema    {schema:6.1f} s (flask db upgrade)")
        engine = sa.create_engine(engine_url(store.url(partial)), poolclass=sa.NullPool)
        try:
            rows = generate(engine, shape, log=log)
            with engine.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE bench_dataset (key VARCHAR(40), value TEXT)")
                conn.execute(
                    sa.text("INSERT INTO bench_dataset (key, value) VALUES (:key, :value)"),
                    [
                        {"key": "seconds", "value": f"{schema + rows:.1f}"},
                        {
                            "key": "generated_at",
                            "value": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                        },
                    ],
                )
        finally:
            engine.dispose()
        store.rename(partial, name)
        generated_now = True
        _drop_older(store, shape, keep=name)
    meta = _meta(store.url(name))
    return DataSet(
        shape=shape,
        name=name,
        url=store.url(name),
        where=store.describe(name),
        generated_now=generated_now,
        seconds=float(meta.get("seconds", "0")),
        generated_at=meta.get("generated_at", "?"),
    )


def _drop_older(store: Store, shape: Shape, keep: str) -> None:
    pattern = re.compile(rf"{re.escape(shape.name)}_[0-9a-f]{{8}}(_partial)?")
    for name in store.names():
        if name != keep and pattern.fullmatch(name):
            store.drop(name)


def working_copy(store: Store, dataset: DataSet) -> str:
    """A fresh copy of the data set for a run that writes (the submissions); its URL."""
    name = f"{dataset.shape.name}_work"
    store.copy(dataset.name, name)
    return store.url(name)
