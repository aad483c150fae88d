//! `denwa`: the one binary. `denwa serve` runs the server; `denwa admin …` manages
//! channels, staff and API keys in the data directory.

mod config;
mod demo;
mod generate;
mod recordings;
mod search;
mod telephony;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::serve::ListenerExt;
use clap::{Parser, Subcommand};
use denwa_api::AppState;
use denwa_core::model::Role;
use denwa_store::{NewChannel, SqliteStore, Store};
use tokio::net::TcpListener;

use crate::config::{ConfigFile, ServeArgs};

/// Denwa: a cloud contact-center phone system.
#[derive(Debug, Parser)]
#[command(name = "denwa", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (HTTP API, staff console, WebSocket events).
    Serve(Box<ServeArgs>),
    /// Manage channels, staff and API keys.
    Admin(AdminArgs),
}

#[derive(Debug, clap::Args)]
struct AdminArgs {
    /// Data directory (the same as `denwa serve` uses).
    #[arg(long, env = "DENWA_DATA_DIR", default_value = "./denwa-data")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a channel (a business).
    CreateChannel {
        /// Name.
        #[arg(long)]
        name: String,
        /// ISO 3166 region whose numbering plan reads local numbers.
        #[arg(long, default_value = "JP")]
        region: String,
        /// IANA time zone.
        #[arg(long, default_value = "Asia/Tokyo")]
        time_zone: String,
        /// A phone number (DID) of the channel; repeat for several.
        #[arg(long = "number")]
        numbers: Vec<String>,
    },
    /// List channels.
    ListChannels,
    /// Create a staff account; prints a generated password unless one is given.
    CreateStaff {
        /// Login e-mail.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Password (at least 8 characters); generated when absent.
        #[arg(long, env = "DENWA_NEW_STAFF_PASSWORD")]
        password: Option<String>,
    },
    /// Add a staff member to a channel (or change their role there).
    AddStaff {
        /// Channel id.
        #[arg(long)]
        channel: i64,
        /// The staff member's e-mail.
        #[arg(long)]
        email: String,
        /// owner, manager or operator.
        #[arg(long, default_value = "operator")]
        role: String,
        /// Give them an operator seat (permission to call out).
        #[arg(long)]
        operator_seat: bool,
    },
    /// Add a SIP trunk to a channel: where its carrier sends from, how to reach it.
    CreateTrunk {
        /// Channel id.
        #[arg(long)]
        channel: i64,
        /// Name, e.g. the carrier's.
        #[arg(long)]
        name: String,
        /// An address or CIDR network the carrier sends from; repeat for several.
        #[arg(long = "allow")]
        allowed_sources: Vec<String>,
        /// `host[:port]` of the carrier's SIP server (outbound calls, registration).
        #[arg(long)]
        proxy: Option<String>,
        /// Username for the carrier's digest challenges.
        #[arg(long)]
        username: Option<String>,
        /// Password for the carrier's digest challenges.
        #[arg(long, env = "DENWA_TRUNK_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Caller ID for outbound calls (default: the channel's first number).
        #[arg(long)]
        caller_id: Option<String>,
        /// Keep a registration with the carrier.
        #[arg(long)]
        register: bool,
        /// Use TCP towards the carrier.
        #[arg(long)]
        tcp: bool,
    },
    /// List a channel's trunks.
    ListTrunks {
        /// Channel id.
        #[arg(long)]
        channel: i64,
    },
    /// Give a staff member a SIP softphone account (prints the device password).
    SetSipAccount {
        /// The staff member's e-mail.
        #[arg(long)]
        email: String,
        /// SIP username (default: the e-mail's local part).
        #[arg(long)]
        username: Option<String>,
        /// Device password (generated when absent).
        #[arg(long, env = "DENWA_SIP_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Rebuild the search index from the database, with a progress bar (stop `denwa
    /// serve` first: one process writes the index at a time).
    Reindex,
    /// Create an integration API key; prints the access key and secret once.
    CreateApiKey {
        /// Channel id.
        #[arg(long)]
        channel: i64,
        /// What the key is for.
        #[arg(long, default_value = "integration")]
        name: String,
    },
    /// Fill a channel with realistic synthetic call history (demos, benchmarks).
    GenerateCalls(generate::GenerateArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tantivy=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(*args).await,
            Command::Admin(args) => admin(args).await,
        }
    })
}

async fn open_store(data_dir: &Path) -> anyhow::Result<SqliteStore> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    SqliteStore::open(&data_dir.join("denwa.sqlite3"))
        .await
        .with_context(|| format!("opening the database in {}", data_dir.display()))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let config = args.resolve(file)?;
    let store = open_store(&config.data_dir).await?;
    let seed = config.demo || store.is_empty().await?;
    let demo = if seed {
        Some(demo::ensure(&store, config.demo_password.clone()).await?)
    } else {
        None
    };
    let web_dir = config.web_dir.filter(|d| {
        let ok = d.join("index.html").is_file();
        if !ok {
            tracing::warn!(dir = %d.display(), "no built console there (run `npm run build` in web/); serving the API only");
        }
        ok
    });
    let store = Arc::new(store);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let mut state = AppState::new(store.clone());
    state.audio = Some(Arc::new(denwa_api::audio::ChannelAudio::new(
        config.data_dir.join("channels"),
    )));
    let telephony = match config.telephony.clone() {
        Some(t) => telephony::Telephony::start(t, store.clone(), &state, stop_rx.clone()).await?,
        None => None,
    };
    state.search = search::start(&config.data_dir, store.clone(), state.bus.as_ref()).await;
    if let Some(r) = config.recordings.clone() {
        state.recordings = Some(
            recordings::start(r, store.clone(), state.bus.clone(), stop_rx.clone())
                .context("starting the recordings worker")?,
        );
    }
    state.telephony = telephony.as_ref().map(telephony::Telephony::handle);
    state.calls = telephony.as_ref().map(telephony::Telephony::calls);
    let app = denwa_api::app(state, web_dir);
    let listener = TcpListener::bind(&config.http)
        .await
        .with_context(|| format!("listening on {}", config.http))?;
    let url = format!("http://{}", listener.local_addr()?);
    // Console events are small writes that must leave at once: with Nagle's algorithm a
    // frame written while the previous one is unacknowledged waits for the peer's
    // (possibly delayed) ACK, tens of milliseconds on a ring.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    tracing::info!(%url, data_dir = %config.data_dir.display(), "denwa is serving");
    // Printing must not kill the server when nobody reads stdout (a closed pipe).
    let mut banner = format!("Denwa is running at {url}\n");
    if let Some(demo) = demo {
        banner.push_str(&demo.banner());
    }
    let _ = std::io::Write::write_all(&mut std::io::stdout(), banner.as_bytes());
    let mut http_stop = stop_rx;
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|stop| *stop).await;
        })
        .await
        .context("serving HTTP")?;
    tracing::info!("shutting down");
    if let Some(t) = telephony {
        t.join().await;
    }
    store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

async fn admin(args: AdminArgs) -> anyhow::Result<()> {
    let store = open_store(&args.data_dir).await?;
    match args.command {
        AdminCommand::CreateChannel {
            name,
            region,
            time_zone,
            numbers,
        } => {
            let channel = store
                .create_channel(NewChannel {
                    name,
                    region,
                    time_zone,
                    phone_numbers: numbers,
                })
                .await?;
            println!(
                "created channel {} \"{}\" ({}, {}), numbers: {}",
                channel.id,
                channel.name,
                channel.region,
                channel.time_zone,
                channel.phone_numbers.join(", ")
            );
        }
        AdminCommand::ListChannels => {
            for c in store.channels().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    c.id,
                    c.name,
                    c.region,
                    c.time_zone,
                    c.phone_numbers.join(",")
                );
            }
        }
        AdminCommand::CreateStaff {
            email,
            name,
            password,
        } => {
            let generated = password.is_none();
            let password = password.unwrap_or_else(|| denwa_store::random_token(8));
            let staff = store.create_staff(&email, &name, &password).await?;
            println!("created staff {} <{}>", staff.id, staff.email);
            if generated {
                println!("password: {password}");
            }
        }
        AdminCommand::AddStaff {
            channel,
            email,
            role,
            operator_seat,
        } => {
            let Some(role) = Role::parse(&role) else {
                bail!("unknown role {role:?}: owner, manager or operator");
            };
            let Some(staff) = store.staff_by_email(&email).await? else {
                bail!("no staff account {email}; create it with `denwa admin create-staff`");
            };
            store
                .add_member(channel, staff.id, role, operator_seat)
                .await?;
            println!("{email} is now {role} of channel {channel}");
        }
        AdminCommand::CreateTrunk {
            channel,
            name,
            allowed_sources,
            proxy,
            username,
            password,
            caller_id,
            register,
            tcp,
        } => {
            let input = denwa_store::TrunkInput {
                name: Some(name),
                allowed_sources: Some(allowed_sources),
                outbound_proxy: proxy,
                outbound_username: username,
                outbound_password: password,
                caller_id,
                register: Some(register),
                transport: Some(if tcp {
                    denwa_core::trunk::TrunkTransport::Tcp
                } else {
                    denwa_core::trunk::TrunkTransport::Udp
                }),
                ..Default::default()
            };
            let (trunk, _) = store.create_trunk(channel, input, None).await?;
            println!(
                "created trunk {} \"{}\" for channel {channel}",
                trunk.id, trunk.name
            );
        }
        AdminCommand::ListTrunks { channel } => {
            for t in store.trunks(channel).await? {
                println!(
                    "{}\t{}\tallow={}\tproxy={}\tregister={}\t{:?}",
                    t.id,
                    t.name,
                    t.allowed_sources.join(","),
                    t.outbound_proxy.as_deref().unwrap_or("-"),
                    t.register,
                    t.transport
                );
            }
        }
        AdminCommand::SetSipAccount {
            email,
            username,
            password,
        } => {
            let Some(staff) = store.staff_by_email(&email).await? else {
                bail!("no staff account {email}; create it with `denwa admin create-staff`");
            };
            let (account, _) = store
                .set_sip_account(staff.id, username.as_deref(), password.as_deref())
                .await?;
            println!("SIP username: {}", account.username);
            println!("SIP password: {}", account.password);
        }
        AdminCommand::Reindex => search::reindex(&args.data_dir, &store).await?,
        AdminCommand::CreateApiKey { channel, name } => {
            let (key, secret, _) = store.create_api_key(channel, &name, None).await?;
            println!("access key: {}", key.access_key);
            println!("secret:     {secret}");
            println!("(the secret is shown only now; it is stored hashed)");
        }
        AdminCommand::GenerateCalls(a) => generate::run(&store, a).await?,
    }
    store.close().await;
    Ok(())
}
