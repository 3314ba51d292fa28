"""The hostile corpus (issue 15): every attack seen, as a request that is refused with its code,
stores nothing, and leaves the server answering a `{ __typename }` probe right after.

Runs on both backend sets. Sections, one per concern, so each grows on its own:
cost and validation; transport, secrets and readiness; visibility and abuse; text, sign-in and
uploads.
"""

from __future__ import annotations

from typing import Any

from tests.support import GraphQLClient


async def assert_still_serving(api: GraphQLClient) -> None:
    """The probe every hostile test ends with: the server still answers at once."""
    result: dict[str, Any] = await api.execute("{ __typename }")
    assert result["data"] == {"__typename": "Query"} and not result.get("errors")


# ---------------------------------------------------------------------------------------------
# Cost and validation: fragment fan-out, introspection, aliases x nodes, caches, suggestions
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Transport, secrets and readiness: body and header limits, JSON depth, JSON refusals,
# development secret, /readyz, HTTP subscriptions, invalid Unicode
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Visibility and abuse: guessable ids, User nodes, revoked invitations, oversized ids,
# invitation floods
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Text, sign-in and uploads: control characters, lock-out, register, upload amplification
# ---------------------------------------------------------------------------------------------
