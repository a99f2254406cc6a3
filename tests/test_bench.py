"""The benchmark's data generator (bench/generate.py) on a tiny data set: the generator
checks its own counts, references and service codes; this checks that the app reads
what it wrote and continues its numbers. Nothing here is timed."""

from __future__ import annotations

import sqlalchemy as sa

from bench.generate import SEARCH_PREFIX, Shape, generate
from extensions import db
from models.invoicing import SalesInvoice
from models.support import Ticket
from services import portal, support
from services.invoicing import desk as invoicing

TINY = Shape("tiny", invoicing_users=3, enrolments=120, tickets=100, companies=(60, 10))


def test_the_generator_fills_a_tiny_data_set_the_app_reads(app):
    with app.app_context():
        # What the migrations add to a new database (the fixture empties every table).
        support.ensure_default_applications()
        portal.ensure_product_groups()
        db.session.commit()
        generate(db.engine, TINY, log=lambda line: None)

        assert sum(invoicing.desk_counts().values()) == TINY.desk
        invoices = db.session.scalars(
            sa.select(SalesInvoice).where(SalesInvoice.user_number == SEARCH_PREFIX)
        ).all()
        assert len(invoices) == 500
        assert invoicing.by_code(invoices[200].reference) == [invoices[200]]
        assert invoicing.next_invoice_number(SEARCH_PREFIX) == f"{SEARCH_PREFIX}496"
        newest = db.session.scalar(sa.select(Ticket.number).order_by(Ticket.id.desc()).limit(1))
        year, running = newest.split("-")[1:]
        assert support.new_number() == f"T-{year}-{int(running) + 1:06d}"
        db.session.rollback()


def test_the_floor_app_writes_what_an_enrolment_writes(tmp_path, monkeypatch):
    """The benchmark's reference for a submission (bench.apps.floor): one seat, the row,
    its history and its outbox row in one transaction; a bad form writes nothing."""
    from bench.apps import floor

    url = f"sqlite:///{tmp_path}/floor.sqlite3"
    monkeypatch.setenv("DATABASE_URL", url)
    client = floor().test_client()
    person = {"first_name": "A", "last_name": "B", "email": "a@example.com", "organisation": "O"}
    assert client.post("/", data=person).status_code == 303
    assert client.post("/", data={**person, "email": "no address"}).status_code == 400
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        count = {
            table: connection.scalar(sa.text(f"SELECT COUNT(*) FROM {table}"))
            for table in ("bench_floor_row", "bench_floor_history", "bench_floor_outbox")
        }
        seats = connection.scalar(sa.text("SELECT seats_taken FROM bench_floor_course"))
    engine.dispose()
    assert count == dict.fromkeys(count, 1) and seats == 1
