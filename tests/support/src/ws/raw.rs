//! [`RawWs`]: a WebSocket read frame by frame, to see exactly what the
//! server wrote (pings and close frames included), and written only with
//! frames a test builds by hand (ones a real client library would refuse
//! to send).

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::FRAME_TIMEOUT;
use crate::app::TestApp;

/// A WebSocket over a bare TCP stream that writes nothing of its own after the upgrade
/// (so it answers no ping), for reading exactly what the server sent,
/// including a close frame a full client might miss while failing to send
/// its pongs to a socket the server already closed.
pub struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// One server frame: opcode and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// Opcode of a text frame.
    pub const TEXT: u8 = 0x1;
    /// Opcode of a close frame.
    pub const CLOSE: u8 = 0x8;
    /// Opcode of a ping frame.
    pub const PING: u8 = 0x9;

    /// The code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == Self::CLOSE && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

impl TestApp {
    /// Upgrades with the token in the query, by hand; asserts a 101.
    pub async fn raw_ws(&self, token: &str) -> RawWs {
        use tokio::io::AsyncWriteExt;
        let host = self.address.trim_start_matches("http://");
        let mut stream = TcpStream::connect(host).await.expect("connect");
        let req = format!(
            "GET /ws?access_token={token} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await.expect("send the upgrade");
        let mut raw = RawWs { stream, buf: Vec::new() };
        let end = loop {
            if let Some(i) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(raw.fill(FRAME_TIMEOUT).await, "the server closed during the upgrade");
        };
        let head = String::from_utf8_lossy(&raw.buf[..end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "the upgrade was refused: {head}");
        raw.buf.drain(..end);
        raw
    }
}

impl RawWs {
    /// Reads more bytes; false at the end of the stream.
    async fn fill(&mut self, wait: Duration) -> bool {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout(wait, self.stream.read(&mut chunk)).await {
            Err(_) => panic!("nothing from the server within {wait:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => false,
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Writes one masked client frame with `opcode` and `payload`, exactly
    /// as given (a text frame that is not UTF-8, say).
    pub async fn send_frame(&mut self, opcode: u8, payload: &[u8]) {
        use tokio::io::AsyncWriteExt;
        assert!(payload.len() < 126, "short frames only");
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.expect("write a frame");
    }

    /// The next whole frame; None when the stream ended first.
    pub async fn next_frame(&mut self, wait: Duration) -> Option<RawFrame> {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            if !self.fill(wait).await {
                return None;
            }
        }
    }

    /// Every frame until a close frame or the end of the stream, and the
    /// close code (None: no close frame came).
    pub async fn read_until_close(&mut self, wait: Duration) -> (Vec<RawFrame>, Option<u16>) {
        let deadline = Instant::now() + wait;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_frame(left).await {
                Some(f) if f.opcode == RawFrame::CLOSE => {
                    let code = f.close_code();
                    frames.push(f);
                    return (frames, code);
                }
                Some(f) => frames.push(f),
                None => return (frames, None),
            }
        }
    }
}

/// An unmasked server frame at the start of `buf`, and its length.
fn parse_frame(buf: &[u8]) -> Option<(RawFrame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0f;
    assert_eq!(buf[1] & 0x80, 0, "server frames are not masked");
    let (len, mut at) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize, 10),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    if buf.len() < at + len {
        return None;
    }
    let payload = buf[at..at + len].to_vec();
    at += len;
    Some((RawFrame { opcode, payload }, at))
}
