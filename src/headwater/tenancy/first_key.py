"""The first start's key: shown on a terminal, otherwise kept in a file only its owner reads.

`headwater serve` creates a full-access key on an empty store. Under a supervisor its output
becomes the journal, which many people and tools read and keep; a secret must not go there.
So the key is printed only when the output is a terminal. Otherwise it is written to
`headwater-first-key.txt` in the working directory (mode 0600, never overwritten), and the
output names that file instead. The file is claimed before the key is created, so a key is
never created that nobody can read.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from headwater.errors import HeadwaterError
from headwater.store.base import Store
from headwater.tenancy import provision
from headwater.tenancy.provision import NewKey

FILE_NAME = "headwater-first-key.txt"


def bootstrap(
    store: Store, base_url: str, store_label: str, terminal: bool, directory: Path
) -> list[str]:
    """On an empty store, create the first key; the lines for `serve` to print (else none).

    `terminal`: the lines may show the key. Otherwise the key goes to FILE_NAME in
    `directory`, and HeadwaterError (nothing created) when that file exists or cannot be made.
    """
    if store.has_projects():
        return []
    if terminal:
        created = provision.bootstrap(store)
        if created is None:  # another process was first
            return []
        return [
            _created(created),
            f"  API key:   {created.api_key}",
            *_where(created, base_url),
            "Store the key now: only a hash of it is kept.",
        ]
    path = (directory / FILE_NAME).absolute()
    try:
        # O_EXCL: never overwrite (an older key, or a link planted to redirect the secret).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise HeadwaterError(
            f"{path} already exists (a key from an earlier first start?) and is never "
            "overwritten: move it away, then start again. Nothing was created."
        ) from None
    except OSError as exc:
        raise HeadwaterError(
            f"cannot write the first key to {path}: {exc.strerror}. Start in a writable "
            "working directory, or once in a terminal (the key is shown there); or create "
            "a key first with `headwater keys create`. Nothing was created."
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        try:
            created = provision.bootstrap(store)
        except BaseException:
            path.unlink()
            raise
        if created is None:
            path.unlink()
            return []
        out.write(_file_text(created, base_url, store_label))
        out.flush()
        os.fsync(out.fileno())
    return [
        _created(created),
        f"  API key:   written to {path} (readable only by its owner), not here: this "
        "output is not a terminal and may be kept in logs",
        *_where(created, base_url),
        "Copy the key somewhere safe, then delete that file: only a hash of the key is kept.",
    ]


def _created(created: NewKey) -> str:
    return (
        f"Created organization {created.org!r}, project {created.project!r}, source "
        f"{provision.DEFAULT_NAME!r} and a full-access key:"
    )


def _where(created: NewKey, base_url: str) -> list[str]:
    project = f"{base_url}/v1/{created.org}/projects/{created.project}"
    return [
        f"  Source id: {created.source_id}",
        f"  Track URL: {project}/sources/{created.source_id}/track",
        f"             ({project}/track also works; its events carry no source)",
    ]


def _file_text(created: NewKey, base_url: str, store_label: str) -> str:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    lines = [
        f"# The first API key of Headwater's store {store_label}, created by `headwater serve`",
        f"# at {now}. Only a hash of it is kept: copy it somewhere safe, then delete this file.",
        f"API key:   {created.api_key}",
        f"Project:   {created.org}/{created.project}",
        *_where(created, base_url),
    ]
    return "\n".join(lines) + "\n"
