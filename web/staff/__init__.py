"""The staff review UI (``/staff``): sign-in, inbox and search, conversation review with
corrections, live takeover, reports, exports and admin pages. Server-rendered Jinja2
templates and a few small static scripts; no build step, nothing loaded from a CDN.

Mount with :func:`web.staff.routes.staff_mount`; the server's lifespan provides
``app.state.archive`` (:class:`bot.archive.service.ArchiveService`), ``app.state.service``
and ``app.state.live``.
"""
