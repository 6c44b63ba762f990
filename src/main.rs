//! The server binary: configuration, database, demo data, HTTP.

/// mimalloc instead of the system allocator: under 64 connections glibc's malloc/free took
/// ~17 % of the server's CPU (SSR pages, compression buffers) and kept freed memory in
/// per-thread arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    if let Err(e) = suz::server::main_entry().await {
        eprintln!("suz: {e}");
        std::process::exit(1);
    }
}
