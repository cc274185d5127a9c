//! Progress events: the client tells its caller about waits so that a long wait is never silent
//! (the extension turns them into NOTICEs, which users can silence).

use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Event {
    /// Auth0 answered 429; waiting until its rate limit resets.
    RateLimited { endpoint: String, wait: Duration },
    /// A 5xx or broken connection; retrying after a back-off.
    Retrying {
        endpoint: String,
        attempt: u32,
        wait: Duration,
        reason: String,
    },
    /// A fresh access token was obtained.
    TokenRefreshed,
}

pub trait Observer: Send + Sync {
    fn on_event(&self, event: &Event);
}

pub struct NoopObserver;

impl Observer for NoopObserver {
    fn on_event(&self, _: &Event) {}
}
