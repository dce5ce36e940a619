"""Let's Encrypt's Boulder rules, in front of the local Pebble.

Pebble 2.4.0 answers every new order with a fresh one. Boulder, the CA
behind Let's Encrypt, answers a new order from the same account for the
same set of identifiers with that account's existing order while it is
`pending` or `ready` and not expired: the same order URL, the same
authorizations, so the same challenge token and TXT value (Boulder's
`ra.NewOrder` / `sa.GetOrderForNames`; see the stack's REFERENCE notes).
A product with one ACME account for every tenant therefore shows a new
claimant of a name the TXT value the CA made for the previous one, unless
it ended that order (deactivated its authorizations) first. This proxy
makes the local CA do the same, in `make dev` and `make test`, so the
product meets that rule before Let's Encrypt does.

Everything is forwarded to Pebble unchanged, Host header included (Pebble
builds its URLs from the Host it is asked at and checks each JWS `url`
against it). A new order is forwarded too (its nonce is spent, its errors
are Pebble's); when an order of the same account for the same identifiers
is still reusable, the answer's `Location` and body are that order's, and
Pebble's fresh order is left to expire. What the proxy knows of an order is
what it relayed: the last order body it saw, and the authorizations it saw
deactivated or invalid (Boulder never reuses an order with a dead
authorization). Valid authorizations are reused by Pebble itself
(`PEBBLE_AUTHZREUSE=100`, as Boulder does for 30 days).

Pebble also reads an order whose authorization was deactivated as
`deactivated`, a status RFC 8555 does not give orders (Boulder reads it
`invalid`, as the RFC says an order whose authorization failed or was
deactivated is); the proxy answers `invalid`, so clients that follow the
RFC can read it.

Profiles (Let's Encrypt's `classic`, `tlsserver`, `shortlived`): Pebble
2.4.0 has none (they came in Pebble 2.7.0), and instant-acme refuses to ask
for one a directory does not list. The proxy lists Let's Encrypt's three in
the directory's `meta.profiles`, answers a new order naming another with
Boulder's `invalidProfile`, keeps the profile each order asked for, and
writes it into every answer about that order (`profile`, as Boulder does),
so a client can read back what it asked for. An order is reused only for
the same profile. The certificates' lifetime is Pebble's, one per process
(`certificateValidityPeriod`): the stack runs a second Pebble whose
certificates last `shortlived`'s 160 hours.

Its state lives in memory: a restart of the stack forgets every order, as a
restarted Pebble does.

Usage: python3 infra/local/boulder.py --listen 127.0.0.1:14001 \
         --upstream 127.0.0.1:14000 --cert pebble.pem --key pebble.key --ca ca.pem
"""
import argparse
import base64
import datetime
import http.client
import http.server
import json
import socketserver
import ssl
import sys
import threading

REUSABLE = ("pending", "ready")
# Let's Encrypt's profiles and what its directory says of each.
PROFILES = {
    "classic": "The same profile you're accustomed to",
    "tlsserver": "https://letsencrypt.org/2025/01/09/acme-profiles/",
    "shortlived": "https://letsencrypt.org/2025/01/09/acme-profiles/",
}
DEAD_AUTHZ = ("deactivated", "invalid", "expired", "revoked")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def b64json(text):
    text += "=" * (-len(text) % 4)
    return json.loads(base64.urlsafe_b64decode(text))


def path_of(url):
    """The path of an absolute URL (`https://host:port/path` → `/path`)."""
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


def host_of(url):
    return url.split("://", 1)[-1].split("/", 1)[0]


class Orders:
    """The orders the proxy has relayed, by path."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_key = {}  # (account path, identifiers) -> order path
        self.orders = {}  # order path -> {"body", "host", "authz", "dead"}
        self.by_finalize = {}  # finalize path -> order path
        self.reused = 0

    def reusable(self, key):
        with self.lock:
            path = self.by_key.get(key)
            order = self.orders.get(path)
            if not order or order["dead"] or order["body"].get("status") not in REUSABLE:
                return None
            expires = order["body"].get("expires")
            if expires and parse_time(expires) <= datetime.datetime.now(datetime.timezone.utc):
                return None
            self.reused += 1
            return path, dict(order)

    def placed(self, key, path, host, body):
        with self.lock:
            self.by_key[key] = path
            self.orders[path] = {
                "body": body,
                "host": host,
                "authz": {path_of(a) for a in body.get("authorizations", [])},
                "dead": False,
                "profile": key[2],
            }
            if body.get("finalize"):
                self.by_finalize[path_of(body["finalize"])] = path

    def seen_order(self, path, body):
        with self.lock:
            path = self.by_finalize.get(path, path)
            if path in self.orders and isinstance(body, dict) and "status" in body:
                self.orders[path]["body"] = body

    def profile_of(self, path):
        """The profile the order at `path` (or its finalize path) asked for."""
        with self.lock:
            path = self.by_finalize.get(path, path)
            order = self.orders.get(path)
            return order["profile"] if order else None

    def seen_authz(self, path, body):
        if not isinstance(body, dict) or body.get("status") not in DEAD_AUTHZ:
            return
        with self.lock:
            for order in self.orders.values():
                if path in order["authz"]:
                    order["dead"] = True


def parse_time(text):
    text = text.replace("Z", "+00:00")
    if "." in text:  # Pebble writes nanoseconds; Python reads microseconds
        head, tail = text.split(".", 1)
        digits = "".join(c for c in tail if c.isdigit())
        text = f"{head}.{digits[:6]}{tail[len(digits):]}"
    return datetime.datetime.fromisoformat(text)


def serve(args):
    upstream_host, upstream_port = args.upstream.rsplit(":", 1)
    client_tls = ssl.create_default_context(cafile=args.ca)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(args.cert, args.key)
    server_tls.set_alpn_protocols(["http/1.1"])
    orders = Orders()
    local = threading.local()
    paths = {}

    def pebble():
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(
                upstream_host, int(upstream_port), context=client_tls, timeout=60
            )
            local.conn = conn
        return conn

    def forward(method, path, headers, body):
        for attempt in (1, 2):
            conn = pebble()
            try:
                conn.request(method, path, body=body, headers=headers)
                rsp = conn.getresponse()
                return rsp.status, rsp.getheaders(), rsp.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def new_order_path():
        if "newOrder" not in paths:
            status, _, body = forward("GET", args.directory_path, {"Host": args.upstream}, None)
            if status == 200:
                paths["newOrder"] = path_of(json.loads(body)["newOrder"])
        return paths.get("newOrder")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            self.request = server_tls.wrap_socket(self.request, server_side=True)
            super().setup()

        def log_message(self, *_):
            pass

        def handle_one_request(self):
            try:
                super().handle_one_request()
            except (ssl.SSLError, ConnectionError):
                self.close_connection = True

        def relay(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            if body is not None:
                headers["Content-Length"] = str(len(body))
            key = None
            if self.command == "POST" and self.path == new_order_path():
                key = order_key(body)
                asked = key[2] if key else None
                if asked is not None and asked not in PROFILES:
                    # Forwarded first (the nonce is spent, as at Boulder),
                    # then refused as Boulder refuses it.
                    _, spent_headers, _ = forward(self.command, self.path, headers, body)
                    nonce = [(k, v) for k, v in spent_headers if k.lower() == "replay-nonce"]
                    problem = {
                        "type": "urn:ietf:params:acme:error:invalidProfile",
                        "detail": f"profile {asked!r} is not one of {sorted(PROFILES)}",
                        "status": 400,
                    }
                    self.answer(400, [("Content-Type", "application/problem+json")] + nonce, json.dumps(problem).encode())
                    return
            try:
                status, rsp_headers, rsp_body = forward(self.command, self.path, headers, body)
            except (http.client.HTTPException, OSError) as e:
                self.answer(502, [("Content-Type", "text/plain")], f"Pebble unreachable: {e}".encode())
                return
            rsp_headers = [(k, v) for k, v in rsp_headers if k.lower() not in HOP_BY_HOP]
            parsed = None
            if rsp_body[:1] == b"{":
                try:
                    parsed = json.loads(rsp_body)
                except ValueError:
                    parsed = None
            if isinstance(parsed, dict) and "finalize" in parsed and parsed.get("status") == "deactivated":
                parsed["status"] = "invalid"
                rsp_body = json.dumps(parsed).encode()
            if self.command == "GET" and self.path == args.directory_path and isinstance(parsed, dict):
                parsed.setdefault("meta", {})["profiles"] = PROFILES
                rsp_body = json.dumps(parsed).encode()
            # The profile an order asked for, in every answer about it.
            if isinstance(parsed, dict) and "finalize" in parsed and status < 300:
                profile = key[2] if key else orders.profile_of(self.path)
                if profile and parsed.get("profile") != profile:
                    parsed["profile"] = profile
                    rsp_body = json.dumps(parsed).encode()
            host = self.headers.get("Host", "")
            if key and status == 201 and parsed is not None:
                existing = orders.reusable(key)
                if existing:
                    path, order = existing
                    text = json.dumps(order["body"]).replace(
                        f"https://{order['host']}/", f"https://{host}/"
                    )
                    rsp_body = text.encode()
                    rsp_headers = [(k, v) for k, v in rsp_headers if k.lower() != "location"]
                    rsp_headers.append(("Location", f"https://{host}{path}"))
                    print(f"boulder: new order answered with the account's {order['body'].get('status')} order {path}", flush=True)
                else:
                    location = dict((k.lower(), v) for k, v in rsp_headers).get("location")
                    if location:
                        orders.placed(key, path_of(location), host, parsed)
            elif parsed is not None and status < 300:
                if self.path.startswith("/authZ/"):
                    orders.seen_authz(self.path, parsed)
                else:
                    orders.seen_order(self.path, parsed)
            self.answer(status, rsp_headers, rsp_body)

        def answer(self, status, headers, body):
            self.send_response_only(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_HEAD = relay

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    host, port = args.listen.rsplit(":", 1)
    server = Server((host, int(port)), Handler)
    print(f"boulder: Boulder's order reuse in front of Pebble at {args.upstream}, on {args.listen}", flush=True)
    server.serve_forever()


def order_key(jws):
    """(account, identifiers) of a newOrder request, or None if unreadable."""
    try:
        jws = json.loads(jws)
        protected = b64json(jws["protected"])
        payload = b64json(jws["payload"])
        names = sorted(
            f"{i['type']}:{i['value'].lower().rstrip('.')}" for i in payload["identifiers"]
        )
        return path_of(protected["kid"]), tuple(names), payload.get("profile")
    except (KeyError, TypeError, ValueError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--listen", required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--directory-path", default="/dir")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ca", required=True)
    serve(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
