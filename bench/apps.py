"""The WSGI applications the benchmark serves through the same gunicorn settings: the
portal, a bare Flask "hello" app that measures what the machine, gunicorn and the load
generator manage at best (`gunicorn 'bench.apps:portal()'`), and the least a submission
can cost on the same database (`floor()`)."""

from __future__ import annotations

from flask import Flask


def portal() -> Flask:
    """The portal as configured by the environment, without rate limits: the benchmark
    floods the login and the contact form from one address on purpose."""
    from app import create_app

    return create_app({"RATELIMIT_ENABLED": False})


def hello() -> Flask:
    """A bare Flask app with one page."""
    app = Flask("hello")

    @app.get("/")
    def index() -> str:
        return "Hello, World!"

    return app


def floor() -> Flask:
    """The least a submission can cost: a bare Flask app whose form (WTForms; no CSRF,
    session, login or language) writes what an enrolment writes, with SQLAlchemy Core and
    no ORM, in one transaction on the portal's database and with its engine options: a
    seat taken by a conditional UPDATE, the row, its history row and its outbox row, then
    the commit. It reads nothing first, not even the course."""
    import json

    import sqlalchemy as sa
    from flask import redirect
    from flask_wtf import FlaskForm
    from wtforms import EmailField, StringField
    from wtforms.validators import DataRequired, Email, Length

    from config import ENGINE_OPTIONS, database_url

    app = Flask("floor")
    app.config.update(SECRET_KEY="floor", WTF_CSRF_ENABLED=False)
    engine = sa.create_engine(database_url(app.instance_path), **ENGINE_OPTIONS)
    meta = sa.MetaData()
    course = sa.Table(
        "bench_floor_course",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("capacity", sa.Integer),
        sa.Column("seats_taken", sa.Integer),
    )
    row = sa.Table(
        "bench_floor_row",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("course_id", sa.Integer),
        sa.Column("first_name", sa.String(100)),
        sa.Column("last_name", sa.String(100)),
        sa.Column("email", sa.String(254)),
        sa.Column("organisation", sa.String(200)),
    )
    history = sa.Table(
        "bench_floor_history",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("row_id", sa.Integer),
        sa.Column("status", sa.String(20)),
    )
    outbox = sa.Table(
        "bench_floor_outbox",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("record_id", sa.Integer),
        sa.Column("context", sa.Text),
    )
    with engine.begin() as connection:
        meta.create_all(connection)
        if connection.scalar(sa.select(sa.func.count()).select_from(course)) == 0:
            connection.execute(sa.insert(course).values(id=1, capacity=10**9, seats_taken=0))

    class Submission(FlaskForm):
        first_name = StringField(validators=[DataRequired(), Length(max=100)])
        last_name = StringField(validators=[DataRequired(), Length(max=100)])
        email = EmailField(validators=[DataRequired(), Email(), Length(max=254)])
        organisation = StringField(validators=[DataRequired(), Length(max=200)])

    @app.get("/")
    def form() -> str:
        return "<form method=post></form>"

    @app.post("/")
    def submit():
        form = Submission()
        if not form.validate():
            return "invalid", 400
        values = {name: form[name].data for name in ("first_name", "last_name", "email")}
        values["organisation"] = form.organisation.data
        with engine.begin() as connection:
            taken = connection.execute(
                sa.update(course)
                .where(course.c.id == 1, course.c.seats_taken < course.c.capacity)
                .values(seats_taken=course.c.seats_taken + 1)
            )
            if taken.rowcount != 1:
                return "full", 409
            new = connection.scalar(
                sa.insert(row).values(course_id=1, **values).returning(row.c.id)
            )
            connection.execute(sa.insert(history).values(row_id=new, status="sitova"))
            context = json.dumps({"row": values, "course": 1})
            connection.execute(sa.insert(outbox).values(record_id=new, context=context))
        return redirect("/done", 303)

    return app
