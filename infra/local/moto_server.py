"""moto's server, with one gap filled so the local AWS answers as AWS does.

moto 5 stores an API Gateway v2 custom domain without the fields AWS adds
to each domain-name configuration: `ApiGatewayDomainName` (the regional
target, `d-<id>.execute-api.<region>.amazonaws.com`, that tenants point a
CNAME at), `HostedZoneId` and `DomainNameStatus`. The product reads the
target, so the local stack adds them, in AWS's format, when a domain is
created.

moto's DynamoDB is not safe under concurrent requests: TransactWriteItems
deep-copies the whole table (to roll back) while other requests change it,
and fails with "dictionary changed size during iteration". DynamoDB requests
are served one at a time here (behind one lock), as a single-threaded
DynamoDB would.

That deep copy also made every transaction cost the whole table: with the
suite's table at a few thousand items, moto spent seconds of CPU per
transaction and every other request waited (a ListTables took 12.8 s while
twenty hostnames were issued at once). A transaction here saves, and on
failure puts back, only the items it names, which is all a rollback needs.

moto's EventBridge builds a new JSONPath parser (a yacc table, generated
each time) for every path of every event it delivers to a rule's target:
two thirds of moto's CPU while twenty hostnames were issued at once
(py-spy), and every other request waited behind it. The parsed paths are
kept here (they never change), so an event costs what it costs in moto
without the rebuild. Everything else is moto unchanged.

moto's DynamoDB Query reads the whole table for every query, on the
table's own key as on an index (`Table.query` filters and sorts
`Table.all_items()`, which builds a sorted list of every item): about
200 ms a query at 5,000 items, which kept `make bench-year` from its
1,000 hostnames (a 100-hostname year had moto at 94% of a core and 35
requests a second). Here a query is handed only its candidates: the
partition's items for the table's key, or one bucket of a per-index map
from the index's hash key to primary keys (built by one pass at the
index's first query, added to by every write, checked against the item at
each query, so a moved or deleted item is dropped). moto then filters,
sorts and pages them as before. Checked against moto's own answers over
random writes, updates, deletes and paged queries with no difference;
232 ms to 32 ms a query on an index, 208 ms to 0.1 ms on a partition, at
5,000 items.

Past that, most of moto's time went to writing the answers of item reads
(Query, Scan, GetItem, BatchGetItem) through its generic serializer, which
walks botocore's shape for every attribute of every item: half of the
GIL's time in a 100-hostname year (py-spy). Their results are already
DynamoDB's JSON (numbers as strings, binary as bytes), so here they are
written with `json.dumps` (binary in base64, as the serializer writes it);
every other answer, and every error, goes through moto's serializer.
`infra/local/moto_query_check.py` checks both against moto's own answers.

moto keeps every model object it ever made (each DynamoDB item written,
each SQS message, each EventBridge event) in a class-level list for its
dashboard, so memory only grew: 1.5 GB after a 100-hostname year. Here
only S3's objects are kept (moto's S3 reset closes their files); the
dashboard, which the product does not use, lists no others.

Usage: python3 infra/local/moto_server.py -H 127.0.0.1 -p 5000
"""
import random
import string
import sys
import threading

from moto.apigatewayv2 import models
from moto.dynamodb import responses as dynamodb_responses
from moto.server import main

# AWS's hosted zone IDs for regional API Gateway endpoints.
ZONES = {"us-east-1": "Z1UJRXOUMOOFQ8", "eu-west-1": "ZLY8HYME6SFDD"}

_original_init = models.DomainName.__init__


def _init(self, domain_name, domain_name_configurations, *args, **kwargs):
    backend = kwargs.get("backend", args[-1] if args else None)
    region = backend.region_name
    for config in domain_name_configurations:
        ident = "".join(random.choices(string.ascii_lowercase + string.digits, k=10))
        config.setdefault("apiGatewayDomainName", f"d-{ident}.execute-api.{region}.amazonaws.com")
        config.setdefault("hostedZoneId", ZONES.get(region, "Z1UJRXOUMOOFQ8"))
        config.setdefault("domainNameStatus", "AVAILABLE")
    _original_init(self, domain_name, domain_name_configurations, *args, **kwargs)


models.DomainName.__init__ = _init

_dynamodb_lock = threading.Lock()
_original_call_action = dynamodb_responses.DynamoHandler.call_action


def _call_action_serialised(self):
    with _dynamodb_lock:
        return _original_call_action(self)


dynamodb_responses.DynamoHandler.call_action = _call_action_serialised

import copy as _copy  # noqa: E402

from moto.dynamodb import models as dynamodb_models  # noqa: E402
from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: E402


class _NoTableCopy:
    """`copy` for moto's DynamoDB models: while a transaction runs here, its
    whole-table backup is skipped (the items it names are saved instead)."""

    active = False

    def __getattr__(self, name):
        return getattr(_copy, name)

    def deepcopy(self, value, memo=None):
        if self.active and isinstance(value, dynamodb_models.Table):
            return value
        return _copy.deepcopy(value, memo)


_no_table_copy = _NoTableCopy()
dynamodb_models.copy = _no_table_copy
_original_transact = dynamodb_models.DynamoDBBackend.transact_write_items


def _item_key(table, op):
    attrs = op.get("Item") or op.get("Key") or {}
    hash_value = DynamoType(attrs[table.hash_key_attr])
    range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _stored(table, hash_value, range_value):
    if range_value is None:
        return table.items.get(hash_value)
    return table.items.get(hash_value, {}).get(range_value)


def _put_back(table, hash_value, range_value, item):
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
        return
    if item is None:
        table.items.get(hash_value, {}).pop(range_value, None)
        if hash_value in table.items and not table.items[hash_value]:
            del table.items[hash_value]
    else:
        table.items[hash_value][range_value] = item


def _transact_write_items(self, transact_items):
    saved = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = self.tables.get(op.get("TableName"))
        if table is None:
            continue
        try:
            hash_value, range_value = _item_key(table, op)
        except (KeyError, TypeError):
            continue
        before = _copy.deepcopy(_stored(table, hash_value, range_value))
        saved.append((table, hash_value, range_value, before))
    _no_table_copy.active = True
    try:
        return _original_transact(self, transact_items)
    except Exception:
        for table, hash_value, range_value, before in reversed(saved):
            _put_back(table, hash_value, range_value, before)
            _note_write(table, hash_value, range_value)
        raise
    finally:
        _no_table_copy.active = False


dynamodb_models.DynamoDBBackend.transact_write_items = _transact_write_items

# Query on candidates only (see the module's docs).
from collections import defaultdict  # noqa: E402

from moto.dynamodb.models import table as dynamodb_table  # noqa: E402

_Table = dynamodb_table.Table


def _index_hash_attrs(index):
    return tuple(k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH")


def _bucket_key(item, attrs):
    values = tuple(item.attrs.get(a) for a in attrs)
    return None if any(v is None for v in values) else values


def _table_items(table):
    for value in table.items.values():
        if table.range_key_attr:
            yield from value.values()
        else:
            yield value


def _index_buckets(table, index):
    """{index hash value(s): primary keys}: a superset, as entries are only
    added on writes; a query drops those whose item is gone or moved."""
    attrs = _index_hash_attrs(index)
    cache = table.__dict__.setdefault("_hash_buckets", {})
    if index.name not in cache:
        buckets = defaultdict(set)
        for item in _table_items(table):
            key = _bucket_key(item, attrs)
            if key is not None:
                buckets[key].add((item.hash_key, item.range_key))
        cache[index.name] = (attrs, buckets)
    return cache[index.name]


def _note_write(table, hash_value, range_value):
    cache = table.__dict__.get("_hash_buckets")
    if cache:
        item = _stored(table, hash_value, range_value)
        if item is not None:
            for attrs, buckets in cache.values():
                key = _bucket_key(item, attrs)
                if key is not None:
                    buckets[key].add((hash_value, range_value))


def _query_candidates(table, index_name, hash_key, hash_key_conditions):
    """The items a query can match, or None for moto's own path (a local
    index, an unknown one and its error, a key condition moto refuses)."""
    if not index_name:
        if hash_key is None:
            return None
        if hash_key not in table.items:
            return []
        found = table.items[hash_key]
        return list(found.values()) if table.range_key_attr else [found]
    index = next((i for i in table.global_indexes or [] if i.name == index_name), None)
    if index is None:
        return None
    conditions = dict(hash_key_conditions or [])
    attrs, buckets = _index_buckets(table, index)
    if set(conditions) != set(attrs):
        return None
    key = tuple(conditions[a] for a in attrs)
    keys = buckets.get(key, set())
    items, stale = [], []
    for hash_value, range_value in keys:
        item = _stored(table, hash_value, range_value)
        if item is None or _bucket_key(item, attrs) != key:
            stale.append((hash_value, range_value))
        else:
            items.append(item)
    keys.difference_update(stale)
    return items


_original_query = _Table.query


def _query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
           scan_index_forward, projection_expressions, index_name=None,
           consistent_read=False, filter_expression=None, hash_key_conditions=None,
           range_key_conditions=None, **filter_kwargs):
    candidates = _query_candidates(self, index_name, hash_key, hash_key_conditions)
    if candidates is not None:
        # moto's query reads the table only through all_items(): for this
        # one call (DynamoDB requests are serialised) it is the candidates.
        self.all_items = lambda: candidates
    try:
        return _original_query(
            self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
            scan_index_forward, projection_expressions, index_name, consistent_read,
            filter_expression, hash_key_conditions=hash_key_conditions,
            range_key_conditions=range_key_conditions, **filter_kwargs)
    finally:
        self.__dict__.pop("all_items", None)


_Table.query = _query
_original_put_item = _Table.put_item


def _put_item(self, item_attrs, *args, **kwargs):
    try:
        return _original_put_item(self, item_attrs, *args, **kwargs)
    finally:
        try:
            _note_write(self, *_item_key(self, {"Item": item_attrs}))
        except (KeyError, TypeError):
            pass


_Table.put_item = _put_item
_original_update_item = dynamodb_models.DynamoDBBackend.update_item


def _update_item(self, table_name, key, *args, **kwargs):
    try:
        return _original_update_item(self, table_name, key, *args, **kwargs)
    finally:
        table = self.tables.get(table_name)
        if table is not None:
            try:
                _note_write(table, *_item_key(table, {"Key": key}))
            except (KeyError, TypeError):
                pass


dynamodb_models.DynamoDBBackend.update_item = _update_item

# Item reads' answers written directly (see the module's docs).
import base64 as _base64  # noqa: E402
import json as _json  # noqa: E402

_ITEM_READS = {"Query", "Scan", "GetItem", "BatchGetItem"}
_original_execute_result = dynamodb_responses.DynamoResult.execute_result
fast_item_reads = True


def _binary(value):
    if isinstance(value, bytes):
        return _base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} in an item read's answer")


def _execute_result(self, context):
    if not fast_item_reads or context.operation_model.name not in _ITEM_READS \
            or not isinstance(self.result, dict):
        return _original_execute_result(self, context)
    version = context.service_model.metadata.get("jsonVersion", "1.0")
    body = _json.dumps(self.result, default=_binary)
    return 200, {"Content-Type": f"application/x-amz-json-{version}"}, body


dynamodb_responses.DynamoResult.execute_result = _execute_result

# Model objects not kept for the dashboard (see the module's docs).
from moto.core import common_models  # noqa: E402


def _new_untracked(cls, *args, **kwargs):
    instance = super(common_models.BaseModel, cls).__new__(cls)
    if cls.__module__.startswith("moto.s3."):
        cls.instances_tracked.append(instance)
    return instance


common_models.BaseModel.__new__ = staticmethod(_new_untracked)

import functools  # noqa: E402

import jsonpath_ng.ext  # noqa: E402

# moto imports `parse` from this module at each call: the cached one.
jsonpath_ng.ext.parse = functools.lru_cache(maxsize=1024)(jsonpath_ng.ext.parse)

if __name__ == "__main__":
    main(sys.argv[1:])
