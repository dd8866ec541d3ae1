//! The `spindle` binary under another name, for the harness's smoke test.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    spindle::cli::main().await
}
