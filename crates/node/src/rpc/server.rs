//! The HTTP and WebSocket server (one port, as anvil serves both) with geth's protective
//! defaults: request and response size limits, a batch limit, a connection limit, timeouts
//! against slow clients, a Host allowlist (`--http.vhosts`) and a WebSocket Origin allowlist
//! (`--ws.origins`).
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

/// Starts the HTTP and WebSocket server.
pub async fn serve(ctx: RpcCtx, config: &ServerConfig) -> anyhow::Result<(ServerHandle, SocketAddr)> {
    let settings = jsonrpsee::server::ServerConfig::builder()
        .max_request_body_size(config.max_request_bytes)
        .max_response_body_size(config.max_response_bytes)
        .max_connections(config.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(config.max_batch))
        .set_first_request_timeout(Some(config.first_request_timeout))
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
    let server = Server::builder().set_config(settings).set_http_middleware(middleware).build(config.addr).await?;
    let local = server.local_addr()?;
    let handle = server.start(module(ctx));
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
}
