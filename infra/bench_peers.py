#!/usr/bin/env python3
"""`make bench-peers`: certbot and lego against the same local Pebble and
challtestsrv as the product's issuance benchmark, in the same run.

Usage: bench_peers.py <product median ms> [issuances]

Each peer issues `issuances` certificates (default 10, after one untimed
run that registers its account), each for a new name, answering DNS-01
through a hook that publishes the TXT record in challtestsrv, as the
product's benchmark does. Prints each peer's success count and median
wall time (process start to certificate on disk) beside the product's
median full issuance (start to SSL_VALIDATED, every AWS step included) and
the ratio.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HOOK = r'''#!/usr/bin/env python3
# DNS-01 hook for certbot (auth/cleanup, from CERTBOT_* variables) and
# lego's exec provider (present|cleanup <fqdn> <value>): the TXT record in
# challtestsrv.
import json, os, sys, urllib.request
api = os.environ["CHALLTESTSRV_URL"]
if len(sys.argv) == 2:
    action = sys.argv[1]
    fqdn = "_acme-challenge." + os.environ["CERTBOT_DOMAIN"] + "."
    value = os.environ["CERTBOT_VALIDATION"]
else:
    action, fqdn, value = sys.argv[1], sys.argv[2], sys.argv[3]
path = "/set-txt" if action in ("auth", "present") else "/clear-txt"
body = {"host": fqdn} if path == "/clear-txt" else {"host": fqdn, "value": value}
urllib.request.urlopen(urllib.request.Request(api + path, json.dumps(body).encode(), method="POST")).read()
'''


def stack_env():
    env = {}
    with open(".local/test/env") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


def certbot(work, stack, hook, name):
    return [
        "certbot", "certonly", "--non-interactive", "--agree-tos",
        "--register-unsafely-without-email",
        "--server", stack["ACME_DIRECTORY_URL"],
        "--config-dir", f"{work}/config", "--work-dir", f"{work}/work",
        "--logs-dir", f"{work}/logs",
        "--manual", "--preferred-challenges", "dns",
        "--manual-auth-hook", f"{hook} auth",
        "--manual-cleanup-hook", f"{hook} cleanup",
        "--key-type", "ecdsa", "-d", name,
    ], {"REQUESTS_CA_BUNDLE": stack["ACME_CA_BUNDLE"]}


def lego(work, stack, hook, name):
    resolver = stack["DNS_PRECHECK_RESOLVERS"].split(",")[0]
    return [
        "lego", "--accept-tos", "--email", "bench@example.com",
        "--server", stack["ACME_DIRECTORY_URL"], "--path", work,
        "--key-type", "ec256", "--dns", "exec",
        # challtestsrv answers SOA queries with NOTIMP, so lego cannot find
        # the zone for its own propagation check: it is turned off (the
        # record is in place before lego asks the CA).
        "--dns.resolvers", resolver, "--dns.disable-cp",
        "--domains", name, "run",
    ], {"LEGO_CA_CERTIFICATES": stack["ACME_CA_BUNDLE"], "EXEC_PATH": hook}


def run_peer(label, command, stack, hook, n):
    work = tempfile.mkdtemp(prefix=f"bench-{label}-")
    env = dict(os.environ, CHALLTESTSRV_URL=stack["CHALLTESTSRV_URL"])
    times, failures = [], []
    for i in range(n + 1):
        name = f"{label}-{uuid.uuid4().hex[:10]}.example.com"
        argv, extra = command(work, stack, hook, name)
        began = time.monotonic()
        done = subprocess.run(argv, env=dict(env, **extra), capture_output=True, text=True)
        elapsed = (time.monotonic() - began) * 1e3
        if i == 0:
            # Registers the account: untimed, as the product's warm-up.
            if done.returncode != 0:
                print(f"{label}: warm-up failed:\n{done.stdout}\n{done.stderr}", file=sys.stderr)
            continue
        if done.returncode == 0:
            times.append(elapsed)
        else:
            failures.append(done.stderr.strip().splitlines()[-1:] or ["(no output)"])
    shutil.rmtree(work, ignore_errors=True)
    for f in failures[:3]:
        print(f"  {label} failure: {f[0]}")
    return times


def main():
    product = float(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    stack = stack_env()
    hook_dir = tempfile.mkdtemp(prefix="bench-hook-")
    hook = os.path.join(hook_dir, "hook.py")
    with open(hook, "w") as f:
        f.write(HOOK)
    os.chmod(hook, 0o755)
    print(f"product: median {product:.1f} ms (full issuance, start to SSL_VALIDATED, every AWS step)")
    for label, command in (("certbot", certbot), ("lego", lego)):
        times = run_peer(label, command, stack, hook, n)
        if not times:
            print(f"{label}: 0 of {n} succeeded")
            continue
        median = statistics.median(times)
        print(
            f"{label}: {len(times)} of {n} succeeded, median {median:.1f} ms, "
            f"min {min(times):.1f} ms, max {max(times):.1f} ms; "
            f"product / {label} = {product / median:.3f}"
        )
    shutil.rmtree(hook_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
