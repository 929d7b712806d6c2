"""Portable archives: export a consistent snapshot to a zip, verify one, and restore it.

:func:`export_archive` snapshots the live database with ``VACUUM INTO`` (consistent even while the
recorder writes) into one JSON Lines file per record type, the images they point to and a
``manifest.json`` of counts and member hashes, written to a temporary file and renamed so a crash
never leaves a half archive. An archive is untrusted: :func:`verify_archive` accepts only the
members one is meant to carry and checks their sizes and hashes, and :func:`import_archive`
restores into an empty home all or nothing, never over an existing file, each row checked (paths
confined to the frame folders). Vectors are not exported; the index is rebuilt from the text.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import math
import os
import re
import shutil
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memlane.core.errors import InputError, StorageError
from memlane.core.paths import FRAME_FOLDERS
from memlane.memory import sql
from memlane.memory.frames import frame_rel_ok
from memlane.memory.records import TIME_MAX, TIME_MIN
from memlane.memory.store import Store

log = logging.getLogger(__name__)

FORMAT = "memlane-archive"
VERSION = 1
# Exported tables in dependency order (parents first). `jobs` and `state` are machine state.
TABLES = ("frames", "ocr_blocks", "conversations", "messages", "episodes", "facts", "lineage",
          "deletion_log")
DROP_COLUMNS = {"vec"}  # vectors are rebuilt on import
RECORD_MEMBERS = {f"records/{t}.jsonl" for t in TABLES}
# Bounds on what an archive may make Memlane read or write (an untrusted archive may be a bomb).
MAX_IMAGE_BYTES = 64 << 20   # one stored WebP frame; a 8K screenshot is a few MB
MAX_LINE_BYTES = 16 << 20    # one JSON record
DISK_MARGIN = 256 << 20      # left free after an import
# Columns holding seconds since the epoch; checked on import like every other entry point.
TIME_COLUMNS = {"time", "start", "end", "created", "first_seen", "last_confirmed", "valid_from",
                "valid_to", "last_retrieved", "updated", "not_before"}
_WEBP_MAGIC = re.compile(rb"^RIFF....WEBP", re.DOTALL)


class ArchiveError(InputError):
    """The archive is unreadable, incomplete, tampered with, or cannot be imported here."""


@dataclass
class ArchiveReport:
    path: Path
    counts: dict[str, int] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0


def _select(db: sqlite3.Connection, since: float | None,
            until: float | None) -> dict[str, list[dict[str, Any]]]:
    """The rows to export, per table, limited to a time range when one is given."""
    lo = float("-inf") if since is None else since
    hi = float("inf") if until is None else until

    def rows(query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        cur = db.execute(query, params)
        names = [d[0] for d in cur.description]
        return [{k: v for k, v in zip(names, r, strict=True) if k not in DROP_COLUMNS}
                for r in cur]

    out: dict[str, list[dict[str, Any]]] = {}
    out["frames"] = rows("SELECT * FROM frames WHERE time >= ? AND time < ? ORDER BY id", (lo, hi))
    frame_ids = {r["id"] for r in out["frames"]}
    out["ocr_blocks"] = [r for r in rows("SELECT * FROM ocr_blocks ORDER BY id")
                         if r["frame_id"] in frame_ids]
    out["messages"] = rows("SELECT * FROM messages WHERE time >= ? AND time < ? ORDER BY id",
                           (lo, hi))
    conv_ids = {r["conversation_id"] for r in out["messages"]}
    whole = since is None and until is None
    out["conversations"] = [r for r in rows("SELECT * FROM conversations ORDER BY id")
                            if whole or r["id"] in conv_ids]
    out["episodes"] = rows("SELECT * FROM episodes WHERE end >= ? AND start < ? ORDER BY id",
                           (lo, hi))
    out["facts"] = rows("SELECT * FROM facts WHERE last_confirmed >= ? AND first_seen < ?"
                        " ORDER BY id", (lo, hi))
    kept = {("frame", i) for i in frame_ids} | {("message", r["id"]) for r in out["messages"]}
    kept |= {("episode", r["id"]) for r in out["episodes"]} | {("fact", r["id"])
                                                               for r in out["facts"]}
    out["lineage"] = [r for r in rows("SELECT * FROM lineage")
                      if (r["derived_kind"], r["derived_id"]) in kept
                      and (r["source_kind"], r["source_id"]) in kept]
    out["deletion_log"] = rows("SELECT * FROM deletion_log ORDER BY rowid") if whole else []
    return out


def clean_stale_exports(work: Path) -> int:
    """Delete what killed exports left: their snapshot in ``work`` and their partial archive.

    A running export holds the lock in its folder, so only abandoned ones are removed.
    """
    removed = 0
    for folder in sorted(work.glob("export-*")) if work.is_dir() else []:
        try:
            with (folder / "lock").open("a+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                lock.seek(0)
                partial = lock.read().strip()
                if partial:
                    Path(partial).unlink(missing_ok=True)
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        except BlockingIOError:
            continue  # an export in progress
        except OSError as exc:
            log.warning("could not clean up %s: %s", folder, exc)
    return removed


def export_archive(store: Store, home: Path, out: Path, *, work: Path,
                   since: float | None = None, until: float | None = None) -> ArchiveReport:
    """Write ``out`` (a zip) from a consistent snapshot of ``store`` and the images in ``home``.

    The snapshot is written in ``work`` (inside the home, where forget and the next start clean
    up after a killed export); the archive is written beside ``out`` and renamed into place.
    """
    t0 = time.perf_counter()
    out = out.expanduser()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        work.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder = Path(tempfile.mkdtemp(dir=work, prefix="export-"))
    except OSError as exc:
        raise StorageError(f"cannot write {out}: {exc.strerror or exc}") from None
    partial = out.parent / f".{out.name}.{os.getpid()}.partial"
    with (folder / "lock").open("w+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write(str(partial))
        lock.flush()
        try:
            report = _write_archive(store, home, folder / "snapshot.db", partial, out,
                                    since, until)
            os.replace(partial, out)
        except OSError as exc:
            raise StorageError(f"cannot write {out}: {exc.strerror or exc}") from None
        finally:
            partial.unlink(missing_ok=True)
            shutil.rmtree(folder, ignore_errors=True)
    report.bytes = out.stat().st_size
    report.seconds = time.perf_counter() - t0
    return report


def _write_archive(store: Store, home: Path, snapshot: Path, partial: Path, out: Path,
                   since: float | None, until: float | None) -> ArchiveReport:
    store.db.execute("VACUUM INTO ?", [str(snapshot)])
    db = sql.connect(snapshot, key_pragma=store.keys.sqlcipher_pragma if store.keys else None)
    try:
        records = _select(db, since, until)
    finally:
        db.close()
    cipher = store.keys.files if store.keys else None
    members: dict[str, dict[str, Any]] = {}
    report = ArchiveReport(out)
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
        for table in TABLES:
            data = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n"
                           for r in records[table]).encode("utf-8")
            name = f"records/{table}.jsonl"
            zf.writestr(name, data)
            members[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            report.counts[table] = len(records[table])
        for frame in records["frames"]:
            for column in ("image_path", "thumb_path"):
                rel = frame.get(column)
                if not rel or not frame_rel_ok(rel) or not (home / rel).is_file():
                    continue  # a frame whose image was thinned keeps its text
                data = (home / rel).read_bytes()
                if cipher is not None:  # the archive is portable: images leave decrypted
                    data = cipher.open(data, rel)
                zf.writestr(rel, data, compress_type=zipfile.ZIP_STORED)  # WebP: compressed
                members[rel] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                report.files += 1
        manifest = {
            "format": FORMAT, "version": VERSION, "created": time.time(),
            "range": {"since": since, "until": until}, "counts": report.counts,
            "members": members,
        }
        zf.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
    return report


def _allowed(name: str) -> bool:
    """Only what an archive is meant to carry: a records file per table, and frame images."""
    return name in RECORD_MEMBERS or frame_rel_ok(name, FRAME_FOLDERS[:2])


def _manifest_members(path: Path, manifest: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """``name -> (sha256, bytes)`` from a manifest, refusing any other shape."""
    members = manifest.get("members")
    if not isinstance(members, dict):
        raise ArchiveError(f"{path}: manifest.json lists no members: not a Memlane archive")
    out: dict[str, tuple[str, int]] = {}
    for name, info in members.items():
        sha = info.get("sha256") if isinstance(info, dict) else None
        size = info.get("bytes") if isinstance(info, dict) else None
        if (not isinstance(sha, str) or not isinstance(size, int) or isinstance(size, bool)
                or size < 0):
            raise ArchiveError(f"{path}: manifest.json describes {name!r} wrongly "
                               "(damaged or not made by Memlane)")
        if not _allowed(name):
            raise ArchiveError(f"{path}: unexpected member {name!r}; an archive carries only "
                               "records/*.jsonl and frame images (tampered with?)")
        if not name.startswith("records/") and size > MAX_IMAGE_BYTES:
            raise ArchiveError(f"{path}: {name} claims {size} bytes, more than any frame image")
        out[name] = (sha, size)
    return out


def verify_archive(path: Path) -> dict[str, Any]:
    """The manifest, after checking every member against it; :class:`ArchiveError` otherwise."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise ArchiveError(f"{path} is not a readable archive (truncated?): {exc}") from exc
    with zf:
        try:
            info = zf.getinfo("manifest.json")
            if info.file_size > MAX_LINE_BYTES:
                raise ArchiveError(f"{path}: manifest.json is too large to be Memlane's")
            manifest = json.loads(zf.read(info))
        except KeyError:
            raise ArchiveError(f"{path} has no manifest.json: not a Memlane archive") from None
        except (zipfile.BadZipFile, ValueError, OSError, RecursionError, EOFError) as exc:
            raise ArchiveError(f"{path}: manifest.json is damaged: {exc}") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ArchiveError(f"{path} is not a Memlane archive")
        if manifest.get("version") != VERSION:
            raise ArchiveError(f"{path} has archive version {manifest.get('version')!r}; "
                               f"this Memlane reads version {VERSION}")
        members = _manifest_members(path, manifest)
        infos = {i.filename: i for i in zf.infolist()}
        names = set(infos) - {"manifest.json"}
        if names != set(members) or len(zf.infolist()) != len(names) + 1:
            extra = sorted(names - set(members))[:3]
            missing = sorted(set(members) - names)[:3]
            raise ArchiveError(f"{path} does not match its manifest (missing {missing}, "
                               f"unexpected {extra or 'duplicate names'}): truncated or "
                               "tampered with")
        for name, (sha, size) in members.items():
            if infos[name].file_size != size:  # checked before a byte is inflated
                raise ArchiveError(f"{path}: {name} does not match its size in the manifest "
                                   "(tampered with or damaged)")
            try:
                digest = hashlib.sha256()
                seen = 0
                with zf.open(name) as fh:
                    while chunk := fh.read(min(1 << 20, size + 1 - seen)):
                        digest.update(chunk)
                        seen += len(chunk)
                        if seen > size:
                            break
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise ArchiveError(f"{path}: {name} cannot be read: {exc}") from exc
            if digest.hexdigest() != sha or seen != size:
                raise ArchiveError(f"{path}: {name} does not match its SHA-256 in the manifest "
                                   "(tampered with or damaged)")
    return manifest


def _rows(zf: zipfile.ZipFile, table: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, row)`` streamed from a records member, each line bounded in size."""
    with zf.open(f"records/{table}.jsonl") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
        number = 0
        while line := text.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(line) > MAX_LINE_BYTES:
                raise ArchiveError(f"records/{table}.jsonl line {number} is too long")
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise ArchiveError(f"records/{table}.jsonl line {number} is not JSON: {exc}") \
                    from None
            if not isinstance(row, dict):
                raise ArchiveError(f"records/{table}.jsonl line {number} is not a record")
            yield number, row


def _check_row(table: str, number: int, row: dict[str, Any], images: set[str]) -> dict[str, Any]:
    """A row as it may be stored: plain values, times in range, image paths confined."""
    where = f"records/{table}.jsonl line {number}"
    for key, value in row.items():
        if value is not None and not isinstance(value, str | int | float):
            raise ArchiveError(f"{where}: {key} holds a {type(value).__name__}, not a value")
        if isinstance(value, float) and not math.isfinite(value):
            raise ArchiveError(f"{where}: {key} is not a finite number")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1 << 63:
            raise ArchiveError(f"{where}: {key} is out of range")
        if key in TIME_COLUMNS and value is not None and (
                not isinstance(value, int | float) or not TIME_MIN <= value <= TIME_MAX):
            raise ArchiveError(f"{where}: {key} = {value!r} is not a time Memlane can store")
    if table == "frames":
        for column, folder in (("image_path", FRAME_FOLDERS[0]), ("thumb_path", FRAME_FOLDERS[1])):
            rel = row.get(column)
            if rel is None:
                continue
            if not isinstance(rel, str) or not frame_rel_ok(rel, (folder,)):
                raise ArchiveError(f"{where}: {column} {rel!r} is outside the {folder} folder "
                                   "(tampered with?)")
            if rel not in images:
                row[column] = None  # the archive does not carry it: thinned before export
    return row


def _check_space(path: Path, home: Path, members: dict[str, tuple[str, int]]) -> None:
    needed = sum(size for name, (_, size) in members.items()) * 2  # rows are written twice (WAL)
    free = shutil.disk_usage(home).free
    if needed + DISK_MARGIN > free:
        raise ArchiveError(f"{path} needs about {needed >> 20} MB and {home} has "
                           f"{free >> 20} MB free; nothing was imported")


def _write_new(target: Path, data: bytes) -> None:
    """Create an image file that must not exist yet (an archive never replaces a file)."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with target.open("xb") as fh:
        fh.write(data)


def import_archive(store: Store, home: Path, path: Path) -> ArchiveReport:
    """Restore a verified archive into an empty store; all or nothing."""
    t0 = time.perf_counter()
    if any(store.counts().values()):
        raise ArchiveError(f"{home} already holds memories; import into an empty home "
                           "(e.g. memlane --home NEW_FOLDER import-archive ...)")
    manifest = verify_archive(path)
    members = _manifest_members(path, manifest)
    _check_space(path, home, members)
    images = {name for name in members if not name.startswith("records/")}
    report = ArchiveReport(path)
    cipher = store.keys.files if store.keys else None
    written: list[Path] = []
    try:
        with zipfile.ZipFile(path) as zf:
            for name in sorted(images):
                target = home / name
                with zf.open(name) as fh:
                    data = fh.read(MAX_IMAGE_BYTES + 1)
                if len(data) > MAX_IMAGE_BYTES or not _WEBP_MAGIC.match(data):
                    raise ArchiveError(f"{path}: {name} is not a WebP frame image")
                try:
                    _write_new(target, cipher.seal(data) if cipher is not None else data)
                except FileExistsError:
                    raise ArchiveError(f"{path}: {name} already exists in {home}; an "
                                       "archive never replaces a file") from None
                written.append(target)
            report.files = len(written)
            with store.transaction() as conn:
                columns = {t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")}
                           for t in TABLES}
                for table in TABLES:
                    n = 0
                    for number, raw_row in _rows(zf, table):
                        row = {k: v for k, v in raw_row.items() if k in columns[table]}
                        row = _check_row(table, number, row, images)
                        if not row:
                            continue
                        if table == "frames" and row.get("ocr") == "pending":
                            row["ocr"] = "done"  # its OCR job is machine state, not exported
                        cols = ", ".join(f'"{c}"' for c in row)
                        marks = ", ".join("?" * len(row))
                        try:
                            conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})",
                                         list(row.values()))
                        except sqlite3.Error as exc:
                            raise ArchiveError(f"{path}: records/{table}.jsonl line {number} "
                                               f"cannot be stored: {exc}") from None
                        n += 1
                    report.counts[table] = n
    except (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError) as exc:
        for target in written:
            target.unlink(missing_ok=True)
        raise ArchiveError(f"{path} could not be imported: {exc}; nothing was imported") \
            from None
    except BaseException:
        for target in written:
            target.unlink(missing_ok=True)
        raise
    report.bytes = path.stat().st_size
    report.seconds = time.perf_counter() - t0
    return report
