#!/usr/bin/env bash
# The local stack, on loopback ports, plus the resources a deployment would
# create, made in moto (table, KMS key, CloudFront distribution, HTTP API):
#   - Pebble (ACME), which resolves through unbound, behind
#     infra/local/boulder.py (Let's Encrypt's order reuse, which Pebble
#     lacks); the product is given the proxy's directory;
#   - pebble-challtestsrv (DNS), standing in for the tenants' DNS hosts (and
#     the root of the local DNS tree), scripted over its management API;
#   - Knot DNS (knotd), authoritative for the platform's delegation zone
#     acme-delegation.platform.example., taking RFC 2136 updates signed with
#     the TSIG key custom-domains-update. (hmac-sha256, secret generated once
#     into .local/<profile>/tsig-secret); the zone starts empty (SOA, NS) on
#     every `up`; it also serves a tenant's test zone,
#     authoritative.example.net., whose second nameserver is a second knotd
#     on 127.0.0.2 (same port), so a test can make one server lag;
#   - unbound, a recursive resolver with caching off and no DNSSEC, sending
#     the delegation zone and the test zone to knot and everything else to
#     challtestsrv, so that a tenant's _acme-challenge CNAME into the
#     delegation zone is followed (the precheck asks it after challtestsrv,
#     which answers no NS queries);
#   - moto (AWS), except CloudFront;
#   - ministack (CloudFront: distributions, distribution tenants and
#     connection groups, which moto lacks), SERVICES=cloudfront only, with
#     moto's account ID so the ARNs agree (it stores the ACM certificate ARN
#     a tenant names without looking it up).
#
#   infra/stack.sh up   dev|test   (re)start and write .local/<profile>/env
#   infra/stack.sh down dev|test   stop
#
# Profiles use separate ports so tests can run while `make dev` is serving:
#   dev:  ACME 14000 (management 15000, Boulder's rules 14001), DNS 8053 (management 8055), AWS 5000,
#         CloudFront 5010,
#         knot 8063 (and 127.0.0.2:8063), unbound 8073
#   test: ACME 14100 (management 15100, Boulder's rules 14101), DNS 8153 (management 8155), AWS 5100,
#         CloudFront 5110,
#         knot 8163 (and 127.0.0.2:8163), unbound 8173
# (DNS ports are UDP and TCP.) Logs, pids and state are in .local/<profile>/.
# MOTO_ACM_VALIDATION_WAIT from the caller's environment is passed to moto
# (seconds before an ACM-requested certificate reads ISSUED).
set -euo pipefail

action=${1:?usage: infra/stack.sh up|down dev|test}
profile=${2:?usage: infra/stack.sh up|down dev|test}
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.local/$profile"

case "$profile" in
  dev)  acme=14000 acme_mgmt=15000 acme_ca=14001 short=14002 short_mgmt=15002 short_ca=14003 dns=8053 dns_mgmt=8055 aws=5000 cloudfront=5010 knot=8063 resolver=8073 ;;
  test) acme=14100 acme_mgmt=15100 acme_ca=14101 short=14102 short_mgmt=15102 short_ca=14103 dns=8153 dns_mgmt=8155 aws=5100 cloudfront=5110 knot=8163 resolver=8173 ;;
  *) echo "unknown profile $profile" >&2; exit 2 ;;
esac
# STACK_PORT_OFFSET moves every port of the profile, so a second checkout
# can run its own stack beside this one (default 0; 500 or 1500 collide
# with no port of either profile, 1000 would put ACME on the management
# port).
offset=${STACK_PORT_OFFSET:-0}
for port in acme acme_mgmt acme_ca short short_mgmt short_ca dns dns_mgmt aws cloudfront knot resolver; do
  eval "$port=\$(( $port + offset ))"
done

zone=acme-delegation.platform.example
test_zone=authoritative.example.net
tsig_key=custom-domains-update
# knotd and unbound live in /usr/sbin, which a non-root PATH may lack.
PATH="$PATH:/usr/sbin"

stop() {
  local name pidfile pid pids=()
  for name in pebble boulder pebble-short boulder-short challtestsrv moto ministack knot knot2 unbound; do
    pidfile="$state/$name.pid"
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile")
      if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then pids+=("$pid"); fi
      rm -f "$pidfile"
    fi
  done
  # Wait for them to exit: the next `up` binds the same ports (knot and
  # unbound use SO_REUSEPORT, so an old one could otherwise keep answering).
  for pid in ${pids[@]+"${pids[@]}"}; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || continue 2; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

wait_for_dns() { # port, name, type, what: until the server answers NOERROR with data
  python3 "$root/infra/local/dns_wait.py" "127.0.0.1" "$1" "$2" "$3" 15 && return 0
  echo "stack: $4 did not start; see $state/*.log" >&2
  exit 1
}

wait_for() { # url, what, [curl options]
  local url=$1 what=$2; shift 2
  for _ in $(seq 1 150); do
    if curl -s -o /dev/null "$@" "$url"; then return 0; fi
    sleep 0.1
  done
  echo "stack: $what did not start; see $state/*.log" >&2
  exit 1
}

if [ "$action" = down ]; then stop; exit 0; fi
[ "$action" = up ] || { echo "unknown action $action" >&2; exit 2; }

stop
mkdir -p "$state"

# A throwaway CA and a leaf for 127.0.0.1/localhost, for Pebble's HTTPS.
# The CA is trusted by the product's ACME client only (ACME_CA_BUNDLE).
if [ ! -f "$state/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=custom-domains local ACME CA" -keyout "$state/ca.key" -out "$state/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$state/pebble.key" -out "$state/pebble.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$state/leaf.ext"
  openssl x509 -req -in "$state/pebble.csr" -CA "$state/ca.pem" -CAkey "$state/ca.key" -CAcreateserial \
    -days 30 -extfile "$state/leaf.ext" -out "$state/pebble.pem" 2>/dev/null
fi
# The local server's token signing key (HS256), standing in for the
# identity provider whose tokens API Gateway's JWT authorizer verifies.
[ -f "$state/jwt-secret" ] || openssl rand -hex 32 >"$state/jwt-secret"
# The TSIG secret the product signs its RFC 2136 updates of the delegation
# zone with (hmac-sha256), kept across restarts.
[ -f "$state/tsig-secret" ] || openssl rand -base64 32 >"$state/tsig-secret"
tsig_secret=$(cat "$state/tsig-secret")

# Knot DNS, two instances, fresh on every start (zone files, journals and
# timers are thrown away), run as the invoking user:
#   - knot  on 127.0.0.1: the platform's delegation zone, and the test zone;
#   - knot2 on 127.0.0.2: the test zone only.
# The test zone, $test_zone, is a tenant's zone with two
# authoritative servers (ns1 = 127.0.0.1, ns2 = 127.0.0.2) that take updates
# independently: a test writes a record to one to make the other lag. The
# product's precheck finds them by NS lookup and asks them on the knot port
# (DNS_PRECHECK_ALLOW_ADDRESSES: loopback is never asked otherwise).
knot_instance() { # name, listen address, zones...
  local name=$1 address=$2 z; shift 2
  rm -rf "$state/$name"
  mkdir -p "$state/$name/zones" "$state/$name/db" "$state/$name/run"
  {
    cat <<CONF
server:
    rundir: "$state/$name/run"
    pidfile: "$state/$name/run/knot.pid"
    listen: $address@$knot
    udp-workers: 2
    tcp-workers: 2
    background-workers: 2

log:
  - target: stderr
    any: info

database:
    storage: "$state/$name/db"

key:
  - id: $tsig_key.
    algorithm: hmac-sha256
    secret: $tsig_secret

acl:
  - id: update-with-key
    address: 127.0.0.0/8
    key: $tsig_key.
    action: update

template:
  - id: default
    storage: "$state/$name/zones"
    file: "%s.zone"
    # Write the zone file right after each update (the journal keeps the
    # changes too).
    zonefile-sync: 0
    journal-content: changes

zone:
CONF
    for z in "$@"; do printf '  - domain: %s.\n    acl: update-with-key\n' "$z"; done
  } >"$state/$name/knot.conf"
  # SOA minimum (negative TTL) 0: a name that is missing now may exist the
  # next moment.
  cat >"$state/$name/zones/$zone.zone" <<ZONE
\$ORIGIN $zone.
\$TTL 0
@	SOA	ns hostmaster 1 3600 600 86400 0
@	NS	ns
ns	A	127.0.0.1
ZONE
  cat >"$state/$name/zones/$test_zone.zone" <<ZONE
\$ORIGIN $test_zone.
\$TTL 0
@	SOA	ns1 hostmaster 1 3600 600 86400 0
@	NS	ns1
@	NS	ns2
ns1	A	127.0.0.1
ns2	A	127.0.0.2
; A tenant whose _acme-challenge names point into another zone (as with
; acme-dns): every name under cross. is a CNAME to one name in the
; delegation zone, where the test writes the TXT record.
*.cross	CNAME	cross-target.$zone.
ZONE
  knotd -c "$state/$name/knot.conf" >"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}
knot_instance knot 127.0.0.1 "$zone" "$test_zone"
knot_instance knot2 127.0.0.2 "$test_zone"

# unbound: a recursive resolver for Pebble. The delegation zone goes to
# knot, everything else to challtestsrv (as if it served the root). No
# DNSSEC, and nothing is kept: tests change records every few milliseconds.
mkdir -p "$state/unbound"
cat >"$state/unbound/unbound.conf" <<CONF
server:
    interface: 127.0.0.1@$resolver
    port: $resolver
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    access-control: 127.0.0.0/8 allow
    username: ""
    chroot: ""
    directory: "$state/unbound"
    logfile: "$state/unbound.log"
    use-syslog: no
    log-time-ascii: yes
    verbosity: 1
    pidfile: "$state/unbound.pid"
    num-threads: 1
    # A leftover unbound on the port makes this one fail instead of sharing it.
    so-reuseport: no
    module-config: "iterator"
    do-not-query-localhost: no
    qname-minimisation: no
    harden-referral-path: no
    minimal-responses: no
    # Nothing is kept, refreshed or served stale. (TTLs capped at 0 are not
    # enough on their own: see stub-no-cache and forward-no-cache below; the
    # cache sizes are raised to unbound's minimum.)
    cache-min-ttl: 0
    cache-max-ttl: 0
    cache-max-negative-ttl: 0
    serve-expired: no
    prefetch: no
    prefetch-key: no
    msg-cache-size: 0
    rrset-cache-size: 0
    key-cache-size: 0
    neg-cache-size: 0
    aggressive-nsec: no
    # Names under test. and invalid. go to challtestsrv too (as they did when
    # Pebble asked it directly) instead of unbound's built-in NXDOMAIN.
    local-zone: "test." nodefault
    local-zone: "invalid." nodefault
    # Forget slow or failed servers quickly (the servers restart with the stack).
    infra-host-ttl: 1
    infra-cache-min-rtt: 50

remote-control:
    control-enable: no

# *-no-cache: without them, an answer with TTL 0 still stays in the RRset
# cache until the end of the current second, and a tenant's CNAME that was
# just removed or retargeted would keep being followed for up to a second.
stub-zone:
    name: "$zone."
    stub-addr: 127.0.0.1@$knot
    stub-no-cache: yes

stub-zone:
    name: "$test_zone."
    stub-addr: 127.0.0.1@$knot
    stub-addr: 127.0.0.2@$knot
    stub-no-cache: yes

# challtestsrv answers NS queries with NOTIMPL, so it cannot be a stub for
# "." (unbound primes the root with an NS query and gives up): it is asked
# as a forwarder instead, which needs no priming.
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@$dns
    forward-no-cache: yes
CONF
: >"$state/unbound.log"
unbound -d -c "$state/unbound/unbound.conf" >>"$state/unbound.log" 2>&1 &
echo $! >"$state/unbound.pid"

cat >"$state/pebble.json" <<JSON
{"pebble": {
  "listenAddress": "127.0.0.1:$acme",
  "managementListenAddress": "127.0.0.1:$acme_mgmt",
  "certificate": "$state/pebble.pem",
  "privateKey": "$state/pebble.key",
  "httpPort": 0, "tlsPort": 0,
  "ocspResponderURL": "",
  "externalAccountBindingRequired": false
}}
JSON

pebble-challtestsrv -dns01 "127.0.0.1:$dns" -management "127.0.0.1:$dns_mgmt" \
  -http01 "" -https01 "" -tlsalpn01 "" -defaultIPv6 "" -defaultIPv4 127.0.0.1 \
  >"$state/challtestsrv.log" 2>&1 &
echo $! >"$state/challtestsrv.pid"

# Validation without random sleeps; authorizations reused whenever the CA
# may (as Let's Encrypt does for 30 days: the product must not rely on a
# fresh one); a few nonces are
# rejected in tests (the client must retry), none in dev.
nonce_reject=0; [ "$profile" = test ] && nonce_reject=${PEBBLE_WFE_NONCEREJECT:-10}
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=$nonce_reject PEBBLE_AUTHZREUSE=100 \
  pebble -config "$state/pebble.json" -dnsserver "127.0.0.1:$resolver" >"$state/pebble.log" 2>&1 &
echo $! >"$state/pebble.pid"
# Boulder's rules in front of Pebble: the product's directory is this one.
python3 "$root/infra/local/boulder.py" --listen "127.0.0.1:$acme_ca" --upstream "127.0.0.1:$acme" \
  --cert "$state/pebble.pem" --key "$state/pebble.key" --ca "$state/ca.pem" >"$state/boulder.log" 2>&1 &
echo $! >"$state/boulder.pid"

# A second CA issuing short-lived certificates: Pebble 2.4.0 has no
# profiles and one certificate lifetime per process
# (`certificateValidityPeriod`), so the `shortlived` profile's lifetime
# (Let's Encrypt: 160 hours) is this one's, for the tests of renewal
# relative to a certificate's own lifetime. Behind its own Boulder proxy.
# `make bench-year` sets another lifetime (PEBBLE_SHORT_VALIDITY_SECONDS):
# Let's Encrypt's 64 days, scaled to its simulated days.
cat >"$state/pebble-short.json" <<JSON
{"pebble": {
  "listenAddress": "127.0.0.1:$short",
  "managementListenAddress": "127.0.0.1:$short_mgmt",
  "certificate": "$state/pebble.pem",
  "privateKey": "$state/pebble.key",
  "httpPort": 0, "tlsPort": 0,
  "ocspResponderURL": "",
  "externalAccountBindingRequired": false,
  "certificateValidityPeriod": ${PEBBLE_SHORT_VALIDITY_SECONDS:-576000}
}}
JSON
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=$nonce_reject PEBBLE_AUTHZREUSE=100 \
  pebble -config "$state/pebble-short.json" -dnsserver "127.0.0.1:$resolver" >"$state/pebble-short.log" 2>&1 &
echo $! >"$state/pebble-short.pid"
python3 "$root/infra/local/boulder.py" --listen "127.0.0.1:$short_ca" --upstream "127.0.0.1:$short" \
  --cert "$state/pebble.pem" --key "$state/pebble.key" --ca "$state/ca.pem" >"$state/boulder-short.log" 2>&1 &
echo $! >"$state/boulder-short.pid"

MOTO_ACM_VALIDATION_WAIT=${MOTO_ACM_VALIDATION_WAIT:-60} \
  python3 "$root/infra/local/moto_server.py" -H 127.0.0.1 -p "$aws" >"$state/moto.log" 2>&1 &
echo $! >"$state/moto.pid"

GATEWAY_PORT=$cloudfront BIND_HOST=127.0.0.1 SERVICES=cloudfront MINISTACK_ACCOUNT_ID=123456789012 \
  LOG_LEVEL=WARNING "$root/.local/ministack/bin/python" -m ministack >"$state/ministack.log" 2>&1 &
echo $! >"$state/ministack.pid"

wait_for "http://127.0.0.1:$dns_mgmt/" "pebble-challtestsrv" -X POST
wait_for_dns "$knot" "$zone." SOA "knot"
python3 "$root/infra/local/dns_wait.py" 127.0.0.2 "$knot" "$test_zone." SOA 15 \
  || { echo "stack: knot2 did not start; see $state/knot2.log" >&2; exit 1; }
# Through unbound: the delegation zone (from knot) and a name from challtestsrv.
wait_for_dns "$resolver" "$zone." SOA "unbound"
wait_for_dns "$resolver" "ready.stack.local." A "unbound (via challtestsrv)"
wait_for "https://127.0.0.1:$acme/dir" "Pebble" --cacert "$state/ca.pem"
wait_for "https://127.0.0.1:$acme_ca/dir" "Boulder's rules (infra/local/boulder.py)" --cacert "$state/ca.pem"
wait_for "https://127.0.0.1:$short_ca/dir" "the short-lived CA (Pebble behind infra/local/boulder.py)" --cacert "$state/ca.pem"
wait_for "http://127.0.0.1:$aws/moto-api/" "moto"
wait_for "http://127.0.0.1:$cloudfront/_ministack/health" "ministack"

export AWS_ENDPOINT_URL="http://127.0.0.1:$aws" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_ENDPOINT_URL_CLOUDFRONT="http://127.0.0.1:$cloudfront"
export AWS_REGION=${AWS_REGION:-eu-west-1}
resources=$(RFC2136_TSIG_SECRET=$tsig_secret python3 "$root/infra/local/resources.py")

cat >"$state/env" <<ENV
AWS_REGION=$AWS_REGION
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_ENDPOINT_URL_CLOUDFRONT=$AWS_ENDPOINT_URL_CLOUDFRONT
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
ACME_DIRECTORY_URL=https://127.0.0.1:$acme_ca/dir
ACME_DIRECTORY_URL_SHORTLIVED=https://127.0.0.1:$short_ca/dir
ACME_CA_BUNDLE=$state/ca.pem
ACME_CONTACT_EMAIL=admin@example.com
ACME_POLL_INTERVAL_MS=5
DNS_PRECHECK_RESOLVERS=127.0.0.1:$dns,127.0.0.1:$resolver
DNS_PRECHECK_ALLOW_ADDRESSES=127.0.0.1:$knot,127.0.0.2:$knot
TEST_ZONE=$test_zone
CHALLTESTSRV_URL=http://127.0.0.1:$dns_mgmt
PEBBLE_MANAGEMENT_URL=https://127.0.0.1:$acme_mgmt
LOCAL_JWT_SECRET_FILE=$state/jwt-secret
STACK_NAME=custom-domains
PLATFORM_DOMAINS=platform.example,app.platform.example
DELEGATION_ZONE=$zone
DELEGATION_PROVIDER=rfc2136
RFC2136_SERVER=127.0.0.1:$knot
RFC2136_TSIG_KEY_NAME=$tsig_key
RFC2136_TSIG_SECRET=$tsig_secret
RECURSIVE_RESOLVER=127.0.0.1:$resolver
CORS_ALLOWED_ORIGINS=${CORS_ALLOWED_ORIGINS:-http://localhost:3000}
$resources
ENV
