"""Test helpers shared by the test modules (conftest.py holds the fixtures)."""

from tests.support.graphql import GraphQLClient, WsSession, assert_error, assert_payload_error
from tests.support.mail import MailBox
from tests.support.processes import drain_outbox, server_process

__all__ = [
    "GraphQLClient",
    "MailBox",
    "WsSession",
    "assert_error",
    "assert_payload_error",
    "drain_outbox",
    "server_process",
]
