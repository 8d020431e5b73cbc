"""What the custom actions say, in English (``en``) and Chinese (``zh``).

Every text lives in ``TEXTS`` under one key with both languages, so a missing translation
is visible in one place (the tests check that every key has both). ``say(key, language,
**fields)`` fills one in; the ``format_*`` helpers render money, dates, items, carriers
and statuses the way each language writes them.
"""

from __future__ import annotations

from datetime import date

from actions.order_store import Order

SUPPORTED_LANGUAGES = ("en", "zh")
DEFAULT_LANGUAGE = "en"

TEXTS: dict[str, dict[str, str]] = {
    "ask_order_id": {
        "en": "Could you give me your order number? It looks like ORD-10001 and is in "
              "your order confirmation e-mail.",
        "zh": "请提供您的订单号（格式如 ORD-10001，可以在订单确认邮件中找到）。",
    },
    "order_not_found": {
        "en": "I couldn't find an order with the number {typed}. Please check it against "
              "your confirmation e-mail; web-shop order numbers look like ORD-10001.",
        "zh": "没有找到订单号为 {typed} 的订单。请核对订单确认邮件中的订单号"
              "（网店订单号格式如 ORD-10001）。",
    },
    "status_processing": {
        "en": "Order {order_id} ({items}, {total}) was placed on {created_at} and is being "
              "prepared for shipping. It hasn't shipped yet, so you can still change the "
              "delivery address or cancel it.",
        "zh": "订单 {order_id}（{items}，共 {total}）于 {created_at} 下单，正在备货，尚未发货，"
              "您仍可以修改收货地址或取消订单。",
    },
    "status_shipped": {
        "en": "Order {order_id} shipped on {shipped_at} with {carrier}, tracking number "
              "{tracking_number}. Expected delivery: {estimated_delivery}.",
        "zh": "订单 {order_id} 已于 {shipped_at} 由{carrier}发出，运单号 {tracking_number}，"
              "预计 {estimated_delivery} 送达。",
    },
    "status_delivered": {
        "en": "Order {order_id} was delivered on {delivered_at} by {carrier} (tracking "
              "number {tracking_number}).",
        "zh": "订单 {order_id} 已于 {delivered_at} 由{carrier}送达（运单号 {tracking_number}）。",
    },
    "status_cancelled": {
        "en": "Order {order_id} was cancelled on {cancelled_at}.",
        "zh": "订单 {order_id} 已于 {cancelled_at} 取消。",
    },
    "cancel_kept": {
        "en": "No problem, order {order_id} stays as it is.",
        "zh": "好的，订单 {order_id} 保持不变，不会取消。",
    },
    "cancel_done": {
        "en": "Done: order {order_id} is cancelled. Your refund of {amount} is on its way "
              "and usually reaches your original payment method within 3-5 business days.",
        "zh": "已为您取消订单 {order_id}。退款 {amount} 将原路退回，通常 3-5 个工作日到账。",
    },
    "cancel_already_cancelled": {
        "en": "Order {order_id} was already cancelled on {cancelled_at}, so there is "
              "nothing more to do.",
        "zh": "订单 {order_id} 已于 {cancelled_at} 取消，无需再次操作。",
    },
    "cancel_already_shipped": {
        "en": "Sorry, order {order_id} has already shipped, so it can no longer be "
              "cancelled. Once it arrives you can return it for a refund.",
        "zh": "抱歉，订单 {order_id} 已经发货，无法取消。收到货后您可以申请退货退款。",
    },
    "cancel_already_delivered": {
        "en": "Order {order_id} was delivered on {delivered_at}, so it can no longer be "
              "cancelled, but you can still return it for a refund.",
        "zh": "订单 {order_id} 已于 {delivered_at} 送达，无法取消，但您仍可以申请退货退款。",
    },
    "address_ask": {
        "en": "What is the new shipping address for order {order_id}? Please include the "
              "street, city and postcode.",
        "zh": "请告诉我订单 {order_id} 的新收货地址（包括街道、城市和邮编）。",
    },
    "address_invalid": {
        "en": "That doesn't look like a complete address. Please include the street, city "
              "and postcode.",
        "zh": "这个地址似乎不完整，请提供包括街道、城市和邮编的完整地址。",
    },
    "address_done": {
        "en": "Got it: order {order_id} will now be shipped to {address}.",
        "zh": "好的，订单 {order_id} 的收货地址已改为：{address}。",
    },
    "address_already_shipped": {
        "en": "Sorry, order {order_id} has already shipped with {carrier}, so its address "
              "can't be changed here any more. {carrier} may be able to redirect the "
              "parcel if you give them the tracking number {tracking_number}.",
        "zh": "抱歉，订单 {order_id} 已由{carrier}发出，这里无法再修改地址。"
              "您可以凭运单号 {tracking_number} 联系{carrier}尝试改派。",
    },
    "address_already_delivered": {
        "en": "Order {order_id} was already delivered on {delivered_at}, so its address "
              "can't be changed.",
        "zh": "订单 {order_id} 已于 {delivered_at} 送达，无法修改地址。",
    },
    "address_cancelled": {
        "en": "Order {order_id} was cancelled, so there is no shipment to send elsewhere.",
        "zh": "订单 {order_id} 已取消，没有需要改地址的包裹。",
    },
    "refund_none": {
        "en": "There is no refund on order {order_id}. If something is wrong with it, I can "
              "open a support ticket or help you start a return.",
        "zh": "订单 {order_id} 目前没有退款记录。如果订单有问题，我可以为您创建工单或协助您申请退货。",
    },
    "refund_requested": {
        "en": "We received your refund request of {amount} for order {order_id} on "
              "{updated_at}. It is being reviewed, which usually takes 1-2 business days.",
        "zh": "我们已于 {updated_at} 收到订单 {order_id} 的退款申请（{amount}），正在审核，"
              "通常需要 1-2 个工作日。",
    },
    "refund_processing": {
        "en": "The refund of {amount} for order {order_id} was approved on {updated_at} and "
              "is being paid back to your original payment method; it usually arrives "
              "within 3-5 business days.",
        "zh": "订单 {order_id} 的退款 {amount} 已于 {updated_at} 批准，正在原路退回，"
              "通常 3-5 个工作日到账。",
    },
    "refund_refunded": {
        "en": "The refund of {amount} for order {order_id} was completed on {updated_at}. "
              "If you can't see it yet, your bank may need a few more days to show it.",
        "zh": "订单 {order_id} 的退款 {amount} 已于 {updated_at} 完成。"
              "如果您还没看到，可能是银行入账需要几天时间。",
    },
    "refund_rejected": {
        "en": "The refund request for order {order_id} was declined on {updated_at}; we "
              "e-mailed you the reason. If you disagree, I can open a support ticket so a "
              "colleague reviews it again.",
        "zh": "订单 {order_id} 的退款申请已于 {updated_at} 被拒绝，原因已通过邮件发送给您。"
              "如有异议，我可以为您创建工单，由同事重新审核。",
    },
    "ticket_ask_description": {
        "en": "Please describe the problem in a sentence or two and I'll pass it on to "
              "our support team.",
        "zh": "请简单描述一下您遇到的问题，我会转交给客服团队。",
    },
    "ticket_invalid_email": {
        "en": "{email} doesn't look like an e-mail address. Could you check it?",
        "zh": "{email} 似乎不是有效的邮箱地址，请检查一下。",
    },
    "ticket_created_email": {
        "en": "I've opened support ticket {ticket_id}{about_order}. Our team will reply to "
              "{email} within one business day.",
        "zh": "已为您创建工单 {ticket_id}{about_order}，客服团队会在一个工作日内回复到 {email}。",
    },
    "ticket_created_chat": {
        "en": "I've opened support ticket {ticket_id}{about_order}. A colleague will reply "
              "here in this chat within one business day.",
        "zh": "已为您创建工单 {ticket_id}{about_order}，同事会在一个工作日内在此对话中回复您。",
    },
    "about_order": {
        "en": " about order {order_id}",
        "zh": "（订单 {order_id}）",
    },
    "unknown_date": {
        "en": "not known yet",
        "zh": "暂未确定",
    },
}

_CURRENCY_SYMBOLS = {"USD": "$", "CNY": "¥", "EUR": "€"}
_STATUS_NAMES_ZH = {
    "processing": "处理中", "shipped": "已发货", "delivered": "已送达", "cancelled": "已取消",
}
_CARRIER_NAMES_ZH = {
    "SF Express": "顺丰速运",
    "China Post EMS": "中国邮政EMS",
    "JD Logistics": "京东物流",
    "YTO Express": "圆通速递",
}


def say(key: str, language: str, **fields: object) -> str:
    """Return text ``key`` in ``language`` (English if unsupported), filled with ``fields``.

    Raises ``KeyError`` for an unknown key or a missing field: a programming mistake.
    """
    variants = TEXTS[key]
    return variants.get(language, variants[DEFAULT_LANGUAGE]).format(**fields)


def format_money(cents: int | None, currency: str) -> str:
    """``8970, "USD"`` gives ``$89.70``; a currency without a symbol gives ``89.70 GBP``."""
    amount = f"{(cents or 0) / 100:,.2f}"
    symbol = _CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"


def format_date(iso_date: str | None, language: str) -> str:
    """``"2025-11-27"`` gives ``Nov 27, 2025`` / ``2025年11月27日``."""
    if not iso_date:
        return say("unknown_date", language)
    day = date.fromisoformat(iso_date[:10])
    if language == "zh":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day:%b} {day.day}, {day.year}"


def format_items(order: Order, language: str) -> str:
    """``1 x Laptop stand, 2 x USB-C cable`` / ``笔记本支架×1、USB-C 数据线×2``."""
    if language == "zh":
        return "、".join(f"{line.name_zh}×{line.quantity}" for line in order.items)
    return ", ".join(f"{line.quantity} x {line.name}" for line in order.items)


def format_carrier(carrier: str | None, language: str) -> str:
    """The carrier's name as customers in that language know it."""
    if not carrier:
        return "快递" if language == "zh" else "the carrier"
    return _CARRIER_NAMES_ZH.get(carrier, carrier) if language == "zh" else carrier


def format_status(status: str, language: str) -> str:
    """An order status for people: ``shipped`` / ``已发货``."""
    return _STATUS_NAMES_ZH.get(status, status) if language == "zh" else status


def order_fields(order: Order, language: str) -> dict[str, str]:
    """Every field the order texts use, rendered for ``language``."""
    return {
        "order_id": order.id,
        "items": format_items(order, language),
        "total": format_money(order.total_cents, order.currency),
        "amount": format_money(order.refund_amount_cents or order.total_cents, order.currency),
        "created_at": format_date(order.created_at, language),
        "shipped_at": format_date(order.shipped_at, language),
        "estimated_delivery": format_date(order.estimated_delivery, language),
        "delivered_at": format_date(order.delivered_at, language),
        "cancelled_at": format_date(order.cancelled_at, language),
        "updated_at": format_date(order.refund_updated_at, language),
        "carrier": format_carrier(order.carrier, language),
        "tracking_number": order.tracking_number or "-",
        "address": order.shipping_address,
        "status": format_status(order.status, language),
    }
