"""The ``memos`` command: ``memos serve``, ``plugins``, ``version``, ``new-plugin``, ``copy-db``, ``backup``,
``restore``, ``export``, ``import``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from . import __version__
from .config import Config

if TYPE_CHECKING:
    from .workers import Worker


def _config(args: argparse.Namespace) -> Config:
    overrides = {
        "port": args.port,
        "addr": args.addr,
        "data": args.data,
        "driver": args.driver,
        "dsn": args.dsn,
        "mode": args.mode,
        "instance_url": args.instance_url.rstrip("/") if args.instance_url else None,
        "unix_sock": args.unix_sock,
        "workers": getattr(args, "workers", None),
        "skip_backup": getattr(args, "skip_backup", None),
    }
    if args.demo:
        overrides["mode"] = "demo"
    return Config.from_env(**overrides)


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, help="TCP port (MEMOS_PORT, default 5230)")
    p.add_argument("--addr", help="bind address; empty means all interfaces (MEMOS_ADDR)")
    p.add_argument("--data", help="data directory (MEMOS_DATA, default .)")
    p.add_argument("--driver", help="database driver: sqlite, postgres or mysql (MEMOS_DRIVER)")
    p.add_argument("--dsn", help="database DSN (MEMOS_DSN); for sqlite, a file path")
    p.add_argument("--mode", choices=["prod", "demo", "dev"], help="MEMOS_MODE (default prod)")
    p.add_argument("--demo", action="store_true", default=None, help="demo mode (MEMOS_DEMO)")
    p.add_argument("--instance-url", help="public URL of this instance (MEMOS_INSTANCE_URL)")
    p.add_argument("--unix-sock", help="serve on a unix socket instead of TCP (MEMOS_UNIX_SOCK)")
    p.add_argument(
        "--workers", type=int, help="server processes sharing the listening socket (MEMOS_WORKERS, default 1)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="memos", description="memos-py: a Memos-compatible note server")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the server")
    _add_config_flags(serve)
    serve.add_argument(
        "--skip-backup",
        action="store_true",
        default=None,
        help="upgrade an older schema without backing it up first (MEMOS_SKIP_BACKUP)",
    )
    plugins = sub.add_parser("plugins", help="list the driver and plugins that would be loaded")
    _add_config_flags(plugins)
    plugins.add_argument("--json", action="store_true", help="print JSON")
    sub.add_parser("version", help="print the version")
    new_plugin = sub.add_parser(
        "new-plugin", help="write a new plugin package (entry point, one hook, a test, a README) to start from"
    )
    new_plugin.add_argument("name", help="its distribution name, lowercase with hyphens (memos-hello)")
    new_plugin.add_argument("--dir", help="the directory to write (default ./NAME); must not exist or be empty")
    copy = sub.add_parser(
        "copy-db", help="copy an instance's database to another (empty) database, verified row for row"
    )
    for side in ("from", "to"):
        copy.add_argument(
            f"--{side}-driver", required=True, help=f"driver of the {side} database (sqlite, postgres, mysql)"
        )
        copy.add_argument(f"--{side}-dsn", default="", help=f"DSN of the {side} database (sqlite: a file path)")
        copy.add_argument(
            f"--{side}-data", default="", help=f"data folder of the {side} instance (sqlite default file)"
        )
    backup = sub.add_parser(
        "backup", help="snapshot the database (the server may run) into one SQLite file, verified row for row"
    )
    backup.add_argument("file", help="the backup file to create (must not exist)")
    backup.add_argument("--data", help="data folder (MEMOS_DATA); SQLite's default file, LOCAL attachments")
    backup.add_argument("--driver", help="database driver: sqlite, postgres or mysql (MEMOS_DRIVER)")
    backup.add_argument("--dsn", help="database DSN (MEMOS_DSN); for sqlite, a file path")
    backup.add_argument("--mode", choices=["prod", "demo", "dev"], help="MEMOS_MODE (demo: memos_demo.db)")
    backup.add_argument("--attachments", action="store_true", help="include the files of LOCAL attachments")
    restore = sub.add_parser("restore", help="restore a backup file into an empty database, verified row for row")
    restore.add_argument("file", help="a file made by memos backup")
    restore.add_argument("--to-driver", required=True, help="driver of the target database (sqlite, postgres, mysql)")
    restore.add_argument("--to-dsn", default="", help="DSN of the target database (sqlite: a file path)")
    restore.add_argument(
        "--to-data", default="", help="data folder of the new instance (sqlite default file, attachment files)"
    )
    restore.add_argument("--attachments", action="store_true", help="write the backup's attachment files too")
    export = sub.add_parser("export", help="export a user's memos (or everyone's) as a zip or memos.json")
    export.add_argument("--user", required=True, help="the username, or * for every user")
    export.add_argument("--output", "-o", required=True, help="the file to write (must not exist)")
    export.add_argument("--format", choices=["zip", "json"], default="zip", help="zip (default) or json")
    import_ = sub.add_parser(
        "import",
        help="import a memos-py export, Markdown files (zip or folder), a Keep Takeout zip or another Memos server",
        description="Import a file or folder, or with --from-server the memos another Memos server (v0.22 or "
        "later) holds for an access token, read from MEMOS_IMPORT_TOKEN or --token-file (never the command "
        "line, where other users of the machine could read it).",
    )
    import_.add_argument(
        "path", nargs="?", help="the file or folder to import; its format is recognised from its content"
    )
    import_.add_argument("--from-server", metavar="URL", help="another Memos server's address, http(s)://...")
    import_.add_argument("--token-file", help="a file holding the access token for --from-server")
    import_.add_argument("--user", required=True, help="the account to import into")
    reindex = sub.add_parser("reindex", help="rebuild the full-text search index from the memos (the server may run)")
    for p in (export, import_, reindex):
        p.add_argument("--data", help="data folder (MEMOS_DATA)")
        p.add_argument("--driver", help="database driver: sqlite, postgres or mysql (MEMOS_DRIVER)")
        p.add_argument("--dsn", help="database DSN (MEMOS_DSN); for sqlite, a file path")
        p.add_argument("--mode", choices=["prod", "demo", "dev"], help="MEMOS_MODE (demo: memos_demo.db)")
    args = parser.parse_args(argv)

    if args.command == "version":
        print(__version__)
        return 0
    if args.command == "plugins":
        return _plugins(args)
    if args.command == "new-plugin":
        return _new_plugin(args)
    if args.command == "copy-db":
        return _copy_db(args)
    if args.command in ("backup", "restore"):
        return _backup_or_restore(args)
    if args.command in ("export", "import"):
        return _export_or_import(args)
    if args.command == "reindex":
        return _reindex(args)
    if args.command == "serve":
        try:
            config = _config(args)
        except ValueError as e:
            print(f"memos: {e}", file=sys.stderr)
            return 1
        if config.workers > 1:
            from .workers import supervise

            return supervise(config)
        return _serve(config)
    parser.print_help()
    return 2


def _new_plugin(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .scaffold import ScaffoldError, new_plugin

    target = Path(args.dir) if args.dir else Path(args.name)
    try:
        files = new_plugin(args.name, target)
    except ScaffoldError as e:
        print(f"memos: {e}", file=sys.stderr)
        return 2
    for path in files:
        print(path)
    print(f"next: pip install -e {target} pytest pytest-aiohttp && (cd {target} && pytest)")
    return 0


def _plugins(args: argparse.Namespace) -> int:
    """``memos plugins``: the driver, the core and each plugin, with its hooks and what it registered."""
    import asyncio

    from .plugins import PluginError, load_plugins
    from .registries import collect_all, registered_by

    try:
        plugins = load_plugins(_config(args))
        registries = asyncio.run(collect_all(plugins))
    except (PluginError, ValueError) as e:
        print(f"memos: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(plugins.to_json(registries), indent=2))
        return 0
    by_plugin = registered_by(registries)
    for i in plugins.infos:
        print(f"{i.kind:6} {i.name:16} {i.distribution} {i.version}  hooks: {', '.join(i.hooks) or '-'}")
        for label, names in by_plugin.get(i.name, {}).items():
            shown = []
            for name in names:
                replaces = registries[label][name].replaces
                shown.append(f"{name} (replaces {replaces.plugin}'s)" if replaces else name)
            print(f"{'':7}{label}: {', '.join(shown)}")
    return 0


def _copy_db(args: argparse.Namespace) -> int:
    import asyncio

    from .copydb import CopyError, run
    from .plugins import PluginError
    from .store import SchemaError

    source = Config(driver=args.from_driver, dsn=args.from_dsn, data=args.from_data)
    target = Config(driver=args.to_driver, dsn=args.to_dsn, data=args.to_data)
    try:
        reports = asyncio.run(run(source, target))
    except (CopyError, PluginError, SchemaError) as e:
        print(f"memos: copy-db failed: {e}", file=sys.stderr)
        return 1
    for r in reports:
        print(f"{r.name:16} {r.rows:8d} rows")
    print("copied and verified row for row")
    return 0


class ProgressLines:
    """Progress of a copy: a redrawn bar per table on a terminal, one plain line per table otherwise."""

    WIDTH = 30

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.done: set[str] = set()

    def __call__(self, table: str, done: int, total: int) -> None:
        if table in self.done:
            return
        if self.tty:
            filled = self.WIDTH * done // total if total else self.WIDTH
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            end = "\n" if done >= total else ""
            self.stream.write(f"\r{table:16} [{bar}] {done}/{total}{end}")
            self.stream.flush()
        elif done >= total:
            print(
                f"{table:16} {done:8d} rows" if table != "attachment files" else f"{table:16} {done:8d}",
                file=self.stream,
                flush=True,
            )
        if done >= total:
            self.done.add(table)


def _backup_or_restore(args: argparse.Namespace) -> int:
    import asyncio

    from .backup import BackupError, backup, restore
    from .copydb import CopyError
    from .plugins import PluginError
    from .store import SchemaError

    progress = ProgressLines()
    try:
        if args.command == "backup":
            overrides = {"data": args.data, "driver": args.driver, "dsn": args.dsn, "mode": args.mode}
            source = Config.from_env(**overrides)
            manifest = asyncio.run(backup(source, args.file, attachments=args.attachments, progress=progress))
            print(
                f"backed up schema {manifest.schema_version} ({sum(manifest.rows.values())} rows, "
                f"{manifest.files} attachment files) to {args.file}, verified row for row"
            )
        else:
            target = Config(driver=args.to_driver, dsn=args.to_dsn, data=args.to_data)
            result = asyncio.run(restore(args.file, target, attachments=args.attachments, progress=progress))
            for note in result.notes:
                print(f"note: {note}")
            print(
                f"restored schema {result.manifest.schema_version} from {args.file} "
                f"({result.files_written} attachment files written), verified row for row"
            )
    except (BackupError, CopyError, PluginError, SchemaError, ValueError, OSError) as e:
        print(f"memos: {args.command} failed: {e}", file=sys.stderr)
        return 1
    return 0


def _export_or_import(args: argparse.Namespace) -> int:
    """``memos export`` / ``memos import``: the same code as the API routes, on the configured
    database and storage, outside the server (which may run meanwhile)."""
    import asyncio

    from .plugins import PluginError
    from .portability.cli import run_export, run_import, run_import_server
    from .store import SchemaError

    try:
        config = Config.from_env(data=args.data, driver=args.driver, dsn=args.dsn, mode=args.mode)
        if args.command == "export":
            print(asyncio.run(run_export(config, args.user, args.output, args.format)))
        elif args.from_server:
            if args.path:
                raise ValueError("give a file or folder, or --from-server, not both")
            token = _import_token(args.token_file)
            print(asyncio.run(run_import_server(config, args.user, args.from_server, token)))
        elif args.path:
            print(asyncio.run(run_import(config, args.user, args.path)))
        else:
            raise ValueError("give the file or folder to import, or --from-server URL")
    except (PluginError, SchemaError, ValueError, OSError) as e:
        print(f"memos: {args.command} failed: {e}", file=sys.stderr)
        return 1
    return 0


def _import_token(token_file: str | None) -> str:
    """The access token for ``memos import --from-server``: ``--token-file``, else
    ``MEMOS_IMPORT_TOKEN``, else asked for on a terminal."""
    import os
    from pathlib import Path

    if token_file:
        token = Path(token_file).read_text().strip()
    else:
        token = os.environ.get("MEMOS_IMPORT_TOKEN", "").strip()
        if not token and sys.stdin.isatty():
            import getpass

            token = getpass.getpass("access token of the account on the other server: ").strip()
    if not token:
        raise ValueError("no access token: set MEMOS_IMPORT_TOKEN or give --token-file")
    return token


def _reindex(args: argparse.Namespace) -> int:
    """``memos reindex``: empty the search index and rebuild it from the memo table."""
    import asyncio

    from .app import create_app
    from .context import CONTEXT
    from .plugins import PluginError
    from .store import SchemaError, search

    async def run(config: Config) -> int:
        store = create_app(config)[CONTEXT].store
        await store.connect()
        try:
            await store.migrate(demo=config.demo)
            async with store.connection():
                return await search.catch_up(store, rebuild=True)
        finally:
            await store.disconnect()

    try:
        config = Config.from_env(data=args.data, driver=args.driver, dsn=args.dsn, mode=args.mode)
        print(f"search index rebuilt: {asyncio.run(run(config))} memos indexed")
    except (PluginError, SchemaError, ValueError, OSError) as e:
        print(f"memos: reindex failed: {e}", file=sys.stderr)
        return 1
    return 0


def _serve(config: Config, worker: Worker | None = None) -> int:
    """Run the server in this process; as one of ``--workers`` when ``worker`` hands it the sockets."""
    from aiohttp import web

    from .app import create_app, run
    from .observe import AccessLogger, configure_logging
    from .plugins import PluginError
    from .store import SchemaError

    configure_logging(config.log_format)  # text, or JSON lines with MEMOS_LOG_FORMAT=json
    try:
        app = create_app(config)
        if worker is not None:
            worker.attach(app)
            run(
                app,
                lambda runner: [web.SockSite(runner, sock) for sock in worker.sockets],
                ready=worker.ready,
                access_log_class=AccessLogger,
            )
        elif config.unix_sock:
            run(app, lambda runner: [web.UnixSite(runner, config.unix_sock)], access_log_class=AccessLogger)
        else:
            where = f"http://{config.addr or 'localhost'}:{config.port}"
            # No host binds every interface, IPv4 and IPv6, as aiohttp's run_app does. The line is
            # printed once the server accepts connections, not before the database is reached.
            run(
                app,
                lambda runner: [web.TCPSite(runner, config.addr or None, config.port)],
                ready=lambda: print(f"memos-py {__version__} serving on {where}", flush=True),
                access_log_class=AccessLogger,
            )
    except (PluginError, SchemaError, ValueError, OSError) as e:
        print(f"memos: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
