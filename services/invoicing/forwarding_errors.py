"""The one error both forwarding clients raise (the print service, the e-invoice operator).

The invoice desk forwards by several delivery methods; whatever went wrong on the way,
it catches one type and shows its `message` to the staff, who decide whether to try again
(`retryable`: the counterpart was out of reach or failed on its side) or to correct the
invoice first (the counterpart refused what we sent). Also the HTTP exchange both clients
share, so that they answer failures in the same words. Pure: no Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

# An error text a counterpart gives is shown to staff: one line, not a whole page.
MAX_TEXT = 300


class ForwardingError(Exception):
    """A delivery failed: `message` says why in words staff can act on.

    `status` is the counterpart's HTTP status when it answered (None when it was not
    reached); `retryable` is true when sending the same thing again later may succeed.
    """

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable

    def __str__(self) -> str:
        return self.message


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def error_text(response: requests.Response) -> str:
    """The counterpart's own explanation: its JSON `error`, a plain-text body, or the
    HTTP reason (an HTML error page of a proxy is not shown to staff)."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("error"), str) and answer["error"]:
        return _one_line(answer["error"])
    if response.headers.get("Content-Type", "").startswith("text/plain") and response.text:
        return _one_line(response.text)
    return _one_line(response.reason or "no explanation given")


def exchange(
    method: str,
    url: str,
    *,
    service: str,
    action: str,
    timeout: float,
    **kwargs: Any,
) -> tuple[int, dict]:
    """Send one request and return (HTTP status, JSON object) of a 2xx answer.

    Every other outcome raises ForwardingError, worded "The {service} {action}…": e.g.
    service "print service", action "refused the job" gives "The print service refused
    the job (HTTP 422): the postcode must be five digits".
    """
    import requests  # slow to import: only a forwarding needs it

    name = f"The {service}"
    try:
        with requests.request(method, url, timeout=timeout, **kwargs) as response:
            status = response.status_code
            if not 200 <= status < 300:
                retryable = status >= 500 or status in (408, 429)
                verb = "failed" if status >= 500 else action
                raise ForwardingError(
                    f"{name} {verb} (HTTP {status}): {error_text(response)}",
                    status=status,
                    retryable=retryable,
                )
            try:
                answer = response.json()
            except ValueError:
                answer = None
    except requests.Timeout as exc:
        raise ForwardingError(
            f"{name} did not answer within {timeout:g} seconds.", retryable=True
        ) from exc
    except requests.ConnectionError as exc:
        raise ForwardingError(
            f"{name} could not be reached (the connection failed).", retryable=True
        ) from exc
    except requests.RequestException as exc:
        raise ForwardingError(f"{name} could not be asked: {_one_line(str(exc))}") from exc
    if not isinstance(answer, dict):
        raise ForwardingError(
            f"{name} gave an answer that could not be read (HTTP {status}).",
            status=status,
            retryable=True,
        )
    return status, answer


def malformed(service: str, status: int) -> ForwardingError:
    """The error of a 2xx answer that lacks what the protocol promises."""
    return ForwardingError(
        f"The {service} gave an answer that could not be read (HTTP {status}).",
        status=status,
        retryable=True,
    )
