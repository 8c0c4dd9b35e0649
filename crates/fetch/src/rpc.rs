//! The JSON-RPC client: alloy's [`RpcClient`] over its reqwest HTTP transport, with what a
//! long fetch against a real node needs around it.
//!
//! - **Bounded in-flight requests**: a semaphore of [`RpcConfig::concurrency`] permits; a
//!   batch holds one permit (it is one HTTP request).
//! - **Requests-per-second limiter** ([`RpcConfig::requests_per_second`]): HTTP requests are
//!   spaced evenly, `1/R` seconds apart.
//! - **Retries** with exponential backoff and full jitter on what is transient: transport
//!   errors (refused or dropped connections), timeouts, HTTP 408/429/5xx, a malformed or
//!   truncated answer, and the node's own rate-limit errors (code 429 or -32005). A node's
//!   other error answers (method not found, invalid params, pruned history...) are permanent
//!   and returned at once, with the node's code and message.
//! - **Batches** ([`Rpc::batch`]): JSON-RPC batches of at most [`RpcConfig::max_batch`] calls;
//!   a node that refuses batches (an HTTP 4xx, or an answer that is not a batch) switches the
//!   client to single calls for the rest of the run.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use alloy_json_rpc::RpcError;
use alloy_rpc_client::RpcClient;
use alloy_transport::{TransportError, TransportErrorKind};
use alloy_transport_http::reqwest;
use futures_util::future::join_all;
use serde_json::Value;
use tokio::sync::Semaphore;

/// How the client talks to the node.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// The node's HTTP JSON-RPC URL.
    pub url: String,
    /// HTTP requests in flight at most.
    pub concurrency: usize,
    /// HTTP requests per second at most; `None`: unlimited.
    pub requests_per_second: Option<f64>,
    /// Time limit of one HTTP request (a batch included).
    pub timeout: Duration,
    /// Attempts per call, the first included (at least 1).
    pub max_attempts: u32,
    /// First retry delay; doubled per attempt, up to [`RpcConfig::max_backoff`].
    pub base_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Calls per JSON-RPC batch at most; 1 disables batches.
    pub max_batch: usize,
}

impl RpcConfig {
    /// Defaults for `url`: 8 requests in flight, no rate limit, 120 s timeout, 8 attempts
    /// (backoff 250 ms doubling up to 8 s), batches of 100.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            concurrency: 8,
            requests_per_second: None,
            timeout: Duration::from_secs(120),
            max_attempts: 8,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_batch: 100,
        }
    }
}

/// A call that failed for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcFailure {
    /// The node answered with a JSON-RPC error (not retried unless it is a rate limit).
    #[error("{method}: the node answered error {code}: {message}")]
    Node {
        /// The method called.
        method: String,
        /// The node's error code.
        code: i64,
        /// The node's message (and data, if any).
        message: String,
    },
    /// No usable answer after every attempt (or a permanent HTTP or decoding failure).
    #[error("{method}: {reason} (after {attempts} attempt(s))")]
    Transport {
        /// The method called.
        method: String,
        /// The last attempt's failure.
        reason: String,
        /// Attempts made.
        attempts: u32,
    },
}

impl RpcFailure {
    /// Whether the node said it does not have the method (JSON-RPC -32601, or the
    /// "not found / not available / unsupported" wording some clients use with other codes).
    pub fn is_method_not_found(&self) -> bool {
        match self {
            Self::Node { code, message, .. } => {
                let m = message.to_ascii_lowercase();
                *code == -32601
                    || m.contains("method not found")
                    || m.contains("does not exist")
                    || m.contains("not supported")
                    || m.contains("unsupported method")
                    || m.contains("not available")
            }
            Self::Transport { .. } => false,
        }
    }
}

/// Counters of a client's traffic, for progress and the summary.
#[derive(Debug, Default)]
pub struct RpcStats {
    /// JSON-RPC calls answered (batched or not), retries excluded.
    pub calls: AtomicU64,
    /// HTTP requests sent, retries included.
    pub http_requests: AtomicU64,
    /// Retried attempts.
    pub retries: AtomicU64,
}

/// One attempt's failure, classified.
#[derive(Debug)]
struct Attempt {
    retryable: bool,
    node: Option<(i64, String)>,
    reason: String,
}

fn classify(error: &TransportError) -> Attempt {
    let transient = |reason: String| Attempt {
        retryable: true,
        node: None,
        reason,
    };
    let permanent = |reason: String| Attempt {
        retryable: false,
        node: None,
        reason,
    };
    match error {
        RpcError::ErrorResp(payload) => {
            let mut message = payload.message.to_string();
            if let Some(data) = &payload.data {
                message.push_str(&format!(" ({})", data.get()));
            }
            let lower = message.to_ascii_lowercase();
            let rate_limited = payload.code == 429
                || payload.code == -32005
                || lower.contains("rate limit")
                || lower.contains("too many requests");
            Attempt {
                retryable: rate_limited,
                node: Some((payload.code, message.clone())),
                reason: format!("the node answered error {}: {message}", payload.code),
            }
        }
        RpcError::Transport(kind) => match kind {
            TransportErrorKind::HttpError(http) => {
                let body: String = http.body.chars().take(200).collect();
                let reason = format!("HTTP {}: {}", http.status, body.trim());
                if http.status == 408 || http.status == 429 || http.status >= 500 {
                    transient(reason)
                } else {
                    permanent(reason)
                }
            }
            TransportErrorKind::HttpErrorWithRetryAfter { error, .. } => {
                transient(format!("HTTP {}", error.status))
            }
            TransportErrorKind::NonRetryable(e) => permanent(error_chain(e.as_ref())),
            TransportErrorKind::Custom(e) => transient(error_chain(e.as_ref())),
            other => transient(other.to_string()),
        },
        RpcError::DeserError { err, text } => {
            let text: String = text.chars().take(120).collect();
            transient(format!("malformed answer ({err}): {text}"))
        }
        RpcError::NullResp => permanent("the node answered null".into()),
        other => permanent(other.to_string()),
    }
}

/// An error and its sources, `: `-separated (reqwest hides the cause, e.g. "connection
/// refused", in the source chain).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}

/// Evenly spaced HTTP requests.
#[derive(Debug)]
struct Limiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Limiter {
    async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

/// A JSON-RPC client with bounded concurrency, rate limit, retries and batches.
#[derive(Debug)]
pub struct Rpc {
    client: RpcClient,
    config: RpcConfig,
    permits: Semaphore,
    limiter: Option<Limiter>,
    batches: AtomicBool,
    jitter: AtomicU64,
    /// Traffic counters.
    pub stats: RpcStats,
}

impl Rpc {
    /// A client for `config.url`.
    ///
    /// # Errors
    /// [`RpcFailure::Transport`] when the URL is not a valid http(s) URL.
    pub fn new(config: RpcConfig) -> Result<Self, RpcFailure> {
        let bad = |reason: String| RpcFailure::Transport {
            method: "connect".into(),
            reason,
            attempts: 0,
        };
        let url: reqwest::Url = config
            .url
            .parse()
            .map_err(|e| bad(format!("`{}` is not a URL: {e}", config.url)))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(bad(format!(
                "`{}`: only http:// and https:// node URLs are supported",
                config.url
            )));
        }
        if url.scheme() == "https" && !cfg!(feature = "https") {
            return Err(bad(format!(
                "`{}`: this build has no TLS; build with `--features https` (needs \
                 libssl-dev) or put a local TLS-terminating proxy in front of the node",
                config.url
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| bad(error_chain(&e)))?;
        let client = RpcClient::new_http_with_client(http, url);
        let limiter = config
            .requests_per_second
            .filter(|r| *r > 0.0)
            .map(|r| Limiter {
                interval: Duration::from_secs_f64(1.0 / r),
                next: Mutex::new(Instant::now()),
            });
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
            | 1;
        Ok(Self {
            client,
            permits: Semaphore::new(config.concurrency.max(1)),
            limiter,
            batches: AtomicBool::new(config.max_batch > 1),
            jitter: AtomicU64::new(seed),
            config,
            stats: RpcStats::default(),
        })
    }

    /// The client's configuration.
    pub fn config(&self) -> &RpcConfig {
        &self.config
    }

    /// Whether calls are still sent in batches (false once the node refused one).
    pub fn batches_enabled(&self) -> bool {
        self.batches.load(Ordering::Relaxed)
    }

    /// The delay before retry `attempt` (1-based): full jitter over an exponential backoff.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .config
            .base_backoff
            .saturating_mul(1u32 << attempt.min(16).saturating_sub(1))
            .min(self.config.max_backoff);
        // xorshift64: jitter needs no cryptographic randomness.
        let mut x = self.jitter.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter.store(x, Ordering::Relaxed);
        let fraction = (x >> 11) as f64 / (1u64 << 53) as f64;
        cap.mul_f64(0.5 + 0.5 * fraction)
    }

    /// Waits for a permit (bounded in-flight requests; the semaphore is never closed, so
    /// `None` cannot happen) and the limiter's slot.
    async fn admit(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        let permit = self.permits.acquire().await.ok();
        if let Some(limiter) = &self.limiter {
            limiter.wait().await;
        }
        self.stats.http_requests.fetch_add(1, Ordering::Relaxed);
        permit
    }

    async fn attempt(&self, method: &str, params: &Value) -> Result<Value, Attempt> {
        let _permit = self.admit().await;
        let call = self
            .client
            .request::<Value, Value>(method.to_owned(), params.clone());
        match tokio::time::timeout(self.config.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(classify(&e)),
            Err(_) => Err(Attempt {
                retryable: true,
                node: None,
                reason: format!("timed out after {:?}", self.config.timeout),
            }),
        }
    }

    fn failure(method: &str, attempt: Attempt, attempts: u32) -> RpcFailure {
        match attempt.node {
            Some((code, message)) => RpcFailure::Node {
                method: method.to_owned(),
                code,
                message,
            },
            None => RpcFailure::Transport {
                method: method.to_owned(),
                reason: attempt.reason,
                attempts,
            },
        }
    }

    /// Calls `method` with `params`, retrying transient failures.
    ///
    /// # Errors
    /// [`RpcFailure`]: the node's error answer, or the last transient failure once the
    /// attempts are spent.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, RpcFailure> {
        self.call_with_attempts(method, params, self.config.max_attempts)
            .await
    }

    /// [`Rpc::call`] with at most `max_attempts` attempts (e.g. fewer for the first probe
    /// of a node, so that an unreachable URL is reported within seconds).
    ///
    /// # Errors
    /// As [`Rpc::call`].
    pub async fn call_with_attempts(
        &self,
        method: &str,
        params: Value,
        max_attempts: u32,
    ) -> Result<Value, RpcFailure> {
        let max_attempts = max_attempts.max(1);
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.attempt(method, &params).await {
                Ok(value) => {
                    self.stats.calls.fetch_add(1, Ordering::Relaxed);
                    return Ok(value);
                }
                Err(a) if a.retryable && attempts < max_attempts => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(self.backoff(attempts)).await;
                }
                Err(a) => return Err(Self::failure(method, a, attempts)),
            }
        }
    }

    /// Calls every `(method, params)`, in batches where the node accepts them, and returns
    /// each call's result in order. Each call is retried on its own.
    pub async fn batch(&self, calls: Vec<(String, Value)>) -> Vec<Result<Value, RpcFailure>> {
        let mut results: Vec<Option<Result<Value, RpcFailure>>> = vec![None; calls.len()];
        let size = self.config.max_batch.max(1);
        let chunks: Vec<Vec<usize>> = (0..calls.len())
            .collect::<Vec<_>>()
            .chunks(size)
            .map(<[usize]>::to_vec)
            .collect();
        let done = join_all(chunks.iter().map(|chunk| self.batch_chunk(&calls, chunk))).await;
        for (chunk, answers) in chunks.iter().zip(done) {
            for (index, answer) in chunk.iter().zip(answers) {
                results[*index] = Some(answer);
            }
        }
        answered(results, 0)
    }

    async fn singles(&self, calls: &[(String, Value)]) -> Vec<Result<Value, RpcFailure>> {
        join_all(calls.iter().map(|(m, p)| self.call(m, p.clone()))).await
    }

    /// One batch of at most `max_batch` calls (`indices` into `calls`).
    async fn batch_chunk(
        &self,
        calls: &[(String, Value)],
        indices: &[usize],
    ) -> Vec<Result<Value, RpcFailure>> {
        let own: Vec<(String, Value)> = indices.iter().map(|i| calls[*i].clone()).collect();
        if own.len() == 1 || !self.batches_enabled() {
            return self.singles(&own).await;
        }
        let mut results: Vec<Option<Result<Value, RpcFailure>>> = vec![None; own.len()];
        let mut pending: Vec<usize> = (0..own.len()).collect();
        let mut attempts = 0;
        while !pending.is_empty() {
            attempts += 1;
            let outcome = {
                let _permit = self.admit().await;
                let mut batch = self.client.new_batch();
                let mut waiters = Vec::with_capacity(pending.len());
                for &i in &pending {
                    match batch.add_call::<Value, Value>(own[i].0.clone(), &own[i].1) {
                        Ok(w) => waiters.push(w),
                        Err(e) => {
                            results[i] = Some(Err(Self::failure(&own[i].0, classify(&e), 1)));
                        }
                    }
                }
                let send = async {
                    let sent = batch.send().await;
                    (sent, join_all(waiters).await)
                };
                tokio::time::timeout(self.config.timeout, send).await
            };
            let (sent, answers) = match outcome {
                Ok(x) => x,
                Err(_) => {
                    // The whole batch timed out: retry it.
                    if attempts >= self.config.max_attempts {
                        for &i in &pending {
                            results[i] = Some(Err(RpcFailure::Transport {
                                method: own[i].0.clone(),
                                reason: format!("timed out after {:?}", self.config.timeout),
                                attempts,
                            }));
                        }
                        break;
                    }
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(self.backoff(attempts)).await;
                    continue;
                }
            };
            if let Err(e) = &sent {
                let a = classify(e);
                if !a.retryable {
                    // The node refuses batches (an HTTP 4xx, or an answer we cannot read as
                    // one): single calls from now on.
                    self.batches.store(false, Ordering::Relaxed);
                    let rest: Vec<(String, Value)> =
                        pending.iter().map(|i| own[*i].clone()).collect();
                    for (i, r) in pending.iter().zip(self.singles(&rest).await) {
                        results[*i] = Some(r);
                    }
                    break;
                }
            }
            let mut retry = Vec::new();
            let mut answered = 0;
            let mut missing = 0;
            let waited: Vec<usize> = pending
                .iter()
                .copied()
                .filter(|i| results[*i].is_none())
                .collect();
            for (i, answer) in waited.iter().zip(answers) {
                match answer {
                    Ok(v) => {
                        answered += 1;
                        self.stats.calls.fetch_add(1, Ordering::Relaxed);
                        results[*i] = Some(Ok(v));
                    }
                    Err(e) => {
                        if matches!(
                            &e,
                            RpcError::Transport(TransportErrorKind::MissingBatchResponse(_))
                        ) {
                            missing += 1;
                        }
                        let a = classify(&e);
                        if a.node.is_some() {
                            answered += 1;
                        }
                        if a.retryable && attempts < self.config.max_attempts {
                            retry.push(*i);
                        } else {
                            results[*i] = Some(Err(Self::failure(&own[*i].0, a, attempts)));
                        }
                    }
                }
            }
            if sent.is_ok() && answered == 0 && missing == waited.len() && attempts >= 2 {
                // Twice no answer to any call of a delivered batch: the node does not do
                // batches.
                self.batches.store(false, Ordering::Relaxed);
                let rest: Vec<(String, Value)> = retry.iter().map(|i| own[*i].clone()).collect();
                for (i, r) in retry.iter().zip(self.singles(&rest).await) {
                    results[*i] = Some(r);
                }
                break;
            }
            pending = retry;
            if !pending.is_empty() {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(self.backoff(attempts)).await;
            }
        }
        answered(results, attempts)
    }
}

/// Every call's answer, a call left without one (a batch that lost it) failing as a
/// transport error after `attempts` attempts.
fn answered<T>(
    results: Vec<Option<Result<T, RpcFailure>>>,
    attempts: u32,
) -> Vec<Result<T, RpcFailure>> {
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(RpcFailure::Transport {
                    method: "batch".into(),
                    reason: "no answer".into(),
                    attempts,
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use alloy_json_rpc::ErrorPayload;
    use alloy_transport::HttpError;

    use super::*;

    fn node_error(code: i64, message: &'static str) -> TransportError {
        RpcError::ErrorResp(ErrorPayload {
            code,
            message: message.into(),
            data: None,
        })
    }

    fn http(status: u16) -> TransportError {
        RpcError::Transport(TransportErrorKind::HttpError(HttpError {
            status,
            body: "body".into(),
        }))
    }

    #[test]
    fn transient_failures_are_retried_permanent_ones_are_not() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(classify(&http(status)).retryable, "{status}");
        }
        for status in [400, 401, 403, 404, 405] {
            assert!(!classify(&http(status)).retryable, "{status}");
        }
        assert!(classify(&TransportErrorKind::custom_str("connection reset")).retryable);
        assert!(classify(&node_error(-32005, "limit exceeded")).retryable);
        assert!(classify(&node_error(429, "slow down")).retryable);
        assert!(classify(&node_error(-32000, "Rate limit reached")).retryable);
        let not_found = classify(&node_error(-32601, "the method debug_x does not exist"));
        assert!(!not_found.retryable);
        assert_eq!(
            not_found.node,
            Some((-32601, "the method debug_x does not exist".into()))
        );
        assert!(!classify(&node_error(-32602, "invalid params")).retryable);
        assert!(!classify(&node_error(-32000, "missing trie node")).retryable);
    }

    #[test]
    fn method_not_found_is_recognised() {
        let failure = |code, message: &str| RpcFailure::Node {
            method: "debug_traceBlockByHash".into(),
            code,
            message: message.into(),
        };
        assert!(failure(-32601, "whatever").is_method_not_found());
        assert!(failure(-32000, "method not found").is_method_not_found());
        assert!(!failure(-32000, "missing trie node").is_method_not_found());
    }

    #[test]
    fn backoff_grows_jittered_and_capped() {
        let mut config = RpcConfig::new("http://127.0.0.1:1");
        config.base_backoff = Duration::from_millis(100);
        config.max_backoff = Duration::from_millis(1000);
        let rpc = Rpc::new(config).expect("client");
        for attempt in 1..12 {
            let cap = Duration::from_millis((100u64 << (attempt - 1).min(10)).min(1000));
            for _ in 0..20 {
                let d = rpc.backoff(attempt);
                assert!(d >= cap / 2 && d <= cap, "attempt {attempt}: {d:?}");
            }
        }
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(Rpc::new(RpcConfig::new("not a url")).is_err());
        assert!(Rpc::new(RpcConfig::new("ws://127.0.0.1:8546")).is_err());
        let https = Rpc::new(RpcConfig::new("https://node.example:8545"));
        if cfg!(feature = "https") {
            assert!(https.is_ok());
        } else {
            let err = https.expect_err("no TLS in this build").to_string();
            assert!(err.contains("--features https"), "{err}");
        }
    }
}
