"""`iven-gql seed-demo`: a realistic demo in the configured stores, for frontend developers.

content.py says what the demo holds, images.py draws its pictures, seed.py writes it through the
use cases (and explains how a second run finds everything instead of doubling it).
"""

from __future__ import annotations

from iven_gql.config import Settings
from iven_gql.demo.content import EVENTS
from iven_gql.demo.seed import Report, seed_demo
from iven_gql.resources import Resources
from schema.core import global_id

__all__ = ["Report", "describe", "run", "seed_demo"]


async def run(settings: Settings) -> Report:
    """Opens the stores as the CLI's one-off commands do, seeds, handles the outbox (this
    process runs the dispatcher's passes itself) and closes."""
    resources = Resources(settings.model_copy(update={"dispatcher": False}))
    deps = await resources.open()
    try:
        return await seed_demo(deps)
    finally:
        await resources.close()


def describe(report: Report, public_url: str) -> str:
    """What to sign in with, for the terminal."""
    added = ", ".join(f"{kind}: {n}" for kind, n in sorted(report.created.items()))
    lines = [
        f"demo data ready ({'added ' + added if added else 'nothing new: already there'})",
        "",
        f"Sign in at {public_url.rstrip('/')}/graphql with any of these accounts",
        f"and the password:  {report.password}",
        "",
    ]
    for person in report.users:
        lines.append(
            f"  {person.username:<14} {person.email:<28} {person.first_name} {person.last_name}"
        )
    admin = report.admin
    lines.append(f"  {admin.username:<14} {admin.email:<28} (admin: wrote the article)")
    lines.append("")
    lines.append("Events:")
    titles = {spec.key: spec.title for spec in EVENTS}
    for key, event_id in report.event_ids.items():
        lines.append(f"  {global_id('Event', event_id)}  {titles[key]}")
    if report.pending_outbox:
        lines.append("")
        lines.append(
            f"{report.pending_outbox} domain events are still being handled (notifications, "
            "activity): a running server's dispatcher finishes them."
        )
    return "\n".join(lines)
