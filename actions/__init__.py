"""Kefu's custom actions for the default online-shop bot, served by rasa-sdk.

Run them with ``python -m rasa_sdk --actions actions --port 5055``; the bot calls them over
rasa-sdk's ``/webhook`` protocol (see ``bot.actions_client``). rasa-sdk imports every module
of this package and registers each concrete ``Action`` subclass it finds.

Modules:
- ``orders``: ``action_order_status``, ``action_cancel_order``,
  ``action_change_shipping_address``, ``action_refund_status``
- ``support``: ``action_create_support_ticket``
- ``forms``: ``validate_track_order_form`` and ``StrictFormValidationAction`` for new forms
- ``order_store`` (SQLite demo orders, ``$KEFU_ORDERS_DB``), ``demo_orders``, ``order_ids``
- ``replies`` (English / Chinese texts), ``tracker_inputs`` (slots, entities, language)
"""
