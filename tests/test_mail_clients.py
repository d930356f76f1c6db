"""The mbox export read by real mail tools: notmuch and mu index it, message for message.

Both read Maildir, so the export is split into one by Python's ``mailbox`` (which reads
the mbox itself). A missing tool skips with its name; CI installs both.
"""

from __future__ import annotations

import lzma
import mailbox
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from archive.db import Archive
from archive.mail_import import import_mail
from archive.mbox import write_mbox

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"
CLANG = SHARED / "clang-built-linux-sample.mbox.xz"
LIST = Path(__file__).parent / "mail" / "list.mboxrd"


def exported_maildir(tmp_path: Path, *sources: Path) -> tuple[Path, set[str]]:
    db = tmp_path / "a.db"
    with Archive(db) as archive:
        import_mail(archive, sources)
        keys = [(t["group_key"], t["topic_id"]) for t in archive.list_threads()]
        with open(tmp_path / "out.mbox", "wb") as out:
            write_mbox(archive, keys, out)
        ids = {row[0] for row in archive.db.conn.execute("SELECT rfc822_id FROM messages")}
    maildir = tmp_path / "Mail"
    box = mailbox.Maildir(maildir, create=True)
    for message in mailbox.mbox(tmp_path / "out.mbox"):
        box.add(message)
    return maildir, ids


CLANG_MESSAGES = 300  # enough real Google Group mail to mean something, quick to index


def sources(tmp_path: Path) -> list[Path]:
    if not CLANG.exists():
        return [LIST]  # the real sample is optional; the fixture always runs
    sample = tmp_path / "clang-sample.mbox"
    with lzma.open(CLANG) as stream, open(sample, "wb") as out:
        count = 0
        for line in stream:
            if line.startswith(b"From mboxrd@z "):
                count += 1
                if count > CLANG_MESSAGES:
                    break
            out.write(line)
    return [LIST, sample]


def run(*args: str, env: dict[str, str]) -> str:
    return subprocess.run(
        args, env={**os.environ, **env}, check=True, capture_output=True, text=True, timeout=300
    ).stdout


@pytest.mark.skipif(shutil.which("notmuch") is None, reason="notmuch is not installed")
def test_notmuch_indexes_every_exported_message(tmp_path: Path) -> None:
    maildir, ids = exported_maildir(tmp_path, *sources(tmp_path))
    config = tmp_path / "notmuch-config"
    config.write_text(
        f"[database]\npath={maildir}\n[user]\nname=Test\nprimary_email=test@example.org\n"
        "[new]\ntags=\n[search]\nexclude_tags=\n"
    )
    env = {"NOTMUCH_CONFIG": str(config)}
    run("notmuch", "new", "--quiet", env=env)
    assert int(run("notmuch", "count", "*", env=env)) == len(ids)
    listed = run("notmuch", "search", "--output=messages", "*", env=env).split()
    assert {line.removeprefix("id:") for line in listed} == ids
    assert run("notmuch", "count", "id:r2@example.org", env=env).strip() == "1"
    # notmuch threads the export as we did.
    thread = run("notmuch", "search", "--output=threads", "id:root@example.org", env=env).strip()
    in_thread = run("notmuch", "search", "--output=messages", thread, env=env).split()
    assert len(in_thread) == 4


@pytest.mark.skipif(shutil.which("mu") is None, reason="mu (maildir-utils) is not installed")
def test_mu_indexes_every_exported_message(tmp_path: Path) -> None:
    maildir, ids = exported_maildir(tmp_path, *sources(tmp_path))
    home = tmp_path / "mu"
    env = {"HOME": str(tmp_path)}
    run("mu", "init", f"--muhome={home}", f"--maildir={maildir}", "--quiet", env=env)
    run("mu", "index", f"--muhome={home}", "--quiet", env=env)
    found = run(
        "mu", "find", f"--muhome={home}", "--fields=i", "--maxnum=100000", "", env=env
    ).split()
    assert set(found) == ids
    one = run("mu", "find", f"--muhome={home}", "--fields=s", "msgid:r2@example.org", env=env)
    assert one.strip() == "Re: [dev] Release plan"
