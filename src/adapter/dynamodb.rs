//! The DynamoDB [`StateStore`]: the rate state shared by every container of the function, in
//! the table `STATE_TABLE` names. Only this file knows the DynamoDB client.
//!
//! Table: partition key `pk` (S), sort key `sk` (S), on-demand capacity, TTL on `expires`
//! (seconds since the epoch). `state init` and the template create exactly this. Items:
//!
//! `<stream>` below is the state's key, the delivery stream and the window length
//! (`arn:...:deliverystream/NAME#60s`, `crate::detect::streams::state_key`): a changed
//! `RATE_WINDOW_SECONDS` starts items of its own, and the other length's expire.
//!
//! | `pk` | `sk` | Attributes | Written by |
//! | --- | --- | --- | --- |
//! | `s#<stream>` | `state` | `version` (N), `body` (S: [`RateState`] as JSON) | `save`: a `PutItem` conditional on the version loaded (optimistic concurrency) |
//! | `s#<stream>` | `clock` | `watermark` (N, ms), `first` (N, window) | `advance`: an `UpdateItem` per attribute, conditional on moving it (a maximum, a minimum) |
//! | `w#<stream>#<window>` | `<batch>` | `body` (S: one batch's [`WindowCounts`] as JSON) | `add_counts`: a `PutItem`, so a batch Firehose retries overwrites itself |
//! | `a#<source>` | `alert` | `at` (N, ms), `severity` (N: 0 info, 1 warning, 2 critical) | `claim_alert`: an `UpdateItem` conditional on the last claim being a period old or less severe; `release_alert` sets `at` back to 0 if it is still ours |
//!
//! `load` is one strongly consistent `Query` on `s#<stream>` (state and clock together), `clock`
//! one on the clock's full key (a batch that closes no window reads only that);
//! `window` one strongly consistent `Query` on the window's partition (paged past 1 MB), whose
//! items are merged in sort-key order. One item per batch and window rather than counters
//! added in place: an update expression is at most 4 KB (not one `ADD` per page for up to
//! 1,000 pages), and distinct-user sketches merge by union, which `ADD` cannot do.
//!
//! Sizes: the state is about 3 KB per tracked series plus a candidate page's name and some 30
//! bytes each, about 170 KB at the defaults; `RATE_TRACKED_PAGES` is at most 100 with a table,
//! and a state still too long sheds its least active untracked candidates ([`state_body`]). A
//! batch's counts are at most 1,000 page names of 200 bytes (never escaped: `page::normalize`
//! cuts a name at what JSON would escape) plus a sketch of a few KB. Both fit the 400 KB item
//! limit, so the state needs no second home. Counts expire a day after they were written (their
//! window was scored long before); state and clock 30 days after they last changed, so a stream
//! gone for a month warms up again, as after a cold start. Alert claims expire a day after.
//!
//! Time: every call is bounded by the SDK's operation timeout, with one retry, and the protocol
//! bounds an invocation's store work in all (`crate::detect::streams`).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};

use crate::detect::rates::{Clock, RateState, WindowCounts};
use crate::detect::store::{Loaded, Saved, StateStore, StoreError, StoreFuture};

/// The partition key.
pub(crate) const PK: &str = "pk";
/// The sort key.
pub(crate) const SK: &str = "sk";
/// The TTL attribute.
pub(crate) const EXPIRES: &str = "expires";

/// One call, retries included: the whole invocation's budget is 2 s.
const CALL_TIMEOUT: Duration = Duration::from_millis(1_500);
/// One attempt, before the SDK retries.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(700);
/// Attempts per call (the SDK's standard mode: backoff with jitter, throttling retried).
const ATTEMPTS: u32 = 2;
/// How long counts are kept.
const COUNTS_TTL: i64 = 24 * 3600;
/// How long state and clock are kept after they last changed.
const STATE_TTL: i64 = 30 * 24 * 3600;

/// The store in the table `table`.
#[derive(Debug, Clone)]
pub(crate) struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// Builds the client from the standard AWS configuration (credentials chain, region,
    /// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_DYNAMODB`), once per container, when the first
    /// state call needs it ([`super::LazyDynamo`]).
    pub(crate) async fn from_env(table: String) -> Self {
        Self::with_timeouts(table, CALL_TIMEOUT, ATTEMPT_TIMEOUT).await
    }

    /// The same with longer timeouts, for `state init`, which no Firehose batch waits on.
    pub(crate) async fn for_admin(table: String) -> Self {
        Self::with_timeouts(table, Duration::from_secs(30), Duration::from_secs(10)).await
    }

    async fn with_timeouts(table: String, call: Duration, attempt: Duration) -> Self {
        let config = super::sdk_config(super::Budget {
            call,
            attempt,
            connect: Duration::from_millis(500),
            attempts: ATTEMPTS,
        })
        .await;
        Self {
            client: Client::new(&config),
            table,
        }
    }

    /// Creates the table as the template declares it (key schema, on-demand, TTL), and waits
    /// until it is active. For development against a local DynamoDB API.
    pub(crate) async fn create_table(&self) -> Result<(), StoreError> {
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .attribute_definitions(attribute(PK)?)
            .attribute_definitions(attribute(SK)?)
            .send()
            .await
            .map_err(unavailable)?;
        self.client
            .wait_until_table_exists()
            .table_name(&self.table)
            .wait(Duration::from_secs(60))
            .await
            .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(EXPIRES)
            .enabled(true)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

/// Whether a conditional write took effect: `false` when its condition did not hold (another
/// container got there first), which is an answer, not a failure of the store.
fn condition_held<O, E, R>(result: Result<O, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error().and_then(ProvideErrorMetadata::code)
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(e) => Err(unavailable(e)),
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn expires(ttl: i64) -> AttributeValue {
    n(chrono::Utc::now().timestamp() + ttl)
}

fn stream_key(stream: &str) -> String {
    format!("s#{stream}")
}

fn window_key(stream: &str, window: i64) -> String {
    format!("w#{stream}#{window}")
}

/// The clock item's attributes; a missing one is a clock not moved that way yet.
fn clock_item(item: &HashMap<String, AttributeValue>) -> Result<Clock, StoreError> {
    Ok(Clock {
        watermark: number(item, "watermark")?,
        first: number(item, "first")?,
    })
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Result<Option<i64>, StoreError> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("{name} is not an integer: {v:?}"))),
        Some(_) => Err(StoreError::Corrupt(format!("{name} is not a number"))),
    }
}

fn body<T: serde::de::DeserializeOwned>(
    item: &HashMap<String, AttributeValue>,
) -> Result<T, StoreError> {
    match item.get("body") {
        Some(AttributeValue::S(text)) => {
            serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("body: {e}")))
        }
        _ => Err(StoreError::Corrupt("no body".into())),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The longest state body stored: DynamoDB's item limit is 400 KB, names and the other
/// attributes included.
const STATE_BODY_MAX: usize = 380_000;

/// The state as stored, within one item: past the limit, the least active candidate pages are
/// shed (`RateState::shed_to`); tracked pages always fit, as configuration bounds them.
fn state_body(state: &RateState) -> Result<String, StoreError> {
    let body = to_json(state)?;
    if body.len() <= STATE_BODY_MAX {
        return Ok(body);
    }
    let mut fitted = state.clone();
    let shed = fitted.shed_to(STATE_BODY_MAX);
    tracing::warn!(
        shed,
        bytes = body.len(),
        "rate state over one DynamoDB item: least active candidate pages shed"
    );
    let body = to_json(&fitted)?;
    if body.len() > STATE_BODY_MAX {
        return Err(StoreError::Corrupt(format!(
            "rate state of {} bytes does not fit one item",
            body.len()
        )));
    }
    Ok(body)
}

impl DynamoStore {
    async fn load_(&self, stream: &str) -> Result<Loaded, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(stream_key(stream)))
            .send()
            .await
            .map_err(unavailable)?;
        let mut loaded = Loaded::default();
        for item in out.items() {
            match item.get(SK) {
                Some(AttributeValue::S(sk)) if sk == "state" => {
                    loaded.state = body(item)?;
                    let version = number(item, "version")?
                        .ok_or_else(|| StoreError::Corrupt("state without a version".into()))?;
                    loaded.version = u64::try_from(version).ok();
                }
                Some(AttributeValue::S(sk)) if sk == "clock" => loaded.clock = clock_item(item)?,
                _ => {}
            }
        }
        Ok(loaded)
    }

    /// The clock item alone. A `Query` on its full key rather than a `GetItem`, so the role
    /// needs no other action than those it has.
    async fn clock_(&self, stream: &str) -> Result<Clock, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#pk = :pk AND #sk = :sk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(stream_key(stream)))
            .expression_attribute_values(":sk", s("clock"))
            .send()
            .await
            .map_err(unavailable)?;
        out.items().first().map_or(Ok(Clock::default()), clock_item)
    }

    async fn add_counts_(
        &self,
        stream: &str,
        window: i64,
        batch: &str,
        counts: &WindowCounts,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(window_key(stream, window)))
            .item(SK, s(batch))
            .item("body", s(to_json(counts)?))
            .item(EXPIRES, expires(COUNTS_TTL))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Moves one clock attribute if `cmp` says the new value is further; losing the condition
    /// means another container moved it further already.
    async fn move_clock(
        &self,
        stream: &str,
        name: &str,
        value: i64,
        cmp: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(stream_key(stream)))
            .key(SK, s("clock"))
            .update_expression("SET #a = :v, #e = :e")
            .condition_expression(format!("attribute_not_exists(#a) OR #a {cmp} :v"))
            .expression_attribute_names("#a", name)
            .expression_attribute_names("#e", EXPIRES)
            .expression_attribute_values(":v", n(value))
            .expression_attribute_values(":e", expires(STATE_TTL))
            .send()
            .await;
        // A clock another container moved further already needs nothing from this one.
        condition_held(result).map(|_| ())
    }

    async fn window_(&self, stream: &str, window: i64) -> Result<WindowCounts, StoreError> {
        let mut counts = WindowCounts::default();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(window_key(stream, window)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items() {
                counts.merge(&body(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(counts),
            }
        }
    }

    async fn save_(
        &self,
        stream: &str,
        version: Option<u64>,
        state: &RateState,
    ) -> Result<Saved, StoreError> {
        let next = version.map_or(1, |v| v + 1);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(stream_key(stream)))
            .item(SK, s("state"))
            .item("version", AttributeValue::N(next.to_string()))
            .item("body", s(state_body(state)?))
            .item(EXPIRES, expires(STATE_TTL));
        let put = match version {
            None => put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK),
            Some(v) => put
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
        };
        Ok(if condition_held(put.send().await)? {
            Saved::Saved
        } else {
            Saved::Conflict
        })
    }
}

impl DynamoStore {
    /// An update of `source`'s alert claim, the one item both claiming and releasing write.
    fn update_alert(&self, source: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(format!("a#{source}")))
            .key(SK, s("alert"))
    }

    async fn claim_alert_(
        &self,
        source: &str,
        at: i64,
        period: i64,
        severity: u8,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_alert(source)
            .update_expression("SET #at = :at, #sev = :sev, #e = :e")
            .condition_expression("attribute_not_exists(#at) OR #at <= :cutoff OR #sev < :sev")
            .expression_attribute_names("#at", "at")
            .expression_attribute_names("#sev", "severity")
            .expression_attribute_names("#e", EXPIRES)
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":cutoff", n(at - period))
            .expression_attribute_values(":sev", n(i64::from(severity)))
            .expression_attribute_values(":e", expires(COUNTS_TTL))
            .send()
            .await;
        condition_held(result)
    }

    /// Sets the claim's time back to 0 (never) if it is still ours: `UpdateItem` again, so the
    /// role needs no `DeleteItem`.
    async fn release_alert_(&self, source: &str, at: i64) -> Result<(), StoreError> {
        let result = self
            .update_alert(source)
            .update_expression("SET #at = :never")
            .condition_expression("#at = :at")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":never", n(0))
            .send()
            .await;
        // A claim no longer ours (another container's since) is not ours to give back.
        condition_held(result).map(|_| ())
    }
}

impl StateStore for DynamoStore {
    fn release_alert<'a>(&'a self, source: &'a str, at: i64) -> StoreFuture<'a, ()> {
        Box::pin(self.release_alert_(source, at))
    }

    fn claim_alert<'a>(
        &'a self,
        source: &'a str,
        at: i64,
        period: i64,
        severity: u8,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.claim_alert_(source, at, period, severity))
    }

    fn load<'a>(&'a self, stream: &'a str) -> StoreFuture<'a, Loaded> {
        Box::pin(self.load_(stream))
    }

    fn clock<'a>(&'a self, stream: &'a str) -> StoreFuture<'a, Clock> {
        Box::pin(self.clock_(stream))
    }

    fn add_counts<'a>(
        &'a self,
        stream: &'a str,
        window: i64,
        batch: &'a str,
        counts: &'a WindowCounts,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.add_counts_(stream, window, batch, counts))
    }

    fn advance<'a>(&'a self, stream: &'a str, clock: Clock) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if let Some(watermark) = clock.watermark {
                self.move_clock(stream, "watermark", watermark, "<").await?;
            }
            if let Some(first) = clock.first {
                self.move_clock(stream, "first", first, ">").await?;
            }
            Ok(())
        })
    }

    fn window<'a>(&'a self, stream: &'a str, window: i64) -> StoreFuture<'a, WindowCounts> {
        Box::pin(self.window_(stream, window))
    }

    fn save<'a>(
        &'a self,
        stream: &'a str,
        version: Option<u64>,
        state: &'a RateState,
    ) -> StoreFuture<'a, Saved> {
        Box::pin(self.save_(stream, version, state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store contract against `moto_server`'s DynamoDB at `MOTO_ENDPOINT`. Ignored by a
    /// plain `cargo test`, which has no DynamoDB to run against (so it is reported as not run,
    /// not as passed); `scripts/test` starts moto_server and runs it with `--include-ignored`.
    /// Its races need moto started through `scripts/moto_serialised.py`: stock moto does not
    /// apply a conditional write atomically, and under load lets both racers through.
    #[tokio::test]
    #[ignore = "needs moto_server at MOTO_ENDPOINT; scripts/test runs it"]
    async fn keeps_the_store_contract_on_moto() {
        let endpoint = std::env::var("MOTO_ENDPOINT")
            .expect("MOTO_ENDPOINT names the moto_server to run the contract against");
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .build();
        let table = format!("contract-{}", std::process::id());
        let store = DynamoStore {
            client: Client::from_conf(config),
            table,
        };
        store.create_table().await.unwrap();
        crate::detect::store::contract::check(&store, "dynamodb").await;
    }
}
