//! `livechat-bench`: drives a running livechat through its public protocol,
//! as browsers and agents would, and reports what users would feel: lost and
//! duplicated messages (must be 0), end-to-end latency, accept latency,
//! throughput, and the server's memory and CPU per connection and message.
//!
//! ```text
//! livechat-bench --url http://127.0.0.1:8080 --admin-password … --rooms 500 --agents 50 --rate 5000 --duration 30
//! livechat-bench --url … --admin-password … --idle 1000 --pid $(pidof livechat)
//! livechat-bench --url … --admin-password … --flash 10000 --arrive-secs 60 --agents 100
//! ```

mod client;
mod proc;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;
use client::{Rest, Totals};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tokio::sync::watch;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Load generator for livechat: speaks docs/protocol.md and measures what users feel"
)]
struct Cli {
    /// Base URL of the deployment (REST at /api/v1, WebSocket at /ws).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// WebSocket base URL, when the ws-gateway is elsewhere [default: from --url].
    #[arg(long)]
    ws_url: Option<String>,
    /// Password of the `admin` agent (creates the bench agents).
    #[arg(long, env = "LIVECHAT_ADMIN_PASSWORD")]
    admin_password: String,
    /// Agents (one WebSocket each).
    #[arg(long, default_value_t = 10)]
    agents: usize,
    /// Conversations (one visitor WebSocket each, plus its agent).
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// Messages per second in total, both sides together; 0: as fast as
    /// possible (each connection keeps 4 sends in flight).
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds of message traffic.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Pad each message's content to this many bytes (0: no padding, about
    /// 30 bytes of sequence and send time).
    #[arg(long, default_value_t = 0)]
    content_bytes: usize,
    /// Instead of chatting: hold this many idle visitor connections and
    /// report memory per connection of --pid.
    #[arg(long)]
    idle: Option<usize>,
    /// Instead of chatting: a flash crowd of this many visitors arriving
    /// evenly over --arrive-secs while --agents agents are online; reports
    /// the arrival rate reached, whether every room reached every agent's
    /// queue, and agents the server disconnected.
    #[arg(long)]
    flash: Option<usize>,
    /// Seconds over which the flash crowd arrives.
    #[arg(long, default_value_t = 60)]
    arrive_secs: u64,
    /// The server process to measure (RSS and CPU from /proc).
    #[arg(long)]
    pid: Option<u32>,
    /// The core's process, in the distributed mode: its CPU over the same
    /// window as --pid's (the traffic, not the setup, whose password
    /// hashing would swamp it).
    #[arg(long)]
    core_pid: Option<u32>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Exit non-zero if any message was lost or duplicated.
    #[arg(long)]
    strict: bool,
}

/// Agents or rooms being set up at once.
const SETUP_CONCURRENCY: usize = 32;

fn pct(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {elapsed}")
            .expect("the template is valid"),
    );
    bar.set_message(what.to_string());
    bar
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    client::epoch();
    let ws_base = cli.ws_url.clone().unwrap_or_else(|| cli.url.replacen("http", "ws", 1));
    let rest = Rest::new(&cli.url);
    let admin = rest.login("admin", &cli.admin_password).await?;
    let totals = Totals::new();
    let (stop_tx, stop) = watch::channel(false);

    if let Some(n) = cli.idle {
        return idle(&cli, &rest, &ws_base, n, totals, stop).await;
    }
    if let Some(n) = cli.flash {
        return flash_crowd(&cli, &rest, &admin, &ws_base, n, totals, stop).await;
    }

    let setup = Instant::now();
    let agents = connect_agents(cli.agents, &rest, &admin, &ws_base, &totals, &stop).await?;

    // Rooms: the visitor asks, an agent accepts over WebSocket.
    let bar = progress(cli.rooms as u64, "rooms");
    let agent_out: Vec<_> = agents.iter().map(|a| a.out.clone()).collect();
    let convs: Vec<(String, client::Conn, usize)> = futures::stream::iter(0..cli.rooms)
        .map(|i| {
            let (rest, totals, stop, bar, ws_base, agent_out) =
                (&rest, totals.clone(), stop.clone(), bar.clone(), &ws_base, &agent_out);
            async move {
                let (room, token) = rest.room(i).await?;
                totals
                    .created
                    .lock()
                    .expect("no holder of the totals panics")
                    .insert(room.clone(), Instant::now());
                let mut v = client::connect(ws_base, &token, "visitor", totals, stop).await?;
                client::welcomed(&mut v).await?;
                let agent = i % cli.agents.max(1);
                agent_out[agent].send(client::accept_frame(&room)).await?;
                bar.inc(1);
                anyhow::Ok((room, v, agent))
            }
        })
        .buffered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    bar.finish_and_clear();
    // Every room must be engaged before its agent writes in it.
    let waiting = Instant::now();
    while totals.accepted.load(Ordering::Relaxed) < cli.rooms as u64 {
        anyhow::ensure!(
            waiting.elapsed() < Duration::from_secs(120),
            "only {} of {} rooms accepted",
            totals.accepted.load(Ordering::Relaxed),
            cli.rooms
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connections = cli.agents + cli.rooms;
    let setup_secs = setup.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Traffic: each conversation alternates visitor and agent sends.
    let rss_before = cli.pid.and_then(proc::rss_bytes);
    let cpu_before = cli.pid.and_then(proc::cpu_micros);
    let core_cpu_before = cli.core_pid.and_then(proc::cpu_micros);
    let own_cpu_before = proc::cpu_micros(std::process::id());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(cli.duration);
    let per_conv_interval =
        (cli.rate > 0).then(|| Duration::from_secs_f64(cli.rooms as f64 / cli.rate as f64));
    let bar = progress(cli.duration, "seconds");
    let ticker = {
        let bar = bar.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                bar.inc(1);
            }
        })
    };
    let agent_out: Vec<_> = agents.iter().map(|a| (a.out.clone(), a.window.clone())).collect();
    let mut senders = Vec::new();
    let content_bytes = cli.content_bytes;
    for (ci, (room, v, agent)) in convs.iter().enumerate() {
        let (room, vout, vin) = (room.clone(), v.out.clone(), v.window.clone());
        let (aout, ain) = agent_out[*agent].clone();
        senders.push(tokio::spawn(async move {
            let mut n: u64 = 0;
            let mut tick = per_conv_interval.map(|d| {
                let mut t = tokio::time::interval_at(
                    tokio::time::Instant::now() + d.mul_f64((ci % 97) as f64 / 97.0),
                    d,
                );
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            while Instant::now() < deadline {
                let (out, window, who) =
                    if n.is_multiple_of(2) { (&vout, &vin, ci * 2) } else { (&aout, &ain, ci * 2 + 1) };
                match tick.as_mut() {
                    Some(t) => {
                        // A slow tick (many rooms, low rate) may land past the end.
                        let deadline = tokio::time::Instant::from_std(deadline);
                        if tokio::time::timeout_at(deadline, t.tick()).await.is_err() {
                            break;
                        }
                    }
                    None => {
                        let deadline = tokio::time::Instant::from_std(deadline);
                        match tokio::time::timeout_at(deadline, window.acquire()).await {
                            Ok(Ok(permit)) => permit.forget(),
                            _ => break,
                        }
                    }
                }
                if out.send(client::send_frame(&room, who, n, content_bytes)).await.is_err() {
                    break;
                }
                n += 1;
            }
            n
        }));
    }
    let mut attempted = 0;
    for s in senders {
        attempted += s.await.unwrap_or(0);
    }
    let elapsed = started.elapsed().as_secs_f64();
    ticker.abort();
    bar.finish_and_clear();
    // Let the last acks and deliveries land: an overloaded server may be a
    // minute behind, and a send acknowledged after its room's history was
    // read below would look lost.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(180) {
        let acked = totals.acked.load(Ordering::Relaxed);
        let delivered = totals.delivered.load(Ordering::Relaxed);
        if acked == attempted && delivered >= acked {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cpu_after = cli.pid.and_then(proc::cpu_micros);
    let core_cpu_after = cli.core_pid.and_then(proc::cpu_micros);
    let own_cpu_after = proc::cpu_micros(std::process::id());
    let rss_after = cli.pid.and_then(proc::rss_bytes);

    // What is stored, from history (admin has rooms.view_all), compared
    // with the sends acknowledged before it is read: every one of those
    // must be there.
    let acked_before_reading = totals.acked.load(Ordering::Relaxed);
    let mut stored = 0;
    for (room, _, _) in &convs {
        // An overloaded server may still be draining its queues: retry.
        let mut tries = 0;
        stored += loop {
            match rest.stored_bench_messages(&admin, room).await {
                Ok(n) => break n,
                Err(e) if tries < 5 => {
                    tries += 1;
                    eprintln!("history not ready ({e}); retrying");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                Err(e) => return Err(e),
            }
        };
    }
    let _ = stop_tx.send(true);

    let acked = totals.acked.load(Ordering::Relaxed);
    let delivered = totals.delivered.load(Ordering::Relaxed);
    let duplicated = totals.duplicated.load(Ordering::Relaxed);
    let lost = acked.saturating_sub(delivered) + acked_before_reading.saturating_sub(stored);
    if acked > acked_before_reading {
        eprintln!(
            "{} acks came after the history was read (the server was still catching up)",
            acked - acked_before_reading
        );
    }
    let lat = totals
        .latency
        .lock()
        .expect("no holder of the totals panics")
        .take()
        .expect("the histograms are set before the run");
    let acc = totals
        .accept_latency
        .lock()
        .expect("no holder of the totals panics")
        .take()
        .expect("the histograms are set before the run");
    let errors = totals.errors.lock().expect("no holder of the totals panics").clone();
    let per_message = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(b), Some(a)) if delivered > 0 => Some(a.saturating_sub(b) as f64 / delivered as f64),
        _ => None,
    };
    let cpu_us_per_msg = per_message(cpu_before, cpu_after);
    let core_cpu_us_per_msg = per_message(core_cpu_before, core_cpu_after);
    let bench_cpu_us_per_msg = per_message(own_cpu_before, own_cpu_after);
    let report = json!({
        "connections": connections,
        "setup_seconds": setup_secs,
        "connections_per_second": connections as f64 / setup_secs,
        "accept_latency_ms": {"p50": pct(&acc, 0.5), "p99": pct(&acc, 0.99), "samples": acc.len()},
        "messages": {"attempted": attempted, "acked": acked, "stored": stored, "delivered": delivered,
                     "lost": lost, "duplicated": duplicated},
        "seconds": elapsed,
        "delivered_per_second": delivered as f64 / elapsed,
        "latency_ms": {"p50": pct(&lat, 0.5), "p95": pct(&lat, 0.95), "p99": pct(&lat, 0.99), "max": lat.max() as f64 / 1000.0},
        "errors": errors,
        "server": {"pid": cli.pid, "rss_before_bytes": rss_before, "rss_after_bytes": rss_after, "cpu_us_per_delivered_message": cpu_us_per_msg},
        "core": {"pid": cli.core_pid, "cpu_us_per_delivered_message": core_cpu_us_per_msg},
        "load_generator": {"cpu_us_per_delivered_message": bench_cpu_us_per_msg},
    });
    if cli.json {
        println!("{report:#}");
    } else {
        println!("livechat-bench: {} rooms, {} agents, {} connections", cli.rooms, cli.agents, connections);
        println!(
            "  setup              {:.1} s ({:.0} connections/s)",
            setup_secs,
            connections as f64 / setup_secs
        );
        println!("  accept latency     p50 {:.1} ms  p99 {:.1} ms", pct(&acc, 0.5), pct(&acc, 0.99));
        println!(
            "  messages           sent {attempted}  acked {acked}  stored {stored}  delivered {delivered}"
        );
        println!("  lost / duplicated  {lost} / {duplicated}");
        println!(
            "  throughput         {:.0} messages/s delivered over {:.1} s",
            delivered as f64 / elapsed,
            elapsed
        );
        println!(
            "  latency            p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            pct(&lat, 0.5),
            pct(&lat, 0.95),
            pct(&lat, 0.99),
            lat.max() as f64 / 1000.0
        );
        if !errors.is_empty() {
            println!("  errors             {errors:?}");
        }
        if let Some(us) = cpu_us_per_msg {
            println!("  server CPU         {us:.1} µs per delivered message");
        }
        if let Some(us) = core_cpu_us_per_msg {
            println!("  core CPU           {us:.1} µs per delivered message");
        }
        if let Some(us) = bench_cpu_us_per_msg {
            println!("  load generator CPU {us:.1} µs per delivered message");
        }
    }
    if cli.strict && (lost > 0 || duplicated > 0) {
        anyhow::bail!("{lost} lost and {duplicated} duplicated messages");
    }
    Ok(())
}

/// `n` agents, one welcomed connection each, set up a few at a time (each
/// costs the server two PBKDF2 hashes, by design).
async fn connect_agents(
    n: usize,
    rest: &Rest,
    admin: &str,
    ws_base: &str,
    totals: &Arc<Totals>,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<client::Conn>> {
    let bar = progress(n as u64, "agents");
    let agents = futures::stream::iter(0..n)
        .map(|i| {
            let (totals, stop, bar) = (totals.clone(), stop.clone(), bar.clone());
            async move {
                let token = rest.agent(admin, i).await?;
                let mut c = client::connect(ws_base, &token, "agent", totals, stop).await?;
                client::welcomed(&mut c).await?;
                bar.inc(1);
                anyhow::Ok(c)
            }
        })
        .buffered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    bar.finish_and_clear();
    Ok(agents)
}

/// Holds `n` idle visitor connections and reports memory per connection.
async fn idle(
    cli: &Cli,
    rest: &Rest,
    ws_base: &str,
    n: usize,
    totals: Arc<Totals>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let pid = cli.pid.ok_or_else(|| anyhow::anyhow!("--idle needs --pid of the server process"))?;
    let before = proc::rss_bytes(pid).ok_or_else(|| anyhow::anyhow!("cannot read /proc/{pid}/status"))?;
    let bar = progress(n as u64, "connections");
    let started = Instant::now();
    let conns: Vec<client::Conn> = futures::stream::iter(0..n)
        .map(|i| {
            let (totals, stop, bar) = (totals.clone(), stop.clone(), bar.clone());
            async move {
                let (_, token) = rest.room(i).await?;
                let mut c = client::connect(ws_base, &token, "visitor", totals, stop).await?;
                client::welcomed(&mut c).await?;
                bar.inc(1);
                anyhow::Ok(c)
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    bar.finish_and_clear();
    let setup = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = proc::rss_bytes(pid).unwrap_or(before);
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    let report = json!({"idle_connections": n, "setup_seconds": setup, "rss_before_bytes": before,
                        "rss_after_bytes": after, "rss_per_connection_bytes": per});
    if cli.json {
        println!("{report:#}");
    } else {
        println!("livechat-bench: {n} idle connections in {setup:.1} s");
        println!("  server RSS  {:.1} MiB → {:.1} MiB", before as f64 / 1048576.0, after as f64 / 1048576.0);
        println!("  per idle connection  {:.1} KiB (rooms stored, visitor connected)", per / 1024.0);
    }
    drop(conns);
    Ok(())
}

/// A flash crowd: `n` visitors arrive evenly over `--arrive-secs` (each
/// opens a room and its WebSocket) while `--agents` agents watch the queue.
async fn flash_crowd(
    cli: &Cli,
    rest: &Rest,
    admin: &str,
    ws_base: &str,
    n: usize,
    totals: Arc<Totals>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    totals.every_sighting.store(true, Ordering::Relaxed);
    let agents = connect_agents(cli.agents, rest, admin, ws_base, &totals, &stop).await?;

    let cpu_before = cli.pid.and_then(proc::cpu_micros);
    let every = Duration::from_secs_f64(cli.arrive_secs as f64 / n.max(1) as f64);
    let started = Instant::now();
    let bar = progress(n as u64, "visitors");
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut arrivals = Vec::with_capacity(n);
    for i in 0..n {
        tick.tick().await;
        let (totals, stop, bar, rest, ws_base) =
            (totals.clone(), stop.clone(), bar.clone(), rest.clone(), ws_base.to_string());
        arrivals.push(tokio::spawn(async move {
            let asked = Instant::now();
            let (room, token) = rest.room(i).await?;
            totals.created.lock().expect("no holder of the totals panics").insert(room, asked);
            let mut c = client::connect(&ws_base, &token, "visitor", totals, stop).await?;
            client::welcomed(&mut c).await?;
            bar.inc(1);
            anyhow::Ok(c)
        }));
    }
    let mut visitors = Vec::with_capacity(n);
    let mut failed = 0usize;
    for a in arrivals {
        match a.await {
            Ok(Ok(c)) => visitors.push(c),
            _ => failed += 1,
        }
    }
    bar.finish_and_clear();
    let arrived_in = started.elapsed().as_secs_f64();
    let expected = (n - failed) as u64 * cli.agents as u64;
    let waiting = Instant::now();
    while totals.queued_seen.load(Ordering::Relaxed) < expected && waiting.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_seen_in = started.elapsed().as_secs_f64();
    let cpu_after = cli.pid.and_then(proc::cpu_micros);
    let seen = totals.queued_seen.load(Ordering::Relaxed);
    let ended: Vec<(u16, u64)> = {
        let e = totals.ended_early.lock().expect("no holder of the totals panics");
        let mut v: Vec<(u16, u64)> = e.iter().map(|(k, v)| (*k, *v)).collect();
        v.sort_unstable();
        v
    };
    let (p50, p99, max) = {
        let h = totals.accept_latency.lock().expect("no holder of the totals panics");
        let h = h.as_ref().expect("set in Totals::new");
        (pct(h, 0.5), pct(h, 0.99), h.max() as f64 / 1000.0)
    };
    let cpu_s = cpu_before.zip(cpu_after).map(|(b, a)| (a - b) as f64 / 1e6);
    let report = json!({
        "visitors": n, "agents": cli.agents, "arrive_secs": cli.arrive_secs, "failed_arrivals": failed,
        "arrived_in_seconds": arrived_in, "arrival_rate_per_sec": (n - failed) as f64 / arrived_in,
        "queue_sightings": seen, "queue_sightings_expected": expected, "all_seen_after_seconds": all_seen_in,
        "queued_latency_ms": {"p50": p50, "p99": p99, "max": max},
        "connections_ended_by_server": ended, "server_cpu_seconds": cpu_s,
    });
    if cli.json {
        println!("{report:#}");
    } else {
        println!(
            "livechat-bench: flash crowd of {n} visitors over {} s, {} agents online",
            cli.arrive_secs, cli.agents
        );
        println!(
            "  arrived            {} in {arrived_in:.1} s ({:.0} visitors/s), {failed} failed",
            n - failed,
            (n - failed) as f64 / arrived_in
        );
        println!(
            "  queue sightings    {seen} of {expected} (every room on every agent's queue) after {all_seen_in:.1} s"
        );
        println!(
            "  room_queued latency p50 {p50:.1} ms  p99 {p99:.1} ms  max {max:.1} ms (request sent → agent's frame)"
        );
        println!(
            "  ended by server    {}",
            if ended.is_empty() { "none".to_string() } else { format!("{ended:?} (close code, count)") }
        );
        if let Some(cpu) = cpu_s {
            println!("  server CPU         {cpu:.1} s");
        }
    }
    let _ = (agents, visitors);
    anyhow::ensure!(failed == 0 && seen == expected && ended.is_empty(), "the flash crowd did not hold");
    Ok(())
}
