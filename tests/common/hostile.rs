//! Hostile clients on loopback. Linux routes all of 127.0.0.0/8 to `lo`, so a client that binds
//! its socket to 127.0.0.x before connecting is a client of its own IP address to the servers'
//! per-IP quotas. jsonrpsee's HTTP client cannot bind a source address, so these speak raw
//! HTTP/1.1 JSON-RPC (one keep-alive connection each); WebSockets use jsonrpsee's client over a
//! bound stream.

use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use serde_json::{Value, json};
use std::{
    io,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpSocket, TcpStream},
};

/// How long a raw call may take before it counts as not answered.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Loopback address number `n`: `loopback(1)` is 127.0.0.1, `loopback(258)` is 127.0.1.2.
pub fn loopback(n: u32) -> IpAddr {
    assert!(n > 0 && n < 1 << 24, "{n} is not in 127.0.0.0/8");
    IpAddr::V4(Ipv4Addr::from(0x7f00_0000 | n))
}

/// The socket address of an `http://host:port` URL.
pub fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("{url} is not http://ip:port: {e}"))
}

/// A TCP connection from `from` (port chosen by the OS) to `to`.
pub async fn connect_from(from: IpAddr, to: SocketAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    let stream = tokio::time::timeout(Duration::from_secs(5), socket.connect(to))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Whether the server is still holding `stream` open without a word after `wait`: it neither
/// closed it (EOF or reset) nor answered on it (e.g. HTTP 429).
pub async fn held_silently(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut byte = [0u8; 1];
    tokio::time::timeout(wait, stream.read(&mut byte)).await.is_err()
}

/// A JSON-RPC request object.
pub fn request(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// The error code of a JSON-RPC response object, if it is an error.
pub fn error_code(response: &Value) -> Option<i64> {
    response.get("error").and_then(|error| error["code"].as_i64())
}

/// One HTTP/1.1 keep-alive connection from a chosen address, speaking JSON-RPC.
pub struct RawHttp {
    stream: BufReader<TcpStream>,
    host: SocketAddr,
    next_id: u64,
}

impl RawHttp {
    /// Connects from `from` to the server at `to`.
    pub async fn connect(from: IpAddr, to: SocketAddr) -> io::Result<Self> {
        let stream = connect_from(from, to).await?;
        Ok(Self { stream: BufReader::new(stream), host: to, next_id: 1 })
    }

    /// POSTs `body` as JSON; the HTTP status and the response body.
    pub async fn post(&mut self, body: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        let head = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let exchange = async {
            let stream = self.stream.get_mut();
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body).await?;
            read_response(&mut self.stream).await
        };
        tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))?
    }

    /// Calls `method`; the response object (with `result` or `error`). An HTTP status other
    /// than 200 is an error of kind `Other` naming it.
    pub async fn call(&mut self, method: &str, params: Value) -> io::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let body = serde_json::to_vec(&request(id, method, params)).expect("JSON");
        self.call_raw(&body).await
    }

    /// POSTs a prepared JSON-RPC body (a call or a batch); the parsed answer.
    pub async fn call_raw(&mut self, body: &[u8]) -> io::Result<Value> {
        let (status, body) = self.post(body).await?;
        if status != 200 {
            return Err(io::Error::other(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            )));
        }
        serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// Reads one HTTP/1.1 response: the status and the body (by `Content-Length`, chunked, or up to
/// the end of the connection).
async fn read_response(stream: &mut BufReader<TcpStream>) -> io::Result<(u16, Vec<u8>)> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let mut line = String::new();
    if stream.read_line(&mut line).await? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed"));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("no status line"))?;
    let (mut length, mut chunked) = (None, false);
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "headers cut"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "content-length" {
                length = Some(value.parse::<usize>().map_err(|_| invalid("content-length"))?);
            } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            stream.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim_end().split(';').next().unwrap_or(""), 16)
                .map_err(|_| invalid("chunk size"))?;
            let start = body.len();
            body.resize(start + size + 2, 0);
            stream.read_exact(&mut body[start..]).await?;
            body.truncate(start + size);
            if size == 0 {
                break;
            }
        }
    } else if let Some(length) = length {
        body.resize(length, 0);
        stream.read_exact(&mut body).await?;
    } else {
        stream.read_to_end(&mut body).await?;
    }
    Ok((status, body))
}

/// A request that never finishes: the headers announce `announced` bytes of body and only a
/// few are sent. The server holds the request open, waiting for the rest, for as long as the
/// connection stays.
pub async fn slow_request(from: IpAddr, to: SocketAddr, announced: usize) -> io::Result<TcpStream> {
    let mut stream = connect_from(from, to).await?;
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {to}\r\nContent-Type: application/json\r\nContent-Length: {announced}\r\n\r\n{{\"jsonrpc\":"
    );
    stream.write_all(head.as_bytes()).await?;
    Ok(stream)
}

/// Sends a body of `size` bytes (a call whose string parameter never ends), announced with its
/// length or, if `chunked`, in chunks of 64 KiB without one, for as long as the server reads it; the HTTP status of the answer, or
/// `None` if the server closed without one. The body is sent only if the headers alone get no
/// answer within 20 ms: a server that refuses a length it is told gets nothing more.
pub async fn huge_body(
    from: IpAddr,
    to: SocketAddr,
    size: usize,
    chunked: bool,
) -> io::Result<Option<u16>> {
    let stream = connect_from(from, to).await?;
    let (read, mut write) = stream.into_split();
    let length = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {size}")
    };
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {to}\r\nContent-Type: application/json\r\n{length}\r\n\r\n"
    );
    write.write_all(head.as_bytes()).await?;
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        // A JSON-RPC call whose string parameter never ends: the server reads on, to its limit.
        let mut chunk = vec![b'x'; 64 * 1024];
        let start = br#"{"jsonrpc":"2.0","id":1,"method":"rpc.discover","params":[""#;
        chunk[..start.len()].copy_from_slice(start);
        let mut sent = 0;
        while sent < size {
            let n = chunk.len().min(size - sent);
            if chunked {
                write.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                write.write_all(&chunk[..n]).await?;
                write.write_all(b"\r\n").await?;
            } else {
                write.write_all(&chunk[..n]).await?;
            }
            sent += n;
            chunk[..start.len()].fill(b'x');
        }
        if chunked {
            write.write_all(b"0\r\n\r\n").await?;
        }
        io::Result::Ok(write)
    });
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    let status = tokio::time::timeout(CALL_TIMEOUT, reader.read_line(&mut line))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))?;
    sender.abort();
    match status {
        Ok(0) | Err(_) => Ok(None),
        Ok(_) => Ok(line.split_whitespace().nth(1).and_then(|code| code.parse().ok())),
    }
}

/// A jsonrpsee WebSocket client whose connection comes from `from`.
pub async fn ws_from(from: IpAddr, to: SocketAddr) -> Result<WsClient, String> {
    let stream = connect_from(from, to).await.map_err(|e| e.to_string())?;
    WsClientBuilder::default()
        .request_timeout(CALL_TIMEOUT)
        .max_request_size(16 << 20)
        .build_with_stream(format!("ws://{to}"), stream)
        .await
        .map_err(|e| e.to_string())
}

/// The resident set size of process `pid`, in KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for process {pid}"))
}
