"""Event and invitation operations shared by the test modules."""

from __future__ import annotations

ROLE = """mutation($e: ID!, $p: ID!, $r: ParticipantRole!) { updateParticipantRole(input:
  {eventId: $e, participantId: $p, role: $r}) { participant { role } errors { code } } }"""

REMOVE = """mutation($e: ID!, $p: ID!) { removeParticipant(input: {eventId: $e, participantId: $p})
  { participant { state } errors { code } } }"""

INVITE = """mutation($input: InviteParticipantsInput!) { inviteParticipants(input: $input) {
  invitations { id status role inviteeEmail invitee { username } expiresAt }
  errors { code field message } } }"""

ACCEPT = """mutation($id: ID!) { acceptInvitation(input: {invitationId: $id}) {
  participant { id role state } event { viewerRole } errors { code } } }"""

DECLINE = """mutation($id: ID!) { declineInvitation(input: {invitationId: $id}) {
  invitation { status } errors { code } } }"""
