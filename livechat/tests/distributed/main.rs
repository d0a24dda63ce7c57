//! Beyond one machine: real core, ws-gateway and http-gateway processes on
//! PostgreSQL and RabbitMQ, with faults injected mid-chat. Runs when
//! LIVECHAT_TEST_DATABASE_URL and LIVECHAT_TEST_AMQP_URL are set (CI sets
//! both); without them there is no bus that spans processes to test.

#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is the failure report")]

mod bus;
mod channels;
mod client;
mod cluster;
mod integrations;
mod rolling;
mod service;

use std::time::Duration;

use client::{Live, Rest};
use cluster::{ADMIN_PASSWORD, Cluster, PostgresOutage, RabbitOutage, services};
use serde_json::{Value, json};

/// Faults hit the shared broker: one scenario at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

macro_rules! needs_services {
    () => {
        if services().is_none() {
            eprintln!("skipped: set LIVECHAT_TEST_DATABASE_URL and LIVECHAT_TEST_AMQP_URL to run the distributed suite");
            return;
        }
    };
}

/// A queued room, an agent who accepted it on gateway `agent_gw`, and the
/// visitor on gateway `visitor_gw`.
async fn chat(cluster: &Cluster, agent_gw: usize, visitor_gw: usize) -> (Rest, Live, Live, String) {
    let rest = Rest::new(cluster.api());
    let admin = rest.login("admin", ADMIN_PASSWORD).await;
    let agent = rest.agent(&admin, "bea").await;
    let (room, visitor) = rest.room("Ana").await;
    let mut a = Live::connect(cluster.ws(agent_gw, &agent), &room).await;
    let ack = a.request(json!({"type": "accept", "room_id": room})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let v = Live::connect(cluster.ws(visitor_gw, &visitor), &room).await;
    (rest, a, v, agent)
}

/// Both sides end with every message exactly once, in seq order, matching
/// what is stored, and containing everything that was sent.
async fn assert_converged(rest: &Rest, token: &str, sides: &mut [&mut Live], sent: &[String]) {
    let room = sides[0].room.clone();
    let stored = rest.history(token, &room).await;
    let seqs: Vec<u64> = stored.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "stored seqs have no gap or repeat: {stored:?}");
    for text in sent {
        let n = stored.iter().filter(|m| m["content"] == text.as_str()).count();
        assert_eq!(n, 1, "{text} is stored exactly once: {stored:?}");
    }
    let last = *seqs.last().unwrap();
    for side in sides.iter_mut() {
        for _ in 0..100 {
            if side.seen.keys().next_back() == Some(&last) && side.seen.len() == seqs.len() {
                break;
            }
            side.drain(Duration::from_millis(200)).await;
            if side.seen.len() < seqs.len() {
                side.reconnect().await;
            }
        }
        let seen: Vec<u64> = side.seen.keys().copied().collect();
        assert_eq!(seen, expected, "a client holds every message: {:?}, stored {stored:?}", side.seen);
        assert!(
            side.deliveries.values().all(|n| *n == 1),
            "no message delivered twice on one connection: {:?}",
            side.deliveries
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_and_visitor_on_different_gateways_chat_both_ways() {
    needs_services!();
    let _one = SERIAL.lock().await;
    let cluster = Cluster::start(2, 2).await;
    let (rest, mut agent, mut visitor, token) = chat(&cluster, 0, 1).await;
    // The agent's second tab, on the same gateway as the first.
    let mut tab = Live::connect(cluster.ws(0, &token), &agent.room).await;
    let mut sent = vec![];
    for i in 0..10 {
        let a = format!("agent says {i}");
        let v = format!("visitor says {i}");
        agent.send(&a, &format!("a{i}")).await;
        visitor.send(&v, &format!("v{i}")).await;
        sent.extend([a, v]);
    }
    assert_converged(&rest, &token, &mut [&mut agent, &mut visitor, &mut tab], &sent).await;
    assert_eq!(
        feeds_and_subscriptions(&cluster, (2, 3)).await,
        (2, 3),
        "three connections on two gateways: each gateway's on one feed"
    );
}

/// The cores' `livechat_event_feeds` and `livechat_event_subscriptions`,
/// summed, once they are `expected` (the latter is refreshed every few
/// seconds) or after 15 s.
async fn feeds_and_subscriptions(cluster: &Cluster, expected: (u64, u64)) -> (u64, u64) {
    let gauge = |metrics: &str, name: &str| -> u64 {
        let line = metrics.lines().find(|l| l.split(' ').next() == Some(name));
        line.and_then(|l| l.split(' ').nth(1)?.parse::<f64>().ok()).unwrap_or(0.0) as u64
    };
    let mut seen = (0, 0);
    for _ in 0..75 {
        seen = (0, 0);
        for core in 0..cluster.cores.len() {
            let metrics = cluster.core_metrics(core).await;
            seen.0 += gauge(&metrics, "livechat_event_feeds");
            seen.1 += gauge(&metrics, "livechat_event_subscriptions");
        }
        if seen == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_message_this_version_cannot_read_is_dead_lettered_and_the_chat_goes_on() {
    needs_services!();
    let _one = SERIAL.lock().await;
    // One core: every replica dead-letters its own copy.
    let cluster = Cluster::start(1, 1).await;
    bus::unreadable_bus_messages_are_dead_lettered_with_their_reason(&cluster).await;
    let (rest, mut agent, mut visitor, token) = chat(&cluster, 0, 0).await;
    agent.send("still here", "a0").await;
    visitor.send("me too", "v0").await;
    let sent = ["still here".to_string(), "me too".to_string()];
    assert_converged(&rest, &token, &mut [&mut agent, &mut visitor], &sent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accept_race_across_two_cores_has_exactly_one_winner() {
    needs_services!();
    let _one = SERIAL.lock().await;
    let cluster = Cluster::start(2, 2).await;
    let rest = Rest::new(cluster.api());
    let admin = rest.login("admin", ADMIN_PASSWORD).await;
    let (room, _) = rest.room("Ana").await;
    let mut agents = vec![];
    for i in 0..6 {
        let token = rest.agent(&admin, &format!("agent{i}")).await;
        agents.push(Live::connect(cluster.ws(i % 2, &token), &room).await);
    }
    let answers = futures::future::join_all(
        agents.iter_mut().map(|a| a.request(json!({"type": "accept", "room_id": room.clone()}))),
    )
    .await;
    let wins = answers.iter().filter(|a| a["type"] == "ack").count();
    let conflicts = answers.iter().filter(|a| a["code"] == "conflict").count();
    assert_eq!((wins, conflicts), (1, 5), "{answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_away_and_a_private_note_hold_across_cores_and_gateways() {
    needs_services!();
    let _one = SERIAL.lock().await;
    let cluster = Cluster::start(2, 2).await;
    let rest = Rest::new(cluster.api());
    let admin = rest.login("admin", ADMIN_PASSWORD).await;
    let bea = rest.agent(&admin, "bea").await;
    let cal = rest.agent(&admin, "cal").await;
    let (first, visitor) = rest.room("Ana").await;
    let mut bea_ws = Live::connect(cluster.ws(0, &bea), &first).await;
    let mut cal_ws = Live::connect(cluster.ws(1, &cal), &first).await;
    let ack = bea_ws.request(json!({"type": "presence", "status": "away"})).await;
    assert_eq!(ack["agent"]["status"], "away", "{ack}");

    // Whichever core stores the next request, every replica stops offering
    // it to Bea; Cal gets it.
    let (second, _) = rest.room("Ben").await;
    cal_ws
        .wait_for("the new room", |f| f["type"] == "room_queued" && f["room"]["id"] == second.as_str())
        .await;
    let frames = bea_ws.frames_for(Duration::from_secs(1)).await;
    assert!(!frames.iter().any(|f| f["type"] == "room_queued"), "away, yet offered: {frames:?}");
    // Cal, on the other gateway, sees her away.
    let team = cal_ws.request(json!({"type": "team"})).await;
    let away: Vec<&Value> =
        team["agents"].as_array().unwrap().iter().filter(|a| a["status"] == "away").collect();
    assert_eq!(away.len(), 1, "{team}");
    assert_eq!(away[0]["name"], "bea");

    // Cal takes Ana's room and writes a note from gateway 1; his tab on
    // gateway 0 sees it, Ana's connection (gateway 0) never does.
    let ack = cal_ws.request(json!({"type": "accept", "room_id": first})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let mut cal_other = Live::connect(cluster.ws(0, &cal), &first).await;
    let mut ana = Live::connect(cluster.ws(0, &visitor), &first).await;
    let note = cal_ws
        .request(json!({"type": "note", "room_id": first, "content": "refund approved by finance"}))
        .await;
    assert_eq!(note["type"], "ack", "{note}");
    cal_other
        .wait_for("the note", |f| f["type"] == "note" && f["note"]["content"] == "refund approved by finance")
        .await;
    cal_ws.send("Good news, Ana", "c1").await;
    ana.wait_for("the reply", |f| f["type"] == "message" && f["message"]["content"] == "Good news, Ana")
        .await;
    let frames = ana.frames_for(Duration::from_millis(500)).await;
    assert!(!frames.iter().any(|f| f.to_string().contains("refund approved")), "{frames:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_broker_connections_mid_chat_loses_and_repeats_nothing() {
    needs_services!();
    let _one = SERIAL.lock().await;
    let cluster = Cluster::start(2, 2).await;
    let (rest, mut agent, mut visitor, token) = chat(&cluster, 0, 1).await;
    let mut sent = vec![];
    for i in 0..30 {
        if i == 10 {
            let status = std::process::Command::new("rabbitmqctl")
                .args(["close_all_connections", "livechat fault test"])
                .output()
                .expect("rabbitmqctl is needed for the broker fault test");
            assert!(status.status.success(), "rabbitmqctl failed: {status:?}");
        }
        let a = format!("agent {i}");
        let v = format!("visitor {i}");
        agent.send(&a, &format!("a{i}")).await;
        visitor.send(&v, &format!("v{i}")).await;
        sent.extend([a, v]);
    }
    // Gateways report ready only when the cores (and so the bus) are back.
    for g in &cluster.gateways {
        cluster::wait_ready(g.port, &g.name).await;
    }
    agent.drain(Duration::from_secs(2)).await;
    visitor.drain(Duration::from_secs(2)).await;
    assert_converged(&rest, &token, &mut [&mut agent, &mut visitor], &sent).await;
    // Every core ended its streams to resynchronise after reconnecting; the
    // gateways subscribed again and caught up without the clients noticing.
    assert_eq!((agent.connections, visitor.connections), (1, 1), "the clients' WebSockets stayed open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_killed_mid_chat_leaves_the_other_to_carry_on() {
    needs_services!();
    let _one = SERIAL.lock().await;
    let mut cluster = Cluster::start(2, 2).await;
    let (rest, mut agent, mut visitor, token) = chat(&cluster, 0, 1).await;
    let mut sent = vec![];
    let mut failed_first_try = vec![];
    for i in 0..20 {
        if i == 7 {
            cluster.cores[0].kill();
            // The gateways take a dead replica out of the balance within 2 s.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let a = format!("agent {i}");
        let v = format!("visitor {i}");
        for (side, text, id) in [(&mut agent, &a, format!("a{i}")), (&mut visitor, &v, format!("v{i}"))] {
            if i >= 7 {
                // 2 s after the kill, every send succeeds on its first try.
                let ack = side
                    .request(json!({"type": "send", "room_id": side.room, "content": text, "client_id": id}))
                    .await;
                if ack["type"] == "ack" {
                    side.record(&ack["message"]);
                    continue;
                }
                failed_first_try.push(format!("{text}: {ack}"));
            }
            side.send(text, &id).await;
        }
        sent.extend([a, v]);
    }
    assert!(failed_first_try.is_empty(), "sends that failed 2 s after the kill: {failed_first_try:?}");
    assert_converged(&rest, &token, &mut [&mut agent, &mut visitor], &sent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_ws_gateway_lets_its_clients_recover_by_seq() {
    needs_services!();
    let _one = SERIAL.lock().await;
    let mut cluster = Cluster::start(1, 2).await;
    let (rest, mut agent, mut visitor, token) = chat(&cluster, 0, 1).await;
    let mut sent = vec![];
    for i in 0..20 {
        if i == 5 {
            let status = cluster.gateways[0].terminate().expect("gateway was running");
            assert!(status.success(), "a SIGTERMed gateway exits 0, got {status:?}");
        }
        if i == 8 {
            cluster.gateways[0].restart();
            cluster::wait_ready(cluster.gateways[0].port, "ws-0").await;
        }
        let v = format!("visitor {i}");
        visitor.send(&v, &format!("v{i}")).await;
        sent.push(v);
        if i >= 8 {
            let a = format!("agent {i}");
            agent.send(&a, &format!("a{i}")).await;
            sent.push(a);
        }
    }
    assert_converged(&rest, &token, &mut [&mut agent, &mut visitor], &sent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_drops_readiness_and_loses_no_stored_message() {
    needs_services!();
    let _one = SERIAL.lock().await;
    let cluster = Cluster::start(2, 2).await;
    let (rest, mut agent, mut visitor, token) = chat(&cluster, 0, 1).await;
    let room = agent.room.clone();
    let mut sent = vec![];
    for i in 0..10 {
        let (a, v) = (format!("agent {i}"), format!("visitor {i}"));
        agent.send(&a, &format!("a{i}")).await;
        visitor.send(&v, &format!("v{i}")).await;
        sent.extend([a, v]);
    }

    let (db, _) = services().expect("checked above");
    let outage = PostgresOutage::begin(&db);
    cluster::wait_readiness(cluster.http.port, "http-gateway", false).await;
    for g in &cluster.gateways {
        cluster::wait_readiness(g.port, &g.name, false).await;
    }
    let asked = std::time::Instant::now();
    let (status, body) =
        rest.call(reqwest::Method::GET, &format!("/rooms/{room}/messages"), Some(&token), None).await;
    assert_eq!((status, body["code"].as_str()), (503, Some("unavailable")), "{body}");
    eprintln!("REST during the outage: 503 unavailable after {:?}", asked.elapsed());
    let during = "sent while the database was down";
    let answer = visitor
        .request(json!({"type": "send", "room_id": room, "content": during, "client_id": "during"}))
        .await;
    assert_eq!((answer["type"].as_str(), answer["code"].as_str()), (Some("error"), Some("unavailable")));
    drop(outage);

    cluster::wait_ready(cluster.http.port, "http-gateway").await;
    for g in &cluster.gateways {
        cluster::wait_ready(g.port, &g.name).await;
    }
    // The refused send, retried with its client_id, is stored once.
    visitor.send(during, "during").await;
    sent.push(during.to_string());
    for i in 10..20 {
        let (a, v) = (format!("agent {i}"), format!("visitor {i}"));
        agent.send(&a, &format!("a{i}")).await;
        visitor.send(&v, &format!("v{i}")).await;
        sent.extend([a, v]);
    }
    assert_converged(&rest, &token, &mut [&mut agent, &mut visitor], &sent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_messenger_and_wechat_customers_reach_agents_through_rabbitmq() {
    needs_services!();
    let _one = SERIAL.lock().await;
    // Two cores: a room's messages are stored by either, and still reach
    // the customer in seq order (one replica at a time relays them).
    let cluster = Cluster::start(2, 1).await;
    channels::every_channel_reaches_agents_through_rabbitmq(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_messages_survive_broker_faults_and_undeliverable_ones_are_dead_lettered() {
    needs_services!();
    let _one = SERIAL.lock().await;
    let cluster = Cluster::start(1, 1).await;
    channels::broker_faults_lose_and_double_nothing_and_dead_letters_are_kept(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_without_rabbitmq_loses_nothing_and_the_outbox_drains_after() {
    needs_services!();
    let _one = SERIAL.lock().await;
    let cluster = Cluster::start(2, 1).await;
    let (rest, mut agent, mut visitor, token) = chat(&cluster, 0, 0).await;
    let mut sent = vec![];
    for i in 0..3 {
        let (a, v) = (format!("before {i} (agent)"), format!("before {i} (visitor)"));
        agent.send(&a, &format!("a-before-{i}")).await;
        visitor.send(&v, &format!("v-before-{i}")).await;
        sent.extend([a, v]);
    }
    let outage = RabbitOutage::begin();
    for port in &cluster.core_ops_ports {
        cluster::wait_readiness(*port, "core", false).await;
    }
    // A minute without the broker: every send is stored and acknowledged
    // on its first try (the outbox keeps the events).
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut i = 0;
    let mut not_acked = vec![];
    while tokio::time::Instant::now() < until {
        for (side, who) in [(&mut agent, "agent"), (&mut visitor, "visitor")] {
            let text = format!("during {i} ({who})");
            let frame = json!({"type": "send", "room_id": side.room, "content": text, "client_id": format!("{who}-during-{i}")});
            let ack = side.request(frame).await;
            if ack["type"] == "ack" {
                side.record(&ack["message"]);
            } else {
                not_acked.push(format!("{text}: {ack}"));
                side.send(&text, &format!("{who}-during-{i}")).await;
            }
            sent.push(text);
        }
        i += 1;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(not_acked.is_empty(), "sends refused while the broker was down: {not_acked:?}");
    drop(outage);
    for port in &cluster.core_ops_ports {
        cluster::wait_readiness(*port, "core", true).await;
    }
    for i in 0..3 {
        let (a, v) = (format!("after {i} (agent)"), format!("after {i} (visitor)"));
        agent.send(&a, &format!("a-after-{i}")).await;
        visitor.send(&v, &format!("v-after-{i}")).await;
        sent.extend([a, v]);
    }
    assert_converged(&rest, &token, &mut [&mut agent, &mut visitor], &sent).await;
    // And nothing is left waiting in the outbox.
    for core in 0..cluster.cores.len() {
        let mut drained = false;
        for _ in 0..100 {
            let metrics = cluster.core_metrics(core).await;
            if metrics.lines().any(|l| l == "livechat_outbox_rows 0") {
                drained = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(drained, "core {core}'s outbox drained after the outage");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_every_role_under_load_loses_doubles_and_fails_nothing() {
    needs_services!();
    let _one = SERIAL.lock().await;
    let mut cluster = Cluster::start_with_spares(2, 2, 1).await;
    rolling::every_role_restarted_one_at_a_time_under_load(&mut cluster).await;
}
