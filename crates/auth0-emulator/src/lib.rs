//! A local emulator of the Auth0 Management API subset that auth0_io uses, faithful to the
//! exchanges recorded against real tenants (`tests/fixtures/recordings`, with their sources) and
//! to Auth0's documentation.
//!
//! `app(emulator)` is the whole service as an axum `Router`; `spawn` serves it on a socket for
//! tests; the `auth0-emulator` binary is a thin command line around `serve`.

pub mod http;
pub mod jobs;
pub mod lucene;
pub mod seed;
pub mod state;
pub mod store;
pub mod time;
pub mod user_patch;

pub use http::app;
pub use state::{Config, Emulator, Fault, RateLimit};

use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Serves the emulator on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    emu: Emulator,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(emu))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A running emulator (for tests): its address and state; stops when dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub emulator: Emulator,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts an emulator on 127.0.0.1 with an OS-chosen port, on a thread of its own with its own
/// runtime, so it works from sync tests and from async ones alike.
pub fn spawn(config: Config) -> std::io::Result<Running> {
    let emu = Emulator::new(config);
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = emu.clone();
    std::thread::Builder::new()
        .name(format!("auth0-emulator-{}", addr.port()))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("auth0-emulator: cannot start runtime: {e}");
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match TcpListener::from_std(std_listener) {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("auth0-emulator: {e}");
                        return;
                    }
                };
                let _ = serve(listener, served, async {
                    let _ = rx.await;
                })
                .await;
            });
        })?;
    Ok(Running {
        addr,
        emulator: emu,
        stop: Some(tx),
    })
}
