//! Logging: `tracing` to stderr (stdout stays for CLI output), as text or JSON; quiet
//! unless asked in tests.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init(filter: &str, json: bool) {
    let filter = EnvFilter::try_new(format!("{filter},sqlx=warn,sea_orm=warn"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colour only for a person at a terminal: a file or a log collector gets plain
        // text (and `NO_COLOR` turns it off everywhere).
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
