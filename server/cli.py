"""``quietline relay {serve,migrate,add-program,audit,export}``.

Every subcommand finds its database the same way (``--database-url``, ``--data-dir``,
``$QUIETLINE_DATABASE_URL``, ``$QUIETLINE_DATA_DIR``, else the default data directory:
:mod:`server.location`) and says on standard error which one it uses. Only ``serve`` and
``migrate upgrade`` create a database; the others refuse one no relay has created. A
database driver that is not installed, or any other problem with the database, is one
line on standard error and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import secrets
import sys
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from e2ee.encoding import b64u_encode
from server import migrate
from server.db import is_sqlite
from server.location import DATA_DIR_ENV, DatabaseProblem, Location, check_driver, resolve
from server.settings import Settings

LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    # No time, no address, no request line: a log line says what happened, not who or when.
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "uvicorn.error": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        "quietline": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def _settings(args: argparse.Namespace, **extra: object) -> Settings:
    overrides: dict[str, object] = {"database_url": args.location.url, **extra}
    return Settings.from_env(environ=None, **overrides)


def _create_parent(location: Location) -> None:
    """The data directory of a SQLite database, made readable by its owner only."""
    if location.sqlite_path is not None:
        location.sqlite_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)


def _existing_schema(location: Location) -> migrate.SchemaState:
    """The schema of a database a relay created; refuse anything else, creating nothing."""
    advice = (
        "Start the relay with `quietline relay serve` (or create its database with "
        "`quietline relay migrate`), or name the relay's database with --data-dir or "
        "--database-url"
    )
    if location.sqlite_path is not None and not location.sqlite_path.is_file():
        raise DatabaseProblem(
            f"no relay database at {location.describe()}: no relay has created one there. " + advice
        )
    state = migrate.schema_state(location.url)
    if state.revision is None:
        raise DatabaseProblem(
            f"the database at {location.describe()} holds no relay tables: no relay has "
            "created them there. " + advice
        )
    return state


def _require_head(location: Location) -> None:
    state = _existing_schema(location)
    head = migrate.head_revision()
    if state.revision != head:
        raise DatabaseProblem(
            f"the database at {location.describe()} has schema revision {state.revision}, "
            f"not the latest ({head}): run `quietline relay migrate` first"
        )


def tune_gc(settings: Settings) -> None:
    """The serving process's collector thresholds (see ``Settings.gc_young_threshold``)."""
    _young, older, oldest = gc.get_threshold()
    gc.set_threshold(settings.gc_young_threshold, older, oldest)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app
    from server.guard import ConnectionGuard, protocols

    origin = args.public_origin or f"http://{args.host}:{args.port}"
    proxies = ",".join(args.trusted_proxy) if args.trusted_proxy else None
    settings = _settings(
        args,
        public_origin=origin,
        trusted_proxy=proxies,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        broker_url=args.broker_url,
    )
    _create_parent(args.location)
    if settings.broker_url:
        from server.fanout import check_reachable

        check_reachable(settings.broker_url)
    migrate.upgrade(settings.database_url)
    # With writer_in_thread (always on a database server), the writer thread and the
    # event loop hand the GIL back and forth for every statement; the default 5 ms
    # switch interval would add that much.
    if settings.writer_in_thread or not is_sqlite(settings.database_url):
        sys.setswitchinterval(0.0005)
    tune_gc(settings)
    guard = ConnectionGuard(settings)
    http_protocol, ws_protocol = protocols(guard)
    metrics_socket = None
    if settings.metrics_port:
        from server.metrics import listen

        metrics_socket = listen(settings.metrics_host, settings.metrics_port)
    print(
        f"quietline relay: serving on http://{args.host}:{args.port} "
        f"(at most {guard.max_total} connections)",
        file=sys.stderr,
        flush=True,
    )
    if metrics_socket is not None:
        host = settings.metrics_host
        host = f"[{host}]" if ":" in host else host
        print(
            f"quietline relay: metrics on http://{host}:{settings.metrics_port}/metrics",
            file=sys.stderr,
            flush=True,
        )
    uvicorn.run(
        create_app(settings, guard=guard, metrics_socket=metrics_socket),
        http=http_protocol,
        ws=ws_protocol,
        timeout_keep_alive=settings.keep_alive_seconds,
        host=args.host,
        port=args.port,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        date_header=False,
        ws_per_message_deflate=False,
        ws_max_size=settings.max_ws_frame,
        log_config=LOG_CONFIG,
        lifespan="on",
        loop="auto",  # uvloop (a dependency) where installed, else asyncio's own loop
    )
    return 0


def _downgrade(args: argparse.Namespace, settings: Settings) -> int:
    """Undo schema revisions: only with ``--yes``, after saying what that deletes."""
    revision = args.revision or "base"
    state = _existing_schema(args.location)
    assert state.revision is not None
    undone = migrate.revisions_between(state.revision, revision)
    if not undone:
        print(f"nothing to undo: the database is at {state.revision}")
        return 0
    names = ", ".join(f"{rev} ({doc})" if doc else rev for rev, doc, _ in undone)
    deleted = [deletes for _, _, deletes in undone if deletes]
    what = (
        f"every table of the relay ({', '.join(state.tables)}) with every row in them: "
        "enrolled programs, their keys, profiles and statuses, enrollment tokens, "
        "conversations and undelivered messages"
        if revision == "base"
        else "; ".join(deleted)
        if deleted
        else "nothing"
    )
    if not args.yes:
        print(
            f"quietline relay: `migrate downgrade {revision}` undoes {names} on "
            f"{args.location.describe()} and deletes {what}; nothing was changed. "
            "Run it again with --yes to do it.",
            file=sys.stderr,
        )
        return 2
    try:
        migrate.downgrade(settings.database_url, revision)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0]
        # PostgreSQL runs the whole downgrade in one transaction (DDL included)
        unchanged = "" if is_sqlite(settings.database_url) else ", and nothing was changed"
        print(
            f"quietline relay: the database refused `migrate downgrade {revision}`"
            f"{unchanged}: {reason}",
            file=sys.stderr,
        )
        return 2
    print(f"migrated: downgrade {revision} (undid {names})")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.direction == "downgrade":
        return _downgrade(args, settings)
    revision = args.revision or "head"
    _create_parent(args.location)
    migrate.upgrade(settings.database_url, revision)
    print(f"migrated: upgrade {revision}")
    return 0


async def _add_token(url: str, digest: bytes) -> None:
    from server import db, storage

    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(storage.add_enrollment_token, digest, int(time.time()))
    finally:
        await engine.dispose()


def cmd_add_program(args: argparse.Namespace) -> int:
    from server.relay import token_hash

    settings = _settings(args)
    _require_head(args.location)
    token = b64u_encode(secrets.token_bytes(32))
    while token.startswith("-"):  # a leading '-' reads as an option on a command line
        token = b64u_encode(secrets.token_bytes(32))
    asyncio.run(_add_token(settings.database_url, token_hash(token)))
    if args.json:
        print(json.dumps({"enrollment_token": token}))
    else:
        print("One-time enrollment token (shown once; the relay keeps only its hash):")
        print(token)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from server.audit import format_report, run_audit

    settings = _settings(args)
    _existing_schema(args.location)
    report = asyncio.run(run_audit(settings))
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0 if report["ok"] else 1


def cmd_export(args: argparse.Namespace) -> int:
    from server.audit import run_export

    settings = _settings(args)
    _existing_schema(args.location)
    data = asyncio.run(run_export(settings))
    text = json.dumps(data, indent=2)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        print(text)
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="quietline relay", description="Run and operate the relay.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        help=f"the relay's data directory, holding relay.db (default: ${DATA_DIR_ENV}, "
        "else $XDG_DATA_HOME/quietline/relay or ~/.local/share/quietline/relay)",
    )
    common.add_argument(
        "--database-url",
        help="SQLAlchemy URL, instead of --data-dir (default: $QUIETLINE_DATABASE_URL)",
    )
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[common], help="start the relay")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--public-origin", help="origin clients use (default http://HOST:PORT)")
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="ADDRESS",
        help="a reverse proxy whose X-Forwarded-For names the client (repeatable; "
        "default: none, forwarded headers are ignored)",
    )
    serve.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="also answer GET /metrics (Prometheus) on this port, never on --port "
        "(default: $QUIETLINE_METRICS_PORT, else no metrics)",
    )
    serve.add_argument(
        "--metrics-host",
        metavar="ADDRESS",
        help="the address of the metrics port (default: $QUIETLINE_METRICS_HOST, "
        "else 127.0.0.1: this machine only)",
    )
    serve.add_argument(
        "--broker-url",
        metavar="URL",
        help="redis://HOST:PORT/DB: several relay processes on one PostgreSQL database "
        "(default: QUIETLINE_BROKER_URL, else one process; see docs/scale-out.md)",
    )
    serve.set_defaults(func=cmd_serve)

    mig = sub.add_parser("migrate", parents=[common], help="run database migrations")
    mig.add_argument("direction", nargs="?", choices=["upgrade", "downgrade"], default="upgrade")
    mig.add_argument("revision", nargs="?", help="default: head (upgrade) or base (downgrade)")
    mig.add_argument(
        "--yes", action="store_true", help="downgrade: yes, delete what it says it deletes"
    )
    mig.set_defaults(func=cmd_migrate)

    add = sub.add_parser("add-program", parents=[common], help="print a one-time enrollment token")
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=cmd_add_program)

    audit = sub.add_parser(
        "audit", parents=[common], help="check the database holds nothing readable"
    )
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(func=cmd_audit)

    export = sub.add_parser("export", parents=[common], help="write everything stored, as JSON")
    export.add_argument("--output", help="file to write (default: standard output)")
    export.set_defaults(func=cmd_export)
    return top


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    try:
        args.location = resolve(args.database_url, args.data_dir)
        check_driver(args.location.url, writer=args.command == "serve")
        print(f"quietline relay: database {args.location.describe()}", file=sys.stderr)
        return int(args.func(args))
    except DatabaseProblem as exc:
        print(f"quietline relay: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0]
        where = args.location.describe() if hasattr(args, "location") else "the database"
        print(f"quietline relay: the database {where} cannot be used: {reason}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"quietline relay: {exc}", file=sys.stderr)
        return 2
