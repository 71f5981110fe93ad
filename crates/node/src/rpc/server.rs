//! The HTTP and WebSocket server (one port, as anvil serves both) with geth's protective
//! defaults: request and response size limits, a batch limit, a connection limit, first-request,
//! idle and request timeouts against slow clients, a Host allowlist (`--http.vhosts`) and a
//! WebSocket Origin allowlist (`--ws.origins`).
//!
//! What it must never do: read an unbounded request, or let connections that never finish
//! a request lock other clients out.

use super::{RpcCtx, module, pubsub::HexIdProvider};
use http::{HeaderValue, Request, Response, StatusCode, header};
use jsonrpsee::server::{BatchRequestConfig, HttpBody, Server, ServerHandle};
use std::{net::SocketAddr, time::Duration};
use tower_http::validate_request::{ValidateRequest, ValidateRequestHeaderLayer};

/// How the server listens and what it lets in. The defaults are geth's.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen address.
    pub addr: SocketAddr,
    /// Allowed CORS origins for browsers (`--http.corsdomain`): `*`, or a comma-separated list.
    pub cors: Option<String>,
    /// Allowed `Host` header names (`--http.vhosts`): `*`, or a comma-separated list. A Host
    /// that is an IP address is always allowed, as in geth.
    pub vhosts: String,
    /// Allowed `Origin`s of WebSocket clients (`--ws.origins`): `*`, or a comma-separated list.
    /// Clients that send no Origin (anything but a browser) are always allowed.
    pub ws_origins: String,
    /// Largest request body, in bytes.
    pub max_request_bytes: u32,
    /// Largest response body, in bytes.
    pub max_response_bytes: u32,
    /// Most calls in one batch.
    pub max_batch: u32,
    /// Most open connections.
    pub max_connections: u32,
    /// How long a connection may take to send its first request.
    pub first_request_timeout: Duration,
    /// How long a connection may stay silent (no byte either way) before it is closed, as
    /// geth's idle timeout; WebSocket connections are pinged well within it.
    pub idle_timeout: Duration,
    /// How long one HTTP request may take, body included.
    pub request_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8545)),
            cors: None,
            vhosts: "localhost".into(),
            ws_origins: String::new(),
            max_request_bytes: 5 * 1024 * 1024,
            max_response_bytes: 25 * 1024 * 1024,
            max_batch: 1000,
            max_connections: 500,
            first_request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A comma-separated allowlist; `*` allows everything.
#[derive(Debug, Clone)]
struct Allowlist {
    any: bool,
    entries: Vec<String>,
}

impl Allowlist {
    fn parse(list: &str) -> Self {
        let entries: Vec<String> =
            list.split(',').map(|e| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty()).collect();
        Allowlist { any: entries.iter().any(|e| e == "*"), entries }
    }

    fn allows(&self, value: &str) -> bool {
        self.any || self.entries.iter().any(|e| e == &value.to_ascii_lowercase())
    }
}

/// Refuses requests whose Host is not allowed, and WebSocket upgrades whose Origin is not.
#[derive(Debug, Clone)]
struct Gatekeeper {
    vhosts: Allowlist,
    ws_origins: Allowlist,
}

fn refuse(status: StatusCode, message: &str) -> Response<HttpBody> {
    let mut response = Response::new(HttpBody::from(message.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// The host name of a Host header value (`name`, `name:port`, `[v6]:port`).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':')
        .map_or(host, |(name, port)| if port.chars().all(|c| c.is_ascii_digit()) { name } else { host })
}

impl<B> ValidateRequest<B> for Gatekeeper {
    type ResponseBody = HttpBody;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response<HttpBody>> {
        let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
        let name = host_name(host);
        if !(name.parse::<std::net::IpAddr>().is_ok() || self.vhosts.allows(name)) {
            return Err(refuse(StatusCode::FORBIDDEN, "invalid host specified (allow it with --http.vhosts)\n"));
        }
        let upgrade = request
            .headers()
            .get(header::UPGRADE)
            .and_then(|u| u.to_str().ok())
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        if upgrade
            && let Some(origin) = request.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok())
            && !self.ws_origins.allows(origin)
        {
            return Err(refuse(StatusCode::FORBIDDEN, "websocket origin not allowed (allow it with --ws.origins)\n"));
        }
        Ok(())
    }
}

/// jsonrpsee answers a request whose `id` is not a string, a number or null (an object, an
/// array, a fraction) with a bare `null`, which no client can read; geth answers with an
/// invalid-request error. This puts geth's answer in its place.
async fn answer_bad_ids(
    response: Response<HttpBody>,
) -> Result<Response<HttpBody>, Box<dyn std::error::Error + Send + Sync>> {
    use http_body_util::BodyExt;
    if response.status() != StatusCode::OK {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let body = if bytes.as_ref() == b"null" {
        HttpBody::from(
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request: the id must be a string, a number without a fraction, or null"}}"#
                .to_string(),
        )
    } else {
        HttpBody::from(bytes.to_vec())
    };
    let mut response = Response::from_parts(parts, body);
    response.headers_mut().remove(header::CONTENT_LENGTH);
    Ok(response)
}

/// The CORS layer for `--http.corsdomain`: `*` for any origin, or a comma-separated list.
pub fn cors_layer(domains: &str) -> anyhow::Result<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    let layer = CorsLayer::new()
        .allow_methods([http::Method::POST, http::Method::GET, http::Method::OPTIONS])
        .allow_headers(Any);
    if domains.trim() == "*" {
        return Ok(layer.allow_origin(Any));
    }
    let origins = domains
        .split(',')
        .map(|d| d.trim().parse::<http::HeaderValue>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--http.corsdomain {domains:?}: {e}"))?;
    Ok(layer.allow_origin(AllowOrigin::list(origins)))
}

/// A connection that fails once nothing has been read or written for its deadline: first the
/// first-request timeout, then the idle timeout after every byte. So a client that opens
/// connections and sends nothing (or stops halfway) cannot hold them. Reads alone never extend
/// a request past its window (the first-request timeout for the first, `window` from its first
/// byte for later ones) until the node writes: a client trickling a request's headers a byte at
/// a time cannot hold a connection either.
struct Silence<S> {
    inner: S,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    idle: Duration,
    window: Duration,
    /// When the request being read must be complete; `None` between requests.
    request_due: Option<tokio::time::Instant>,
}

impl<S> Silence<S> {
    fn new(inner: S, first: Duration, idle: Duration, window: Duration) -> Self {
        let due = tokio::time::Instant::now() + first;
        Silence { inner, deadline: Box::pin(tokio::time::sleep_until(due)), idle, window, request_due: Some(due) }
    }

    fn heard(&mut self) {
        let now = tokio::time::Instant::now();
        let due = *self.request_due.get_or_insert(now + self.window);
        self.deadline.as_mut().reset((now + self.idle).min(due));
    }

    fn answered(&mut self) {
        self.request_due = None;
        let next = tokio::time::Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }

    fn timed_out(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn silent() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "the connection was silent for too long")
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Silence<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let before = buf.filled().len();
        match std::pin::Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.heard();
                }
                Poll::Ready(result)
            }
            Poll::Pending if self.timed_out(cx) => Poll::Ready(Err(silent())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Silence<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let written = std::pin::Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(written, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.answered();
        }
        written
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Starts the HTTP and WebSocket server: our own accept loop (jsonrpsee's service per
/// connection), so that each connection is bounded by [`ServerConfig::max_connections`] and
/// closed when silent.
pub async fn serve(ctx: RpcCtx, config: &ServerConfig) -> anyhow::Result<(ServerHandle, SocketAddr)> {
    let ping = jsonrpsee::server::PingConfig::new()
        .ping_interval(config.idle_timeout / 4)
        .inactive_limit(config.idle_timeout / 2);
    let settings = jsonrpsee::server::ServerConfig::builder()
        .max_request_body_size(config.max_request_bytes)
        .max_response_body_size(config.max_response_bytes)
        .max_connections(config.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(config.max_batch))
        .enable_ws_ping(ping)
        .set_id_provider(HexIdProvider::default())
        .build();
    let cors = config.cors.as_deref().map(cors_layer).transpose()?;
    let gatekeeper =
        Gatekeeper { vhosts: Allowlist::parse(&config.vhosts), ws_origins: Allowlist::parse(&config.ws_origins) };
    let middleware = tower::ServiceBuilder::new()
        .layer(ValidateRequestHeaderLayer::custom(gatekeeper))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, config.request_timeout))
        .option_layer(cors)
        .and_then(answer_bad_ids);
    let services = Server::builder().set_config(settings).set_http_middleware(middleware).to_service_builder();
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let local = listener.local_addr()?;
    let methods: jsonrpsee::Methods = module(ctx).into();
    let (stop, handle) = jsonrpsee::server::stop_channel();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(config.max_connections as usize));
    // A request may take this long from its first byte to its last before the node answers:
    // the request timeout plus the first-request timeout's allowance for reading it.
    let (first, idle) = (config.first_request_timeout, config.idle_timeout);
    let window = config.request_timeout + config.first_request_timeout;
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stop.clone().shutdown() => break,
            };
            let Ok((socket, _)) = accepted else { continue };
            // Over the limit: close at once rather than queue, so the slots free up.
            let Ok(slot) = slots.clone().try_acquire_owned() else { continue };
            let _ = socket.set_nodelay(true);
            let service = services.clone().build(methods.clone(), stop.clone());
            let stopped = stop.clone().shutdown();
            tokio::spawn(async move {
                let io = Silence::new(socket, first, idle, window);
                if let Err(e) = jsonrpsee::server::serve_with_graceful_shutdown(io, service, stopped).await {
                    tracing::debug!("connection closed: {e}");
                }
                drop(slot);
            });
        }
    });
    Ok((handle, local))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins_are_checked_as_geth_does() {
        let mut gate = Gatekeeper { vhosts: Allowlist::parse("localhost"), ws_origins: Allowlist::parse("") };
        let request = |host: &str, origin: Option<&str>| {
            let mut builder = Request::builder().header(header::HOST, host);
            if let Some(origin) = origin {
                builder = builder.header(header::UPGRADE, "websocket").header(header::ORIGIN, origin);
            }
            builder.body(()).unwrap()
        };
        assert!(gate.validate(&mut request("localhost:8545", None)).is_ok());
        assert!(gate.validate(&mut request("127.0.0.1:8545", None)).is_ok(), "an IP is always allowed");
        assert!(gate.validate(&mut request("[::1]:8545", None)).is_ok());
        assert!(gate.validate(&mut request("evil.example:8545", None)).is_err());
        assert!(gate.validate(&mut request("localhost", Some("http://evil.example"))).is_err());
        gate.ws_origins = Allowlist::parse("http://app.example, http://other.example");
        assert!(gate.validate(&mut request("localhost", Some("http://app.example"))).is_ok());
        gate.vhosts = Allowlist::parse("*");
        assert!(gate.validate(&mut request("anything.example", None)).is_ok());
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_and_a_talking_one_is_not() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let ms = Duration::from_millis;
        let (_client, server) = tokio::io::duplex(64);
        let mut silent = Silence::new(server, ms(100), ms(300), ms(1000));
        let started = std::time::Instant::now();
        let error = silent.read_u8().await.expect_err("times out");
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= ms(100));

        // Bytes 60 ms apart, each answered: every answer starts a new request window.
        let (mut client, server) = tokio::io::duplex(64);
        let mut talking = Silence::new(server, ms(100), ms(300), ms(1000));
        let writer = tokio::spawn(async move {
            for byte in 0..8u8 {
                tokio::time::sleep(ms(60)).await;
                client.write_u8(byte).await.unwrap();
                client.read_u8().await.unwrap();
            }
            client
        });
        for byte in 0..8u8 {
            assert_eq!(talking.read_u8().await.expect("each answered byte resets the deadline"), byte);
            talking.write_u8(byte).await.unwrap();
        }
        let _client = writer.await.unwrap();
        assert_eq!(talking.read_u8().await.expect_err("then silence").kind(), std::io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_request_trickled_a_byte_at_a_time_is_cut_off_at_its_window() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let ms = Duration::from_millis;
        let (mut client, server) = tokio::io::duplex(64);
        // First request: 200 ms from the connection's start, however often bytes arrive.
        let mut trickled = Silence::new(server, ms(200), ms(300), ms(1000));
        let writer = tokio::spawn(async move {
            for byte in 0..20u8 {
                tokio::time::sleep(ms(40)).await;
                if client.write_u8(byte).await.is_err() {
                    break;
                }
            }
        });
        let started = std::time::Instant::now();
        let mut read = 0;
        let error = loop {
            match trickled.read_u8().await {
                Ok(_) => read += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert!(read < 8 && started.elapsed() < ms(400), "{read} bytes in {:?}", started.elapsed());
        writer.abort();
    }
}
