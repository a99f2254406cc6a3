"""The scheduled jobs' last runs: what `flask jobs run` decides is due by."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.types import UTCDateTime


class JobRun(db.Model):
    """One row per job: when it last started and finished, and how it went."""

    __tablename__ = "job_run"

    name: Mapped[str] = mapped_column(sa.String(60), primary_key=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When its last successful run began: what "due" is counted from (what arrived
    # during that run is left for the next one).
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(sa.String(500))
    failed: Mapped[bool] = mapped_column(default=False)

    def __repr__(self) -> str:
        return f"<JobRun {self.name!r}>"
