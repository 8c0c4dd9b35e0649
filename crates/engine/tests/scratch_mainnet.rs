use replay_evm::{block_dir::load_block_dir, chain::ChainSpec, sequential::replay_sequential, verify::verify};
#[test]
fn scratch() {
    let chain = ChainSpec::mainnet();
    let mut dirs: Vec<_> = std::fs::read_dir("../../../shared/fixtures/mainnet").unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    let mut bad = 0;
    for d in dirs {
        let t = std::time::Instant::now();
        let b = match load_block_dir(&d, 1) { Ok(b) => b, Err(e) => { println!("LOAD {e}"); bad += 1; continue } };
        let lt = t.elapsed();
        match replay_sequential(&b, &chain) {
            Ok(r) => match verify(b.header(), &r) {
                Ok(v) => println!("{} {} txs={} ok load={lt:?} replay={}us rr_checked={}", b.number(), r.fork, r.transactions.len(), r.wall_us, v.receipts_root_checked),
                Err(e) => { println!("VERIFY {e}"); bad += 1 }
            },
            Err(e) => { println!("REPLAY {e}"); bad += 1 }
        }
    }
    assert_eq!(bad, 0);
}
