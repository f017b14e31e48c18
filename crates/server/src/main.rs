//! `onair`: the OnAir node's command line.

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use onair_server::Server;
use onair_server::config::{ServeArgs, Settings};
use onair_server::db::users::{NewUser, Role, UserFilter, UserStatus};
use onair_server::db::{Db, Page};

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

// Parsed once at start-up: the size difference does not matter.
#[derive(Subcommand)]
enum Command {
    /// Run a node: accept RTMP publishers and serve playback over HTTP.
    Serve(Box<ServeArgs>),
    /// Manage users from the command line (operators; works with the node running).
    User(UserArgs),
    /// Drain a running cluster node before a restart: it takes no new work, and its
    /// publishers are disconnected after the timeout so their encoders reconnect elsewhere.
    Drain(DrainArgs),
    /// Print the REST API's OpenAPI document (what `/api/openapi.json` serves), e.g. to
    /// generate a client: the console's is generated from it (`npm --prefix web run gen-api`).
    Openapi,
}

#[derive(Args)]
struct DrainArgs {
    /// The node's HTTP address, e.g. `http://10.0.0.5:8080` (its --node-internal-url).
    #[arg(long)]
    node: String,
    /// The cluster's secret.
    #[arg(long, env = "ONAIR_CLUSTER_SECRET", hide_env_values = true)]
    cluster_secret: String,
    /// Seconds its publishers may stay before they are disconnected.
    #[arg(long, default_value_t = 0.0)]
    timeout: f64,
}

#[derive(Args)]
struct UserArgs {
    /// TOML file with the node's settings (for its data directory / database URL).
    #[arg(long, env = "ONAIR_CONFIG", global = true)]
    config: Option<std::path::PathBuf>,
    /// The node's data directory (its SQLite database) [default: ./onair-data].
    #[arg(long, env = "ONAIR_DATA_DIR", global = true)]
    data_dir: Option<std::path::PathBuf>,
    /// The metadata database URL, if not the SQLite file in the data directory.
    #[arg(long, env = "ONAIR_DATABASE_URL", global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an active user. The password is read from ONAIR_USER_PASSWORD, else generated
    /// and printed.
    Add {
        email: String,
        #[arg(long, default_value = "broadcaster")]
        role: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// List users.
    List {
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        status: Option<String>,
    },
    /// Change a user's role (admin, broadcaster, viewer).
    SetRole { email: String, role: String },
    /// Disable a user: sign-ins, sessions, tokens and stream keys stop working.
    Disable { email: String },
    /// Re-enable a disabled user.
    Enable { email: String },
    /// Set a new password (ONAIR_USER_PASSWORD, else generated and printed), unlock the
    /// account and sign out every session.
    ResetPassword { email: String },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::User(args) => user(args),
        Command::Drain(args) => drain(args),
        Command::Openapi => {
            let doc = onair_server::http::api::openapi()
                .to_pretty_json()
                .context("encoding the OpenAPI document")?;
            // A closed pipe (`onair openapi | head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "{doc}");
            Ok(())
        }
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
        print_banner(&server, &settings);
        wait_for_signal().await;
        let drain = settings.cluster.as_ref().map(|c| c.drain_timeout);
        if let Some(timeout) = drain.filter(|t| !t.is_zero()) {
            // Publishers are disconnected at the timeout; then the node stops.
            server.sys.drain(timeout).await;
            tokio::time::sleep(timeout + Duration::from_millis(500)).await;
        }
        tracing::info!("shutting down: ending streams");
        server.shutdown(Duration::from_secs(5)).await;
        Ok(())
    })
}

fn drain(args: DrainArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async move {
        let url = format!(
            "{}/internal/v1/drain?timeout={}",
            args.node.trim_end_matches('/'),
            args.timeout
        );
        let res = reqwest::Client::new()
            .post(&url)
            .bearer_auth(&args.cluster_secret)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .with_context(|| format!("asking {} to drain", args.node))?;
        let status = res.status();
        if !status.is_success() {
            let body = res.text().await.unwrap_or_default();
            bail!("{} refused to drain ({status}): {body}", args.node);
        }
        println!("{} is draining.", args.node);
        Ok(())
    })
}

fn print_banner(server: &Server, settings: &Settings) {
    let scheme = if settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let http = display_addr(server.http_addr);
    let rtmp = display_addr(server.rtmp_addr);
    let app = &settings.rtmp_app;
    tracing::info!(rtmp = %server.rtmp_addr, http = %server.http_addr, "OnAir is running");
    println!("OnAir is running.");
    if let Some(b) = &server.bootstrap {
        println!(
            "  First start: created the admin account, channel {:?} and an encoder for it.",
            b.channel_slug
        );
        println!("    Admin login   {}", b.admin_email);
        match &b.generated_password {
            Some(p) => println!("    Password      {p}   (shown once: change it after signing in)"),
            None => println!("    Password      from ONAIR_ADMIN_PASSWORD"),
        }
        println!(
            "    Stream key    {}   (shown once: rotate it in the console or the API any time)",
            b.stream_key
        );
    }
    let key = server
        .bootstrap
        .as_ref()
        .map(|b| b.stream_key.clone())
        .unwrap_or_else(|| "STREAM_KEY".to_owned());
    let channel = server
        .bootstrap
        .as_ref()
        .map(|b| b.channel_slug.clone())
        .unwrap_or_else(|| "CHANNEL".to_owned());
    match settings.publish_auth {
        onair_server::config::PublishAuthMode::StreamKey => {
            let base = settings
                .public_rtmp_url
                .clone()
                .unwrap_or_else(|| format!("rtmp://{rtmp}/{app}"));
            println!("  Publish (OBS: Server {base}, Stream key {key}):");
            println!("    ffmpeg -re -i INPUT -c:v libx264 -c:a aac -f flv {base}/{key}");
        }
        onair_server::config::PublishAuthMode::Open => {
            println!("  Publish (open publishing, no stream keys): rtmp://{rtmp}/{app}/CHANNEL");
        }
    }
    println!(
        "  Console: {scheme}://{http}/   (sign in, channels, encoders and their keys, recordings)"
    );
    println!("  Watch:");
    println!("    Player    {scheme}://{http}/watch/{channel}");
    println!("    LL-HLS    {scheme}://{http}/live/{channel}/index.m3u8");
    println!("    HLS (TS)  {scheme}://{http}/live/{channel}/ts/index.m3u8");
    println!("    HTTP-FLV  {scheme}://{http}/live/{channel}.flv");
    println!("    Time-shift {scheme}://{http}/live/{channel}/dvr.m3u8");
    let storage = match &settings.storage.backend {
        onair_server::store::Backend::Local { dir } => format!("files in {}", dir.display()),
        onair_server::store::Backend::S3 { bucket, .. } => format!("S3 bucket {bucket}"),
        onair_server::store::Backend::Memory => "memory (lost at exit)".to_owned(),
    };
    println!("  Recordings: {storage} (GET {scheme}://{http}/api/v1/recordings)");
    println!(
        "  API: {scheme}://{http}/api/docs   Live streams: {scheme}://{http}/api/v1/streams   Metrics: {scheme}://{http}/metrics"
    );
    if settings.public_url.is_none() {
        // The console tells each browser the address it used; e-mail cannot (see
        // `http::origin`), and a broadcaster elsewhere cannot reach `localhost`.
        let listen = server.http_addr;
        println!(
            "  Note: --public-url is not set. The console and API give each visitor addresses on \
             the host they used; e-mail links say {scheme}://{http}. Set --public-url (and \
             --public-rtmp-url if encoders reach RTMP by another name) for a server others use."
        );
        tracing::warn!(
            %listen,
            "--public-url is not set: links in e-mail point at {scheme}://{http}"
        );
    }
}

fn user(args: UserArgs) -> anyhow::Result<()> {
    let settings = ServeArgs {
        config: args.config,
        data_dir: args.data_dir,
        database_url: args.database_url,
        ..ServeArgs::default()
    }
    .resolve()
    .context("invalid configuration")?;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async move {
        let db = match &settings.database_url {
            Some(url) => Db::connect(url).await?,
            None => {
                std::fs::create_dir_all(&settings.data_dir)?;
                Db::open_sqlite(&settings.data_dir.join("onair.db")).await?
            }
        };
        let r = user_command(&db, args.command).await;
        db.close().await;
        r
    })
}

fn parse_role(s: &str) -> anyhow::Result<Role> {
    Role::parse(s).with_context(|| format!("{s:?} is not admin, broadcaster or viewer"))
}

fn password_from_env() -> anyhow::Result<(String, bool)> {
    match std::env::var("ONAIR_USER_PASSWORD") {
        Ok(p) if !p.is_empty() => {
            onair_server::security::password::check_policy(&p)?;
            Ok((p, false))
        }
        _ => {
            let p = onair_server::security::secret::generate(
                onair_server::security::secret::SecretKind::Csrf,
            );
            Ok((p.chars().take(20).collect(), true))
        }
    }
}

async fn find(db: &Db, email: &str) -> anyhow::Result<onair_server::db::users::User> {
    db.user_by_email(email)
        .await?
        .with_context(|| format!("no user {email}"))
}

async fn audit(db: &Db, action: &str, target: &str, detail: Option<&str>) -> anyhow::Result<()> {
    db.audit(onair_server::db::audit::NewAudit {
        actor: "cli",
        action,
        target_type: Some("user"),
        target_id: Some(target),
        detail,
        ..Default::default()
    })
    .await?;
    Ok(())
}

async fn guard_last_admin(db: &Db, user: &onair_server::db::users::User) -> anyhow::Result<()> {
    if user.role == Role::Admin
        && user.status == UserStatus::Active
        && db.count_admins().await? <= 1
    {
        bail!("{} is the last active admin", user.email);
    }
    Ok(())
}

async fn user_command(db: &Db, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add { email, role, name } => {
            let role = parse_role(&role)?;
            let (password, generated) = password_from_env()?;
            let hash = onair_server::security::password::hash(&password).await?;
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or("user").to_owned());
            let u = db
                .create_user(NewUser {
                    email: &email,
                    display_name: &name,
                    password_hash: &hash,
                    role,
                    status: UserStatus::Active,
                    email_verified: true,
                })
                .await?;
            audit(db, "user.create", &u.id, Some(role.as_str())).await?;
            println!("created {} ({}) id {}", u.email, role.as_str(), u.id);
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::List { role, status } => {
            let role = role.as_deref().map(parse_role).transpose()?;
            let status = match status.as_deref() {
                Some(s) => Some(
                    UserStatus::parse(s)
                        .with_context(|| format!("{s:?} is not pending, active or disabled"))?,
                ),
                None => None,
            };
            let mut offset = 0;
            println!(
                "{:<28} {:<32} {:<12} {:<9} 2FA",
                "ID", "E-MAIL", "ROLE", "STATUS"
            );
            loop {
                let page = db
                    .list_users(
                        &UserFilter {
                            role,
                            status,
                            q: None,
                        },
                        Page::new(Some(200), Some(offset)),
                    )
                    .await?;
                for u in &page {
                    println!(
                        "{:<28} {:<32} {:<12} {:<9} {}",
                        u.id,
                        u.email,
                        u.role.as_str(),
                        u.status.as_str(),
                        if u.totp_secret.is_some() { "on" } else { "off" }
                    );
                }
                if page.len() < 200 {
                    break;
                }
                offset += 200;
            }
        }
        UserCommand::SetRole { email, role } => {
            let role = parse_role(&role)?;
            let u = find(db, &email).await?;
            if role != Role::Admin {
                guard_last_admin(db, &u).await?;
            }
            db.set_user_role(&u.id, role).await?;
            audit(db, "user.set_role", &u.id, Some(role.as_str())).await?;
            println!("{} is now {}", u.email, role.as_str());
        }
        UserCommand::Disable { email } => {
            let u = find(db, &email).await?;
            guard_last_admin(db, &u).await?;
            db.set_user_status(&u.id, UserStatus::Disabled).await?;
            db.revoke_all_sessions(&u.id, None).await?;
            db.revoke_all_api_tokens(&u.id).await?;
            audit(db, "user.disable", &u.id, None).await?;
            println!("{} is disabled", u.email);
        }
        UserCommand::Enable { email } => {
            let u = find(db, &email).await?;
            db.set_user_status(&u.id, UserStatus::Active).await?;
            audit(db, "user.enable", &u.id, None).await?;
            println!("{} is active", u.email);
        }
        UserCommand::ResetPassword { email } => {
            let u = find(db, &email).await?;
            let (password, generated) = password_from_env()?;
            let hash = onair_server::security::password::hash(&password).await?;
            db.set_password_hash(&u.id, &hash).await?;
            db.revoke_all_sessions(&u.id, None).await?;
            audit(db, "user.reset_password", &u.id, None).await?;
            println!("password of {} reset; every session signed out", u.email);
            if generated {
                println!("password: {password}");
            }
        }
    }
    Ok(())
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
