//! The server binary: configuration, database, demo data, HTTP.

#[tokio::main]
async fn main() {
    if let Err(e) = suz::server::main_entry().await {
        eprintln!("suz: {e}");
        std::process::exit(1);
    }
}
