"""A small browser-like HTTP client: cookies kept, redirects not followed, each request
timed, and the form helpers the benchmark needs (log in, take a CSRF token)."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlencode, urlsplit


class RequestTimeout(Exception):
    """The server did not answer within the cap (or its worker was killed at the cap)."""


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    seconds: float

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), "")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class _Inputs(HTMLParser):
    """The values of a page's <input name=…> elements and whether it links its last page."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, str] = {}
        self.links_last = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("name"):
            self.inputs.setdefault(values["name"], values.get("value") or "")
        if tag == "a" and values.get("href"):
            if parse_qs(urlsplit(values["href"]).query).get("last") == ["1"]:
                self.links_last = True


def parse(html: str) -> _Inputs:
    parser = _Inputs()
    parser.feed(html)
    return parser


class Client:
    """Requests to one server on loopback, with the cookies it set."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.cookies: dict[str, str] = {}

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        *,
        timeout: float = 60,
    ) -> Response:
        headers = {"Accept-Language": "fi"}
        if self.cookies:
            headers["Cookie"] = self.cookie_header
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        conn = http.client.HTTPConnection(*self.address, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
        except (TimeoutError, ConnectionError, http.client.RemoteDisconnected) as exc:
            raise RequestTimeout(f"{method} {path}: {exc!r}") from exc
        finally:
            conn.close()
        seconds = time.perf_counter() - started
        response = Response(answer.status, answer.getheaders(), data, seconds)
        self._keep_cookies(response)
        return response

    def get(self, path: str, *, timeout: float = 60) -> Response:
        return self.request("GET", path, timeout=timeout)

    def _keep_cookies(self, response: Response) -> None:
        for name, value in response.headers:
            if name.lower() != "set-cookie":
                continue
            cookie = SimpleCookie()
            cookie.load(value)
            for key, morsel in cookie.items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[key] = morsel.value
                else:
                    self.cookies.pop(key, None)

    def form_token(self, path: str) -> str:
        """Open a form page and return its CSRF token (its cookie is kept)."""
        response = self.get(path)
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}")
        token = parse(response.text).inputs.get("csrf_token")
        if not token:
            raise RuntimeError(f"GET {path}: no CSRF token in the form")
        return token

    def login(self, email: str, password: str) -> None:
        """Log in through the login form, as a person does."""
        token = self.form_token("/auth/login")
        response = self.request(
            "POST",
            "/auth/login",
            {"csrf_token": token, "email": email, "password": password, "next": ""},
        )
        if response.status not in (302, 303) or "session" not in self.cookies:
            raise RuntimeError(f"logging in as {email} failed: HTTP {response.status}")


def last_page(path: str, html: str) -> str:
    """The address of the list's last page (its "Last" link, `last=1`), or the list itself
    when it has one page."""
    if not parse(html).links_last:
        return path
    return f"{path}{'&' if '?' in path else '?'}last=1"
