//! A stand-in for a Kubernetes Service in front of one role: a TCP proxy
//! on its own port that sends each new connection to one of the backends
//! whose `/readyz` says ready (checked every 200 ms, as endpoints follow
//! readiness probes), round robin. A connection stays with the backend it
//! was given until either side closes it, as with kube-proxy.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

pub struct Service {
    pub port: u16,
    /// Every backend's port, and whether it is ready.
    backends: Arc<Mutex<Vec<(u16, bool)>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.tasks.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

impl Service {
    pub async fn front(ports: &[u16]) -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let backends = Arc::new(Mutex::new(ports.iter().map(|p| (*p, false)).collect::<Vec<_>>()));
        let probe = tokio::spawn(follow_readiness(backends.clone()));
        let proxy = tokio::spawn(forward(listener, backends.clone()));
        let service = Service { port, backends, tasks: vec![probe, proxy] };
        for p in ports {
            service.wait_routed(*p).await;
        }
        service
    }

    /// Adds a backend and waits until it is given connections.
    pub async fn add(&self, port: u16) {
        self.backends.lock().unwrap().push((port, false));
        self.wait_routed(port).await;
    }

    /// Forgets a backend that is gone for good.
    pub fn remove(&self, port: u16) {
        self.backends.lock().unwrap().retain(|(p, _)| *p != port);
    }

    async fn wait_routed(&self, port: u16) {
        for _ in 0..300 {
            if self.backends.lock().unwrap().iter().any(|(p, ready)| *p == port && *ready) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("backend {port} never became ready behind the service");
    }
}

async fn follow_readiness(backends: Arc<Mutex<Vec<(u16, bool)>>>) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(1)).build().unwrap();
    loop {
        let ports: Vec<u16> = backends.lock().unwrap().iter().map(|(p, _)| *p).collect();
        for port in ports {
            let ready = client
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            for b in backends.lock().unwrap().iter_mut().filter(|(p, _)| *p == port) {
                b.1 = ready;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn forward(listener: TcpListener, backends: Arc<Mutex<Vec<(u16, bool)>>>) {
    let next = AtomicUsize::new(0);
    loop {
        let Ok((mut client, _)) = listener.accept().await else { continue };
        let ready: Vec<u16> =
            backends.lock().unwrap().iter().filter(|(_, ready)| *ready).map(|(p, _)| *p).collect();
        if ready.is_empty() {
            // No endpoint: the connection is refused, as by a Service with none.
            continue;
        }
        let port = ready[next.fetch_add(1, Ordering::Relaxed) % ready.len()];
        tokio::spawn(async move {
            if let Ok(mut backend) = TcpStream::connect(("127.0.0.1", port)).await {
                let _ = backend.set_nodelay(true);
                let _ = client.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
            }
        });
    }
}
