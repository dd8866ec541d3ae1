//! The `spindle` binary: server and command line in one.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    spindle::cli::main().await
}
