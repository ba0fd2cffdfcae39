//! Adapters around the pure core: the Lambda runtime ([`lambda`]), SNS ([`sns`]), the dry run
//! ([`dry_run`]), DynamoDB as the shared state store ([`dynamodb`]), and the async runtime they
//! share ([`runtime`]). The command line is in `crate::cli`.

pub(crate) mod dry_run;
pub(crate) mod dynamodb;
pub(crate) mod lambda;
pub(crate) mod runtime;
pub(crate) mod sns;

use std::sync::Arc;

use crate::alert::compose::Alert;
use crate::alert::publisher::{AlertPublisher, Delivery, PublishError};
use crate::detect::memory::MemoryStore;
use crate::detect::store::StateStore;

/// The state store chosen at start-up: the DynamoDB table `STATE_TABLE` names, shared by every
/// container, or this container's memory without one.
pub(crate) async fn state_store(table: Option<&str>) -> Arc<dyn StateStore> {
    match table {
        Some(table) => Arc::new(dynamodb::DynamoStore::from_env(table.to_owned()).await),
        None => Arc::new(MemoryStore::default()),
    }
}

/// The publisher chosen at start-up: SNS when a topic is configured, else the dry run.
#[derive(Debug, Clone)]
pub(crate) enum Publisher {
    Sns(sns::SnsPublisher),
    DryRun(dry_run::DryRunPublisher),
}

impl Publisher {
    /// SNS for `topic`, or the dry run without one.
    pub(crate) async fn for_topic(topic: Option<&str>) -> Self {
        match topic {
            Some(arn) => Self::Sns(sns::SnsPublisher::from_env(arn.to_owned()).await),
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
