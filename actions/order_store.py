"""The demo shop's order store: SQLite, created and seeded with demo orders on first use.

Where: the file named by the environment variable ``KEFU_ORDERS_DB`` (default
``var/orders.sqlite3``, relative to the working directory); the folder is created.
``default_store()`` returns the store for that path.

What (all methods of ``OrderStore``; ids are resolved with ``order_id_candidates``, so
``"10001"``, ``"ord10001"`` and ``"ORD-10001"`` find the same order):

- ``find_order(raw_id) -> Order | None``
- ``cancel_order(raw_id) -> OrderChange``: only while ``processing`` (not shipped); the
  payment is then refunded (refund state ``processing``).
- ``change_shipping_address(raw_id, address) -> OrderChange``: only while ``processing``.
- ``refund_status(raw_id) -> RefundStatus | None``
- ``create_support_ticket(description=..., email=..., order_id=..., language=...,
  conversation_id=...) -> SupportTicket`` and ``get_ticket(ticket_id)``.

Unknown ids give ``None`` or ``ChangeOutcome.NOT_FOUND``, never an exception.

Concurrency: an ``OrderStore`` is safe to share between threads (one connection guarded by
a lock), and several processes (action-server workers) may open the same file: every
change is one conditional ``UPDATE`` inside a ``BEGIN IMMEDIATE`` transaction, so two
customers can never both cancel and re-address the same order.
"""

from __future__ import annotations

import enum
import functools
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from actions.demo_orders import demo_orders
from actions.order_ids import order_id_candidates

ORDERS_DB_ENV = "KEFU_ORDERS_DB"
DEFAULT_ORDERS_DB = "var/orders.sqlite3"

ORDER_STATUSES = ("processing", "shipped", "delivered", "cancelled")
REFUND_STATES = ("none", "requested", "processing", "refunded", "rejected")

_CREATE_ORDERS = """
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    customer_email TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('processing', 'shipped', 'delivered', 'cancelled')),
    items TEXT NOT NULL,                -- JSON list of order lines
    total_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    shipping_address TEXT NOT NULL,
    carrier TEXT,
    tracking_number TEXT,
    created_at TEXT NOT NULL,           -- ISO dates
    shipped_at TEXT,
    estimated_delivery TEXT,
    delivered_at TEXT,
    cancelled_at TEXT,
    refund_state TEXT NOT NULL DEFAULT 'none'
        CHECK (refund_state IN ('none', 'requested', 'processing', 'refunded', 'rejected')),
    refund_amount_cents INTEGER,
    refund_updated_at TEXT
)
"""
_CREATE_TICKETS = """
CREATE TABLE IF NOT EXISTS tickets (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT,
    email TEXT,
    description TEXT NOT NULL,
    language TEXT NOT NULL,
    conversation_id TEXT,
    status TEXT NOT NULL DEFAULT 'open',
    created_at TEXT NOT NULL
)
"""

_ORDER_COLUMNS = (
    "id", "customer_email", "status", "items", "total_cents", "currency",
    "shipping_address", "carrier", "tracking_number", "created_at", "shipped_at",
    "estimated_delivery", "delivered_at", "cancelled_at", "refund_state",
    "refund_amount_cents", "refund_updated_at",
)


@dataclass(frozen=True)
class OrderLine:
    """One product line of an order; ``name_zh`` is the product's Chinese name."""

    sku: str
    name: str
    name_zh: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class Order:
    """An order as stored. Dates are ISO strings (``"2025-11-27"``); money is in cents."""

    id: str
    customer_email: str
    status: str
    items: tuple[OrderLine, ...]
    total_cents: int
    currency: str
    shipping_address: str
    carrier: str | None
    tracking_number: str | None
    created_at: str
    shipped_at: str | None
    estimated_delivery: str | None
    delivered_at: str | None
    cancelled_at: str | None
    refund_state: str
    refund_amount_cents: int | None
    refund_updated_at: str | None

    @property
    def can_be_changed(self) -> bool:
        """True while the order has not left the warehouse (cancel / re-address allowed)."""
        return self.status == "processing"


class ChangeOutcome(enum.Enum):
    """What happened to a requested cancellation or address change."""

    DONE = "done"
    NOT_FOUND = "not_found"
    ALREADY_SHIPPED = "already_shipped"  # shipped or delivered: too late
    ALREADY_CANCELLED = "already_cancelled"


@dataclass(frozen=True)
class OrderChange:
    """Outcome of a change, with the order as it is afterwards (``None`` if not found)."""

    outcome: ChangeOutcome
    order: Order | None


@dataclass(frozen=True)
class RefundStatus:
    """Where an order's refund stands; ``state`` is one of ``REFUND_STATES``."""

    order_id: str
    state: str
    amount_cents: int | None
    currency: str
    updated_at: str | None
    order_status: str


@dataclass(frozen=True)
class SupportTicket:
    """A request for a human, e.g. ``TCK-000042``; staff follow up by e-mail or in chat."""

    id: str
    order_id: str | None
    email: str | None
    description: str
    language: str
    conversation_id: str | None
    status: str
    created_at: str


def _ticket_id(number: int) -> str:
    return f"TCK-{number:06d}"


def _ticket_number(ticket_id: str) -> int | None:
    digits = ticket_id.strip().upper().removeprefix("TCK-")
    return int(digits) if digits.isdigit() else None


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _order_from_row(row: sqlite3.Row) -> Order:
    values: dict[str, Any] = dict(zip(row.keys(), row))
    values["items"] = tuple(OrderLine(**line) for line in json.loads(values["items"]))
    return Order(**values)


def _ticket_from_row(row: sqlite3.Row) -> SupportTicket:
    values: dict[str, Any] = dict(zip(row.keys(), row))
    values["id"] = _ticket_id(values.pop("number"))
    return SupportTicket(**values)


class OrderStore:
    """The order database at ``path``; see the module docstring for the operations."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._connection_pid: int | None = None

    # -- operations -------------------------------------------------------------------

    def find_order(self, raw_id: object) -> Order | None:
        """Return the order ``raw_id`` refers to (as the customer typed it), or ``None``."""
        with self._transaction(write=False) as db:
            return self._find(db, raw_id)

    def cancel_order(self, raw_id: object) -> OrderChange:
        """Cancel an order that has not shipped yet and start refunding its total."""
        today = _utc_now().date().isoformat()
        with self._transaction(write=True) as db:
            order = self._find(db, raw_id)
            if order is None:
                return OrderChange(ChangeOutcome.NOT_FOUND, None)
            if not order.can_be_changed:
                return OrderChange(_refusal(order), order)
            # The status condition repeats the check inside the UPDATE itself, so the
            # rule holds even for a writer that does not go through this class.
            db.execute(
                "UPDATE orders SET status = 'cancelled', cancelled_at = ?,"
                " refund_state = 'processing', refund_amount_cents = total_cents,"
                " refund_updated_at = ? WHERE id = ? AND status = 'processing'",
                (today, today, order.id),
            )
            return OrderChange(ChangeOutcome.DONE, self._find(db, order.id))

    def change_shipping_address(self, raw_id: object, address: str) -> OrderChange:
        """Send a not-yet-shipped order to ``address`` instead.

        Raises ``ValueError`` for a blank address (callers validate what customers type).
        """
        address = " ".join(address.split())
        if not address:
            raise ValueError("the new shipping address is empty")
        with self._transaction(write=True) as db:
            order = self._find(db, raw_id)
            if order is None:
                return OrderChange(ChangeOutcome.NOT_FOUND, None)
            if not order.can_be_changed:
                return OrderChange(_refusal(order), order)
            db.execute(
                "UPDATE orders SET shipping_address = ? WHERE id = ? AND status = 'processing'",
                (address, order.id),
            )
            return OrderChange(ChangeOutcome.DONE, self._find(db, order.id))

    def refund_status(self, raw_id: object) -> RefundStatus | None:
        """Return where the refund of order ``raw_id`` stands, or ``None`` if unknown."""
        order = self.find_order(raw_id)
        if order is None:
            return None
        return RefundStatus(
            order_id=order.id,
            state=order.refund_state,
            amount_cents=order.refund_amount_cents,
            currency=order.currency,
            updated_at=order.refund_updated_at,
            order_status=order.status,
        )

    def create_support_ticket(
        self,
        *,
        description: str,
        email: str | None = None,
        order_id: str | None = None,
        language: str = "en",
        conversation_id: str | None = None,
    ) -> SupportTicket:
        """Open a ticket for the support staff and return it (with its ``TCK-`` id).

        Raises ``ValueError`` for a blank description.
        """
        description = description.strip()
        if not description:
            raise ValueError("a support ticket needs a description")
        created_at = _utc_now().isoformat(timespec="seconds")
        with self._transaction(write=True) as db:
            cursor = db.execute(
                "INSERT INTO tickets (order_id, email, description, language,"
                " conversation_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (order_id, email, description, language, conversation_id, created_at),
            )
            row = db.execute(
                "SELECT * FROM tickets WHERE number = ?", (cursor.lastrowid,)
            ).fetchone()
        return _ticket_from_row(row)

    def get_ticket(self, ticket_id: str) -> SupportTicket | None:
        """Return the ticket ``TCK-000042`` (or ``None``)."""
        number = _ticket_number(ticket_id)
        if number is None:
            return None
        with self._transaction(write=False) as db:
            row = db.execute("SELECT * FROM tickets WHERE number = ?", (number,)).fetchone()
        return _ticket_from_row(row) if row else None

    def close(self) -> None:
        """Close the connection; the store reopens it on next use."""
        with self._lock:
            if self._connection is not None and self._connection_pid == os.getpid():
                self._connection.close()
            self._connection = None

    # -- internals --------------------------------------------------------------------

    @staticmethod
    def _find(db: sqlite3.Connection, raw_id: object) -> Order | None:
        for candidate in order_id_candidates(raw_id):
            row = db.execute("SELECT * FROM orders WHERE id = ?", (candidate,)).fetchone()
            if row is not None:
                return _order_from_row(row)
        return None

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        # The lock serialises threads on our one connection; BEGIN IMMEDIATE serialises
        # writers across processes, and a deferred BEGIN gives readers one snapshot.
        with self._lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _connect(self) -> sqlite3.Connection:
        # A connection must not cross a fork (action-server workers), so reopen per pid.
        if self._connection is not None and self._connection_pid == os.getpid():
            return self._connection
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (see _transaction).
        db = sqlite3.connect(
            self.path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        _create_and_seed(db)
        self._connection, self._connection_pid = db, os.getpid()
        return db


def _refusal(order: Order) -> ChangeOutcome:
    if order.status == "cancelled":
        return ChangeOutcome.ALREADY_CANCELLED
    return ChangeOutcome.ALREADY_SHIPPED


def _create_and_seed(db: sqlite3.Connection) -> None:
    """Create the tables and, if the orders table is empty, write the demo orders.

    One IMMEDIATE transaction, so two processes opening a new file seed it once.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(_CREATE_ORDERS)
        db.execute(_CREATE_TICKETS)
        if db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0:
            placeholders = ", ".join("?" for _ in _ORDER_COLUMNS)
            db.executemany(
                f"INSERT INTO orders ({', '.join(_ORDER_COLUMNS)}) VALUES ({placeholders})",
                [
                    tuple(
                        json.dumps(order[c], ensure_ascii=False) if c == "items" else order[c]
                        for c in _ORDER_COLUMNS
                    )
                    for order in demo_orders()
                ],
            )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def orders_db_path() -> Path:
    """The order database file: ``$KEFU_ORDERS_DB`` or ``var/orders.sqlite3``."""
    return Path(os.environ.get(ORDERS_DB_ENV) or DEFAULT_ORDERS_DB)


@functools.lru_cache(maxsize=4)
def _store_for(path: Path) -> OrderStore:
    return OrderStore(path)


def default_store() -> OrderStore:
    """The shared store for ``orders_db_path()`` (one per path, reused across calls)."""
    return _store_for(orders_db_path().resolve())
