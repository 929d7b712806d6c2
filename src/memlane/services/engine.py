"""The composition root: builds the store, embedder, vector index, OCR and retriever from settings.

:class:`Engine` is what the CLI and the GUI hold. It resolves nothing itself: it is given
:class:`Paths` and :class:`Settings`, creates each part on first use (so ``memlane status`` never
loads a model it does not need) and exposes the operations the clients call: import chats, ingest
images, search, consolidate, reindex, export and restore archives, status. The first search of a
process repairs drift between Chroma and SQLite (without waiting to embed a backlog), so a crash
between the two never leaves search silently wrong.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from memlane.capture.engines import engine_available, make_engine
from memlane.capture.load import Yield, release_memory
from memlane.capture.ocr import OcrEngine, installed_languages
from memlane.capture.privacy import ExclusionRules
from memlane.capture.recorder import Recorder
from memlane.core.errors import LockedError, MemlaneError, ModelError, StorageError
from memlane.core.paths import Paths
from memlane.core.settings import AnswerSettings, Settings, load_settings
from memlane.memory.archive import ArchiveReport, clean_stale_exports, export_archive
from memlane.memory.archive import import_archive as restore_archive
from memlane.memory.chat_import import parse_chat_file
from memlane.memory.crypto import Keys, is_encrypted, key_state, remembered
from memlane.memory.forget import Plan, Report, Scope
from memlane.memory.forget import execute as execute_forget
from memlane.memory.forget import plan as plan_forget
from memlane.memory.frames import FrameFiles
from memlane.memory.jobs import JobQueue
from memlane.memory.records import KINDS
from memlane.memory.retention import RetentionReport, apply_retention
from memlane.memory.retrieval import Retriever, SearchResult
from memlane.memory.store import ImportResult, Store
from memlane.memory.vectors import RepairReport, VectorIndex
from memlane.models.embedder import OnnxEmbedder
from memlane.models.runtime import ChatModel, ModelProcess
from memlane.services.assistant import Assistant
from memlane.services.capture_status import capture_status
from memlane.services.consolidate import ConsolidationReport, Consolidator
from memlane.services.ingest import IngestReport, expand, ingest_images
from memlane.services.journal import JournalReport, write_journal, written_days
from memlane.services.model_setup import (
    BACKGROUND_NICE,
    consolidation_setting,
    model_process,
    model_status,
)
from memlane.services.ocr_worker import OcrOutcome, OcrWorker, index_in_child
from memlane.services.recorder import CaptureService, RecorderParts

log = logging.getLogger(__name__)
INDEX_TIMEOUT_S = 1800.0  # one background indexing run
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ChatImportReport:
    path: Path
    conversations: int
    added: int
    skipped: int
    embedded: int


class Engine:
    """One home folder's parts, built on first use, and the operations clients call on them.

    The only place that builds the Store, FrameFiles, vector index, embedder, OCR and model
    process: parts get what they need from here (:meth:`assistant`, :meth:`ocr_worker`,
    :meth:`capture_service`, :meth:`recorder_parts`), and a thread of its own gets its own
    database connection (:meth:`open_store`, :meth:`for_thread`). Not thread-safe: use one
    Engine per thread. Close it (or use ``with``) to stop the model process and release Chroma.
    """

    def __init__(
        self, paths: Paths, settings: Settings | None = None,
        embedder: OnnxEmbedder | None = None, keys: Keys | None = None,
        *, background: bool = False,
    ) -> None:
        paths.ensure()
        self.background = background  # its model process runs at a lower CPU priority
        clean_stale_exports(paths.work)  # what a killed export left (a copy of the database)
        self.paths = paths
        self.keys = keys
        self.settings = settings or load_settings(paths.settings)
        self._repaired: RepairReport | None = None
        if embedder is not None:  # share one loaded model (tests, the GUI's workers)
            self.__dict__["embedder"] = embedder

    @classmethod
    def open(cls, home: Path) -> Engine:
        return cls(Paths(home))

    def close(self) -> None:
        if "model" in self.__dict__:
            self.model.close()
        if "index" in self.__dict__:
            self.index.close()
        if "ocr" in self.__dict__:
            self.ocr.close()
        if "store" in self.__dict__:
            self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- parts, built on first use ---------------------------------------------------------------

    @property
    def encrypted(self) -> bool:
        return is_encrypted(self.paths.home)

    @cached_property
    def store(self) -> Store:
        if self.encrypted:
            if self.keys is None:
                raise LockedError(f"the memory in {self.paths.home} is encrypted; unlock it with "
                                  "its passphrase")
            if key_state(self.paths.home) != "encrypted":
                raise StorageError("encrypting this memory was interrupted; run `memlane "
                                   "encrypt` again to finish (nothing is lost)")
        return Store(self.paths.db, self.keys)

    @cached_property
    def embedder(self) -> OnnxEmbedder:
        return self._new_embedder()

    def _new_embedder(self) -> OnnxEmbedder:
        cfg = self.settings.embedder
        model = None if cfg.model == "default" else Path(cfg.model).expanduser()
        return OnnxEmbedder(model, batch_size=cfg.batch_size, threads=cfg.threads)

    @cached_property
    def index(self) -> VectorIndex:
        in_memory = self.settings.privacy.vectors_in_memory
        if in_memory and self.paths.vectors.exists():  # nothing of the index stays on disk
            shutil.rmtree(self.paths.vectors, ignore_errors=True)
        return VectorIndex(self.paths.vectors, self.store, self.embedder, in_memory=in_memory)

    @cached_property
    def ocr(self) -> OcrEngine:
        return make_engine(self.settings.ocr.engine, self.settings.ocr.languages)

    @cached_property
    def frame_files(self) -> FrameFiles:
        cap = self.settings.capture
        return FrameFiles(
            self.paths.home, self.paths.frames, self.paths.thumbnails,
            quality=cap.webp_quality, thumbnail_width=cap.thumbnail_width,
            cipher=self.keys.files if self.keys else None,
        )

    @cached_property
    def model(self) -> ModelProcess:
        """The local LLM (started in its own process on the first question). A background
        engine's writes memories while the person is idle (``[memory] model``)."""
        setting = (consolidation_setting(self.paths, self.settings) if self.background
                   else self.settings.model.path)
        return self._model_process(setting, self.settings.model.context_size)

    def _model_process(self, setting: str, context_size: int) -> ModelProcess:
        return model_process(self.paths, self.settings, setting, context_size,
                             background=self.background)

    def open_store(self) -> Store:
        """Another connection to this home's database, for another thread (the caller closes it)."""
        self.store  # noqa: B018 - checks the memory is unlocked and not half-encrypted
        return Store(self.paths.db, self.keys)

    def for_thread(self, *, background: bool = False) -> Engine:
        """An engine for another thread: its own database connection and index client, sharing
        this one's settings, keys and loaded embedder (the caller closes it). A ``background``
        one starts its own model process at a lower CPU priority, so answers come first."""
        return Engine(self.paths, self.settings, embedder=self.embedder, keys=self.keys,
                      background=background)

    def sync_index(self) -> int:
        """Embed what the store holds that the index does not yet (see VectorIndex.sync)."""
        return self.index.sync()

    def assistant(self, conversation: str | None = None, *, model: ChatModel | None = None,
                  settings: AnswerSettings | None = None,
                  search: Callable[..., SearchResult] | None = None) -> Assistant:
        """An assistant on this engine's search (or ``search``, a filtered one) and store, with
        the local model by default."""
        return Assistant(search or self.search, self.store, self.sync_index,
                         self.model if model is None else model,
                         settings or self.settings.answer, conversation)

    def ocr_worker(self, on_done: Callable[[OcrOutcome], None] | None = None, *,
                   recorder: bool = False) -> OcrWorker:
        """A worker for the OCR jobs of this home (it indexes unless the index is in memory).

        A ``recorder``'s worker yields to the person (battery, a busy machine) and indexes with
        an embedder loaded for each batch only (:meth:`index_batch`).
        """
        in_memory = self.settings.privacy.vectors_in_memory  # the app's, never the recorder's
        cap = self.settings.capture
        index = None if in_memory else self.index_batch if recorder else self.sync_index
        pacing = Yield(busy_share=cap.ocr_busy_percent / 100.0,
                       on_battery_waits=not cap.ocr_on_battery) if recorder else None
        if not recorder:
            return OcrWorker(self.store, self.frame_files, self.ocr, self.settings, index,
                             on_done=on_done)
        # Each batch is a process that loads Chroma (about 3 CPU-seconds): few and large.
        worker = OcrWorker(self.store, self.frame_files, self.ocr, self.settings, index,
                           on_done=on_done, pacing=pacing, index_batch=256,
                           index_every_s=600.0)
        worker.unload_after_s = 60.0  # a static screen does not keep the models loaded
        return worker

    def index_batch(self) -> int:
        """Embed what waits without keeping the embedder and Chroma in this process.

        A plain home runs ``memlane index`` as a child process at a lower CPU priority: its
        memory is the system's again when it exits (in this process, loading them once keeps
        about 100 MB that freeing cannot give back). An encrypted home, whose key a child could
        not ask for, embeds here with parts loaded for this batch only. Returns the records
        embedded (-1 when the child failed; the next batch tries again).
        """
        if "index" in self.__dict__:  # already loaded here: use it
            return self.sync_index()
        if self.keys is None and not self.encrypted:
            return index_in_child(self.paths.home, BACKGROUND_NICE, INDEX_TIMEOUT_S)
        embedder = self.__dict__.get("embedder") or self._new_embedder()
        index = VectorIndex(self.paths.vectors, self.store, embedder)
        try:
            return index.sync()
        finally:
            index.close()
            del index, embedder
            release_memory()

    def capture_service(self, store: Store, *, recorder: Recorder | None = None,
                        env: dict[str, str] | None = None) -> CaptureService:
        """A capture service storing into ``store`` (the tick thread's own connection)."""
        return CaptureService(self.paths, self.settings, store, self.frame_files,
                              recorder=recorder, env=env)

    def recorder_parts(self) -> RecorderParts:
        """What :func:`~memlane.services.recorder.run_recorder` needs, built here."""
        return RecorderParts(
            self.paths, self.settings, self.store, lambda: self.ocr_worker(recorder=True),
            lambda: self.capture_service(self.open_store()),
            # upkeep loads the embedder only when it has something to embed
            lambda: Engine(self.paths, self.settings, embedder=self.__dict__.get("embedder"),
                           keys=self.keys, background=True),
        )

    @cached_property
    def retriever(self) -> Retriever:
        self.index.repair(embed=False)  # never waits for a backlog: writers embed it
        return Retriever(self.store, self.index, self.settings.search)

    # -- operations ------------------------------------------------------------------------------

    def repair(self, progress: Progress | None = None) -> RepairReport:
        """Bring the vector index in line with the store (once per process)."""
        if self._repaired is None:
            self._repaired = self.index.repair(progress)
        return self._repaired

    def import_chat(
        self, path: Path, fmt: str = "auto", progress: Progress | None = None
    ) -> ChatImportReport:
        convs = parse_chat_file(path, fmt)
        results: list[ImportResult] = self.store.import_conversations(convs)
        count = len(convs)
        del convs  # stored: the parsed file need not stay in memory while it is embedded
        stale = [v for r in results for v in r.stale_vectors]
        if stale:  # an interrupted delete is caught by repair: the vector count is off
            self.index.delete(stale)
        embedded = self.index.sync(progress)
        return ChatImportReport(
            path, count, sum(r.added for r in results), sum(r.skipped for r in results),
            embedded,
        )

    def ingest_images(
        self, paths: Sequence[Path], *, at: float | None = None, app: str = "", title: str = "",
        on_file: Callable[[Path], None] | None = None,
    ) -> IngestReport:
        report = ingest_images(
            expand(paths), store=self.store, files=self.frame_files, ocr=self.ocr,
            at=at, app=app, title=title, redact=self.settings.privacy.redact, on_file=on_file,
        )
        self.index.sync()
        return report

    def search(
        self, query: str, *, since: float | None = None, until: float | None = None,
        app: str | None = None, kinds: Sequence[str] = KINDS, limit: int | None = None,
        now: datetime | None = None, site: str | None = None,
    ) -> SearchResult:
        if self.settings.privacy.vectors_in_memory:  # records other processes added meanwhile
            self.index.repair()
        return self.retriever.search(
            query, since=since, until=until, app=app, kinds=kinds, limit=limit, now=now,
            site=site,
        )

    def forget(
        self, what: Scope | Plan, *, dry_run: bool = False
    ) -> tuple[Plan, Report | None]:
        """What a scope covers and, unless ``dry_run``, delete it with every remnant.

        Given a :class:`Plan` (the one a person confirmed), exactly that is deleted.
        """
        todo = what if isinstance(what, Plan) else plan_forget(self.store, what)
        if dry_run or not any(todo.all_keys().values()):
            return todo, None
        clean_stale_exports(self.paths.work)  # a killed export's snapshot holds what goes
        journal = Path(self.settings.journal.folder).expanduser() if \
            self.settings.journal.folder else None
        days = self._days_of(todo) if journal is not None else set()
        report = execute_forget(self.store, self.index, self.paths.home, todo,
                                (self.paths.frames, self.paths.thumbnails, self.paths.spool))
        if journal is not None:  # no copy of what was forgotten stays in the journal
            for day in sorted(days & set(written_days(journal))):
                try:
                    self.write_journal(journal, day, day)
                except MemlaneError as exc:
                    log.warning("the journal in %s could not be updated after forgetting: %s",
                                journal, exc)
                    break
        return todo, report

    def _days_of(self, todo: Plan) -> set[date]:
        """The local days the records of a forget plan fall on (episodes: every day they span)."""
        days: set[date] = set()
        keys = todo.all_keys()
        columns = {"frame": ("frames", "time", "time"), "message": ("messages", "time", "time"),
                   "episode": ("episodes", "start", "end"),
                   "fact": ("facts", "first_seen", "first_seen")}
        for kind, (table, first, last) in columns.items():
            ids = keys.get(kind, [])
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                for a, b in self.store.sql(
                        f"SELECT {first}, {last} FROM {table} WHERE id IN"
                        f" ({','.join('?' * len(chunk))})", chunk):
                    day, end = date.fromtimestamp(float(a)), date.fromtimestamp(float(b))
                    while day <= end and len(days) < 10_000:
                        days.add(day)
                        day += timedelta(days=1)
        return days

    def export(self, out: Path, *, since: float | None = None,
               until: float | None = None) -> ArchiveReport:
        """Write a portable archive of everything (or a time range) to ``out``."""
        return export_archive(self.store, self.paths.home, out, work=self.paths.work,
                              since=since, until=until)

    def import_archive(self, path: Path, progress: Progress | None = None) -> ArchiveReport:
        """Restore an archive into this (empty) home, then rebuild its vectors."""
        report = restore_archive(self.store, self.paths.home, path)
        self.index.sync(progress)
        return report

    def apply_settings(self, settings: Settings) -> None:
        """Use new settings: parts that depend on them are rebuilt on next use."""
        self.settings = settings
        if "model" in self.__dict__:
            self.model.close()
        if "ocr" in self.__dict__:
            self.ocr.close()
        for part in ("model", "ocr", "frame_files", "retriever"):
            self.__dict__.pop(part, None)

    def probe_model(self, setting: str) -> str:
        """Load a model (``default`` or a GGUF path) in its own process and have it say hello."""
        with self._model_process(setting, 1024) as model:
            reply = "".join(model.stream(
                [{"role": "user", "content": "Say hello in five words."}], max_tokens=16))
        reply = " ".join(reply.split())
        if not reply:
            raise ModelError(f"{model.path} loaded but returned no text")
        return f"{model.name}: {reply}"

    def consolidate(
        self, *, since: float | None = None, until: float | None = None,
        use_model: bool | None = None, max_model_calls: int | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ConsolidationReport:
        """Build episodes, day digests and facts from what is not consolidated yet."""
        settings = self.settings.memory
        if use_model is not None:
            settings = replace(settings, use_model=use_model)
        model = self.model if settings.use_model and self._model_usable() else None
        worker = Consolidator(self.store, self.sync_index, model, settings, max_model_calls)
        return worker.run(since=since, until=until, progress=progress, should_stop=should_stop)

    def _model_usable(self) -> bool:
        try:
            self.model  # noqa: B018 - resolving it checks the file (and the default's hash)
        except ModelError as exc:
            log.warning("consolidating without the model: %s", exc)
            return False
        return True

    def apply_retention(self, now: float | None = None) -> RetentionReport:
        """Thin or forget old frames as ``[retention]`` says (nothing when it is all zeros)."""
        cfg = self.settings.retention
        if cfg.frames_days <= 0 and cfg.frames_max_gb <= 0:
            return RetentionReport()  # the default: nothing to open, nothing to do
        forgets = cfg.frames_days > 0 and not cfg.keep_text  # only then are vectors deleted
        return apply_retention(
            self.store, self.index if forgets else None, self.paths.home,
            frames_days=cfg.frames_days,
            keep_text=cfg.keep_text, max_image_bytes=int(cfg.frames_max_gb * 1e9), now=now,
            folders=(self.paths.frames, self.paths.thumbnails, self.paths.spool))

    def write_journal(self, folder: Path, first: date | None = None,
                      last: date | None = None) -> JournalReport:
        """Write the Markdown journal (one file per day) into ``folder``; see services.journal."""
        rules = ExclusionRules.of(self.settings.privacy)
        return write_journal(self.store, folder, first, last, hide=rules.hides)

    def reindex(self, progress: Progress | None = None) -> int:
        return self.index.rebuild(progress)

    def status(self) -> dict[str, Any]:
        counts = self.store.counts()
        last_frame = self.store.last_time("frame")
        last_message = self.store.last_time("message")
        jobs = JobQueue(self.store).counts()
        return {
            "home": str(self.paths.home),
            "counts": counts,
            "last_frame": last_frame,
            "last_message": last_message,
            "pending_vectors": self.store.count_unembedded(),
            "jobs": jobs,
            "encryption": {
                "enabled": self.encrypted,
                "remembered_in_keyring": self.encrypted and remembered(self.paths.home),
            },
            "disk_bytes": {
                "database": _size(self.paths.db) + _size(Path(f"{self.paths.db}-wal")),
                "frames": _tree_size(self.paths.frames) + _tree_size(self.paths.thumbnails),
                "vectors": _tree_size(self.paths.vectors),
            },
            "ocr": {
                "engine": self.ocr.name,
                "available": engine_available(self.ocr.name),
                "languages": self.ocr.languages if engine_available(self.ocr.name) else None,
                "installed_languages": list(installed_languages()),
            },
            "embedder": {
                "name": self.embedder.name,
                "available": self.embedder.is_available(),
            },
            "model": model_status(self.paths, self.settings),
            "capture": capture_status(self.store, self.settings, self.paths),
            "migrations": self.store.applied_migrations(),
        }


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _tree_size(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
