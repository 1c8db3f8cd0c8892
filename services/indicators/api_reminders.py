"""HTTP API of the reminders (đôn đốc): contact points, reminder policies, each unit's inbox
and the deliveries (the dead-letter list of webhooks and emails)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from chungtay_common.errors import responses
from chungtay_common.http import PersonalReadDep, ReadDep, WriteDep
from services.indicators import schemas as s
from services.indicators import service_reminders as service

router = APIRouter(prefix="/v1", tags=["reminders"])
WRITE_ERRORS = responses(401, 403, 404, 409, 413, 422)
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.post("/units/{unit_id}/contacts", status_code=201, response_model=s.ContactOut,
             responses=WRITE_ERRORS)
async def add_contact(unit_id: uuid.UUID, body: s.ContactIn, write: WriteDep,
                      request: Request) -> JSONResponse:
    """Add a contact point to a unit (name, role, email, phone, webhook URL)."""
    return await write(service.add_contact, unit_id, body,
                       request.app.state.settings.environment)


@router.get("/units/{unit_id}/contacts", response_model=list[s.ContactOut],
            responses=responses(401, 403, 404))
async def list_contacts(unit_id: uuid.UUID, read: PersonalReadDep) -> list[s.ContactOut]:
    """A unit's contact points (personal data: within scope, audited)."""
    return await read(service.list_contacts, unit_id)


@router.put("/contacts/{contact_id}", response_model=s.ContactOut, responses=WRITE_ERRORS)
async def replace_contact(contact_id: uuid.UUID, body: s.ContactUpdate, write: WriteDep,
                          request: Request) -> JSONResponse:
    """Change a contact point (``rotate_secret`` makes its webhook a new secret)."""
    return await write(service.replace_contact, contact_id, body,
                       request.app.state.settings.environment)


@router.post("/contacts/{contact_id}/remove", response_model=s.ContactOut,
             responses=WRITE_ERRORS)
async def remove_contact(contact_id: uuid.UUID, write: WriteDep) -> JSONResponse:
    """Stop using a contact point."""
    return await write(service.remove_contact, contact_id)


@router.get("/campaigns/{campaign_id}/reminder-policy", response_model=s.ReminderPolicyOut,
            responses=responses(401, 404))
async def get_reminder_policy(campaign_id: uuid.UUID, read: ReadDep) -> s.ReminderPolicyOut:
    """When a campaign's late units are reminded (the defaults until one is set)."""
    return await read(service.get_policy, campaign_id)


@router.put("/campaigns/{campaign_id}/reminder-policy", response_model=s.ReminderPolicyOut,
            responses=WRITE_ERRORS)
async def set_reminder_policy(campaign_id: uuid.UUID, body: s.ReminderPolicyIn,
                              write: WriteDep) -> JSONResponse:
    """Set when a campaign's late units are reminded and when the level above is told."""
    return await write(service.set_policy, campaign_id, body)


@router.get("/units/{unit_id}/notices", response_model=s.NoticePage,
            responses=responses(401, 403, 404))
async def unit_notices(unit_id: uuid.UUID, read: PersonalReadDep, unread: bool = False,
                       limit: Limit = 50, offset: Offset = 0) -> s.NoticePage:
    """A unit's inbox: the reminders and escalations it was sent, the newest first."""
    return await read(service.inbox, unit_id, unread, limit, offset)


@router.post("/notices/{notice_id}/read", response_model=s.NoticeOut, responses=WRITE_ERRORS)
async def mark_notice_read(notice_id: uuid.UUID, write: WriteDep) -> JSONResponse:
    """Mark a notice read."""
    return await write(service.mark_read, notice_id)


@router.get("/deliveries", response_model=s.DeliveryPage, responses=responses(401, 403))
async def list_deliveries(read: ReadDep,
                          status: Literal["pending", "sent", "dead", "cancelled"] | None = None,
                          channel: Literal["email", "webhook"] | None = None,
                          limit: Limit = 50, offset: Offset = 0) -> s.DeliveryPage:
    """Deliveries of notices by email and webhook (``status=dead``: those that failed their
    last try)."""
    return await read(service.list_deliveries, status, channel, limit, offset)


@router.post("/deliveries/{delivery_id}/retry", response_model=s.DeliveryOut,
             responses=WRITE_ERRORS)
async def retry_delivery(delivery_id: uuid.UUID, write: WriteDep) -> JSONResponse:
    """Try a delivery that is dead (or waiting for its next try) again now."""
    return await write(service.retry_delivery, delivery_id)
