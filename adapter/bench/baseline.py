"""The benchmark's baseline: the same HTTP stack and database doing the least possible work.

`POST /bench/baseline` parses the JSON body and inserts it as one row. It exists only when
`MC_BENCH_ENDPOINTS=true` (the benchmark sets it); production never registers it.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, request
from sqlalchemy import Integer, Text, insert
from sqlalchemy.orm import Mapped, mapped_column

from adapter.db import Base
from adapter.http.unit_of_work import commit, session


class BaselineRow(Base):
    """A row per baseline request."""

    __tablename__ = "bench_baseline"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    content: Mapped[str] = mapped_column(Text, nullable=False)


def _baseline():
    body = json.loads(request.get_data())
    session().execute(insert(BaselineRow).values(content=json.dumps(body)))
    commit()
    return Response('{"stored":true}', status=201, content_type="application/json")


def baseline_blueprint() -> Blueprint:
    """The bench-only blueprint."""
    bp = Blueprint("bench", __name__, url_prefix="/bench")
    bp.add_url_rule("/baseline", "baseline", _baseline, methods=["POST"])
    return bp
