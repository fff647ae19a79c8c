"""DICOM TLS (PS3.15 Annex B.9, the BCP 195 secure transport profile) for the SCP and its outbound calls.

The SCP accepts TLS 1.2 or newer when settings name a certificate and key; a CA bundle in addition
requires every caller to present a certificate signed by it (mutual TLS, as the profile asks;
``dimse_tls_verify_callers`` false turns that off).
Outbound associations (C-MOVE sub-associations) to destinations listed as TLS peers verify the
peer against the same CA bundle (or the system store) and present our certificate.
"""

from __future__ import annotations

import ssl

from server.settings import Settings


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of the listening SCP, or None when TLS is not configured (plain TCP)."""
    if not settings.dimse_tls_certfile:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.dimse_tls_certfile, settings.dimse_tls_keyfile or None)
    if settings.dimse_tls_cafile and settings.dimse_tls_verify_callers:
        context.load_verify_locations(cafile=settings.dimse_tls_cafile)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(settings: Settings) -> ssl.SSLContext:
    """The TLS context of an outbound association: the peer is verified, our certificate shown."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.dimse_tls_cafile or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.dimse_tls_certfile:
        context.load_cert_chain(settings.dimse_tls_certfile, settings.dimse_tls_keyfile or None)
    return context


def is_tls_destination(settings: Settings, ae_title: str) -> bool:
    titles = {t.strip() for t in settings.dimse_tls_destinations.split(",") if t.strip()}
    return ae_title.strip() in titles
