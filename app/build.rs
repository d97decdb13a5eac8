//! The SQL migrations are embedded by `sqlx::migrate!`, which cannot tell cargo to watch
//! them on stable Rust: this does, so an edited migration is never built in stale.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
