"""``gateway console …``: bootstrap accounts from the host (the first admin cannot be made
in the browser). Wired by ``gateway/cli.py`` calling :func:`register`."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from gateway.console.db import ConsoleDB, Role
from gateway.console.passwords import WeakPassword, hash_password
from gateway.console.views_admin import NAME
from gateway.console.web import db_path_from_env


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``console`` with its subcommands to the ``gateway`` command."""
    console = subparsers.add_parser("console", help="compliance console accounts")
    sub = console.add_subparsers(dest="console_command", required=True)
    create = sub.add_parser("create-user", help="create a user or reset their password and role")
    create.add_argument("name")
    create.add_argument("--role", choices=[r.value for r in Role], required=True)
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of stdin")  # fmt: skip
    create.add_argument("--db", type=Path, default=None,
                        help="console database (default: $GATEWAY_CONSOLE_DB or var/gateway/console.db)")  # fmt: skip
    create.set_defaults(func=_create_user)
    users = sub.add_parser("list-users", help="list accounts and roles")
    users.add_argument("--db", type=Path, default=None)
    users.set_defaults(func=_list_users)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat: ") != first:
        raise WeakPassword("the passwords differ")
    return first


def _create_user(args: argparse.Namespace) -> int:
    if not NAME.match(args.name):
        print("error: user names are 2-64 letters, digits, _ . @ -", file=sys.stderr)
        return 2
    try:
        hashed = hash_password(_read_password(args.password_stdin))
    except WeakPassword as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    db = ConsoleDB(args.db or db_path_from_env())
    try:
        db.add_user(args.name, Role(args.role), hashed)
        db.log("cli", "create_user", args.name, "bootstrap from the command line", role=args.role)
    finally:
        db.close()
    print(f"user {args.name} ({args.role}) saved in {db.path}")
    return 0


def _list_users(args: argparse.Namespace) -> int:
    db = ConsoleDB(args.db or db_path_from_env())
    try:
        for u in db.users():
            print(f"{u.name}\t{u.role.value}\t{'active' if u.active else 'disabled'}")
    finally:
        db.close()
    return 0
