"""The demo shop's orders, written into a fresh order store on first use.

Twenty orders cover every case the bot's actions handle: each status (processing,
shipped, delivered, cancelled), each refund state, several carriers, US and Chinese
addresses, web-shop ids (``ORD-10001``) and marketplace ids (plain digits).
Amounts are integer cents so totals add up exactly.
"""

from __future__ import annotations

from typing import Any

# sku: (English name, Chinese name, {currency: unit price in cents})
_CATALOGUE: dict[str, tuple[str, str, dict[str, int]]] = {
    "KB-87": ("Mechanical keyboard (87 keys)", "机械键盘（87键）", {"USD": 6990, "CNY": 49900}),
    "MS-02": ("Wireless mouse", "无线鼠标", {"USD": 2490, "CNY": 17900}),
    "HP-NC1": ("Noise-cancelling headphones", "降噪耳机", {"USD": 12900, "CNY": 89900}),
    "CB-C2": ("USB-C cable, 2 m", "USB-C 数据线（2米）", {"USD": 990, "CNY": 6900}),
    "PB-20": ("Power bank 20000 mAh", "充电宝 20000毫安", {"USD": 3990, "CNY": 27900}),
    "MT-27": ('27" 4K monitor', "27英寸 4K 显示器", {"USD": 32900, "CNY": 229900}),
    "SD-01": ("Laptop stand", "笔记本支架", {"USD": 2990, "CNY": 19900}),
    "WC-HD": ("HD webcam", "高清摄像头", {"USD": 4590, "CNY": 32900}),
    "TM-01": ("Thermos mug 500 ml", "保温杯 500毫升", {"USD": 1890, "CNY": 12900}),
    "BP-15": ('Backpack for 15" laptops', "15英寸电脑双肩包", {"USD": 5490, "CNY": 38900}),
}

_US_ADDRESSES = [
    "742 Evergreen Terrace, Springfield, OR 97403, USA",
    "1600 Amphitheatre Pkwy, Apt 4B, Mountain View, CA 94043, USA",
    "350 5th Ave, Floor 21, New York, NY 10118, USA",
    "88 Colin P Kelly Jr St, San Francisco, CA 94107, USA",
    "410 Terry Ave N, Seattle, WA 98109, USA",
]
_CN_ADDRESSES = [
    "上海市浦东新区世纪大道100号 2001室 200120",
    "北京市海淀区中关村大街27号 5层 100080",
    "广东省深圳市南山区科技园南路18号 518057",
    "浙江省杭州市西湖区文三路90号 310012",
]


def _line(sku: str, quantity: int, currency: str) -> dict[str, Any]:
    name_en, name_zh, prices = _CATALOGUE[sku]
    return {
        "sku": sku,
        "name": name_en,
        "name_zh": name_zh,
        "quantity": quantity,
        "unit_price_cents": prices[currency],
    }


def _order(
    order_id: str,
    email: str,
    status: str,
    lines: list[tuple[str, int]],
    address: str,
    created_at: str,
    *,
    currency: str = "USD",
    carrier: str | None = None,
    tracking_number: str | None = None,
    shipped_at: str | None = None,
    estimated_delivery: str | None = None,
    delivered_at: str | None = None,
    cancelled_at: str | None = None,
    refund_state: str = "none",
    refund_updated_at: str | None = None,
    refund_amount_cents: int | None = None,
) -> dict[str, Any]:
    items = [_line(sku, quantity, currency) for sku, quantity in lines]
    total_cents = sum(item["unit_price_cents"] * item["quantity"] for item in items)
    if refund_state != "none" and refund_amount_cents is None:
        refund_amount_cents = total_cents
    return {
        "id": order_id,
        "customer_email": email,
        "status": status,
        "items": items,
        "total_cents": total_cents,
        "currency": currency,
        "shipping_address": address,
        "carrier": carrier,
        "tracking_number": tracking_number,
        "created_at": created_at,
        "shipped_at": shipped_at,
        "estimated_delivery": estimated_delivery,
        "delivered_at": delivered_at,
        "cancelled_at": cancelled_at,
        "refund_state": refund_state,
        "refund_amount_cents": refund_amount_cents,
        "refund_updated_at": refund_updated_at,
    }


def demo_orders() -> list[dict[str, Any]]:
    """Return the demo orders as plain dicts (one column per key, ``items`` as a list)."""
    us, cn = _US_ADDRESSES, _CN_ADDRESSES
    return [
        # Not shipped yet: can be cancelled or re-addressed.
        _order("ORD-10001", "alice.nguyen@example.com", "processing",
               [("KB-87", 1), ("CB-C2", 2)], us[0], "2025-11-27"),
        _order("ORD-10002", "li.wei@example.cn", "processing",
               [("HP-NC1", 1)], cn[0], "2025-11-28", currency="CNY"),
        _order("ORD-10003", "marcus.reed@example.com", "processing",
               [("MT-27", 1), ("SD-01", 1)], us[1], "2025-11-28"),
        _order("ORD-10004", "zhang.min@example.cn", "processing",
               [("PB-20", 2), ("CB-C2", 1)], cn[1], "2025-11-29", currency="CNY"),
        _order("ORD-10005", "priya.shah@example.com", "processing",
               [("WC-HD", 1), ("MS-02", 1)], us[2], "2025-11-29"),
        # On the way.
        _order("ORD-10006", "tom.baker@example.com", "shipped",
               [("BP-15", 1)], us[3], "2025-11-22",
               carrier="UPS", tracking_number="1Z999AA10123456784",
               shipped_at="2025-11-24", estimated_delivery="2025-11-29"),
        _order("ORD-10007", "chen.jing@example.cn", "shipped",
               [("KB-87", 1), ("MS-02", 1)], cn[2], "2025-11-23", currency="CNY",
               carrier="SF Express", tracking_number="SF1402938475612",
               shipped_at="2025-11-24", estimated_delivery="2025-11-27"),
        _order("ORD-10008", "olivia.martin@example.com", "shipped",
               [("HP-NC1", 1), ("CB-C2", 1)], us[4], "2025-11-21",
               carrier="FedEx", tracking_number="794612345678",
               shipped_at="2025-11-23", estimated_delivery="2025-11-28",
               refund_state="requested", refund_updated_at="2025-11-25",
               refund_amount_cents=990),
        _order("ORD-10009", "wang.fang@example.cn", "shipped",
               [("TM-01", 3)], cn[3], "2025-11-24", currency="CNY",
               carrier="China Post EMS", tracking_number="EA123456789CN",
               shipped_at="2025-11-25", estimated_delivery="2025-11-30"),
        # Delivered, some with a refund in some state.
        _order("ORD-10010", "alice.nguyen@example.com", "delivered",
               [("SD-01", 1)], us[0], "2025-11-02",
               carrier="USPS", tracking_number="9400110200881234567890",
               shipped_at="2025-11-03", estimated_delivery="2025-11-07",
               delivered_at="2025-11-06"),
        _order("ORD-10011", "james.okafor@example.com", "delivered",
               [("MT-27", 1)], us[2], "2025-10-28",
               carrier="FedEx", tracking_number="794698765432",
               shipped_at="2025-10-29", estimated_delivery="2025-11-03",
               delivered_at="2025-11-02",
               refund_state="processing", refund_updated_at="2025-11-10"),
        _order("ORD-10012", "liu.yang@example.cn", "delivered",
               [("HP-NC1", 1), ("PB-20", 1)], cn[1], "2025-10-30", currency="CNY",
               carrier="SF Express", tracking_number="SF1402931122334",
               shipped_at="2025-10-31", estimated_delivery="2025-11-02",
               delivered_at="2025-11-02",
               refund_state="refunded", refund_updated_at="2025-11-12",
               refund_amount_cents=89900),
        _order("ORD-10013", "sofia.rossi@example.com", "delivered",
               [("WC-HD", 2)], us[3], "2025-10-20",
               carrier="UPS", tracking_number="1Z999AA10198765432",
               shipped_at="2025-10-21", estimated_delivery="2025-10-25",
               delivered_at="2025-10-24",
               refund_state="rejected", refund_updated_at="2025-11-08"),
        _order("ORD-10014", "huang.lei@example.cn", "delivered",
               [("BP-15", 1), ("TM-01", 1)], cn[0], "2025-11-05", currency="CNY",
               carrier="JD Logistics", tracking_number="JDVA01234567890",
               shipped_at="2025-11-05", estimated_delivery="2025-11-07",
               delivered_at="2025-11-07"),
        # Cancelled before shipping: refunded or refund on its way.
        _order("ORD-10015", "noah.kim@example.com", "cancelled",
               [("KB-87", 2)], us[1], "2025-11-15",
               cancelled_at="2025-11-15",
               refund_state="refunded", refund_updated_at="2025-11-18"),
        _order("ORD-10016", "zhao.xin@example.cn", "cancelled",
               [("MS-02", 1), ("CB-C2", 3)], cn[2], "2025-11-26", currency="CNY",
               cancelled_at="2025-11-27",
               refund_state="processing", refund_updated_at="2025-11-27"),
        # Marketplace orders: plain-digit ids.
        _order("7730001842", "emma.wilson@example.com", "processing",
               [("TM-01", 2)], us[4], "2025-11-29"),
        _order("7730001957", "sun.hao@example.cn", "shipped",
               [("PB-20", 1)], cn[3], "2025-11-25", currency="CNY",
               carrier="YTO Express", tracking_number="YT7501234567890",
               shipped_at="2025-11-26", estimated_delivery="2025-11-29"),
        _order("7730002210", "daniel.garcia@example.com", "delivered",
               [("CB-C2", 4), ("SD-01", 1)], us[2], "2025-11-08",
               carrier="USPS", tracking_number="9400110200889876543210",
               shipped_at="2025-11-09", estimated_delivery="2025-11-13",
               delivered_at="2025-11-12"),
        _order("7730002388", "xu.ting@example.cn", "cancelled",
               [("MT-27", 1)], cn[1], "2025-11-20", currency="CNY",
               cancelled_at="2025-11-21",
               refund_state="refunded", refund_updated_at="2025-11-24"),
    ]
