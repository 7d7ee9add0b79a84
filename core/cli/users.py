"""Manage accounts from the shell (the admin CLI).

    steelscan users add NAME --role admin|supervisor|inspector   # asks for the password twice
    steelscan users reset NAME                                   # new password, ends its sessions
    steelscan users role NAME ROLE | disable NAME | enable NAME | list
    steelscan users unlock NAME                                  # clear a name's failed sign-ins and delays
    steelscan users unlock-address ADDRESS                       # clear a client address's lock
    steelscan users failures [--limit N]                         # the latest failed sign-ins

`--password-stdin` reads the password from standard input instead (for scripts). Every change is written to
the same account change log as the Users page, under `cli:<operating-system user>`.
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


def _parser() -> argparse.ArgumentParser:
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
    for name in ("disable", "enable", "unlock"):
        sub.add_parser(name).add_argument("username")
    sub.add_parser("unlock-address").add_argument("address")
    sub.add_parser("list")
    sub.add_parser("failures").add_argument("--limit", type=int, default=50)
    return parser


def _change(accounts: Accounts, args) -> tuple[str, str, str, str]:
    """Apply one account change; (log key, old value, new value, message) for the change log."""
    if args.command == "unlock-address":
        was = accounts.unlock_address(args.address)
        return "address_unlocked", "locked" if was else "", "unlocked", f"address {args.address} unlocked" + (
            "" if was else " (it was not locked)")
    name = args.username
    if args.command == "add":
        accounts.add_user(name, _password(args), args.role, created_by=f"cli:{getpass.getuser()}")
        return "user_added", "", args.role, f"added {name} ({args.role})"
    old = next((u for u in accounts.list_users() if u["username"] == name), None)
    if args.command == "reset":
        accounts.reset_password(name, _password(args))
        return "user_password", "", "reset", f"password of {name} reset; its sessions are signed out"
    if args.command == "role":
        accounts.set_role(name, args.role)
        return "user_role", old["role"] if old else "", args.role, f"{name} is now {args.role}"
    if args.command == "unlock":
        was = accounts.unlock(name)
        return "user_unlocked", "locked" if was else "", "unlocked", f"{name} unlocked" + ("" if was else
                                                                                           " (it was not locked)")
    accounts.set_active(name, args.command == "enable")
    old_state = "" if old is None else str(old["active"]).lower()
    return "user_active", old_state, str(args.command == "enable").lower(), f"{name} {args.command}d"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings()
    url = args.database_url or settings.database_url
    accounts = Accounts(url)
    try:
        if args.command == "list":
            users = accounts.list_users()
            if not users:
                print("no accounts")
            for user in users:
                state = "" if user["active"] else "  (disabled)"
                print(f"{user['username']}\t{user['role']}\t{user['created_at']:%Y-%m-%d}{state}")
            return 0
        if args.command == "failures":
            for failure in accounts.sign_in_failures(args.limit):
                print(f"{failure['at']:%Y-%m-%d %H:%M:%S}\t{failure['username']}\t{failure['client'] or '-'}\t"
                      f"{failure['reason']}")
            return 0
        key, old, new, message = _change(accounts, args)
        from core.review.store import ReviewLog  # here: `users list` need not load pandas

        log = ReviewLog(url, settings.image_store)
        try:  # the same change log as the Users page, so an admin sees shell changes there too
            log.log_setting_change(key, new, f"cli:{getpass.getuser()}", old_value=old,
                                   reason=f"address {args.address}" if args.command == "unlock-address"
                                   else f"account {args.username}")
        finally:
            log.close()
        print(message)
    except AuthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        accounts.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
