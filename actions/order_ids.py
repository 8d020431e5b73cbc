"""Order numbers as customers type them, and the canonical form the store uses.

The shop has two kinds of order ids:

- web-shop orders, ``ORD-10001``: customers type ``ord10001``, ``#10001``, ``ORD 10001``,
  ``１０００１`` (full-width digits from a Chinese keyboard) or just ``10001``;
- marketplace orders, plain digits of 8 to 20 characters (``7730001842``).

``order_id_candidates`` turns one typed id into the ids to look up, most likely first;
``find_order_id_in_text`` picks an order id out of a whole sentence when the NLU did not
tag one.
"""

from __future__ import annotations

import re
import unicodedata

WEB_ORDER_PREFIX = "ORD-"

# Web-shop order numbers have 5 or 6 digits; longer digit runs are marketplace ids.
_WEB_DIGITS = r"\d{5,6}"
_MARKETPLACE_DIGITS = r"\d{8,20}"

# Separators customers put between the prefix and the number, or around the number.
_TYPED_ID = re.compile(
    rf"^(?:ORD|ORDER|NO\.?)?[\s\-_#:：.]*(?P<digits>{_WEB_DIGITS}|{_MARKETPLACE_DIGITS})$"
)
_ID_IN_TEXT = re.compile(
    rf"(?<![A-Z0-9])(?:ORD[\s\-_#]*(?P<web>{_WEB_DIGITS})"
    rf"|#?(?P<bare>{_MARKETPLACE_DIGITS}|{_WEB_DIGITS}))(?![0-9])",
    re.IGNORECASE,
)


def _fold(raw: str) -> str:
    # NFKC maps full-width digits, letters and punctuation to ASCII ("ＯＲＤ－１０" -> "ORD-10").
    return unicodedata.normalize("NFKC", raw).strip().upper()


def order_id_candidates(raw: object) -> list[str]:
    """Return the canonical ids that ``raw`` may mean, most likely first.

    ``"ord 10001"`` gives ``["ORD-10001"]``; ``"10001"`` gives ``["ORD-10001", "10001"]``
    (a bare short number is usually a web-shop order typed without its prefix);
    ``"7730001842"`` gives ``["7730001842"]``. Anything that is not an order id, including
    ``None`` and non-strings, gives ``[]``.
    """
    if not isinstance(raw, (str, int)) or isinstance(raw, bool):
        return []
    folded = _fold(str(raw))
    match = _TYPED_ID.match(folded)
    if not match:
        return []
    digits = match.group("digits")
    typed_prefix = folded[: match.start("digits")].strip(" -_#:：.")
    if re.fullmatch(_WEB_DIGITS, digits):
        web_id = WEB_ORDER_PREFIX + digits
        return [web_id] if typed_prefix else [web_id, digits]
    return [digits]


def normalize_order_id(raw: object) -> str | None:
    """Return the most likely canonical id for ``raw``, or ``None`` if it is not an id."""
    candidates = order_id_candidates(raw)
    return candidates[0] if candidates else None


def find_order_id_in_text(text: str | None) -> str | None:
    """Return the first order id written anywhere in ``text`` (as typed), or ``None``.

    Used when the NLU did not tag an ``order_id`` entity, e.g. "it's 10004 I think" or
    "我的订单号是ORD-10007".
    """
    if not text:
        return None
    match = _ID_IN_TEXT.search(unicodedata.normalize("NFKC", text))
    if not match:
        return None
    if match.group("web"):
        return WEB_ORDER_PREFIX + match.group("web")
    return match.group("bare")
