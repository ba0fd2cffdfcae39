//! clickstream-lambda: a website's click events, transformed for Amazon Data Firehose and watched
//! for anomalies, in one AWS Lambda function.
//!
//! The pure core knows nothing of AWS clients:
//! - [`event`](crate::event): the events the function answers, one module per shape, each with
//!   the same verbs (recognize, apply against a context, answer);
//! - `transform`: the Firehose transformation contract, click by click;
//! - `alert`: anomalies in one schema, storm control, and one bounded alert per invocation;
//! - [`generate`]: synthetic clicks shaped like the lab producer's.
//!
//! Around it, thin adapters: [`Handler`] (one invocation), `adapter` (the Lambda runtime, SNS,
//! the dry run) and [`cli`] (the command line).
//!
//! The `clickstream-send` producer is a crate of its own (`producer/`), which reuses
//! [`generate`]; the Lambda bootstrap never compiles its Firehose client.
//!
//! The public API is what the binaries, benchmarks and the producer crate need; the rest is
//! `pub(crate)`, so the compiler reports what nothing uses.

mod adapter;
mod alert;
pub mod cli;
mod config;
mod detect;
mod event;
pub mod generate;
mod handler;
mod metrics;
mod prefault;
mod swar;
mod transform;
mod utf8;

pub use alert::compose::Alert;
pub use alert::publisher::{AlertPublisher, Delivery, PublishError};
pub use config::Config;
pub use detect::standalone::StandaloneSeries;
pub use handler::{Handler, HandlerError, Invocation};
