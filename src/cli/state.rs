//! `state init --table NAME`: creates the DynamoDB table of the shared state store, with the
//! key schema, capacity mode and TTL the template declares, for development against a local
//! DynamoDB API (`AWS_ENDPOINT_URL`, as for SNS). In AWS the template creates it.

use std::process::ExitCode;

use clap::Subcommand;

use super::init_logs;
use crate::adapter::dynamodb::DynamoStore;

#[derive(Debug, Subcommand)]
pub(super) enum StateCommand {
    /// Create the state table (partition key pk, sort key sk, on-demand, TTL on expires) and
    /// wait until it is active. Exits 1, saying why, if it cannot (it exists already, say).
    Init {
        /// The table's name (what STATE_TABLE will name).
        #[arg(long)]
        table: String,
    },
}

pub(super) fn run(command: StateCommand) -> ExitCode {
    init_logs();
    let runtime = match crate::adapter::runtime::current_thread() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("clickstream-lambda: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        StateCommand::Init { table } => runtime.block_on(async {
            let store = DynamoStore::for_admin(table.clone()).await;
            match store.create_table().await {
                Ok(()) => {
                    eprintln!("clickstream-lambda: created the state table {table:?}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("clickstream-lambda: cannot create the state table {table:?}: {e}");
                    ExitCode::FAILURE
                }
            }
        }),
    }
}
