//! The Lambda runtime adapter: builds the handler once at cold start and serves invocations.

use std::process::ExitCode;

use chrono::Utc;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::value::RawValue;

use crate::config::Config;
use crate::handler::Handler;

/// Serves the Lambda Runtime API until the runtime stops us.
pub fn serve() -> ExitCode {
    lambda_runtime::tracing::init_default_subscriber();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
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
    let handler = Handler::new(config);
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move {
            handler
                .handle(event.payload.get(), Utc::now())
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
