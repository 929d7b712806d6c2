"""Portable archives: export a consistent snapshot to a zip, verify one, and restore it.

:func:`export_archive` copies the live database with ``VACUUM INTO`` (a consistent snapshot even
while the recorder writes), then writes one JSON Lines file per record type (optionally only the
records of a time range), the frame images and thumbnails they point to, and ``manifest.json``
last: format and version, the range, counts per type and the SHA-256 and size of every member.
It writes to a temporary file and renames it, so a crash never leaves a half archive under the
final name. :func:`verify_archive` checks the zip, the manifest and every member's hash before
anything is written. :func:`import_archive` restores into an empty home: images first, then every
row in one transaction with its original id (so search results are the same), removing the
images again if the transaction fails: nothing is ever half-imported. Vectors are not exported;
the index is rebuilt from the text.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from memlane.app.errors import InputError
from memlane.memory import sql
from memlane.memory.store import Store

FORMAT = "memlane-archive"
VERSION = 1
# Exported tables in dependency order (parents first). `jobs` and `state` are machine state.
TABLES = ("frames", "ocr_blocks", "conversations", "messages", "episodes", "facts", "lineage",
          "deletion_log")
DROP_COLUMNS = {"vec"}  # vectors are rebuilt on import


class ArchiveError(InputError):
    """The archive is unreadable, incomplete, tampered with, or cannot be imported here."""


@dataclass
class ArchiveReport:
    path: Path
    counts: dict[str, int] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


def export_archive(store: Store, home: Path, out: Path, *, since: float | None = None,
                   until: float | None = None) -> ArchiveReport:
    """Write ``out`` (a zip) from a consistent snapshot of ``store`` and the images in ``home``."""
    t0 = time.perf_counter()
    out = out.expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".memlane-export-") as tmp:
        snapshot = Path(tmp) / "snapshot.db"
        store.db.execute("VACUUM INTO ?", [str(snapshot)])
        db = sql.connect(snapshot, key_pragma=store.keys.sqlcipher_pragma if store.keys else None)
        try:
            records = _select(db, since, until)
        finally:
            db.close()
        partial = Path(tmp) / "archive.zip"
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
                    if not rel or not (home / rel).is_file():
                        continue  # a frame whose image was thinned keeps its text
                    data = (home / rel).read_bytes()
                    if cipher is not None:  # the archive is portable: images leave decrypted
                        data = cipher.open(data, rel)
                    zf.writestr(rel, data, compress_type=zipfile.ZIP_STORED)  # WebP: compressed
                    members[rel] = {"sha256": hashlib.sha256(data).hexdigest(),
                                    "bytes": len(data)}
                    report.files += 1
            manifest = {
                "format": FORMAT, "version": VERSION, "created": time.time(),
                "range": {"since": since, "until": until}, "counts": report.counts,
                "members": members,
            }
            zf.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
        os.replace(partial, out)
    report.bytes = out.stat().st_size
    report.seconds = time.perf_counter() - t0
    return report


def _safe(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and name == path.as_posix()


def verify_archive(path: Path) -> dict[str, Any]:
    """The manifest, after checking every member against it; :class:`ArchiveError` otherwise."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ArchiveError(f"{path} is not a readable archive (truncated?): {exc}") from exc
    with zf:
        try:
            manifest = json.loads(zf.read("manifest.json"))
        except KeyError:
            raise ArchiveError(f"{path} has no manifest.json: not a Memlane archive") from None
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            raise ArchiveError(f"{path}: manifest.json is damaged: {exc}") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ArchiveError(f"{path} is not a Memlane archive")
        if manifest.get("version") != VERSION:
            raise ArchiveError(f"{path} has archive version {manifest.get('version')}; "
                               f"this Memlane reads version {VERSION}")
        members: dict[str, Any] = manifest.get("members", {})
        names = set(zf.namelist()) - {"manifest.json"}
        if names != set(members):
            extra = sorted(names - set(members))[:3]
            missing = sorted(set(members) - names)[:3]
            raise ArchiveError(f"{path} does not match its manifest (missing {missing}, "
                               f"unexpected {extra}): truncated or tampered with")
        for name, info in members.items():
            if not _safe(name):
                raise ArchiveError(f"{path}: unsafe member name {name!r}")
            try:
                digest = hashlib.sha256()
                size = 0
                with zf.open(name) as fh:
                    for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):  # type: ignore[misc]
                        digest.update(chunk)
                        size += len(chunk)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise ArchiveError(f"{path}: {name} cannot be read: {exc}") from exc
            if digest.hexdigest() != info.get("sha256") or size != info.get("bytes"):
                raise ArchiveError(f"{path}: {name} does not match its SHA-256 in the manifest "
                                   "(tampered with or damaged)")
    return manifest


def _rows(zf: zipfile.ZipFile, table: str) -> Iterator[dict[str, Any]]:
    for line in zf.read(f"records/{table}.jsonl").decode("utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


def import_archive(store: Store, home: Path, path: Path) -> ArchiveReport:
    """Restore a verified archive into an empty store; all or nothing."""
    t0 = time.perf_counter()
    if any(store.counts().values()):
        raise ArchiveError(f"{home} already holds memories; import into an empty home "
                           "(e.g. memlane --home NEW_FOLDER import-archive ...)")
    manifest = verify_archive(path)
    report = ArchiveReport(path)
    cipher = store.keys.files if store.keys else None
    written: list[Path] = []
    try:
        with zipfile.ZipFile(path) as zf:
            for name in manifest["members"]:
                if name.startswith("records/"):
                    continue
                target = home / name
                target.parent.mkdir(parents=True, exist_ok=True)
                data = zf.read(name)
                target.write_bytes(cipher.seal(data) if cipher is not None else data)
                written.append(target)
            report.files = len(written)
            with store.transaction() as conn:
                columns = {t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")}
                           for t in TABLES}
                for table in TABLES:
                    n = 0
                    for row in _rows(zf, table):
                        row = {k: v for k, v in row.items() if k in columns[table]}
                        if table == "frames" and row.get("ocr") == "pending":
                            row["ocr"] = "done"  # its OCR job is machine state, not exported
                        cols = ", ".join(row)
                        marks = ", ".join("?" * len(row))
                        conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})",
                                     list(row.values()))
                        n += 1
                    report.counts[table] = n
    except BaseException:
        for target in written:
            target.unlink(missing_ok=True)
        raise
    report.bytes = path.stat().st_size
    report.seconds = time.perf_counter() - t0
    return report
