//! Adapters around the pure core: the Lambda runtime ([`lambda`]), SNS ([`sns`]), the dry run
//! ([`dry_run`]), DynamoDB as the shared state store ([`dynamodb`]), and the async runtime they
//! share ([`runtime`]). The command line is in `crate::cli`.

pub(crate) mod dry_run;
pub(crate) mod dynamodb;
pub(crate) mod lambda;
pub(crate) mod runtime;
pub(crate) mod sns;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::alert::compose::Alert;
use crate::alert::publisher::{AlertPublisher, Delivery, PublishError};
use crate::detect::memory::MemoryStore;
use crate::detect::rates::{Clock, RateState, WindowCounts};
use crate::detect::store::{Loaded, Saved, StateStore, StoreFuture};

/// How long an AWS client may take: per call, per attempt, to connect, and how many attempts.
pub(crate) struct Budget {
    pub(crate) call: Duration,
    pub(crate) attempt: Duration,
    pub(crate) connect: Duration,
    pub(crate) attempts: u32,
}

/// The standard AWS configuration (credentials chain, region, `AWS_ENDPOINT_URL` and its
/// per-service forms) with the SDK's own timeouts and standard retries bounded by `budget`:
/// every adapter's client is built from this, once per container, when first needed.
pub(crate) async fn sdk_config(budget: Budget) -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_timeout(budget.call)
        .operation_attempt_timeout(budget.attempt)
        .connect_timeout(budget.connect)
        .build();
    let retries = aws_config::retry::RetryConfig::standard().with_max_attempts(budget.attempts);
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(retries)
        .load()
        .await
}

/// The state store chosen at start-up: the DynamoDB table `STATE_TABLE` names, shared by every
/// container (its client built by the first state call, see [`LazyDynamo`]), or this
/// container's memory without one.
pub(crate) async fn state_store(table: Option<&str>) -> Arc<dyn StateStore> {
    match table {
        Some(table) => Arc::new(LazyDynamo::new(table.to_owned())),
        None => Arc::new(MemoryStore::default()),
    }
}

/// The DynamoDB store, its client built by the first call that needs it: an event that reads
/// no state (a KDA or Kinesis batch without anomalies, a batch with the rate detectors off)
/// never loads the AWS configuration. Every call is handed to the store as it is.
#[derive(Debug)]
pub(crate) struct LazyDynamo {
    table: String,
    store: OnceCell<dynamodb::DynamoStore>,
}

impl LazyDynamo {
    pub(crate) fn new(table: String) -> Self {
        Self {
            table,
            store: OnceCell::new(),
        }
    }

    async fn store(&self) -> &dynamodb::DynamoStore {
        self.store
            .get_or_init(|| dynamodb::DynamoStore::from_env(self.table.clone()))
            .await
    }
}

impl StateStore for LazyDynamo {
    fn load<'a>(&'a self, stream: &'a str) -> StoreFuture<'a, Loaded> {
        Box::pin(async move { self.store().await.load(stream).await })
    }

    fn clock<'a>(&'a self, stream: &'a str) -> StoreFuture<'a, Clock> {
        Box::pin(async move { self.store().await.clock(stream).await })
    }

    fn add_counts<'a>(
        &'a self,
        stream: &'a str,
        window: i64,
        batch: &'a str,
        counts: &'a WindowCounts,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let store = self.store().await;
            store.add_counts(stream, window, batch, counts).await
        })
    }

    fn advance<'a>(&'a self, stream: &'a str, clock: Clock) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.store().await.advance(stream, clock).await })
    }

    fn window<'a>(&'a self, stream: &'a str, window: i64) -> StoreFuture<'a, WindowCounts> {
        Box::pin(async move { self.store().await.window(stream, window).await })
    }

    fn save<'a>(
        &'a self,
        stream: &'a str,
        version: Option<u64>,
        state: &'a RateState,
    ) -> StoreFuture<'a, Saved> {
        Box::pin(async move { self.store().await.save(stream, version, state).await })
    }

    fn claim_alert<'a>(
        &'a self,
        source: &'a str,
        at: i64,
        period: i64,
        severity: u8,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let store = self.store().await;
            store.claim_alert(source, at, period, severity).await
        })
    }

    fn release_alert<'a>(&'a self, source: &'a str, at: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.store().await.release_alert(source, at).await })
    }
}

/// SNS for a topic, its client built by the first alert: most invocations publish nothing,
/// and loading the AWS configuration (environment, profile files, credentials chain) and
/// building a client is most of a cold start's own work.
#[derive(Debug)]
pub(crate) struct LazySns {
    topic_arn: String,
    publisher: OnceCell<sns::SnsPublisher>,
}

impl LazySns {
    pub(crate) fn new(topic_arn: String) -> Self {
        Self {
            topic_arn,
            publisher: OnceCell::new(),
        }
    }
}

impl AlertPublisher for LazySns {
    async fn publish(&self, alert: &Alert) -> Result<Delivery, PublishError> {
        let publisher = self
            .publisher
            .get_or_init(|| sns::SnsPublisher::from_env(self.topic_arn.clone()))
            .await;
        publisher.publish(alert).await
    }
}

/// The publisher chosen at start-up: SNS when a topic is configured, else the dry run.
#[derive(Debug)]
pub(crate) enum Publisher {
    Sns(LazySns),
    DryRun(dry_run::DryRunPublisher),
}

impl Publisher {
    /// SNS for `topic` (its client built when the first alert needs it), or the dry run
    /// without one.
    pub(crate) fn for_topic(topic: Option<&str>) -> Self {
        match topic {
            Some(arn) => Self::Sns(LazySns::new(arn.to_owned())),
            None => Self::DryRun(dry_run::DryRunPublisher),
        }
    }
}

impl AlertPublisher for Publisher {
    async fn publish(&self, alert: &Alert) -> Result<Delivery, PublishError> {
        match self {
            Self::Sns(p) => p.publish(alert).await,
            Self::DryRun(p) => p.publish(alert).await,
        }
    }
}
