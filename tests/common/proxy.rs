//! A TCP proxy to Redis whose connections can be frozen: bytes stop flowing both ways but the
//! sockets stay open, as with a dead peer behind a NAT. Connections made after a freeze work.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

pub struct Proxy {
    pub port: u16,
    /// Bumped by `freeze_existing`: connections made under an older value are frozen.
    all: Arc<AtomicU64>,
    /// Bumped by `freeze_existing_waits`: the same, for connections that sent a `BZPOPMIN`.
    waits: Arc<AtomicU64>,
}

/// One proxied connection: the generations it was made under, and whether its client has sent
/// a marker wait (a worker's blocking connection).
struct Link {
    all: Arc<AtomicU64>,
    waits: Arc<AtomicU64>,
    born_all: u64,
    born_waits: u64,
    sent_wait: AtomicBool,
}

impl Link {
    fn frozen(&self) -> bool {
        self.all.load(Ordering::SeqCst) != self.born_all
            || (self.sent_wait.load(Ordering::SeqCst) && self.waits.load(Ordering::SeqCst) != self.born_waits)
    }
}

async fn pump(mut r: OwnedReadHalf, mut w: OwnedWriteHalf, link: Arc<Link>, upstream: bool) {
    let mut buf = vec![0u8; 16384];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if upstream && buf[..n].windows(8).any(|x| x.eq_ignore_ascii_case(b"BZPOPMIN")) {
            link.sent_wait.store(true, Ordering::SeqCst);
        }
        if link.frozen() {
            // Frozen: swallow everything and keep the socket open.
            std::future::pending::<()>().await;
        }
        if w.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    pub async fn start(target: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (all, waits) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (a, wt) = (all.clone(), waits.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let link = Arc::new(Link {
                    all: a.clone(),
                    waits: wt.clone(),
                    born_all: a.load(Ordering::SeqCst),
                    born_waits: wt.load(Ordering::SeqCst),
                    sent_wait: AtomicBool::new(false),
                });
                let server = tokio::net::TcpStream::connect(("127.0.0.1", target)).await.unwrap();
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, link.clone(), true));
                tokio::spawn(pump(sr, cw, link, false));
            }
        });
        Proxy { port, all, waits }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Freezes every connection made so far.
    pub fn freeze_existing(&self) {
        self.all.fetch_add(1, Ordering::SeqCst);
    }

    /// Freezes the connections made so far that have sent a `BZPOPMIN`, at their next bytes
    /// either way: a worker's blocking connection, while its other connections keep working.
    pub fn freeze_existing_waits(&self) {
        self.waits.fetch_add(1, Ordering::SeqCst);
    }
}
