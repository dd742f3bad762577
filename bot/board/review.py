"""Incident review at the desk: the list with filters, one incident, mark reviewed (later: the report)."""

from __future__ import annotations

from aiohttp import web

from .web import Board


def review_routes(board: Board) -> list[web.AbstractRouteDef]:
    return []
