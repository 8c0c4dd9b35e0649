//! scratch
fn main() {
    let p = std::env::args().nth(1).unwrap();
    match replay_evm_statetest::run_path(std::path::Path::new(&p), &Default::default()) {
        Ok(r) => {
            for f in &r.failed { println!("FAIL {f}"); }
            for s in &r.skipped { println!("SKIP {s}"); }
            println!("{}", r.summary());
        }
        Err(e) => println!("ERR {e}"),
    }
}
