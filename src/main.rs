//! The `vellum` command: config → telemetry → the application or a CLI task.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use vellum::app::{Application, open_store, shutdown_signal};
use vellum::config::Settings;
use vellum::services::Services;
use vellum::services::admin::NewUser;

#[derive(Parser)]
#[command(name = "vellum", version, about = "Vellum headless CMS")]
struct Cli {
    /// Configuration file (default: ./vellum.toml when present; or VELLUM_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations.
    Migrate {
        /// List pending migrations without applying them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Rebuild the search index from the database (or one type's part of it), with
    /// progress. Never needed in normal operation: the server rebuilds a missing or damaged
    /// index by itself. Stop the server first: the index belongs to one process.
    Reindex {
        /// Only this content type.
        #[arg(long = "type")]
        type_id: Option<String>,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (the password is read from VELLUM_NEW_PASSWORD or standard input).
    Create {
        #[arg(long)]
        email: String,
        /// Give the user the admin role.
        #[arg(long)]
        admin: bool,
        /// Role name (default `author`; ignored with --admin).
        #[arg(long)]
        role: Option<String>,
    },
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    vellum::telemetry::init(&settings.log, settings.log_format == "json");
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(settings).await?;
            app.run_until(shutdown_signal()).await
        }
        Command::Migrate { dry_run } => {
            std::fs::create_dir_all(&settings.data_dir)?;
            let store = vellum::store::Store::connect(&settings.database_url()).await?;
            let pending = store.pending_migrations().await?;
            if pending.is_empty() {
                println!("the database is up to date");
            } else if dry_run {
                println!("pending migrations:");
                for name in pending {
                    println!("  {name}");
                }
            } else {
                tracing::info!(pending = pending.len(), "applying migrations");
                store.migrate().await?;
                println!("applied {} migration(s)", pending.len());
            }
            Ok(())
        }
        Command::Reindex { type_id } => {
            let store = open_store(&settings).await?;
            let services = Services::build(std::sync::Arc::new(settings), store).await?;
            let started = std::time::Instant::now();
            let progress = |done: u64, total: u64| {
                use std::io::Write as _;
                let pct = (done * 100).checked_div(total).unwrap_or(100).min(100);
                let filled = (pct / 5) as usize;
                let mut err = std::io::stderr();
                let _ = write!(
                    err,
                    "\rindexing [{}{}] {done}/{total} entries ({pct}%)",
                    "#".repeat(filled),
                    " ".repeat(20 - filled)
                );
                let _ = err.flush();
            };
            let n = services
                .search
                .reindex(type_id.as_deref(), progress)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            eprintln!();
            println!(
                "indexed {n} entries in {:.1} s ({} documents in the index)",
                started.elapsed().as_secs_f64(),
                services.search.index().num_docs()
            );
            Ok(())
        }
        Command::User {
            command: UserCommand::Create { email, admin, role },
        } => {
            let password = match std::env::var("VELLUM_NEW_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprintln!(
                        "password ({} to 256 characters, not a common one), then Enter:",
                        settings.password_min_length
                    );
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let store = open_store(&settings).await?;
            let services = Services::build_offline(std::sync::Arc::new(settings), store).await?;
            let role = if admin {
                "admin".to_string()
            } else {
                role.unwrap_or_else(|| "author".into())
            };
            let user = services
                .admin
                .create_user(
                    None,
                    NewUser {
                        email,
                        password,
                        role,
                    },
                )
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            println!(
                "created user {} ({}) with role {}",
                user.email, user.id, user.role
            );
            Ok(())
        }
    }
}
