//! Safe defaults of the binary itself: no credential in `--help` or the
//! start banner, no start on a template secret, a private database file.

use std::process::Command;

use livechat_test_support::app::*;

/// Runs the real `livechat` binary with `envs` until it exits; its stderr
/// and stdout together, and whether it succeeded.
fn run_livechat(args: &[&str], envs: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_livechat"))
        .args(args)
        .env_clear()
        .envs(envs.iter().copied())
        .env("LIVECHAT_LISTEN", "127.0.0.1:0")
        .env("LIVECHAT_GRPC_LISTEN", "127.0.0.1:0")
        .output()
        .expect("the livechat binary runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

const DATABASE_WITH_PASSWORD: &str = "postgres://lc:s3cret-pw@127.0.0.1:1/livechat";

#[test]
fn help_does_not_show_the_database_url() {
    let (ok, help) = run_livechat(&["--help"], &[("LIVECHAT_DATABASE_URL", DATABASE_WITH_PASSWORD)]);
    assert!(ok, "{help}");
    assert!(help.contains("LIVECHAT_DATABASE_URL"), "{help}");
    assert!(!help.contains("s3cret-pw"), "--help shows the database password:\n{help}");
}

#[test]
fn the_start_banner_hides_the_database_password() {
    // Nothing listens on port 1: the start fails after the banner.
    let (ok, out) = run_livechat(&[], &[("LIVECHAT_DATABASE_URL", DATABASE_WITH_PASSWORD)]);
    assert!(!ok, "{out}");
    assert!(out.contains("postgres://lc:***@127.0.0.1:1/livechat"), "{out}");
    assert!(!out.contains("s3cret-pw"), "the password was printed:\n{out}");
}

#[test]
fn a_template_secret_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("lc.db").display());
    let (ok, out) = run_livechat(
        &[],
        &[
            ("LIVECHAT_DATABASE_URL", &db),
            ("LIVECHAT_JWT_SECRET", "change-me-to-at-least-32-random-bytes-000000"),
        ],
    );
    assert!(!ok, "started on the template secret:\n{out}");
    assert!(out.contains("LIVECHAT_JWT_SECRET is a template placeholder"), "{out}");
}

#[tokio::test]
async fn the_sqlite_database_and_its_wal_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    let Some(rest) = app.database_url.strip_prefix("sqlite://") else {
        eprintln!("PostgreSQL run: the file modes are checked on SQLite");
        return;
    };
    let file = rest.split('?').next().unwrap().to_string();
    app.create_room("Ana", Some("Hello")).await;
    for path in [file.clone(), format!("{file}-wal")] {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{path} has mode {mode:o}");
    }
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|_, http| http.listener.header_read_timeout_ms = 300).await;
    let mut slow = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap();
    // A request begun and never finished (a slowloris client).
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: livechat\r\nX-Slow: 1\r\n").await.unwrap();
    let mut buf = vec![0u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), slow.read(&mut buf)).await;
    match read {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => {
            let answer = String::from_utf8_lossy(&buf[..n]);
            assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        }
        Ok(Err(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        Err(_) => panic!("the half-sent request was still held open after 5 s"),
    }
    // Whole requests are served as before.
    assert_eq!(app.get("/healthz", None).await.code(), 200);
}
