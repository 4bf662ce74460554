//! The `kvafuzz` command line; see `kvafuzz help`.
fn main() {
    std::process::exit(kvafuzz::harness::cli::main(
        std::env::args().skip(1).collect(),
    ));
}
