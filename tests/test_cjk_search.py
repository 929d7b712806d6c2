"""Chinese (and other CJK) text is found by any word of two or more characters, and forgotten."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import chat_file
from memlane.core.paths import Paths
from memlane.core.text import cjk_query, cjk_terms
from memlane.memory.forget import Scope
from memlane.memory.migrations import apply_migrations
from memlane.memory.records import FrameIn, OcrBlockIn
from memlane.memory.store import Store
from memlane.services.engine import Engine


def test_pairs_and_queries() -> None:
    assert cjk_terms("hello world") == ""
    assert cjk_terms(None) == ""
    assert cjk_terms("携程旅行网 首页") == "携程 程旅 旅行 行网 首页"
    assert cjk_terms("搜狐sohu新闻") == "sohu 搜狐 新闻"  # Latin glued to Chinese is filed too
    assert cjk_query("携程旅行") == '"携程 程旅 旅行"'
    assert cjk_query("陆") == '"陆"*'
    assert cjk_query("陆风 price") == '"陆风" OR "price"'
    assert cjk_query("only english words") == ""


def _frame(store: Store, n: int, text: str, title: str = "") -> int:
    frame_id = store.add_frame(FrameIn(
        time=1_700_000_000.0 + n, app="firefox", title=title, image_path=f"frames/{n}.webp",
        thumb_path=f"thumbnails/{n}.webp", width=100, height=100, bytes=1, change_hash=f"{n:016x}",
        content_sha256=f"sha{n}", blocks=(OcrBlockIn(1, text),),
    ))
    assert frame_id is not None
    return frame_id


def _found(engine: Engine, query: str) -> list[int]:
    return [int(h.id.split(":")[1]) for h in engine.search(query, kinds=("frame",)).hits]


def test_frames_found_by_chinese_words_and_forgotten(engine: Engine) -> None:
    store = engine.store
    car = _frame(store, 1, "陆风汽车 官方网站 新款SUV上市")
    trip = _frame(store, 2, "携程旅行网首页 机票 酒店")
    news = _frame(store, 3, "搜狐sohu新闻 今日要闻")
    _frame(store, 4, "Weather forecast for Tuesday")
    assert _found(engine, "陆风")[:1] == [car]
    assert _found(engine, "携程旅行")[:1] == [trip]
    assert _found(engine, "机票")[:1] == [trip]
    assert news in _found(engine, "sohu")
    # glued to Chinese, a Latin word ranks after the same word standing on its own
    plain = _frame(store, 5, "sohu mail login")
    assert _found(engine, "sohu")[:2] == [plain, news]
    assert set(_found(engine, "旅行 陆风")[:2]) == {trip, car}
    # forgetting a frame takes its words out of the pair index too
    engine.forget(Scope(ids=(f"frame:{trip}",)))
    assert trip not in _found(engine, "携程旅行")
    rows = store.sql("SELECT rowid FROM ocr_blocks_cjk WHERE ocr_blocks_cjk MATCH ?", ['"携程"'])
    assert rows == []


def test_updated_titles_and_messages(engine: Engine, tmp_path: Path) -> None:
    frame = _frame(engine.store, 1, "nothing Chinese here", title="百度百科 — Mozilla Firefox")
    assert _found(engine, "百科")[:1] == [frame]
    engine.store.db.execute("UPDATE frames SET title = 'Mozilla Firefox' WHERE id = ?", [frame])
    engine.store.db.conn.commit()
    assert frame not in _found(engine, "百科")
    path = chat_file(tmp_path / "chat.jsonl", [
        ("2024-05-06T09:00:00", "李雷", "我们周五去上海博物馆看展览吧", "周末"),
        ("2024-05-06T09:01:00", "me", "Sure, see you Friday", "周末"),
    ])
    engine.import_chat(path)
    hits = engine.search("博物馆", kinds=("message",)).hits
    assert hits and "上海博物馆" in hits[0].snippet


def test_migration_files_rows_stored_before_it(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "home")
    paths.home.mkdir(parents=True)
    # an older home: the schema up to the migration before the pair index, with a frame in it
    import sqlite_utils

    from memlane.memory import sql

    db = sqlite_utils.Database(sql.connect(paths.db))
    apply_migrations(db, upto="m010_replies_embedded_with_their_question")
    db.execute(
        "INSERT INTO frames (time, monitor, app, title, image_path, thumb_path, width, height,"
        " bytes, change_hash, origin) VALUES (1, 0, 'x', '', 'frames/a.webp', 'thumbnails/a.webp',"
        " 1, 1, 1, 'h', 'capture')")
    db.execute("INSERT INTO ocr_blocks (frame_id, block, text, words, confidence)"
               " VALUES (1, 1, '上海博物馆 开放时间', '[]', 90)")
    db.conn.commit()
    db.conn.close()
    store = Store(paths.db)
    try:
        assert store.sql("SELECT rowid FROM ocr_blocks_cjk WHERE ocr_blocks_cjk MATCH ?",
                         ['"博物 物馆"']) == [(1,)]
    finally:
        store.close()


@pytest.mark.parametrize("text", ["", "   ", "🙂🙂", "\x00", "ａｂｃ", "한국어 텍스트", "カタカナ"])
def test_odd_text_never_breaks_the_index(engine: Engine, text: str) -> None:
    frame = _frame(engine.store, 1, text)
    engine.store.db.execute("DELETE FROM frames WHERE id = ?", [frame])
    engine.store.db.conn.commit()
    assert engine.store.sql("SELECT count(*) FROM ocr_blocks") == [(0,)]
