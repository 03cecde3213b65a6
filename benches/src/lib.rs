//! Criterion benchmarks for the socketio-rs crates, run side by side with other Rust
//! implementations. The benchmarks live in `benches/`; this library is empty.
