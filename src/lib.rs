//! clickstream-lambda: a website's click events, transformed for Amazon Data Firehose and watched
//! for anomalies, in one AWS Lambda function.
//!
//! The pure core knows nothing of AWS clients:
//! - [`click`]: one click record read, checked and written back enriched;
//! - [`timestamp`]: the time formats producers send, and the one we write;
//! - [`firehose`]: the Firehose transformation contract over a whole batch;
//! - [`response_limit`]: keeping the batch response under Lambda's 6 MB;
//! - [`dispatch`]: which kind of event arrived;
//! - [`generate`]: synthetic clicks shaped like the lab producer's.
//!
//! Around it, thin adapters: [`handler`] (one invocation), [`lambda`] (the Lambda runtime),
//! [`cli`] (the command line), and [`config`] (the environment).

pub mod cli;
pub mod click;
pub mod config;
pub mod dispatch;
pub mod firehose;
pub mod generate;
pub mod handler;
pub mod lambda;
pub mod response_limit;
pub mod timestamp;
