//! The `/monitoring` admin page of Upload Monitor (the spec's "NOUVELLE PAGE `/monitoring`"),
//! served from Rust: stat cards, top errors, live upload cards with "Détails" and
//! "Réessayer", recent bugs and the three error tabs, for every user at once, kept live over
//! server-sent events.
//!
//! ```text
//! cargo run -p monitor-dashboard                  # dev stack + demo admin, http://127.0.0.1:3000/login
//! cargo run -p monitor-dashboard -- --port 8080   # another port; 0 = any free port (printed)
//! ```
//!
//! Admins sign in with their Supabase account (`/login`, Auth's password grant); the server
//! keeps each session and calls every RPC with that admin's own token, so RLS and
//! `is_admin()` decide ([`session`]). Another program mounts the page with [`serve`] and the
//! [`Project`] to sign in to (the fleet of `examples/simulated_upload` does, while its
//! phones run):
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let project = monitor_dashboard::Project::new("http://127.0.0.1:54321", "anon-key");
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! monitor_dashboard::serve(project, listener, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
//!
//! | module | concern |
//! | --- | --- |
//! | [`server`] | routes, the sign-in gate, the host and origin guard, CSP and security headers |
//! | [`session`] | Supabase Auth sign-in, server-side sessions, refresh, logout |
//! | `feed` | one shared `monitoring_changes` poller fanned out over SSE |
//! | [`assets`] | the page, its script and style, with content-hashed names |
//! | [`labels`] | every word the page shows for a server value, from `monitor-core` or here |
//! | [`credentials`] | which Supabase and which credential the server reads with |
//! | `api_error` | Supabase failures as HTTP answers |
//! | [`webdriver`] | a small WebDriver client: the browser tests and the DOM latency benchmark |

#![deny(missing_docs)]

mod api_error;
pub mod assets;
pub mod credentials;
mod feed;
pub mod labels;
pub mod server;
pub mod session;
pub mod webdriver;

pub use monitor_core::client::MonitoringClient;
pub use server::serve;
pub use session::Project;
