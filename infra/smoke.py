#!/usr/bin/env python3
"""`make smoke`: one hostname's whole life against any deployment, over its
HTTP API only, as a tenant would live it (ACME path):

  start-certificate, publish the TXT record it names, complete-certificate
  until served, the status route until active, (with --tls) a TLS handshake
  with the edge for that name showing the issued certificate, renew-now
  (publishing its TXT record when asked) until renewed, release, and
  nothing left: the status route answers 404 and the tenant's list omits
  the name.

Given the deployment's API URL, a command that prints a bearer token for a
tenant ({org} in it is replaced) and a command that publishes a TXT record
({name} and {value} replaced): on AWS, a Route 53 change in a zone the
smoke test may write in; locally, challtestsrv. `make test` runs it against
the local stack (without --tls). Standard library only.

Exit status 0 when every step passed; otherwise the failing step is named.
"""

import argparse
import json
import shlex
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid


def say(step, detail=""):
    print(f"smoke: {step}" + (f": {detail}" if detail else ""), flush=True)


def fail(step, detail):
    print(f"smoke: FAILED at {step}: {detail}", file=sys.stderr, flush=True)
    sys.exit(1)


class Api:
    def __init__(self, base, token):
        self.base = base.rstrip("/")
        self.token = token

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=40) as rsp:
                return rsp.status, json.loads(rsp.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw or b"null")
            except ValueError:
                return e.code, {"raw": raw.decode(errors="replace")}


def run(command, **values):
    for key, value in values.items():
        command = command.replace("{" + key + "}", value)
    out = subprocess.run(command, shell=True, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{command!r} exited {out.returncode}: {out.stderr.strip()}")
    return out.stdout.strip()


def publish(args, answer):
    """Publishes every TXT record an answer names (one name, or several)."""
    records = answer.get("records") or [answer]
    for r in records:
        name, value = r.get("txt_record_name"), r.get("txt_record_value")
        if name and value:
            run(args.publish_txt, name=name, value=value)
            say("published TXT", name)


def until(step, deadline, attempt, pause=1.0):
    """Calls attempt() until it answers a result (not None) or time runs out."""
    last = None
    while time.monotonic() < deadline:
        done, last = attempt()
        if done is not None:
            return done
        time.sleep(pause)
    fail(step, f"still not done at the deadline; last answer {last}")


def tls_serial(host, port, name):
    ctx = ssl.create_default_context()
    with socket.create_connection((host, port), timeout=15) as sock:
        with ctx.wrap_socket(sock, server_hostname=name) as tls:
            return format(int(tls.getpeercert()["serialNumber"], 16), "x")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--api", required=True, help="the deployment's API URL")
    p.add_argument("--token-command", required=True, help="prints a bearer token; {org} is the tenant")
    p.add_argument("--publish-txt", required=True, help="publishes a TXT record; {name} and {value}")
    p.add_argument("--org", default=f"smoke-{uuid.uuid4().hex[:8]}")
    p.add_argument("--domain", help="the hostname (default: a new name under --zone)")
    p.add_argument("--zone", default="example.com", help="where the default hostname is made")
    p.add_argument("--tls", action="store_true", help="check the edge serves the certificate (real deployments)")
    p.add_argument("--timeout", type=float, default=900, help="seconds for the whole run")
    args = p.parse_args()
    deadline = time.monotonic() + args.timeout
    domain = args.domain or f"smoke-{uuid.uuid4().hex[:10]}.{args.zone}"
    org = args.org
    api = Api(args.api, run(args.token_command, org=org))
    body = {"domain": domain}
    say("hostname", f"{domain} for tenant {org}")

    status, started = api.call("POST", f"/api/domain/start-certificate/{org}", body)
    if status != 200:
        fail("start-certificate", f"{status} {started}")
    say("started", started.get("proxy_status", ""))
    publish(args, started)

    def complete():
        status, answer = api.call("POST", f"/api/domain/complete-certificate/{org}", body)
        if status == 200:
            return answer, answer
        if status in (202, 422) or (status == 502 and answer.get("code") == "upstream_unavailable"):
            return None, (status, answer.get("code") or answer.get("proxy_status"))
        fail("complete-certificate", f"{status} {answer}")

    done = until("complete-certificate", deadline, complete)
    say("served", done.get("certificate_arn", ""))

    status_path = f"/api/domain/status/{org}?domain={domain}"

    def active():
        status, st = api.call("GET", status_path)
        if status != 200:
            fail("status", f"{status} {st}")
        deployed = st.get("edge_status") in (None, "deployed")
        return (st if st.get("status") == "active" and deployed else None), st.get("status")

    st = until("status: active", deadline, active)
    serial = st.get("serial")
    say("active", f"serial {serial}, points at {st.get('dns_target')}")

    if args.tls:
        target = st.get("dns_target") or domain
        seen = tls_serial(target, 443, domain)
        if seen.lower().lstrip("0") != (serial or "").lower().lstrip("0"):
            fail("TLS handshake", f"{target} served serial {seen} for {domain}, expected {serial}")
        say("TLS", f"{target} serves serial {seen} for {domain}")

    def renew():
        status, answer = api.call("POST", f"/api/domain/renew-certificate/{org}", body)
        if status == 200 and answer.get("serial") and answer.get("serial") != serial:
            return answer, answer
        if status in (200, 202):
            publish(args, answer)
            return None, (status, answer.get("stage"))
        if status == 502 and answer.get("code") == "upstream_unavailable":
            return None, (status, answer.get("code"))
        fail("renew-certificate", f"{status} {answer}")

    renewed = until("renew-certificate", deadline, renew)
    say("renewed", f"serial {renewed.get('serial')}, same ARN {renewed.get('certificate_arn')}")
    if renewed.get("certificate_arn") != done.get("certificate_arn"):
        fail("renew-certificate", "the renewed certificate is not in the same ACM ARN")

    def release():
        status, answer = api.call("DELETE", f"/domains/{domain}")
        if status == 200:
            return answer, answer
        if status == 202:
            return None, answer.get("remaining")
        fail("release", f"{status} {answer}")

    until("release", deadline, release)
    say("released")
    status, gone = api.call("GET", status_path)
    if status != 404:
        fail("after release", f"the status route answers {status} {gone}")
    status, listed = api.call("GET", "/domains")
    if status != 200 or any(d.get("domain") == domain for d in listed.get("domains", [])):
        fail("after release", f"the tenant's list still has {domain}: {listed}")
    say("passed", f"{domain}: issued, served, renewed, released, nothing left")


if __name__ == "__main__":
    main()
