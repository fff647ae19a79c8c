"""C-FIND and the instance look-up of C-MOVE / C-GET, answered by the QIDO-RS search.

The identifier becomes a QIDO expression (``dicomweb.dimse_query``), the expression the
server's QIDO SQL with the calling AE's tenant rule (its institution's studies and the
studies granted to it), and the DICOM JSON results C-FIND response identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

from dicomweb.dimse_query import (
    FindRequest,
    InformationModel,
    RetrieveLevel,
    find_request,
    patient_results,
    response_identifier,
    retrieve_query,
)
from server.auth.principal import Principal
from server.context import AppContext
from server.services.qido import QidoService


async def find(
    ctx: AppContext, identifier: Dataset, model: InformationModel, principal: Principal, retrieve_ae_title: str
) -> list[Dataset]:
    """The pending-response identifiers of a C-FIND request (raises ``InvalidQuery``)."""
    request: FindRequest = find_request(identifier, model)
    result = await QidoService(ctx).search(request.query, ctx.settings.public_url or "/",
                                           principal)
    items: list[dict[str, Any]] = result.items
    if request.level is RetrieveLevel.PATIENT:
        items = patient_results(items)
    return [response_identifier(item, request, retrieve_ae_title) for item in items]


@dataclass(frozen=True)
class RetrieveItem:
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    blob_key: str
    study_instance_uid: str


async def instances_to_retrieve(
    ctx: AppContext, identifier: Dataset, model: InformationModel, principal: Principal
) -> list[RetrieveItem]:
    """The stored instances a C-MOVE / C-GET identifier names, as the caller may see them."""
    query = retrieve_query(identifier, model)
    rows = await QidoService(ctx).stored_objects(query, principal)
    return [RetrieveItem(*row) for row in rows]
