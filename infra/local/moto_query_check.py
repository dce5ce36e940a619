"""Checks moto_server.py's DynamoDB shortcuts against moto's own answers.

1. Query on candidates.
Random puts, updates that move an item between index buckets, deletes and
transactions (some rolled back by a failed condition) on a table with the
product's shape (pk, sk and one global index with a hash and a range key);
after each step the same query (on a partition or on the index, forwards
or backwards, with a limit, then its next page) is asked of both and must
answer the same items, count and next key.

2. Item reads' answers written directly: the same Query, Scan, GetItem and
BatchGetItem requests, over HTTP to an in-process moto server, with items
of every attribute type (binary and binary sets included), missing items
and next keys, must answer the same JSON as moto's serializer writes.

3. No DynamoDB item is kept after it is replaced or deleted (moto's
dashboard list of every model object, which moto_server.py turns off).

Exits 1 on any difference or any item kept.

Usage: python3 infra/local/moto_query_check.py [steps]
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moto_server  # noqa: E402  (its patches; no server is started)
from moto.dynamodb.models import DynamoDBBackend  # noqa: E402
from moto.dynamodb.models import table as dynamodb_table  # noqa: E402
from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: E402

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
rng = random.Random(7)
backend = DynamoDBBackend("us-east-1", "123456789012")
table = backend.create_table(
    "check",
    schema=[{"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"}],
    attr=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "due_shard", "due_at")],
    throughput=None, billing_mode="PAY_PER_REQUEST", indexes=[],
    global_indexes=[{"IndexName": "Due",
                     "KeySchema": [{"AttributeName": "due_shard", "KeyType": "HASH"},
                                   {"AttributeName": "due_at", "KeyType": "RANGE"}],
                     "Projection": {"ProjectionType": "KEYS_ONLY"}}],
    streams=None, sse_specification=None, tags=[], deletion_protection_enabled=False,
    warm_throughput=None)
PARTITIONS = [f"host#{i}" for i in range(300)]


def key():
    return {"pk": {"S": rng.choice(PARTITIONS)}, "sk": {"S": f"s{rng.randrange(4)}"}}


def indexed(item):
    if rng.random() < 0.4:
        item["due_shard"] = {"S": str(rng.randrange(6))}
        item["due_at"] = {"S": f"2027-01-{rng.randrange(28) + 1:02d}"}
    return item


def put():
    table.put_item(indexed({**key(), "body": {"S": "x" * rng.randrange(50)}}))


def move():
    expression = "SET due_shard = :s, due_at = :d" if rng.random() < 0.7 else "REMOVE due_shard, due_at"
    values = {":s": {"S": str(rng.randrange(6))}, ":d": {"S": "2027-01-09"}}
    if expression.startswith("REMOVE"):
        values = {}
    backend.update_item("check", key(), expression, {}, values)


def delete():
    k = key()
    table.delete_item(DynamoType(k["pk"]), DynamoType(k["sk"]))


def transaction():
    """A put and an update; half of them fail a condition and roll back."""
    fail = rng.random() < 0.5
    condition = "attribute_exists(nothing_has_this)" if fail else "attribute_not_exists(never)"
    writes = [
        {"Put": {"TableName": "check", "Item": indexed({**key(), "body": {"S": "t"}})}},
        {"Update": {"TableName": "check", "Key": key(),
                    "UpdateExpression": "SET due_shard = :s, due_at = :d",
                    "ExpressionAttributeValues": {":s": {"S": str(rng.randrange(6))},
                                                  ":d": {"S": "2027-01-02"}},
                    "ConditionExpression": condition}},
    ]
    try:
        backend.transact_write_items(writes)
    except Exception as error:  # the failed condition: rolled back
        if not fail:
            raise error


def ask(query, start=None):
    forwards = rng.random() < 0.5
    limit = rng.choice([None, 2, 5])
    if rng.random() < 0.6:
        shard = DynamoType({"S": str(rng.randrange(6))})
        args = (None, "<=", [DynamoType({"S": "2027-01-15"})], limit, start, forwards, None, "Due")
        kwargs = {"hash_key_conditions": [("due_shard", shard)]}
    else:
        pk = DynamoType({"S": rng.choice(PARTITIONS)})
        args = (pk, None, [], limit, start, forwards, None, None, True)
        kwargs = {"hash_key_conditions": [("pk", pk)]}
    return args, kwargs


def answer(query, args, kwargs):
    items, count, last = query(table, *args, **kwargs)
    return [i.to_json() for i in items], count, last


for _ in range(800):
    put()
differences = 0
for step in range(STEPS):
    rng.choice([put, put, move, delete, transaction])()
    state = rng.getstate()
    args, kwargs = ask(None)
    ours = answer(type(table).query, args, kwargs)
    rng.setstate(state)
    args, kwargs = ask(None)
    theirs = answer(moto_server._original_query, args, kwargs)
    if ours != theirs:
        differences += 1
        print(f"step {step}: {args[7] or 'table'} query differs", file=sys.stderr)
    if theirs[2]:
        args = args[:4] + (theirs[2],) + args[5:]
        if answer(type(table).query, args, kwargs) != answer(moto_server._original_query, args, kwargs):
            differences += 1
            print(f"step {step}: next page differs", file=sys.stderr)
print(f"moto query check: {STEPS} steps, {differences} differences")


def item_reads():
    """Part 2: each request's answer, written directly and by moto."""
    import json
    import logging
    import urllib.request

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()

    def call(action, body):
        request = urllib.request.Request(
            f"http://{host}:{port}/", data=json.dumps(body).encode(), method="POST",
            headers={"X-Amz-Target": f"DynamoDB_20120810.{action}",
                     "Content-Type": "application/x-amz-json-1.0",
                     "Authorization": "AWS4-HMAC-SHA256 Credential=test/20270101/us-east-1/"
                                      "dynamodb/aws4_request, SignedHeaders=host, Signature=x"})
        try:
            with urllib.request.urlopen(request) as answer:
                return answer.status, answer.headers["Content-Type"], json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, error.headers["Content-Type"], json.loads(error.read())

    call("CreateTable", {
        "TableName": "reads", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"}
                                 for n in ("pk", "sk", "g")],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                      {"AttributeName": "sk", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [{"IndexName": "G", "KeySchema": [
            {"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}]})
    for i in range(12):
        call("PutItem", {"TableName": "reads", "Item": {
            "pk": {"S": f"p{i % 3}"}, "sk": {"S": f"s{i}"}, "g": {"S": f"g{i % 2}"},
            "n": {"N": str(i * 1.5)}, "b": {"B": "AAEC/w=="}, "bs": {"BS": ["AA==", "/w=="]},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "t": {"BOOL": i % 2 == 0},
            "z": {"NULL": True}, "l": {"L": [{"S": "x"}, {"N": "3"}, {"B": "AA=="}]},
            "m": {"M": {"k": {"S": "é ü"}, "inner": {"M": {"b": {"B": "AQ=="}}}}}}})
    key = {"pk": {"S": "p1"}, "sk": {"S": "s4"}}
    requests = [
        ("Query", {"TableName": "reads", "KeyConditionExpression": "pk = :p",
                   "ExpressionAttributeValues": {":p": {"S": "p0"}}, "Limit": 2,
                   "ReturnConsumedCapacity": "TOTAL"}),
        ("Query", {"TableName": "reads", "IndexName": "G", "KeyConditionExpression": "g = :g",
                   "ExpressionAttributeValues": {":g": {"S": "g1"}},
                   "ProjectionExpression": "pk, sk, m.inner, l[2]"}),
        ("Query", {"TableName": "reads", "KeyConditionExpression": "pk = :p",
                   "ExpressionAttributeValues": {":p": {"S": "none"}}, "Select": "COUNT"}),
        ("Scan", {"TableName": "reads", "Limit": 5}),
        ("GetItem", {"TableName": "reads", "Key": key, "ReturnConsumedCapacity": "TOTAL"}),
        ("GetItem", {"TableName": "reads", "Key": {"pk": {"S": "none"}, "sk": {"S": "x"}}}),
        ("GetItem", {"TableName": "missing", "Key": key}),
        ("BatchGetItem", {"RequestItems": {"reads": {"Keys": [
            key, {"pk": {"S": "none"}, "sk": {"S": "x"}}]}}}),
    ]
    found = 0
    for action, body in requests:
        moto_server.fast_item_reads = False
        theirs = call(action, body)
        moto_server.fast_item_reads = True
        ours = call(action, body)
        if ours != theirs:
            found += 1
            print(f"{action} {json.dumps(body)[:80]}: {ours} != {theirs}", file=sys.stderr)
    server.stop()
    print(f"moto item reads check: {len(requests)} requests, {found} differences")
    return found


differences += item_reads()
kept = len(dynamodb_table.Item.instances_tracked)
print(f"moto items kept for the dashboard: {kept}")
differences += kept
sys.exit(1 if differences else 0)
