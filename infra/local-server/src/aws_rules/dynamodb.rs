//! DynamoDB's rules: transactions that meet on an item, and global
//! secondary indexes that answer a little behind their table.
//!
//! The local DynamoDB (moto) serves one request at a time
//! (`infra/local/moto_server.py`: its transactions break under concurrency),
//! so it never shows the conflicts DynamoDB has between requests in flight
//! together, and its indexes are up to date the moment a write returns.
//! Both are modelled here, from the requests themselves:
//!
//! - **Transactions in flight.** From before a `TransactWriteItems` is sent
//!   until its answer, the items it touches (table and key) are held. Another
//!   `TransactWriteItems` touching any of them is cancelled
//!   (`TransactionCanceledException`, a `TransactionConflict` reason for
//!   each such item and `None` for the others); a `PutItem`, `UpdateItem` or
//!   `DeleteItem` on one is refused (`TransactionConflictException`). A
//!   transaction sent again with the same `ClientRequestToken` (the SDK's
//!   own retry of it) is the same transaction, and does not conflict with
//!   itself. Source: the DynamoDB developer guide, "Transaction conflict
//!   handling in DynamoDB".
//! - **Index lag.** A `Query` on a global secondary index leaves out the
//!   items put or updated within the last [`INDEX_LAG`] (scaled), as an
//!   index still catching up would; `Count`, `ScannedCount` and
//!   `LastEvaluatedKey` follow. moto is asked for as many more items than
//!   the `Limit` as the table had writes within the lag (the most that can
//!   be left out), and the limit is applied here, so a page is as full as
//!   the lagging index would make it; a `Select: COUNT` query is sent for
//!   the items' keys, so the lagging ones can be told apart, and answered
//!   as the count it asked for. Not modelled: an
//!   updated item's old version, which a real index may still answer with,
//!   and a deleted item lingering there (both need the item as it was).
//!
//! Items are told apart by the key attributes of `template.yaml`'s table
//! (every table here, the tests' own included, is made from it).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{scaled, InFlight, Refusal};
use crate::iam::request::Sent;

/// How far an index answers behind its table: "Write operations propagate
/// to a GSI within 1 second" (AWS re:Post knowledge center, "Why don't the
/// items I write appear in my DynamoDB global secondary index?",
/// repost.aws/knowledge-center/dynamodb-missing-table-items-gsi). The
/// developer guide gives no figure ("eventually consistent"); this is the
/// one AWS states.
pub const INDEX_LAG: Duration = Duration::from_secs(1);

/// The index lag of this run: [`INDEX_LAG`], scaled, but never under
/// [`MIN_INDEX_LAG`]; also how long a test waits before an index query
/// must see a write.
pub fn index_lag() -> Duration {
    scaled(INDEX_LAG).max(MIN_INDEX_LAG)
}

/// The least lag modelled, whatever the scale: at `make test`'s hundredth
/// a second would be 10 ms, less than one round trip to the local AWS, so
/// no request could ever meet it.
const MIN_INDEX_LAG: Duration = Duration::from_millis(100);

/// DynamoDB's message for a conflict on an item (the reason's, and a
/// single write's).
const ONGOING: &str = "Transaction is ongoing for the item";

/// One item: its table and its key (the key attributes' values, in the
/// key schema's order).
type ItemKey = (String, String);

/// The key attributes of the template's table, and of each of its indexes.
struct Schema {
    table: Vec<String>,
    indexes: HashMap<String, Vec<String>>,
}

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| schema_of(include_str!("../../../../template.yaml")))
}

/// The key schema of the (one) DynamoDB table `template` declares.
fn schema_of(template: &str) -> Schema {
    use yaml_rust2::{Yaml, YamlLoader};
    let docs = YamlLoader::load_from_str(template).unwrap_or_default();
    let names = |keys: &Yaml| -> Vec<String> {
        keys.as_vec()
            .into_iter()
            .flatten()
            .filter_map(|k| k["AttributeName"].as_str().map(str::to_owned))
            .collect()
    };
    let mut schema = Schema {
        table: Vec::new(),
        indexes: HashMap::new(),
    };
    let Some(resources) = docs.first().and_then(|d| d["Resources"].as_hash()) else {
        return schema;
    };
    for resource in resources.values() {
        if resource["Type"].as_str() != Some("AWS::DynamoDB::Table") {
            continue;
        }
        let properties = &resource["Properties"];
        schema.table = names(&properties["KeySchema"]);
        for index in properties["GlobalSecondaryIndexes"]
            .as_vec()
            .into_iter()
            .flatten()
        {
            if let Some(name) = index["IndexName"].as_str() {
                schema
                    .indexes
                    .insert(name.to_owned(), names(&index["KeySchema"]));
            }
        }
    }
    schema
}

/// The key of the item whose attributes (or `Key`) are `attributes`, in
/// `table`.
fn item_key(table: &str, attributes: &Value) -> Option<ItemKey> {
    let parts: Option<Vec<String>> = schema()
        .table
        .iter()
        .map(|k| attributes.get(k).map(|v| format!("{k}={v}")))
        .collect();
    Some((table.to_owned(), parts?.join("\u{0}")))
}

/// A transaction in flight.
struct Ongoing {
    id: u64,
    token: Option<String>,
    items: Vec<ItemKey>,
}

static IN_FLIGHT: Mutex<Vec<Ongoing>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Ends a transaction's hold on its items when dropped (its answer came, or
/// the request was given up).
struct Leaves(u64);

impl Drop for Leaves {
    fn drop(&mut self) {
        let mut ongoing = IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner());
        ongoing.retain(|o| o.id != self.0);
    }
}

/// Writes refused for a transaction in flight so far, by table (tests
/// read them).
static CONFLICTS: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());

fn count_conflict(table: &str) {
    let mut conflicts = CONFLICTS.lock().unwrap_or_else(|p| p.into_inner());
    match conflicts.iter_mut().find(|(t, _)| t == table) {
        Some((_, n)) => *n += 1,
        None => conflicts.push((table.to_owned(), 1)),
    }
}

/// How many writes to `table` the rules have refused (or transactions
/// cancelled) for a transaction in flight, in this process so far.
pub fn conflicts_on(table: &str) -> u64 {
    let conflicts = CONFLICTS.lock().unwrap_or_else(|p| p.into_inner());
    conflicts
        .iter()
        .find(|(t, _)| t == table)
        .map_or(0, |(_, n)| *n)
}

/// When each item was last put or updated, for the index lag (only the
/// writes within the lag are kept).
static WRITTEN: Mutex<Vec<(ItemKey, Instant)>> = Mutex::new(Vec::new());

fn record_writes(items: Vec<ItemKey>, now: Instant) {
    let lag = index_lag();
    let mut written = WRITTEN.lock().unwrap_or_else(|p| p.into_inner());
    written.retain(|(_, at)| now.duration_since(*at) < lag);
    for item in items {
        written.retain(|(k, _)| *k != item);
        written.push((item, now));
    }
}

/// Whether `item` was written too recently for an index to show it.
fn still_propagating(item: &ItemKey, now: Instant, lag: Duration) -> bool {
    let written = WRITTEN.lock().unwrap_or_else(|p| p.into_inner());
    written
        .iter()
        .any(|(k, at)| k == item && now.duration_since(*at) < lag)
}

/// How many items of `table` were written within `lag` of `now`: the most
/// an index of it can leave out.
fn written_within(table: &str, now: Instant, lag: Duration) -> usize {
    let written = WRITTEN.lock().unwrap_or_else(|p| p.into_inner());
    written
        .iter()
        .filter(|((t, _), at)| t == table && now.duration_since(*at) < lag)
        .count()
}

pub(super) fn before(sent: &Sent, flight: &mut InFlight) -> Result<(), Refusal> {
    let operation = sent.target.rsplit('.').next().unwrap_or_default();
    let body: Value = serde_json::from_str(sent.body).unwrap_or_default();
    match operation {
        "TransactWriteItems" => transaction(&body, flight),
        "PutItem" | "UpdateItem" | "DeleteItem" => single_write(operation, &body, flight),
        "Query" if body["IndexName"].is_string() => {
            index_query(&body, flight);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// One action of a transaction: what it does, and to which item.
struct Action {
    writes: bool,
    item: Option<ItemKey>,
}

fn actions(body: &Value) -> Vec<Action> {
    body["TransactItems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| {
            let (kind, action) = ["Put", "Update", "Delete", "ConditionCheck"]
                .iter()
                .find_map(|k| entry.get(*k).map(|a| (*k, a)))
                .unwrap_or(("", &Value::Null));
            let table = action["TableName"].as_str().unwrap_or_default();
            let item = match kind {
                "Put" => item_key(table, &action["Item"]),
                _ => item_key(table, &action["Key"]),
            };
            Action {
                writes: matches!(kind, "Put" | "Update"),
                item,
            }
        })
        .collect()
}

fn transaction(body: &Value, flight: &mut InFlight) -> Result<(), Refusal> {
    let actions = actions(body);
    let token = body["ClientRequestToken"].as_str().map(str::to_owned);
    if let Some(token) = &token {
        flight.idempotent(token.clone());
    }
    let mut ongoing = IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner());
    let held = |item: &ItemKey| {
        ongoing.iter().any(|o| {
            // The same transaction sent again is not another one.
            let same = token.is_some() && o.token == token;
            !same && o.items.contains(item)
        })
    };
    let conflicts: Vec<bool> = actions
        .iter()
        .map(|a| a.item.as_ref().is_some_and(held))
        .collect();
    if conflicts.contains(&true) {
        let mut tables: Vec<&str> = actions
            .iter()
            .zip(&conflicts)
            .filter(|(_, c)| **c)
            .filter_map(|(a, _)| a.item.as_ref().map(|(t, _)| t.as_str()))
            .collect();
        tables.dedup();
        tables.into_iter().for_each(count_conflict);
        return Err(cancelled(&conflicts));
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    ongoing.push(Ongoing {
        id,
        token,
        items: actions.iter().filter_map(|a| a.item.clone()).collect(),
    });
    drop(ongoing);
    flight.hold(Leaves(id));
    let written: Vec<ItemKey> = actions
        .into_iter()
        .filter(|a| a.writes)
        .filter_map(|a| a.item)
        .collect();
    flight.on_answer(move |status, _| {
        if status == 200 {
            record_writes(written, Instant::now());
        }
    });
    Ok(())
}

/// DynamoDB's cancellation of a transaction whose actions `conflicts`
/// (true: the item is in another transaction in flight).
fn cancelled(conflicts: &[bool]) -> Refusal {
    let reasons: Vec<Value> = conflicts
        .iter()
        .map(|c| match c {
            true => json!({ "Code": "TransactionConflict", "Message": ONGOING }),
            false => json!({ "Code": "None" }),
        })
        .collect();
    let codes: Vec<&str> = conflicts
        .iter()
        .map(|c| if *c { "TransactionConflict" } else { "None" })
        .collect();
    Refusal::new(
        400,
        "TransactionCanceledException",
        format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        ),
    )
    .with("CancellationReasons", Value::Array(reasons))
}

fn single_write(operation: &str, body: &Value, flight: &mut InFlight) -> Result<(), Refusal> {
    let table = body["TableName"].as_str().unwrap_or_default();
    let item = match operation {
        "PutItem" => item_key(table, &body["Item"]),
        _ => item_key(table, &body["Key"]),
    };
    let Some(item) = item else {
        return Ok(());
    };
    let held = {
        let ongoing = IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner());
        ongoing.iter().any(|o| o.items.contains(&item))
    };
    if held {
        count_conflict(table);
        return Err(Refusal::new(400, "TransactionConflictException", ONGOING));
    }
    if operation != "DeleteItem" {
        flight.on_answer(move |status, _| {
            if status == 200 {
                record_writes(vec![item], Instant::now());
            }
        });
    }
    Ok(())
}

/// What an index query asked for, that the lag's rewrite must give back.
struct Asked {
    table: String,
    /// `Select: COUNT`: the count alone.
    count: bool,
    /// `Limit`, applied here (moto is asked for more, so that the items
    /// left out do not cut the page short).
    limit: Option<usize>,
    /// The attributes of a `LastEvaluatedKey`: the index's key and the
    /// table's.
    page_key: Vec<String>,
}

fn index_query(body: &Value, flight: &mut InFlight) {
    let index = body["IndexName"].as_str().unwrap_or_default();
    let mut page_key = schema().indexes.get(index).cloned().unwrap_or_default();
    page_key.extend(schema().table.iter().cloned());
    let table = body["TableName"].as_str().unwrap_or_default();
    // A filter applies after the limit (which counts the items read): then
    // the limit stays moto's to apply.
    let filtered = body.get("FilterExpression").is_some();
    let asked = Asked {
        table: table.to_owned(),
        count: body["Select"].as_str() == Some("COUNT"),
        limit: body["Limit"]
            .as_u64()
            .filter(|_| !filtered)
            .map(|l| l as usize),
        page_key,
    };
    let more = written_within(table, Instant::now(), index_lag());
    let wider = asked.limit.filter(|_| more > 0);
    if asked.count || wider.is_some() {
        let mut instead = body.clone();
        if let Some(map) = instead.as_object_mut() {
            map.remove("Select");
            if let Some(limit) = wider {
                map.insert("Limit".into(), json!(limit + more));
            }
        }
        flight.send_instead(instead.to_string());
    }
    flight.on_answer(move |status, text| {
        if status != 200 {
            return;
        }
        if let Ok(mut answer) = serde_json::from_str::<Value>(text) {
            behind(&mut answer, &asked, Instant::now(), index_lag());
            *text = answer.to_string();
        }
    });
}

/// Rewrites an index query's `answer` as the index answers `lag` behind the
/// table, at `now`, for what was `asked`.
fn behind(answer: &mut Value, asked: &Asked, now: Instant, lag: Duration) {
    let items: Vec<Value> = match answer.as_object_mut().and_then(|m| m.remove("Items")) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let read = items.len();
    let scanned = answer["ScannedCount"].as_u64().map_or(read, |n| n as usize);
    let mut kept: Vec<Value> = items
        .into_iter()
        .filter(|item| {
            item_key(&asked.table, item).is_none_or(|k| !still_propagating(&k, now, lag))
        })
        .collect();
    let mut next = answer.get("LastEvaluatedKey").cloned();
    if let Some(limit) = asked.limit {
        // DynamoDB stops at the limit and says where it stopped.
        if kept.len() >= limit {
            kept.truncate(limit);
            next = kept.last().map(|last| {
                Value::Object(
                    asked
                        .page_key
                        .iter()
                        .filter_map(|k| Some((k.clone(), last.get(k)?.clone())))
                        .collect(),
                )
            });
        }
    }
    let Some(map) = answer.as_object_mut() else {
        return;
    };
    map.insert("Count".into(), json!(kept.len()));
    map.insert(
        "ScannedCount".into(),
        json!(scanned.saturating_sub(read - kept.len()).max(kept.len())),
    );
    match next {
        Some(key) => map.insert("LastEvaluatedKey".into(), key),
        None => map.remove("LastEvaluatedKey"),
    };
    if !asked.count {
        map.insert("Items".into(), Value::Array(kept));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=testing/20261203/eu-west-1/dynamodb/aws4_request, SignedHeaders=host";

    fn send(operation: &str, body: &Value) -> Result<InFlight, Refusal> {
        let target = format!("DynamoDB_20120810.{operation}");
        let body = body.to_string();
        let sent = Sent::new("POST", "http://h/", AUTH, &target, &body);
        let mut flight = InFlight::default();
        before(&sent, &mut flight).map(|()| flight)
    }

    fn key(table: &str, pk: &str, sk: &str) -> Value {
        json!({ "TableName": table, "Key": { "pk": { "S": pk }, "sk": { "S": sk } } })
    }

    fn put(table: &str, pk: &str, sk: &str) -> Value {
        json!({ "TableName": table, "Item": { "pk": { "S": pk }, "sk": { "S": sk }, "x": { "N": "1" } } })
    }

    #[test]
    fn the_table_key_is_read_from_the_template() {
        let schema = schema();
        assert_eq!(schema.table, ["pk", "sk"]);
        assert_eq!(schema.indexes["PendingByTenant"], ["pending_tenant", "pk"]);
    }

    #[test]
    fn a_transaction_meeting_one_in_flight_is_cancelled_item_by_item() {
        let table = "rules-test-tx";
        let first = json!({ "ClientRequestToken": "a", "TransactItems": [
            { "Update": key(table, "DOMAIN#a", "OWNER") },
            { "Put": put(table, "DOMAIN#a", "ORDER") },
        ] });
        let in_flight = send("TransactWriteItems", &first).unwrap();
        let second = json!({ "ClientRequestToken": "b", "TransactItems": [
            { "ConditionCheck": key(table, "DOMAIN#b", "OWNER") },
            { "Delete": key(table, "DOMAIN#a", "ORDER") },
        ] });
        let refused = send("TransactWriteItems", &second).err().unwrap();
        assert_eq!(
            (refused.status, refused.code),
            (400, "TransactionCanceledException")
        );
        assert_eq!(
            refused.fields["CancellationReasons"],
            json!([
                { "Code": "None" },
                { "Code": "TransactionConflict", "Message": "Transaction is ongoing for the item" }
            ])
        );
        assert!(refused.message.ends_with("[None, TransactionConflict]"));
        // A single write on one of its items is refused; on another, not.
        let single = send("UpdateItem", &key(table, "DOMAIN#a", "OWNER"));
        assert_eq!(
            single.err().map(|r| r.code),
            Some("TransactionConflictException")
        );
        assert!(send("PutItem", &put(table, "DOMAIN#a", "OTHER")).is_ok());
        // The same key in another table is another item.
        assert!(send("PutItem", &put("rules-test-other", "DOMAIN#a", "ORDER")).is_ok());
        // The same transaction sent again does not conflict with itself.
        assert!(send("TransactWriteItems", &first).is_ok());
        assert_eq!(conflicts_on(table), 2);
        drop(in_flight);
        assert!(send("TransactWriteItems", &second).is_ok());
        assert!(send("DeleteItem", &key(table, "DOMAIN#a", "OWNER")).is_ok());
    }

    fn asked(count: bool, limit: Option<usize>) -> Asked {
        Asked {
            table: "rules-test-index".into(),
            count,
            limit,
            page_key: vec!["pending_tenant".into(), "pk".into(), "sk".into()],
        }
    }

    fn index_item(pk: &str) -> Value {
        json!({ "pending_tenant": { "S": "t" }, "pk": { "S": pk }, "sk": { "S": "ORDER" } })
    }

    #[test]
    fn an_index_answers_without_the_items_written_within_its_lag() {
        let table = "rules-test-index";
        let t0 = Instant::now();
        let lag = Duration::from_millis(100);
        record_writes(
            vec![item_key(table, &index_item("DOMAIN#new")).unwrap()],
            t0,
        );
        let answer = || {
            json!({
                "Items": [index_item("DOMAIN#a"), index_item("DOMAIN#new"), index_item("DOMAIN#z")],
                "Count": 3,
                "ScannedCount": 3,
            })
        };
        let mut items = answer();
        behind(&mut items, &asked(false, None), t0, lag);
        assert_eq!(items["Count"], 2);
        assert_eq!(items["ScannedCount"], 2);
        assert_eq!(items["Items"][1]["pk"]["S"], "DOMAIN#z");
        // Asked for the count alone, with a limit: counted, paged.
        let mut count = answer();
        behind(&mut count, &asked(true, Some(1)), t0, lag);
        assert_eq!(count["Count"], 1);
        assert!(count.get("Items").is_none());
        assert_eq!(count["LastEvaluatedKey"]["pk"]["S"], "DOMAIN#a");
        assert_eq!(count["LastEvaluatedKey"]["sk"]["S"], "ORDER");
        // Once the lag has passed, the index has it.
        let mut later = answer();
        behind(&mut later, &asked(true, Some(5)), t0 + lag, lag);
        assert_eq!(later["Count"], 3);
        assert!(later.get("LastEvaluatedKey").is_none());
    }

    #[test]
    fn a_count_is_asked_of_moto_as_the_items_keys() {
        let query = json!({
            "TableName": "t", "IndexName": "PendingByTenant",
            "KeyConditionExpression": "pending_tenant = :t",
            "Select": "COUNT", "Limit": 2,
        });
        let mut flight = send("Query", &query).unwrap();
        let instead: Value = serde_json::from_str(&flight.body_instead().unwrap()).unwrap();
        assert!(instead.get("Select").is_none());
        assert_eq!(instead["Limit"], 2);
        assert_eq!(instead["IndexName"], "PendingByTenant");
        // Items are asked for as the query asks, and one more for each item
        // of the table written within the lag; a table query is never
        // behind.
        let items = json!({ "TableName": "rules-test-wider", "IndexName": "ByTenant", "Limit": 2 });
        assert!(send("Query", &items).unwrap().body_instead().is_none());
        let written = put("rules-test-wider", "DOMAIN#w", "OWNER");
        record_writes(
            vec![item_key("rules-test-wider", &written["Item"]).unwrap()],
            Instant::now(),
        );
        let mut wider = send("Query", &items).unwrap();
        let instead: Value = serde_json::from_str(&wider.body_instead().unwrap()).unwrap();
        assert_eq!(instead["Limit"], 3);
        let table = json!({ "TableName": "t", "KeyConditionExpression": "pk = :p", "Limit": 2 });
        assert!(send("Query", &table).unwrap().body_instead().is_none());
    }
}
