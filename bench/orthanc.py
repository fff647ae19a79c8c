"""The peers for the benchmark: Orthanc + DICOMweb plugin (Debian packages) and an nginx roof.

Both run as separate processes with their own temporary configuration, ports and storage; nothing
touches a system-wide service. ``apt-get install -y orthanc orthanc-dicomweb nginx wrk curl``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from bench.common import Process, free_port, require

PLUGIN_CANDIDATES = [
    "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
    "/usr/lib/orthanc/libOrthancDicomWeb.so",
]


def find_dicomweb_plugin() -> Path:
    for candidate in PLUGIN_CANDIDATES:
        if Path(candidate).exists():
            return Path(candidate)
    for folder in ("/usr/share/orthanc/plugins", "/usr/lib/orthanc"):
        for p in sorted(Path(folder).glob("libOrthancDicomWeb.so*")) if Path(folder).is_dir() else []:
            return p
    raise SystemExit("Orthanc's DICOMweb plugin was not found (apt-get install -y orthanc-dicomweb)")


class Orthanc:
    """``Orthanc config.json`` on a free port, storage and index in ``work``, no authentication."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = free_port()
        self.dicom_port = free_port()
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def write_config(self) -> Path:
        self.work.mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "CirrusBenchOrthanc",
            "StorageDirectory": str(self.work / "storage"),
            "IndexDirectory": str(self.work / "index"),
            "StorageCompression": False,
            "HttpPort": self.port,
            "HttpServerEnabled": True,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomPort": self.dicom_port,
            "DicomAet": "BENCH",
            "Plugins": [str(find_dicomweb_plugin())],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
            "ConcurrentJobs": 2,
            "HttpThreadsCount": 50,
            "KeepAlive": True,
            "TcpNoDelay": True,
        }
        path = self.work / "orthanc.json"
        path.write_text(json.dumps(config, indent=1))
        return path

    def start(self) -> Orthanc:
        exe = require("Orthanc")
        config = self.write_config()
        self.process = Process("Orthanc", [exe, str(config)], self.work / "orthanc.log").start(
            f"{self.url}/system", timeout=60
        )
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()


NGINX_CONF = """
%(user)s
daemon off;
worker_processes 2;
pid %(work)s/nginx.pid;
error_log %(work)s/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path %(work)s/body;
  proxy_temp_path %(work)s/proxy;
  fastcgi_temp_path %(work)s/fastcgi;
  uwsgi_temp_path %(work)s/uwsgi;
  scgi_temp_path %(work)s/scgi;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:%(port)d;
    root %(root)s;
    # A sink that reads and discards upload bodies: the roof for the STOW client and loopback.
    location = /sink {
      client_max_body_size 0;
      return 204;
    }
  }
}
"""


class Nginx:
    """nginx serving ``root`` as static files on a free loopback port (the physical roof)."""

    def __init__(self, work: Path, root: Path) -> None:
        self.work = work
        self.root = root
        self.port = free_port()
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(exe).exists():
            raise SystemExit("nginx is not installed (apt-get install -y nginx)")
        self.work.mkdir(parents=True, exist_ok=True)
        conf = self.work / "nginx.conf"
        # Started as root, nginx workers would drop to "nobody" and could not read a private temp dir.
        user = "user root;" if os.geteuid() == 0 else ""
        conf.write_text(NGINX_CONF % {"user": user, "work": self.work, "port": self.port, "root": self.root})
        self.process = Process(
            "nginx", [exe, "-c", str(conf), "-e", str(self.work / "error.log")], self.work / "nginx.log"
        ).start(f"{self.url}/", timeout=20)
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()
