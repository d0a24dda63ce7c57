//! What every livechat process runs with, whatever its role: logs
//! (`telemetry`), the shutdown signal, the operator routes and readiness
//! (`ops`), leaving without dropping anyone (`drain`), the problem+json
//! error body (`problem`), and whose address a request comes from for
//! per-address limits (`client_address`).
//!
//! Small on purpose: the stateless gateways and the channel adapters depend
//! on this crate and `livechat-proto` only, so they never link the core's
//! database or broker crates.

pub mod client_address;
pub mod drain;
pub mod http_server;
pub mod ops;
pub mod problem;
pub mod secret;
pub mod telemetry;

pub use drain::{DrainConfig, Draining};
pub use ops::{CoreReadiness, OpsState, Readiness};
pub use problem::{ApiError, FieldProblem, Problem};
pub use secret::Secret;
pub use telemetry::{LogFormat, init_tracing, shutdown_signal};
