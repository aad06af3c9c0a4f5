"""The outbound HTTP client: internal addresses refused, answers bounded, failures classified."""

import socket
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import responses

from adapter.delivery.attempt import post_json
from adapter.delivery.outbound import AddressRefused, OutboundClient, OutboundSettings, check_url, refusal
from adapter.delivery.retry import DELIVERED, PERMANENT, TRANSIENT

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
URL = "https://receiver.example.test/fhir/Communication"


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1",
                                     "fe80::1", "::ffff:127.0.0.1", "0.0.0.0", "224.0.0.1", "fd00::1"])
def test_internal_addresses_are_refused(address):
    assert refusal(address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_allowed(address):
    assert refusal(address) is None


@pytest.mark.parametrize("url", ["ftp://receiver.example.test/x", "https://user:pw@receiver.example.test/x", "http://receiver.example.test/x",
                                 "https://10.0.0.5/fhir", "https://[::1]/fhir", "https://169.254.169.254/latest", "/relative", ""])
def test_urls_the_adapter_never_calls(url):
    with pytest.raises(AddressRefused):
        check_url(url, allowed_hosts=frozenset())


def test_an_allowed_host_may_be_local_and_plain_http():
    check_url("http://127.0.0.1:8099/fhir", allowed_hosts=frozenset({"127.0.0.1"}))


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/slow":
            time.sleep(1.5)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def local_receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_a_name_that_resolves_to_loopback_is_refused_on_the_connected_socket(local_receiver):
    # "localhost" passes the URL check (it is a name), but the socket connects to 127.0.0.1:
    # refused before anything is sent, as a rebinding name would be.
    attempted = post_json(OutboundClient(), f"https://localhost:{local_receiver}/fhir/Communication", body=b"{}",
                          headers={}, now=NOW)
    assert attempted.outcome == PERMANENT and "loopback" in attempted.reason


def test_an_allowed_local_receiver_is_reached(local_receiver):
    client = OutboundClient(OutboundSettings(allowed_hosts=frozenset({"127.0.0.1"})))
    assert post_json(client, f"http://127.0.0.1:{local_receiver}/fhir/Communication", body=b"{}", headers={}, now=NOW).outcome == DELIVERED


def test_a_receiver_slower_than_its_own_timeout_is_a_transient_timeout(local_receiver):
    client = OutboundClient(OutboundSettings(allowed_hosts=frozenset({"127.0.0.1"})))
    began = time.monotonic()
    attempted = post_json(client, f"http://127.0.0.1:{local_receiver}/slow", body=b"{}", headers={}, now=NOW, timeout=0.3)
    assert attempted.outcome == TRANSIENT and attempted.reason == "timeout"
    assert time.monotonic() - began < 1.2


def test_a_receiver_cannot_ask_for_more_than_the_configured_timeout(local_receiver):
    client = OutboundClient(OutboundSettings(allowed_hosts=frozenset({"127.0.0.1"}), read_timeout=0.3))
    attempted = post_json(client, f"http://127.0.0.1:{local_receiver}/slow", body=b"{}", headers={}, now=NOW, timeout=60)
    assert attempted.outcome == TRANSIENT and attempted.reason == "timeout"


def test_a_closed_port_is_a_transient_connection_failure():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = OutboundClient(OutboundSettings(allowed_hosts=frozenset({"127.0.0.1"})))
    attempted = post_json(client, f"http://127.0.0.1:{port}/x", body=b"{}", headers={}, now=NOW)
    assert attempted.outcome == TRANSIENT and attempted.reason == "connection failed or dropped"


@responses.activate
def test_a_2xx_with_a_garbage_body_is_delivered_with_a_note():
    responses.post(URL, status=201, body=b"\x00\xffnot json")
    attempted = post_json(OutboundClient(), URL, body=b"{}", headers={}, now=NOW)
    assert attempted.outcome == DELIVERED and "not JSON" in attempted.reason


@responses.activate
def test_an_answer_over_the_size_limit_is_not_read():
    responses.post(URL, status=200, body=b"{" + b" " * 5000 + b"}")
    client = OutboundClient(OutboundSettings(max_response_bytes=1000))
    attempted = post_json(client, URL, body=b"{}", headers={}, now=NOW)
    assert attempted.outcome == DELIVERED and "over the size limit" in attempted.reason


@responses.activate
def test_a_redirect_is_not_followed():
    responses.post(URL, status=302, headers={"Location": URL})
    attempted = post_json(OutboundClient(), URL, body=b"{}", headers={}, now=NOW)
    assert attempted.outcome == PERMANENT and "redirect" in attempted.reason
    assert len(responses.calls) == 1  # a loop cannot start


@responses.activate
@pytest.mark.parametrize("error, reason", [
    (requests.exceptions.ConnectTimeout(), "timeout"), (requests.exceptions.ReadTimeout(), "timeout"),
    (requests.exceptions.SSLError(), "TLS error (certificate or handshake)"),
    (requests.exceptions.ConnectionError(), "connection failed or dropped"),
])
def test_network_failures_are_transient(error, reason):
    responses.post(URL, body=error)
    attempted = post_json(OutboundClient(), URL, body=b"{}", headers={}, now=NOW)
    assert attempted.outcome == TRANSIENT and attempted.reason == reason


@responses.activate
def test_retry_after_of_a_429_is_kept():
    responses.post(URL, status=429, headers={"Retry-After": "30"})
    attempted = post_json(OutboundClient(), URL, body=b"{}", headers={}, now=NOW)
    assert attempted.outcome == TRANSIENT and attempted.retry_after == 30
