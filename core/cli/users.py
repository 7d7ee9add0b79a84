"""Manage accounts from the shell (the admin CLI).

    steelscan users add NAME --role admin|supervisor|inspector   # asks for the password twice
    steelscan users reset NAME                                   # new password, ends its sessions
    steelscan users role NAME ROLE | disable NAME | enable NAME | list

`--password-stdin` reads the password from standard input instead (for scripts).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from core.accounts.auth import ROLES, Accounts, AuthError
from core.contract.settings import load_settings


def _password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise AuthError("password", "the two entries differ", "type the same password twice")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="steelscan users", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: the settings' database_url")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, required=True)
    reset = sub.add_parser("reset")
    reset.add_argument("username")
    for command in (add, reset):
        command.add_argument("--password-stdin", action="store_true")
    role = sub.add_parser("role")
    role.add_argument("username")
    role.add_argument("role", choices=ROLES)
    for name in ("disable", "enable"):
        sub.add_parser(name).add_argument("username")
    sub.add_parser("list")
    args = parser.parse_args(argv)
    accounts = Accounts(args.database_url or load_settings().database_url)
    try:
        if args.command == "add":
            accounts.add_user(args.username, _password(args), args.role, created_by=f"cli:{getpass.getuser()}")
            print(f"added {args.username} ({args.role})")
        elif args.command == "reset":
            accounts.reset_password(args.username, _password(args))
            print(f"password of {args.username} reset; its sessions are signed out")
        elif args.command == "role":
            accounts.set_role(args.username, args.role)
            print(f"{args.username} is now {args.role}")
        elif args.command in ("disable", "enable"):
            accounts.set_active(args.username, args.command == "enable")
            print(f"{args.username} {args.command}d")
        else:
            users = accounts.list_users()
            if not users:
                print("no accounts")
            for user in users:
                state = "" if user["active"] else "  (disabled)"
                print(f"{user['username']}\t{user['role']}\t{user['created_at']:%Y-%m-%d}{state}")
    except AuthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        accounts.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
