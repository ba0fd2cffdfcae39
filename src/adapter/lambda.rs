//! The Lambda runtime adapter: builds the handler once at cold start and serves invocations.
//! The SNS client is built by the first alert ([`LazySns`]), the DynamoDB one by the first state
//! call ([`super::LazyDynamo`]).

use std::process::ExitCode;

use chrono::Utc;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::value::RawValue;

use super::LazySns;
use super::runtime;
use crate::config::Config;
use crate::handler::Handler;

/// Serves the Lambda Runtime API until the runtime stops us.
pub(crate) fn serve() -> ExitCode {
    lambda_runtime::tracing::init_default_subscriber();
    let runtime = match runtime::current_thread() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), lambda_runtime::Error> {
    let config = Config::from_env()?;
    let Some(topic) = config.alert_topic_arn.clone() else {
        return Err(
            "ALERT_TOPIC_ARN is not set: the function needs the SNS topic to publish \
                    anomaly alerts to (the template sets it; for local runs use `invoke`)"
                .into(),
        );
    };
    let state = super::state_store(config.state_table.as_deref()).await;
    let handler = Handler::new(config, LazySns::new(topic)).with_state(state);
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move {
            // Boxed: the handler's future nests the SDK's, deeper than the compiler's layout
            // query allows inside the runtime's own future.
            let invocation = Box::pin(handler.handle(event.payload.get(), Utc::now())).await;
            // The metrics line goes to stdout, where CloudWatch Logs picks EMF documents up.
            if let Some(source) = invocation.source {
                println!("{}", invocation.metrics.emf_line(source, Utc::now()));
            }
            invocation.result.map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
