"""Unified Procedure Step (UPS, PS3.4 Annex CC): the pure half of UPS-RS (PS3.18 §11).

``states`` is the state machine of Table CC.1.1-2 as data; ``workitem`` the N-CREATE
requirements and Final State checks of Table CC.2.5-3. Persistence, locking against
concurrent claims, subscriptions and event delivery belong to ``server/``.
"""
