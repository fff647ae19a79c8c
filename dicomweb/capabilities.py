"""The Retrieve Capabilities answer (PS3.18 §8.9, Annex H) as data and two renderings.

:data:`ENDPOINTS` lists exactly what Cirrus serves under the DICOMweb base URL —
one row per (resource template, method), with the PS3.18 transaction, the media
types of the answer, the query parameters it takes and the request body types.
A server test checks it against the routes actually mounted, so the document
cannot claim more (or less) than the server does. :data:`OPTIONS` records the
choices the Conformance Statement and the Capabilities response must declare
(§8.3.4.2 fuzzy matching, §8.8 character sets, §8.7.3.5.2 transfer syntaxes,
§8.3.5.1.2 quality, §8.3.5.1.1 annotation, §10.6.5 maximum matches).

:func:`wadl` renders the WADL document of Annex H (``application/vnd.sun.wadl+xml``):
one ``application`` with one ``resources`` whose ``base`` is the service's base URL,
and the resource tree with its methods. :func:`capabilities_json` renders the same
content for ``application/json`` (§8.9.4), plus a short ``services`` summary.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dicomweb.media import DICOM, DICOM_JSON, DICOM_XML, MULTIPART, OCTET_STREAM
from dicomweb.pixels.render_params import ANNOTATIONS, RENDERED_MEDIA_TYPES, VOI_FUNCTIONS

__all__ = ["ENDPOINTS", "OPTIONS", "WADL", "WADL_NAMESPACE", "Endpoint", "capabilities_json", "endpoints_for",
           "wadl"]

WADL = "application/vnd.sun.wadl+xml"
WADL_NAMESPACE = "http://wadl.dev.java.net/2009/02"


def _mp(part: str) -> str:
    return f'{MULTIPART}; type="{part}"'


@dataclass(frozen=True)
class Endpoint:
    path: str  # relative to the base URL, "" for the base itself; {name} = one path segment
    method: str
    transaction: str
    produces: tuple[str, ...] = ()
    query: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()


SEARCH_PARAMS = ("{attributeID}", "includefield", "fuzzymatching", "limit", "offset")
SEARCH_TYPES = (DICOM_JSON, "application/json", _mp(DICOM_XML))
RETRIEVE_TYPES = (_mp(DICOM),)
INSTANCE_TYPES = (_mp(DICOM), DICOM)  # one instance may be answered single-part
METADATA_TYPES = (DICOM_JSON, "application/json", _mp(DICOM_XML))
FRAME_TYPES = (_mp(OCTET_STREAM), _mp("image/jpeg"), _mp("image/jls"), _mp("image/jp2"), _mp("image/jphc"),
               _mp("image/dicom-rle"), OCTET_STREAM, "image/jpeg", "image/jls", "image/jp2", "image/jphc",
               "image/dicom-rle")  # single-part: one frame
RENDER_PARAMS = ("accept", "annotation", "quality", "viewport", "window", "palette")
STOW_TYPES = (_mp(DICOM), DICOM)

S = "studies/{study}"
SE = S + "/series/{series}"
IN = SE + "/instances/{instance}"
FR = IN + "/frames/{frames}"
WI = "workitems/{uid}"
UPS_SEARCH_PARAMS = ("{attributeID}", "includefield", "limit", "offset")

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("", "GET", "Retrieve Capabilities", (WADL, "application/json")),
    Endpoint("", "OPTIONS", "Retrieve Capabilities", (WADL, "application/json")),
    Endpoint("studies", "GET", "Search for Studies", SEARCH_TYPES, SEARCH_PARAMS),
    Endpoint("studies", "POST", "Store Instances", (DICOM_JSON,), (), STOW_TYPES),
    Endpoint("series", "GET", "Search for Series", SEARCH_TYPES, SEARCH_PARAMS),
    Endpoint("instances", "GET", "Search for Instances", SEARCH_TYPES, SEARCH_PARAMS),
    Endpoint(S, "GET", "Retrieve Study", RETRIEVE_TYPES),
    Endpoint(S, "POST", "Store Study Instances", (DICOM_JSON,), (), STOW_TYPES),
    Endpoint(S, "DELETE", "Delete Study (Cirrus extension)"),
    Endpoint(S + "/metadata", "GET", "Retrieve Study Metadata", METADATA_TYPES),
    Endpoint(S + "/rendered", "GET", "Retrieve Rendered Study", tuple(_mp(t) for t in RENDERED_MEDIA_TYPES),
             RENDER_PARAMS),
    Endpoint(S + "/thumbnail", "GET", "Retrieve Study Thumbnail", RENDERED_MEDIA_TYPES, ("accept", "viewport")),
    Endpoint(S + "/series", "GET", "Search for Study Series", SEARCH_TYPES, SEARCH_PARAMS),
    Endpoint(S + "/instances", "GET", "Search for Study Instances", SEARCH_TYPES, SEARCH_PARAMS),
    Endpoint(SE, "GET", "Retrieve Series", RETRIEVE_TYPES),
    Endpoint(SE, "DELETE", "Delete Series (Cirrus extension)"),
    Endpoint(SE + "/metadata", "GET", "Retrieve Series Metadata", METADATA_TYPES),
    Endpoint(SE + "/rendered", "GET", "Retrieve Rendered Series", tuple(_mp(t) for t in RENDERED_MEDIA_TYPES),
             RENDER_PARAMS),
    Endpoint(SE + "/thumbnail", "GET", "Retrieve Series Thumbnail", RENDERED_MEDIA_TYPES, ("accept", "viewport")),
    Endpoint(SE + "/instances", "GET", "Search for Study Series' Instances", SEARCH_TYPES, SEARCH_PARAMS),
    Endpoint(IN, "GET", "Retrieve Instance", INSTANCE_TYPES),
    Endpoint(IN, "DELETE", "Delete Instance (Cirrus extension)"),
    Endpoint(IN + "/metadata", "GET", "Retrieve Instance Metadata", METADATA_TYPES),
    Endpoint(IN + "/rendered", "GET", "Retrieve Rendered Instance", RENDERED_MEDIA_TYPES, RENDER_PARAMS),
    Endpoint(IN + "/thumbnail", "GET", "Retrieve Instance Thumbnail", RENDERED_MEDIA_TYPES, ("accept", "viewport")),
    Endpoint(IN + "/bulk/{path}", "GET", "Retrieve Bulkdata", (_mp(OCTET_STREAM), OCTET_STREAM)),
    Endpoint(FR, "GET", "Retrieve Frames", FRAME_TYPES),
    Endpoint(FR + "/rendered", "GET", "Retrieve Rendered Frames", RENDERED_MEDIA_TYPES, RENDER_PARAMS),
    Endpoint(FR + "/thumbnail", "GET", "Retrieve Frame Thumbnail", RENDERED_MEDIA_TYPES, ("accept", "viewport")),
    # UPS-RS (§11).
    Endpoint("workitems", "GET", "Search Workitems", (DICOM_JSON,), UPS_SEARCH_PARAMS),
    Endpoint("workitems", "POST", "Create Workitem", (), ("AffectedSOPInstanceUID",), (DICOM_JSON,)),
    Endpoint(WI, "GET", "Retrieve Workitem", (DICOM_JSON,)),
    Endpoint(WI, "PUT", "Update Workitem", (), ("transaction",), (DICOM_JSON,)),
    Endpoint(WI, "POST", "Update Workitem", (), ("transaction",), (DICOM_JSON,)),
    Endpoint(WI + "/state", "PUT", "Change Workitem State", (), (), (DICOM_JSON,)),
    Endpoint(WI + "/cancelrequest", "POST", "Request Workitem Cancellation", (), (), (DICOM_JSON,)),
    Endpoint(WI + "/subscribers/{ae}", "POST", "Subscribe", (), ("deletionlock", "{attributeID}")),
    Endpoint(WI + "/subscribers/{ae}", "DELETE", "Unsubscribe"),
    Endpoint(WI + "/subscribers/{ae}/suspend", "POST", "Suspend Global Subscription"),
    # The event channel (§11.12): a WebSocket upgrade of GET; each message is one event report (DICOM JSON).
    Endpoint("subscribers/{ae}", "GET", "Open Event Channel (WebSocket)", (DICOM_JSON,), ("since",)),
)

# What the Conformance Statement / Capabilities response must declare.
OPTIONS: dict[str, Any] = {
    "fuzzymatching": True,  # §8.3.4.2: PN values match the start of any name component
    "maxResults": 10_000,  # §10.6.5: a larger limit is cut, with a Warning
    "characterSets": ["UTF-8"],  # §8.8: JSON and XML are UTF-8; strings are decoded per Specific Character Set
    "transferSyntax": {  # §8.7.3.5.2: "*" and the UIDs below
        "default": "1.2.840.10008.1.2.1",
        "wildcard": True,
        "encodes": [
            "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80",
            "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201",
            "1.2.840.10008.1.2.4.203", "1.2.840.10008.1.2.5",
        ],
    },
    "rendered": {
        "mediaTypes": list(RENDERED_MEDIA_TYPES),
        "windowFunctions": list(VOI_FUNCTIONS),  # §8.3.5.1.4
        "annotation": list(ANNOTATIONS),  # §8.3.5.1.1
        "quality": "JPEG quality factor 1..100 (libjpeg scale), default 90",  # §8.3.5.1.2
        "palette": "Cirrus extension: a well-known colour palette name (PS3.6 Annex B)",
    },
    "includefield": {"all": True, "privateTags": True},
    "unsupportedQueryParameters": "400 naming the parameter (or ignored with a Warning, as configured)",
    "delete": "Cirrus extension: DELETE on study, series and instance resources",
    "ups": {  # §11: Push, Pull, Watch and the event channel; the same workitems over DIMSE (`cirrus dimse`)
        "eventChannel": {"path": "subscribers/{ae}", "protocol": "WebSocket (RFC 6455)",
                         "events": ["UPS State Report", "UPS Cancel Requested", "UPS Progress Report",
                                    "SCP Status Change", "UPS Assigned"],
                         "replay": "since=<sequence number> (private element (0009,xx01) of creator CIRRUS UPS)"},
        "deletionLock": "honoured: a final workitem is kept past the retention while a subscriber holds a lock",
        "dimse": ["UPS Push", "UPS Pull", "UPS Watch", "UPS Query"],
    },
}


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def endpoints_for(routes: Iterable[tuple[str, str]] | None = None) -> tuple[Endpoint, ...]:
    """The endpoints of the mounted ``routes`` ((path relative to the base, method); HEAD left out),
    described from :data:`ENDPOINTS`; a route without a description still appears (as an
    undescribed Cirrus extension), so the document follows the route table. None: :data:`ENDPOINTS`."""
    if routes is None:
        return ENDPOINTS
    described = {(ep.path, ep.method): ep for ep in ENDPOINTS}
    out = []
    for path, method in dict.fromkeys((p.strip("/"), m.upper()) for p, m in routes):
        if method == "HEAD":
            continue
        undescribed = Endpoint(path, method, f"{method} {path or '/'} (Cirrus extension)")
        out.append(described.get((path, method)) or undescribed)
    return tuple(out)


def _tree(endpoints: Iterable[Endpoint] = ENDPOINTS) -> dict[str, Any]:
    """Nested {segment: {"methods": [...], "children": {...}}} from the endpoints."""
    root: dict[str, Any] = {"methods": [], "children": {}}
    for ep in endpoints:
        node = root
        for segment in _segments(ep.path):
            node = node["children"].setdefault(segment, {"methods": [], "children": {}})
        node["methods"].append(ep)
    return root


def _method_element(parent: ET.Element, ep: Endpoint) -> None:
    method = ET.SubElement(parent, "method", name=ep.method, id=ep.transaction.replace(" ", "").replace("'", ""))
    ET.SubElement(method, "doc", title=ep.transaction)
    if ep.query or ep.consumes:
        request = ET.SubElement(method, "request")
        for name in ep.query:
            ET.SubElement(request, "param", name=name, style="query", required="false")
        for media in ep.consumes:
            ET.SubElement(request, "representation", mediaType=media)
    response = ET.SubElement(method, "response", status="200")
    for media in ep.produces:
        ET.SubElement(response, "representation", mediaType=media)


def _resource_element(parent: ET.Element, segment: str, node: dict[str, Any]) -> None:
    resource = ET.SubElement(parent, "resource", path=segment)
    if segment.startswith("{") and segment.endswith("}"):
        ET.SubElement(resource, "param", name=segment[1:-1], style="template", type="xsd:string", required="true")
    for ep in node["methods"]:
        _method_element(resource, ep)
    for child, sub in node["children"].items():
        _resource_element(resource, child, sub)


def wadl(base_url: str, routes: Iterable[tuple[str, str]] | None = None) -> bytes:
    """The Annex H WADL document for the service at ``base_url`` (``routes``: see :func:`endpoints_for`)."""
    app = ET.Element("application", {"xmlns": WADL_NAMESPACE, "xmlns:xsd": "http://www.w3.org/2001/XMLSchema"})
    doc = ET.SubElement(app, "doc", title="Cirrus DICOMweb (PS3.18)")
    doc.text = "; ".join(f"{k}={v}" for k, v in OPTIONS.items() if not isinstance(v, dict))
    resources = ET.SubElement(app, "resources", base=base_url)
    tree = _tree(endpoints_for(routes))
    for ep in tree["methods"]:  # the base resource itself (Retrieve Capabilities)
        _method_element(resources, ep)
    for segment, node in tree["children"].items():
        _resource_element(resources, segment, node)
    body: str = ET.tostring(app, encoding="unicode")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.encode("utf-8")


def _json_node(node: dict[str, Any], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {"path": path}
    if node["methods"]:
        out["methods"] = [
            {"name": ep.method, "transaction": ep.transaction, "mediaTypes": list(ep.produces),
             **({"queryParameters": list(ep.query)} if ep.query else {}),
             **({"requestMediaTypes": list(ep.consumes)} if ep.consumes else {})}
            for ep in node["methods"]
        ]
    if node["children"]:
        out["resources"] = [_json_node(sub, seg) for seg, sub in node["children"].items()]
    return out


def capabilities_json(base_url: str, routes: Iterable[tuple[str, str]] | None = None) -> dict[str, Any]:
    """The same description for ``application/json`` (§8.9.4)."""
    tree = _tree(endpoints_for(routes))
    root = _json_node(tree, "")
    return {
        "server": "Cirrus",
        "baseUrl": base_url,
        "resources": root.get("resources", []),
        "methods": root.get("methods", []),
        "options": OPTIONS,
        # A summary by service, as before this document listed everything.
        "services": {
            "STOW-RS": {"path": "studies", "mediaTypes": list(STOW_TYPES)},
            "QIDO-RS": {"path": "studies|series|instances", "fuzzymatching": True, "includefield": True,
                        "mediaTypes": list(SEARCH_TYPES)},
            "WADO-RS": {"instances": True, "metadata": True, "frames": True, "bulkdata": True, "rendered": True,
                        "thumbnail": True},
            "DELETE": {"levels": ["study", "series", "instance"]},
        },
    }
