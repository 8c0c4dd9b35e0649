//! Test support: anvil on 127.0.0.1 (installed by scripts/anvil.sh, killed on drop), a
//! blocking JSON-RPC helper, chains of hand-written contracts built on it, and a fault
//! proxy in front of it.

#![allow(dead_code, unreachable_pub)]

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use alloy_primitives::{Address, B256, U256};
use replay_evm_dataset::archive::{Archive, ArchiveColumns, ArchiveRow};
use replay_evm_fetch::{BlockSpec, ChainChoice, FetchOptions, Method, rpc::RpcConfig};
use serde_json::{Value, json};

/// The anvil binary: `$ANVIL`, or where scripts/anvil.sh installs it.
pub fn anvil_binary() -> PathBuf {
    if let Ok(path) = std::env::var("ANVIL") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.tools/anvil/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    assert!(
        path.is_file(),
        "anvil is not installed at {}: run `bash scripts/anvil.sh` (or set ANVIL)",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1 (free when this returns).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// An anvil node, killed when dropped.
pub struct Anvil {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Anvil {
    /// Starts anvil under `hardfork` with mining off (blocks are mined with `evm_mine`).
    pub fn start(hardfork: &str) -> Self {
        Self::start_with(hardfork, &[])
    }

    /// [`Anvil::start`] with more command-line arguments.
    pub fn start_with(hardfork: &str, extra: &[&str]) -> Self {
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(anvil_binary())
                .args([
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--hardfork",
                    hardfork,
                    "--no-mining",
                    "--silent",
                ])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot start anvil");
            let mut anvil = Self {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = anvil.child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                if rpc(&anvil.url, "eth_chainId", json!([])).is_ok() {
                    return anvil;
                }
                thread::sleep(Duration::from_millis(50));
            }
            let _ = anvil.child.kill();
        }
        panic!("anvil did not start");
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP POST of `body` to `url` (`http://host:port`), the response body.
pub fn post(url: &str, body: &str) -> Result<String, String> {
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("bad HTTP response: {text}"))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Ok(dechunk(body));
    }
    Ok(body.to_owned())
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// A JSON-RPC call; `Err` with the node's error object or the transport failure.
pub fn rpc(url: &str, method: &str, params: Value) -> Result<Value, String> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let text = post(url, &body.to_string())?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    if let Some(error) = value.get("error") {
        return Err(error.to_string());
    }
    Ok(value["result"].clone())
}

/// [`rpc`] that must succeed.
pub fn call(url: &str, method: &str, params: Value) -> Value {
    rpc(url, method, params.clone()).unwrap_or_else(|e| panic!("{method} {params}: {e}"))
}

pub fn hex(n: u64) -> String {
    format!("{n:#x}")
}

pub fn u256(value: &Value) -> U256 {
    serde_json::from_value(value.clone()).expect("a quantity")
}

/// anvil's unlocked accounts.
pub fn accounts(url: &str) -> Vec<Address> {
    serde_json::from_value(call(url, "eth_accounts", json!([]))).expect("accounts")
}

/// Init code that deploys `runtime`.
pub fn initcode(runtime: &[u8]) -> Vec<u8> {
    let len = u8::try_from(runtime.len()).expect("runtime under 256 bytes");
    // PUSH1 len PUSH1 12 PUSH1 0 CODECOPY PUSH1 len PUSH1 0 RETURN, then the runtime.
    let mut code = vec![
        0x60, len, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, len, 0x60, 0x00, 0xf3,
    ];
    code.extend_from_slice(runtime);
    code
}

/// SSTORE(calldata[0], calldata[32]); LOG1 with topic calldata[0]; TSTORE/TLOAD when
/// `transient` (Cancun on).
pub fn store_runtime(transient: bool) -> Vec<u8> {
    let mut code = vec![
        0x60, 0x20, 0x35, 0x60, 0x00, 0x35, 0x55, // SSTORE(cd[0], cd[32])
        0x60, 0x00, 0x35, 0x60, 0x00, 0x60, 0x00, 0xa1, // LOG1(0, 0, cd[0])
    ];
    if transient {
        // TSTORE(1, CALLVALUE + 7); SSTORE(99, TLOAD(1))
        code.extend_from_slice(&[
            0x34, 0x60, 0x07, 0x01, 0x60, 0x01, 0x5d, 0x60, 0x01, 0x5c, 0x60, 0x63, 0x55,
        ]);
    }
    code.push(0x00);
    code
}

/// Writes slot 1 then reverts.
pub const REVERTER: [u8; 10] = [0x60, 0x01, 0x60, 0x01, 0x55, 0x60, 0x00, 0x60, 0x00, 0xfd];
/// Loops until out of gas.
pub const LOOPER: [u8; 4] = [0x5b, 0x60, 0x00, 0x56];
/// SSTORE(0, BLOCKHASH(NUMBER-1)); SSTORE(1, BLOCKHASH(NUMBER-3)); SSTORE(2, BLOCKHASH(cd[0])).
pub const BLOCKHASH_READER: [u8; 24] = [
    0x60, 0x01, 0x43, 0x03, 0x40, 0x60, 0x00, 0x55, // slot 0
    0x60, 0x03, 0x43, 0x03, 0x40, 0x60, 0x01, 0x55, // slot 1
    0x60, 0x00, 0x35, 0x40, 0x60, 0x02, 0x55, 0x00, // slot 2
];
/// SELFDESTRUCT(CALLER).
pub const SELFDESTRUCT: [u8; 2] = [0x33, 0xff];
/// CREATE2(0, calldata, salt 0) -> child; SSTORE(0, child); CALL(child); STOP.
pub const FACTORY: [u8; 32] = [
    0x36, 0x60, 0x00, 0x60, 0x00, 0x37, // CALLDATACOPY(0, 0, CALLDATASIZE)
    0x60, 0x00, 0x36, 0x60, 0x00, 0x60, 0x00, 0xf5, // CREATE2(0, 0, size, 0)
    0x80, 0x60, 0x00, 0x55, // SSTORE(0, child)
    0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x85, 0x5a, 0xf1, // CALL
    0x00,
];

/// Builds transactions into blocks on an anvil with mining off.
pub struct ChainBuilder<'a> {
    pub url: &'a str,
    pub accounts: Vec<Address>,
    nonces: Vec<u64>,
}

impl<'a> ChainBuilder<'a> {
    pub fn new(url: &'a str) -> Self {
        let accounts = accounts(url);
        let nonces = accounts
            .iter()
            .map(|a| u256(&call(url, "eth_getTransactionCount", json!([a, "latest"]))).to())
            .collect();
        Self {
            url,
            accounts,
            nonces,
        }
    }

    /// Sends a transaction from account `from` (gas given, so that failing ones are not
    /// refused by estimation); returns the address a creation would deploy to.
    pub fn send(&mut self, from: usize, mut tx: Value) -> Address {
        let sender = self.accounts[from];
        let created = sender.create(self.nonces[from]);
        tx["from"] = json!(sender);
        if tx.get("gas").is_none() {
            tx["gas"] = json!(hex(400_000));
        }
        tx["nonce"] = json!(hex(self.nonces[from]));
        call(self.url, "eth_sendTransaction", json!([tx]));
        self.nonces[from] += 1;
        created
    }

    pub fn deploy(&mut self, from: usize, runtime: &[u8]) -> Address {
        self.send(
            from,
            json!({"data": format!("0x{}", hexs(&initcode(runtime)))}),
        )
    }

    /// Mines one block holding every pending transaction; its number.
    pub fn mine(&self) -> u64 {
        call(self.url, "evm_mine", json!([]));
        let block = call(self.url, "eth_getBlockByNumber", json!(["latest", false]));
        let number: u64 = u256(&block["number"]).to();
        let pending = call(self.url, "txpool_status", json!([]));
        assert_eq!(
            u256(&pending["pending"]),
            U256::ZERO,
            "block {number} left transactions pending"
        );
        number
    }
}

pub fn hexs(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn word(n: u64) -> String {
    format!("{:064x}", n)
}

/// A chain of every kind of transaction the tests want; returns the last block number.
/// `cancun` turns on transient storage (and the same-transaction SELFDESTRUCT rule);
/// `same_block_destroy` adds a block where one transaction deploys a contract and the next
/// self-destructs it.
pub fn build_chain(url: &str, cancun: bool, same_block_destroy: bool) -> u64 {
    let mut b = ChainBuilder::new(url);
    let store = b.deploy(0, &store_runtime(cancun));
    let reverter = b.deploy(0, &REVERTER);
    let looper = b.deploy(0, &LOOPER);
    let reader = b.deploy(0, &BLOCKHASH_READER);
    let factory = b.deploy(0, &FACTORY);
    let destructible = b.deploy(0, &SELFDESTRUCT);
    b.send(
        1,
        json!({"to": b.accounts[2], "value": "0xde0b6b3a7640000"}),
    );
    let first = b.mine();
    assert!(first >= 1);

    // Child: init code returning the runtime SELFDESTRUCT(CALLER).
    let child_init = "0x6133ff6000526002601ef3";
    // Block: storage writes, every transaction type, a zero-value call to a fresh
    // address, a revert, an out-of-gas, BLOCKHASH, CREATE2 + SELFDESTRUCT in one
    // transaction, a creation that self-destructs in its constructor.
    for (i, slot) in [1u64, 2, 3].iter().enumerate() {
        b.send(
            1 + i,
            json!({"to": store, "data": format!("0x{}{}", word(*slot), word(100 + slot)),
                   "value": "0x5"}),
        );
    }
    b.send(
        4,
        json!({"to": b.accounts[5], "value": "0x100", "type": "0x0",
               "gasPrice": hex(20_000_000_000)}),
    );
    b.send(
        5,
        json!({"to": store, "type": "0x1", "gasPrice": hex(20_000_000_000),
               "data": format!("0x{}{}", word(7), word(8)),
               "accessList": [{"address": store, "storageKeys": [format!("0x{}", word(7))]}]}),
    );
    b.send(
        6,
        json!({"to": "0x00000000000000000000000000000000000fee01", "value": "0x0"}),
    );
    b.send(
        6,
        json!({"to": "0x00000000000000000000000000000000000fee02", "value": "0x1"}),
    );
    b.send(7, json!({"to": reverter, "gas": hex(100_000)}));
    b.send(7, json!({"to": looper, "gas": hex(60_000)}));
    b.send(8, json!({"to": reader, "data": format!("0x{}", word(1))}));
    b.send(9, json!({"to": factory, "data": child_init}));
    b.send(9, json!({"data": "0x33ff", "value": "0x7"}));
    b.mine();

    // An empty block.
    b.mine();

    // Slot clears, CREATE2 redeploy after the self-destruct, SELFDESTRUCT of an older
    // contract, BLOCKHASH again, reads of values written two blocks ago.
    b.send(
        1,
        json!({"to": store, "data": format!("0x{}{}", word(1), word(0))}),
    );
    b.send(
        2,
        json!({"to": store, "data": format!("0x{}{}", word(2), word(0))}),
    );
    b.send(
        3,
        json!({"to": store, "data": format!("0x{}{}", word(3), word(555))}),
    );
    b.send(9, json!({"to": factory, "data": child_init}));
    b.send(8, json!({"to": destructible}));
    b.send(8, json!({"to": reader, "data": format!("0x{}", word(2))}));
    b.mine();

    if same_block_destroy {
        // A contract deployed and self-destructed in the same block, by two transactions.
        let short_lived = b.deploy(4, &SELFDESTRUCT);
        b.send(4, json!({"to": short_lived}));
    }
    b.send(
        0,
        json!({"to": store, "data": format!("0x{}{}", word(3), word(9))}),
    );
    b.mine();
    b.mine()
}

/// Every row of the archive at `dir`, by number.
pub fn archive_rows(dir: &Path) -> Vec<ArchiveRow> {
    let archive = Archive::open(dir).expect("archive opens");
    let numbers = archive.numbers();
    let (Some(first), Some(last)) = (numbers.first(), numbers.last()) else {
        return Vec::new();
    };
    let batch = archive.read_range(*first, *last).expect("archive reads");
    let columns = ArchiveColumns::new(&batch).expect("archive columns");
    let mut rows: Vec<ArchiveRow> = (0..columns.len())
        .map(|i| columns.row(i).expect("row decodes"))
        .collect();
    rows.sort_by_key(|r| r.number);
    rows
}

/// The node's account at block `tag`: (balance, nonce, code).
pub fn node_account(url: &str, address: Address, tag: &str) -> (U256, u64, Vec<u8>) {
    let balance = u256(&call(url, "eth_getBalance", json!([address, tag])));
    let nonce: u64 = u256(&call(url, "eth_getTransactionCount", json!([address, tag]))).to();
    let code: alloy_primitives::Bytes =
        serde_json::from_value(call(url, "eth_getCode", json!([address, tag]))).expect("code");
    (balance, nonce, code.to_vec())
}

pub fn node_slot(url: &str, address: Address, slot: U256, tag: &str) -> U256 {
    u256(&call(
        url,
        "eth_getStorageAt",
        json!([address, B256::from(slot), tag]),
    ))
}

/// A proxy on 127.0.0.1 in front of `upstream` that misbehaves as told.
pub struct Proxy {
    pub url: String,
    stop: Arc<AtomicBool>,
    port: u16,
    /// Requests seen.
    pub requests: Arc<AtomicU64>,
    /// Faults injected.
    pub faults: Arc<AtomicU64>,
}

/// What a [`Proxy`] does wrong.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Per mille of requests whose connection is dropped without an answer.
    pub drop: u64,
    /// Per mille answered HTTP 429.
    pub too_many: u64,
    /// Per mille answered HTTP 503.
    pub unavailable: u64,
    /// Per mille delayed by up to `max_delay`.
    pub delay: u64,
    pub max_delay: Duration,
    /// Answer "method not found" to every `debug_*` call.
    pub no_debug: bool,
    /// Answer a node error to `eth_getBlockByNumber(N, true)`.
    pub fail_block: Option<u64>,
    /// Delay every request by this much (a slow node).
    pub slow: Duration,
    /// Refuse JSON-RPC batches as some providers do: one error object for the whole batch.
    pub no_batch: bool,
    /// Seed of the fault draws.
    pub seed: u64,
}

impl Proxy {
    pub fn start(upstream: &str, faults: Faults) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let port = listener.local_addr().expect("proxy addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let injected = Arc::new(AtomicU64::new(0));
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let (stop2, requests2, injected2) = (stop.clone(), requests.clone(), injected.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let n = requests2.fetch_add(1, Ordering::Relaxed);
                let (upstream, faults, injected) =
                    (upstream.clone(), faults.clone(), injected2.clone());
                thread::spawn(move || serve(stream, &upstream, &faults, n, &injected));
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}"),
            stop,
            port,
            requests,
            faults: injected,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn draw(seed: u64, n: u64, salt: u64) -> u64 {
    let mut z = seed
        .wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(salt.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % 1000
}

fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            let mut body = buf[end + 4..].to_vec();
            while body.len() < length {
                let n = stream.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            return Some((head, body));
        }
    }
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

fn serve(mut stream: TcpStream, upstream: &str, faults: &Faults, n: u64, injected: &AtomicU64) {
    let Some((_head, body)) = read_request(&mut stream) else {
        return;
    };
    if !faults.slow.is_zero() {
        thread::sleep(faults.slow);
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if faults.no_batch && request.is_array() {
        let answer = json!({"jsonrpc": "2.0", "id": null,
            "error": {"code": -32600, "message": "batch requests are not supported"}});
        respond(&mut stream, "200 OK", &answer.to_string());
        return;
    }
    if faults.no_debug
        && let Some(method) = request.get("method").and_then(Value::as_str)
        && method.starts_with("debug_")
    {
        let answer = json!({"jsonrpc": "2.0", "id": request["id"],
            "error": {"code": -32601, "message": format!("the method {method} does not exist/is not available")}});
        respond(&mut stream, "200 OK", &answer.to_string());
        return;
    }
    if let Some(block) = faults.fail_block
        && request.get("method").and_then(Value::as_str) == Some("eth_getBlockByNumber")
        && request["params"][0] == json!(hex(block))
        && request["params"][1] == json!(true)
    {
        let answer = json!({"jsonrpc": "2.0", "id": request["id"],
            "error": {"code": -32000, "message": format!("injected failure: block {block} is pruned")}});
        respond(&mut stream, "200 OK", &answer.to_string());
        return;
    }
    let roll = draw(faults.seed, n, 1);
    let mut edge = faults.drop;
    if roll < edge {
        injected.fetch_add(1, Ordering::Relaxed);
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    edge += faults.too_many;
    if roll < edge {
        injected.fetch_add(1, Ordering::Relaxed);
        respond(&mut stream, "429 Too Many Requests", "rate limited");
        return;
    }
    edge += faults.unavailable;
    if roll < edge {
        injected.fetch_add(1, Ordering::Relaxed);
        respond(&mut stream, "503 Service Unavailable", "try later");
        return;
    }
    edge += faults.delay;
    if roll < edge {
        injected.fetch_add(1, Ordering::Relaxed);
        let ms = draw(faults.seed, n, 2) * faults.max_delay.as_millis() as u64 / 1000;
        thread::sleep(Duration::from_millis(ms));
    }
    let text = String::from_utf8_lossy(&body);
    match post(&format!("http://{upstream}"), &text) {
        Ok(answer) => respond(&mut stream, "200 OK", &answer),
        Err(_) => {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Options for a quick fetch of `blocks` from `url` into `out`.
pub fn options(url: &str, blocks: &str, out: &Path, fork: &str) -> FetchOptions {
    let mut rpc = RpcConfig::new(url);
    rpc.concurrency = 4;
    rpc.timeout = Duration::from_secs(10);
    rpc.base_backoff = Duration::from_millis(5);
    rpc.max_backoff = Duration::from_millis(100);
    FetchOptions {
        rpc,
        blocks: blocks.parse::<BlockSpec>().expect("spec"),
        sample: None,
        out: out.to_owned(),
        chunk_blocks: 2,
        overwrite: false,
        no_verify: false,
        method: Method::Auto,
        chain: ChainChoice::Fork(fork.parse().expect("fork")),
        progress_every: None,
    }
}
