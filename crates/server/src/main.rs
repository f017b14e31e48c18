//! `onair`: the OnAir node's command line.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use onair_server::Server;
use onair_server::config::ServeArgs;

#[derive(Parser)]
#[command(
    name = "onair",
    version,
    about = "OnAir live video node: RTMP in; LL-HLS, HLS and HTTP-FLV out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node: accept RTMP publishers and serve playback over HTTP.
    Serve(ServeArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = args.resolve().context("invalid configuration")?;
    init_logging(settings.log_json);
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async move {
        let server = Server::start(settings.clone())
            .await
            .context("starting the server")?;
        let scheme = if settings.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let http = display_addr(server.http_addr);
        let rtmp = display_addr(server.rtmp_addr);
        tracing::info!(rtmp = %server.rtmp_addr, http = %server.http_addr, "OnAir is running");
        println!("OnAir is running.");
        println!(
            "  Publish (OBS: Server rtmp://{rtmp}/{app}, Stream key NAME):",
            app = settings.rtmp_app
        );
        println!(
            "    ffmpeg -re -i INPUT -c:v libx264 -c:a aac -f flv rtmp://{rtmp}/{}/NAME",
            settings.rtmp_app
        );
        println!("  Watch:");
        println!("    LL-HLS    {scheme}://{http}/live/NAME/index.m3u8");
        println!("    HLS (TS)  {scheme}://{http}/live/NAME/ts/index.m3u8");
        println!("    HTTP-FLV  {scheme}://{http}/live/NAME.flv");
        println!(
            "  Live streams: {scheme}://{http}/api/v1/streams   Metrics: {scheme}://{http}/metrics"
        );
        wait_for_signal().await;
        tracing::info!("shutting down: ending streams");
        server.shutdown(Duration::from_secs(5)).await;
        Ok(())
    })
}

fn display_addr(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("localhost:{}", addr.port())
    } else {
        addr.to_string()
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn init_logging(json: bool) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr (stdout carries the start-up banner), coloured only on a terminal.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
