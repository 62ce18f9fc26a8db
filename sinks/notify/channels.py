"""Thin adapters that deliver one rendered notification to one channel (HTTP, SMTP, log).

Each ``send`` is one attempt: it returns on success and raises ``SendError`` (retryable or
not) otherwise; retries, backoff and delivery records are the channel worker's business.
``progress`` is per notification and survives retries: a channel with several recipients
notes whom it already reached so a retry does not message them twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Final, Protocol

import httpx
import structlog

from sinks.notify.config import (
    EmailChannel,
    LogChannel,
    ResolvedChannel,
    SlackChannel,
    TelegramChannel,
    WebhookChannel,
)
from sinks.notify.policy import Notification
from sinks.notify.render import Rendered

__all__ = [
    "SIGNATURE_HEADER",
    "SendError",
    "SendResult",
    "Sender",
    "build_sender",
    "message_id_for",
    "sign",
    "verify_signature",
    "webhook_payload",
]

log = structlog.get_logger("sinks.notify.channels")

SIGNATURE_HEADER: Final = "X-Sitrep-Signature"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
_RETRYABLE_HTTP: Final = frozenset({408, 425, 429})


class SendError(Exception):
    def __init__(self, message: str, *, retryable: bool, http_status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.http_status = http_status


@dataclass(frozen=True)
class SendResult:
    http_status: int | None = None


class Sender(Protocol):
    def send(
        self, notification: Notification, rendered: Rendered, progress: set[str]
    ) -> SendResult: ...

    def close(self) -> None: ...


# --- pure helpers ---------------------------------------------------------------------------------


def sign(secret: bytes, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the raw body>``, the X-Sitrep-Signature header value."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute over the raw body and compare in constant time."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


def webhook_payload(notification: Notification, rendered: Rendered, sent_at: datetime) -> bytes:
    """The webhook body: notification fields, the rendered text and the alert itself."""
    document: dict[str, Any] = {
        "notification_key": notification.key,
        "channel": notification.channel,
        "recipients": list(notification.recipients),
        "change": notification.alert.change.value,
        "title": rendered.title,
        "text": rendered.text,
        "suppressed_children": [
            {"alert_id": c.alert_id, "area_code": c.area_code, "area_name": c.area_name}
            for c in notification.children
        ],
        "sent_at": sent_at.isoformat(),
        "alert": notification.alert.model_dump(mode="json", exclude_none=True),
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def message_id_for(key: str) -> str:
    """E-mail Message-ID derived from the idempotency key (same key, same Message-ID)."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@sitrep.notify>"


def _check_status(response: httpx.Response, what: str) -> SendResult:
    code = response.status_code
    if 200 <= code < 300:
        return SendResult(code)
    retryable = code >= 500 or code in _RETRYABLE_HTTP
    detail = response.text[:300].strip()
    raise SendError(f"{what} answered HTTP {code}: {detail}", retryable=retryable, http_status=code)


def _post(client: httpx.Client, url: str, what: str, **kwargs: Any) -> SendResult:
    try:
        response = client.post(url, **kwargs)
    except httpx.TimeoutException as exc:
        raise SendError(f"{what}: timed out ({type(exc).__name__})", retryable=True) from None
    except httpx.HTTPError as exc:
        raise SendError(f"{what}: {type(exc).__name__}: {exc}", retryable=True) from None
    return _check_status(response, what)


# --- adapters -------------------------------------------------------------------------------------


class WebhookSender:
    def __init__(self, channel: WebhookChannel, secret: str, timeout_s: float) -> None:
        self._url = str(channel.url)
        self._headers = dict(channel.headers)
        self._secret = secret.encode()
        self._client = httpx.Client(timeout=timeout_s)

    def send(
        self, notification: Notification, rendered: Rendered, progress: set[str]
    ) -> SendResult:
        body = webhook_payload(notification, rendered, datetime.now(UTC))
        headers = {
            **self._headers,
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(self._secret, body),
            IDEMPOTENCY_HEADER: notification.key,
        }
        return _post(self._client, self._url, "webhook", content=body, headers=headers)

    def close(self) -> None:
        self._client.close()


class SlackSender:
    def __init__(self, url: str, timeout_s: float) -> None:
        self._url = url
        self._client = httpx.Client(timeout=timeout_s)

    def send(
        self, notification: Notification, rendered: Rendered, progress: set[str]
    ) -> SendResult:
        headers = {IDEMPOTENCY_HEADER: notification.key}
        payload = {"text": rendered.markdown, "mrkdwn": True}
        return _post(self._client, self._url, "slack webhook", json=payload, headers=headers)

    def close(self) -> None:
        self._client.close()


class TelegramSender:
    def __init__(self, channel: TelegramChannel, token: str, timeout_s: float) -> None:
        self._url = f"{str(channel.base_url).rstrip('/')}/bot{token}/sendMessage"
        self._client = httpx.Client(timeout=timeout_s)

    def send(
        self, notification: Notification, rendered: Rendered, progress: set[str]
    ) -> SendResult:
        if not notification.recipients:
            raise SendError(
                "telegram: no chat id (route recipients or default_recipients)", retryable=False
            )
        result = SendResult()
        for chat_id in notification.recipients:
            if chat_id in progress:
                continue
            payload = {"chat_id": chat_id, "text": rendered.text, "disable_web_page_preview": True}
            try:
                result = _post(self._client, self._url, "telegram", json=payload)
            except SendError as exc:
                # Never let the token (part of the URL) reach a log line or a delivery record.
                raise SendError(
                    f"chat {chat_id}: {exc}", retryable=exc.retryable, http_status=exc.http_status
                ) from None
            progress.add(chat_id)
        return result

    def close(self) -> None:
        self._client.close()


class EmailSender:
    def __init__(self, channel: EmailChannel, password: str | None, timeout_s: float) -> None:
        self._channel = channel
        self._password = password
        self._timeout_s = timeout_s

    def send(
        self, notification: Notification, rendered: Rendered, progress: set[str]
    ) -> SendResult:
        cfg = self._channel
        if not notification.recipients:
            raise SendError("email: no recipients (route or default_recipients)", retryable=False)
        message = EmailMessage()
        message["Subject"] = rendered.title
        message["From"] = cfg.from_address
        message["To"] = ", ".join(notification.recipients)
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = message_id_for(notification.key)
        message["X-Sitrep-Notification-Key"] = notification.key
        message.set_content(rendered.text)
        try:
            with smtplib.SMTP(cfg.host, cfg.port, timeout=self._timeout_s) as smtp:
                smtp.ehlo()
                if cfg.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if cfg.username and self._password:
                    smtp.login(cfg.username, self._password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise SendError(
                f"smtp refused recipients: {list(exc.recipients)}", retryable=False
            ) from None
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise SendError(
                f"smtp {exc.smtp_code}: {text}", retryable=exc.smtp_code < 500
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SendError(
                f"smtp {cfg.host}:{cfg.port}: {type(exc).__name__}: {exc}", retryable=True
            ) from None
        return SendResult()

    def close(self) -> None:
        return None


class LogSender:
    def __init__(self, name: str) -> None:
        self._log = log.bind(channel=name)

    def send(
        self, notification: Notification, rendered: Rendered, progress: set[str]
    ) -> SendResult:
        self._log.info(
            "notification",
            notification_key=notification.key,
            alert_id=notification.alert.alert_id,
            recipients=list(notification.recipients),
            title=rendered.title,
            text=rendered.text,
        )
        return SendResult()

    def close(self) -> None:
        return None


def build_sender(channel: ResolvedChannel, timeout_s: float) -> Sender:
    cfg = channel.config
    if isinstance(cfg, WebhookChannel):
        return WebhookSender(cfg, channel.secrets["secret"], timeout_s)
    if isinstance(cfg, SlackChannel):
        return SlackSender(channel.secrets["url"], timeout_s)
    if isinstance(cfg, TelegramChannel):
        return TelegramSender(cfg, channel.secrets["token"], timeout_s)
    if isinstance(cfg, EmailChannel):
        return EmailSender(cfg, channel.secrets.get("password"), timeout_s)
    assert isinstance(cfg, LogChannel)
    return LogSender(channel.name)
