"""The local mailbox of `make run`: an SMTP server (aiosmtpd) that keeps every message the
services send in a Maildir, ``.local/mail``, and a reader for it.

    .venv/bin/python deploy/local/local_mail.py            # one line per message, the newest last
    .venv/bin/python deploy/local/local_mail.py --show 3   # the 3 newest, in full
    .venv/bin/python deploy/local/local_mail.py --to phong@example.vn
"""

from __future__ import annotations

import argparse
import email.policy
import mailbox
import sys
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox as MaildirHandler

MAILDIR = Path(__file__).resolve().parents[2] / ".local" / "mail"


def serve(port: int, maildir: Path = MAILDIR) -> Controller:
    """Start the SMTP server on 127.0.0.1:``port`` (in a thread of its own); stop() ends it."""
    maildir.parent.mkdir(parents=True, exist_ok=True)
    controller = Controller(MaildirHandler(str(maildir)), hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def messages(maildir: Path = MAILDIR) -> list[EmailMessage]:
    if not maildir.exists():
        return []
    box = mailbox.Maildir(str(maildir), factory=None, create=False)
    found = []
    for key in box.iterkeys():
        with box.get_file(key) as f:
            parsed = email.message_from_binary_file(f, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        found.append(parsed)
    found.sort(key=lambda m: parsedate_to_datetime(str(m["Date"])) if m["Date"] else 0)
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Read the local mailbox of `make run`.")
    parser.add_argument("--show", type=int, default=0, help="print the N newest in full")
    parser.add_argument("--to", help="only the messages to this address")
    args = parser.parse_args(argv)
    found = [m for m in messages() if not args.to or m["To"] == args.to]
    out = sys.stdout
    if not found:
        out.write(f"no messages in {MAILDIR}\n")
        return 0
    if args.show:
        for m in found[-args.show:]:
            out.write(f"From: {m['From']}\nTo: {m['To']}\nDate: {m['Date']}\n"
                      f"Subject: {m['Subject']}\n\n{m.get_content()}\n{'-' * 72}\n")
        return 0
    for m in found:
        out.write(f"{m['Date']}  {m['To']:<40}  {m['Subject']}\n")
    out.write(f"{len(found)} messages in {MAILDIR}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
