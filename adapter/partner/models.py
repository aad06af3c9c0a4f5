"""Every processed message by its sender and MessageHeader.id, with the response given (the reliable cache)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from adapter.db import Base


class ProcessedMessage(Base):
    """The duplicate key of a message (sender organisation, MessageHeader.id) and its stored answer.

    The primary key makes two concurrent deliveries of one message process it once: the second
    waits on the first's insert and then answers with the first's response, byte for byte.
    """

    __tablename__ = "processed_message"

    sender: Mapped[str] = mapped_column(String(64), primary_key=True)  # the sending organisation's HSA-id
    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # MessageHeader.id
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[int] = mapped_column(Integer, nullable=False)  # the HTTP status answered
    response: Mapped[str] = mapped_column(Text, nullable=False)  # the response body, as sent
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
