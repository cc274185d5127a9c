//! `auth0-emulator`: serve the Auth0 Management API emulator on loopback.

use auth0_emulator::{serve, Config, Emulator, RateLimit};
use clap::Parser;
use std::time::Duration;

#[derive(Parser)]
#[command(
    version,
    about = "A local emulator of the Auth0 Management API subset auth0_io uses"
)]
struct Args {
    /// Address to listen on (keep it on loopback: the emulator has no real security).
    #[arg(long, default_value = "127.0.0.1:4010", env = "AUTH0_EMULATOR_LISTEN")]
    listen: String,
    /// Number of deterministic demo users to create.
    #[arg(long, default_value_t = 0)]
    seed_users: usize,
    /// Client id accepted by /oauth/token.
    #[arg(long, default_value = auth0_emulator::state::DEFAULT_CLIENT_ID)]
    client_id: String,
    /// Client secret accepted by /oauth/token.
    #[arg(long, default_value = auth0_emulator::state::DEFAULT_CLIENT_SECRET)]
    client_secret: String,
    /// Token-bucket limit on the API, BURST/PER_SECOND (e.g. 10/2); unlimited when absent.
    #[arg(long)]
    rate_limit: Option<RateLimit>,
    /// The Management API scopes the application is granted, space-separated (default: every
    /// scope auth0_io uses); routes that need another answer 403 like Auth0.
    #[arg(long)]
    scopes: Option<String>,
    /// Users per second that one import job processes: a number, or Auth0's pace for a bulk
    /// import tier: enterprise (about 55.6), production (18.5) or free (5.6); see
    /// `auth0_emulator::state::import_pace` for where the figures come from.
    #[arg(long, default_value = "5000", value_parser = parse_import_rate)]
    import_rate: f64,
    /// Users per second that export jobs process.
    #[arg(long, default_value_t = 50000.0)]
    export_rate: f64,
    /// Seconds an export download link stays valid.
    #[arg(long, default_value_t = 60)]
    location_ttl: u64,
    /// Seconds jobs are kept.
    #[arg(long, default_value_t = 86400)]
    job_retention: u64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let config = Config {
        seed_users: args.seed_users,
        client_id: args.client_id,
        client_secret: args.client_secret,
        rate_limit: args.rate_limit,
        import_users_per_second: args.import_rate,
        export_users_per_second: args.export_rate,
        location_ttl: Duration::from_secs(args.location_ttl),
        job_retention: Duration::from_secs(args.job_retention),
        scopes: args
            .scopes
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_else(|| Config::default().scopes),
        ..Config::default()
    };
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("auth0-emulator: cannot listen on {}: {e}", args.listen);
            std::process::exit(1);
        }
    };
    let emu = Emulator::new(config);
    let users = emu.lock().users.len();
    // The bound address, not the requested one: `--listen 127.0.0.1:0` picks a free port, and
    // scripts read it from this line.
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| args.listen.clone());
    eprintln!("auth0-emulator: listening on http://{bound} with {users} users");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = serve(listener, emu, shutdown).await {
        eprintln!("auth0-emulator: {e}");
        std::process::exit(1);
    }
}

/// `--import-rate`: users per second, or an Auth0 tier's pace.
fn parse_import_rate(s: &str) -> Result<f64, String> {
    if let Some(pace) = auth0_emulator::state::import_pace(s) {
        return Ok(pace);
    }
    match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r.is_finite() => Ok(r),
        _ => Err(format!(
            "'{s}' is neither a positive number of users per second nor a tier (enterprise, production, free)"
        )),
    }
}
