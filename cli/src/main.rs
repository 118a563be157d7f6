//! `cargo run -p gatepass-cli -- …`: the same command line the Python and
//! Node packages run through their native modules.

fn main() {
    std::process::exit(gatepass_cli::run(std::env::args_os().collect()));
}
