//! `livechat`: the whole product in one process, on SQLite with the
//! in-process bus. `cargo run --release` at the repository root starts it.
//! `livechat core-service|ws-gateway|http-gateway` runs one role alone,
//! exactly as the standalone binaries do (one image for every role).

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use livechat_runtime::{LogFormat, init_tracing, shutdown_signal};

/// livechat all-in-one: core, REST API, WebSocket API and web pages in one process.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    role: Option<Role>,
    #[command(flatten)]
    all: AllInOne,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Run only the gRPC core (like the `core-service` binary).
    CoreService(livechat_core::cli::CoreServiceCli),
    /// Run only the WebSocket gateway and pages (like `ws-gateway`).
    WsGateway(livechat_ws::cli::WsGatewayCli),
    /// Run only the REST gateway (like `http-gateway`).
    HttpGateway(livechat_http::cli::HttpGatewayCli),
    /// Run one channel's adapter (like `livechat-adapter`).
    Adapter(livechat_adapter::cli::AdapterCli),
}

#[derive(Debug, clap::Args)]
struct AllInOne {
    /// Address of REST, WebSocket and pages [default: 127.0.0.1:8080].
    #[arg(long, env = "LIVECHAT_LISTEN")]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    core: livechat_core::CoreConfig,
    #[command(flatten)]
    http: livechat_http::HttpConfig,
    #[command(flatten)]
    ws_limits: livechat_ws::FrameLimits,
    #[command(flatten)]
    ws_connections: livechat_ws::ConnectionLimits,
    #[command(flatten)]
    widget: livechat_ws::pages::WidgetEmbedding,
    /// Channels run in this process when their variables are set.
    #[command(flatten)]
    channels: livechat_adapter::Channels,
    /// Log format: pretty or json (default: pretty on a terminal).
    #[arg(long, env = "LIVECHAT_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.role {
        Some(Role::CoreService(c)) => {
            init_tracing(c.log_format);
            livechat_core::cli::run(c).await
        }
        Some(Role::WsGateway(c)) => {
            init_tracing(c.log_format);
            livechat_ws::cli::run(c).await
        }
        Some(Role::HttpGateway(c)) => {
            init_tracing(c.log_format);
            livechat_http::cli::run(c).await
        }
        Some(Role::Adapter(c)) => {
            init_tracing(c.log_format());
            livechat_adapter::cli::run(c).await
        }
        None => {
            init_tracing(cli.all.log_format);
            all_in_one(cli.all).await
        }
    };
    if let Err(e) = result {
        eprintln!("livechat: {e:#}");
        std::process::exit(1);
    }
}

async fn all_in_one(cli: AllInOne) -> anyhow::Result<()> {
    let grpc_addr = cli.core.grpc_listen.unwrap_or(livechat_core::config::LIVECHAT_GRPC_LISTEN.into());
    let http_addr = cli.listen.unwrap_or(livechat::LIVECHAT_LISTEN.into());
    let grpc = tokio::net::TcpListener::bind(grpc_addr)
        .await
        .map_err(|e| anyhow::anyhow!("LIVECHAT_GRPC_LISTEN {grpc_addr}: {e}"))?;
    let http = tokio::net::TcpListener::bind(http_addr)
        .await
        .map_err(|e| anyhow::anyhow!("LIVECHAT_LISTEN {http_addr}: {e}"))?;
    let web = http.local_addr()?;
    eprintln!(
        "livechat is running (database {})\n  Agent console:  http://{web}/\n  Visitor widget: http://{web}/widget\n  REST API:       http://{web}/api/v1  (OpenAPI: /api/v1/openapi.json)\n  WebSocket:      ws://{web}/ws\n  gRPC API:       http://{}",
        cli.core.database_url_for_logs(),
        grpc.local_addr()?,
    );
    let session = livechat_ws::SessionConfig {
        limits: cli.ws_limits,
        connections: cli.ws_connections,
        embedding: cli.widget,
        ..Default::default()
    };
    for channel in cli.channels.configured().map_err(|e| anyhow::anyhow!(e))? {
        let how = match &channel {
            livechat_adapter::ChannelConfig::Telegram { webhook_secret: None, .. } => {
                "long polling".to_string()
            }
            _ => format!("webhook http://{web}/webhooks/{}", channel.name()),
        };
        eprintln!("  Channel:        {} ({how})", channel.name());
    }
    livechat::run_with_channels(cli.core, cli.http, session, cli.channels, grpc, http, shutdown_signal())
        .await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use clap::CommandFactory;

    #[test]
    fn every_role_and_flag_of_the_command_line_fits_together() {
        super::Cli::command().debug_assert();
    }

    /// Every `LIVECHAT_*` variable some role of the binary reads.
    fn variables_read(cmd: &clap::Command, out: &mut BTreeSet<String>) {
        for arg in cmd.get_arguments() {
            if let Some(env) = arg.get_env() {
                out.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in cmd.get_subcommands() {
            variables_read(sub, out);
        }
    }

    /// The manifests under k8s/, as text.
    fn manifests() -> Vec<(String, String)> {
        fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "yaml") {
                    out.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s"), &mut out);
        assert!(out.len() >= 10, "the manifests are there");
        out
    }

    /// The words of `text` that start with `prefix` and go on with `more`.
    fn words(text: &str, prefix: &str, more: impl Fn(char) -> bool) -> Vec<String> {
        text.match_indices(prefix)
            .map(|(i, _)| {
                let rest = &text[i + prefix.len()..];
                let end = rest.find(|c: char| !more(c)).unwrap_or(rest.len());
                rest[..end].to_string()
            })
            .collect()
    }

    #[test]
    fn every_variable_the_manifests_set_is_one_a_role_reads() {
        let mut read = BTreeSet::new();
        variables_read(&super::Cli::command(), &mut read);
        let mut unknown = Vec::new();
        for (file, text) in manifests() {
            for name in
                words(&text, "LIVECHAT_", |c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                let var = format!("LIVECHAT_{name}");
                if !read.contains(&var) {
                    unknown.push(format!("{file}: {var}"));
                }
            }
        }
        assert!(unknown.is_empty(), "variables no role reads (a typo?): {unknown:?}");
    }

    #[test]
    fn every_probe_asks_a_path_the_binaries_serve_on_a_declared_port() {
        let all: String = manifests().into_iter().map(|(_, text)| text).collect();
        let probes = words(&all, "httpGet: {path: ", |c| c != '}');
        assert!(probes.len() >= 10, "{probes:?}");
        for probe in probes {
            let (path, port) = probe.split_once(", port: ").unwrap_or_else(|| panic!("probe {probe}"));
            assert!(["/healthz", "/readyz"].contains(&path), "no role serves {path}");
            assert!(all.contains(&format!("- name: {port}\n")), "probe port {port} is not declared");
        }
        // Every listener a manifest sets up is a port the pod declares.
        let declared = words(&all, "containerPort: ", |c| c.is_ascii_digit());
        for listen in words(&all, "0.0.0.0:", |c| c.is_ascii_digit()) {
            assert!(declared.contains(&listen), "0.0.0.0:{listen} is not a declared containerPort");
        }
    }
}
