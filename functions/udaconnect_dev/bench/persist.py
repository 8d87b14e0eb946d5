"""persist alone: group commit vs one COPY into the same (emptied) table, with all its indexes, in one run.

Three figures, each from a durable database (fsync on):
- `copy`: one COPY of every row, the bulk-load ceiling;
- `writer_c<N>`: the group-commit writer fed by N concurrent deliveries (coroutines, as in the persist process),
  each waiting for its own commit: the storage path without HTTP;
- `function_c<N>`: the persist process itself, N keep-alive connections posting binary-mode deliveries as the
  broker's dispatcher does (200 and the stored event after commit): the same plus HTTP, paid in Python on the
  same 2 cores.
"""

from __future__ import annotations

import asyncio
import io
import time
from datetime import UTC, datetime

import psycopg2

from udaconnect.contracts.names import LOCATION_REPORTED
from udaconnect.persist.group_commit import GroupCommitWriter, Row
from udaconnect.ports import free_port
from udaconnect.settings import Settings
from udaconnect.storage.urls import libpq
from udaconnect_dev.bench import load


def measure(settings: Settings, rows: int, concurrency: tuple[int, ...] = (100, 1000)) -> dict:
    url = libpq(settings.database_url)
    now = datetime.now(UTC)
    out: dict = {"rows": rows}
    _truncate(url)
    out["copy_rows_per_s"] = _copy(url, [_row(i, now, "copy") for i in range(rows)])
    for n in concurrency:
        _truncate(url)
        out[f"writer_c{n}"] = _writer(url, [_row(i, now, f"w{n}-") for i in range(rows)], n)
        _truncate(url)
        out[f"function_c{n}"] = _function(settings, rows, n)
    _truncate(url)
    for figure in list(out.values()):
        if isinstance(figure, dict):
            figure["ratio_to_copy"] = figure["rows_per_s"] / out["copy_rows_per_s"]
    return out


def _row(i: int, now: datetime, tag: str) -> Row:
    return Row(i % 1000 + 1, -122.29 + i * 1e-7, 37.55, now, 5.0, "/devices/bench", f"{tag}{i}")


def _truncate(url: str) -> None:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("TRUNCATE location RESTART IDENTITY CASCADE")
    conn.close()


def _count(url: str) -> int:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM location")
        found = cur.fetchone()[0]
    conn.close()
    return int(found)


def _copy(url: str, data: list[Row]) -> float:
    buffer = io.StringIO("".join(f"{r.person_id}\tSRID=4326;POINT({r.longitude!r} {r.latitude!r})\t"
                                 f"{r.recorded_at.isoformat()}\t{r.accuracy}\t{r.event_source}\t{r.event_id}\n"
                                 for r in data))
    conn = psycopg2.connect(url)
    began = time.monotonic()
    with conn.cursor() as cur:
        cur.copy_expert("COPY location (person_id, coordinate, creation_time, accuracy, event_source, event_id) "
                        "FROM STDIN", buffer)
    conn.commit()
    seconds = time.monotonic() - began
    conn.close()
    assert _count(url) == len(data)
    return len(data) / seconds


def _writer(url: str, data: list[Row], concurrency: int) -> dict:
    writer = GroupCommitWriter(url)
    writer.write(Row(1, 0, 0, datetime.now(UTC), None, "/devices/warmup", "w"))  # connected before the clock
    batches, queue, outcomes = writer.batches, iter(data), []

    async def deliveries() -> None:
        for row in queue:
            outcomes.append(await writer.write_async(row))

    async def main() -> float:
        began = time.monotonic()
        await asyncio.gather(*(deliveries() for _ in range(concurrency)))
        return time.monotonic() - began

    seconds = asyncio.run(main())
    assert outcomes.count("stored") == len(data), "group commit lost rows"
    transactions = writer.batches - batches
    return {"rows_per_s": len(data) / seconds, "transactions": transactions,
            "rows_per_transaction": len(data) / transactions}


def _function(settings: Settings, rows: int, concurrency: int) -> dict:
    from udaconnect_dev.bench import procs

    port = free_port()
    process = procs.spawn("persist", port, {"DATABASE_URL": settings.database_url})
    try:
        url = f"http://127.0.0.1:{port}/"
        now = datetime.now(UTC).isoformat()
        prepared = [load.Prepared([f"f{concurrency}-{i}"], load.encode(url, {
            "ce-specversion": "1.0", "ce-id": f"f{concurrency}-{i}", "ce-source": "/devices/bench",
            "ce-type": LOCATION_REPORTED, "ce-partitionkey": str(i % 1000 + 1), "Content-Type": "application/json",
            "Prefer": "reply"}, (f'{{"person_id":{i % 1000 + 1},"latitude":37.55,"longitude":{-122.29 + i * 1e-7!r},'
                                 f'"recorded_at":"{now}","accuracy":5.0}}').encode())) for i in range(rows)]
        load.send(url, prepared[:200], 20, 200)  # warm: the first delivery connects to the database
        _truncate(libpq(settings.database_url))
        result = load.send(url, prepared, concurrency, 200)
        stored = _count(libpq(settings.database_url))
        assert result.errors == 0 and stored == rows, f"{result.errors} failed deliveries, {stored} of {rows} rows"
        return {"rows_per_s": rows / result.seconds, "p50_ms": result.p(0.5), "p99_ms": result.p(0.99),
                "peak_rss_mb": procs.peak_rss_mb(process.pid)}
    finally:
        procs.stop(process)
