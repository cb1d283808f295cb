"""Real local receivers for alerts: an HTTP server standing for a Slack incoming webhook and
an SMTP server (aiosmtpd) that requires a login, both recording what they were sent."""

from __future__ import annotations

import email
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.ports import free_port

WEBHOOK_PATH = "/services/T000/B000/"


@dataclass
class Webhook:
    url: str  # the base URL (the connection's host); the token is the path after it
    status: int
    posts: list[dict] = field(default_factory=list)  # {"path", "body" (parsed JSON)}


@contextmanager
def webhook_receiver(status: int = 200) -> Iterator[Webhook]:
    """A Slack-compatible incoming webhook on 127.0.0.1 answering `status` to every POST."""
    received = Webhook(url="", status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            received.posts.append({"path": self.path, "body": body})
            answer = b"ok" if received.status == 200 else b"invalid_token"
            self.send_response(received.status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    received.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    def text(self, message: Message) -> str:
        """The message's HTML part as text (what a reader sees, entities decoded)."""
        import html

        parts = [part for part in message.walk() if part.get_content_type() == "text/html"]
        return html.unescape(parts[0].get_payload(decode=True).decode())


@contextmanager
def smtp_receiver(user: str, password: str) -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1 that accepts only `user`/`password` (AUTH without TLS)."""
    box = Mailbox(host="127.0.0.1", port=free_port())

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:
            box.messages.append(email.message_from_bytes(envelope.content))
            box.recipients.append(list(envelope.rcpt_tos))
            return "250 Message accepted for delivery"

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = (auth_data.login.decode(), auth_data.password.decode())
        box.logins.append(login)
        return AuthResult(success=login == (user, password))

    controller = Controller(
        Handler(),
        hostname=box.host,
        port=box.port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def slack_connection(webhook: Webhook, token: str) -> str:
    """An AIRFLOW_CONN_* value: the provider's `slackwebhook` shape, the token as password."""
    return json.dumps(
        {"conn_type": "slackwebhook", "host": webhook.url, "password": WEBHOOK_PATH + token}
    )


def smtp_connection(box: Mailbox, user: str, password: str) -> str:
    """An AIRFLOW_CONN_* value: the SMTP provider's `smtp` shape, plain SMTP on localhost."""
    return json.dumps(
        {
            "conn_type": "smtp",
            "host": box.host,
            "port": box.port,
            "login": user,
            "password": password,
            "extra": {
                "from_email": "caravan@example.com",
                "disable_tls": True,
                "disable_ssl": True,
                "timeout": 10,
                "retry_limit": 0,
            },
        }
    )
