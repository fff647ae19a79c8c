"""Typed settings read once from ``CIRRUS_*`` environment variables.

The object is created by the CLI (or a test) and passed into ``create_app``;
nothing else reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CIRRUS_", extra="ignore")

    data_dir: Path = Field(default=Path("./data"), description="Root folder of the embedded default.")
    database_url: str = Field(
        default="",
        description="sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db; "
        "empty means a SQLite file under data_dir.",
    )
    storage_url: str = Field(
        default="",
        description="A folder path (file:// or plain) or s3://bucket[/prefix]; empty means data_dir/blobs.",
    )
    s3_endpoint_url: str = Field(default="", description="Endpoint of an S3-compatible store.")
    s3_access_key: str = Field(default="", description="Access key for the S3 store.")
    s3_secret_key: str = Field(default="", description="Secret key for the S3 store.")
    s3_region: str = Field(default="us-east-1", description="Region for the S3 store.")
    s3_create_bucket: bool = Field(default=False, description="Create the S3 bucket at first use if missing.")
    public_url: str = Field(
        default="",
        description="Absolute base URL clients see (e.g. https://pacs.example.org); "
        "empty means derived from the request and Forwarded headers.",
    )
    cors_origins: str = Field(
        default="", description="Comma-separated origins allowed by CORS (with credentials); * allows any origin "
        "to read (GET/HEAD only, no credentials); empty: same origin only."
    )
    trusted_proxies: str = Field(
        default="127.0.0.1,::1", description="Comma-separated proxy addresses or networks whose Forwarded / "
        "X-Forwarded-* headers are honoured; * trusts any peer; empty trusts none."
    )
    allowed_hosts: str = Field(
        default="", description="Comma-separated Host header values answered (e.g. pacs.example.org, *.example.org); "
        "empty answers any."
    )
    host: str = Field(default="127.0.0.1", description="Address `cirrus serve` binds to.")
    port: int = Field(default=8080, description="Port `cirrus serve` binds to.")
    http_workers: int = Field(
        default=0, ge=0, description="HTTP worker processes of `cirrus serve`; 0 means one per CPU core."
    )
    render_processes: int = Field(
        default=0, ge=0,
        description="Render worker processes per HTTP worker; 0 means the cores divided among the HTTP workers.",
    )
    render_prewarm: bool = Field(
        default=True,
        description="Start the render worker processes with the server (else on the first rendered request).",
    )
    render_memory_mb: int = Field(
        default=1536, ge=0, description="Address-space cap of each render worker process (MiB); 0 means none."
    )
    static_dir: str = Field(default="", description="Built SPA folder; empty means viewer-frontend/dist.")
    qido_unsupported: Literal["error", "ignore"] = Field(
        default="error",
        description="QIDO-RS query parameters Cirrus cannot match on: error answers 400 naming them; ignore "
        "leaves them out and says so in a Warning header (PS3.18 8.3).",
    )
    institution: str = Field(default="Default", description="Name of the default owning institution.")
    max_upload_bytes: int = Field(default=8 * 1024**3, description="Largest accepted upload body.")
    stow_memory_mb: int = Field(
        default=96, ge=0, description="STOW parts held in memory per process (MiB); beyond it they go to temp files."
    )
    stow_part_memory_kb: int = Field(
        default=4096, ge=0, description="Largest STOW part held in memory (KiB); larger parts go to temp files."
    )
    stow_max_bytes: int = Field(
        default=4 * 1024**3, ge=1, description="Largest STOW-RS request body (bytes); larger answers 413."
    )
    stow_max_instance_bytes: int = Field(
        default=1024**3, ge=1,
        description="Largest object in a STOW-RS request (bytes); a larger part is that part's failure (0xA700).",
    )
    stow_max_parts: int = Field(
        default=10_000, ge=1, description="Most parts in one STOW-RS request; more answers 413."
    )
    max_frames_per_request: int = Field(
        default=4096, ge=1, description="Most frame numbers in one frame list (retrieve and rendered)."
    )
    max_concurrent_renders: int = Field(
        default=8, ge=0, description="Rendered, thumbnail and WADO-URI requests one client may have in progress "
        "at a time (more answer 429 with Retry-After); 0 means no limit."
    )
    max_concurrent_transcodes: int = Field(
        default=16, ge=0, description="Transcoded frame requests one client may have in progress at a time "
        "(above a browser's parallel requests per host); 0: none."
    )
    max_concurrent_uploads: int = Field(
        default=2, ge=0, description="Uploads one client may have in progress at a time; 0 means no limit."
    )
    max_concurrent_logins: int = Field(
        default=8, ge=0, description="Sign-ins one client address may have in progress at a time (each checks "
        "an argon2id hash); 0 means no limit."
    )
    renders_per_minute: int = Field(
        default=1200, ge=0, description="Rendered, thumbnail and WADO-URI requests one client may start per "
        "minute (more answer 429 with Retry-After until the minute ends); 0 means no limit."
    )
    transcodes_per_minute: int = Field(
        default=6000, ge=0, description="Transcoded frame requests one client may start per minute; 0: none."
    )
    uploads_per_minute: int = Field(
        default=120, ge=0, description="Uploads (`/api/uploads`) one client may start per minute; 0: none."
    )
    logins_per_minute: int = Field(
        default=120, ge=0, description="Sign-ins one client address may send per minute, whatever their outcome "
        "(the failed-sign-in lockout counts apart); 0 means no limit."
    )
    limits_shared: Literal["auto", "process", "database"] = Field(
        default="auto", description="Where the per-client counts live: auto keeps them in the database on "
        "PostgreSQL (shared by every process) and in the process on SQLite."
    )
    concurrency_retry_after_seconds: int = Field(
        default=1, ge=1, description="Retry-After (seconds) of a 429 from the concurrency limits."
    )
    body_timeout_seconds: float = Field(
        default=60.0, gt=0,
        description="A request body that sends nothing for this long is answered 408 and its connection closed.",
    )
    keep_alive_seconds: float = Field(
        default=5.0, gt=0, description="An idle keep-alive connection is closed after this long (uvicorn)."
    )
    max_header_bytes: int = Field(
        default=64 * 1024, ge=4096, description="Largest request line plus headers (bytes; uvicorn h11)."
    )
    certfile: str = Field(default="", description="TLS certificate (PEM) for `cirrus serve` without a proxy.")
    keyfile: str = Field(default="", description="TLS private key (PEM) matching ``certfile``.")
    stable_seconds: float = Field(default=10.0, description="Quiet period before a study is analysed.")
    workers: int = Field(default=1, description="In-process analysis workers (0 disables them).")
    reading_lock_seconds: float = Field(
        default=1800.0, gt=0,
        description="How long a report lock lasts without a save; then another doctor may take over.",
    )
    dimse_ae_title: str = Field(default="CIRRUS", description="AE title of `cirrus dimse` (called AE).")
    dimse_host: str = Field(default="127.0.0.1", description="Address `cirrus dimse` binds to.")
    dimse_port: int = Field(default=11112, description="Port `cirrus dimse` listens on.")
    dimse_accept_any: bool = Field(
        default=False,
        description="Accept associations from AE titles missing from the AE table (lab setups); their "
        "studies are owned by the default institution.",
    )
    dimse_embedded: bool = Field(
        default=False,
        description="`cirrus serve` also runs the DIMSE SCP in its process (`make run` turns it on; "
        "with several HTTP workers it runs in one of them).",
    )
    dimse_max_associations: int = Field(default=32, ge=1, description="Concurrent associations of one process.")
    dimse_tls_certfile: str = Field(
        default="", description="DICOM TLS: certificate (PEM) of `cirrus dimse`; with it the SCP port speaks TLS 1.2+ "
        "only (plain TCP callers are refused). Also shown to C-MOVE destinations contacted over TLS.")
    dimse_tls_keyfile: str = Field(default="", description="DICOM TLS: private key (PEM) matching "
                                   "``dimse_tls_certfile`` (empty: the key is in the certificate file).")
    dimse_tls_cafile: str = Field(
        default="", description="DICOM TLS: CA bundle (PEM). Set, callers must present a certificate signed by it "
        "(mutual TLS, the DICOM TLS secure transport profile); also verifies TLS C-MOVE destinations.")
    dimse_tls_verify_callers: bool = Field(
        default=True, description="DICOM TLS with ``dimse_tls_cafile``: require callers' certificates (mutual "
        "TLS); false only verifies C-MOVE destinations with the CA.")
    dimse_tls_destinations: str = Field(
        default="", description="Comma-separated AE titles of C-MOVE destinations contacted over TLS "
        "(verified against ``dimse_tls_cafile``, or the system store when empty).")
    pull_embedded: bool = Field(
        default=False,
        description="`cirrus serve` also runs the PACS pull worker and its receiver in its process "
        "(`cirrus pull` runs them apart).",
    )
    pull_ae_title: str = Field(default="CIRRUS_PULL", description="AE title of the pull receiver (the C-MOVE "
                               "destination configured on the remote PACS; also our calling AE title).")
    pull_host: str = Field(default="127.0.0.1", description="Address the pull receiver binds to.")
    pull_port: int = Field(default=11113, description="Port of the pull receiver (0 picks a free one).")
    pull_poll_seconds: float = Field(default=30.0, gt=0, description="Seconds between C-FIND polls of each source.")
    pull_quiet_seconds: float = Field(
        default=5.0, ge=0, description="After a retrieve, wait this long without new objects before counting.")
    pull_max_attempts: int = Field(
        default=3, ge=1, description="Retrieves of a study that stays short before it is marked incomplete.")
    pull_move_timeout_seconds: float = Field(
        default=120.0, gt=0, description="A C-MOVE/C-GET that answers nothing (no response, no object) for this "
        "long is given up and the study's mirror tried; with asynchronous C-MOVE also how long to wait for "
        "objects that stopped arriving.")
    pull_lease_seconds: float = Field(
        default=120.0, gt=0, description="A pull whose worker stops renewing it for this long is taken again.")
    dimse_timeout_seconds: float = Field(
        default=60.0, gt=0, description="ACSE, DIMSE and idle network timeout of an association (seconds)."
    )

    access_control_off: bool = Field(
        default=False, description="Benchmarks and lab use only: no authentication, access control or request "
        "audit, every request acts as the administrator; `cirrus serve` refuses to start with it unless bound "
        "to a loopback address, and requests from elsewhere answer 403.",
    )
    admin_password: str = Field(
        default="", description="Password of the first `admin` account, created at the first start when no "
        "user exists; empty generates one and prints it once on the console.",
    )
    cookie_secure: bool = Field(
        default=True, description="Mark the session cookie Secure (sent over HTTPS only); false for plain "
        "http:// development setups.",
    )
    auth_basic: bool = Field(
        default=False, description="Accept HTTP Basic (username and password) for legacy DICOMweb clients.",
    )
    session_idle_seconds: float = Field(
        default=2 * 3600.0, gt=0, description="A browser session ends after this long without a request.",
    )
    session_max_seconds: float = Field(
        default=12 * 3600.0, gt=0, description="A browser session ends this long after sign-in, whatever the activity.",
    )
    ups_retention_days: float = Field(
        default=0.0, ge=0, description="Workitems created through UPS-RS or DIMSE that are COMPLETED or CANCELED are "
        "deleted this many days after their last change, unless a subscriber holds a deletion lock on them "
        "(PS3.4 CC.2.3.1); 0 keeps every workitem. Analysis jobs' workitems are views of the jobs and never deleted.",
    )
    ups_poll_seconds: float = Field(
        default=1.0, gt=0, le=3600.0, description="UPS-RS event channels look at the event table at least this "
        "often besides the change notifications (PostgreSQL NOTIFY, SQLite signal files) that wake them at once.",
    )
    auth_cache_seconds: float = Field(
        default=10.0, ge=0, le=10.0, description="How long a resolved token or session is trusted without "
        "looking at the database again (revocations and role changes take effect within it; at most 10).",
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed sign-ins in a row after which an account is locked.",
    )
    login_address_max_failures: int = Field(
        default=20, ge=1, description="Failed sign-ins from one client address (within the lockout period) "
        "after which the address is locked.",
    )
    login_lockout_seconds: float = Field(
        default=900.0, gt=0, description="How long a locked account or client address stays locked.",
    )

    gateway_spool_dir: Path | None = Field(
        default=None, description="Spool folder of `cirrus gateway` (objects and spool.db); empty means "
        "data_dir/gateway.",
    )
    gateway_ae_title: str = Field(default="CIRRUSGW", description="AE title of `cirrus gateway` (called AE).")
    gateway_host: str = Field(default="0.0.0.0", description="Address `cirrus gateway` binds to.")
    gateway_port: int = Field(default=11113, description="Port `cirrus gateway` listens on.")
    gateway_allowed_aes: str = Field(
        default="", description="Comma-separated calling AE titles the gateway accepts; * accepts any; "
        "empty accepts none.",
    )
    gateway_forward_rules: str = Field(
        default="", description="Which received objects the gateway forwards, e.g. "
        "`ae=CT1,CT2 modality=CT; modality=MR` (rules separated by `;`, any may match); empty forwards all.",
    )
    gateway_target_url: str = Field(
        default="", description="DICOMweb root of the Cirrus cloud the gateway forwards to "
        "(e.g. https://pacs.example.org/dicom-web).",
    )
    gateway_token: str = Field(
        default="", description="API token the gateway sends as `Authorization: Bearer`; empty sends none."
    )
    gateway_batch_size: int = Field(default=50, ge=1, description="Instances of one study per STOW-RS request.")
    gateway_settle_seconds: float = Field(
        default=5.0, ge=0, description="A study is forwarded once no object of it arrived for this long "
        "(or a full batch is waiting).",
    )
    gateway_retry_initial_seconds: float = Field(
        default=1.0, gt=0, description="First wait after the link or the cloud failed; doubles each time."
    )
    gateway_retry_max_seconds: float = Field(default=300.0, gt=0, description="Longest wait between retries.")
    gateway_http_timeout_seconds: float = Field(default=120.0, gt=0, description="Timeout of one STOW-RS request.")
    gateway_bandwidth_kbps: int = Field(
        default=0, ge=0, description="Upload limit of the gateway in KiB/s (0: no limit)."
    )

    oidc_issuer: str = Field(
        default="", description="Issuer (`iss`) of accepted OIDC access tokens (JWTs); empty turns OIDC off."
    )
    oidc_audience: str = Field(default="", description="Required audience (`aud`) of OIDC access tokens.")
    oidc_jwks_url: str = Field(default="", description="URL of the issuer's JSON Web Key Set.")
    oidc_jwks_file: str = Field(default="", description="A JSON Web Key Set file (instead of oidc_jwks_url).")
    oidc_institution_claim: str = Field(
        default="institution", description="Claim naming the caller's institution (dotted path, e.g. `org.id`)."
    )
    oidc_role_claim: str = Field(
        default="role", description="Claim naming the caller's role (dotted path, e.g. `realm_access.roles`)."
    )
    oidc_institution_map: str = Field(
        default="", description="Claim value → institution id, e.g. `hosp-a=2,hosp-b=3`; empty means the "
        "claim holds the institution id."
    )
    oidc_role_map: str = Field(
        default="", description="Claim value → Cirrus role, e.g. `radiologist=reporting_doctor`; empty means "
        "the claim holds the role name."
    )
    oidc_algorithms: str = Field(default="RS256,ES256", description="Accepted JWS algorithms (asymmetric only).")
    oidc_leeway_seconds: float = Field(default=30.0, ge=0, description="Clock skew allowed on exp/nbf/iat.")
    oidc_jwks_max_age_seconds: float = Field(
        default=3600.0, gt=0, description="The key set is fetched again after this long."
    )
    oidc_jwks_min_refresh_seconds: float = Field(
        default=30.0, ge=0, description="A token with an unknown key id fetches the key set at most this often."
    )
    audit_queue_size: int = Field(
        default=10000, ge=1, description="Audit records waiting to be written; beyond it they are counted "
        "as dropped and logged."
    )
    audit_batch_size: int = Field(default=500, ge=1, description="Audit records written per transaction.")
    atna_syslog_url: str = Field(
        default="", description="Audit record repository the audit messages (PS3.15 A.5 XML) are also sent to: "
        "tls://host:port (RFC 5425) or udp://host:port (RFC 5426); empty sends none."
    )
    atna_ca_file: str = Field(
        default="", description="CA certificates (PEM) the syslog receiver's TLS certificate is checked against; "
        "empty uses the system's."
    )
    atna_certfile: str = Field(default="", description="Client certificate (PEM) for mutual TLS with the receiver.")
    atna_keyfile: str = Field(default="", description="Private key (PEM) of ``atna_certfile``.")
    atna_queue_size: int = Field(
        default=10000, ge=1, description="Audit messages waiting for the syslog receiver; beyond it they are "
        "counted as not sent and logged (the audit table keeps them)."
    )
    atna_app_name: str = Field(default="cirrus", description="APP-NAME of the syslog messages.")

    @property
    def resolved_gateway_spool_dir(self) -> Path:
        return self.gateway_spool_dir or self.data_dir / "gateway"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'cirrus.db').resolve()}"

    @property
    def resolved_storage_url(self) -> str:
        if self.storage_url:
            return self.storage_url
        return str((self.data_dir / "blobs").resolve())

    @property
    def resolved_http_workers(self) -> int:
        """The HTTP worker processes `cirrus serve` runs: as set, else one per core."""
        return self.http_workers or os.cpu_count() or 1

    @property
    def resolved_render_processes(self) -> int:
        return self.render_processes or max(1, (os.cpu_count() or 1) // max(1, self.http_workers))

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [o.strip() for o in self.trusted_proxies.split(",") if o.strip()]

    @property
    def allowed_host_list(self) -> list[str]:
        return [o.strip() for o in self.allowed_hosts.split(",") if o.strip()]

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"
