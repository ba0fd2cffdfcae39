//! clickstream-lambda: a website's click events, transformed for Amazon Data Firehose and watched
//! for anomalies, in one AWS Lambda function.
//!
//! The pure core knows nothing of AWS clients:
//! - [`click`]: one click record read, checked and written back enriched;
//! - [`timestamp`]: the time formats producers send, and the one we write;
//! - [`firehose`]: the Firehose transformation contract over a whole batch;
//! - [`response_limit`]: keeping the batch response under Lambda's 6 MB;
//! - [`dispatch`]: which kind of event arrived;
//! - [`generate`]: synthetic clicks shaped like the lab producer's;
//! - [`anomaly`]: the anomaly schema every detector's output is read into;
//! - [`alert`]: one well-formed alert per invocation; [`sanitize`]: text safe for each protocol;
//! - [`cooldown`]: storm control across invocations; [`metrics`]: the EMF metrics line.
//!
//! Around it, thin adapters: [`handler`] (one invocation), [`publisher`] (SNS, or a dry run),
//! [`lambda`] (the Lambda runtime), [`cli`] (the command line) and [`config`] (the environment).
//! The `clickstream-send` producer is a crate of its own (`producer/`), which reuses [`generate`].

pub mod alert;
pub mod anomaly;
pub mod cli;
pub mod click;
pub mod config;
pub mod cooldown;
pub mod dispatch;
pub mod firehose;
pub mod generate;
pub mod handler;
pub mod lambda;
pub mod metrics;
pub mod publisher;
pub mod response_limit;
pub mod sanitize;
pub mod timestamp;
