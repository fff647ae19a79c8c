"""``cirrus gateway``: the hospital-side forwarder, and ``status`` / ``retry`` of its spool.

``cirrus gateway [run]`` listens for local modalities (C-STORE) and forwards what they send to
``$CIRRUS_GATEWAY_TARGET_URL`` by STOW-RS. ``cirrus gateway status`` prints the spool's counts
(queued, sent, failed, each with its reason); ``cirrus gateway retry`` queues the failed
instances again. None of them needs a database: the spool folder holds all state.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from server.commands.common import add_data_dir, settings_from
from server.gateway.spool import FAILED, QUEUED, SENT, SKIPPED, Spool
from server.settings import Settings


def register(sub: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("gateway", help=help_text)
    p.add_argument("action", nargs="?", choices=("run", "status", "retry"), default="run",
                   help="run the forwarder (default), print the spool's status, or queue failed instances again")
    p.add_argument("--host", help="bind address (default: $CIRRUS_GATEWAY_HOST or 0.0.0.0)")
    p.add_argument("--port", type=int, help="port (default: $CIRRUS_GATEWAY_PORT or 11113; 0 picks a free one)")
    p.add_argument("--ae", dest="ae_title", help="our AE title (default: $CIRRUS_GATEWAY_AE_TITLE or CIRRUSGW)")
    p.add_argument("--token", help="API token for the cloud, e.g. from `cirrus token create --user gw --scope stow` "
                   "(default: $CIRRUS_GATEWAY_TOKEN, which keeps it out of the process list)")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.action == "status":
        return _status(settings)
    if args.action == "retry":
        spool = Spool(settings.resolved_gateway_spool_dir)
        print(f"{spool.retry_failed()} failed instances queued again")
        spool.close()
        return 0
    if args.host:
        settings.gateway_host = args.host
    if args.port is not None:
        settings.gateway_port = args.port
    if args.ae_title:
        settings.gateway_ae_title = args.ae_title
    if args.token:
        settings.gateway_token = args.token
    return _serve(settings)


def _status(settings: Settings) -> int:
    spool = Spool(settings.resolved_gateway_spool_dir)
    counts = spool.counts()
    spool.close()
    totals = {state: sum(c.count for c in counts if c.state == state) for state in (QUEUED, SENT, FAILED, SKIPPED)}
    print(" ".join(f"{state}={n}" for state, n in totals.items()))
    for c in counts:
        if c.reason:
            print(f"  {c.state} {c.count}: {c.reason}")
    return 0


def _serve(settings: Settings) -> int:
    from server.app_errors import InvalidInput
    from server.dimse.tls import server_context
    from server.gateway.forwarder import Forwarder
    from server.gateway.rules import parse_rules
    from server.gateway.scp import GatewayScp, allowed_titles
    from server.gateway.stow import StowClient

    log = logging.getLogger("cirrus.gateway")
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    if not settings.gateway_target_url:
        log.error("CIRRUS_GATEWAY_TARGET_URL is not set: the gateway has nowhere to forward to")
        return 2
    if not settings.gateway_token:
        log.warning("no CIRRUS_GATEWAY_TOKEN: the cloud refuses unauthenticated uploads (401)")
    try:
        rules = parse_rules(settings.gateway_forward_rules)
    except InvalidInput as exc:
        log.error("CIRRUS_GATEWAY_FORWARD_RULES: %s", exc.message)
        return 2
    allowed = allowed_titles(settings.gateway_allowed_aes)
    if allowed is not None and not allowed:
        log.warning("CIRRUS_GATEWAY_ALLOWED_AES is empty: every association will be rejected")
    spool = Spool(settings.resolved_gateway_spool_dir)
    removed = spool.recover()
    if removed:
        log.info("removed %d spool files of objects never acknowledged", removed)
    client = StowClient(settings.gateway_target_url, settings.gateway_token,
                        timeout=settings.gateway_http_timeout_seconds,
                        bytes_per_second=settings.gateway_bandwidth_kbps * 1024)
    forwarder = Forwarder(spool, client, batch_size=settings.gateway_batch_size,
                          settle_seconds=settings.gateway_settle_seconds,
                          retry_initial=settings.gateway_retry_initial_seconds,
                          retry_max=settings.gateway_retry_max_seconds)
    scp = GatewayScp(spool, ae_title=settings.gateway_ae_title, host=settings.gateway_host,
                     port=settings.gateway_port, allowed=allowed, timeout=settings.dimse_timeout_seconds,
                     max_associations=settings.dimse_max_associations, rules=rules,
                     ssl_context=server_context(settings))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    scp.start()
    forwarder.start()
    print(f"cirrus gateway: {settings.gateway_ae_title} on {settings.gateway_host}:{scp.port} -> "
          f"{settings.gateway_target_url}", flush=True)
    try:
        stop.wait()
    finally:
        scp.stop()
        forwarder.stop()
        client.close()
        spool.close()
    return 0
