"""Which database a ``quietline relay`` command uses, and whether it can use it.

Every relay command (``serve``, ``migrate``, ``add-program``, ``audit``, ``export``)
resolves its database the same way, first match wins:

1. ``--database-url URL``;
2. ``--data-dir DIR``: the SQLite file ``DIR/relay.db``;
3. ``$QUIETLINE_DATABASE_URL``;
4. ``$QUIETLINE_DATA_DIR``: the SQLite file ``$QUIETLINE_DATA_DIR/relay.db``;
5. the default data directory, ``$XDG_DATA_HOME/quietline/relay`` (when
   ``XDG_DATA_HOME`` is an absolute path), else ``~/.local/share/quietline/relay``.

So ``add-program`` run from any folder finds the database ``serve`` created, and a
command pointed at a database no relay created says so instead of making an empty one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

DATABASE_URL_ENV = "QUIETLINE_DATABASE_URL"
DATA_DIR_ENV = "QUIETLINE_DATA_DIR"
DATABASE_FILE = "relay.db"

# The module a driver imports, and the package that provides it.
_PACKAGES = {
    "asyncpg": "asyncpg",
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "aiosqlite": "aiosqlite",
    "aiomysql": "aiomysql",
    "asyncmy": "asyncmy",
    "pymysql": "PyMySQL",
    "MySQLdb": "mysqlclient",
    "oracledb": "oracledb",
}
# The relay's writer runs on the synchronous twin of the URL's driver (server.db).
_WRITER_DRIVERS = {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+psycopg"}


class DatabaseProblem(Exception):
    """The database cannot be used as asked; the message is one line for the operator."""


@dataclass(frozen=True)
class Location:
    """A resolved database: its URL, where the choice came from, its SQLite file if any."""

    url: str
    source: str
    sqlite_path: Path | None

    def describe(self) -> str:
        """The database in words, a password never shown."""
        where = (
            str(self.sqlite_path)
            if self.sqlite_path is not None
            else make_url(self.url).render_as_string(hide_password=True)
        )
        return f"{where} (from {self.source})"


def default_data_dir(environ: Mapping[str, str]) -> Path:
    xdg = environ.get("XDG_DATA_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "quietline" / "relay"
    home = environ.get("HOME") or str(Path.home())
    return Path(home) / ".local" / "share" / "quietline" / "relay"


def _sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory.expanduser().absolute() / DATABASE_FILE}"


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise DatabaseProblem(
            "the database URL is not a URL SQLAlchemy can read "
            "(e.g. sqlite+aiosqlite:///path/relay.db)"
        ) from None


def resolve(
    database_url: str | None, data_dir: str | None, environ: Mapping[str, str] | None = None
) -> Location:
    """The database a command uses (the order is in this module's docstring)."""
    env = os.environ if environ is None else environ
    if database_url and data_dir:
        raise DatabaseProblem("give --database-url or --data-dir, not both")
    if database_url:
        url, source = database_url, "--database-url"
    elif data_dir:
        url, source = _sqlite_url(Path(data_dir)), "--data-dir"
    elif env.get(DATABASE_URL_ENV):
        url, source = env[DATABASE_URL_ENV], "$" + DATABASE_URL_ENV
    elif env.get(DATA_DIR_ENV):
        url, source = _sqlite_url(Path(env[DATA_DIR_ENV])), "$" + DATA_DIR_ENV
    else:
        url, source = _sqlite_url(default_data_dir(env)), "the default data directory"
    parsed = _parse(url)
    path = None
    if parsed.get_backend_name() == "sqlite":
        name = parsed.database or ""
        if not name or name == ":memory:" or name.startswith("file:"):
            raise DatabaseProblem("the relay's SQLite database must be a file path")
        path = Path(name).absolute()
    return Location(url, source, path)


def check_driver(url: str, *, writer: bool = False) -> None:
    """Refuse, in one line naming the package to install, a URL whose driver is missing
    (``writer``: the synchronous driver of the relay's writer too)."""
    parsed = _parse(url)
    urls = [parsed]
    backend = parsed.get_backend_name()
    if writer and backend in _WRITER_DRIVERS:
        urls.append(parsed.set(drivername=_WRITER_DRIVERS[backend]))
    for each in urls:
        try:
            dialect = each.get_dialect()
        except NoSuchModuleError:
            raise DatabaseProblem(
                f"the database URL names {each.drivername!r}, a kind of database "
                "SQLAlchemy does not know"
            ) from None
        if each is parsed and not getattr(dialect, "is_async", False):
            raise DatabaseProblem(
                f"the database URL needs an asyncio driver ({each.drivername} is not one), "
                "e.g. sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        try:
            dialect.import_dbapi()
        except ImportError as exc:
            module = (exc.name or "").split(".")[0] or each.get_driver_name()
            package = _PACKAGES.get(module, module)
            raise DatabaseProblem(
                f"the database URL ({each.drivername}) needs the Python package "
                f"{package!r}, which is not installed: pip install '{package}'"
            ) from None
